import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type StepReport } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, REFERENCE_JACOBIANS, thrownBy, TOY_STARTS, toyGradients, toyProblem, trainerSmokeCheck, twoGradientMinNorm, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { cagrad, cagradWeights, type CAGradOptions } from './cagrad';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Helpers written for the tests, independent of the plugin: plain vector arithmetic on J.

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, k) => sum + x * b[k]!, 0);
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
/** Σ_t w_t g_t. */
const combine = (weights: readonly number[], jacobian: number[][]) =>
  jacobian[0]!.map((_, column) => weights.reduce((sum, w, t) => sum + w * jacobian[t]![column]!, 0));
const meanRow = (jacobian: number[][]) => combine(new Array<number>(jacobian.length).fill(1 / jacobian.length), jacobian);

/** The paper's dual objective F(w) = g_wᵀg_0 + c‖g_0‖‖g_w‖ (Liu et al. 2021, eq. 4), on explicit vectors. */
function dualObjective(jacobian: number[][], c: number, w: readonly number[]): number {
  const g0 = meanRow(jacobian);
  const gw = combine(w, jacobian);
  return dot(gw, g0) + c * norm(g0) * norm(gw);
}

/** min F over the simplex by brute force: golden section for 2 tasks; nested grids for 3. */
function dualMinimum(jacobian: number[][], c: number): { value: number; w: number[] } {
  const f = (w: number[]) => dualObjective(jacobian, c, w);
  if (jacobian.length === 2) {
    let a = 0;
    let b = 1;
    const ratio = (Math.sqrt(5) - 1) / 2;
    for (let k = 0; k < 200; k++) {
      const x1 = b - ratio * (b - a);
      const x2 = a + ratio * (b - a);
      if (f([x1, 1 - x1]) <= f([x2, 1 - x2])) b = x2;
      else a = x1;
    }
    const x = 0.5 * (a + b);
    const candidates = [[0, 1], [1, 0], [x, 1 - x]];
    return candidates.map((w) => ({ value: f(w), w })).reduce((best, next) => (next.value < best.value ? next : best));
  }
  let best = { value: Infinity, w: [1 / 3, 1 / 3, 1 / 3] };
  const scan = (center: number[], radius: number, steps: number) => {
    for (let i = -steps; i <= steps; i++) {
      for (let j = -steps; j <= steps; j++) {
        const w = [center[0]! + (i * radius) / steps, center[1]! + (j * radius) / steps];
        const w3 = 1 - w[0]! - w[1]!;
        if (w[0]! < -1e-15 || w[1]! < -1e-15 || w3 < -1e-15) continue;
        const point = [Math.max(w[0]!, 0), Math.max(w[1]!, 0), Math.max(w3, 0)];
        const value = f(point);
        if (value < best.value) best = { value, w: point };
      }
    }
  };
  // A grid of spacing 1/300, then grids 10× finer around the best point so far (F is convex).
  scan([0.5, 0.5], 0.5, 150);
  for (let level = 0; level < 7; level++) scan(best.w, (2 / 300) / 10 ** level, 20);
  return best;
}

/** Calls weigh as the engine does: G (and the losses) as tensors it owns and disposes. */
const weigh = (gramian: number[][], options: CAGradOptions = {}) => weighGramian(cagrad(options), gramian);

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 6) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

// ---------------------------------------------------------------------------------------------

