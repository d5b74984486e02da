import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type StepInfo, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, REFERENCE_JACOBIANS, stepInfoFor, taskNamesFor, thrownBy, trainerSmokeCheck, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { nashMtl, nashMtlWeights, type NashMTLOptions, type NashMTLState } from './nash-mtl';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Helpers written for the tests, independent of the plugin: plain vector arithmetic on J.

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, k) => sum + x * b[k]!, 0);
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
const matVec = (matrix: number[][], v: readonly number[]) => matrix.map((row) => dot(row, v));
/** Σ_t w_t g_t. */
const combine = (weights: readonly number[], jacobian: number[][]) =>
  jacobian[0]!.map((_, column) => weights.reduce((sum, w, t) => sum + w * jacobian[t]![column]!, 0));
/** max_t |α_t (Gα)_t − 1|: the relative residual of Gα = 1/α (Navon et al. 2022, Claim 3.1). */
const fixedPointResidual = (gramian: number[][], alpha: readonly number[]) =>
  Math.max(...matVec(gramian, alpha).map((v, t) => Math.abs(alpha[t]! * v - 1)));

/** Calls weigh as the engine does: G (and the losses) as tensors it owns and disposes. */
const weigh = (plugin: ReturnType<typeof nashMtl>, gramian: number[][], state: NashMTLState, info?: StepInfo) => weighGramian(plugin, gramian, { state, info });

const weightsOf = (gramian: number[][], options: NashMTLOptions = { maxNorm: 0 }) => weighGramian(nashMtl(options), gramian);

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 6) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

/** Gaussian rows, more columns than rows, scales from 1e-3 to 1e3: full row rank, 0 not in the hull. */
function fullRankJacobian(rng: Rng): number[][] {
  const count = 2 + rng.int(9);
  const columns = count + 2 + rng.int(6);
  return Array.from({ length: count }, () => {
    const scale = 10 ** rng.uniform(-3, 3);
    return Array.from({ length: columns }, () => rng.normal() * scale);
  });
}

// ---------------------------------------------------------------------------------------------

