// Small dense solvers on T×T matrices (T = number of tasks, rarely above a few dozen), in plain
// TypeScript: the gradient-level weightings work on the Gramian G = J·Jᵀ, never on J itself.

/** How a solver ended: the KKT residual (relative to the problem's scale) and its iteration count. */
export interface SolverReport {
  /** The KKT (or, for `symmetricEigen`, off-diagonal) residual, relative to the problem's scale. */
  residual: number;
  /** Iterations of the solver's main loop (implicit QR steps for `symmetricEigen`). */
  iterations: number;
  /** Whether `residual` met the solver's tolerance: 1e-6 for the QP solvers, 1e-12 for `symmetricEigen`. */
  converged: boolean;
}

/** A dense matrix as an array of rows. */
export type Matrix = number[][];

/** The product `matrix · vector` (one entry per row). */
export function matVec(matrix: Matrix, vector: readonly number[]): number[] {
  return matrix.map((row) => {
    let sum = 0;
    for (let j = 0; j < row.length; j++) sum += row[j]! * vector[j]!;
    return sum;
  });
}

/** The inner product Σ_i a_i b_i (over `a`'s length). */
export function dot(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function maxAbsDiagonal(matrix: Matrix): number {
  let m = 0;
  for (let i = 0; i < matrix.length; i++) m = Math.max(m, Math.abs(matrix[i]![i]!));
  return m;
}

// The solvers below work on n × n matrices stored row by row in one Float64Array ("flat"): at
// T = 40 tasks the number[][] versions spent most of their time allocating rows (UPGrad's 40
// projections took 22 ms a step, CAGrad's search 38 ms).

function toFlat(matrix: Matrix): Float64Array {
  const n = matrix.length;
  const flat = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = matrix[i]!;
    for (let j = 0; j < n; j++) flat[i * n + j] = row[j]!;
  }
  return flat;
}

function fromFlat(flat: Float64Array, n: number): Matrix {
  return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * n, (i + 1) * n)));
}

/** (A + Aᵀ)/2 of a flat matrix, times `factor`. */
function symmetricPart(a: Float64Array, n: number, factor = 1): Float64Array {
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = ((a[i * n + j]! + a[j * n + i]!) / 2) * factor;
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
  return s;
}

/**
 * Cholesky factor of the leading k × k block of the flat `a` (row stride `stride`) into `l`
 * (k × k, lower triangle); false when the block is not numerically positive definite.
 */
function choleskyFactor(a: Float64Array, stride: number, k: number, l: Float64Array): boolean {
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * stride + j]!;
      for (let m = 0; m < j; m++) sum -= l[i * k + m]! * l[j * k + m]!;
      if (i === j) {
        if (!(sum > 0)) return false;
        l[i * k + i] = Math.sqrt(sum);
      } else l[i * k + j] = sum / l[j * k + j]!;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b in place in `b` for the k × k factor `l` (row stride `stride`). */
function choleskySubstitute(l: Float64Array, stride: number, k: number, b: Float64Array): void {
  for (let i = 0; i < k; i++) {
    let sum = b[i]!;
    for (let m = 0; m < i; m++) sum -= l[i * stride + m]! * b[m]!;
    b[i] = sum / l[i * stride + i]!;
  }
  for (let i = k - 1; i >= 0; i--) {
    let sum = b[i]!;
    for (let m = i + 1; m < k; m++) sum -= l[m * stride + i]! * b[m]!;
    b[i] = sum / l[i * stride + i]!;
  }
}

/**
 * Solves A x = b for symmetric positive definite A by Cholesky (A = L Lᵀ). Returns null when A is
 * not numerically positive definite.
 */
export function choleskySolve(a: Matrix, b: readonly number[]): number[] | null {
  const n = b.length;
  const l = new Float64Array(n * n);
  if (!choleskyFactor(toFlat(a), n, n, l)) return null;
  const x = Float64Array.from(b);
  choleskySubstitute(l, n, n, x);
  return Array.from(x);
}

/** Options of the QP solvers (`nonnegativeQp`, `minNormPoint`, `dualConeProjectionWeights`). */
export interface NonnegativeQpOptions {
  /** Iteration limit of the active-set loop (default 100·n + 100). */
  maxIterations?: number;
  /** Ridge added to Q, relative to its largest diagonal entry, so a PSD Q becomes PD (default 1e-10). */
  ridge?: number;
}

