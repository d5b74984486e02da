import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  MtlError,
  checkOptions,
  choleskySolve,
  symmetricEigen,
  type GramianWeighting,
  type SolverReport,
  type StepInfo,
  type WeightingContext,
  type WeightsResult,
  nearestPositiveSemidefinite,
} from '@mtljs/core';

/** Options of `nashMtl`; bad values are BAD_CONFIG naming the option. */
export interface NashMTLOptions {
  /**
   * Solve for new weights every k-th call and reuse the last solution in between (the paper's
   * speed-up, `update_weights_every` in the authors' code; default 1: every call).
   */
  updateEvery?: number;
  /** Iteration limit of the Newton solver (default 100). */
  maxIterations?: number;
  /**
   * Largest norm of the update Σ_t α_t g_t at the site: larger updates are scaled down to it
   * (default 1, as the authors' code clips the shared gradient; 0 turns it off). At the exact
   * solution the update's norm is √T, so with T ≥ 2 tasks and the default the update always has
   * norm 1.
   */
  maxNorm?: number;
}

/** What is kept between calls: the last solution, for `updateEvery`. */
export interface NashMTLState {
  /** α of the last solve (before the `maxNorm` scaling), per task of `taskNames`; null if not solved for. */
  weights: (number | null)[] | null;
  /** Calls since the last solve (0 on the call that solved). */
  age: number;
}

/** What `nashMtlWeights` returns: the bargaining weights and how well they solve Gα = 1/α. */
export interface NashMTLSolution {
  /** α > 0 with α_t (Gα)_t = 1 (before `maxNorm`); 0 for zero gradients. */
  weights: number[];
  /**
   * residual: max_t |α_t (Gα)_t − 1| over the non-zero gradients, for the equation the solver
   * solves (with its ridge); iterations: Newton steps.
   */
  report: SolverReport;
  /** The same residual for Gα = 1/α itself, without the ridge: large where no solution exists. */
  exactResidual: number;
}

/**
 * Ridge added to the unit gradients' Gram matrix C (i.e. RIDGE·‖g_t‖² to G's diagonal): it keeps
 * the problem solvable when 0 is in the convex hull of the gradients (no α > 0 solves Gα = 1/α
 * then) and bounds the solution, ‖β‖² ≤ T/RIDGE. Elsewhere it moves α_t(Gα)_t by RIDGE·β_t².
 */
const RIDGE = 1e-10;

/** Newton stops at this residual of α_t(Gα)_t = 1 (with the ridge). */
const TOLERANCE = 1e-10;

/** The exact equation counts as solved up to this residual; beyond it the ridge is reported. */
const EXACT_TOLERANCE = 1e-6;

/** A task whose ‖g_t‖² is at most this fraction of the largest is a zero gradient. */
const ZERO_NORM = 1e-30;

const NAME = 'nash-mtl';
const SUBJECT = "weighting 'nash-mtl'";

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `${SUBJECT}: option '${option}' ${message}`, { plugin: NAME, option });
}

function product(matrix: readonly (readonly number[])[], v: readonly number[]): number[] {
  return matrix.map((row) => row.reduce((sum, value, j) => sum + value * v[j]!, 0));
}

/**
 * The Nash bargaining weights of Navon et al. 2022 ("Multi-Task Learning as a Bargaining Game",
 * ICML, Claim 3.1): α > 0 with Gα = 1/α elementwise, i.e. α_t g_tᵀd = 1 for d = Σ_t α_t g_t.
 * It is the stationary point of the strictly convex f(α) = ½αᵀGα − Σ_t log α_t on α > 0.
 *
 * The equation is invariant under scaling a task's gradient (g_t → s g_t gives α_t → α_t/s and
 * the same d), so it is solved for the unit gradients u_t = g_t/‖g_t‖: β_t = α_t‖g_t‖ solves
 * Cβ = 1/β with C_st = u_sᵀu_t (unit diagonal, well scaled whatever the gradients' norms). C is
 * first made positive semidefinite (its negative eigenvalues, rounding of a float32 G, set to 0)
 * and given a RIDGE. Then a damped Newton method on f(β) = ½βᵀ(C + RIDGE·I)β − Σ log β
 * (Hessian C + RIDGE·I + diag(1/β²)) from β = s·1 with s = √(T/1ᵀC1), the best multiple of 1
 * (i.e. α ∝ 1/√diag G). f is self-concordant (a convex quadratic plus a log barrier), so the
 * damped method converges from any start, quadratically at the end, and never leaves β > 0.
 * Zero gradients get α_t = 0 (they take no part in d) and are left out of the equation.
 */
