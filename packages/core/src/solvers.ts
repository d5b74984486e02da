// Small dense solvers on T×T matrices (T = number of tasks, rarely above a few dozen), in plain
// TypeScript: the gradient-level weightings work on the Gramian G = J·Jᵀ, never on J itself.

/** How a solver ended: the KKT residual (relative to the problem's scale) and its iteration count. */
export interface SolverReport {
  /** The KKT (or, for `symmetricEigen`, off-diagonal) residual, relative to the problem's scale. */
  residual: number;
  /** Iterations of the solver's main loop (Jacobi sweeps for `symmetricEigen`). */
  iterations: number;
  /** Whether `residual` met the solver's tolerance: 1e-6 for the QP solvers, 1e-12 for `symmetricEigen`. */
  converged: boolean;
}

/** A dense matrix as an array of rows. */
export type Matrix = number[][];

/** The product `matrix · vector` (one entry per row). */
export function matVec(matrix: Matrix, vector: readonly number[]): number[] {
  return matrix.map((row) => row.reduce((sum, value, j) => sum + value * vector[j]!, 0));
}

/** The inner product Σ_i a_i b_i (over `a`'s length). */
export function dot(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function maxAbsDiagonal(matrix: Matrix): number {
  return matrix.reduce((m, row, i) => Math.max(m, Math.abs(row[i]!)), 0);
}

/**
 * Solves A x = b for symmetric positive definite A by Cholesky (A = L Lᵀ). Returns null when A is
 * not numerically positive definite.
 */
export function choleskySolve(a: Matrix, b: readonly number[]): number[] | null {
  const n = b.length;
  const l: Matrix = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i]![j]!;
      for (let k = 0; k < j; k++) sum -= l[i]![k]! * l[j]![k]!;
      if (i === j) {
        if (!(sum > 0)) return null;
        l[i]![i] = Math.sqrt(sum);
      } else l[i]![j] = sum / l[j]![j]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i]![k]! * y[k]!;
    y[i] = sum / l[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k]![i]! * x[k]!;
    x[i] = sum / l[i]![i]!;
  }
  return x;
}

/** Options of the QP solvers (`nonnegativeQp`, `minNormPoint`, `dualConeProjectionWeights`). */
export interface NonnegativeQpOptions {
  /** Iteration limit of the active-set loop (default 100·n + 100). */
  maxIterations?: number;
  /** Ridge added to Q, relative to its largest diagonal entry, so a PSD Q becomes PD (default 1e-10). */
  ridge?: number;
}

/**
 * min_{x ≥ 0} ½ xᵀQx + cᵀx for symmetric positive semidefinite Q, by a primal active-set method
 * (Lawson & Hanson's NNLS scheme, with a Cholesky solve on the free set). The problem is first
 * divided by Q's largest diagonal entry, so its answer does not depend on the scale of Q and c
 * together, and a ridge makes a singular Q definite. KKT at the answer: g = Qx + c ≥ 0, x ≥ 0,
 * xᵢgᵢ = 0; `residual` = max_i |min(xᵢ, gᵢ)| on the scaled problem.
 */
export function nonnegativeQp(
  q: Matrix,
  c: readonly number[],
  options: NonnegativeQpOptions = {},
): {
  /** The minimiser, x ≥ 0. */
  x: number[];
  /** Residual, iterations and convergence. */
  report: SolverReport;
} {
  const n = c.length;
  const scale = maxAbsDiagonal(q) || Math.max(...c.map(Math.abs), 1);
  const ridge = (options.ridge ?? 1e-10) * (maxAbsDiagonal(q) / scale || 1);
  // G = J·Jᵀ is PSD, but formed in float32 it can come out slightly indefinite (an eigenvalue of
  // −1e-10 relative, beyond the ridge, seen near the toy problem's Pareto set); then the nearest
  // PSD matrix replaces it, so the Cholesky solves below cannot fail.
  const symmetric = q.map((row, i) => row.map((v, j) => (v + q[j]![i]!) / (2 * scale)));
  const Q = withRidge(repairedPositiveSemidefinite(symmetric, ridge), ridge);
  const C = c.map((v) => v / scale);
  const maxIterations = options.maxIterations ?? 100 * n + 100;
  const tolerance = 1e-12;
  let x = new Array<number>(n).fill(0);
  const free = new Set<number>();
  const gradient = () => matVec(Q, x).map((v, i) => v + C[i]!);
  let iterations = 0;

  const solveFree = (): number[] | null => {
    const indices = [...free].sort((a, b) => a - b);
    const sub = indices.map((i) => indices.map((j) => Q[i]![j]!));
    const rhs = indices.map((i) => -C[i]!);
    const solution = choleskySolve(sub, rhs);
    if (!solution) return null;
    const z = new Array<number>(n).fill(0);
    indices.forEach((i, k) => (z[i] = solution[k]!));
    return z;
  };

  let failed = false;
  while (iterations < maxIterations && !failed) {
    const g = gradient();
    let entering = -1;
    let mostNegative = -tolerance;
    for (let i = 0; i < n; i++) {
      if (!free.has(i) && g[i]! < mostNegative) {
        mostNegative = g[i]!;
        entering = i;
      }
    }
    if (entering < 0) break;
    free.add(entering);
    // Inner loop: move toward the free-set minimiser, dropping variables that reach zero.
    while (iterations < maxIterations) {
      iterations += 1;
      const z = solveFree();
      if (!z) {
        // cannot happen for the PSD-repaired, ridged Q; stop, and let the residual tell
        free.delete(entering);
        failed = true;
        break;
      }
      const blocked = [...free].filter((i) => z[i]! <= 0);
      if (blocked.length === 0) {
        x = z;
        break;
      }
      let step = 1;
      for (const i of blocked) step = Math.min(step, x[i]! / (x[i]! - z[i]!));
      x = x.map((xi, i) => (free.has(i) ? xi + step * (z[i]! - xi) : 0));
      for (const i of [...free]) {
        if (x[i]! <= tolerance * Math.max(1, ...x.map(Math.abs))) {
          free.delete(i);
          x[i] = 0;
        }
      }
    }
  }
  const g = gradient();
  const residual = Math.max(0, ...x.map((xi, i) => Math.abs(Math.min(xi, g[i]!))));
  return { x, report: { residual, iterations, converged: residual <= 1e-6 } };
}