/** What `nonnegativeQp` and a prepared QP's `solve` return. */
export interface NonnegativeQpResult {
  /** The minimiser, x ≥ 0. */
  x: number[];
  /** Residual, iterations and convergence. */
  report: SolverReport;
}

/** A QP's matrix made ready once for many linear terms (see `prepareNonnegativeQp`). */
export interface PreparedNonnegativeQp {
  /**
   * min_{x ≥ 0} ½ xᵀQx + cᵀx for this Q; the same answer as `nonnegativeQp(q, c, options)`.
   * `start`, a feasible point (x ≥ 0, e.g. the answer for a nearby c), starts the active set at
   * its support: a few iterations instead of one per variable of the support.
   */
  solve(c: readonly number[], start?: readonly number[]): NonnegativeQpResult;
}

/**
 * min_{x ≥ 0} ½ xᵀQx + cᵀx for symmetric positive semidefinite Q, by a primal active-set method
 * (Lawson & Hanson's NNLS scheme, with a Cholesky solve on the free set). The problem is first
 * divided by Q's largest diagonal entry, so its answer does not depend on the scale of Q and c
 * together, and a ridge makes a singular Q definite. KKT at the answer: g = Qx + c ≥ 0, x ≥ 0,
 * xᵢgᵢ = 0; `residual` = max_i |min(xᵢ, gᵢ)| on the scaled problem.
 */
export function nonnegativeQp(q: Matrix, c: readonly number[], options: NonnegativeQpOptions = {}): NonnegativeQpResult {
  return prepareNonnegativeQp(q, options).solve(c);
}

/**
 * `nonnegativeQp` for one Q and many linear terms: Q is scaled, symmetrised, repaired and ridged
 * once (UPGrad solves T problems on one Gramian, CAGrad a dozen in its search on τ).
 */
export function prepareNonnegativeQp(q: Matrix, options: NonnegativeQpOptions = {}): PreparedNonnegativeQp {
  const n = q.length;
  const flat = toFlat(q);
  const diagonal = maxAbsDiagonal(q);
  const build = (scale: number): Float64Array => {
    const ridge = (options.ridge ?? 1e-10) * (diagonal / scale || 1);
    // G = J·Jᵀ is PSD, but formed in float32 it can come out slightly indefinite (an eigenvalue of
    // −1e-10 relative, beyond the ridge, seen near the toy problem's Pareto set); then the nearest
    // PSD matrix replaces it, so the Cholesky solves below cannot fail.
    const Q = repairedFlat(symmetricPart(flat, n, 1 / scale), n, ridge);
    for (let i = 0; i < n; i++) Q[i * n + i]! += ridge;
    return Q;
  };
  // Q's own scale, unless its diagonal is zero (then Q is zero up to repair, and c sets the scale).
  const fixed = diagonal > 0 ? build(diagonal) : null;
  const workspace = qpWorkspace(n);
  return {
    solve(c: readonly number[], start?: readonly number[]): NonnegativeQpResult {
      let scale = diagonal;
      if (!(scale > 0)) {
        scale = 1;
        for (const v of c) scale = Math.max(scale, Math.abs(v));
      }
      const scaled = new Float64Array(n);
      for (let i = 0; i < n; i++) scaled[i] = c[i]! / scale;
      return activeSetQp(fixed ?? build(scale), n, scaled, options.maxIterations ?? 100 * n + 100, workspace, start);
    },
  };
}

/** Buffers of one QP size, reused by every solve of a prepared QP. */
interface QpWorkspace {
  x: Float64Array;
  z: Float64Array;
  free: Uint8Array;
  order: Int32Array;
  factor: Float64Array;
  rhs: Float64Array;
  g: Float64Array;
}

function qpWorkspace(n: number): QpWorkspace {
  return {
    x: new Float64Array(n),
    z: new Float64Array(n),
    free: new Uint8Array(n),
    order: new Int32Array(n),
    factor: new Float64Array(n * n),
    rhs: new Float64Array(n),
    g: new Float64Array(n),
  };
}

