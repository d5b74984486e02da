import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { kineticsData } from './dataset';
import { cosineRate, spread, trainAndEvaluate } from './experiment';

beforeAll(async () => {
  await useBackend('wasm', { backends: [cpuBackend(), wasmBackend()], log: () => {} });
});

describe('training a kinetics model', () => {
  it('learns both tasks with few Ea labels and leaks no tensor, step after step or in all', async () => {
    // 13 Ea labels among 256 reactions, batches of 32: many batches have no Ea label at all, so the
    // Ea head and its log-variance sit out steps (core's engine keeps the optimiser's slots in a fixed order for this case).
    const data = kineticsData({ seed: 2, trainSize: 256, testSize: 128, labelledEa: 0.05 });
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    let eaInactive = 0;
    const result = await trainAndEvaluate(
      data,
      ['lnk', 'ea'],
      'uncertainty',
      { steps: 80, batchSize: 32, learningRate: 0.01, encoder: [16, 16], head: [8], seed: 2 },
      {
        onStep: (report) => {
          counts.push(tf.memory().numTensors);
          if (!report.active.ea) eaInactive += 1;
        },
      },
    );
    expect(eaInactive).toBeGreaterThan(10);
    expect(result.steps).toBe(80);
    // Optimiser slots appear when a variable first gets a gradient; after that the count is flat.
    expect(new Set(counts.slice(30)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    for (const task of ['lnk', 'ea'] as const) {
      const score = result.scores[task]!;
      expect(score.finalLoss).toBeLessThan(0.5 * score.initialLoss);
      expect(score.rmse).toBeGreaterThan(0);
    }
    expect(result.learnedVariance!.lnk).toBeGreaterThan(0);
  });

  it('reports RMSE and MAE in physical units: σ of the training targets times the standardised error', async () => {
    const data = kineticsData({ seed: 3, trainSize: 128, testSize: 64, labelledEa: 1 });
    const result = await trainAndEvaluate(data, ['ea'], 'ew', { steps: 4, batchSize: 32, learningRate: 0.01, encoder: [8], head: [], seed: 3 });
    const score = result.scores.ea!;
    // finalLoss is the standardised MSE over the (fully labelled) test split, so RMSE = σ·√MSE.
    expect(score.rmse).toBeCloseTo(data.stats.targets.ea.std * Math.sqrt(score.finalLoss), 3);
    expect(score.mae).toBeLessThanOrEqual(score.rmse + 1e-9);
  });
});

describe('helpers', () => {
  it('cosine learning rate goes from lr to lr/20', () => {
    expect(cosineRate(0.02, 0, 100)).toBeCloseTo(0.02, 12);
    expect(cosineRate(0.02, 50, 100)).toBeCloseTo((0.02 + 0.001) / 2, 12);
    expect(cosineRate(0.02, 100, 100)).toBeCloseTo(0.001, 12);
    expect(cosineRate(0.02, 25, 100)).toBeGreaterThan(cosineRate(0.02, 26, 100));
  });

  it('spread gives the mean and the sample standard deviation', () => {
    expect(spread([1, 2, 3, 6])).toEqual({ mean: 3, std: Math.sqrt(14 / 3) });
    expect(spread([4])).toEqual({ mean: 4, std: 0 });
  });
});