describe('cagrad: hand-worked cases', () => {
  it('c = 0 gives the mean gradient: J2 → weights [½, ½]', () => {
    // √φ = c‖g_0‖ = 0: d = g_0 = (g_1 + g_2)/2, and 1 + c² = 1.
    expectClose(cagradWeights(gramianOf(J2), { c: 0 }).weights, [0.5, 0.5], 12);
    expectClose(cagradWeights(gramianOf(J1), { c: 0 }).weights, [0.5, 0.5], 12);
  });

  it('J2 (orthogonal unit gradients), c = 0.5: weights ¾ each before the rescale', () => {
    // G = I, g_0 = (½, ½), ‖g_0‖ = 1/√2, √φ = c/√2.
    // F(w) = wᵀG1/2 + √φ‖w‖ = ½ + √φ √(w_1² + w_2²) is smallest at w = (½, ½), where ‖g_w‖ = 1/√2.
    // weights = ½ + (√φ/‖g_w‖)·½ = ½ + c·½ = ¾;  d = ¾(1, 1) = g_0 + √φ·(1, 1)/√2 ✓.
    const c = 0.5;
    expectClose(cagradWeights(gramianOf(J2), { c, rescale: 0 }).weights, [0.75, 0.75], 9);
    expectClose(cagradWeights(gramianOf(J2), { c, rescale: 1 }).weights, [0.75 / 1.25, 0.75 / 1.25], 9);
    expectClose(cagradWeights(gramianOf(J2), { c, rescale: 2 }).weights, [0.75 / 1.5, 0.75 / 1.5], 9);
    expectClose(cagradWeights(gramianOf(J2), { c, rescale: 0, reduction: 'sum' }).weights, [1.5, 1.5], 9);
    // The default is rescale 1 (÷(1 + c²)), reduction 'mean'.
    expectClose(cagradWeights(gramianOf(J2)).weights, [0.6, 0.6], 9);
  });

  it('two gradients of equal norm: the optimum is w = (½, ½) and d = (1 + c) g_0', () => {
    // g_1 = (1, s), g_2 = (−1, s): g_w = (2x − 1, s) for w = (x, 1 − x), g_0 = (0, s).
    // F = g_wᵀg_0 + c‖g_0‖‖g_w‖ = s² + c s √((2x − 1)² + s²), smallest at x = ½ with ‖g_w‖ = s.
    // weights = ½ + (c s / s)·½ = (1 + c)/2.
    for (const s of [0.3, 1, 4]) {
      for (const c of [0.2, 0.5, 1, 3]) {
        const jacobian = [
          [1, s],
          [-1, s],
        ];
        expectClose(cagradWeights(gramianOf(jacobian), { c, rescale: 0 }).weights, [(1 + c) / 2, (1 + c) / 2], 8);
      }
    }
  });

  it('an optimum at a vertex: g_1 = (1, 0), g_2 = (0, 2), c = 0.5', () => {
    // g_0 = (½, 1), ‖g_0‖ = √5/2, √φ = c√5/2 ≈ 0.559. With w = (x, 1 − x): g_w = (x, 2 − 2x),
    // g_wᵀg_0 = 2 − 1.5x, ‖g_w‖ = √(5x² − 8x + 4), so
    // F′(x) = −1.5 + √φ (5x − 4)/‖g_w‖ ≤ −1.5 + √φ < 0 on [0, 1] ((5x − 4)/‖g_w‖ ≤ 1 there):
    // F decreases all the way to x = 1, w* = (1, 0), g_w = g_1, ‖g_w‖ = 1.
    // weights = (½ + √φ, ½);  d = g_0 + √φ g_1 = (½ + √φ, 1): both tasks gain (g_1ᵀd > 0, g_2ᵀd = 2).
    const c = 0.5;
    const sqrtPhi = (c * Math.sqrt(5)) / 2;
    const jacobian = [
      [1, 0],
      [0, 2],
    ];
    expectClose(cagradWeights(gramianOf(jacobian), { c, rescale: 0 }).weights, [0.5 + sqrtPhi, 0.5], 8);
    expectClose(cagradWeights(gramianOf(jacobian), { c }).weights, [(0.5 + sqrtPhi) / (1 + c * c), 0.5 / (1 + c * c)], 8);
  });

  it('J1 = [[-4,1,1],[6,1,1]], c = 0.5: a vertex optimum, the value torchjd documents', () => {
    // G = [[18, −22], [−22, 38]], g_0 = (1, 1, 1), ‖g_0‖² = 3, √φ = c√3.
    // g_w = (6 − 10x, 1, 1) for w = (x, 1 − x); with y = 6 − 10x ∈ [−4, 6]:
    // F = g_wᵀg_0 + √φ‖g_w‖ = y + 2 + √φ √(y² + 2), dF/dy = 1 + √φ y/√(y² + 2) > 1 − √φ > 0
    // (√φ ≈ 0.866 < 1): F is smallest at y = −4, i.e. w* = (1, 0), g_w = g_1, ‖g_w‖ = √18.
    // weights = (½ + √φ/√18, ½) ≈ (0.704124, 0.5); d ≈ (0.1835, 1.2041, 1.2041) (torchjd's CAGrad(c=0.5)
    // example prints this update: it does not rescale).
    const c = 0.5;
    const expected = [0.5 + (c * Math.sqrt(3)) / Math.sqrt(18), 0.5];
    const raw = cagradWeights(gramianOf(J1), { c, rescale: 0 }).weights;
    expectClose(raw, expected, 8);
    expectClose(combine(raw, J1), [0.1835, 1.2041, 1.2041], 4);
    // Through the plugin (G as a float32 tensor), with the default rescale 1/(1 + c²).
    expectClose(weigh(gramianOf(J1)).weights, expected.map((w) => w / (1 + c * c)), 5);
  });

  it('on J1, J2, J3 and random 2–3 task cases the update attains the dual optimum (brute-force search over the simplex)', () => {
    // Strong duality (Liu et al. 2021, eq. 3 ↔ 4): max_{‖d−g_0‖≤c‖g_0‖} min_t g_tᵀd = min_{w∈Δ} F(w).
    // The unscaled update d must be in the ball, and min_t g_tᵀd must equal the brute-force min F
    // (weak duality gives min_t g_tᵀd ≤ F(w) for every w; the search gives F near its minimum).
    const rng = Rng.fromSeed(5);
    const cases: number[][][] = [J1, J2, J3];
    for (let k = 0; k < 12; k++) {
      const count = k % 2 === 0 ? 2 : 3;
      const columns = 3 + rng.int(3);
      cases.push(Array.from({ length: count }, () => Array.from({ length: columns }, () => rng.normal())));
    }
    for (const jacobian of cases) {
      for (const c of [0.25, 0.5, 1, 2]) {
        const weights = cagradWeights(gramianOf(jacobian), { c, rescale: 0 }).weights;
        const update = combine(weights, jacobian);
        const g0 = meanRow(jacobian);
        const scale = Math.max(...jacobian.map((row) => dot(row, row)));
        expect(norm(update.map((x, k) => x - g0[k]!))).toBeLessThanOrEqual(c * norm(g0) * (1 + 1e-6) + 1e-12);
        const value = Math.min(...jacobian.map((row) => dot(row, update)));
        const brute = dualMinimum(jacobian, c);
        expect(Math.abs(value - brute.value), `J = ${JSON.stringify(jacobian)}, c = ${c}`).toBeLessThanOrEqual(1e-6 * scale);
        // The paper's form of the update, from the brute-force dual minimiser: d = g_0 + c‖g_0‖ g_w/‖g_w‖.
        const gw = combine(brute.w, jacobian);
        const fromDual = g0.map((x, k) => x + (c * norm(g0) * gw[k]!) / norm(gw));
        update.forEach((x, k) => expect(Math.abs(x - fromDual[k]!)).toBeLessThanOrEqual(1e-3 * Math.sqrt(scale)));
      }
    }
  });
});

