import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch, GradientSite, TaskSpec } from '../src/index';
import { equalWeighting, TrainStepEngine } from '../src/index';
import { Rng } from '../src/rng';
import { fixedGramian, tinyModel } from './fixtures';

// Under plain SGD the engine updates variables of one shape that come four or more to a step (the
// heads of many tasks) as one joined tensor. The values must be exactly those of tf.train.sgd
// updating each variable alone: a subclass of SGDOptimizer is updated variable by variable (the
// engine groups only tf.train.sgd's own class), so it is the reference here.

class OneByOneSgd extends tf.SGDOptimizer {}

const TASKS: TaskSpec[] = Array.from({ length: 6 }, (_, t) => ({ name: `c${t}`, kind: 'multiclass' as const, units: 3 }));

function batchOf(seed: number): Batch {
  const rng = Rng.fromSeed(seed);
  const n = 9;
  return {
    inputs: tf.tensor2d(Array.from({ length: n * 5 }, () => rng.normal()), [n, 5]),
    targets: Object.fromEntries(TASKS.map((t) => [t.name, tf.tensor1d(Array.from({ length: n }, () => rng.int(3)), 'int32')])),
  };
}

function run(optimizer: tf.Optimizer, options: { gramian?: GradientSite; freeze?: string[]; steps: number }) {
  const model = tinyModel(TASKS, { seed: 5, stacked: true });
  const weighting = options.gramian ? fixedGramian([1, 0.5, 2, 1, 0.25, 1.5]) : equalWeighting();
  const engine = new TrainStepEngine({
    model,
    weighting,
    optimizer,
    seed: 0,
    ...(options.gramian ? { site: options.gramian } : {}),
    ...(options.freeze ? { freeze: { tasks: options.freeze } } : {}),
  });
  for (let s = 0; s < options.steps; s++) {
    const batch = batchOf(100 + s);
    engine.runStep(batch);
    tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
  }
  const weights = model.getWeights();
  const values = Object.fromEntries(Object.entries(weights).map(([name, t]) => [name, Array.from(t.dataSync())]));
  tf.dispose(Object.values(weights));
  return { model, engine, values };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('plain SGD updates like-shaped variables together', () => {
  for (const gramian of [undefined, 'features', 'shared'] as const) {
    it(`gives bit-identical variables to per-variable SGD (${gramian ? `Gramian at '${gramian}'` : 'loss level'}), with frozen heads left as they were`, () => {
      const initial = tinyModel(TASKS, { seed: 5, stacked: true });
      const start = initial.getWeights();
      const grouped = run(tf.train.sgd(0.1), { gramian, freeze: ['c2'], steps: 4 });
      const alone = new OneByOneSgd(0.1);
      const reference = run(alone, { gramian, freeze: ['c2'], steps: 4 });
      expect(Object.keys(grouped.values).sort()).toEqual(Object.keys(reference.values).sort());
      let changed = 0;
      for (const [name, values] of Object.entries(reference.values)) {
        expect(grouped.values[name], name).toEqual(values);
        const before = Array.from(start[name]!.dataSync());
        if (name.includes('head/c2/')) expect(values, `${name} is frozen`).toEqual(before);
        else if (values.some((v, i) => v !== before[i])) changed++;
      }
      // Every unfrozen variable moved (so the comparison above compared updates, not initial values).
      expect(changed).toBe(Object.keys(reference.values).filter((name) => !name.includes('head/c2/')).length);
      expect(grouped.engine.optimizer.iterations).toBe(4);
      expect(alone.iterations).toBe(4);
      tf.dispose(Object.values(start));
      [initial, grouped.model, reference.model].forEach((m) => m.dispose());
      grouped.engine.optimizer.dispose();
      alone.dispose();
    });
  }

  it('runs fewer kernels than per-variable SGD, and leaves no tensor behind over 60 steps', async () => {
    const kernels = async (optimizer: tf.Optimizer) => {
      const model = tinyModel(TASKS, { seed: 5, stacked: true });
      const engine = new TrainStepEngine({ model, weighting: equalWeighting(), optimizer, seed: 0 });
      const batch = batchOf(3);
      engine.runStep(batch);
      const info = await tf.profile(() => void engine.runStep(batch));
      const before = tf.memory().numTensors;
      for (let s = 0; s < 60; s++) engine.runStep(batch);
      const leaked = tf.memory().numTensors - before;
      tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
      model.dispose();
      optimizer.dispose();
      return { count: info.kernels.length, multiplies: info.kernels.filter((k) => k.name === 'Multiply').length, leaked };
    };
    const grouped = await kernels(tf.train.sgd(0.1));
    const alone = await kernels(new OneByOneSgd(0.1));
    expect(grouped.leaked).toBe(0);
    expect(alone.leaked).toBe(0);
    // 6 heads × (2 kernels + 2 biases) in 4 shape groups: 4 multiplies instead of 24 for the heads.
    expect(alone.multiplies - grouped.multiplies).toBe(20);
    expect(grouped.count).toBeLessThan(alone.count);
  });
});
