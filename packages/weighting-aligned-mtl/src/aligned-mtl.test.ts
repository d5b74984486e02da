import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, REFERENCE_JACOBIANS, thrownBy, trainerSmokeCheck, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { alignedMtl, alignedMtlWeights, type AlignedMtlOptions } from './aligned-mtl';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Plain linear algebra written for the tests, independent of the plugin (no eigen-solver).

type Matrix = number[][];
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, k) => sum + x * b[k]!, 0);
const matMul = (a: Matrix, b: Matrix) => a.map((row) => b[0]!.map((_, j) => row.reduce((sum, x, k) => sum + x * b[k]![j]!, 0)));
const matVec = (a: Matrix, v: readonly number[]) => a.map((row) => dot(row, v));
const add = (a: Matrix, b: Matrix, s = 1) => a.map((row, i) => row.map((x, j) => x + s * b[i]![j]!));
const scaleMatrix = (a: Matrix, s: number) => a.map((row) => row.map((x) => x * s));
const identity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
/** u = wᵀJ = Σ_t w_t g_t. */
const combine = (weights: readonly number[], jacobian: Matrix) =>
  jacobian[0]!.map((_, column) => weights.reduce((sum, w, t) => sum + w * jacobian[t]![column]!, 0));
const maxAbs = (values: readonly number[]) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Inverse of a 3×3 matrix by its adjugate. */
function inverse3(m: Matrix): Matrix {
  const [[a, b, c], [d, e, f], [g, h, i]] = m as [[number, number, number], [number, number, number], [number, number, number]];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

/** Eigenvalues of a symmetric 3×3 matrix, closed form (trigonometric solution of the cubic; Smith 1961), decreasing. */
function symmetricEigenvalues3(m: Matrix): number[] {
  const q = (m[0]![0]! + m[1]![1]! + m[2]![2]!) / 3;
  const p1 = m[0]![1]! ** 2 + m[0]![2]! ** 2 + m[1]![2]! ** 2;
  const p2 = (m[0]![0]! - q) ** 2 + (m[1]![1]! - q) ** 2 + (m[2]![2]! - q) ** 2 + 2 * p1;
  const p = Math.sqrt(p2 / 6);
  const b = add(m, identity(3), -q).map((row) => row.map((x) => x / p));
  const detB = b[0]![0]! * (b[1]![1]! * b[2]![2]! - b[1]![2]! * b[2]![1]!) - b[0]![1]! * (b[1]![0]! * b[2]![2]! - b[1]![2]! * b[2]![0]!) + b[0]![2]! * (b[1]![0]! * b[2]![1]! - b[1]![1]! * b[2]![0]!);
  const phi = Math.acos(Math.min(1, Math.max(-1, detB / 2))) / 3;
  const largest = q + 2 * p * Math.cos(phi);
  const smallest = q + 2 * p * Math.cos(phi + (2 * Math.PI) / 3);
  return [largest, 3 * q - largest - smallest, smallest];
}

/** Inverse square root of an SPD 3×3 matrix by the Denman–Beavers iteration (Y → M^½, Z → M^-½). */
function inverseSqrt3(m: Matrix): Matrix {
  let y = m;
  let z = identity(3);
  for (let k = 0; k < 60; k++) {
    const yInverse = inverse3(y);
    const zInverse = inverse3(z);
    y = scaleMatrix(add(y, zInverse), 0.5);
    z = scaleMatrix(add(z, yInverse), 0.5);
  }
  return z;
}

/** Calls weigh as the engine does: G (float32) and the losses as tensors it owns and disposes. */
const weigh = (gramian: Matrix, options: AlignedMtlOptions = {}) => weighGramian(alignedMtl(options), gramian);

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

// ---------------------------------------------------------------------------------------------

describe('aligned-mtl: hand-computed cases', () => {
  it('J2 = I: G = I, every eigenvalue 1, σ_min = 1, B = I, so the weights are the preference u', () => {
    expectClose(weigh(gramianOf(J2)).weights, [1, 1], 12);
    expectClose(weigh(gramianOf(J2), { reduction: 'mean' }).weights, [0.5, 0.5], 12);
    expectClose(weigh(gramianOf(J2), { preference: { task0: 3 } }).weights, [3, 1], 12);
    const { balance, sigma, rank } = alignedMtlWeights(gramianOf(J2), [1, 1]);
    expect(rank).toBe(2);
    expect(sigma).toBeCloseTo(1, 12);
    balance.flat().forEach((v, k) => expect(v).toBeCloseTo(identity(2).flat()[k]!, 12));
  });

  it('J1 = [[-4,1,1],[6,1,1]]: B = σ_min G^{-1/2} from the closed forms of a 2×2 SPD matrix', () => {
    // G = [[18, −22], [−22, 38]]: trace 56, determinant 18·38 − 22² = 200.
    const gramian = gramianOf(J1);
    expect(gramian).toEqual([
      [18, -22],
      [-22, 38],
    ]);
    // Eigenvalues 28 ± √(28² − 200) = 28 ± √584; σ_min = √(28 − √584) ≈ 1.958.
    const smallest = 28 - Math.sqrt(584);
    // √G = (G + √det·I) / √(trace + 2√det) for a 2×2 SPD matrix, so G^{-1/2} = (√G)^{-1}.
    const s = Math.sqrt(200);
    const t = Math.sqrt(56 + 2 * s);
    const root = [
      [(18 + s) / t, -22 / t],
      [-22 / t, (38 + s) / t],
    ];
    expect(matMul(root, root).flat().map((v, k) => v - gramian.flat()[k]!).every((d) => Math.abs(d) < 1e-10)).toBe(true);
    const rootDet = root[0]![0]! * root[1]![1]! - root[0]![1]! * root[1]![0]!;
    const inverseRoot = [
      [root[1]![1]! / rootDet, -root[0]![1]! / rootDet],
      [-root[1]![0]! / rootDet, root[0]![0]! / rootDet],
    ];
    const balance = scaleMatrix(inverseRoot, Math.sqrt(smallest));
    const expectedWeights = matVec(balance, [1, 1]);
    const weights = weigh(gramian).weights;
    expectClose(weights, expectedWeights, 5);
    // torchjd's documented AlignedMTL output for this J (mean preference 1/2): (0.2133, 0.9673, 0.9673).
    expectClose(combine(weigh(gramian, { reduction: 'mean' }).weights, J1), [0.2133, 0.9673, 0.9673], 4);
    expectClose(combine(weights, J1), [0.4266, 1.9346, 1.9346], 3);
  });

  it('J3 (3×3, full rank): w = σ_min G^{-1/2}·1 with the eigenvalues in closed form and G^{-1/2} by Denman–Beavers', () => {
    // Rows g1 = (1,2,3), g2 = (−2,1,0), g3 = (0.5,−1,2):
    // G = [[14, 0, 4.5], [0, 5, −2], [4.5, −2, 5.25]].
    const gramian = gramianOf(J3);
    expect(gramian).toEqual([
      [14, 0, 4.5],
      [0, 5, -2],
      [4.5, -2, 5.25],
    ]);
    const eigenvalues = symmetricEigenvalues3(gramian);
    // det G = det(J)² = 14.5² = 210.25 = the product of the eigenvalues; their sum is the trace 24.25.
    expect(eigenvalues[0]! * eigenvalues[1]! * eigenvalues[2]!).toBeCloseTo(210.25, 8);
    expect(eigenvalues[0]! + eigenvalues[1]! + eigenvalues[2]!).toBeCloseTo(24.25, 10);
    const sigmaMin = Math.sqrt(eigenvalues[2]!);
    const inverseRoot = inverseSqrt3(gramian);
    const expectedWeights = matVec(inverseRoot, [1, 1, 1]).map((v) => sigmaMin * v);
    expectClose(weigh(gramian).weights, expectedWeights, 5);

    // The aligned gradients ĝ_i = Σ_k B_ik g_k are orthogonal, all of norm σ_min (J3 has full rank).
    const balance = scaleMatrix(inverseRoot, sigmaMin);
    const aligned = balance.map((row) => combine(row, J3));
    const alignedGramian = gramianOf(aligned);
    alignedGramian.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? sigmaMin ** 2 : 0, 8)));
    // The update is Σ_i ĝ_i.
    expectClose(combine(weigh(gramian).weights, J3), combine([1, 1, 1], aligned), 4);
  });

  it("scale 'median' and 'rmse' use √(median λ) and √(mean λ) in place of σ_min", () => {
    const gramian = gramianOf(J3);
    const eigenvalues = symmetricEigenvalues3(gramian);
    const inverseRoot = inverseSqrt3(gramian);
    const base = matVec(inverseRoot, [1, 1, 1]);
    expectClose(weigh(gramian, { scale: 'median' }).weights, base.map((v) => Math.sqrt(eigenvalues[1]!) * v), 5);
    expectClose(weigh(gramian, { scale: 'rmse' }).weights, base.map((v) => Math.sqrt(24.25 / 3) * v), 5);
  });

  it('rank-deficient: g2 = 2·g1 and g3 = −g1 keep one eigenvalue; B = v vᵀ (v = the unit eigenvector)', () => {
    // J = [g, 2g, −g] with g = (1, 2, 2): G = 9·a aᵀ with a = (1, 2, −1), one eigenvalue 9·6 = 54,
    // v = a/√6, σ_min = √54, B = √54 · v vᵀ/√54 = a aᵀ/6, and w = B·1 = a·(aᵀ1)/6 = a·2/6.
    const g = [1, 2, 2];
    const jacobian = [g, g.map((x) => 2 * x), g.map((x) => -x)];
    const result = weigh(gramianOf(jacobian));
    expectClose(result.weights, [1 / 3, 2 / 3, -1 / 3], 5);
    expect(result.diagnostics?.values?.rank).toBe(1);
    // The update Σ w_t g_t = (1/3 + 4/3 + 1/3) g = 2g.
    expectClose(combine(result.weights, jacobian), g.map((x) => 2 * x), 4);
  });

  it('zero Jacobian: weights = the preference (B = I), so the update is zero', () => {
    const result = weigh([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(result.weights).toEqual([1, 1, 1]);
    expect(result.diagnostics?.values?.rank).toBe(0);
    expect(combine(result.weights, [new Array(4).fill(0), new Array(4).fill(0), new Array(4).fill(0)])).toEqual([0, 0, 0, 0]);
  });
});

