import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, REFERENCE_JACOBIANS, thrownBy, trainerSmokeCheck, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { imtlG, imtlGWeights, type IMTLGOptions } from './imtl-g';

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
/** gᵀu_t for each task, u_t = g_t/‖g_t‖. */
const projections = (update: readonly number[], jacobian: number[][]) => jacobian.map((g) => dot(update, g) / norm(g));

/** Solves A x = b by Gaussian elimination with partial pivoting (small dense systems). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= n; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let c = r + 1; c < n; c++) s -= m[r]![c]! * x[c]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * The paper's closed form on explicit vectors (Liu et al. 2021, "Towards Impartial Multi-task
 * Learning", eq. 7): D = [g_1 − g_2, …, g_1 − g_T]ᵀ, U = [u_1 − u_2, …, u_1 − u_T]ᵀ,
 * α_{2:T} = g_1ᵀUᵀ(DUᵀ)⁻¹, α_1 = 1 − Σ_{t≥2} α_t.
 */
function paperWeights(jacobian: number[][]): number[] {
  const units = jacobian.map((g) => g.map((x) => x / norm(g)));
  const d = jacobian.slice(1).map((g) => jacobian[0]!.map((x, k) => x - g[k]!));
  const u = units.slice(1).map((v) => units[0]!.map((x, k) => x - v[k]!));
  // Row vector α = g_1ᵀUᵀ (DUᵀ)⁻¹  ⇔  (DUᵀ)ᵀ αᵀ = U g_1.
  const dut = d.map((di) => u.map((uj) => dot(di, uj)));
  const transposed = dut[0]!.map((_, j) => dut.map((row) => row[j]!));
  const rest = solve(transposed, u.map((uj) => dot(jacobian[0]!, uj)));
  return [1 - rest.reduce((s, a) => s + a, 0), ...rest];
}

/** Calls weigh as the engine does: G (and the losses) as tensors it owns and disposes. */
const weigh = (gramian: number[][], options: IMTLGOptions = {}) => weighGramian(imtlG(options), gramian);

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 6) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

/** Equal projections of the update on every unit task gradient, relative to their size. */
function expectEqualProjections(update: readonly number[], jacobian: number[][], tolerance = 1e-9) {
  const p = projections(update, jacobian);
  const mean = p.reduce((s, x) => s + x, 0) / p.length;
  const size = Math.max(...p.map(Math.abs), 1e-300);
  p.forEach((x) => expect(Math.abs(x - mean) / size, `projections ${p.join(', ')}`).toBeLessThanOrEqual(tolerance));
}

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

/** Gaussian rows, more columns than rows, scales from 1e-3 to 1e3: full row rank. */
function fullRankJacobian(rng: Rng): number[][] {
  const count = 2 + rng.int(9);
  const columns = count + 3 + rng.int(6);
  return Array.from({ length: count }, () => {
    const scale = 10 ** rng.uniform(-3, 3);
    return Array.from({ length: columns }, () => rng.normal() * scale);
  });
}

// ---------------------------------------------------------------------------------------------

