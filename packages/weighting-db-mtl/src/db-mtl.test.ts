import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type StepInfo } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, randomJacobian, REFERENCE_JACOBIANS, stepInfoFor, taskNamesFor, thrownBy, trainerSmokeCheck, weighGramian, withTinyModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { dbMtl, type DbMtlOptions, type DbMtlState } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Matrix = number[][];
const norm = (v: readonly number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** The update Σ_t w_t J_t, in float64. */
function update(weights: readonly number[], j: Matrix): number[] {
  return j[0]!.map((_, c) => j.reduce((s, row, t) => s + weights[t]! * row[c]!, 0));
}

/** One weigh call as the engine makes it: G and the losses as tensors, disposed after. */
const weighOnce = (plugin: ReturnType<typeof dbMtl>, g: Matrix, losses: number[], state: DbMtlState, info: StepInfo) => weighGramian(plugin, g, { losses, state, info });

function fresh(j: Matrix, losses: number[], options: DbMtlOptions = {}) {
  const plugin = dbMtl(options);
  const taskNames = taskNamesFor(j.length);
  return weighOnce(plugin, gramianOf(j), losses, plugin.init({ taskNames, seed: 0 }), stepInfoFor(taskNames));
}

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, digits));
};

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

describe('DB-MTL: hand-computed steps (acceptance a)', () => {
  it('J1, losses (2, 0.5), fresh state: w = (2√(38/18), 2)', () => {
    // G = [[18, −22], [−22, 38]]; ‖∇log L‖ = ‖g‖/L = (√18/2, √38/0.5) = (2.1213203, 12.3288280)
    // (ε = 1e-8 is below float32 resolution here). Scale max/n̂ = (5.8118653, 1);
    // w = scale/L = (5.8118653/2, 1/0.5) = (2.9059327, 2).
    const result = fresh(J1, [2, 0.5]);
    expectClose(result.weights, [2 * Math.sqrt(38 / 18), 2]);
    expectClose(result.weights, [2.9059327, 2]);
    expectClose([result.diagnostics!.values!['scale/task0']!, result.diagnostics!.values!['scale/task1']!], [5.8118653, 1]);
    expectClose(result.state.gradientNorms as number[], [Math.sqrt(18) / 2, Math.sqrt(38) / 0.5]);
  });

  it('on J1, J2, J3: every weighted task gradient w_t J_t has the norm max_s ‖J_s‖/L_s (the magnitude balance)', () => {
    const cases: [Matrix, number[]][] = [
      [J1, [2, 0.5]],
      [J2, [1, 4]],
      [J3, [0.5, 1, 2]],
    ];
    for (const [j, losses] of cases) {
      const { weights } = fresh(j, losses);
      // Computed from the rows of J, not from G: the largest log-loss gradient norm.
      const target = Math.max(...j.map((row, t) => norm(row) / losses[t]!));
      j.forEach((row, t) => expect(weights[t]! * norm(row)).toBeCloseTo(target, 4));
      // And each weighted gradient is the log-loss gradient J_t/L_t scaled up, never down or flipped.
      weights.forEach((w, t) => expect(w * losses[t]!).toBeGreaterThanOrEqual(1 - 1e-6));
    }
    // J2 worked by hand: ‖ĝ‖ = (1/1, 1/4) → scales (1, 4) → w = (1/1, 4/4) = (1, 1).
    expectClose(fresh(J2, [1, 4]).weights, [1, 1]);
    // J3 by hand: ‖rows‖ = (√14, √5, √5.25); /L = (7.4833148, 2.2360680, 1.1456439);
    // scales = (1, 3.3466401, 6.5319726); w = scale/L = (2, 3.3466401, 3.2659863).
    expectClose(fresh(J3, [0.5, 1, 2]).weights, [2, 3.3466401, 3.2659863]);
  });

  it('the EMA of the norms: n̂ ← β n̂ + (1 − β)‖ĝ‖, and the scales use the smoothed norms', () => {
    const plugin = dbMtl();
    const taskNames = taskNamesFor(2);
    // Previous norms (3, 10); now ‖ĝ‖ = (2.1213203, 12.3288280) (J1, losses (2, 0.5)), β = 0.9:
    // n̂ = (0.9·3 + 0.1·2.1213203, 0.9·10 + 0.1·12.3288280) = (2.9121320, 10.2328828);
    // scales (10.2328828/2.9121320, 1) = (3.5138838, 1); w = (1.7569419, 2).
    const result = weighOnce(plugin, gramianOf(J1), [2, 0.5], { gradientNorms: [3, 10] }, stepInfoFor(taskNames, { active: [0, 1], step: 5 }));
    expectClose(result.state.gradientNorms as number[], [2.912132, 10.2328828]);
    expectClose(result.weights, [1.7569419, 2]);
    // β = 0: no memory, the fresh-state answer whatever the state says.
    const memoryless = weighOnce(dbMtl({ beta: 0 }), gramianOf(J1), [2, 0.5], { gradientNorms: [3, 10] }, stepInfoFor(taskNames, { active: [0, 1], step: 5 }));
    expectClose(memoryless.weights, [2.9059327, 2]);
    // betaSigma = 0.5 at step 3 (k = 4): β_k = 0.9/√4 = 0.45;
    // n̂ = (0.45·3 + 0.55·2.1213203, 0.45·10 + 0.55·12.3288280) = (2.5167262, 11.2808554).
    const decayed = weighOnce(dbMtl({ betaSigma: 0.5 }), gramianOf(J1), [2, 0.5], { gradientNorms: [3, 10] }, stepInfoFor(taskNames, { active: [0, 1], step: 3 }));
    expectClose(decayed.state.gradientNorms as number[], [2.5167262, 11.2808554]);
    expectClose(decayed.weights, [11.2808554 / 2.5167262 / 2, 2]);
  });

  it('inactive tasks keep their smoothed norm; the maximum runs over the active tasks; a new task starts from its first norm', () => {
    const plugin = dbMtl();
    const taskNames = taskNamesFor(3);
    const state: DbMtlState = { gradientNorms: [3, 100, null] };
    // Active {0, 2} with J1's rows and losses (2, 0.5): task0 n̂ = 2.9121320, task2 n̂ = 12.3288280 (first).
    const result = weighOnce(plugin, gramianOf(J1), [2, 0.5], state, stepInfoFor(taskNames, { active: [0, 2], step: 1 }));
    expectClose(result.state.gradientNorms as number[], [2.912132, 100, 12.328828]);
    expectClose(result.weights, [12.328828 / 2.912132 / 2, 1 / 0.5]);
    expect(state.gradientNorms).toEqual([3, 100, null]); // not mutated
  });

  it('scale: multiplying a task’s loss by k leaves its weighted gradient (the log transform removes the scale)', () => {
    // Task 1 of J3 scaled by k: its row k·J_1 and its loss k·L_1; the weight becomes w_1/k, so
    // w_1 · (k J_1) and the whole update are unchanged. Repeated over two steps (the EMA too).
    const plugin = dbMtl();
    const taskNames = taskNamesFor(3);
    for (const k of [1e-3, 7, 1e4]) {
      const scaledJ = J3.map((row, t) => (t === 1 ? row.map((v) => v * k) : row));
      let plain = plugin.init({ taskNames, seed: 0 });
      let scaled = plugin.init({ taskNames, seed: 0 });
      for (const [step, losses] of [
        [0, [0.5, 1, 2]],
        [1, [0.4, 0.9, 1.5]],
      ] as const) {
        const a = weighOnce(plugin, gramianOf(J3), [...losses], plain, stepInfoFor(taskNames, { active: [0, 1, 2], step }));
        const b = weighOnce(plugin, gramianOf(scaledJ), losses.map((l, t) => (t === 1 ? l * k : l)), scaled, stepInfoFor(taskNames, { active: [0, 1, 2], step }));
        const ua = update(a.weights, J3);
        const ub = update(b.weights, scaledJ);
        ua.forEach((v, i) => expect(Math.abs(ub[i]! - v)).toBeLessThan(1e-4 * norm(ua)));
        expect(b.weights[1]! * k).toBeCloseTo(a.weights[1]!, 4);
        plain = a.state;
        scaled = b.state;
      }
    }
  });

  it('a loss at or below −ε raises NON_FINITE_LOSS naming the task', () => {
    const error = thrownBy(() => fresh(J1, [1, -0.5]));
    expect(isMtlError(error, 'NON_FINITE_LOSS')).toBe(true);
    expect((error as Error).message).toMatch(/task 'task1'/);
  });
});

