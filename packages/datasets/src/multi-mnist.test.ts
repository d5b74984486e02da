import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync } from 'node:fs';
import { isMtlError, Rng } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { composePairs, FASHION_MNIST_ROOT, multiFashion, multiMnist } from './multi-mnist';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const hasFashion = existsSync(`${FASHION_MNIST_ROOT}/train-images-idx3-ubyte.gz`) || existsSync(`${FASHION_MNIST_ROOT}/train-images-idx3-ubyte`);

describe('composePairs', () => {
  it("puts the item top-left and its partner bottom-right (offset 6 on a 36×36 canvas), overlaid by maximum, resized by nearest neighbour", () => {
    // Image 0 is all white, image 1 all black: whichever partner a permutation gives, pixel
    // values show where each item went. Resized pixel x reads canvas ⌊(x + ½)·36/28⌋.
    const images = new Uint8Array(2 * 784);
    images.fill(255, 0, 784);
    const { images: out, left, right } = composePairs(images, [3, 7], 2, Rng.fromSeed(1));
    expect(Array.from(left)).toEqual([3, 7]);
    const white = (n: number, y: number, x: number) => out[n * 784 + y * 28 + x];
    // Pair 0: the white item on the left covers canvas 0–27: resized (0, 0) reads canvas 0 → white;
    // resized (27, 27) reads canvas 35, beyond both items → black.
    expect(white(0, 0, 0)).toBe(1);
    expect(white(0, 27, 27)).toBe(0);
    // Pair 1: the black item on the left; if its partner is the white one (canvas 6–33), resized
    // (20, 20) reads canvas 26 → white and (0, 0) reads canvas 0 → black.
    if (right[1] === 3) {
      expect(white(1, 20, 20)).toBe(1);
      expect(white(1, 0, 0)).toBe(0);
    } else {
      expect(Array.from(out.subarray(784))).toEqual(new Array(784).fill(0));
    }
    expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});

describe('MultiMNIST', () => {
  it('has 60,000 training and 10,000 test images with two labels each', async () => {
    const data = await multiMnist({ seed: 3 });
    expect(data.arrays.train.count).toBe(60000);
    expect(data.arrays.test.count).toBe(10000);
    expect(data.arrays.train.images.length).toBe(60000 * 784);
    for (const split of [data.arrays.train, data.arrays.test]) {
      let same = 0;
      for (let i = 0; i < split.count; i++) {
        expect(split.left[i]! >= 0 && split.left[i]! <= 9 && split.right[i]! >= 0 && split.right[i]! <= 9).toBe(true);
        if (split.left[i] === split.right[i]) same += 1;
      }
      // Random partners: about one pair in ten has two equal digits.
      expect(same / split.count).toBeGreaterThan(0.08);
      expect(same / split.count).toBeLessThan(0.12);
    }
    expect(data.tasks.map((t) => t.name)).toEqual(['left', 'right']);
    expect(data.inputShape).toEqual([28, 28, 1]);
  }, 60_000);

  it('a folder without the files gives BAD_DATA naming the path tried', async () => {
    const error = await multiMnist({ root: '/nonexistent/mnist' }).catch((e: unknown) => e);
    expect(isMtlError(error) && error.code).toBe('BAD_DATA');
    expect((error as Error).message).toContain('/nonexistent/mnist/train-images-idx3-ubyte');
  });
});

describe('MultiFashion', () => {
  it('with the files absent, the error names the path tried and how to install them', async () => {
    const error = await multiFashion({ root: '/nonexistent/fashion' }).catch((e: unknown) => e);
    expect(isMtlError(error) && error.code).toBe('BAD_DATA');
    expect((error as Error).message).toContain('/nonexistent/fashion/train-images-idx3-ubyte');
    expect((error as Error).message).toContain('apt-get install dataset-fashion-mnist');
  });

  // Debian's dataset-fashion-mnist provides the files; .ci/run installs it, so under CI their
  // absence fails this test instead of skipping it.
  it.skipIf(!hasFashion && !process.env.CI)(
    `builds from ${FASHION_MNIST_ROOT} the same way (skipped when absent: apt-get install dataset-fashion-mnist)`,
    async () => {
      const data = await multiFashion({ seed: 2, trainSize: 1000, testSize: 500 });
      expect(data.root).toBe(FASHION_MNIST_ROOT);
      expect(data.arrays.train.count).toBe(1000);
      expect(data.arrays.test.count).toBe(500);
    },
    60_000,
  );
});
