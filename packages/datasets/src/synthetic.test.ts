import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, isMtlError } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticTasks } from './synthetic';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('syntheticTasks (Ma et al. 2018)', () => {
  it('the task weight vectors have norm c and pairwise cosine p', () => {
    for (const [tasks, correlation] of [[2, 0.5], [4, 0.9], [3, 0]] as const) {
      const data = syntheticTasks({ tasks, correlation, scale: 2, inputDim: 20, trainSize: 10, validationSize: 10, seed: 1 });
      for (let s = 0; s < tasks; s++) {
        expect(Math.hypot(...data.weightVectors[s]!)).toBeCloseTo(2, 10);
        for (let t = 0; t < tasks; t++) expect(data.cosine[s]![t]).toBeCloseTo(s === t ? 1 : correlation, 10);
      }
    }
  });

  it('labels follow the generating formula, and the labels correlate more when p is higher', () => {
    const corr = (a: Float32Array, b: Float32Array) => {
      const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
      const [ma, mb] = [mean(a), mean(b)];
      let sab = 0, saa = 0, sbb = 0;
      for (let i = 0; i < a.length; i++) {
        sab += (a[i]! - ma) * (b[i]! - mb);
        saa += (a[i]! - ma) ** 2;
        sbb += (b[i]! - mb) ** 2;
      }
      return sab / Math.sqrt(saa * sbb);
    };
    const sample = (p: number) => {
      const data = syntheticTasks({ correlation: p, trainSize: 4000, validationSize: 10, seed: 5, sinusoids: 0, noise: 0 });
      return corr(data.arrays.train.targets.task1!, data.arrays.train.targets.task2!);
    };
    // with no sinusoids and no noise, y_t = w_tᵀx, whose Pearson correlation is exactly cos(w_1, w_2) = p in expectation
    expect(sample(0.8)).toBeCloseTo(0.8, 1);
    expect(sample(0.2)).toBeCloseTo(0.2, 1);
  });

  it('is fixed by its seed; regression targets are standardised on the training split', () => {
    const a = syntheticTasks({ trainSize: 500, validationSize: 50, seed: 3 });
    const b = syntheticTasks({ trainSize: 500, validationSize: 50, seed: 3 });
    const c = syntheticTasks({ trainSize: 500, validationSize: 50, seed: 4 });
    expect(Array.from(a.arrays.train.targets.task1!)).toEqual(Array.from(b.arrays.train.targets.task1!));
    expect(Array.from(a.arrays.train.targets.task1!)).not.toEqual(Array.from(c.arrays.train.targets.task1!));
    const y = a.arrays.train.targets.task2!;
    const mean = y.reduce((s, v) => s + v, 0) / y.length;
    const variance = y.reduce((s, v) => s + (v - mean) ** 2, 0) / y.length;
    expect(Math.abs(mean)).toBeLessThan(1e-5);
    expect(variance).toBeCloseTo(1, 4);
  });

  it("binary kind thresholds at each task's training median", () => {
    const data = syntheticTasks({ kind: 'binary', trainSize: 1001, validationSize: 10, seed: 2 });
    const ones = data.arrays.train.targets.task1!.reduce((s, v) => s + v, 0);
    expect(ones).toBe(500);
    expect(data.tasks[0]).toEqual({ name: 'task1', kind: 'binary', units: 1 });
  });

  it('bad options are one BAD_CONFIG error listing every problem', () => {
    try {
      syntheticTasks({ tasks: 0, correlation: 2 });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/tasks must be a positive integer.*correlation must be in \[0, 1\]/);
    }
  });

  it('hard sharing + EW (seeded) lowers every task’s validation loss to at most half its initial value', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 4000, validationSize: 1000, seed: 42, batchSize: 128 });
    const model = hardSharing().build(
      { tasks: data.tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [64, 32] }, head: { type: 'mlp', units: [16] } },
      { seed: 42 },
    );
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 3e-3 }, seed: 42 });
    const initial = await trainer.evaluate(data.validation);
    await trainer.fit(data.train, { epochs: 6 });
    const final = await trainer.evaluate(data.validation);
    for (const task of ['task1', 'task2']) {
      expect(final.tasks[task]!.loss).toBeLessThanOrEqual(initial.tasks[task]!.loss / 2);
    }
    trainer.dispose();
    model.dispose();
  });
});
