import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { disposeBatch, fromArrays } from '@mtljs/core';
import type { DataSource } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { shuffleBuffer } from './shuffle-buffer';
import { drain, examplesOf, idSource, mtlErrorOf, range, streamOf } from './test-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ids = async (source: DataSource, sizes?: number[]) => (await examplesOf(source, sizes)).map((e) => e.id);

describe('shuffleBuffer', () => {
  it('emits every example once, in a seed-fixed order, re-batched', async () => {
    const source = streamOf(idSource(range(0, 500), 'a', 32));
    const sizes: number[] = [];
    const order = await ids(shuffleBuffer(source, { bufferSize: 64, seed: 1, batchSize: 100 }), sizes);
    expect(sizes).toEqual([100, 100, 100, 100, 100]);
    expect([...order].sort((x, y) => x - y)).toEqual(range(0, 500));
    expect(order).not.toEqual(range(0, 500));
    expect(await ids(shuffleBuffer(source, { bufferSize: 64, seed: 1, batchSize: 100 }))).toEqual(order);
    expect(await ids(shuffleBuffer(source, { bufferSize: 64, seed: 2, batchSize: 100 }))).not.toEqual(order);
  });

  it('moves an example ahead by at most bufferSize positions, and keeps the order with a buffer of 1', async () => {
    const source = streamOf(idSource(range(0, 400), 'a', 50));
    const bufferSize = 20;
    const order = await ids(shuffleBuffer(source, { bufferSize, seed: 3 }));
    order.forEach((id, position) => expect(position).toBeGreaterThanOrEqual(id - bufferSize));
    expect(await ids(shuffleBuffer(source, { bufferSize: 1, seed: 3 }))).toEqual(range(0, 400));
  });

  it('a buffer as large as the source mixes the whole source (first batch drawn from everywhere)', async () => {
    const order = await ids(shuffleBuffer(streamOf(idSource(range(0, 1000), 'a', 100)), { bufferSize: 1000, seed: 4 }));
    expect(Math.max(...order.slice(0, 100))).toBeGreaterThan(800);
  });

  it('keeps targets and masks with their example', async () => {
    const source = fromArrays({ inputs: range(0, 40).map((k) => [k]), targets: { a: range(0, 40).map((k) => (k % 3 === 0 ? null : k * 2)) } }, { batchSize: 8 });
    const examples = await examplesOf(shuffleBuffer(source, { bufferSize: 10, seed: 5 }));
    for (const e of examples) {
      expect(e.masks.a).toBe(e.id % 3 === 0 ? 0 : 1);
      expect(e.targets.a).toBe(e.id % 3 === 0 ? 0 : e.id * 2);
    }
  });

  it('shuffled(seed) gives new orders; it shuffles the source too when the source can', async () => {
    const shuffler = shuffleBuffer(idSource(range(0, 300), 'a', 30), { bufferSize: 8, seed: 1 });
    const a = await ids(shuffler.shuffled!(1));
    expect(await ids(shuffler.shuffled!(1))).toEqual(a);
    expect(await ids(shuffler.shuffled!(2))).not.toEqual(a);
    // With the source's own permutation first, early positions hold late examples too.
    expect(Math.max(...a.slice(0, 30))).toBeGreaterThan(200);
    expect(shuffler.size).toBe(300);
  });

  it('checks its options and leaks no tensor', async () => {
    const source = idSource(range(0, 100), 'a', 10);
    await mtlErrorOf(() => shuffleBuffer(source, { bufferSize: 0 }), 'BAD_CONFIG');
    await mtlErrorOf(() => shuffleBuffer(source, {} as never), 'BAD_CONFIG');
    await mtlErrorOf(() => shuffleBuffer(source, { bufferSize: 4, buffer: 3 } as never), 'BAD_CONFIG');
    const shuffler = shuffleBuffer(source, { bufferSize: 16, seed: 2 });
    await checkNoLeak(() => drain(shuffler), { steps: 3, label: 'shuffleBuffer' });
    const before = tf.memory().numTensors;
    for await (const batch of shuffler) {
      disposeBatch(batch);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
