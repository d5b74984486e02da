import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, REFERENCE_JACOBIANS, thrownBy, trainerSmokeCheck, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { conFig, config, configWeights, type ConFIGOptions } from './config';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Plain vector arithmetic written for the tests, independent of the plugin.

type Matrix = number[][];
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, k) => sum + x * b[k]!, 0);
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
/** u = wᵀJ = Σ_t w_t g_t. */
const combine = (weights: readonly number[], jacobian: Matrix) =>
  jacobian[0]!.map((_, column) => weights.reduce((sum, w, t) => sum + w * jacobian[t]![column]!, 0));
const cosine = (a: readonly number[], b: readonly number[]) => dot(a, b) / (norm(a) * norm(b));
const maxAbs = (values: readonly number[]) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Solves the 3×3 system A x = b by Cramer's rule. */
function solve3(a: Matrix, b: readonly number[]): number[] {
  const det = (m: Matrix) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) - m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) + m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const d = det(a);
  return [0, 1, 2].map((column) => det(a.map((row, i) => row.map((x, j) => (j === column ? b[i]! : x)))) / d);
}

/** ConFIG on explicit vectors for a square invertible J (the paper's Eq. 2): ĝ solves U ĝ = 1. */
function explicitConfig3(jacobian: Matrix): number[] {
  const units = jacobian.map((g) => g.map((x) => x / norm(g)));
  const direction = solve3(units, [1, 1, 1]);
  const unit = direction.map((x) => x / norm(direction));
  const length = jacobian.reduce((sum, g) => sum + dot(g, unit), 0);
  return unit.map((x) => length * x);
}

/** Calls weigh as the engine does: G (float32) and the losses as tensors it owns and disposes. */
const weigh = (gramian: Matrix, options: ConFIGOptions = {}) => weighGramian(config(options), gramian);

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

// ---------------------------------------------------------------------------------------------

describe('config: hand-computed cases', () => {
  it('J2 = I: u_i = g_i, ĝ = U⁺1 = (1,1), g_u = (1,1)/√2, Σ g_iᵀg_u = 2/√2, update = (1,1), weights (1,1)', () => {
    const weights = weigh(gramianOf(J2)).weights;
    expectClose(weights, [1, 1], 6);
    expectClose(combine(weights, J2), [1, 1], 6);
  });

  it('J1 = [[-4,1,1],[6,1,1]]: for two independent gradients the update is ½(‖g1‖ + ‖g2‖)(u1 + u2)', () => {
    // C = [[1, ρ], [ρ, 1]] with ρ = −22/√(18·38); C⁻¹1 = (1,1)/(1 + ρ), so ĝ = (u1 + u2)/(1 + ρ) and
    // ‖ĝ‖² = 2/(1 + ρ). g_iᵀĝ = ‖g_i‖ (C C⁻¹ 1)_i = ‖g_i‖, so Σ_i g_iᵀĝ = √18 + √38 and
    // update = (√18 + √38)(1 + ρ)/2 · ĝ = (√18 + √38)/2 · (u1 + u2):
    // w1 = (√18 + √38)/(2√18) ≈ 1.2265, w2 = (√18 + √38)/(2√38) ≈ 0.8441.
    const n1 = Math.sqrt(18);
    const n2 = Math.sqrt(38);
    const expectedWeights = [(n1 + n2) / (2 * n1), (n1 + n2) / (2 * n2)];
    const weights = weigh(gramianOf(J1)).weights;
    expectClose(weights, expectedWeights, 5);
    // u1 + u2 = (−4/√18 + 6/√38, 1/√18 + 1/√38, same) ≈ (0.03052, 0.39792, 0.39792); × 5.2035:
    const update = combine(weights, J1);
    expectClose(update, [0.1588, 2.0706, 2.0706], 3);
    // Equal cosine with both gradients: cos = 1/‖ĝ‖ = √((1 + ρ)/2) ≈ 0.2816.
    const rho = -22 / Math.sqrt(18 * 38);
    expect(cosine(update, J1[0]!)).toBeCloseTo(Math.sqrt((1 + rho) / 2), 5);
    expect(cosine(update, J1[1]!)).toBeCloseTo(Math.sqrt((1 + rho) / 2), 5);
  });

  it('J3 (3×3, invertible): matches ĝ = U⁻¹1 by Cramer’s rule and the projection length; equal cosines', () => {
    const expected = explicitConfig3(J3);
    const weights = weigh(gramianOf(J3)).weights;
    expectClose(combine(weights, J3), expected, 4);
    const cosines = J3.map((g) => cosine(expected, g));
    cosines.forEach((c) => expect(c).toBeCloseTo(cosines[0]!, 10));
    expect(cosines[0]).toBeGreaterThan(0);
  });

  it('a zero gradient is left out (weight 0); the rest is the ConFIG of the others', () => {
    const g1 = [-4, 1, 1];
    const g3 = [6, 1, 1];
    const zero = [0, 0, 0];
    const weights = weigh(gramianOf([g1, zero, g3])).weights;
    const n1 = Math.sqrt(18);
    const n3 = Math.sqrt(38);
    expectClose(weights, [(n1 + n3) / (2 * n1), 0, (n1 + n3) / (2 * n3)], 5);
    const result = configWeights(gramianOf([g1, zero, g3]));
    expect(result.dropped).toEqual([1]);
  });

  it('opposite gradients have no common ascent direction: ĝ = 0, zero update; a zero Jacobian gives zero weights', () => {
    // g2 = −2 g1: C = [[1, −1], [−1, 1]], whose range is spanned by (1, −1) ⟂ 1, so ĝ = U⁺1 = 0.
    const g = [1, -2, 0.5];
    expectClose(weigh(gramianOf([g, g.map((x) => -2 * x)])).weights, [0, 0], 12);
    expect(weigh(gramianOf([[0, 0], [0, 0], [0, 0]].map((r) => r.slice(0, 2)))).weights).toEqual([0, 0, 0]);
  });

  it('dependent gradients: g3 = g1 + g2 gives rank 2 and the pseudo-inverse solution', () => {
    // u1 = (1,0), u2 = (0,1), g3 = (1,1): U = [[1,0],[0,1],[1/√2,1/√2]]; U⁺1 minimises ‖Ux − 1‖ with
    // minimum norm: normal equations UᵀU x = Uᵀ1, UᵀU = [[1.5, 0.5],[0.5, 1.5]], Uᵀ1 = (1 + 1/√2)(1,1),
    // so x = (1 + 1/√2)/2 · (1,1); g_u = (1,1)/√2, Σ g_iᵀg_u = (1 + 1 + 2)/√2, update = (2, 2).
    const jacobian = [
      [1, 0],
      [0, 1],
      [1, 1],
    ];
    const result = configWeights(gramianOf(jacobian));
    expect(result.rank).toBe(2);
    expectClose(combine(result.weights, jacobian), [2, 2], 6);
  });
});

