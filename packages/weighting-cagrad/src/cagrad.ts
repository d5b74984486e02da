import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  MtlError,
  checkOptions,
  minNormPoint,
  prepareNonnegativeQp,
  type GramianWeighting,
  type SolverReport,
  type StepInfo,
  type WeightsResult,
} from '@mtljs/core';

/** The authors' three scalings of the update: none, ÷(1 + c²) (their default), ÷(1 + c). */
export type CAGradRescale = 0 | 1 | 2;

/** Options of `cagrad` (which rejects bad values with BAD_CONFIG naming the option) and of `cagradWeights` (unchecked). */
export interface CAGradOptions {
  /** c ≥ 0, the radius of the ball around g_0 relative to ‖g_0‖ (default 0.5, as in the paper). */
  c?: number;
  /**
   * Scaling of the update d: 0 none, 1 (default, the authors' default) d / (1 + c²), 2 d / (1 + c)
   * (the authors' toy script).
   */
  rescale?: CAGradRescale;
  /**
   * 'mean' (default): the update is built around g_0 = (1/T) Σ_t g_t, as in the paper.
   * 'sum': every weight times T, the scale of the sum Σ_t g_t (the authors' NYUv2 code multiplies
   * the update by the number of tasks "to match the sum loss").
   */
  reduction?: 'mean' | 'sum';
  /** Iteration limit (QPs solved) of the search (bisection with secant steps) on the step's optimal value (default 100). */
  maxIterations?: number;
}

/** What `cagradWeights` returns: the weights of the update and how the search for the optimal value ended. */
export interface CAGradSolution {
  /** Weights of the rescaled update, one per row of G. */
  weights: number[];
  /** Weights of the unscaled update d. */
  rawWeights: number[];
  /** min_t g_tᵀd / max_t ‖g_t‖², the worst task's inner product with the unscaled update. */
  value: number;
  /** The search: residual = the optimal value's bracket relative to its initial width; iterations = QPs solved. */
  report: SolverReport;
}

/**
 * The search stops when the bracket of the optimal value is this fraction of its initial width (or
 * as narrow as doubles allow around it).
 */
const BRACKET_TOLERANCE = 1e-13;

/**
 * Below this squared norm of the min-norm point of the unit rows' convex hull, the gradients are
 * taken to be Pareto-stationary (core's minNormPoint is accurate to about 1e-10 there).
 */
const STATIONARY_TOLERANCE = 1e-9;

/** A task whose ‖g_t‖² is at most this fraction of the largest is a zero gradient. */
const ZERO_NORM = 1e-30;

const NAME = 'cagrad';
const SUBJECT = "weighting 'cagrad'";

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `${SUBJECT}: option '${option}' ${message}`, { plugin: NAME, option });
}

function minNormValue(gramian: number[][]): number {
  if (gramian.length === 1) return gramian[0]![0]!;
  const { weights } = minNormPoint(gramian);
  return product(gramian, weights).reduce((s, v, i) => s + v * weights[i]!, 0);
}

function product(matrix: readonly (readonly number[])[], w: readonly number[]): number[] {
  return matrix.map((row) => row.reduce((sum, value, j) => sum + value * w[j]!, 0));
}

/**
 * CAGrad's weights from a Gramian (plain numbers): the update is d = Σ_t weights_t g_t. See
 * {@link cagrad} for the semantics. Pure: no tensors, no state.
 *
 * The step solves the paper's primal problem (Liu et al. 2021, eq. 3)
 *   max_d min_t g_tᵀd  subject to  ‖d − g_0‖ ≤ r,   g_0 = (1/T) Σ_t g_t,  r = c‖g_0‖,
 * as a search over its optimal value τ: τ is attainable iff the distance from g_0 to the
 * polyhedron P_τ = {d : g_tᵀd ≥ τ for all t} is at most r, and that distance grows with τ. The
 * distance is a non-negative QP (the projection of g_0 onto P_τ): with unit rows u_t = g_t/‖g_t‖
 * (P_τ = {d : u_tᵀd ≥ τ/‖g_t‖}, and tasks of very different gradient norms then weigh alike in
 * the QP), d = g_0 + Σ_t μ_t u_t with
 *   μ = argmin_{μ≥0} ½ μᵀCμ + μᵀ(U g_0 − τ s),   C_st = u_sᵀu_t,  (U g_0)_t = (G1)_t / (T‖g_t‖),
 *   s_t = 1/‖g_t‖,
 * so d's weights are 1/T + μ_t/‖g_t‖. A bracketing search on τ between min_t g_tᵀg_0 (reached by d = g_0)
 * and min_t (g_tᵀg_0 + r‖g_t‖) (no point of the ball does better for its own task) keeps the
 * largest τ found feasible. At the optimum this is the paper's update d = g_0 + (r/‖g_w‖) g_w of
 * the dual w* = argmin_{w∈Δ} g_wᵀg_0 + r‖g_w‖: the projection's multipliers are proportional to
 * w*. Solving the primal instead of the dual keeps the answer well defined at Pareto-stationary
 * gradients (0 in their convex hull), where the dual's ‖g_w*‖ is 0: there, for c ≥ 1, τ* = 0
 * and the update is the projection of g_0 onto the cone {d : Jd ≥ 0}.
 */