describe('nash-mtl: hand-computed cases and the fixed point Gα = 1/α', () => {
  it('J2 = I (G = I): α = [1, 1]; G = diag(a, b): α = (1/√a, 1/√b)', () => {
    // Gα = 1/α with G = I: α_t = 1/α_t, α_t > 0 → α_t = 1.
    expectClose(weightsOf(gramianOf(J2)).weights, [1, 1], 8);
    // Diagonal G: a α_1 = 1/α_1 → α_1 = 1/√a.
    expectClose(weightsOf([[4, 0], [0, 0.25]]).weights, [0.5, 2], 8);
    expectClose(weightsOf([[9]]).weights, [1 / 3], 8);
  });

  it('J1 = [[-4,1,1],[6,1,1]]: the closed form of two tasks, and torchjd\'s documented update with maxNorm 1', () => {
    // G = [[18, −22], [−22, 38]]. The equations α_t (Gα)_t = 1:
    //   18α_1² − 22α_1α_2 = 1,   −22α_1α_2 + 38α_2² = 1.
    // Subtracting: 18α_1² = 38α_2², so α_1 = k α_2 with k = √(38/18); then α_2²(38 − 22k) = 1.
    // (For any two tasks α_t ∝ 1/‖g_t‖.)
    const k = Math.sqrt(38 / 18);
    const alpha2 = 1 / Math.sqrt(38 - 22 * k);
    const expected = [k * alpha2, alpha2]; // ≈ [0.59146, 0.40707]
    const { weights } = weightsOf(gramianOf(J1));
    expectClose(weights, expected, 8);
    expect(weights[0]! / weights[1]!).toBeCloseTo(Math.sqrt(38) / Math.sqrt(18), 8);
    // Σ_t α_t g_tᵀd = Σ_t 1 = T, so ‖d‖² = T = 2.
    const update = combine(weights, J1);
    expect(dot(update, update)).toBeCloseTo(2, 8);
    // With maxNorm 1 (the default) d is scaled to norm 1: (0.0542, 0.7061, 0.7061), torchjd's NashMTL example.
    const clipped = weightsOf(gramianOf(J1), {}).weights;
    expectClose(combine(clipped, J1), [0.0542, 0.7061, 0.7061], 4);
    expectClose(clipped, expected.map((a) => a / Math.SQRT2), 7);
  });

  it('G·α = 1/α to 1e-6 relative on J1, J2, J3 and 300 random full-rank cases; ‖d‖² = T; non-conflicting', () => {
    const rng = Rng.fromSeed(31);
    const cases = [J1, J2, J3, ...Array.from({ length: 300 }, () => fullRankJacobian(rng))];
    for (const jacobian of cases) {
      const gramian = gramianOf(jacobian);
      const solution = nashMtlWeights(gramian);
      expect(solution.report.converged).toBe(true);
      expect(solution.weights.every((a) => a > 0)).toBe(true);
      expect(fixedPointResidual(gramian, solution.weights), JSON.stringify(jacobian)).toBeLessThanOrEqual(1e-6);
      const update = combine(solution.weights, jacobian);
      expect(dot(update, update) / jacobian.length).toBeCloseTo(1, 5);
      // (Gα)_t = 1/α_t > 0: every task's gradient has a positive inner product with the update.
      jacobian.forEach((g) => expect(dot(g, update)).toBeGreaterThan(0));
    }
    // Through the plugin, G rounded to float32 by the tensor: the residual of the G it was given.
    const gramian = gramianOf(J3);
    const { weights, diagnostics } = weightsOf(gramian);
    expect(fixedPointResidual(gramian.map((row) => row.map(Math.fround)), weights)).toBeLessThanOrEqual(1e-6);
    expect(diagnostics?.solver?.converged).toBe(true);
    expect(diagnostics?.solver?.residual).toBeLessThanOrEqual(1e-6);
  });

  it('a zero gradient gets weight 0; Pareto-stationary gradients are solved with the ridge, and say so', () => {
    // g_2 = 0 takes no part in d; the other task alone: α_1² ‖g_1‖² = 1.
    const zeroRow = weightsOf(gramianOf([
      [3, 4],
      [0, 0],
    ]));
    expectClose(zeroRow.weights, [0.2, 0], 9);
    expect(zeroRow.diagnostics?.warnings).toBeUndefined();
    // g_2 = −2 g_1: 0 is in the hull and no α > 0 solves Gα = 1/α. The ridge's answer is finite,
    // bounded by ‖β‖² ≤ T/1e-10, gives (up to rounding) the zero update, and is reported.
    const opposite = [
      [1, 2],
      [-2, -4],
    ];
    const degenerate = weightsOf(gramianOf(opposite));
    expect(degenerate.weights.every((a) => Number.isFinite(a) && a > 0)).toBe(true);
    expect(degenerate.weights[0]! * norm(opposite[0]!)).toBeLessThanOrEqual(Math.sqrt(2 / 1e-10));
    expect(norm(combine(degenerate.weights, opposite))).toBeLessThan(1e-6 * degenerate.weights[0]! * norm(opposite[0]!));
    expect(degenerate.diagnostics?.warnings?.join(' ')).toMatch(/no α > 0 solves Gα = 1\/α.*ridge/);
    expect(degenerate.diagnostics?.values?.exactResidual).toBeGreaterThan(0.5);
    // All zero: weights 0 and the zero update.
    expect(weightsOf([[0, 0], [0, 0]]).weights).toEqual([0, 0]);
  });
});

describe('nash-mtl: properties on 1000 random Jacobians', () => {
  it('finite; zero Jacobian → zero update; non-conflicting at the solved fixed point; permutation and per-task scale invariant update', () => {
    const rng = Rng.fromSeed(2024);
    let zeroCases = 0;
    let ridged = 0;
    for (let trial = 0; trial < 1000; trial++) {
      const jacobian = randomJacobian(rng, trial);
      const count = jacobian.length;
      const gramian = gramianOf(jacobian);
      const solution = nashMtlWeights(gramian);
      const alpha = solution.weights;
      expect(alpha.every((a) => Number.isFinite(a) && a >= 0), `trial ${trial}: ${alpha.join(', ')}`).toBe(true);
      expect(solution.report.converged, `trial ${trial}: ${JSON.stringify(solution.report)}`).toBe(true);
      if (solution.exactResidual > 1e-6) ridged += 1;
      const maxAbs = Math.max(...gramian.flat().map(Math.abs));
      const products = matVec(gramian, alpha); // J·update
      const tolerance = 1e-6 * Math.max(1, maxAbs * alpha.reduce((s, a) => s + Math.abs(a), 0));
      products.forEach((p, t) => expect(p, `trial ${trial}, task ${t}`).toBeGreaterThanOrEqual(-tolerance));
      if (maxAbs === 0) {
        zeroCases += 1;
        expect(combine(alpha, jacobian).every((x) => x === 0)).toBe(true);
      }
      // With the maxNorm scaling of the plugin (float32 G), every weight stays finite too.
      if (trial % 10 === 0) {
        const { weights } = weightsOf(gramian, {});
        expect(weights.every(Number.isFinite), `trial ${trial}`).toBe(true);
      }
      if (trial % 5 === 0 && solution.exactResidual <= 1e-6) {
        const update = combine(alpha, jacobian);
        const size = Math.max(...update.map(Math.abs), 1e-300);
        // Permuting the tasks leaves the update unchanged.
        const permutation = rng.permutation(count);
        const permuted = permutation.map((i) => jacobian[i]!);
        const moved = combine(nashMtlWeights(gramianOf(permuted)).weights, permuted);
        moved.forEach((x, k) => expect(Math.abs(x - update[k]!), `trial ${trial}`).toBeLessThanOrEqual(1e-6 * size));
        // Scaling each task's gradient by its own factor leaves the update unchanged (α_t → α_t/s_t).
        const factors = jacobian.map(() => 10 ** rng.uniform(-3, 3));
        const scaled = jacobian.map((row, t) => row.map((x) => x * factors[t]!));
        const rescaled = combine(nashMtlWeights(gramianOf(scaled)).weights, scaled);
        rescaled.forEach((x, k) => expect(Math.abs(x - update[k]!), `trial ${trial}`).toBeLessThanOrEqual(1e-6 * size));
      }
    }
    console.log('nash-mtl: ridge needed in', ridged, 'of 1000 random Jacobians');
    expect(zeroCases).toBe(20);
    // The generator makes Pareto-stationary cases (zero rows excluded, those have no say): the ridge is exercised.
    expect(ridged).toBeGreaterThan(50);
  });
});