/**
 * The min-norm point of the convex hull of the task gradients: α* = argmin_{α ∈ Δ} αᵀGα (MGDA,
 * Désidéri 2012; Sener & Koltun 2018). Solved as min_{β ≥ 0} ½βᵀGβ − 1ᵀβ, whose KKT conditions
 * (Gβ)ᵢ ≥ 1, equal on the support, are those of the simplex problem for α = β / 1ᵀβ with
 * λ = αᵀGα = 1 / 1ᵀβ. `residual`: max over i of the violation of (Gα)ᵢ ≥ λ, and of |(Gα)ᵢ − λ|
 * on the support, relative to G's largest diagonal entry.
 */
export function minNormPoint(
  gramian: Matrix,
  options: NonnegativeQpOptions = {},
): {
  /** α*, on the simplex (1/T each when G is zero). */
  weights: number[];
  /** Residual, iterations and convergence. */
  report: SolverReport;
} {
  const n = gramian.length;
  if (n === 1) return { weights: [1], report: { residual: 0, iterations: 0, converged: true } };
  const scale = maxAbsDiagonal(gramian);
  if (scale === 0) return { weights: new Array<number>(n).fill(1 / n), report: { residual: 0, iterations: 0, converged: true } };
  // β scales as 1/‖G‖ while the linear term stays −1: solve on G / max diag(G), then normalise.
  const normalized = gramian.map((row) => row.map((v) => v / scale));
  const { x: beta, report } = nonnegativeQp(normalized, new Array<number>(n).fill(-1), options);
  const total = beta.reduce((a, b) => a + b, 0);
  const weights = total > 0 ? beta.map((b) => b / total) : new Array<number>(n).fill(1 / n);
  const product = matVec(gramian, weights);
  const lambda = dot(weights, product);
  let violation = 0;
  for (let i = 0; i < n; i++) {
    violation = Math.max(violation, lambda - product[i]!);
    if (weights[i]! > 1e-12) violation = Math.max(violation, Math.abs(product[i]! - lambda));
  }
  const residual = violation / scale;
  return { weights, report: { residual, iterations: report.iterations, converged: residual <= 1e-6 } };
}

/**
 * Weights of the projection of Jᵀu onto the dual cone of J's rows, {v : Jv ≥ 0} (UPGrad and
 * DualProj, Quinton & Rey 2024): Jᵀw with w = argmin_{w ≥ u} wᵀGw, i.e. u + the solution of the
 * non-negative QP with Q = G, c = Gu. The cone depends only on the rows' directions, so the QP is
 * solved on the cosine matrix Ĝ = D⁻¹GD⁻¹ (D = diag of the row norms) for ŵ = Dw and mapped back:
 * the solver's ridge then weighs every task alike, instead of drowning a task whose gradient is
 * 1e-4 times the largest (measured: an update left at cos −0.1 with such a task on raw G). A zero
 * row constrains nothing and keeps its preference weight.
 */