export function cagradWeights(gramian: readonly (readonly number[])[], options: CAGradOptions = {}): CAGradSolution {
  const c = options.c ?? 0.5;
  const rescale = options.rescale ?? 1;
  const reduction = options.reduction ?? 'mean';
  const maxIterations = options.maxIterations ?? 100;
  const count = gramian.length;
  const factor = (reduction === 'sum' ? count : 1) / (rescale === 1 ? 1 + c * c : rescale === 2 ? 1 + c : 1);
  const mean = new Array<number>(count).fill(1 / count);
  const finish = (raw: number[], report: SolverReport, value: number): CAGradSolution => ({
    weights: raw.map((w) => w * factor),
    rawWeights: raw,
    value,
    report,
  });
  const scale = gramian.reduce((max, row, i) => Math.max(max, row[i]!), 0);
  if (!(scale > 0)) return finish(mean, { residual: 0, iterations: 0, converged: true }, 0);
  // The weights do not depend on the scale of G: work on G / max diag(G), so ‖g_t‖ ≤ 1.
  const normalized = gramian.map((row) => row.map((v) => v / scale));
  const alignment = product(normalized, mean); // g_tᵀg_0
  const meanSquaredNorm = alignment.reduce((s, v) => s + v, 0) / count; // ‖g_0‖²
  const radius = c * Math.sqrt(Math.max(meanSquaredNorm, 0));
  const nonzero = normalized.flatMap((row, i) => (row[i]! > ZERO_NORM ? [i] : []));
  const hasZeroRow = nonzero.length < count;
  const valueOf = (weights: readonly number[]) => Math.min(...product(normalized, weights));
  if (!(radius > 0)) return finish(mean, { residual: 0, iterations: 0, converged: true }, valueOf(mean));

  const norms = nonzero.map((i) => Math.sqrt(normalized[i]![i]!));
  const cosines = nonzero.map((i, a) => nonzero.map((j, b) => normalized[i]![j]! / (norms[a]! * norms[b]!)));
  const unitAlignment = nonzero.map((i, a) => alignment[i]! / norms[a]!);
  // Pareto-stationary gradients (0 in their convex hull: a zero gradient, or Σ_t w_t g_t = 0 for
  // some w in the simplex) leave P_τ empty for every τ > 0: the optimal value is then at most 0.
  // The hull of the unit rows contains 0 exactly when the hull of the rows does.
  const stationary = hasZeroRow || nonzero.length === 0 || minNormValue(cosines) <= STATIONARY_TOLERANCE;
  let low = Math.min(...nonzero.map((i) => alignment[i]!), ...(stationary ? [0] : []));
  let high = Math.min(...nonzero.map((i, a) => alignment[i]! + radius * norms[a]!), ...(stationary ? [0] : []));
  const width = high - low;
  let best = mean;
  let iterations = 0;
  const qp = prepareNonnegativeQp(cosines);
  // Each QP starts from the last one's answer: nearby τ share most of the active set (at 40 tasks
  // on a real Gramian, all 40 variables are free, and a cold start grows the set one at a time).
  let previous: number[] | undefined;
  /**
   * The projection of g_0 onto P_τ as weights, or null when it is farther than r; with `excess`,
   * its squared distance from g_0 less r² (negative inside the ball), which steers the search.
   */
  const attempt = (tau: number, withinBall = false): { weights: number[] | null; excess: number } => {
    const { x } = qp.solve(
      unitAlignment.map((v, a) => v - tau / norms[a]!),
      previous,
    );
    previous = x;
    const weights = [...mean];
    nonzero.forEach((i, a) => (weights[i]! += x[a]! / norms[a]!));
    const offset = weights.map((w, i) => w - mean[i]!);
    const distanceSquared = product(normalized, offset).reduce((s, v, i) => s + v * offset[i]!, 0);
    // core's nonnegativeQp adds a ridge 1e-10·I to C: its answer may miss the projection's
    // distance and constraints by that much times μ.
    const excess = distanceSquared - radius * radius;
    if (!withinBall && !(distanceSquared <= radius * radius * (1 + 1e-9))) return { weights: null, excess };
    const products = product(normalized, weights);
    const slack = 1e-9 * (Math.abs(tau) + radius + Math.sqrt(meanSquaredNorm));
    return { weights: nonzero.every((i, a) => products[i]! >= tau - norms[a]! * (slack + 1e-9 * x[a]!)) ? weights : null, excess };
  };
  // φ(τ) = excess at τ, known at the bracket's ends: d = g_0 lies in P_τ for every τ up to the
  // initial lower end, so φ = −r² there; the upper end's is known once it is tried.
  let phiLow = -radius * radius;
  let phiHigh = Number.NaN;
  if (c >= 1 && low < 0 && high >= 0) {
    // For c ≥ 1 the ball contains d = 0, so τ* ≥ 0, and the projection of g_0 onto the cone
    // P_0 = {d : Jd ≥ 0} is within ‖g_0‖ ≤ r of g_0: start the bracket there, so the update never
    // conflicts with a task, even where the QP's rounding would fail the distance test.
    iterations += 1;
    const cone = attempt(0, true);
    if (cone.weights) {
      best = cone.weights;
      low = 0;
      phiLow = Math.min(cone.excess, 0);
    }
  }
  if (high > low && iterations < maxIterations) {
    // The upper end is reached when one task binds alone, or at 0 for stationary gradients.
    iterations += 1;
    const top = attempt(high);
    if (top.weights) {
      best = top.weights;
      low = high;
    } else phiHigh = Math.max(top.excess, 0);
  }
  // The bracket cannot shrink below the spacing of doubles around τ.
  const resolution = Math.max(BRACKET_TOLERANCE * width, 4 * Number.EPSILON * Math.max(Math.abs(low), Math.abs(high)));
  // Each step tries the root of the secant of φ through the bracket's ends (regula falsi, with the
  // Illinois rule: an end kept twice in a row has its φ halved, so both ends move), and the
  // midpoint when the secant's root is not strictly inside or the bracket failed to halve three
  // steps running. Whatever the choice, an attainable τ raises the lower end and any other lowers
  // the upper one, so the bracket always holds τ*; φ is convex and increasing in τ, and the secant
  // steps take about a quarter of the QPs that halving alone needs (45 at the default tolerance).
  // φ is convex, so its slope at τ* is at least r² / width (the chord from the initial lower end,
  // where φ = −r²): a lower end with |φ| ≤ ε·r² is within ε·width of τ*, and the search stops
  // there as it does when the bracket is ε·width wide.
  let lowExcess = phiLow;
  const closeEnough = () => high - low <= resolution || -lowExcess <= BRACKET_TOLERANCE * radius * radius;
  let kept = 0; // +1: the last step moved the lower end; −1: the upper one
  let slow = 0; // steps running that did not halve the bracket
  while (!closeEnough() && iterations < maxIterations) {
    iterations += 1;
    const span = high - low;
    let tau = 0.5 * (low + high);
    if (slow < 3 && phiLow < 0 && phiHigh > 0) {
      const secant = (low * phiHigh - high * phiLow) / (phiHigh - phiLow);
      if (secant > low && secant < high) tau = secant;
    }
    const { weights, excess } = attempt(tau);
    if (weights) {
      best = weights;
      low = tau;
      phiLow = Math.min(excess, 0);
      lowExcess = phiLow;
      if (kept === 1) phiHigh *= 0.5;
      kept = 1;
    } else {
      high = tau;
      phiHigh = Math.max(excess, 0);
      if (kept === -1) phiLow *= 0.5;
      kept = -1;
    }
    slow = high - low > 0.5 * span ? slow + 1 : 0;
  }
  const residual = width > 0 ? Math.min(high - low, (-lowExcess / (radius * radius)) * width) / width : 0;
  return finish(best, { residual, iterations, converged: closeEnough() }, valueOf(best));
}

