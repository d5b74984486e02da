import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { disposeBatch, isMtlError } from '@mtljs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIdx } from './format';
import { idxAdapter } from './plugin';
import { tempDir } from './test-helpers';

const temp = tempDir();
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => temp.remove());

describe("the 'idx' data adapter", () => {
  it('opens images + labels files as a source, on every pass and shuffled, with the same rows', async () => {
    const images = temp.write('images.idx', encodeIdx({ dtype: 'uint8', shape: [5, 2, 2], data: Array.from({ length: 20 }, (_, i) => i * 10) }));
    const labels = temp.write('labels.idx', encodeIdx({ dtype: 'uint8', shape: [5], data: [0, 1, 2, 3, 4] }));
    const source = idxAdapter().open(images, { labels: { digit: labels }, batchSize: 2, normalise: false });
    const rows = async (s: AsyncIterable<import('@mtljs/core').Batch>) => {
      const seen: number[] = [];
      for await (const batch of s) {
        seen.push(...(batch.targets['digit']!.dataSync() as Int32Array));
        disposeBatch(batch);
      }
      return seen;
    };
    const before = tf.memory().numTensors;
    expect(await rows(source)).toEqual([0, 1, 2, 3, 4]);
    expect(await rows(source)).toEqual([0, 1, 2, 3, 4]);
    const shuffled = await rows(source.shuffled!(7));
    expect([...shuffled].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a missing file surfaces on first iteration as an MtlError naming it', async () => {
    const source = idxAdapter().open(join(temp.dir, 'missing.idx'), { labels: { digit: join(temp.dir, 'missing-labels.idx') }, batchSize: 2 });
    const error = await (async () => {
      for await (const batch of source) disposeBatch(batch);
    })().then(() => null, (e: unknown) => e);
    expect(isMtlError(error)).toBe(true);
    expect((error as Error).message).toContain('missing.idx');
  });
});
