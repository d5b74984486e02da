import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { DataSource } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { splitSource } from './split';
import { drain, examplesOf, idSource, mtlErrorOf, range, streamOf } from './test-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ids = async (source: DataSource) => (await examplesOf(source)).map((e) => e.id);

describe('splitSource', () => {
  it('permutation (known size): exact counts, disjoint parts that cover the source, fixed by the seed', async () => {
    const source = idSource(range(0, 100), 'a', 16);
    const splits = splitSource(source, { validation: 0.1, test: 0.2, seed: 7 });
    expect([splits.train.size, splits.validation.size, splits.test.size]).toEqual([70, 10, 20]);
    const train = await ids(splits.train);
    const validation = await ids(splits.validation);
    const test = await ids(splits.test);
    expect([train.length, validation.length, test.length]).toEqual([70, 10, 20]);
    expect([...train, ...validation, ...test].sort((x, y) => x - y)).toEqual(range(0, 100));
    // Each part keeps the source's order.
    expect(train).toEqual([...train].sort((x, y) => x - y));
    // The same seed gives the same parts; another seed others.
    const again = splitSource(source, { validation: 0.1, test: 0.2, seed: 7 });
    expect(await ids(again.validation)).toEqual(validation);
    expect(await ids(splitSource(source, { validation: 0.1, test: 0.2, seed: 8 }).validation)).not.toEqual(validation);
  });

  it('re-batches each part to the source batch size, or to batchSize', async () => {
    const source = idSource(range(0, 100), 'a', 16);
    const sizes: number[] = [];
    await examplesOf(splitSource(source, { validation: 0.1, seed: 1 }).train, sizes);
    expect(sizes).toEqual([16, 16, 16, 16, 16, 10]);
    const custom: number[] = [];
    await examplesOf(splitSource(source, { validation: 0.1, seed: 1, batchSize: 40 }).train, custom);
    expect(custom).toEqual([40, 40, 10]);
  });

  it('hash (unknown size): disjoint, complete, close to the fractions, and the same on every pass', async () => {
    const source = streamOf(idSource(range(0, 4000), 'a', 64));
    const splits = splitSource(source, { validation: 0.1, test: 0.1, seed: 3 });
    expect(splits.train.size).toBeUndefined();
    const train = await ids(splits.train);
    const validation = await ids(splits.validation);
    const test = await ids(splits.test);
    expect([...train, ...validation, ...test].sort((x, y) => x - y)).toEqual(range(0, 4000));
    // Binomial sd at n = 4000, p = 0.1: 19 examples.
    expect(Math.abs(validation.length - 400)).toBeLessThan(80);
    expect(Math.abs(test.length - 400)).toBeLessThan(80);
    expect(await ids(splits.validation)).toEqual(validation);
    // method 'hash' on a sized source gives the same assignment as on the stream.
    expect(await ids(splitSource(idSource(range(0, 4000), 'a', 64), { validation: 0.1, test: 0.1, seed: 3, method: 'hash' }).validation)).toEqual(validation);
  });

  it("shuffled(seed) reorders a part's own examples and never mixes parts", async () => {
    const source = idSource(range(0, 200), 'a', 20);
    const { train, validation } = splitSource(source, { validation: 0.25, seed: 2 });
    const plain = await ids(train);
    const shuffled = await ids(train.shuffled!(9));
    expect(shuffled).not.toEqual(plain);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(plain);
    expect(await ids(train.shuffled!(9))).toEqual(shuffled);
    const held = new Set(await ids(validation));
    expect(shuffled.some((id) => held.has(id))).toBe(false);
  });

  it('checks its options and the source size', async () => {
    const source = idSource(range(0, 10), 'a', 4);
    await mtlErrorOf(() => splitSource(source, { validation: 0.6, test: 0.4 }), 'BAD_CONFIG');
    await mtlErrorOf(() => splitSource(source, { validation: -0.1 }), 'BAD_CONFIG');
    await mtlErrorOf(() => splitSource(source, { valdation: 0.1 } as never), 'BAD_CONFIG');
    await mtlErrorOf(() => splitSource(streamOf(source), { validation: 0.1, method: 'permutation' }), 'BAD_CONFIG');
    await mtlErrorOf(() => splitSource({} as never), 'BAD_CONFIG');
    const lying: DataSource = { size: 5, [Symbol.asyncIterator]: () => source[Symbol.asyncIterator]() };
    const error = await mtlErrorOf(() => drain(splitSource(lying, { validation: 0.2 }).train));
    expect(error.message).toMatch(/more than its declared size of 5/);
    const short: DataSource = { size: 50, [Symbol.asyncIterator]: () => source[Symbol.asyncIterator]() };
    expect((await mtlErrorOf(() => drain(splitSource(short, { validation: 0.2 }).train))).message).toMatch(/yielded 10 examples, but its size says 50/);
  });

  it('leaks no tensor', async () => {
    const { train, test } = splitSource(idSource(range(0, 300), 'a', 32), { test: 0.3, seed: 1 });
    await checkNoLeak(
      async () => {
        await drain(train.shuffled!(1));
        await drain(test);
      },
      { steps: 3, label: 'splitSource' },
    );
  });
});