describe('DB-MTL: 1000 random Jacobians (acceptance b)', () => {
  it('finite weights, zero J → zero update, magnitude balance, permutation and scale invariance', () => {
    const rng = Rng.fromSeed(2024);
    const plugin = dbMtl();
    for (let trial = 0; trial < 1000; trial++) {
      const j = randomJacobian(rng, trial);
      const count = j.length;
      const zero = trial % 50 === 0; // randomJacobian's all-zero trials
      const losses = j.map(() => 10 ** rng.uniform(-3, 3));
      const taskNames = taskNamesFor(count);
      const all = taskNames.map((_, i) => i);
      const state = plugin.init({ taskNames, seed: 0 });
      const result = weighOnce(plugin, gramianOf(j), losses, state, stepInfoFor(taskNames, { active: all }));
      expect(result.weights).toHaveLength(count);
      result.weights.forEach((w) => expect(Number.isFinite(w) && w > 0).toBe(true));
      (result.state.gradientNorms as number[]).forEach((n) => expect(Number.isFinite(n) && n >= 0).toBe(true));
      const u = update(result.weights, j);
      if (zero) {
        u.forEach((v) => expect(v).toBe(0));
        continue;
      }
      // Magnitude balance: ‖w_t J_t‖ = max_s ‖J_s‖/L_s for every task with a non-zero row
      // (G goes through float32, so to ~1e-5 relative).
      const target = Math.max(...j.map((row, t) => norm(row) / losses[t]!));
      j.forEach((row, t) => {
        if (norm(row) > 0) expect(Math.abs(result.weights[t]! * norm(row) - target)).toBeLessThan(1e-4 * target);
      });
      // Permutation: permuting the tasks (rows and losses) permutes the weights.
      const permutation = rng.permutation(count);
      const permuted = weighOnce(
        plugin,
        gramianOf(permutation.map((i) => j[i]!)),
        permutation.map((i) => losses[i]!),
        plugin.init({ taskNames, seed: 0 }),
        stepInfoFor(taskNames, { active: all }),
      );
      permuted.weights.forEach((w, k) => expect(Math.abs(w - result.weights[permutation[k]!]!)).toBeLessThan(1e-4 * result.weights[permutation[k]!]!));
      // Scale of J: J → cJ (G → c²G) leaves the weights (the losses are given).
      const c = 10 ** rng.uniform(-2, 2);
      const rescaled = weighOnce(plugin, gramianOf(j.map((row) => row.map((v) => v * c))), losses, plugin.init({ taskNames, seed: 0 }), stepInfoFor(taskNames, { active: all }));
      rescaled.weights.forEach((w, k) => expect(Math.abs(w - result.weights[k]!)).toBeLessThan(1e-4 * result.weights[k]!));
    }
  });
});