export function nashMtlWeights(gramian: readonly (readonly number[])[], options: { maxIterations?: number } = {}): NashMTLSolution {
  const maxIterations = options.maxIterations ?? 100;
  const count = gramian.length;
  const largest = gramian.reduce((max, row, i) => Math.max(max, row[i]!), 0);
  const nonzero = gramian.flatMap((row, i) => (row[i]! > ZERO_NORM * largest && row[i]! > 0 ? [i] : []));
  const weights = new Array<number>(count).fill(0);
  if (nonzero.length === 0) return { weights, report: { residual: 0, iterations: 0, converged: true }, exactResidual: 0 };
  const size = nonzero.length;
  const norms = nonzero.map((i) => Math.sqrt(gramian[i]![i]!));
  const raw = nonzero.map((i, a) => nonzero.map((j, b) => (a === b ? 1 : gramian[i]![j]! / (norms[a]! * norms[b]!))));
  // C = V max(Λ, 0) Vᵀ: the nearest positive semidefinite matrix.
  const cosines = nearestPositiveSemidefinite(raw);
  const ridged = cosines.map((row, a) => row.map((v, b) => (a === b ? v + RIDGE : v)));
  const objective = (beta: readonly number[]) => {
    const cb = product(ridged, beta);
    return 0.5 * beta.reduce((s, b, a) => s + b * cb[a]!, 0) - beta.reduce((s, b) => s + Math.log(b), 0);
  };
  const residualOf = (matrix: number[][], beta: readonly number[]) => {
    const cb = product(matrix, beta);
    return Math.max(...beta.map((b, a) => Math.abs(b * cb[a]! - 1)));
  };

  const total = ridged.reduce((s, row) => s + row.reduce((t, v) => t + v, 0), 0);
  let beta = new Array<number>(size).fill(Math.sqrt(size / total));
  let value = objective(beta);
  let residual = residualOf(ridged, beta);
  let iterations = 0;
  let smallestDecrement = Infinity;
  let stalls = 0;
  while (residual > TOLERANCE && iterations < maxIterations) {
    iterations += 1;
    const cb = product(ridged, beta);
    const gradient = beta.map((b, a) => cb[a]! - 1 / b);
    const hessian = ridged.map((row, a) => row.map((v, b) => (a === b ? v + 1 / (beta[a]! * beta[a]!) : v)));
    const step = choleskySolve(
      hessian,
      gradient.map((g) => -g),
    );
    if (!step) break;
    // Newton decrement λ² = gᵀH⁻¹g. For a self-concordant f, the step 1/(1 + λ) stays in β > 0 and
    // lowers f by at least λ − log(1 + λ); once λ ≤ ¼ full steps converge quadratically (Nesterov,
    // "Introductory Lectures on Convex Optimization", §4.1.5). A longer step is taken when it
    // passes an Armijo test.
    const decrement = Math.sqrt(Math.max(-step.reduce((s, d, a) => s + d * gradient[a]!, 0), 0));
    if (!(decrement > 1e-15)) break;
    // In the quadratic phase λ shrinks to about λ² per step; when three steps in a row do not halve
    // the smallest λ seen, rounding (large β, where Cβ cancels) has the last word.
    if (decrement <= 0.25 && decrement > 0.5 * smallestDecrement) stalls += 1;
    else stalls = 0;
    smallestDecrement = Math.min(smallestDecrement, decrement);
    if (stalls >= 3) break;
    let t = 1;
    if (decrement > 0.25) {
      step.forEach((d, a) => {
        if (d < 0) t = Math.min(t, (-0.99 * beta[a]!) / d);
      });
      const trial = beta.map((b, a) => b + t * step[a]!);
      const trialValue = objective(trial);
      if (!(trialValue <= value - 1e-4 * t * decrement * decrement)) t = 1 / (1 + decrement);
    }
    beta = beta.map((b, a) => b + t * step[a]!);
    value = objective(beta);
    residual = residualOf(ridged, beta);
  }
  nonzero.forEach((i, a) => (weights[i] = beta[a]! / norms[a]!));
  return {
    weights,
    // Converged: the equation holds to TOLERANCE, or Newton can do no better in floating point and
    // f is within λ²/2 ≤ 1e-9·|f| of its minimum.
    report: {
      residual,
      iterations,
      converged: residual <= TOLERANCE || (stalls >= 3 && smallestDecrement * smallestDecrement <= 2e-9 * Math.max(1, Math.abs(value))),
    },
    exactResidual: residualOf(raw, beta),
  };
}

