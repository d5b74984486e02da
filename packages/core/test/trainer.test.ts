import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { fromArrays, isMtlError, Rng, Trainer, type GramianWeighting, type StepReport } from '../src/index';
import { fixedGramian, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function dataset(n: number, seed: number) {
  const rng = Rng.fromSeed(seed);
  const inputs = Array.from({ length: n }, () => Array.from({ length: 5 }, () => rng.normal()));
  return {
    inputs,
    targets: {
      reg: inputs.map((x) => [x[0]! + 0.5 * x[1]!, x[2]! - x[3]!]),
      cls: inputs.map((x) => (x[0]! > 0.5 ? 2 : x[0]! > -0.5 ? 1 : 0)),
      // every third example unlabelled for 'bin'
      bin: inputs.map((x, i) => (i % 3 === 0 ? null : x[4]! > 0 ? 1 : 0)),
    },
  };
}

describe('Trainer', () => {
  it('fit: reports per-task losses and weights every step, validates each epoch, and learns', async () => {
    const model = tinyModel(TASKS, { seed: 1 });
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.02 }, seed: 1 });
    const train = fromArrays(dataset(240, 1), { batchSize: 32 });
    const validation = fromArrays(dataset(120, 2), { batchSize: 64 });
    const steps: StepReport[] = [];
    const epochs: number[] = [];
    const before = await trainer.evaluate(validation);
    const history = await trainer.fit(train, {
      epochs: 12,
      validation,
      callbacks: { onStep: (r) => void steps.push(r), onEpochEnd: (r) => void epochs.push(r.epoch) },
    });
    expect(steps).toHaveLength(12 * 8);
    expect(epochs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    for (const r of steps) {
      expect(Object.keys(r.losses)).toEqual(['reg', 'cls', 'bin']);
      expect(r.weights).toEqual({ reg: 1, cls: 1, bin: 1 });
    }
    const after = history[history.length - 1]!.validation!;
    for (const task of ['reg', 'cls', 'bin']) expect(after.tasks[task]!.loss).toBeLessThan(before.tasks[task]!.loss * 0.8);
    expect(after.tasks.bin!.count).toBe(80); // 120 examples, every third unlabelled
    expect(after.tasks.cls!.metrics.accuracy).toBeGreaterThan(0.7);
    expect(Object.keys(after.tasks.reg!.metrics)).toEqual(['rmse', 'mae', 'r2']);
    expect(Object.keys(after.tasks.bin!.metrics)).toEqual(['accuracy', 'f1']);
    trainer.dispose();
    model.dispose();
  });

  it('the seed fixes shuffling: same seed, same losses; another seed, other losses', async () => {
    const run = async (seed: number) => {
      const model = tinyModel(TASKS, { seed: 3 });
      const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.05 }, seed });
      const losses: number[] = [];
      await trainer.fit(fromArrays(dataset(96, 5), { batchSize: 16 }), { epochs: 2, callbacks: { onStep: (r) => void losses.push(r.loss) } });
      trainer.dispose();
      model.dispose();
      return losses;
    };
    const a = await run(10);
    expect(await run(10)).toEqual(a);
    expect(await run(11)).not.toEqual(a);
  });

  it('fit disposes the batches it consumes', async () => {
    const model = tinyModel(TASKS, { seed: 1 });
    const trainer = new Trainer({ model, seed: 1 });
    const source = fromArrays(dataset(64, 1), { batchSize: 16 });
    await trainer.fit(source, { epochs: 1 }); // optimiser slots appear here
    const before = tf.memory().numTensors;
    await trainer.fit(source, { epochs: 3, validation: source });
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    model.dispose();
  });

  it('a weighting named with options resolves through the registry; ew and static are built in', () => {
    const model = tinyModel(TASKS);
    const batch = { inputs: tf.ones([4, 5]), targets: { reg: tf.zeros([4, 2]), cls: tf.zeros([4], 'int32'), bin: tf.zeros([4]) } };
    const mean = new Trainer({ model, weighting: { name: 'ew', options: { reduction: 'mean' } } }).step(batch);
    expect(mean.weights).toEqual({ reg: 1 / 3, cls: 1 / 3, bin: 1 / 3 });
    const fixed = new Trainer({ model, weighting: { name: 'static', options: { weights: { cls: 4 } } } }).step(batch);
    expect(fixed.weights).toEqual({ reg: 1, cls: 4, bin: 1 });
    expect(() => new Trainer({ model, weighting: { name: 'static', options: { weight: { cls: 4 } } } })).toThrowError(/unknown option 'weight'; it accepts: weights, defaultWeight/);
    model.dispose();
  });

  it('a solver that did not converge becomes a warning: onWarning receives it, else console.warn once', async () => {
    const stubborn: GramianWeighting<{ calls: number }> = {
      ...fixedGramian([1, 1, 1]),
      weigh: (_g, _l, state, info) => ({
        weights: info.activeTasks.map(() => 1),
        state,
        diagnostics: { solver: { residual: 0.5, iterations: 100, converged: false }, values: { custom: 2 } },
      }),
    };
    const model = tinyModel(TASKS, { seed: 1 });
    const trainer = new Trainer({ model, weighting: stubborn, site: 'features', seed: 1 });
    const received: { step: number; message: string }[] = [];
    const reports: StepReport[] = [];
    await trainer.fit(fromArrays(dataset(32, 1), { batchSize: 16 }), {
      epochs: 1,
      callbacks: { onWarning: (w) => void received.push(w), onStep: (r) => void reports.push(r) },
    });
    expect(received).toHaveLength(2);
    expect(received[0]!.message).toMatch(/weighting 'fixed-gramian': its solver stopped before converging at step 0 \(residual 5.00e-1 after 100 iterations\)/);
    expect(reports[0]!.diagnostics?.values).toEqual({ custom: 2 });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const batch = [...fromArrays(dataset(16, 2), { batchSize: 16 }).batches()][0]!;
    trainer.step(batch);
    trainer.step(batch);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/^mtljs: weighting 'fixed-gramian': its solver stopped/);
    warn.mockRestore();
    trainer.dispose();
    model.dispose();
  });

  it('an unknown optimizer and bad epochs are BAD_CONFIG errors', async () => {
    const model = tinyModel(TASKS);
    expect(() => new Trainer({ model, optimizer: { name: 'adamw' as 'adam' } })).toThrowError(/unknown optimizer 'adamw'/);
    const trainer = new Trainer({ model });
    await expect(trainer.fit(fromArrays(dataset(8, 1), { batchSize: 4 }), { epochs: -1 })).rejects.toSatisfy((e) => isMtlError(e, 'BAD_CONFIG'));
    model.dispose();
  });
});