describe('cagrad: the search on τ', () => {
  it('settles 8- and 40-task problems in at most 20 QPs, with a zero duality gap (the weights certify the optimum)', () => {
    // The update's multipliers are proportional to the dual minimiser: w_t ∝ rawWeights_t − 1/T.
    // Weak duality gives min_t g_tᵀd ≤ F(w) for every w in the simplex, so F(w) − min_t g_tᵀd ≈ 0
    // shows d optimal and w the dual's minimiser, independently of how τ was searched.
    // (Halving alone took 45 QPs on every one of these.)
    const rng = Rng.fromSeed(11);
    for (const count of [8, 40]) {
      for (let trial = 0; trial < 10; trial++) {
        const shared = Array.from({ length: 60 }, () => rng.normal());
        const jacobian = Array.from({ length: count }, () => shared.map((x) => 0.5 * x + rng.normal()));
        const solution = cagradWeights(gramianOf(jacobian), { rescale: 0 });
        expect(solution.report.converged).toBe(true);
        expect(solution.report.iterations, `T = ${count}, trial ${trial}`).toBeLessThanOrEqual(20);
        const update = combine(solution.rawWeights, jacobian);
        const value = Math.min(...jacobian.map((row) => dot(row, update)));
        const multipliers = solution.rawWeights.map((w) => Math.max(w - 1 / count, 0));
        const total = multipliers.reduce((a, b) => a + b, 0);
        const gap = dualObjective(jacobian, 0.5, multipliers.map((m) => m / total)) - value;
        const scale = Math.max(...jacobian.map((row) => dot(row, row)));
        expect(gap, `T = ${count}, trial ${trial}`).toBeGreaterThanOrEqual(-1e-9 * scale);
        expect(gap, `T = ${count}, trial ${trial}`).toBeLessThanOrEqual(1e-7 * scale);
      }
    }
  });
});

