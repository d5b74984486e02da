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
  it('puts the first item top-left and its partner bottom-right, overlaid by maximum', () => {
    // Image 0 is all white, image 1 all black; labels differ, so each is the other's partner.
    const images = new Uint8Array(2 * 784);
    images.fill(255, 0, 784);
    const { images: out, left, right } = composePairs(images, [3, 7], 2, Rng.fromSeed(1));
    expect(Array.from(left)).toEqual([3, 7]);
    expect(Array.from(right)).toEqual([7, 3]);
    // Resized pixel (y, x) reads canvas (35/27)·(y, x). Pair 0: white on the top-left, shifted by
    // s ≤ 4, covers canvas rows/columns s … s + 27, so always 4 … 27: resized (10, 10) reads
    // canvas ≈ (12.96, 12.96), white; resized (27, 27) reads canvas (35, 35), black.
    expect(out[10 * 28 + 10]).toBeCloseTo(1, 6);
    expect(out[783]).toBe(0);
    // Pair 1: white is the partner, at the bottom-right: canvas 8 − s … 35 − s, so always 8 … 31:
    // resized (17, 17) reads canvas ≈ (22.04, 22.04), white; resized (0, 0) reads canvas (0, 0), black.
    expect(out[784 + 17 * 28 + 17]).toBeCloseTo(1, 6);
    expect(out[784]).toBe(0);
    expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});

describe('MultiMNIST', () => {
  it('has 60,000 training and 10,000 test images with two labels each (two different digits)', async () => {
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
      expect(same).toBe(0);
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
      for (let i = 0; i < 1000; i++) expect(data.arrays.train.left[i]).not.toBe(data.arrays.train.right[i]);
    },
    60_000,
  );
});
