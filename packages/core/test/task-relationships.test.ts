import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { cosineFromGramian, deltaM, isMtlError, metricDirection, Trainer, type Batch } from '../src/index';
import { fixedBatch, fixedGramian, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('task Gramian in step reports and probes', () => {
  it("a gramian weighting's step reports G; a probe on the same batch before the step gives the same G; the probe changes nothing and leaks nothing", async () => {
    for (const site of ['shared', 'features'] as const) {
      const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 2 }), weighting: fixedGramian([1, 1, 1]), site, seed: 1 });
      const batch: Batch = fixedBatch(16, 11);
      const weights = trainer.model.getWeights();
      const before = tf.memory().numTensors;
      const probe = await trainer.probeGramian(batch, site);
      expect(tf.memory().numTensors).toBe(before);
      const after = trainer.model.getWeights();
      for (const key of Object.keys(weights)) expect(after[key]!.dataSync()).toEqual(weights[key]!.dataSync());
      expect(trainer.stepCount).toBe(0);
      const report = await trainer.stepAsync(batch);
      expect(report.gramian?.tasks).toEqual(['reg', 'cls', 'bin']);
      expect(probe.tasks).toEqual(report.gramian!.tasks);
      probe.values.forEach((row, i) => row.forEach((g, j) => expect(g).toBeCloseTo(report.gramian!.values[i]![j]!, 5)));
      // G is symmetric positive semi-definite: diagonal ≥ 0, |G_ij| ≤ √(G_ii G_jj).
      const G = probe.values;
      G.forEach((row, i) => row.forEach((g, j) => {
        expect(g).toBeCloseTo(G[j]![i]!, 5);
        expect(Math.abs(g)).toBeLessThanOrEqual(Math.sqrt(G[i]![i]! * G[j]![j]!) * (1 + 1e-5));
      }));
      [weights, after].forEach((m) => Object.values(m).forEach((t) => t.dispose()));
      Object.values(batch.targets).forEach((t) => t?.dispose());
      (batch.inputs as tf.Tensor).dispose();
      trainer.dispose();
    }
  });

  it('the probe at features equals a Gramian built by hand from tf.grad of each task loss with respect to the features', async () => {
    const model = tinyModel(TASKS.slice(0, 2), { seed: 8 });
    const trainer = new Trainer({ model, seed: 1 });
    const batch = fixedBatch(10, 3);
    delete (batch.targets as Record<string, tf.Tensor>)['bin'];
    const probe = await trainer.probeGramian(batch);
    const features = model.encode(batch.inputs, { training: true }) as tf.Tensor;
    const reg = tf.grad((f: tf.Tensor) => tf.mean(tf.sum(tf.square(tf.sub(model.decode(f, batch.inputs, { training: true }, ['reg'])['reg']!, batch.targets['reg']!)), 1)))(features);
    const cls = tf.grad((f: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(tf.oneHot(batch.targets['cls'] as tf.Tensor1D, 3), model.decode(f, batch.inputs, { training: true }, ['cls'])['cls']!),
    )(features);
    const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)).dataSync()[0]!;
    // regression loss: mean over examples of the per-example squared error summed over units (core's MSE convention is checked in losses.test.ts)
    const expected = [
      [dot(reg, reg), dot(reg, cls)],
      [dot(cls, reg), dot(cls, cls)],
    ];
    const scale = probe.values[0]![0]! / expected[0]![0]!;
    // core's MSE averages over units as well: the reg gradient is 1/units of the hand one, so G scales by 1/4, 1/2, 1
    expect(scale).toBeCloseTo(0.25, 5);
    expect(probe.values[0]![1]! / expected[0]![1]!).toBeCloseTo(0.5, 5);
    expect(probe.values[1]![1]! / expected[1]![1]!).toBeCloseTo(1, 5);
    trainer.dispose();
  });
});

describe('cosineFromGramian', () => {
  it('normalises by the diagonal, gives null for a zero gradient, and clamps rounding to [−1, 1]', () => {
    // g1 = (1, 0), g2 = (1, 1), g3 = 0: G = [[1, 1, 0], [1, 2, 0], [0, 0, 0]]
    const cos = cosineFromGramian([
      [1, 1, 0],
      [1, 2, 0],
      [0, 0, 0],
    ]);
    expect(cos[0]![1]).toBeCloseTo(1 / Math.SQRT2, 12);
    expect(cos[0]![0]).toBe(1);
    expect(cos[2]![2]).toBeNull();
    expect(cos[0]![2]).toBeNull();
    expect(cosineFromGramian([[1, -1.0000001], [-1.0000001, 1]])[0]![1]).toBe(-1);
  });
});

describe('deltaM', () => {
  it('matches Δm% worked by hand', () => {
    // task a: accuracy 0.90 vs baseline 0.80 → +12.5%; task b: rmse 0.45 vs 0.50 → +10%, mae 0.22 vs 0.20 → −10%; mean over b's metrics 0%.
    // Δm = (12.5 + 0) / 2 = 6.25
    const value = deltaM({ a: { accuracy: 0.9 }, b: { rmse: 0.45, mae: 0.22 } }, { a: { accuracy: 0.8 }, b: { rmse: 0.5, mae: 0.2 } });
    expect(value).toBeCloseTo(6.25, 10);
    expect(deltaM({ a: { accuracy: 0.8 } }, { a: { accuracy: 0.8 } })).toBe(0);
    expect(metricDirection('r2')).toBe('higher');
    expect(metricDirection('rmse')).toBe('lower');
  });

  it('BAD_CONFIG naming the task without a baseline, or an unknown metric', () => {
    const error = (() => {
      try {
        deltaM({ a: { accuracy: 0.9 }, b: { accuracy: 0.5 } }, { a: { accuracy: 0.8 } });
      } catch (e) {
        return e;
      }
    })();
    expect(isMtlError(error) && error.code).toBe('BAD_CONFIG');
    expect((error as Error).message).toMatch(/task 'b' has no single-task baseline/);
    expect(() => metricDirection('bleu')).toThrow(/unknown metric 'bleu'/);
  });
});