// ---------------------------------------------------------------------------------------------

// Kept local: G goes through float32 below, so rows stay within 1e-2…1e2 (testkit's span 1e-6…1e6), and J is never all zero.
/** A random Jacobian: Gaussian rows scaled 10^±2, repeated, dependent, nearly parallel and zero rows. */
function moderateJacobian(rng: Rng, count: number, columns: number): Matrix {
  const jacobian: Matrix = [];
  for (let t = 0; t < count; t++) {
    const kind = t === 0 ? 0 : rng.int(6);
    const scale = 10 ** rng.uniform(-2, 2);
    if (kind <= 1) jacobian.push(Array.from({ length: columns }, () => rng.normal(0, scale)));
    else if (kind === 2) jacobian.push([...jacobian[rng.int(t)]!]);
    else if (kind === 3) {
      const a = rng.uniform(-2, 2);
      const b = rng.uniform(-2, 2);
      const r = jacobian[rng.int(t)]!;
      const s = jacobian[rng.int(t)]!;
      jacobian.push(r.map((x, k) => a * x + b * s[k]!));
    } else if (kind === 4) {
      const r = jacobian[rng.int(t)]!;
      const size = maxAbs(r) || 1;
      jacobian.push(r.map((x) => x + rng.normal(0, 1e-4 * size)));
    } else jacobian.push(new Array<number>(columns).fill(0));
  }
  return jacobian;
}