describe('imtl-g: hand-computed cases', () => {
  it('J2 (orthogonal unit gradients): α = [½, ½]', () => {
    // u_1 = g_1, u_2 = g_2, g = α_1 g_1 + α_2 g_2 has projections α_1 and α_2: equal, and Σα = 1.
    expectClose(imtlGWeights(gramianOf(J2)).weights, [0.5, 0.5], 12);
    expectClose(weigh(gramianOf(J2)).weights, [0.5, 0.5], 7);
    // 'sum-tasks': the same weights times T.
    expectClose(imtlGWeights(gramianOf(J2), { scale: 'sum-tasks' }).weights, [1, 1], 12);
  });

  it('J1 = [[-4,1,1],[6,1,1]]: α ∝ 1/‖g_t‖, the paper\'s closed form, and torchjd\'s documented update', () => {
    // Two tasks: g = α_1 g_1 + α_2 g_2 with gᵀ(u_1 − u_2) = 0 is g ∝ u_1 + u_2 (the bisector), i.e.
    // α_t ∝ 1/‖g_t‖: α = (1/√18, 1/√38)/(1/√18 + 1/√38) = (√38, √18)/(√38 + √18) ≈ (0.59233, 0.40767).
    const expected = [Math.sqrt(38) / (Math.sqrt(38) + Math.sqrt(18)), Math.sqrt(18) / (Math.sqrt(38) + Math.sqrt(18))];
    // The paper, T = 2: α_2 = g_1ᵀ(u_1 − u_2) / ((g_1 − g_2)ᵀ(u_1 − u_2)).
    expectClose(paperWeights(J1), expected, 12);
    const weights = imtlGWeights(gramianOf(J1)).weights;
    expectClose(weights, expected, 10);
    // The update (0.0767, 1, 1), as torchjd's IMTLG example prints it.
    expectClose(combine(weights, J1), [0.0767, 1, 1], 4);
    expectEqualProjections(combine(weights, J1), J1);
    expectClose(weigh(gramianOf(J1)).weights, expected, 6);
  });

  it('J3: equal projections, the paper\'s closed form, and the solver report', () => {
    const solution = imtlGWeights(gramianOf(J3));
    expect(solution.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 12);
    expectEqualProjections(combine(solution.weights, J3), J3, 1e-10);
    expectClose(solution.weights, paperWeights(J3), 10);
    expect(solution.report.converged).toBe(true);
    expect(solution.rank).toBe(3);
    expect(solution.projection).toBeCloseTo(projections(combine(solution.weights, J3), J3)[0]!, 10);
    // Through the plugin (float32 G), with diagnostics.
    const { weights, diagnostics } = weigh(gramianOf(J3));
    expectEqualProjections(combine(weights, J3), J3, 1e-5);
    expect(diagnostics?.solver?.converged).toBe(true);
    expect(diagnostics?.values?.rank).toBe(3);
  });

  it('equal projections on 500 random full-rank cases, matching the paper\'s closed form', () => {
    const rng = Rng.fromSeed(17);
    let negative = 0;
    for (let trial = 0; trial < 500; trial++) {
      const jacobian = fullRankJacobian(rng);
      const solution = imtlGWeights(gramianOf(jacobian));
      expect(solution.report.converged, `trial ${trial}: ${JSON.stringify(solution.report)}`).toBe(true);
      expect(solution.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 9);
      expectEqualProjections(combine(solution.weights, jacobian), jacobian, 1e-7);
      const paper = paperWeights(jacobian);
      const size = Math.max(...paper.map(Math.abs));
      solution.weights.forEach((w, t) => expect(Math.abs(w - paper[t]!) / size, `trial ${trial}`).toBeLessThanOrEqual(1e-6));
      if (solution.projection < 0) negative += 1;
    }
    // The sum-one normalisation makes the common projection negative now and then (see the README).
    expect(negative).toBeGreaterThan(0);
  });

  it('three tasks where the sum-one weights give equal negative projections, and the plugin warns', () => {
    // u_1 = e_1, u_2 = e_2, u_3 = (1, 1, ε)/m with m = √(2 + ε²), ε = 0.1, and ‖g_3‖ = ½.
    // Equal projections c: x = (c, c, z) with (2c + εz)/m = c → z = c(m − 2)/ε.
    // In the u basis: β_3 = z·m/ε = c·m(m − 2)/ε² ≈ −82.55c, β_1 = β_2 = c − β_3/m ≈ 59.23c.
    // α_t = β_t/‖g_t‖ = (59.23, 59.23, −165.1)·c: Σ_t α_t ≈ −46.65c < 0, so Σα = 1 forces c < 0.
    const epsilon = 0.1;
    const m = Math.sqrt(2 + epsilon * epsilon);
    const beta3 = (m * (m - 2)) / epsilon ** 2;
    const beta1 = 1 - beta3 / m;
    const raw = [beta1, beta1, beta3 / 0.5];
    const total = raw.reduce((s, a) => s + a, 0);
    expect(total).toBeLessThan(0);
    const jacobian = [
      [1, 0, 0],
      [0, 1, 0],
      [0.5 / m, 0.5 / m, (0.5 * epsilon) / m],
    ];
    const solution = imtlGWeights(gramianOf(jacobian));
    expectClose(solution.weights, raw.map((a) => a / total), 8);
    const update = combine(solution.weights, jacobian);
    expectEqualProjections(update, jacobian, 1e-9);
    // Every task's gradient has a negative inner product with the update: a step along it raises every loss.
    jacobian.forEach((g) => expect(dot(g, update)).toBeLessThan(0));
    expect(solution.projection).toBeCloseTo(1 / total, 8);
    const { diagnostics } = weigh(gramianOf(jacobian));
    expect(diagnostics?.values?.projection).toBeLessThan(0);
    expect(diagnostics?.warnings?.join(' ')).toMatch(/negative projection.*raises every task's loss/);
  });

  it('opposite gradients: the only update with equal projections is 0', () => {
    // g_2 = −2 g_1: gᵀu_1 = gᵀu_2 = −gᵀu_1 forces gᵀu_1 = 0, so g = 0 in span{g_1}: α_1 g_1 − 2α_2 g_1 = 0
    // with α_1 + α_2 = 1 → α = (⅔, ⅓). (The paper's closed form gives the same: D = 3g_1, U = 2u_1.)
    const jacobian = [
      [1, 2],
      [-2, -4],
    ];
    const solution = imtlGWeights(gramianOf(jacobian));
    expectClose(solution.weights, [2 / 3, 1 / 3], 10);
    expectClose(paperWeights(jacobian), [2 / 3, 1 / 3], 10);
    expect(solution.projection).toBe(0);
    expect(norm(combine(solution.weights, jacobian))).toBeLessThan(1e-12);
  });

  it('a zero gradient gets weight 0; linearly dependent gradients get the least-squares answer, reported', () => {
    // g_3 = 0: the others alone (here J2's answer).
    expectClose(imtlGWeights(gramianOf([[1, 0], [0, 1], [0, 0]])).weights, [0.5, 0.5, 0], 12);
    // u_1 = (1, 0), u_2 = (0, 1), u_3 = (1, 1)/√2: x = (a, b) has projections a, b, (a + b)/√2, equal only
    // at x = 0. The least-squares answer's projections are unequal: residual > 0.
    const dependent = [
      [1, 0],
      [0, 1],
      [1, 1],
    ];
    const solution = imtlGWeights(gramianOf(dependent));
    expect(solution.rank).toBe(2);
    expect(solution.report.converged).toBe(false);
    expect(solution.report.residual).toBeGreaterThan(0.01);
    expect(solution.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 12);
    // Least squares: x minimises Σ_t (xᵀu_t − 1)² over the span; by symmetry x = (a, a), and
    // 2(a − 1)² + (√2a − 1)² is smallest at a = (2 + √2)/4 > 0. Its projections are a, a, √2a; the
    // weights then scale x so that Σα = 1, which keeps the direction and the ratios.
    const update = combine(solution.weights, dependent);
    expect(update[0]! / update[1]!).toBeCloseTo(1, 10);
    const p = projections(update, dependent);
    expect(p[2]! / p[0]!).toBeCloseTo(Math.SQRT2, 10);
  });
});

describe('imtl-g: properties on 1000 random Jacobians', () => {
  it('finite; zero Jacobian → zero update; permutation invariant; weights unchanged by scaling G', () => {
    const rng = Rng.fromSeed(2024);
    let zeroCases = 0;
    for (let trial = 0; trial < 1000; trial++) {
      const jacobian = randomJacobian(rng, trial);
      const count = jacobian.length;
      const gramian = gramianOf(jacobian);
      const solution = imtlGWeights(gramian);
      expect(solution.weights.every(Number.isFinite), `trial ${trial}: ${solution.weights.join(', ')}`).toBe(true);
      expect(solution.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 6);
      if (Math.max(...gramian.flat().map(Math.abs)) === 0) {
        zeroCases += 1;
        expect(combine(solution.weights, jacobian).every((x) => x === 0)).toBe(true);
      }
      if (trial % 5 === 0) {
        const update = combine(solution.weights, jacobian);
        const size = Math.max(...solution.weights.map((w, t) => Math.abs(w) * norm(jacobian[t]!)), 1e-300);
        const permutation = rng.permutation(count);
        const permuted = permutation.map((i) => jacobian[i]!);
        const moved = combine(imtlGWeights(gramianOf(permuted)).weights, permuted);
        moved.forEach((x, k) => expect(Math.abs(x - update[k]!), `trial ${trial}`).toBeLessThanOrEqual(1e-6 * size));
        for (const s of [1e-4, 1e4]) {
          const scaled = imtlGWeights(gramian.map((row) => row.map((v) => v * s))).weights;
          const wSize = Math.max(...solution.weights.map(Math.abs));
          scaled.forEach((w, t) => expect(Math.abs(w - solution.weights[t]!), `trial ${trial}, scale ${s}`).toBeLessThanOrEqual(1e-6 * wSize));
        }
      }
    }
    expect(zeroCases).toBe(20);
  });
});

describe('imtl-g: conformance and options', () => {
  it('conforms (testkit), claiming permutation invariance and scale invariance of the weights', async () => {
    const report = await checkWeighting(imtlG(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.sites).toEqual(['shared', 'features']);
    await checkWeighting(imtlG({ scale: 'sum-tasks' }), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
  });

  it('refuses unknown options and bad values, naming them', () => {
    for (const [options, name] of [
      [{ scaling: 'sum-one' }, 'scaling'],
      [{ scale: 'mean' }, 'scale'],
    ] as const) {
      const error = thrownBy(() => imtlG(options as never));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain(`'${name}'`);
    }
    expect(imtlG().configure!({ scale: 'sum-tasks' }).name).toBe('imtl-g');
  });
});

describe('imtl-g in the trainer', () => {
  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), imtlG());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry; a misspelt option is named', () => {
    const registry = createRegistry();
    registry.register(imtlG());
    withSmallModel(hardSharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'imtl-g', registry, seed: 2 });
      const report = trainer.step(batch);
      expect(Object.keys(report.weights)).toEqual(['left', 'right']);
      expect(Object.values(report.weights).reduce((s, w) => s + w, 0)).toBeCloseTo(1, 5);
      // The step report carries the solver's report.
      expect(report.diagnostics?.solver?.converged).toBe(true);
      expect(report.diagnostics?.solver?.residual).toBeLessThanOrEqual(1e-6);
      expect(report.warnings).toEqual([]);
      trainer.dispose();

      const configured = new Trainer({ model, weighting: { name: 'imtl-g', options: { scale: 'sum-tasks' } }, registry, seed: 2, site: 'features' });
      expect(Object.values(configured.step(batch).weights).reduce((s, w) => s + w, 0)).toBeCloseTo(2, 5);
      configured.dispose();

      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'imtl-g', options: { scal: 'sum-one' } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain('scal');
    });
  });

  it('warns in the step report when no update has equal projections (3 tasks through a 1-unit feature)', () => {
    // At the 'features' site with a single example and a 1-unit encoder, J is 3×1: rank 1, and the
    // three projections can only be equal at the zero update. IMTL-G has no iteration limit; its
    // solver report says converged: false there, which the engine turns into a warning.
    const three: TaskSpec[] = [...LEFT_RIGHT_TASKS, { name: 'third', kind: 'regression', units: 1 }];
    const model = hardSharing().build({ tasks: three, inputShape: [4], encoder: { type: 'mlp', units: [1], activation: 'tanh' } }, { seed: 3 });
    const inputs = tf.tensor2d([[0.3, -0.2, 0.5, 0.1]]);
    const targets = { left: tf.tensor1d([2]), right: tf.tensor1d([1]), third: tf.tensor1d([-3]) };
    try {
      const trainer = new Trainer({ model, weighting: imtlG(), site: 'features', seed: 2 });
      const report = trainer.step({ inputs, targets });
      expect(report.diagnostics?.values?.rank).toBe(1);
      expect(report.diagnostics?.solver?.converged).toBe(false);
      expect(report.warnings.join('\n')).toMatch(/imtl-g.*solver stopped before converging/);
      trainer.dispose();
    } finally {
      tf.dispose([inputs, targets.left, targets.right, targets.third]);
      model.dispose();
    }
  });

  it('benchmark against equal weighting (site shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: imtlG(), site: 'shared', data, epochs: 4, seed: 42 });
    console.log('imtl-g vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
  }, 60_000);
});