describe('cagrad: properties on 1000 random Jacobians', () => {
  it('finite weights; a zero Jacobian gives a zero update; non-conflicting for c ≥ 1; permutation and scale invariant', () => {
    const rng = Rng.fromSeed(2024);
    let zeroCases = 0;
    let conflictsAtDefault = 0;
    for (let trial = 0; trial < 1000; trial++) {
      const jacobian = randomJacobian(rng, trial);
      const count = jacobian.length;
      const gramian = gramianOf(jacobian);
      const maxAbs = Math.max(...gramian.flat().map(Math.abs));
      for (const c of [0.5, 1, 2]) {
        const solution = cagradWeights(gramian, { c });
        expect(solution.weights.every(Number.isFinite), `trial ${trial}, c ${c}: ${solution.weights.join(', ')}`).toBe(true);
        expect(solution.report.converged, `trial ${trial}, c ${c}: ${JSON.stringify(solution.report)}`).toBe(true);
        const products = gramian.map((row) => dot(row, solution.weights)); // J·update
        const tolerance = 1e-6 * Math.max(1, maxAbs * solution.weights.reduce((s, w) => s + Math.abs(w), 0));
        if (c >= 1) {
          // For c ≥ 1 the ball around g_0 contains d = 0, whose worst inner product is 0: the optimum is ≥ 0.
          products.forEach((p, t) => expect(p, `trial ${trial}, c ${c}, task ${t}`).toBeGreaterThanOrEqual(-tolerance));
        } else if (Math.min(...products) < -tolerance) conflictsAtDefault += 1;
        if (maxAbs === 0) {
          zeroCases += 1;
          expect(combine(solution.weights, jacobian).every((x) => x === 0)).toBe(true);
        }
      }
      if (trial % 5 === 0) {
        // Permuting the tasks leaves the update unchanged; scaling G (J → √s J) leaves the weights
        // unchanged, i.e. scales the update by √s. (Where G is singular, several weight vectors
        // give the same update: the update is what is compared.)
        const permutation = rng.permutation(count);
        const permuted = permutation.map((i) => permutation.map((j) => gramian[i]![j]!));
        const base = combine(cagradWeights(gramian).weights, jacobian);
        const moved = combine(cagradWeights(permuted).weights, permutation.map((i) => jacobian[i]!));
        const size = Math.max(...base.map(Math.abs), 1e-300);
        moved.forEach((x, k) => expect(Math.abs(x - base[k]!), `trial ${trial}`).toBeLessThanOrEqual(1e-6 * size));
        for (const s of [1e-4, 1e4]) {
          const scaled = combine(cagradWeights(gramian.map((row) => row.map((v) => v * s))).weights, jacobian);
          scaled.forEach((x, k) => expect(Math.abs(x - base[k]!), `trial ${trial}, scale ${s}`).toBeLessThanOrEqual(1e-6 * size));
        }
      }
    }
    expect(zeroCases).toBe(60);
    // c = 0.5 does conflict now and then: non-conflict is claimed for c ≥ 1 only.
    expect(conflictsAtDefault).toBeGreaterThan(0);
  });
});

