import { describe, expect, it } from 'vitest';
import { activePreference, checkPreferenceTasks, dot, dualConeProjections, dualConeProjectionWeights, matVec, minNormPoint, nearestPositiveSemidefinite, nonnegativeQp, prepareNonnegativeQp, projectToSimplex, Rng, symmetricEigen } from '../src/index';

const gramianOf = (jacobian: number[][]) => jacobian.map((a) => jacobian.map((b) => dot(a, b)));

function randomJacobian(rng: Rng, tasks: number, columns: number, kind: number): number[][] {
  const rows = Array.from({ length: tasks }, () => Array.from({ length: columns }, () => rng.normal()));
  if (kind === 1 && tasks > 2) rows[tasks - 1] = rows[0]!.map((v, j) => 0.5 * v - 2 * rows[1]![j]!); // rank-deficient
  if (kind === 2) rows[rng.int(tasks)] = new Array(columns).fill(0); // a zero row
  if (kind === 3 && tasks > 1) rows[1] = rows[0]!.map((v) => v * (1 + 1e-7)); // nearly parallel
  const scale = 10 ** rng.uniform(-6, 6);
  return rows.map((row) => row.map((v) => v * scale));
}

describe('minNormPoint (MGDA)', () => {
  it('hand-worked cases', () => {
    // J1: G = [[18, −22], [−22, 38]]; on the segment α g1 + (1−α) g2 the norm is least at
    // α = (G22 − G12) / (G11 + G22 − 2 G12) = 60 / 100.
    const j1 = minNormPoint(gramianOf([[-4, 1, 1], [6, 1, 1]]));
    expect(j1.weights[0]).toBeCloseTo(0.6, 9);
    expect(j1.weights[1]).toBeCloseTo(0.4, 9);
    // orthonormal gradients: the centre of the simplex
    const j2 = minNormPoint([[1, 0], [0, 1]]);
    expect(j2.weights.map((w) => Number(w.toFixed(9)))).toEqual([0.5, 0.5]);
    // one gradient inside the hull's far side: g2 = 2 g1 → all weight on g1
    const j3 = minNormPoint(gramianOf([[1, 1], [2, 2]]));
    expect(j3.weights[0]).toBeCloseTo(1, 9);
    // a zero Jacobian: any weights, the update is zero
    expect(minNormPoint([[0, 0], [0, 0]]).weights).toEqual([0.5, 0.5]);
  });

  it('satisfies the KKT conditions to 1e-6 on 200 random PSD problems, and is no worse than any vertex or random point', () => {
    const rng = Rng.fromSeed(11);
    for (let trial = 0; trial < 200; trial++) {
      const tasks = 2 + rng.int(9);
      const g = gramianOf(randomJacobian(rng, tasks, 2 + rng.int(12), trial % 4));
      const { weights, report } = minNormPoint(g);
      expect(report.residual).toBeLessThanOrEqual(1e-6);
      expect(weights.every((w) => w >= 0)).toBe(true);
      expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      const value = dot(weights, matVec(g, weights));
      for (let k = 0; k < 5; k++) {
        const other = projectToSimplex(Array.from({ length: tasks }, () => rng.next()));
        expect(value).toBeLessThanOrEqual(dot(other, matVec(g, other)) * (1 + 1e-9) + 1e-12 * g[0]![0]!);
      }
    }
  });
});

describe('nonnegativeQp and the dual-cone projection', () => {
  it('KKT holds on 200 random bounded problems: x ≥ 0, Qx + c ≥ 0, complementarity', () => {
    const rng = Rng.fromSeed(5);
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + rng.int(9);
      const q = gramianOf(randomJacobian(rng, n, 2 + rng.int(12), trial % 4));
      // c = Q r + s with s ≥ 0 keeps the problem bounded below when Q is singular
      const r = Array.from({ length: n }, () => rng.normal());
      const c = matVec(q, r).map((v) => v + Math.abs(rng.normal()) * Math.max(...q.map((row, i) => row[i]!)));
      const { x, report } = nonnegativeQp(q, c);
      expect(report.residual).toBeLessThanOrEqual(1e-6);
      const scale = Math.max(...q.map((row, i) => Math.abs(row[i]!))) || 1;
      const g = matVec(q, x).map((v, i) => v + c[i]!);
      x.forEach((xi, i) => {
        expect(xi).toBeGreaterThanOrEqual(0);
        expect(g[i]! / scale).toBeGreaterThanOrEqual(-1e-6);
      });
    }
  });

  it('projecting onto the dual cone gives an update that conflicts with no task', () => {
    const rng = Rng.fromSeed(8);
    for (let trial = 0; trial < 200; trial++) {
      const tasks = 2 + rng.int(6);
      const jacobian = randomJacobian(rng, tasks, 3 + rng.int(8), trial % 4);
      const g = gramianOf(jacobian);
      const preference = new Array(tasks).fill(0).map((_, i) => (i === trial % tasks ? 1 : 0));
      const { weights } = dualConeProjectionWeights(g, preference);
      // J·(Jᵀw) = G w ≥ 0 elementwise
      const product = matVec(g, weights);
      const scale = Math.max(...g.map((row, i) => row[i]!)) || 1;
      product.forEach((p) => expect(p / scale).toBeGreaterThanOrEqual(-1e-6));
      weights.forEach((w, i) => expect(w).toBeGreaterThanOrEqual(preference[i]! - 1e-12));
    }
  });
});

