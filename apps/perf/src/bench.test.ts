import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from 'mtljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBench, weightingCases } from './bench';

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});

describe('runBench (a tiny run on cpu; speed is not asserted)', () => {
  it('measures the overhead row and each (weighting, site) row, with flat tensor counts and nothing left behind', async () => {
    const before = tf.memory().numTensors;
    const rows = await runBench({ steps: 2, warmup: 1, tasks: [2], trunks: ['mlp'], weightings: ['pcgrad', 'uncertainty'], batchSize: 8, leakSteps: 6 });
    expect(rows.map((r) => `${r.kind}:${r.weighting}:${r.site}`)).toEqual([
      'overhead:ew:null',
      'overhead-naive:ew:null',
      'weighting:pcgrad:shared',
      'weighting:pcgrad:features',
      'weighting:uncertainty:null',
    ]);
    for (const r of rows) {
      expect(r.method.n).toBe(2);
      expect(r.baseline.n).toBe(2);
      expect(r.ratio).toBeGreaterThan(0);
      expect([r.tensorsPerStep, r.leaked, r.leakSteps]).toEqual([0, 0, 6]);
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('with two task counts, adds the interleaved scaling pair (EW at the most tasks vs the fewest) after the overhead rows', async () => {
    const before = tf.memory().numTensors;
    const rows = await runBench({ steps: 2, warmup: 1, tasks: [2, 3], trunks: ['mlp'], weightings: [], batchSize: 8, leakSteps: 4 });
    expect(rows.map((r) => `${r.kind}:${r.tasks}`)).toEqual(['overhead:2', 'overhead-naive:2', 'overhead:3', 'overhead-naive:3', 'scaling:3']);
    const pair = rows[4]!;
    expect([pair.method.n, pair.baseline.n, pair.tensorsPerStep, pair.leakSteps]).toEqual([2, 2, 0, 3]);
    expect(pair.ratio).toBeCloseTo(pair.method.median / pair.baseline.median, 10);
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('lists every registered weighting but EW, gradient-level ones once per site', () => {
    const cases = weightingCases();
    expect(cases.some((c) => c.name === 'ew')).toBe(false);
    expect(cases.filter((c) => c.name === 'pcgrad').map((c) => c.site)).toEqual(['shared', 'features']);
    expect(cases.filter((c) => c.name === 'dwa')).toEqual([{ name: 'dwa', site: null }]);
    const features = weightingCases(['pcgrad', 'dwa'], ['features']);
    expect(features).toEqual([{ name: 'pcgrad', site: 'features' }, { name: 'dwa', site: null }]);
  });
});
