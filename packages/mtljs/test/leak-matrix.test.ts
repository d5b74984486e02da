import * as tf from '@tensorflow/tfjs-core';
import { leakMatrix } from '@mtljs/testkit';
import { beforeAll, expect, it } from 'vitest';
import { defaultRegistry, useBackend } from '../src/index';
import { conv, spec } from './specs';

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});

// Issue 10, acceptance 4: every registered weighting × every registered sharing strategy × each
// gradient site both support, 100 steps each, with tf.memory().numTensors flat over the steps
// and back to its starting count once the trainer and model are disposed. Two tasks of two kinds
// on a small model (./specs) keep the ~30,000 steps near a minute and a half on one CPU core.
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