describe('DB-MTL: conformance, training and configuration (acceptance c, d)', () => {
  it('passes checkWeighting with the properties it has', async () => {
    // Not claimed: nonConflicting (the rescaled sum can conflict with a task, as EW can).
    const report = await checkWeighting(dbMtl(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.sites).toEqual(['shared', 'features']);
  });

  it('trains in the engine at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), dbMtl());
    expect(report.runs.map((r) => r.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry; a misspelt option is named in the error', () => {
    const registry = createRegistry();
    registry.register(dbMtl());
    withTinyModel(hardSharing(), (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'db-mtl', registry });
      const report = trainer.step(batch);
      // One task has the largest scale, 1; the weights are scale/L.
      const scales = ['a', 'b'].map((t) => report.diagnostics!.values![`scale/${t}`]!);
      expect(Math.min(...scales)).toBeCloseTo(1, 6);
      expect(report.weights.a).toBeCloseTo(scales[0]! / report.losses.a!, 4);
      trainer.dispose();
      const configured = new Trainer({ model, weighting: { name: 'db-mtl', options: { beta: 0.5 } }, site: 'features', registry });
      expect(Number.isFinite(configured.step(batch).loss)).toBe(true);
      configured.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'db-mtl', options: { betta: 1 } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/'betta'/);
    });
  });

  it('refuses bad option values, naming the option', () => {
    expect(() => dbMtl({ beta: 1 })).toThrow(/'beta'/);
    expect(() => dbMtl({ beta: -0.1 })).toThrow(/'beta'/);
    expect(() => dbMtl({ betaSigma: -1 })).toThrow(/'betaSigma'/);
    expect(() => dbMtl({ epsilon: Number.NaN })).toThrow(/'epsilon'/);
  });

  it('benchmark against equal weighting on synthetic tasks (default site)', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: dbMtl(),
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('DB-MTL vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  });
});