/**
 * The active-set loop of `nonnegativeQp` on the scaled, repaired, ridged Q (flat) and C, from
 * x = 0 or from a feasible `start`. The Cholesky factor of the free block grows by one row when a
 * variable enters (O(k²)) and is rebuilt only when one leaves.
 */
function activeSetQp(Q: Float64Array, n: number, C: Float64Array, maxIterations: number, workspace: QpWorkspace, start?: readonly number[]): NonnegativeQpResult {
  const tolerance = 1e-12;
  // The free variables in the order they entered (`order`), and the Cholesky factor of Q on them
  // (row a of `factor` at a·n): L Lᵀ = Q[order, order].
  const { x, z, free, order, factor, rhs, g } = workspace;
  x.fill(0);
  free.fill(0);
  let size = 0;
  // g = Qx + C over the free columns only (x is zero elsewhere; Q is symmetric, so by its rows).
  const gradient = () => {
    g.set(C);
    for (let a = 0; a < size; a++) {
      const j = order[a]!;
      const xj = x[j]!;
      if (xj === 0) continue;
      const row = j * n;
      for (let i = 0; i < n; i++) g[i]! += Q[row + i]! * xj;
    }
  };
  // Appends variable i to the factor (one new row); false if the block would not be definite.
  const grow = (i: number): boolean => {
    const row = size * n;
    let diagonal = Q[i * n + i]!;
    for (let a = 0; a < size; a++) {
      let sum = Q[order[a]! * n + i]!;
      for (let b = 0; b < a; b++) sum -= factor[a * n + b]! * factor[row + b]!;
      const value = sum / factor[a * n + a]!;
      factor[row + a] = value;
      diagonal -= value * value;
    }
    if (!(diagonal > 0)) return false;
    factor[row + size] = Math.sqrt(diagonal);
    order[size] = i;
    size += 1;
    free[i] = 1;
    return true;
  };
  // Rebuilds the factor on the variables still free, in their order of entry.
  const rebuild = (): boolean => {
    const kept = Array.from(order.subarray(0, size)).filter((i) => free[i]);
    size = 0;
    free.fill(0);
    return kept.every(grow);
  };
  // The minimiser of the problem restricted to the free set (others at 0), into z.
  const solveFree = (): void => {
    for (let a = 0; a < size; a++) rhs[a] = -C[order[a]!]!;
    choleskySubstitute(factor, n, size, rhs);
    z.fill(0);
    for (let a = 0; a < size; a++) z[order[a]!] = rhs[a]!;
  };
  let iterations = 0;
  let failed = false;
  // Inner loop: move toward the free-set minimiser, dropping variables that reach zero.
  const descend = () => {
    while (iterations < maxIterations) {
      iterations += 1;
      solveFree();
      let step = 1;
      let blocked = false;
      for (let a = 0; a < size; a++) {
        const i = order[a]!;
        if (z[i]! <= 0) {
          blocked = true;
          step = Math.min(step, x[i]! / (x[i]! - z[i]!));
        }
      }
      if (!blocked) {
        x.set(z);
        return;
      }
      let largest = 1;
      for (let i = 0; i < n; i++) {
        x[i] = free[i] ? x[i]! + step * (z[i]! - x[i]!) : 0;
        largest = Math.max(largest, Math.abs(x[i]!));
      }
      for (let i = 0; i < n; i++) {
        if (free[i] && x[i]! <= tolerance * largest) {
          free[i] = 0;
          x[i] = 0;
        }
      }
      // cannot fail for the PSD-repaired, ridged Q; if it does, stop and let the residual tell
      if (!rebuild()) {
        failed = true;
        return;
      }
    }
  };

  if (start) {
    // A warm start: the previous solution's support is the first free set.
    for (let i = 0; i < n; i++) {
      if (start[i]! > 0 && Number.isFinite(start[i]!)) {
        x[i] = start[i]!;
        if (!grow(i)) x[i] = 0;
      }
    }
    if (size > 0) descend();
  }
  while (iterations < maxIterations && !failed) {
    gradient();
    let entering = -1;
    let mostNegative = -tolerance;
    for (let i = 0; i < n; i++) {
      if (!free[i] && g[i]! < mostNegative) {
        mostNegative = g[i]!;
        entering = i;
      }
    }
    if (entering < 0) break;
    if (!grow(entering)) break;
    descend();
  }
  // the KKT residual from the whole of x (not only the free columns)
  for (let i = 0; i < n; i++) {
    let sum = C[i]!;
    for (let j = 0; j < n; j++) sum += Q[i * n + j]! * x[j]!;
    g[i] = sum;
  }
  let residual = 0;
  for (let i = 0; i < n; i++) residual = Math.max(residual, Math.abs(Math.min(x[i]!, g[i]!)));
  return { x: Array.from(x), report: { residual, iterations, converged: residual <= 1e-6 } };
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
  return dualConeProjections(gramian, [preference], options)[0]!;
}

