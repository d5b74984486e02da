import * as tf from '@tensorflow/tfjs-core';
import { leakMatrix } from '@mtljs/testkit';
import { beforeAll, expect, it } from 'vitest';
import { defaultRegistry, useBackend, type ModelSpec } from '../src/index';

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});

// Issue 10, acceptance 4: every registered weighting × every registered sharing strategy × each
// gradient site both support, 100 steps each, with tf.memory().numTensors flat over the steps
// and back to its starting count once the trainer and model are disposed. Two tasks of two kinds
// on a small model keep the ~30,000 steps inside about a minute on one CPU core.
const tasks: ModelSpec['tasks'] = [
  { name: 'r', kind: 'regression', units: 1 },
  { name: 'c', kind: 'multiclass', units: 3 },
];
const spec: ModelSpec = { tasks, inputShape: [4], encoder: { type: 'mlp', units: [4] } };
// MTAN's attention reads a conv encoder's feature maps; clustered needs its task groups.
const conv: ModelSpec = { tasks, inputShape: [4, 4, 1], encoder: { type: 'conv', blocks: [{ filters: 2, kernelSize: 3 }, { filters: 2, kernelSize: 3 }] } };

it('the leak matrix: every weighting × sharing strategy × shared site, 100 steps each, leaks no tensor', async () => {
  const registry = defaultRegistry();
  const tensorsBefore = tf.memory().numTensors;
  const report = await leakMatrix({
    registry,
    steps: 100,
    spec,
    batchSize: 4,
    sharingSettings: { mtan: { spec: conv }, clustered: { options: { groups: [['r'], ['c']] } } },
  });
  const sharings = registry.list('sharing').length;
  const weightings = registry.list('weighting').length;
  const seconds = report.cells.reduce((sum, cell) => sum + cell.ms, 0) / 1000;
  console.log(`leak matrix: ${sharings} sharing strategies × ${weightings} weightings; ${report.size}; ${seconds.toFixed(1)} s`);
  expect(report.failures.map((cell) => cell.error)).toEqual([]);
  expect(sharings).toBe(8);
  expect(weightings).toBe(20);
  // Each cell ran: a loss-level weighting once per strategy, a gradient-level one at each site both support.
  expect(report.cells.length).toBeGreaterThanOrEqual(sharings * weightings);
  expect(new Set(report.cells.map((cell) => `${cell.sharing}/${cell.weighting}`)).size).toBe(report.pairs);
  expect(report.cells.every((cell) => cell.leaked === 0 && cell.leftAfterDispose === 0)).toBe(true);
  expect(tf.memory().numTensors).toBe(tensorsBefore);
}, 600_000);