// ---------------------------------------------------------------------------------------------

/** Well-conditioned: T ≤ columns Gaussian rows scaled 10^±1 (full row rank). */
function fullRankJacobian(rng: Rng, count: number, columns: number): Matrix {
  return Array.from({ length: count }, () => {
    const scale = 10 ** rng.uniform(-1, 1);
    return Array.from({ length: columns }, () => rng.normal(0, scale));
  });
}

describe('config: properties on random Jacobians', () => {
  it('1000 random Jacobians (2–10 tasks, rank-deficient, nearly parallel, scaled 1e-6…1e6, zero): finite weights; zero J gives a zero update', () => {
    const rng = Rng.fromSeed(31);
    for (let trial = 0; trial < 1000; trial++) {
      const jacobian = randomJacobian(rng, trial);
      const count = jacobian.length;
      const zero = trial % 50 === 0; // randomJacobian's all-zero trials
      const { weights, diagnostics } = weigh(gramianOf(jacobian));
      expect(weights).toHaveLength(count);
      expect(weights.every(Number.isFinite), `trial ${trial}: ${weights.join(', ')}`).toBe(true);
      expect(diagnostics?.solver?.converged, `trial ${trial}`).toBe(true);
      jacobian.forEach((row, t) => {
        if (row.every((x) => x === 0)) expect(weights[t], `trial ${trial}: zero row ${t}`).toBe(0);
      });
      if (zero) expect(combine(weights, jacobian).every((x) => x === 0)).toBe(true);
    }
  });

  it('full row rank: the update has the same positive cosine with every task gradient (so J·update > 0)', () => {
    const rng = Rng.fromSeed(4);
    for (let trial = 0; trial < 300; trial++) {
      const count = 2 + rng.int(7);
      const columns = count + rng.int(6);
      const jacobian = fullRankJacobian(rng, count, columns);
      const { weights, diagnostics } = weigh(gramianOf(jacobian));
      const update = combine(weights, jacobian);
      const cosines = jacobian.map((g) => cosine(update, g));
      for (const c of cosines) {
        expect(c, `trial ${trial}: ${cosines.join(', ')}`).toBeGreaterThan(0);
        expect(Math.abs(c - cosines[0]!), `trial ${trial}: ${cosines.join(', ')}`).toBeLessThan(1e-3);
      }
      expect(diagnostics?.values?.minimumCosine).toBeCloseTo(Math.min(...cosines), 3);
      // The length is the sum of the projections: ‖update‖ = Σ_i g_iᵀ update/‖update‖.
      const length = jacobian.reduce((sum, g) => sum + dot(g, update) / norm(update), 0);
      expect(Math.abs(norm(update) - length) / length, `trial ${trial}`).toBeLessThan(1e-3);
    }
  });

  it('linear under scaling (w(c²G) = w(G)) and permutation-equivariant', () => {
    const rng = Rng.fromSeed(9);
    for (let trial = 0; trial < 200; trial++) {
      const count = 2 + rng.int(7);
      const columns = count + rng.int(6);
      const jacobian = fullRankJacobian(rng, count, columns);
      const gramian = gramianOf(jacobian);
      const base = weigh(gramian).weights;
      const tolerance = 1e-3 * Math.max(1, maxAbs(base));
      for (const c2 of [16, 1e-6, 1e8]) {
        const scaled = weigh(gramian.map((row) => row.map((v) => v * c2))).weights;
        scaled.forEach((w, k) => expect(Math.abs(w - base[k]!), `trial ${trial}, c² = ${c2}`).toBeLessThan(tolerance));
      }
      const permutation = rng.permutation(count);
      const permuted = weigh(permutation.map((i) => permutation.map((j) => gramian[i]![j]!))).weights;
      permuted.forEach((w, k) => expect(Math.abs(w - base[permutation[k]!]!), `trial ${trial}`).toBeLessThan(tolerance));
    }
  });

  it('conforms (testkit), claiming permutation invariance, non-conflict and scale invariance of the weights', async () => {
    const report = await checkWeighting(config(), { properties: { permutationInvariant: true, nonConflicting: true, scaleInvariantWeights: true } });
    expect(report.sites).toEqual(['shared', 'features']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('config: options', () => {
  it('refuses unknown options and bad values, naming the option; conFig is the same factory', () => {
    const cases: [ConFIGOptions, string][] = [
      [{ relativeTolerence: 1e-6 } as never, "'relativeTolerence'"],
      [{ relativeTolerance: -1 }, "'relativeTolerance'"],
      [{ maxSweeps: 1.5 }, "'maxSweeps'"],
    ];
    for (const [options, named] of cases) {
      const error = thrownBy(() => config(options));
      expect(isMtlError(error, 'BAD_CONFIG'), JSON.stringify(options)).toBe(true);
      expect(error.message).toContain(named);
    }
    expect(conFig).toBe(config);
    expect(config().configure!({ maxSweeps: 5 }).name).toBe('config');
  });
});

describe('config in the trainer', () => {
  const tasks: TaskSpec[] = [...LEFT_RIGHT_TASKS, { name: 'third', kind: 'regression', units: 1 }];

  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), config());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry; a misspelt option is refused by name', () => {
    const registry = createRegistry();
    registry.register(config());
    withSmallModel(hardSharing(), tasks, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'config', registry, seed: 2 });
      const report = trainer.step(batch);
      expect(Object.keys(report.weights)).toEqual(['left', 'right', 'third']);
      expect(Object.values(report.weights).every(Number.isFinite)).toBe(true);
      trainer.dispose();
      const features = new Trainer({ model, weighting: { name: 'config', options: { maxSweeps: 50 } }, site: 'features', registry, seed: 2 });
      expect(Object.values(features.step(batch).weights).every(Number.isFinite)).toBe(true);
      features.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'config', options: { maxSweep: 1 } }, registry }));
      expect(isMtlError(error)).toBe(true);
      expect((error as Error).message).toContain('maxSweep');
    });
  });

  it("the step report carries the eigen-solver's report; a sweep limit that is hit becomes a warning", () => {
    withSmallModel(hardSharing(), tasks, (model, batch) => {
      const trainer = new Trainer({ model, weighting: config(), seed: 2 });
      const report = trainer.step(batch);
      const solver = report.diagnostics?.solver;
      expect(solver?.converged).toBe(true);
      expect(solver?.residual).toBeLessThanOrEqual(1e-12);
      expect(solver?.iterations).toBeGreaterThan(0);
      expect(report.diagnostics?.values?.rank).toBe(3);
      expect(report.diagnostics?.values?.minimumCosine).toBeGreaterThan(0);
      expect(report.warnings).toEqual([]);
      trainer.dispose();

      const limited = new Trainer({ model, weighting: config({ maxSweeps: 1 }), seed: 2 });
      const warned = limited.step(batch);
      expect(warned.diagnostics?.solver?.converged).toBe(false);
      expect(warned.warnings.length).toBe(1);
      expect(warned.warnings[0]).toContain("'config'");
      limited.dispose();
    });
  });

  it('benchmark against equal weighting on synthetic tasks (default site, shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: config(), data, epochs: 4, seed: 42 });
    console.log('config vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  }, 60_000);
});