/**
 * CAGrad (Liu, Liu, Jin, Stone & Liu, NeurIPS 2021, "Conflict-Averse Gradient Descent for
 * Multi-task Learning") as a Gramian weighting: the update maximises the worst task's decrease
 * min_t g_tᵀd within the ball ‖d − g_0‖ ≤ c‖g_0‖ around the mean gradient g_0. Through its dual,
 * d = g_0 + (√φ/‖g_w‖) g_w with w* = argmin_{w∈Δ} g_wᵀg_0 + √φ‖g_w‖, φ = c²‖g_0‖², so
 * weights_t = 1/T + (√φ/‖g_w‖) w*_t, then scaled by `rescale` and `reduction`.
 * Sites 'shared' (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { cagrad } from '@mtljs/weighting-cagrad';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: cagrad() });
 * ```
 */
export function cagrad(options: CAGradOptions = {}): GramianWeighting<null> {
  checkOptions(SUBJECT, options, ['c', 'rescale', 'reduction', 'maxIterations']);
  const c = options.c ?? 0.5;
  if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) throw badOption('c', `must be a finite number ≥ 0, got ${JSON.stringify(c)}`);
  const rescale = options.rescale ?? 1;
  if (rescale !== 0 && rescale !== 1 && rescale !== 2) throw badOption('rescale', `must be 0, 1 or 2, got ${JSON.stringify(rescale)}`);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') throw badOption('reduction', `must be 'mean' or 'sum', got ${JSON.stringify(reduction)}`);
  const maxIterations = options.maxIterations ?? 100;
  if (typeof maxIterations !== 'number' || !Number.isInteger(maxIterations) || maxIterations < 1) {
    throw badOption('maxIterations', `must be a positive integer, got ${JSON.stringify(maxIterations)}`);
  }
  const settings: CAGradOptions = { c, rescale, reduction, maxIterations };
  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => cagrad(next as CAGradOptions),
    init: () => null,
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: null, _info: StepInfo): WeightsResult<null> {
      const solution = cagradWeights(gramian.arraySync(), settings);
      return {
        weights: solution.weights,
        state,
        diagnostics: { solver: { ...solution.report }, values: { worstInnerProduct: solution.value } },
      };
    },
  };
}