describe('aligned-mtl: properties on random Jacobians', () => {
  it('1000 random Jacobians (2–10 tasks, rank-deficient, nearly parallel, scaled 1e-6…1e6, zero): finite weights; zero J gives a zero update', () => {
    const rng = Rng.fromSeed(21);
    for (let trial = 0; trial < 1000; trial++) {
      const jacobian = randomJacobian(rng, trial);
      const count = jacobian.length;
      const zero = trial % 50 === 0; // randomJacobian's all-zero trials
      const gramian = gramianOf(jacobian);
      const { weights, diagnostics } = weigh(gramian);
      expect(weights).toHaveLength(count);
      expect(weights.every(Number.isFinite), `trial ${trial}: ${weights.join(', ')}`).toBe(true);
      expect(diagnostics?.solver?.converged, `trial ${trial}`).toBe(true);
      if (zero) expect(combine(weights, jacobian).every((x) => x === 0)).toBe(true);
    }
  });

  it('the aligned gradient matrix has condition number 1: B G B = σ² × (a projector of rank R)', () => {
    const rng = Rng.fromSeed(5);
    for (let trial = 0; trial < 300; trial++) {
      const count = 2 + rng.int(9);
      const columns = 1 + rng.int(12);
      const jacobian = moderateJacobian(rng, count, columns);
      const gramian = gramianOf(jacobian).map((row) => row.map(Math.fround));
      const { balance, sigma, rank } = alignedMtlWeights(gramian, new Array<number>(count).fill(1));
      expect(rank).toBeGreaterThan(0);
      expect(rank).toBeLessThanOrEqual(Math.min(count, columns));
      // M = Ĵ Ĵᵀ = B G B. A symmetric M with M² = σ² M has eigenvalues in {0, σ²}, so Ĵ's non-zero
      // singular values all equal σ; its trace σ²·R says R of them are non-zero.
      const m = matMul(matMul(balance, gramian), balance);
      const mSquared = matMul(m, m);
      const size = sigma ** 2;
      mSquared.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - size * m[i]![j]!), `trial ${trial}`).toBeLessThan(1e-6 * size * size)));
      const trace = m.reduce((sum, row, i) => sum + row[i]!, 0);
      expect(trace / size, `trial ${trial}`).toBeCloseTo(rank, 6);
    }
  });

  it('permutation-equivariant and invariant to scaling G (w(c²G) = w(G)) on well-conditioned Jacobians', () => {
    const rng = Rng.fromSeed(8);
    for (let trial = 0; trial < 200; trial++) {
      const count = 2 + rng.int(6);
      const columns = count + rng.int(6);
      const jacobian = Array.from({ length: count }, () => {
        const scale = 10 ** rng.uniform(-1, 1);
        return Array.from({ length: columns }, () => rng.normal(0, scale));
      });
      const gramian = gramianOf(jacobian);
      const base = weigh(gramian).weights;
      const tolerance = 1e-3 * Math.max(1, maxAbs(base));
      for (const c2 of [16, 1e-4, 1e6]) {
        const scaled = weigh(scaleMatrix(gramian, c2)).weights;
        scaled.forEach((w, k) => expect(Math.abs(w - base[k]!), `trial ${trial}, c² = ${c2}`).toBeLessThan(tolerance));
      }
      const permutation = rng.permutation(count);
      const permuted = weigh(permutation.map((i) => permutation.map((j) => gramian[i]![j]!))).weights;
      permuted.forEach((w, k) => expect(Math.abs(w - base[permutation[k]!]!), `trial ${trial}`).toBeLessThan(tolerance));
    }
  });

  it('conforms (testkit), claiming permutation invariance and scale invariance of the weights', async () => {
    const report = await checkWeighting(alignedMtl(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.sites).toEqual(['shared', 'features']);
    await checkWeighting(alignedMtl({ reduction: 'mean', scale: 'rmse' }), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
  });
});