describe('projectToSimplex', () => {
  it('projects onto the simplex (hand-worked)', () => {
    expect(projectToSimplex([0.5, 0.5])).toEqual([0.5, 0.5]);
    expect(projectToSimplex([2, 0])).toEqual([1, 0]);
    // (1, 0.5, −1): threshold (1 + 0.5 − 1) / 2 = 0.25 → (0.75, 0.25, 0)
    expect(projectToSimplex([1, 0.5, -1])).toEqual([0.75, 0.25, 0]);
    expect(projectToSimplex([1, 1, 1, 1], 2)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });
});

describe('prepareNonnegativeQp and dualConeProjections', () => {
  it('a prepared Q gives nonnegativeQp\'s answers, cold or warm-started from another answer (which takes fewer iterations)', () => {
    const rng = Rng.fromSeed(12);
    let cold = 0;
    let warm = 0;
    for (let trial = 0; trial < 50; trial++) {
      const n = 2 + rng.int(30);
      const q = gramianOf(randomJacobian(rng, n, 1 + rng.int(40), trial % 4));
      const c1 = Array.from({ length: n }, () => rng.normal());
      const c2 = c1.map((v) => v + 0.01 * rng.normal());
      const qp = prepareNonnegativeQp(q);
      const first = qp.solve(c1);
      const reference = nonnegativeQp(q, c2);
      const fresh = qp.solve(c2);
      const started = qp.solve(c2, first.x);
      // the same KKT quality as a cold start, and the same optimal value (x itself is not unique
      // to rounding when Q is singular, as for the rank-deficient kinds here)
      expect(started.report.residual).toBeLessThanOrEqual(Math.max(1e-9, 2 * fresh.report.residual));
      const objective = (x: number[]) => 0.5 * dot(x, matVec(q, x)) + dot(c2, x);
      const best = objective(reference.x);
      const tolerance = 1e-9 * Math.max(1, Math.abs(best));
      expect(Math.abs(objective(fresh.x) - best)).toBeLessThanOrEqual(tolerance);
      expect(Math.abs(objective(started.x) - best)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(best)));
      cold += fresh.report.iterations;
      warm += started.report.iterations;
    }
    expect(warm).toBeLessThan(cold / 2);
  });

  it('dualConeProjections equals one dualConeProjectionWeights per preference', () => {
    const rng = Rng.fromSeed(13);
    for (let trial = 0; trial < 20; trial++) {
      const n = 2 + rng.int(12);
      const g = gramianOf(randomJacobian(rng, n, 1 + rng.int(20), trial % 4));
      const preferences = Array.from({ length: 3 }, () => Array.from({ length: n }, () => rng.uniform()));
      const together = dualConeProjections(g, preferences);
      preferences.forEach((preference, k) => {
        const alone = dualConeProjectionWeights(g, preference);
        alone.weights.forEach((w, i) => expect(together[k]!.weights[i]).toBeCloseTo(w, 12));
      });
    }
  });
});

describe('symmetricEigen', () => {
  it('an empty matrix has no eigenvalues and has converged; a 1×1 one is its own', () => {
    expect(symmetricEigen([])).toEqual({ values: [], vectors: [], report: { residual: 0, iterations: 0, converged: true } });
    const single = symmetricEigen([[-2.5]]);
    expect(single.values).toEqual([-2.5]);
    expect(single.vectors).toEqual([[1]]);
    expect(single.report.converged).toBe(true);
  });

  it('hand-worked 2×2: [[2, 1], [1, 2]] has eigenvalues 3 and 1 with vectors (1, 1)/√2 and (1, −1)/√2', () => {
    const { values, vectors } = symmetricEigen([[2, 1], [1, 2]]);
    expect(values[0]).toBeCloseTo(3, 12);
    expect(values[1]).toBeCloseTo(1, 12);
    expect(Math.abs(vectors[0]![0]!)).toBeCloseTo(Math.SQRT1_2, 12);
    expect(vectors[0]![0]! * vectors[1]![0]!).toBeGreaterThan(0);
  });

  it('a matrix symmetric only up to rounding converges in about two QR steps per eigenvalue, to its symmetric part', () => {
    // 40 × 40 with off-diagonal pairs differing in the 11th digit (a Gramian formed as block
    // sums); before the symmetric part was taken, the Jacobi solver then in use ran all 100 sweeps
    // and did not converge.
    const rng = Rng.fromSeed(8);
    const exact = gramianOf(randomJacobian(rng, 40, 60, 0));
    const rounded = exact.map((row, i) => row.map((x, j) => (i < j ? x * (1 + 1e-11 * (rng.uniform() - 0.5)) : x)));
    const { values, report } = symmetricEigen(rounded);
    expect(report.converged).toBe(true);
    expect(report.residual).toBeLessThanOrEqual(1e-13);
    expect(report.iterations).toBeLessThanOrEqual(3 * 40);
    const reference = symmetricEigen(exact).values;
    values.forEach((v, k) => expect(Math.abs(v - reference[k]!)).toBeLessThanOrEqual(1e-8 * reference[0]!));
  });

  it('reconstructs random symmetric matrices with orthonormal vectors', () => {
    const rng = Rng.fromSeed(2);
    for (let trial = 0; trial < 100; trial++) {
      const n = 1 + rng.int(10);
      const a = gramianOf(randomJacobian(rng, n, 1 + rng.int(10), trial % 4));
      const scale = Math.max(...a.map((row, i) => row[i]!)) || 1;
      const { values, vectors, report } = symmetricEigen(a);
      expect(report.converged).toBe(true);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let rebuilt = 0;
          let gram = 0;
          for (let k = 0; k < n; k++) {
            rebuilt += vectors[i]![k]! * values[k]! * vectors[j]![k]!;
            gram += vectors[k]![i]! * vectors[k]![j]!;
          }
          expect(Math.abs(rebuilt - a[i]![j]!) / scale).toBeLessThan(1e-10);
          expect(Math.abs(gram - (i === j ? 1 : 0))).toBeLessThan(1e-10);
        }
      }
      for (let k = 1; k < n; k++) expect(values[k - 1]!).toBeGreaterThanOrEqual(values[k]!);
    }
  });
});

