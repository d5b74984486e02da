import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, disposeBatch } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkNoLeak } from '@mtljs/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIdx } from './format';
import { readIdx } from './read';
import { idxSource } from './source';
import { MNIST, mtlErrorOf, tempDir } from './test-helpers';

const temp = tempDir();
let parityPath: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  // A second task derived from the digits: is it even? Written as an IDX labels file.
  const digits = await readIdx(MNIST.testLabels);
  parityPath = temp.write('t10k-parity-idx1-ubyte.gz', gzipSync(encodeIdx({ dtype: 'uint8', shape: [10000], data: Array.from(digits.data, (d) => (d % 2 === 0 ? 1 : 0)) })));
});
afterAll(() => temp.remove());

async function firstBatch(source: DataSource): Promise<Batch> {
  for await (const batch of source) return batch;
  throw new Error('empty source');
}

describe('idxSource', () => {
  it('gives MNIST images [B, 28, 28, 1] in [0, 1] and one class-index target per task', async () => {
    const source = await idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels, even: parityPath }, batchSize: 32, limit: 100 });
    expect(source.size).toBe(100);
    expect(source.inputShape).toEqual([28, 28, 1]);
    const batch = await firstBatch(source);
    const inputs = batch.inputs as tf.Tensor;
    expect(inputs.shape).toEqual([32, 28, 28, 1]);
    expect(inputs.dtype).toBe('float32');
    const values = inputs.dataSync();
    expect(Math.min(...values)).toBe(0);
    expect(Math.max(...values)).toBe(1);
    expect(Array.from(batch.targets.digit!.dataSync().subarray(0, 4))).toEqual([7, 2, 1, 0]);
    expect(Array.from(batch.targets.even!.dataSync().subarray(0, 4))).toEqual([0, 1, 0, 1]);
    expect(batch.masks).toBeUndefined();
    disposeBatch(batch);
    const sizes: number[] = [];
    for await (const b of source) {
      sizes.push((b.inputs as tf.Tensor).shape[0]!);
      disposeBatch(b);
    }
    expect(sizes).toEqual([32, 32, 32, 4]);
  });

  it('flat layout, raw or standardised values, and dropRemainder', async () => {
    const flat = await idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels }, batchSize: 30, limit: 100, layout: 'flat', normalise: false, dropRemainder: true });
    let batches = 0;
    for await (const batch of flat) {
      expect((batch.inputs as tf.Tensor).shape).toEqual([30, 784]);
      if (batches === 0) expect(Math.max(...(batch.inputs as tf.Tensor).dataSync())).toBe(255);
      batches += 1;
      disposeBatch(batch);
    }
    expect(batches).toBe(3);
    const standardised = await idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels }, batchSize: 10, limit: 10, normalise: { mean: 33.32, std: 78.57 } });
    const batch = await firstBatch(standardised);
    expect((batch.inputs as tf.Tensor).dataSync()[0]).toBeCloseTo(-33.32 / 78.57, 5);
    disposeBatch(batch);
  });

  it('shuffled(seed) is a seed-fixed permutation of the same examples', async () => {
    const source = await idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels }, batchSize: 50, limit: 200 });
    const labelsOf = async (s: DataSource) => {
      const out: number[] = [];
      for await (const batch of s) {
        out.push(...batch.targets.digit!.dataSync());
        disposeBatch(batch);
      }
      return out;
    };
    const plain = await labelsOf(source);
    const a = await labelsOf(source.shuffled!(1));
    const b = await labelsOf(source.shuffled!(1));
    const c = await labelsOf(source.shuffled!(2));
    expect(a).toEqual(b);
    expect(a).not.toEqual(plain);
    expect(a).not.toEqual(c);
    expect([...a].sort()).toEqual([...plain].sort());
  });

  it('leaks no tensor: iterating and disposing leaves tf.memory() unchanged', async () => {
    const source = await idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels, even: parityPath }, batchSize: 64, limit: 256 });
    await checkNoLeak(
      async () => {
        for await (const batch of source.shuffled!(3)) disposeBatch(batch);
      },
      { steps: 3, label: 'idxSource' },
    );
  });

  it('errors: label count mismatch names both files and the task; bad options are BAD_CONFIG', async () => {
    const short = temp.write('short-labels.idx', encodeIdx({ dtype: 'uint8', shape: [5], data: [1, 2, 3, 4, 5] }));
    const error = await mtlErrorOf(() => idxSource({ images: MNIST.testImages, labels: { digit: short }, batchSize: 8 }));
    expect(error.message).toContain(short);
    expect(error.message).toContain(MNIST.testImages);
    expect(error.details.task).toBe('digit');
    const corrupt = temp.write('corrupt.idx', readFileSync(MNIST.testLabels).subarray(0, 100));
    const bad = await mtlErrorOf(() => idxSource({ images: MNIST.testImages, labels: { digit: corrupt }, batchSize: 8 }));
    expect(bad.details).toMatchObject({ file: corrupt, task: 'digit' });
    await mtlErrorOf(() => idxSource({ images: MNIST.testImages, labels: {}, batchSize: 8 }), 'BAD_CONFIG');
    await mtlErrorOf(() => idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels }, batchSize: 0 }), 'BAD_CONFIG');
    await mtlErrorOf(() => idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels }, batchSize: 8, normalise: { mean: 0, std: 0 } }), 'BAD_CONFIG');
    await mtlErrorOf(() => idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels }, batchSize: 8, layout: 'nchw' as never }), 'BAD_CONFIG');
  });

  it('trains a hard-sharing model on MNIST digit + parity with Trainer.fit (the README example)', async () => {
    const train = await idxSource({ images: MNIST.testImages, labels: { digit: MNIST.testLabels, even: parityPath }, batchSize: 64, limit: 1024, layout: 'flat' });
    const model = hardSharing().build(
      {
        tasks: [
          { name: 'digit', kind: 'multiclass', units: 10 },
          { name: 'even', kind: 'binary', units: 1 },
        ],
        inputShape: [784],
        encoder: { type: 'mlp', units: [32] },
      },
      { seed: 1 },
    );
    const trainer = new Trainer({ model, seed: 1, optimizer: { name: 'adam', learningRate: 1e-2 } });
    const started = performance.now();
    const [first] = await trainer.fit(train, { epochs: 1 });
    // The optimiser makes its slots during the first epoch; after it, an epoch must leave the count as it was.
    const before = tf.memory().numTensors;
    const [second] = await trainer.fit(train, { epochs: 1 });
    expect(tf.memory().numTensors).toBe(before);
    const ms = performance.now() - started;
    expect(first!.steps).toBe(16);
    expect(second!.trainLosses.digit!).toBeLessThan(first!.trainLosses.digit!);
    const report = await trainer.evaluate(train);
    expect(report.tasks.digit!.metrics.accuracy!).toBeGreaterThan(0.6);
    console.log(`idxSource + hardSharing, 2 epochs on 1024 MNIST test images (${ms.toFixed(0)} ms): digit accuracy ${report.tasks.digit!.metrics.accuracy!.toFixed(3)}, even ${report.tasks.even!.metrics.accuracy!.toFixed(3)}`);
    trainer.dispose();
    model.dispose();
  });
});
