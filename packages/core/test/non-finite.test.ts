import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch, DataSource, StepReport, Weighting } from '../src/index';
import { isMtlError, MtlError, Trainer, TrainStepEngine } from '../src/index';
import { fixedBatch, fixedGramian, learnedScale, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const BATCHES = 6;
const POISONED = 3;

/** Six fixed batches; batch 3 has one NaN among task 'reg''s targets (example 2). */
function poisonedSource(): DataSource {
  return {
    size: BATCHES * 12,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < BATCHES; i++) {
        const batch = fixedBatch(12, 100 + i);
        if (i === POISONED) {
          const values = batch.targets['reg']!.arraySync() as number[][];
          values[2]![1] = Number.NaN;
          batch.targets['reg']!.dispose();
          batch.targets['reg'] = tf.tensor2d(values);
        }
        yield batch;
      }
    },
  };
}

/** Every value the trainer would change: model variables, weighting parameters, optimiser slots. */
async function snapshot(trainer: Trainer): Promise<Map<string, Float32Array>> {
  const values = new Map<string, Float32Array>();
  const weights = trainer.model.getWeights();
  for (const [name, tensor] of Object.entries(weights)) values.set(`model/${name}`, (await tensor.data()) as Float32Array);
  tf.dispose(Object.values(weights));
  for (const [name, variable] of Object.entries(trainer.engine.weightingParams)) values.set(`weighting/${name}`, (await variable.data()) as Float32Array);
  for (const [i, { tensor }] of (await trainer.optimizer.getWeights()).entries()) {
    values.set(`optimizer/${i}`, Float32Array.from(await tensor.data()));
    if (!(tensor instanceof tf.Variable)) tensor.dispose();
  }
  return values;
}

function expectSame(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [key, values] of a) expect(Array.from(b.get(key)!), key).toEqual(Array.from(values));
}

const WEIGHTINGS: { label: string; weighting: () => Weighting<any>; site?: 'shared' | 'features' }[] = [
  { label: 'a loss-level weighting with a trainable parameter', weighting: learnedScale },
  { label: 'a Gramian weighting at the shared site', weighting: () => fixedGramian([1, 1, 1]), site: 'shared' },
];

describe.each(WEIGHTINGS)('a NaN in one task’s targets, with $label', ({ weighting, site }) => {
  it("default policy: MtlError NON_FINITE_LOSS names the task and the step, and every variable, slot and state keeps its pre-step value", async () => {
    const model = tinyModel(TASKS, { seed: 4 });
    const trainer = new Trainer({ model, weighting: weighting(), site, optimizer: { name: 'adam', learningRate: 0.05 }, seed: 2 });
    let before: Map<string, Float32Array> | undefined;
    let state = '';
    const error = await trainer
      .fit(poisonedSource(), {
        epochs: 1,
        shuffle: false,
        callbacks: {
          async onStep(report) {
            if (report.step === POISONED - 1) {
              before = await snapshot(trainer);
              state = JSON.stringify(trainer.engine.weightingState);
            }
          },
        },
      })
      .catch((e: unknown) => e);
    expect(isMtlError(error, 'NON_FINITE_LOSS')).toBe(true);
    expect((error as Error).message).toBe(`non-finite loss for task 'reg' at step ${POISONED}; no variable was updated`);
    expect((error as { details: Record<string, unknown> }).details).toMatchObject({ task: 'reg', step: POISONED });
    expectSame(before!, await snapshot(trainer));
    expect(JSON.stringify(trainer.engine.weightingState)).toBe(state);
    expect(trainer.stepCount).toBe(POISONED);
    trainer.dispose();
    model.dispose();
  });

  it("'skip': the step is dropped (nothing changes), counted in the step and epoch reports, and training goes on", async () => {
    const model = tinyModel(TASKS, { seed: 4 });
    const trainer = new Trainer({ model, weighting: weighting(), site, optimizer: { name: 'adam', learningRate: 0.05 }, seed: 2, nonFinite: 'skip' });
    const reports: StepReport[] = [];
    const snapshots: Map<string, Float32Array>[] = [];
    const warnings: string[] = [];
    const [epoch] = await trainer.fit(poisonedSource(), {
      epochs: 1,
      shuffle: false,
      callbacks: {
        async onStep(report) {
          reports.push(report);
          snapshots.push(await snapshot(trainer));
        },
        onWarning: (warning) => void warnings.push(`${warning.step}: ${warning.message}`),
      },
    });
    expect(reports.map((r) => r.skipped)).toEqual([false, false, false, true, false, false]);
    expect(reports.map((r) => r.skips)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(reports.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Number.isNaN(reports[POISONED]!.losses['reg'])).toBe(true);
    expect(warnings).toEqual([`${POISONED}: non-finite loss for task 'reg' at step ${POISONED}; step skipped`]);
    // Nothing moved during the skipped step; the next step did train.
    expectSame(snapshots[POISONED - 1]!, snapshots[POISONED]!);
    const first = [...snapshots[0]!.keys()][0]!;
    expect(Array.from(snapshots[POISONED + 1]!.get(first)!)).not.toEqual(Array.from(snapshots[POISONED]!.get(first)!));
    expect(epoch!.skipped).toBe(1);
    expect(epoch!.steps).toBe(BATCHES);
    // The epoch's means leave the skipped step out, so they stay finite.
    expect(Object.values(epoch!.trainLosses).every(Number.isFinite)).toBe(true);
    expect(trainer.engine.skips).toBe(1);
    // A checkpoint carries the count.
    const checkpoint = await trainer.saveCheckpoint();
    expect(checkpoint.manifest.skips).toBe(1);
    // The skip path frees what the step made: 50 more skipped steps leave the tensor count flat.
    const poisoned = fixedBatch(12, 9);
    poisoned.targets['bin']!.dispose();
    poisoned.targets['bin'] = tf.fill([12], Number.POSITIVE_INFINITY);
    trainer.step(poisoned);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) trainer.step(poisoned);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(trainer.engine.skips).toBe(52);
    tf.dispose([poisoned.inputs as tf.Tensor, ...Object.values(poisoned.targets)]);
    trainer.dispose();
    model.dispose();
  });
});

