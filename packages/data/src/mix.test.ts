import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, disposeBatch, fromArrays } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { mixTasks, samplingProbabilities } from './mix';
import { examplesOf, idSource, mtlErrorOf, range, streamOf } from './test-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Source A: ids 0..99, task 'a'; source B: ids 1000..1399, task 'b'.
const small = () => idSource(range(0, 100), 'a', 16);
const large = () => idSource(range(1000, 1400), 'b', 32);

function shareFromA(examples: { masks: Record<string, number> }[]): number {
  return examples.filter((e) => e.masks.a === 1).length / examples.length;
}

describe('samplingProbabilities', () => {
  it('follows p ∝ n (proportional), 1/K (uniform) and n^(1/T) (temperature)', () => {
    expect(samplingProbabilities('proportional', [100, 400])).toEqual([0.2, 0.8]);
    expect(samplingProbabilities('uniform', [100, 400])).toEqual([0.5, 0.5]);
    const t2 = samplingProbabilities({ temperature: 2 }, [100, 400]);
    expect(t2[0]).toBeCloseTo(1 / 3, 12);
    expect(samplingProbabilities({ temperature: 1 }, [100, 400])).toEqual([0.2, 0.8]);
    expect(samplingProbabilities({ temperature: Number.POSITIVE_INFINITY }, [100, 400])).toEqual([0.5, 0.5]);
    expect(samplingProbabilities({ temperature: 1e6 }, [100, 400])[0]).toBeCloseTo(0.5, 5);
  });
});

