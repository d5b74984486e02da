import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { createRegistry, fromArrays, isMtlError, Rng, Trainer, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, lossStepInfoFor, thrownBy, trainerSmokeCheck, withTinyModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { uncertainty, type UncertaintyState } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const close = (actual: number, expected: number, digits = 5) => expect(actual).toBeCloseTo(expected, digits);

let variableCount = 0;

/** Calls combine as the engine does (inside a tape) and returns the loss, weights and gradients. */
function differentiate(
  losses: number[],
  logVariance: number[],
  state: UncertaintyState,
  activeIndices: number[] = losses.map((_, i) => i),
) {
  const lossVariable = tf.variable(tf.tensor1d(losses), true, `test/losses${++variableCount}`);
  const s = tf.variable(tf.tensor1d(logVariance), true, `test/logVariance${variableCount}`);
  const info = lossStepInfoFor(logVariance.length, { active: activeIndices, params: { logVariance: s } });
  let weights: number[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const result = uncertainty().combine(lossVariable, state, info);
    weights = Array.from((result.weights as Tensor1D).dataSync());
    return result.loss;
  }, [lossVariable, s]);
  const out = {
    loss: value.dataSync()[0]!,
    weights,
    dLoss: Array.from(grads[lossVariable.name]!.dataSync()),
    dS: Array.from(grads[s.name]!.dataSync()),
  };
  tf.dispose([value, ...Object.values(grads), lossVariable, s]);
  return out;
}

describe('uncertainty weighting: closed forms (Kendall et al. 2018)', () => {
  const L = [0.8, 2.5, 0.3];
  const S = [0, -1.2, 0.7];

  it('regression form: loss Σ (e^{−s}L + s)/2, ∂/∂L = e^{−s}/2, ∂/∂s = (1 − e^{−s}L)/2', () => {
    const r = differentiate(L, S, { forms: ['regression', 'regression', 'regression'] });
    // Worked out: e^{-0} = 1, e^{1.2} = 3.3201169, e^{-0.7} = 0.4965853.
    const precision = [1, 3.3201169227365472, 0.4965853037914095];
    const expectedLoss = [0, 1, 2].reduce((sum, t) => sum + (precision[t]! * L[t]! + S[t]!) / 2, 0);
    close(r.loss, expectedLoss);
    // 0.5·0.8 + 0 + 0.5·3.3201169·2.5 − 0.6 + 0.5·0.4965853·0.3 + 0.35 = 4.374632…
    close(r.loss, 4.374632, 4);
    [0, 1, 2].forEach((t) => {
      close(r.dLoss[t]!, precision[t]! / 2);
      close(r.dS[t]!, (1 - precision[t]! * L[t]!) / 2);
      close(r.weights[t]!, precision[t]! / 2);
    });
  });

  it('classification form: loss Σ e^{−s}L + s/2, ∂/∂L = e^{−s}, ∂/∂s = 1/2 − e^{−s}L', () => {
    const r = differentiate(L, S, { forms: ['classification', 'classification', 'classification'] });
    const precision = [1, 3.3201169227365472, 0.4965853037914095];
    close(r.loss, [0, 1, 2].reduce((sum, t) => sum + precision[t]! * L[t]! + S[t]! / 2, 0));
    [0, 1, 2].forEach((t) => {
      close(r.dLoss[t]!, precision[t]!);
      close(r.dS[t]!, 0.5 - precision[t]! * L[t]!);
      close(r.weights[t]!, precision[t]!);
    });
  });

  it('mixed forms, and an inactive task: its s gets exactly zero gradient and stays out of the loss', () => {
    // Tasks 0 and 2 active (losses 0.8 and 0.3), task 1 inactive.
    const r = differentiate([0.8, 0.3], S, { forms: ['regression', 'regression', 'classification'] }, [0, 2]);
    const p0 = 1;
    const p2 = 0.4965853037914095;
    close(r.loss, (p0 * 0.8 + 0) / 2 + (p2 * 0.3 + 0.7 / 2));
    close(r.dS[0]!, (1 - p0 * 0.8) / 2);
    expect(r.dS[1]).toBe(0);
    close(r.dS[2]!, 0.5 - p2 * 0.3);
    close(r.dLoss[0]!, p0 / 2);
    close(r.dLoss[1]!, p2);
    expect(r.weights).toHaveLength(2);
  });

  it('the optimum of s_t is log L_t (regression form) and log 2L_t (classification form)', () => {
    const L2 = [0.5, 4];
    const regression = differentiate(L2, L2.map(Math.log), { forms: ['regression', 'regression'] });
    regression.dS.forEach((g) => close(g, 0));
    const classification = differentiate(L2, L2.map((l) => Math.log(2 * l)), { forms: ['classification', 'classification'] });
    classification.dS.forEach((g) => close(g, 0));
  });
});

