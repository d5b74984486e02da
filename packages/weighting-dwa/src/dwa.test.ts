import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, fromArrays, isMtlError, Rng, Trainer, type EpochReport, type StepReport, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, lossStepInfoFor, taskNamesFor, thrownBy, trainerSmokeCheck, withTinyModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { dwa, type DwaOptions, type DwaState } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Call {
  epoch: number;
  /** Losses of the active tasks, in order. */
  losses: number[];
  /** Active task indices (default: all). */
  active?: number[];
}

/** Feeds combine a sequence of calls as the engine would; returns each call's weights and loss. */
function feed(taskCount: number, calls: Call[], options: DwaOptions = {}, start?: DwaState) {
  const plugin = dwa(options);
  const taskNames = taskNamesFor(taskCount);
  let state = start ?? plugin.init({ taskNames, seed: 0 });
  const results = calls.map((call, step) => {
    return tf.tidy(() => {
      const result = plugin.combine(tf.tensor1d(call.losses), state, lossStepInfoFor(taskNames, { active: call.active, step, epoch: call.epoch }));
      state = result.state;
      return { weights: [...(result.weights as number[])], loss: result.loss.dataSync()[0]! };
    });
  });
  return { results, state };
}

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 10) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, digits));
};

describe('DWA: hand-computed weights (Liu et al. 2019, eq. 7)', () => {
  it('epoch 0 losses [2, 4], epoch 1 losses [1, 3] → r = [0.5, 0.75] → w = 2·softmax(r/2)', () => {
    const { results } = feed(2, [
      { epoch: 0, losses: [2, 4] },
      { epoch: 1, losses: [1, 3] },
      { epoch: 2, losses: [0.5, 2] },
    ]);
    // r = [1/2, 3/4]; r/τ = [0.25, 0.375]; w_t = 2·e^{r_t/τ} / (e^{0.25} + e^{0.375}).
    const denominator = Math.exp(0.25) + Math.exp(0.375);
    const expected = [(2 * Math.exp(0.25)) / denominator, (2 * Math.exp(0.375)) / denominator];
    // = [2/(1 + e^{0.125}), 2/(1 + e^{−0.125})] ≈ [2/2.133148, 2/1.882497] ≈ [0.937581, 1.062419]
    expectClose(results[2]!.weights, expected);
    expectClose(results[2]!.weights, [0.937581, 1.062419], 5);
    // Objective Σ_t w_t L_t on the epoch-2 losses [0.5, 2].
    expect(results[2]!.loss).toBeCloseTo(expected[0]! * 0.5 + expected[1]! * 2, 5);
  });

  it('gives weight 1 to every task (EW) during epochs 0 and 1', () => {
    const { results } = feed(3, [
      { epoch: 0, losses: [2, 4, 1] },
      { epoch: 0, losses: [5, 1, 1] },
      { epoch: 1, losses: [1, 3, 9] },
      { epoch: 1, losses: [0.1, 3, 2] },
    ]);
    results.forEach((r) => expectClose(r.weights, [1, 1, 1]));
    expect(results[0]!.loss).toBeCloseTo(7, 5);
  });

  it('averages each task’s losses over all the steps of an epoch', () => {
    // Epoch means: epoch 0 [(2+4)/2, (4+8)/2] = [3, 6]; epoch 1 [(3+0)/2, (6+6)/2] = [1.5, 6].
    // r = [1.5/3, 6/6] = [0.5, 1]; w = 2·softmax([0.25, 0.5]).
    const { results } = feed(2, [
      { epoch: 0, losses: [2, 4] },
      { epoch: 0, losses: [4, 8] },
      { epoch: 1, losses: [3, 6] },
      { epoch: 1, losses: [0, 6] },
      { epoch: 2, losses: [1, 1] },
      { epoch: 2, losses: [7, 7] },
    ]);
    const denominator = Math.exp(0.25) + Math.exp(0.5);
    const expected = [(2 * Math.exp(0.25)) / denominator, (2 * Math.exp(0.5)) / denominator];
    // The weights stay fixed through the epoch: they depend on epochs 0 and 1 only.
    expectClose(results[4]!.weights, expected);
    expectClose(results[5]!.weights, expected);
    // Epoch 3 uses epochs 1 and 2: means [1.5, 6] and [4, 4] → r = [8/3, 2/3].
    const { results: later } = feed(2, [
      { epoch: 0, losses: [2, 4] },
      { epoch: 1, losses: [3, 6] },
      { epoch: 1, losses: [0, 6] },
      { epoch: 2, losses: [1, 1] },
      { epoch: 2, losses: [7, 7] },
      { epoch: 3, losses: [1, 1] },
    ]);
    const a = Math.exp(8 / 3 / 2);
    const b = Math.exp(2 / 3 / 2);
    expectClose(later[5]!.weights, [(2 * a) / (a + b), (2 * b) / (a + b)]);
  });

  it('softmax over the active tasks only, K = their count; a task absent from an epoch has r = 1', () => {
    // Three tasks. Epoch 0: all active, [1, 2, 4]. Epoch 1: task 1 inactive, [0.5, −, 3].
    // At epoch 2: r = [0.5, 1 (no epoch-1 mean), 0.75].
    const history: Call[] = [
      { epoch: 0, losses: [1, 2, 4] },
      { epoch: 1, losses: [0.5, 3], active: [0, 2] },
    ];
    const { results } = feed(3, [...history, { epoch: 2, losses: [1, 1], active: [0, 2] }, { epoch: 2, losses: [1, 1, 1] }]);
    // Active {0, 2}: w = 2·softmax([0.25, 0.375]), summing to 2.
    const d2 = Math.exp(0.25) + Math.exp(0.375);
    expectClose(results[2]!.weights, [(2 * Math.exp(0.25)) / d2, (2 * Math.exp(0.375)) / d2]);
    // All active: w = 3·softmax([0.25, 0.5, 0.375]), summing to 3.
    const d3 = Math.exp(0.25) + Math.exp(0.5) + Math.exp(0.375);
    expectClose(results[3]!.weights, [(3 * Math.exp(0.25)) / d3, (3 * Math.exp(0.5)) / d3, (3 * Math.exp(0.375)) / d3]);
    expect(results[3]!.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(3, 12);
  });

  it('an epoch with no calls leaves no descent rate: weights 1 after a skipped epoch', () => {
    const { results } = feed(2, [
      { epoch: 0, losses: [2, 4] },
      { epoch: 2, losses: [1, 3] },
      { epoch: 3, losses: [1, 3] },
    ]);
    expectClose(results[1]!.weights, [1, 1]); // needs epochs 1 and 0; epoch 1 is missing
    expectClose(results[2]!.weights, [1, 1]); // needs epochs 2 and 1; epoch 1 is missing
  });

  it('temperature: large τ flattens the weights towards 1, small τ concentrates them', () => {
    const history: Call[] = [
      { epoch: 0, losses: [2, 4] },
      { epoch: 1, losses: [1, 3] },
      { epoch: 2, losses: [1, 1] },
    ];
    const flat = feed(2, history, { temperature: 100 }).results[2]!.weights;
    // r/τ = [0.005, 0.0075]: w_0 = 2/(1 + e^{0.0025}) ≈ 0.99875.
    expectClose(flat, [2 / (1 + Math.exp(0.0025)), 2 / (1 + Math.exp(-0.0025))]);
    const sharp = feed(2, history, { temperature: 0.01 }).results[2]!.weights;
    // r/τ = [50, 75]: w_0 = 2/(1 + e^{25}) ≈ 2.8e-11, w_1 ≈ 2.
    expectClose(sharp, [2 / (1 + Math.exp(25)), 2 / (1 + Math.exp(-25))]);
    const defaultSpread = Math.abs(feed(2, history).results[2]!.weights[1]! - 1);
    expect(Math.abs(flat[1]! - 1)).toBeLessThan(defaultSpread);
    expect(Math.abs(sharp[1]! - 1)).toBeGreaterThan(defaultSpread);
  });

  it('is deterministic, keeps a JSON state and does not mutate the state it is given', () => {
    const calls: Call[] = [
      { epoch: 0, losses: [2, 4, 3] },
      { epoch: 1, losses: [1, 3, 2.5] },
      { epoch: 2, losses: [1, 2], active: [0, 1] },
      { epoch: 3, losses: [1, 2, 1] },
    ];
    const first = feed(3, calls);
    const second = feed(3, calls);
    expect(second.results).toEqual(first.results);
    expect(JSON.parse(JSON.stringify(first.state))).toEqual(first.state);
    const snapshot = JSON.stringify(first.state);
    feed(3, [{ epoch: 4, losses: [1, 1, 1] }], {}, first.state);
    expect(JSON.stringify(first.state)).toBe(snapshot);
  });

  it('permuting the tasks of a whole history permutes the weights', () => {
    const calls: Call[] = [
      { epoch: 0, losses: [2, 4, 3] },
      { epoch: 1, losses: [1, 3.5, 2.5] },
      { epoch: 2, losses: [1, 2, 1] },
    ];
    const permutation = [2, 0, 1];
    const permuted = calls.map((call) => ({ ...call, losses: permutation.map((i) => call.losses[i]!) }));
    const original = feed(3, calls).results[2]!.weights;
    const moved = feed(3, permuted).results[2]!.weights;
    expectClose(moved, permutation.map((i) => original[i]!));
  });

  it('refuses a bad temperature and a misspelt option', () => {
    expect(() => dwa({ temperature: 0 })).toThrow(/option 'temperature' must be a finite number > 0/);
    expect(() => dwa({ temperature: Number.POSITIVE_INFINITY })).toThrow(/temperature/);
    expect(() => dwa({ temprature: 2 } as DwaOptions)).toThrow(/'temprature'/);
  });
});

describe('DWA: conformance and training', () => {
  it('passes checkWeighting with the properties it has', async () => {
    // Both hold for DWA: softmax is permutation-equivariant, and the ratios r_t are unchanged when
    // every loss is scaled by c (the current call's losses do not enter its own weights at all).
    const report = await checkWeighting(dwa(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('trains in the engine without leaking (trainerSmokeCheck)', async () => {
    await trainerSmokeCheck(hardSharing(), dwa());
  });

  it('is no worse than 1.1× equal weighting on synthetic tasks', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: dwa(),
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('DWA vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  });

  it('in a Trainer, epoch e’s weights come from the train losses of epochs e−1 and e−2', async () => {
    const rng = Rng.fromSeed(5);
    const inputs = Array.from({ length: 256 }, () => Array.from({ length: 4 }, () => rng.normal()));
    const targets = { a: inputs.map((x) => x[0]! + x[1]!), b: inputs.map((x) => 3 * x[2]! - x[3]! * x[0]!) };
    const tasks: TaskSpec[] = [
      { name: 'a', kind: 'regression', units: 1 },
      { name: 'b', kind: 'regression', units: 1 },
    ];
    const model = hardSharing().build({ tasks, inputShape: [4], encoder: { type: 'mlp', units: [16] } }, { seed: 2 });
    const registry = createRegistry();
    registry.register(dwa());
    const trainer = new Trainer({ model, weighting: 'dwa', registry, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 2 });
    const steps: StepReport[] = [];
    const epochs: EpochReport[] = [];
    try {
      await trainer.fit(fromArrays({ inputs, targets }, { batchSize: 64 }), {
        epochs: 3,
        callbacks: { onStep: (r) => void steps.push(r), onEpochEnd: (r) => void epochs.push(r) },
      });
      // The trainer's epoch train losses are the same per-step means DWA keeps (importance 1).
      const r = ['a', 'b'].map((task) => epochs[1]!.trainLosses[task]! / epochs[0]!.trainLosses[task]!);
      const e = r.map((value) => Math.exp(value / 2));
      const expected = e.map((value) => (2 * value) / (e[0]! + e[1]!));
      const epoch2 = steps.filter((s) => s.epoch === 2);
      expect(epoch2.length).toBe(4);
      for (const step of epoch2) {
        expect(step.weights.a).toBeCloseTo(expected[0]!, 4);
        expect(step.weights.b).toBeCloseTo(expected[1]!, 4);
      }
      steps.filter((s) => s.epoch < 2).forEach((s) => expect(s.weights).toEqual({ a: 1, b: 1 }));
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('is configured by name through a registry; a misspelt option is named in the error', () => {
    const registry = createRegistry();
    registry.register(dwa());
    withTinyModel(hardSharing(), (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'dwa', registry });
      expect(trainer.step(batch).weights).toEqual({ a: 1, b: 1 });
      trainer.dispose();
      const configured = new Trainer({ model, weighting: { name: 'dwa', options: { temperature: 5 } }, registry });
      expect(Number.isFinite(configured.step(batch).loss)).toBe(true);
      configured.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'dwa', options: { temperture: 1 } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/'temperture'/);
    });
  });
});