// ---------------------------------------------------------------------------------------------

describe('aligned-mtl: options', () => {
  it('refuses unknown options and bad values, naming the option', () => {
    const cases: [AlignedMtlOptions, string][] = [
      [{ reducton: 'mean' } as never, "'reducton'"],
      [{ reduction: 'avg' } as never, "'reduction'"],
      [{ scale: 'max' } as never, "'scale'"],
      [{ preference: { a: -1 } }, "'preference'"],
      [{ preference: [1, 2] } as never, "'preference'"],
      [{ relativeTolerance: 2 }, "'relativeTolerance'"],
      [{ maxSweeps: 0 }, "'maxSweeps'"],
    ];
    for (const [options, named] of cases) {
      const error = thrownBy(() => alignedMtl(options));
      expect(isMtlError(error, 'BAD_CONFIG'), JSON.stringify(options)).toBe(true);
      expect(error.message).toContain(named);
    }
    const unknownTask = thrownBy(() => alignedMtl({ preference: { nope: 1 } }).init({ taskNames: ['a', 'b'], seed: 0 }));
    expect(isMtlError(unknownTask, 'BAD_CONFIG')).toBe(true);
    expect(unknownTask.message).toContain("'nope'");
    expect(alignedMtl().configure!({ reduction: 'mean' }).name).toBe('aligned-mtl');
  });
});