/**
 * `dualConeProjectionWeights` for several preference vectors on one Gramian (UPGrad projects
 * every task's gradient): the cosine matrix is formed and repaired once.
 */
export function dualConeProjections(
  gramian: Matrix,
  preferences: readonly (readonly number[])[],
  options: NonnegativeQpOptions = {},
): {
  /** w ≥ u, one per row of G; the projected vector is Jᵀw. */
  weights: number[];
  /** The QP's residual, iterations and convergence. */
  report: SolverReport;
}[] {
  const norms = gramian.map((row, i) => Math.sqrt(Math.max(row[i]!, 0)));
  const rows = norms.flatMap((norm, i) => (norm > 0 && Number.isFinite(norm) ? [i] : []));
  if (rows.length === 0) return preferences.map((preference) => ({ weights: [...preference], report: { residual: 0, iterations: 0, converged: true } }));
  // Dividing by the norms amplifies float32 rounding (a cosine of −1 − 2e-8 was measured): clip the
  // cosines to [−1, 1] and repair what is still indefinite BEFORE the linear term is formed.
  const cosines = repairedPositiveSemidefinite(
    rows.map((i) => rows.map((j) => (i === j ? 1 : Math.min(1, Math.max(-1, (gramian[i]![j]! + gramian[j]![i]!) / 2 / (norms[i]! * norms[j]!)))))),
  );
  const qp = prepareNonnegativeQp(cosines, options);
  return preferences.map((preference) => {
    const weights = [...preference];
    const start = rows.map((i) => norms[i]! * preference[i]!);
    const { x, report } = qp.solve(matVec(cosines, start));
    rows.forEach((i, k) => (weights[i] = (x[k]! + start[k]!) / norms[i]!));
    return { weights, report };
  });
}

/** The flat `a` itself when a + ridge·scale·I has a Cholesky factor, else its nearest PSD matrix. */
function repairedFlat(a: Float64Array, n: number, ridge: number): Float64Array {
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(a[i * n + i]!));
  const shifted = Float64Array.from(a);
  for (let i = 0; i < n; i++) shifted[i * n + i]! += ridge * (scale || 1);
  if (choleskyFactor(shifted, n, n, new Float64Array(n * n))) return a;
  return nearestFlat(a, n);
}

/** Higham's nearest PSD matrix of the flat `a` (see `nearestPositiveSemidefinite`). */
function nearestFlat(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = tridiagonalEigen(symmetricPart(a, n), n, 30 * Math.max(n, 1));
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const value = values[k]!;
    if (!(value > 0)) continue;
    for (let i = 0; i < n; i++) {
      const vi = vectors[i * n + k]! * value;
      if (vi === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += vi * vectors[j * n + k]!;
    }
  }
  return out;
}

/**
 * `matrix` when `matrix + ridge·I` has a Cholesky factor, else its nearest PSD matrix: the repair
 * for Gramians that float32 rounding left slightly indefinite. Callers that also build a linear
 * term from the matrix must build it from the repaired one, or the term leaves the matrix's range.
 */
export function repairedPositiveSemidefinite(matrix: Matrix, ridge = 1e-10): Matrix {
  const n = matrix.length;
  const flat = toFlat(matrix);
  const repaired = repairedFlat(flat, n, ridge);
  return repaired === flat ? matrix : fromFlat(repaired, n);
}

/**
 * The nearest positive semidefinite matrix in the Frobenius norm (Higham 1988): the symmetric part
 * with its negative eigenvalues set to zero.
 */