describe('mixTasks', () => {
  it.each([
    ['proportional', 'proportional' as const, 0.2],
    ['uniform', 'uniform' as const, 0.5],
    ['temperature 2', { temperature: 2 }, 1 / 3],
  ])('draws examples in the %s proportions (sizes 100 / 400)', async (_, sampling, expected) => {
    const mixed = mixTasks({ sources: { a: small(), b: large() }, batchSize: 50, sampling, seed: 11, stepsPerEpoch: 200 });
    expect(mixed.probabilities.a).toBeCloseTo(expected, 12);
    const examples = await examplesOf(mixed);
    expect(examples.length).toBe(10_000);
    // Binomial standard deviation at n = 10 000 is at most 0.005; allow four of them.
    const share = shareFromA(examples);
    console.log(`mixTasks ${JSON.stringify(sampling)}: share from the 100-example source ${share.toFixed(4)} (formula ${expected.toFixed(4)})`);
    expect(Math.abs(share - expected)).toBeLessThan(0.02);
  });

  it("gives each example its own source's targets and mask 1, and zeros with mask 0 for the other tasks", async () => {
    const mixed = mixTasks({ sources: { a: small(), b: large() }, batchSize: 40, seed: 3 });
    const sizes: number[] = [];
    const examples = await examplesOf(mixed, sizes);
    expect(mixed.stepsPerEpoch).toBe(Math.ceil(500 / 40));
    expect(sizes.every((s) => s === 40)).toBe(true);
    for (const e of examples) {
      const fromA = e.id < 1000;
      expect(e.masks).toEqual({ a: fromA ? 1 : 0, b: fromA ? 0 : 1 });
      expect(e.targets.a).toBe(fromA ? e.id % 10 : 0);
      expect(e.targets.b).toBe(fromA ? 0 : e.id % 10);
    }
    // Proportional sampling over one epoch sees each source about once: most ids appear.
    const distinct = new Set(examples.map((e) => e.id));
    expect(distinct.size).toBeGreaterThan(300);
  });

  it('fills other tasks with zeros of their own target shape', async () => {
    const wide = fromArrays({ inputs: [[1, 2, 3], [4, 5, 6]], targets: { v: [[1, 2], [3, 4]] } }, { batchSize: 2 });
    const mixed = mixTasks({ sources: { a: small(), v: wide }, batchSize: 8, sampling: 'uniform', seed: 1, stepsPerEpoch: 2 });
    for await (const batch of mixed) {
      expect(batch.targets.v!.shape).toEqual([8, 2]);
      expect(batch.targets.a!.shape).toEqual([8]);
      expect(batch.masks!.v!.shape).toEqual([8]);
      disposeBatch(batch);
    }
  });

  it('keeps a source\'s own masks (a partly labelled source stays partly labelled)', async () => {
    const partial = fromArrays({ inputs: [[5000, 0, 0], [5001, 0, 0]], targets: { c: [1, null] } }, { batchSize: 2 });
    const mixed = mixTasks({ sources: { a: small(), c: partial }, batchSize: 64, sampling: 'uniform', seed: 2, stepsPerEpoch: 3 });
    const examples = await examplesOf(mixed);
    const fromC = examples.filter((e) => e.id >= 5000);
    expect(fromC.length).toBeGreaterThan(50);
    for (const e of fromC) expect(e.masks.c).toBe(e.id === 5000 ? 1 : 0);
  });

  it('is reproducible: same seed, same batches; shuffled(seed) gives a new, reproducible sequence', async () => {
    const make = (seed: number) => mixTasks({ sources: { a: small(), b: large() }, batchSize: 25, seed });
    const ids = async (source: DataSource) => (await examplesOf(source)).map((e) => e.id);
    const first = await ids(make(5));
    expect(await ids(make(5))).toEqual(first);
    expect(await ids(make(6))).not.toEqual(first);
    const mixed = make(5);
    // Iterating again restarts every source: the same epoch again.
    expect(await ids(mixed)).toEqual(first);
    const shuffledA = await ids(mixed.shuffled(1));
    expect(shuffledA).not.toEqual(first);
    expect(await ids(mixed.shuffled(1))).toEqual(shuffledA);
    expect(await ids(mixed.shuffled(2))).not.toEqual(shuffledA);
  });

  it('restarts a source that runs out within an epoch (uniform over 100 / 400)', async () => {
    const mixed = mixTasks({ sources: { a: small(), b: large() }, batchSize: 50, sampling: 'uniform', seed: 9 });
    const examples = await examplesOf(mixed);
    const fromA = examples.filter((e) => e.id < 1000);
    // About 250 draws from a source of 100: it is read about 2.5 times.
    expect(fromA.length).toBeGreaterThan(200);
    expect(new Set(fromA.map((e) => e.id)).size).toBe(100);
  });

  it('raises BAD_DATA naming the sources when their inputs differ in shape', async () => {
    const other = fromArrays({ inputs: [[1, 2], [3, 4]], targets: { c: [0, 1] } }, { batchSize: 2 });
    const error = await mtlErrorOf(() => examplesOf(mixTasks({ sources: { digits: small(), letters: other }, batchSize: 4, seed: 0 })));
    expect(error.message).toMatch(/letters gives \[2\] float32 per example, digits gives \[3\] float32/);
    expect(error.details.sources).toEqual(['digits', 'letters']);
  });

  it('raises BAD_CONFIG for missing sizes, bad sampling and unknown options', async () => {
    await mtlErrorOf(() => mixTasks({ sources: { a: small(), s: streamOf(large()) }, batchSize: 4 }), 'BAD_CONFIG');
    // Uniform sampling with stepsPerEpoch needs no size.
    const uniform = mixTasks({ sources: { a: small(), s: streamOf(large()) }, batchSize: 4, sampling: 'uniform', stepsPerEpoch: 3 });
    expect(uniform.size).toBe(12);
    const sized = mixTasks({ sources: { a: small(), s: streamOf(large()) }, batchSize: 4, sizes: { s: 400 } });
    expect(sized.probabilities.s).toBeCloseTo(0.8, 12);
    await mtlErrorOf(() => mixTasks({ sources: { a: small() }, batchSize: 4, sampling: { temperature: 0 } }), 'BAD_CONFIG');
    await mtlErrorOf(() => mixTasks({ sources: { a: small() }, batchSize: 4, sampling: 'square' as never }), 'BAD_CONFIG');
    await mtlErrorOf(() => mixTasks({ sources: { a: small() }, batchSize: 4, seeds: 1 } as never), 'BAD_CONFIG');
    await mtlErrorOf(() => mixTasks({ sources: {}, batchSize: 4 }), 'BAD_CONFIG');
    await mtlErrorOf(() => mixTasks({ sources: { a: small() }, batchSize: 0 }), 'BAD_CONFIG');
    await mtlErrorOf(() => mixTasks({ sources: { a: small() }, batchSize: 4, sizes: { z: 3 } }), 'BAD_CONFIG');
  });

  it('an empty source that the sampling draws from is BAD_DATA naming it', async () => {
    const empty: DataSource = { size: 5, async *[Symbol.asyncIterator]() {} };
    const error = await mtlErrorOf(() => examplesOf(mixTasks({ sources: { a: small(), hollow: empty }, batchSize: 8, seed: 0 })));
    expect(error.message).toMatch(/source 'hollow' has no examples/);
  });

  it('leaks no tensor, also when the consumer stops early, and closes the sources then', async () => {
    const mixed = mixTasks({ sources: { a: small(), b: large() }, batchSize: 32, seed: 1 });
    await checkNoLeak(async () => void (await examplesOf(mixed)), { steps: 3, label: 'mixTasks' });
    let closed = 0;
    const tracked = (source: DataSource): DataSource => ({
      size: source.size,
      [Symbol.asyncIterator]() {
        const inner = source[Symbol.asyncIterator]();
        return {
          next: () => inner.next(),
          async return() {
            closed += 1;
            return (await inner.return?.()) ?? { done: true, value: undefined };
          },
        };
      },
    });
    const before = tf.memory().numTensors;
    for await (const batch of mixTasks({ sources: { a: tracked(small()), b: tracked(large()) }, batchSize: 32, seed: 1 })) {
      disposeBatch(batch);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(closed).toBe(2);
  });

  it('feeds Trainer.fit: a hard-sharing model trains on the mixed, partially-labelled batches', async () => {
    const mixed = mixTasks({ sources: { a: small(), b: large() }, batchSize: 50, sampling: { temperature: 2 }, seed: 4 });
    const model = hardSharing().build(
      {
        tasks: [
          { name: 'a', kind: 'multiclass', units: 10 },
          { name: 'b', kind: 'multiclass', units: 10 },
        ],
        inputShape: [3],
        encoder: { type: 'mlp', units: [8] },
      },
      { seed: 1 },
    );
    const trainer = new Trainer({ model, seed: 1 });
    let steps = 0;
    const history = await trainer.fit(mixed, { epochs: 2, callbacks: { onStep: () => void (steps += 1) } });
    expect(steps).toBe(2 * mixed.stepsPerEpoch);
    expect(Number.isFinite(history[1]!.trainLosses.a!)).toBe(true);
    expect(Number.isFinite(history[1]!.trainLosses.b!)).toBe(true);
    trainer.dispose();
    model.dispose();
  });

  it('accepts batches with record inputs', async () => {
    const recordSource = (offset: number, task: string): DataSource => ({
      size: 4,
      async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
        yield { inputs: { x: tf.tensor2d([[offset], [offset + 1], [offset + 2], [offset + 3]]), z: tf.zeros([4, 2, 2]) }, targets: { [task]: tf.tensor1d([1, 2, 3, 4], 'int32') } };
      },
    });
    const mixed = mixTasks({ sources: { p: recordSource(0, 'p'), q: recordSource(100, 'q') }, batchSize: 4, seed: 1 });
    for await (const batch of mixed) {
      const inputs = batch.inputs as Record<string, tf.Tensor>;
      expect(inputs.x!.shape).toEqual([4, 1]);
      expect(inputs.z!.shape).toEqual([4, 2, 2]);
      expect(batch.targets.p!.dtype).toBe('int32');
      disposeBatch(batch);
    }
  });
});