describe('in-memory DataSource', () => {
  it('batches rows, masks null targets, and reshuffles by seed', () => {
    const source = fromArrays(
      { inputs: [[1], [2], [3], [4], [5]], targets: { a: [10, null, 30, 40, 50] }, masks: { a: [1, 1, 1, 0, 1] } },
      { batchSize: 2 },
    );
    const batches = [...source.batches()];
    expect(batches.map((b) => (b.inputs as tf.Tensor).shape[0])).toEqual([2, 2, 1]);
    expect(Array.from(batches[0]!.masks!.a!.dataSync())).toEqual([1, 0]);
    expect(Array.from(batches[1]!.masks!.a!.dataSync())).toEqual([1, 0]);
    const order = (s: typeof source) =>
      [...(s.shuffled!(9) as typeof source).batches()].flatMap((b) => Array.from((b.inputs as tf.Tensor).dataSync()));
    expect(order(source)).toEqual(order(source));
    expect([...order(source)].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(order(source)).not.toEqual([1, 2, 3, 4, 5]);
  });

  it('bad arrays name the task, column and example', () => {
    expect(() => fromArrays({ inputs: [[1, 2], [3]], targets: { a: [1, 2] } }, { batchSize: 1 })).toThrowError("'inputs', example 1: row has 1 values, expected 2 like the first row");
    expect(() => fromArrays({ inputs: [[1], [2]], targets: { a: [1] } }, { batchSize: 1 })).toThrowError("task 'a': 1 targets for 2 input examples");
    expect(() => fromArrays({ inputs: [[1], [NaN]], targets: { a: [1, 2] } }, { batchSize: 1 })).toThrowError('inputs, example 1: value 0 is not a finite number');
    expect(() => fromArrays({ inputs: [[1]], targets: { a: [1] } }, { batchSize: 0 })).toThrowError(/batchSize must be a positive integer/);
  });
});