describe('nash-mtl: updateEvery and state', () => {
  it('reuses the last weights for updateEvery − 1 calls, keeping them in the state', () => {
    const plugin = nashMtl({ updateEvery: 3, maxNorm: 0 });
    const names = taskNamesFor(2);
    const first = [
      [4, 0],
      [0, 1],
    ]; // α = (½, 1)
    const second = [
      [1, 0],
      [0, 16],
    ]; // α = (1, ¼)
    let state = plugin.init({ taskNames: names, seed: 0 });
    expect(state).toEqual({ weights: null, age: 0 });
    const calls: number[][] = [];
    const reused: number[] = [];
    for (let call = 0; call < 7; call++) {
      const result = weigh(plugin, call === 0 || call === 3 ? first : second, state);
      // The state is plain JSON, and a new object each time.
      expect(JSON.parse(JSON.stringify(result.state))).toEqual(result.state);
      expect(result.state).not.toBe(state);
      calls.push(result.weights);
      reused.push(result.diagnostics?.values?.reused ?? -1);
      state = result.state;
    }
    // Calls 0, 3, 6 solve (on G = first, first, second); 1, 2, 4, 5 reuse the last solution.
    expect(reused).toEqual([0, 1, 1, 0, 1, 1, 0]);
    expectClose(calls[0]!, [0.5, 1], 8);
    expectClose(calls[1]!, [0.5, 1], 8);
    expectClose(calls[2]!, [0.5, 1], 8);
    expectClose(calls[3]!, [0.5, 1], 8);
    expectClose(calls[6]!, [1, 0.25], 8);
    expect(state.age).toBe(0);
  });

  it('solves afresh when an active task has no stored weight; reuses the stored ones for a subset', () => {
    const plugin = nashMtl({ updateEvery: 10, maxNorm: 0 });
    const names = taskNamesFor(3);
    let state = plugin.init({ taskNames: names, seed: 0 });
    // Only tasks 0 and 2 active: G = diag(4, 9) → α = (½, ⅓); task 1 has no stored weight.
    let result = weigh(plugin, [[4, 0], [0, 9]], state, stepInfoFor(names, { active: [0, 2] }));
    expectClose(result.weights, [0.5, 1 / 3], 8);
    expect(result.state.weights).toEqual([expect.closeTo(0.5, 8), null, expect.closeTo(1 / 3, 8)]);
    state = result.state;
    // Task 2 alone: its stored weight is reused.
    result = weigh(plugin, [[100]], state, stepInfoFor(names, { active: [2] }));
    expect(result.diagnostics?.values?.reused).toBe(1);
    expectClose(result.weights, [1 / 3], 8);
    state = result.state;
    // Task 1 becomes active: solve for all three.
    result = weigh(plugin, [[1, 0, 0], [0, 4, 0], [0, 0, 16]], state, stepInfoFor(names));
    expect(result.diagnostics?.values?.reused).toBe(0);
    expectClose(result.weights, [1, 0.5, 0.25], 8);
  });

  it('applies maxNorm on every call, to the update of the current G', () => {
    const plugin = nashMtl({ updateEvery: 2, maxNorm: 0.5 });
    let state = plugin.init({ taskNames: taskNamesFor(2), seed: 0 });
    // G = I: α = (1, 1), ‖d‖ = √2 → scaled by 0.5/√2.
    let result = weigh(plugin, [[1, 0], [0, 1]], state);
    expectClose(result.weights, [0.5 / Math.SQRT2, 0.5 / Math.SQRT2], 8);
    expect(result.diagnostics?.values?.updateNorm).toBeCloseTo(0.5, 8);
    state = result.state;
    // Reused α = (1, 1) on G = 0.01·I: ‖d‖ = 0.1√2 < 0.5, left as is.
    result = weigh(plugin, [[0.01, 0], [0, 0.01]], state);
    expectClose(result.weights, [1, 1], 8);
  });
});