/**
 * Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, ICML 2022) as a
 * Gramian weighting: α > 0 with Gα = 1/α, the Nash bargaining solution of the tasks' utilities
 * g_tᵀd over a ball, then the update Σ_t α_t g_t scaled down to `maxNorm`. Sites 'shared'
 * (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { nashMtl } from '@mtljs/weighting-nash-mtl';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: nashMtl() });
 * ```
 */
export function nashMtl(options: NashMTLOptions = {}): GramianWeighting<NashMTLState> {
  checkOptions(SUBJECT, options, ['updateEvery', 'maxIterations', 'maxNorm']);
  const updateEvery = options.updateEvery ?? 1;
  if (typeof updateEvery !== 'number' || !Number.isInteger(updateEvery) || updateEvery < 1) {
    throw badOption('updateEvery', `must be a positive integer, got ${JSON.stringify(updateEvery)}`);
  }
  const maxIterations = options.maxIterations ?? 100;
  if (typeof maxIterations !== 'number' || !Number.isInteger(maxIterations) || maxIterations < 1) {
    throw badOption('maxIterations', `must be a positive integer, got ${JSON.stringify(maxIterations)}`);
  }
  const maxNorm = options.maxNorm ?? 1;
  if (typeof maxNorm !== 'number' || !Number.isFinite(maxNorm) || maxNorm < 0) {
    throw badOption('maxNorm', `must be a finite number ≥ 0 (0: no limit), got ${JSON.stringify(maxNorm)}`);
  }
  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => nashMtl(next as NashMTLOptions),
    init: (_context: WeightingContext): NashMTLState => ({ weights: null, age: 0 }),
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: NashMTLState, info: StepInfo): WeightsResult<NashMTLState> {
      const matrix = gramian.arraySync();
      const stored = state.weights;
      const reusable =
        stored !== null &&
        state.age + 1 < updateEvery &&
        stored.length === info.taskNames.length &&
        info.activeIndices.every((i) => typeof stored[i] === 'number');
      let alpha: number[];
      let next: NashMTLState;
      const diagnostics: NonNullable<WeightsResult<NashMTLState>['diagnostics']> = {};
      if (reusable) {
        alpha = info.activeIndices.map((i) => stored[i] as number);
        next = { weights: stored, age: state.age + 1 };
        diagnostics.values = { reused: 1 };
      } else {
        const solution = nashMtlWeights(matrix, { maxIterations });
        alpha = solution.weights;
        const weights: (number | null)[] = info.taskNames.map(() => null);
        info.activeIndices.forEach((i, k) => (weights[i] = alpha[k]!));
        next = { weights, age: 0 };
        diagnostics.solver = { ...solution.report };
        diagnostics.values = { reused: 0, exactResidual: solution.exactResidual };
        if (solution.exactResidual > EXACT_TOLERANCE) {
          diagnostics.warnings = [
            `weighting '${NAME}': no α > 0 solves Gα = 1/α (the task gradients are, or nearly are, Pareto-stationary: 0 is in their convex hull); solved with a ridge ${RIDGE}·diag(G) instead (residual of the exact equation ${solution.exactResidual.toExponential(2)})`,
          ];
        }
      }
      // The authors' clipping of the shared gradient's norm, on the update at the site.
      const squaredNorm = product(matrix, alpha).reduce((s, v, k) => s + v * alpha[k]!, 0);
      const updateNorm = Math.sqrt(Math.max(squaredNorm, 0));
      const factor = maxNorm > 0 && updateNorm > maxNorm ? maxNorm / updateNorm : 1;
      diagnostics.values = { ...diagnostics.values, updateNorm: updateNorm * factor };
      return { weights: alpha.map((a) => a * factor), state: next, diagnostics };
    },
  };
}