describe('uncertainty weighting: options and parameters', () => {
  it('declares one log-variance per task, from initialLogVariance', () => {
    const context = { taskNames: ['a', 'b', 'c'], seed: 0 };
    expect(uncertainty().parameters!(context)).toEqual({ logVariance: [0, 0, 0] });
    expect(uncertainty({ initialLogVariance: -0.5 }).parameters!(context)).toEqual({ logVariance: [-0.5, -0.5, -0.5] });
    expect(uncertainty({ initialLogVariance: [1, 2, 3] }).parameters!(context)).toEqual({ logVariance: [1, 2, 3] });
    expect(() => uncertainty({ initialLogVariance: [1, 2] }).parameters!(context)).toThrow(/initialLogVariance' has 2 values for 3 tasks/);
    expect(() => uncertainty({ initialLogVariance: Number.NaN })).toThrow(/initialLogVariance/);
    expect(() => uncertainty({ form: 'gaussian' as never })).toThrow(/option 'form' must be one of regression, classification, by-task/);
  });

  it("'by-task' reads the kinds from context.tasks and refuses a context without them", () => {
    const tasks: TaskSpec[] = [
      { name: 'r', kind: 'regression', units: 1 },
      { name: 'c', kind: 'multiclass', units: 3 },
      { name: 'b', kind: 'binary', units: 1 },
    ];
    expect(uncertainty({ form: 'by-task' }).init({ taskNames: ['r', 'c', 'b'], tasks, seed: 0 })).toEqual({
      forms: ['regression', 'classification', 'classification'],
    });
    expect(() => uncertainty({ form: 'by-task' }).init({ taskNames: ['r', 'c', 'b'], seed: 0 })).toThrow(/needs the task kinds/);
    expect(uncertainty({ form: 'classification' }).init({ taskNames: ['r', 'c'], seed: 0 })).toEqual({ forms: ['classification', 'classification'] });
  });
});

describe('uncertainty weighting: conformance and training', () => {
  it('passes checkWeighting with the properties it has', async () => {
    // Permutation: the log-variances are per task and start equal, so permuting tasks permutes
    // everything. Scale: the weights a_t e^{−s_t} depend on s only, not on the current losses.
    const report = await checkWeighting(uncertainty(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.checks.length).toBeGreaterThan(5);
    await checkWeighting(uncertainty({ form: 'classification', initialLogVariance: -0.5 }), {
      properties: { permutationInvariant: true, scaleInvariantWeights: true },
    });
    // 'by-task' reads the kinds from context.tasks
    await checkWeighting(uncertainty({ form: 'by-task' }), { taskKind: 'binary', properties: { permutationInvariant: true } });
  });

  it('trains in the engine without leaking (trainerSmokeCheck), in every form', async () => {
    await trainerSmokeCheck(hardSharing(), uncertainty());
    await trainerSmokeCheck(hardSharing(), uncertainty({ form: 'by-task' }));
  });

  it('is no worse than 1.1× equal weighting on synthetic tasks', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: uncertainty(),
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('uncertainty vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  });

  it('learns σ_t² in the order of the tasks’ noise variances (0.01, 0.1, 1)', async () => {
    // y_t = w_tᵀx + ε_t, Var(ε_t) = 0.01, 0.1, 1. A linear model fits w_t exactly, so each
    // task's training MSE tends to Var(ε_t), and the optimum e^{s_t} = L_t recovers it.
    const rng = Rng.fromSeed(7);
    const noiseVariance = [0.01, 0.1, 1];
    const inputDim = 4;
    const teachers = noiseVariance.map(() => Array.from({ length: inputDim }, () => rng.normal()));
    const inputs = Array.from({ length: 2000 }, () => Array.from({ length: inputDim }, () => rng.normal()));
    const targets = Object.fromEntries(
      noiseVariance.map((variance, t) => [
        `noise${variance}`,
        inputs.map((x) => x.reduce((sum, v, i) => sum + v * teachers[t]![i]!, 0) + Math.sqrt(variance) * rng.normal()),
      ]),
    );
    const tasks: TaskSpec[] = noiseVariance.map((variance) => ({ name: `noise${variance}`, kind: 'regression', units: 1 }));
    const model = hardSharing().build({ tasks, inputShape: [inputDim], encoder: { type: 'mlp', units: [8], activation: 'linear' } }, { seed: 3 });
    const trainer = new Trainer({ model, weighting: uncertainty(), optimizer: { name: 'adam', learningRate: 0.05 }, seed: 3 });
    try {
      await trainer.fit(fromArrays({ inputs, targets }, { batchSize: 100 }), { epochs: 15 });
      const learned = Array.from(trainer.weightingParameters().logVariance!).map(Math.exp);
      console.log('true noise variances', noiseVariance, 'learned σ² = e^s', learned.map((v) => Number(v.toPrecision(3))));
      expect(learned[0]!).toBeLessThan(learned[1]!);
      expect(learned[1]!).toBeLessThan(learned[2]!);
      // And each within a factor 3 of the truth (seeds 1–6 gave ratios between 0.97 and 1.71).
      learned.forEach((v, t) => {
        expect(v / noiseVariance[t]!).toBeGreaterThan(1 / 3);
        expect(v / noiseVariance[t]!).toBeLessThan(3);
      });
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('leaves an inactive task’s s_t unchanged (SGD step), and moves the active ones', () => {
    const tasks: TaskSpec[] = [
      { name: 'a', kind: 'regression', units: 1 },
      { name: 'b', kind: 'regression', units: 1 },
    ];
    const model = hardSharing().build({ tasks, inputShape: [3], encoder: { type: 'mlp', units: [4] } }, { seed: 1 });
    const trainer = new Trainer({ model, weighting: uncertainty({ initialLogVariance: [0.3, -0.4] }), optimizer: { name: 'sgd', learningRate: 0.1 } });
    const batch = {
      inputs: tf.tensor2d([1, 2, 3, -1, 0, 2], [2, 3]),
      targets: { a: tf.tensor1d([5, -5]) },
      masks: { b: tf.zeros([2]) },
    };
    try {
      const report = trainer.step(batch);
      expect(report.active).toEqual({ a: true, b: false });
      const [sa, sb] = Array.from(trainer.weightingParameters().logVariance!);
      expect(sb).toBe(Math.fround(-0.4));
      expect(sa).not.toBeCloseTo(0.3, 6);
      // The reported weight of the active task is e^{−0.3}/2 (regression form).
      close(report.weights.a!, Math.exp(-0.3) / 2);
      expect(report.weights.b).toBe(0);
    } finally {
      tf.dispose([batch.inputs, batch.targets.a, batch.masks.b]);
      trainer.dispose();
      model.dispose();
    }
  });

  it('is configured by name through a registry; a misspelt option is named in the error', () => {
    const registry = createRegistry();
    registry.register(uncertainty());
    withTinyModel(hardSharing(), (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'uncertainty', registry });
      const report = trainer.step(batch);
      close(report.weights.a!, 0.5, 6);
      trainer.dispose();
      const byTask = new Trainer({ model, weighting: { name: 'uncertainty', options: { form: 'by-task' } }, registry });
      // a is regression (weight e^{0}/2), b binary (classification form, weight e^{0}).
      const second = byTask.step(batch);
      close(second.weights.a!, 0.5, 6);
      close(second.weights.b!, 1, 6);
      byTask.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'uncertainty', options: { intialLogVariance: 1 } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/'intialLogVariance'/);
    });
  });
});