export function dualConeProjectionWeights(
  gramian: Matrix,
  preference: readonly number[],
  options: NonnegativeQpOptions = {},
): {
  /** w ≥ u, one per row of G; the projected vector is Jᵀw. */
  weights: number[];
  /** The QP's residual, iterations and convergence. */
  report: SolverReport;
} {
  const norms = gramian.map((row, i) => Math.sqrt(Math.max(row[i]!, 0)));
  const rows = norms.flatMap((norm, i) => (norm > 0 && Number.isFinite(norm) ? [i] : []));
  const weights = [...preference];
  if (rows.length === 0) return { weights, report: { residual: 0, iterations: 0, converged: true } };
  // Dividing by the norms amplifies float32 rounding (a cosine of −1 − 2e-8 was measured): clip the
  // cosines to [−1, 1] and repair what is still indefinite BEFORE the linear term is formed.
  const cosines = repairedPositiveSemidefinite(
    rows.map((i) => rows.map((j) => (i === j ? 1 : Math.min(1, Math.max(-1, (gramian[i]![j]! + gramian[j]![i]!) / 2 / (norms[i]! * norms[j]!)))))),
  );
  const start = rows.map((i) => norms[i]! * preference[i]!);
  const { x, report } = nonnegativeQp(cosines, matVec(cosines, start), options);
  rows.forEach((i, k) => (weights[i] = (x[k]! + start[k]!) / norms[i]!));
  return { weights, report };
}

function withRidge(matrix: Matrix, ridge: number): Matrix {
  return matrix.map((row, i) => row.map((v, j) => v + (i === j ? ridge : 0)));
}

/**
 * `matrix` when `matrix + ridge·I` has a Cholesky factor, else its nearest PSD matrix: the repair
 * for Gramians that float32 rounding left slightly indefinite. Callers that also build a linear
 * term from the matrix must build it from the repaired one, or the term leaves the matrix's range.
 */
export function repairedPositiveSemidefinite(matrix: Matrix, ridge = 1e-10): Matrix {
  const scale = maxAbsDiagonal(matrix) || 1;
  if (choleskySolve(withRidge(matrix, ridge * scale), new Array<number>(matrix.length).fill(1))) return matrix;
  return nearestPositiveSemidefinite(matrix);
}

/**
 * The nearest positive semidefinite matrix in the Frobenius norm (Higham 1988): the symmetric part
 * with its negative eigenvalues set to zero.
 */
export function nearestPositiveSemidefinite(matrix: Matrix): Matrix {
  const symmetric = matrix.map((row, i) => row.map((v, j) => (v + matrix[j]![i]!) / 2));
  const { values, vectors } = symmetricEigen(symmetric);
  const clipped = values.map((v) => Math.max(v, 0));
  return symmetric.map((_, i) => symmetric.map((__, j) => clipped.reduce((sum, v, k) => sum + vectors[i]![k]! * v * vectors[j]![k]!, 0)));
}

/** Euclidean projection onto the probability simplex {x ≥ 0, Σx = total} (sort-based, Held et al. 1974). */
export function projectToSimplex(vector: readonly number[], total = 1): number[] {
  const sorted = [...vector].sort((a, b) => b - a);
  let cumulative = 0;
  let threshold = 0;
  for (let k = 0; k < sorted.length; k++) {
    cumulative += sorted[k]!;
    const candidate = (cumulative - total) / (k + 1);
    if (k === sorted.length - 1 || sorted[k + 1]! <= candidate) {
      threshold = candidate;
      break;
    }
  }
  return vector.map((v) => Math.max(v - threshold, 0));
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: A = V diag(values) Vᵀ
 * (of the symmetric part (A + Aᵀ)/2 when A is symmetric only up to rounding),
 * eigenvalues in decreasing order, eigenvectors as the columns of `vectors`. Accurate to working
 * precision for the small matrices here; `report.residual` = off-diagonal Frobenius norm left,
 * relative to ‖A‖_F.
 */
export function symmetricEigen(
  matrix: Matrix,
  options: {
    /** Limit on Jacobi sweeps (default 100). */
    maxSweeps?: number;
  } = {},
): {
  /** Eigenvalues, in decreasing order. */
  values: number[];
  /** Eigenvectors as columns: `vectors[i][k]` is entry i of the k-th vector. */
  vectors: Matrix;
  /** Off-diagonal residual and sweep count. */
  report: SolverReport;
} {
  const n = matrix.length;
  // The symmetric part (A + Aᵀ)/2, which is A itself when A is exactly symmetric: a Gramian off by
  // rounding (2.9e-11 in a 40 × 40 one) otherwise kept the rotations from ever clearing the
  // off-diagonal, and all 100 sweeps ran.
  const a = matrix.map((row, i) => row.map((x, j) => 0.5 * (x + matrix[j]![i]!)));
  const v: Matrix = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  const frobenius = Math.sqrt(a.reduce((s, row) => s + row.reduce((t, x) => t + x * x, 0), 0)) || 1;
  const offDiagonal = () => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += a[i]![j]! ** 2;
    return Math.sqrt(s);
  };
  const maxSweeps = options.maxSweeps ?? 100;
  let sweeps = 0;
  while (sweeps < maxSweeps && offDiagonal() > 1e-15 * frobenius) {
    sweeps += 1;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j]![j]! - a[i]![i]!);
  const residual = offDiagonal() / frobenius;
  return {
    values: order.map((i) => a[i]![i]!),
    vectors: v.map((row) => order.map((i) => row[i]!)),
    report: { residual, iterations: sweeps, converged: residual <= 1e-12 },
  };
}
