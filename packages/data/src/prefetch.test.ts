import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { MtlError, disposeBatch, isMtlError } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { prefetch } from './prefetch';
import { drain, examplesOf, idSource, mtlErrorOf, range } from './test-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `count` batches of 4 examples; each takes `delayMs` of (simulated) I/O; pulls and closes are counted. */
function countingSource(count: number, delayMs = 0, failAt?: number) {
  const counters = { pulled: 0, closed: 0 };
  const source: DataSource = {
    size: count * 4,
    async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
      try {
        for (let i = 0; i < count; i++) {
          if (delayMs) await sleep(delayMs);
          if (i === failAt) throw new Error('disk went away');
          counters.pulled += 1;
          yield { inputs: tf.tensor2d(range(i * 4, i * 4 + 4).map((k) => [k, 0, 0])), targets: { a: tf.tensor1d([1, 2, 3, 4]) } };
        }
      } finally {
        counters.closed += 1;
      }
    },
  };
  return { source, counters };
}

describe('prefetch', () => {
  it('runs ahead: n batches are prepared before the first one is consumed, and no more', async () => {
    const { source, counters } = countingSource(20);
    const prefetched = prefetch(source, { batches: 3 });
    const iterator = prefetched[Symbol.asyncIterator]();
    expect(counters.pulled).toBe(0); // lazy until the first request
    const first = await iterator.next();
    await sleep(20); // the consumer "trains"
    expect(counters.pulled).toBe(1 + 3);
    expect(prefetched.lastStats).toMatchObject({ delivered: 1, buffered: 3 });
    disposeBatch(first.value as Batch);
    const second = await iterator.next();
    disposeBatch(second.value as Batch);
    await sleep(20);
    expect(counters.pulled).toBe(2 + 3);
    await iterator.return!();
    expect(prefetched.lastStats!.discarded).toBe(3);
  });

  it('keeps the order and content of the source', async () => {
    const plain = await examplesOf(idSource(range(0, 37), 'a', 5));
    expect(await examplesOf(prefetch(idSource(range(0, 37), 'a', 5), { batches: 2 }))).toEqual(plain);
  });

  it('overlaps the source\'s I/O with the consumer\'s work', async () => {
    const steps = 12;
    const work = 15;
    const timed = async (source: DataSource) => {
      const started = performance.now();
      for await (const batch of source) {
        await sleep(work);
        disposeBatch(batch);
      }
      return performance.now() - started;
    };
    const plain = await timed(countingSource(steps, work).source);
    const ahead = await timed(prefetch(countingSource(steps, work).source, { batches: 2 }));
    console.log(`prefetch: ${steps} batches of ${work} ms I/O + ${work} ms work: ${plain.toFixed(0)} ms plain, ${ahead.toFixed(0)} ms prefetched`);
    expect(ahead).toBeLessThan(plain * 0.8);
  });

  it('disposes the prepared batches and closes the source when the consumer breaks early', async () => {
    const { source, counters } = countingSource(50);
    const prefetched = prefetch(source, { batches: 4 });
    const before = tf.memory().numTensors;
    for await (const batch of prefetched) {
      disposeBatch(batch);
      await sleep(10);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(prefetched.lastStats!.discarded).toBe(4);
    expect(counters.closed).toBe(1);
  });

  it('also when the loop body throws, and when a pull is in flight at that moment', async () => {
    const { source, counters } = countingSource(50, 5);
    const before = tf.memory().numTensors;
    await expect(
      (async () => {
        for await (const batch of prefetch(source, { batches: 2 })) {
          disposeBatch(batch);
          throw new MtlError('NON_FINITE_LOSS', 'training failed');
        }
      })(),
    ).rejects.toThrow('training failed');
    expect(tf.memory().numTensors).toBe(before);
    expect(counters.closed).toBe(1);
  });

  it('delivers the batches before a source failure, then the failure as an MtlError', async () => {
    const { source } = countingSource(10, 0, 3);
    const seen: number[] = [];
    let caught: unknown;
    try {
      for await (const batch of prefetch(source, { batches: 5 })) {
        seen.push(seen.length);
        disposeBatch(batch);
      }
    } catch (error) {
      caught = error;
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(isMtlError(caught, 'BAD_DATA')).toBe(true);
    expect((caught as Error).message).toMatch(/disk went away/);
  });

  it('checks its options and leaks no tensor over whole passes', async () => {
    await mtlErrorOf(() => prefetch(idSource([1], 'a', 1), { batches: 0 }), 'BAD_CONFIG');
    await mtlErrorOf(() => prefetch(idSource([1], 'a', 1), { depth: 2 } as never), 'BAD_CONFIG');
    const prefetched = prefetch(idSource(range(0, 64), 'a', 8), { batches: 3 });
    expect(prefetched.size).toBe(64);
    await checkNoLeak(() => drain(prefetched.shuffled!(2)), { steps: 3, label: 'prefetch' });
  });
});
