import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, Trainer, useBackend, type Batch, type GradientSite, type GramianWeighting, type ModelSpec } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { hardSharing } from '@mtljs/sharing-hard';
import { afterAll, describe, expect, it } from 'vitest';
import { wasmBackend } from './index';

const spec: ModelSpec = {
  tasks: [
    { name: 'a', kind: 'regression', units: 1 },
    { name: 'b', kind: 'multiclass', units: 3 },
  ],
  inputShape: [8],
  encoder: { type: 'mlp', units: [16, 8] },
};
const EXAMPLES = 12;
const TOLERANCE = 1e-4;

/** Fixed weights [0.3, 0.7] of the Gramian: the simplest rule that exercises every gradient site. */
function fixedGramianWeighting(): GramianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'fixed-test',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features', 'last-shared'],
    init: () => null,
    weigh: (_gramian, _losses, state) => ({ weights: [0.3, 0.7], state }),
  };
}

/** The same batch on every backend: plain arrays, no RNG. */
function makeBatch(): Batch {
  const inputs: number[][] = [];
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < EXAMPLES; i++) {
    const row = Array.from({ length: 8 }, (_, j) => Math.sin(0.7 * i + 1.3 * j));
    inputs.push(row);
    a.push(row.reduce((sum, x, j) => sum + (j % 2 ? x : -0.5 * x), 0));
    b.push(i % 3);
  }
  return { inputs: tf.tensor2d(inputs), targets: { a: tf.tensor1d(a), b: tf.tensor1d(b) } };
}

interface RunResult {
  losses: number[];
  weights: number[];
}

const log = () => {};

async function train(backend: 'cpu' | 'wasm', site?: GradientSite): Promise<RunResult> {
  await useBackend(backend, { backends: [cpuBackend(), wasmBackend()], log });
  const tensorsBefore = tf.memory().numTensors;
  const model = hardSharing().build(spec, { seed: 3 });
  const trainer = new Trainer({
    model,
    optimizer: { name: 'sgd', learningRate: 0.1 },
    ...(site ? { weighting: fixedGramianWeighting(), site } : {}),
  });
  const batch = makeBatch();
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const report = trainer.step(batch);
    losses.push(report.losses['a']!, report.losses['b']!);
  }
  const named = model.getWeights();
  const weights = Object.keys(named)
    .sort()
    .flatMap((key) => Array.from(named[key]!.dataSync()));
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets), ...Object.values(named)] as tf.Tensor[]);
  trainer.optimizer.dispose();
  model.dispose();
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  return { losses, weights };
}

function maxAbsDiff(x: readonly number[], y: readonly number[]): number {
  expect(x.length).toBe(y.length);
  return x.reduce((worst, value, i) => Math.max(worst, Math.abs(value - y[i]!)), 0);
}

const measured: string[] = [];

describe('cpu and wasm agree', () => {
  afterAll(() => {
    console.info(`max |cpu - wasm| after 3 SGD steps:\n  ${measured.join('\n  ')}`);
  });

  for (const site of [undefined, 'shared', 'features', 'last-shared'] as const) {
    const label = site ? `gramian weighting [0.3, 0.7] at site '${site}'` : 'equal weighting (loss level)';
    it(`on losses and weights, ${label}`, async () => {
      const cpu = await train('cpu', site);
      const wasm = await train('wasm', site);
      expect(tf.getBackend()).toBe('wasm');
      expect(cpu.losses.every(Number.isFinite)).toBe(true);
      // Training moved: the losses of the last step differ from the first.
      expect(cpu.losses[4]).not.toBe(cpu.losses[0]);
      const lossDiff = maxAbsDiff(cpu.losses, wasm.losses);
      const weightDiff = maxAbsDiff(cpu.weights, wasm.weights);
      measured.push(`${label}: losses ${lossDiff.toExponential(2)}, weights ${weightDiff.toExponential(2)}`);
      expect(lossDiff).toBeLessThanOrEqual(TOLERANCE);
      expect(weightDiff).toBeLessThanOrEqual(TOLERANCE);
    });
  }
});

describe('wasm training', () => {
  for (const site of [undefined, 'shared', 'features', 'last-shared'] as const) {
    it(`leaks no tensors over 20 steps (${site ?? 'loss level'})`, async () => {
      await useBackend('wasm', { backends: [wasmBackend()], log });
      const model = hardSharing().build(spec, { seed: 3 });
      const trainer = new Trainer({
        model,
        optimizer: { name: 'sgd', learningRate: 0.1 },
        ...(site ? { weighting: fixedGramianWeighting(), site } : {}),
      });
      const batch = makeBatch();
      trainer.step(batch);
      const before = tf.memory().numTensors;
      for (let step = 0; step < 20; step++) trainer.step(batch);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([batch.inputs as tf.Tensor, ...(Object.values(batch.targets) as tf.Tensor[])]);
      trainer.optimizer.dispose();
      model.dispose();
      expect(tf.getBackend()).toBe('wasm');
    });
  }
});