describe('aligned-mtl in the trainer', () => {
  const tasks: TaskSpec[] = [...LEFT_RIGHT_TASKS, { name: 'third', kind: 'regression', units: 1 }];

  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), alignedMtl());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry; a misspelt option is refused by name', () => {
    const registry = createRegistry();
    registry.register(alignedMtl());
    withSmallModel(hardSharing(), tasks, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'aligned-mtl', registry, seed: 2 });
      const report = trainer.step(batch);
      expect(Object.keys(report.weights)).toEqual(['left', 'right', 'third']);
      expect(Object.values(report.weights).every(Number.isFinite)).toBe(true);
      trainer.dispose();
      const features = new Trainer({ model, weighting: { name: 'aligned-mtl', options: { reduction: 'mean' } }, site: 'features', registry, seed: 2 });
      expect(Object.values(features.step(batch).weights).every(Number.isFinite)).toBe(true);
      features.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'aligned-mtl', options: { maxSweep: 1 } }, registry }));
      expect(isMtlError(error)).toBe(true);
      expect((error as Error).message).toContain('maxSweep');
    });
  });

  it("the step report carries the eigen-solver's report; a sweep limit that is hit becomes a warning", () => {
    withSmallModel(hardSharing(), tasks, (model, batch) => {
      const trainer = new Trainer({ model, weighting: alignedMtl(), seed: 2 });
      const report = trainer.step(batch);
      const solver = report.diagnostics?.solver;
      expect(solver?.converged).toBe(true);
      expect(solver?.residual).toBeLessThanOrEqual(1e-12);
      expect(solver?.iterations).toBeGreaterThan(0);
      expect(report.diagnostics?.values?.rank).toBe(3);
      expect(report.diagnostics?.values?.conditionNumber).toBeGreaterThanOrEqual(1);
      expect(report.warnings).toEqual([]);
      trainer.dispose();

      const limited = new Trainer({ model, weighting: alignedMtl({ maxSweeps: 1 }), seed: 2 });
      const warned = limited.step(batch);
      expect(warned.diagnostics?.solver?.converged).toBe(false);
      expect(warned.diagnostics?.solver?.iterations).toBe(1);
      expect(warned.warnings.length).toBe(1);
      expect(warned.warnings[0]).toContain('aligned-mtl');
      limited.dispose();
    });
  });

  it('benchmark against equal weighting on synthetic tasks (default site, shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: alignedMtl(), data, epochs: 4, seed: 42 });
    console.log('aligned-mtl vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  }, 60_000);
});