describe('nash-mtl: conformance and options', () => {
  it('conforms (testkit), claiming permutation invariance and non-conflict', async () => {
    const report = await checkWeighting(nashMtl(), { properties: { permutationInvariant: true, nonConflicting: true } });
    expect(report.sites).toEqual(['shared', 'features']);
    await checkWeighting(nashMtl({ updateEvery: 3, maxNorm: 0 }), { properties: { nonConflicting: true } });
  });

  it('refuses unknown options and bad values, naming them', () => {
    for (const [options, name] of [
      [{ update_weights_every: 2 }, 'update_weights_every'],
      [{ updateEvery: 0 }, 'updateEvery'],
      [{ updateEvery: 1.5 }, 'updateEvery'],
      [{ maxIterations: 0 }, 'maxIterations'],
      [{ maxNorm: -1 }, 'maxNorm'],
      [{ maxNorm: Number.POSITIVE_INFINITY }, 'maxNorm'],
    ] as const) {
      const error = thrownBy(() => nashMtl(options as never));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect(error.message).toContain(`'${name}'`);
    }
    expect(nashMtl().configure!({ updateEvery: 2 }).name).toBe('nash-mtl');
  });
});

describe('nash-mtl in the trainer', () => {
  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), nashMtl());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
    await trainerSmokeCheck(hardSharing(), nashMtl({ updateEvery: 4 }));
  });

  it('is configured by name through a registry; a misspelt option is named', () => {
    const registry = createRegistry();
    registry.register(nashMtl());
    withSmallModel(hardSharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'nash-mtl', registry, seed: 2 });
      const report = trainer.step(batch);
      expect(Object.keys(report.weights)).toEqual(['left', 'right']);
      expect(Object.values(report.weights).every((w) => Number.isFinite(w) && w > 0)).toBe(true);
      trainer.dispose();

      const configured = new Trainer({ model, weighting: { name: 'nash-mtl', options: { updateEvery: 2 } }, registry, seed: 2, site: 'features' });
      const a = configured.step(batch);
      const b = configured.step(batch);
      expect(a.diagnostics?.values?.reused).toBe(0);
      expect(b.diagnostics?.values?.reused).toBe(1);
      configured.dispose();

      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'nash-mtl', options: { maxnorm: 1 } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain('maxnorm');
    });
  });

  it("puts the solver's report in the step report, and an iteration limit in its warnings", () => {
    // Three tasks: for two, the Newton start β ∝ 1 is already the solution (α_t ∝ 1/‖g_t‖).
    const three: TaskSpec[] = [...LEFT_RIGHT_TASKS, { name: 'third', kind: 'regression', units: 1 }];
    withSmallModel(hardSharing(), three, (model, batch) => {
      for (const [options, converged] of [
        [{}, true],
        [{ maxIterations: 1 }, false],
      ] as const) {
        const trainer = new Trainer({ model, weighting: nashMtl(options), seed: 2 });
        const report = trainer.step(batch);
        const solver = report.diagnostics?.solver;
        expect(solver).toBeDefined();
        expect(solver!.converged).toBe(converged);
        expect(solver!.iterations).toBeGreaterThan(0);
        if (converged) {
          expect(solver!.residual).toBeLessThanOrEqual(1e-6);
          expect(report.warnings).toEqual([]);
          expect(report.diagnostics?.values?.updateNorm).toBeCloseTo(1, 4);
        } else expect(report.warnings.join('\n')).toMatch(/nash-mtl.*solver stopped before converging/);
        trainer.dispose();
      }
    });
  });

  it('benchmark against equal weighting (site shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: nashMtl(), site: 'shared', data, epochs: 4, seed: 42 });
    console.log('nash-mtl vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
  }, 60_000);
});