it("the engine refuses a policy other than 'throw' or 'skip'", () => {
  const model = tinyModel(TASKS);
  const optimizer = tf.train.sgd(0.1);
  expect(() => new TrainStepEngine({ model, weighting: learnedScale(), optimizer, seed: 1, nonFinite: 'ignore' as never })).toThrowError(
    /nonFinite must be 'throw' or 'skip', got "ignore"/,
  );
  optimizer.dispose();
  model.dispose();
});

it("'skip' on a step whose every task is fine changes nothing about the step", () => {
  const model = tinyModel(TASKS, { seed: 4 });
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.1 }, nonFinite: 'skip' });
  const batch: Batch = fixedBatch(12, 9);
  const report = trainer.step(batch);
  expect([report.skipped, report.skips, report.warnings]).toEqual([false, 0, []]);
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
  trainer.dispose();
  model.dispose();
});

it('a weighting whose combine() throws inside the gradient tape leaves no tensor behind (tfjs keeps the tape’s saved tensors otherwise)', () => {
  const model = tinyModel(TASKS, { seed: 4 });
  const refusing: Weighting<null> = {
    kind: 'weighting',
    name: 'refusing',
    apiVersion: 1,
    level: 'loss',
    init: () => null,
    combine: () => {
      throw new MtlError('BAD_CONFIG', 'refusing: no');
    },
  };
  const trainer = new Trainer({ model, weighting: refusing, optimizer: { name: 'sgd', learningRate: 0.1 } });
  const batch = fixedBatch(12, 9);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) expect(() => trainer.step(batch)).toThrowError(/refusing: no/);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
  trainer.dispose();
  model.dispose();
});

it('a Trainer whose weighting refuses the model at init frees the optimiser it made', () => {
  const model = tinyModel(TASKS, { seed: 4 });
  const before = tf.memory().numTensors;
  const refusing = { ...learnedScale(), init: () => {
    throw new MtlError('BAD_CONFIG', 'init: no');
  } };
  expect(() => new Trainer({ model, weighting: refusing, optimizer: { name: 'sgd', learningRate: 0.1 } })).toThrowError(/init: no/);
  expect(tf.memory().numTensors).toBe(before);
  model.dispose();
});