describe('cagrad: conformance and options', () => {
  it('conforms (testkit), claiming permutation and scale invariance; non-conflicting with c = 1', async () => {
    const report = await checkWeighting(cagrad(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.sites).toEqual(['shared', 'features']);
    await checkWeighting(cagrad({ c: 1 }), { properties: { permutationInvariant: true, scaleInvariantWeights: true, nonConflicting: true } });
    await checkWeighting(cagrad({ c: 2, rescale: 0, reduction: 'sum' }), { properties: { nonConflicting: true, scaleInvariantWeights: true } });
  });

  it('refuses unknown options and bad values, naming them', () => {
    for (const [options, name] of [
      [{ alpha: 0.5 }, 'alpha'],
      [{ c: -1 }, 'c'],
      [{ c: Number.NaN }, 'c'],
      [{ rescale: 3 }, 'rescale'],
      [{ reduction: 'avg' }, 'reduction'],
      [{ maxIterations: 0 }, 'maxIterations'],
      [{ maxIterations: 2.5 }, 'maxIterations'],
    ] as const) {
      const error = thrownBy(() => cagrad(options as never));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect(error.message).toContain(`'${name}'`);
    }
    expect(cagrad().configure!({ c: 0.2 }).name).toBe('cagrad');
  });
});

describe('cagrad in the trainer', () => {
  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), cagrad());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry; a misspelt option is named', () => {
    const registry = createRegistry();
    registry.register(cagrad());
    withSmallModel(hardSharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'cagrad', registry, seed: 2 });
      const report = trainer.step(batch);
      expect(Object.keys(report.weights)).toEqual(['left', 'right']);
      expect(Object.values(report.weights).every(Number.isFinite)).toBe(true);
      trainer.dispose();

      const configured = new Trainer({ model, weighting: { name: 'cagrad', options: { c: 0, rescale: 0 } }, registry, seed: 2, site: 'features' });
      // c = 0: the mean of the gradients.
      expect(Object.values(configured.step(batch).weights)).toEqual([0.5, 0.5]);
      configured.dispose();

      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'cagrad', options: { rescal: 1 } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain('rescal');
    });
  });

  it("puts the solver's report in the step report, and an iteration limit in its warnings", () => {
    // At x = (2, −3) on the toy problem the optimum is not at the end of the bracket where one
    // task binds alone (checked with the pure function), so one QP cannot settle the bisection.
    const point = [2, -3] as const;
    const [[a1, a2], [b1, b2]] = toyGradients(point[0], point[1]);
    const toyGramian = gramianOf([
      [a1, a2],
      [b1, b2],
    ]);
    expect(cagradWeights(toyGramian, { maxIterations: 1 }).report.converged).toBe(false);
    expect(cagradWeights(toyGramian).report.converged).toBe(true);

    for (const [options, converged] of [
      [{}, true],
      [{ maxIterations: 1 }, false],
    ] as const) {
      const toy = toyProblem(point);
      const trainer = new Trainer({ model: toy.model, weighting: cagrad(options) });
      try {
        const report: StepReport = trainer.step(toy.batch);
        const solver = report.diagnostics?.solver;
        expect(solver).toBeDefined();
        expect(solver!.converged).toBe(converged);
        expect(solver!.iterations).toBeGreaterThan(0);
        expect(Number.isFinite(report.diagnostics?.values?.worstInnerProduct)).toBe(true);
        if (converged) expect(report.warnings).toEqual([]);
        else expect(report.warnings.join('\n')).toMatch(/cagrad.*solver stopped before converging/);
      } finally {
        trainer.dispose();
        toy.dispose();
      }
    }
  });

  it('acceptance: on the toy problem (Adam, c = 0.5) it ends Pareto-stationary from the three starts', () => {
    // The paper's toy (Liu et al. 2021, Fig. 1) with the paper's c = 0.5. Plain Adam at 0.01 needs
    // 10–23 thousand steps here (≈ 4 ms each), so the rate is stepped down instead: 0.1 for 600
    // steps, then 0.01 and 0.001 (a fresh Adam each time), until the point stops moving.
    const ends: [number, number][] = [];
    for (const start of TOY_STARTS) {
      const toy = toyProblem(start);
      try {
        for (const [learningRate, steps] of [
          [0.1, 600],
          [0.01, 400],
          [0.001, 200],
        ] as const) {
          const trainer = new Trainer({ model: toy.model, weighting: cagrad({ c: 0.5 }), optimizer: { name: 'adam', learningRate } });
          for (let step = 0; step < steps; step++) trainer.step(toy.batch);
          trainer.dispose();
        }
        const end = toy.position();
        const [g1, g2] = toyGradients(end[0], end[1]);
        const stationarity = twoGradientMinNorm(g1, g2);
        console.log(`cagrad toy: start (${start.join(', ')}) → end (${end.map((v) => v.toFixed(5)).join(', ')}), min-norm ${stationarity.toExponential(2)}`);
        expect(stationarity).toBeLessThanOrEqual(1e-3);
        ends.push(end);
      } finally {
        toy.dispose();
      }
    }
    // With c < 1 CAGrad converges to a minimum of the average loss (the paper's Theorem): here the
    // middle of the Pareto front, x ≈ (0, −8.355), from every start.
    for (const [x1, x2] of ends) {
      expect(Math.abs(x1)).toBeLessThan(0.05);
      expect(x2).toBeCloseTo(-8.355, 2);
    }
  }, 60_000);

  it('benchmark against equal weighting (site shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: cagrad(), site: 'shared', data, epochs: 4, seed: 42 });
    console.log('cagrad vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
  }, 60_000);
});