describe('robustness found on real Gramians', () => {
  // g1 ≈ 2·g2 with a rounding error that makes det(G) = −4e-9 < 0: an eigenvalue of about −8e-10,
  // below the solver's relative ridge, as float32 Gramians of nearly parallel gradients can be.
  const indefinite = [
    [4, 2],
    [2, 1 - 1e-9],
  ];

  it('nonnegativeQp and minNormPoint still converge on a slightly indefinite Gramian', () => {
    expect(symmetricEigen(indefinite).values[1]).toBeLessThan(-1e-10);
    const { weights, report } = minNormPoint(indefinite);
    expect(report.converged).toBe(true);
    expect(report.residual).toBeLessThanOrEqual(1e-6);
    // the shorter gradient g2 is the min-norm point of the (nearly degenerate) hull
    expect(weights[0]).toBeCloseTo(0, 6);
    expect(weights[1]).toBeCloseTo(1, 6);
  });

  it('nearestPositiveSemidefinite clips negative eigenvalues only', () => {
    const repaired = nearestPositiveSemidefinite(indefinite);
    expect(Math.min(...symmetricEigen(repaired).values)).toBeGreaterThanOrEqual(-1e-15);
    expect(Math.abs(repaired[0]![0]! - 4)).toBeLessThan(1e-8);
    const psd = [[2, 1], [1, 2]];
    expect(nearestPositiveSemidefinite(psd).flat().map((v) => Number(v.toFixed(12)))).toEqual([2, 1, 1, 2]);
  });

  it('the dual-cone projection does not conflict with a task whose gradient is 1e-4 of another', () => {
    const jacobian = [[1, 0.2, 0], [-1e-4, 0, 1e-5]];
    const g = gramianOf(jacobian);
    for (const preference of [[1, 0], [0.5, 0.5], [1, 1]]) {
      const { weights } = dualConeProjectionWeights(g, preference);
      const update = [0, 1, 2].map((k) => weights[0]! * jacobian[0]![k]! + weights[1]! * jacobian[1]![k]!);
      const cosine = (row: number[]) => dot(update, row) / Math.sqrt(dot(update, update) * dot(row, row));
      expect(cosine(jacobian[1]!)).toBeGreaterThanOrEqual(-1e-6);
      expect(cosine(jacobian[0]!)).toBeGreaterThanOrEqual(-1e-6);
    }
  });
});

describe('task preferences', () => {
  const context = { taskNames: ['a', 'b', 'c'], seed: 0 };
  it('resolve by position or by name for the active tasks, with mean/sum defaults', () => {
    expect(activePreference('x', undefined, 'mean', ['a', 'c'], [0, 2])).toEqual([0.5, 0.5]);
    expect(activePreference('x', undefined, 'sum', ['a', 'c'], [0, 2])).toEqual([1, 1]);
    expect(activePreference('x', [1, 2, 3], 'mean', ['a', 'c'], [0, 2])).toEqual([1, 3]);
    expect(activePreference('x', { a: 4, b: 5, c: 6 }, 'mean', ['b'], [1])).toEqual([5]);
  });
  it('name what is wrong', () => {
    expect(() => checkPreferenceTasks('upgrad', [1, 2], context)).toThrowError(/has 2 entries but the model has 3 tasks/);
    expect(() => checkPreferenceTasks('upgrad', { a: 1, b: 1, d: 1 }, context)).toThrowError(/names task 'd'/);
  });
});