export function nearestPositiveSemidefinite(matrix: Matrix): Matrix {
  const n = matrix.length;
  return fromFlat(nearestFlat(toFlat(matrix), n), n);
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
 * Eigen-decomposition of a symmetric matrix: A = V diag(values) Vᵀ (of the symmetric part
 * (A + Aᵀ)/2 when A is symmetric only up to rounding), eigenvalues in decreasing order,
 * eigenvectors as the columns of `vectors`. Householder reduction to tridiagonal form, then implicit
 * QR steps with Wilkinson's shift (Golub & Van Loan §8.3), the rotations accumulated into V:
 * about 6n³ flops, against the 6n³ per sweep (7 sweeps at n = 40) of the cyclic Jacobi method this
 * replaced. `report.residual` = ‖AV − V·diag(values)‖_F / ‖A‖_F; `report.iterations` counts the
 * QR steps.
 */
export function symmetricEigen(
  matrix: Matrix,
  options: {
    /** Limit on implicit QR steps (default 30·n); reaching it is reported as not converged. */
    maxIterations?: number;
    /** Former name of `maxIterations` (the Jacobi solver's sweep limit), read when that is absent. */
    maxSweeps?: number;
  } = {},
): {
  /** Eigenvalues, in decreasing order. */
  values: number[];
  /** Eigenvectors as columns: `vectors[i][k]` is entry i of the k-th vector. */
  vectors: Matrix;
  /** Residual and QR step count. */
  report: SolverReport;
} {
  const n = matrix.length;
  // The symmetric part (A + Aᵀ)/2, which is A itself when A is exactly symmetric.
  const limit = options.maxIterations ?? options.maxSweeps ?? 30 * Math.max(n, 1);
  const { values, vectors, report } = tridiagonalEigen(symmetricPart(toFlat(matrix), n), n, limit);
  return { values: Array.from(values), vectors: fromFlat(vectors, n), report };
}

/**
 * The eigen-decomposition of the flat symmetric `a` (left as it was): eigenvalues in decreasing
 * order, eigenvectors as the columns of the flat `vectors`.
 */
function tridiagonalEigen(a: Float64Array, n: number, maxIterations: number): { values: Float64Array; vectors: Float64Array; report: SolverReport } {
  const t = Float64Array.from(a);
  // Vᵀ, row by row (row k is the k-th vector), so every update below runs along contiguous rows.
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vt[i * n + i] = 1;
  const w = new Float64Array(n);
  const y = new Float64Array(n);
  const p = new Float64Array(n);
  // 1. Householder: for column k, H = I − 2uuᵀ (u on rows k+1…n−1) zeroes t[k+2…, k]; the trailing
  //    block S becomes HSH = S − u·qᵀ − q·uᵀ with q = 2(Su) − 2(uᵀSu)u, and V ← V·H.
  for (let k = 0; k < n - 2; k++) {
    let sigma = 0;
    for (let i = k + 1; i < n; i++) sigma += t[i * n + k]! ** 2;
    sigma = Math.sqrt(sigma);
    const x0 = t[(k + 1) * n + k]!;
    let tail = 0;
    for (let i = k + 2; i < n; i++) tail += t[i * n + k]! ** 2;
    if (tail === 0) continue; // already tridiagonal in this column
    const alpha = x0 > 0 ? -sigma : sigma;
    // u = (x − αe₁)/‖x − αe₁‖ on rows k+1…n−1, kept in w[k+1…]
    w[k + 1] = x0 - alpha;
    for (let i = k + 2; i < n; i++) w[i] = t[i * n + k]!;
    let norm = 0;
    for (let i = k + 1; i < n; i++) norm += w[i]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = k + 1; i < n; i++) w[i]! /= norm;
    let uSu = 0;
    for (let i = k + 1; i < n; i++) {
      let sum = 0;
      for (let j = k + 1; j < n; j++) sum += t[i * n + j]! * w[j]!;
      p[i] = sum;
      uSu += w[i]! * sum;
    }
    for (let i = k + 1; i < n; i++) p[i] = 2 * p[i]! - 2 * uSu * w[i]!;
    for (let i = k + 1; i < n; i++) {
      const wi = w[i]!;
      const pi = p[i]!;
      for (let j = k + 1; j < n; j++) t[i * n + j]! -= wi * p[j]! + pi * w[j]!;
    }
    t[(k + 1) * n + k] = alpha;
    t[k * n + k + 1] = alpha;
    for (let i = k + 2; i < n; i++) {
      t[i * n + k] = 0;
      t[k * n + i] = 0;
    }
    // Vᵀ ← H·Vᵀ = Vᵀ − 2u(uᵀVᵀ)
    y.fill(0);
    for (let j = k + 1; j < n; j++) {
      const wj = w[j]!;
      for (let r = 0; r < n; r++) y[r]! += wj * vt[j * n + r]!;
    }
    for (let j = k + 1; j < n; j++) {
      const wj = 2 * w[j]!;
      for (let r = 0; r < n; r++) vt[j * n + r]! -= wj * y[r]!;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  for (let i = 0; i < n; i++) d[i] = t[i * n + i]!;
  for (let i = 0; i < n - 1; i++) e[i] = 0.5 * (t[(i + 1) * n + i]! + t[i * n + i + 1]!);
  // 2. Implicit symmetric QR on (d, e): deflate negligible off-diagonals from the bottom; on the
  //    unreduced block [l, m], one step with the shift μ = the eigenvalue of the trailing 2 × 2
  //    nearer d[m], chasing the bulge down with rotations R = [[c, s], [−s, c]] on (k, k+1):
  //    T ← R T Rᵀ and V ← V Rᵀ.
  let iterations = 0;
  let m = n - 1;
  while (m > 0) {
    if (Math.abs(e[m - 1]!) <= Number.EPSILON * (Math.abs(d[m - 1]!) + Math.abs(d[m]!))) {
      e[m - 1] = 0;
      m -= 1;
      continue;
    }
    if (iterations >= maxIterations) break;
    let l = m - 1;
    while (l > 0 && Math.abs(e[l - 1]!) > Number.EPSILON * (Math.abs(d[l - 1]!) + Math.abs(d[l]!))) l -= 1;
    if (l > 0) e[l - 1] = 0;
    iterations += 1;
    const delta = (d[m - 1]! - d[m]!) / 2;
    const b = e[m - 1]!;
    const mu = d[m]! - (b * b) / (delta + (delta >= 0 ? 1 : -1) * Math.hypot(delta, b));
    let x = d[l]! - mu;
    let z = e[l]!;
    for (let k = l; k < m; k++) {
      const r = Math.hypot(x, z);
      const c = r === 0 ? 1 : x / r;
      const s = r === 0 ? 0 : z / r;
      if (k > l) e[k - 1] = r;
      const dk = d[k]!;
      const dk1 = d[k + 1]!;
      const ek = e[k]!;
      d[k] = c * c * dk + 2 * c * s * ek + s * s * dk1;
      d[k + 1] = s * s * dk - 2 * c * s * ek + c * c * dk1;
      e[k] = c * s * (dk1 - dk) + (c * c - s * s) * ek;
      if (k < m - 1) {
        x = e[k]!;
        z = s * e[k + 1]!;
        e[k + 1] = c * e[k + 1]!;
      }
      // Vᵀ ← R·Vᵀ
      const rowK = k * n;
      const rowK1 = rowK + n;
      for (let r = 0; r < n; r++) {
        const vk = vt[rowK + r]!;
        const vk1 = vt[rowK1 + r]!;
        vt[rowK + r] = c * vk + s * vk1;
        vt[rowK1 + r] = -s * vk + c * vk1;
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j]! - d[i]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  const vectors = new Float64Array(n * n);
  // residual ‖AV − VΛ‖_F / ‖A‖_F, one vector (a row of Vᵀ) at a time
  let frobenius = 0;
  for (let i = 0; i < n * n; i++) frobenius += a[i]! * a[i]!;
  frobenius = Math.sqrt(frobenius) || 1;
  let error = 0;
  for (let k = 0; k < n; k++) {
    const row = order[k]! * n;
    const value = values[k]!;
    for (let i = 0; i < n; i++) {
      vectors[i * n + k] = vt[row + i]!;
      let sum = -vt[row + i]! * value;
      for (let j = 0; j < n; j++) sum += a[i * n + j]! * vt[row + j]!;
      error += sum * sum;
    }
  }
  const residual = Math.sqrt(error) / frobenius;
  return { values, vectors, report: { residual, iterations, converged: m <= 0 && residual <= 1e-12 } };
}
