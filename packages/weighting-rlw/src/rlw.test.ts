import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, lossStepInfoFor, taskNamesFor, thrownBy, trainerSmokeCheck, withTinyModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { rlw, type RlwOptions, type RlwState } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Calls combine `calls.length` times from init({ seed }), the i-th call with active tasks calls[i]. */
function run(seed: number, taskCount: number, calls: number[][], options: RlwOptions = {}) {
  const plugin = rlw(options);
  const taskNames = taskNamesFor(taskCount);
  let state: RlwState = plugin.init({ taskNames, seed });
  const results = calls.map((active, step) =>
    tf.tidy(() => {
      const losses = active.map((i) => i + 1);
      const result = plugin.combine(tf.tensor1d(losses), state, lossStepInfoFor(taskNames, { active, step }));
      state = result.state;
      return { weights: [...(result.weights as number[])], loss: result.loss.dataSync()[0]!, losses };
    }),
  );
  return { results, state };
}

const all = (count: number, steps: number) => Array.from({ length: steps }, () => Array.from({ length: count }, (_, i) => i));

describe('RLW: hand-computed weights (Lin et al. 2022)', () => {
  it('draws z ~ N(0, I) from Rng.fromSeed(context.seed), one per active task, and weighs by softmax(z)', () => {
    const seed = 1234;
    const calls = [[0, 1, 2], [0, 2], [1], [0, 1, 2]];
    const { results } = run(seed, 3, calls);
    // The same stream, drawn here: |A| normals per step, in the order of the active tasks.
    const stream = Rng.fromSeed(seed);
    calls.forEach((active, k) => {
      const z = active.map(() => stream.normal());
      const e = z.map(Math.exp);
      const sum = e.reduce((s, v) => s + v, 0);
      const expected = e.map((v) => v / sum);
      results[k]!.weights.forEach((w, i) => expect(w).toBeCloseTo(expected[i]!, 12));
      // Objective Σ_t w_t L_t, the losses being 1 + the task index.
      const objective = expected.reduce((s, w, i) => s + w * results[k]!.losses[i]!, 0);
      expect(results[k]!.loss).toBeCloseTo(objective, 5);
      expect(results[k]!.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 12);
    });
    // A single active task always gets weight 1 (softmax of one value).
    expect(results[2]!.weights).toEqual([1]);
  });

  it("scale 'tasks' multiplies by the number of active tasks", () => {
    const calls = [[0, 1, 2], [0, 2]];
    const one = run(9, 3, calls).results;
    const tasks = run(9, 3, calls, { scale: 'tasks' }).results;
    calls.forEach((active, k) => {
      tasks[k]!.weights.forEach((w, i) => expect(w).toBeCloseTo(active.length * one[k]!.weights[i]!, 12));
      expect(tasks[k]!.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(active.length, 12);
    });
  });

  it('the same seed gives the same weights; another seed other weights', () => {
    const a = run(5, 3, all(3, 10)).results.map((r) => r.weights);
    const b = run(5, 3, all(3, 10)).results.map((r) => r.weights);
    const c = run(6, 3, all(3, 10)).results.map((r) => r.weights);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // Consecutive steps differ: the generator state moves on.
    expect(a[1]).not.toEqual(a[0]);
  });

  it('the weights average to 1/T over many steps (each is softmax of i.i.d. normals)', () => {
    const steps = 4000;
    const { results, state } = run(11, 3, all(3, steps));
    const mean = [0, 1, 2].map((t) => results.reduce((s, r) => s + r.weights[t]!, 0) / steps);
    console.log('RLW mean weights over 4000 steps (T = 3):', mean);
    // The weight's std is about 0.2, so the mean of 4000 is within ~0.003 of 1/3.
    mean.forEach((m) => expect(Math.abs(m - 1 / 3)).toBeLessThan(0.015));
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  it('refuses a bad scale and a misspelt option', () => {
    expect(() => rlw({ scale: 'sum' as never })).toThrow(/option 'scale' must be 'one' or 'tasks'/);
    expect(() => rlw({ scael: 'one' } as RlwOptions)).toThrow(/'scael'/);
  });
});

describe('RLW: conformance and training', () => {
  it('passes checkWeighting with the properties it has', async () => {
    // The weights do not depend on the losses at all (scale invariant), and come from the seed.
    const report = await checkWeighting(rlw(), { properties: { scaleInvariantWeights: true, seedDependent: true } });
    expect(report.checks.length).toBeGreaterThan(5);
    await checkWeighting(rlw({ scale: 'tasks' }), { properties: { scaleInvariantWeights: true, seedDependent: true } });
  });

  it('is not permutation invariant: the k-th draw goes to the k-th active task, whatever it is', async () => {
    await expect(checkWeighting(rlw(), { properties: { permutationInvariant: true } })).rejects.toThrow(/permutationInvariant/);
  });

  it('trains in the engine without leaking (trainerSmokeCheck)', async () => {
    await trainerSmokeCheck(hardSharing(), rlw());
  });

  it('is no worse than 1.1× equal weighting on synthetic tasks', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: rlw(),
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('RLW vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  });

  it('is configured by name through a registry, seeded by the trainer; a misspelt option is named in the error', () => {
    const registry = createRegistry();
    registry.register(rlw());
    withTinyModel(hardSharing(), (model, batch) => {
      const firstWeights = (reference: RlwOptions | undefined, seed: number) => {
        const trainer = new Trainer({ model, weighting: reference ? { name: 'rlw', options: reference as Record<string, unknown> } : 'rlw', registry, seed });
        try {
          return trainer.step(batch).weights;
        } finally {
          trainer.dispose();
        }
      };
      const w = firstWeights(undefined, 3);
      expect(w.a! + w.b!).toBeCloseTo(1, 6);
      expect(firstWeights(undefined, 3)).toEqual(w);
      expect(firstWeights(undefined, 4)).not.toEqual(w);
      const scaled = firstWeights({ scale: 'tasks' }, 3);
      expect(scaled.a).toBeCloseTo(2 * w.a!, 6);
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'rlw', options: { scal: 'tasks' } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/'scal'/);
    });
  });
});
