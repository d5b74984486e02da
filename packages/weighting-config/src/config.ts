import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, symmetricEigen, type GramianWeighting, type SolverReport, type StepInfo, type WeightsResult } from '@mtljs/core';

/** Options of `config` (which rejects bad values with BAD_CONFIG naming the option) and of `configWeights` (unchecked). */
export interface ConFIGOptions {
  /**
   * Eigenvalues λ ≤ relativeTolerance · λ_max of the cosine matrix C count as zero in its
   * pseudo-inverse. Default m · 2⁻²³ (m tasks with a non-zero gradient, 2⁻²³ the float32 machine
   * epsilon): the Gramian arrives in float32, so cosines carry errors near 1e-7.
   */
  relativeTolerance?: number;
  /**
   * Step limit of core's eigen-solver (implicit QR steps; default 30 per active task); reaching it is
   * reported as not converged. The name is that of the Jacobi solver's sweep limit it replaced.
   */
  maxSweeps?: number;
}

/** ConFIG keeps nothing between steps. */
export type ConFIGState = null;

/** What `configWeights` returns: the weights and facts about the solve. */
export interface ConFIGResult {
  /** Weights w with update Jᵀw = (Σ_i g_iᵀ g_u) g_u; 0 for zero gradients. */
  weights: number[];
  /** Rank of the cosine matrix of the non-zero gradients (eigenvalues kept). */
  rank: number;
  /** Tasks whose gradient is zero (left out, weight 0). */
  dropped: number[];
  /**
   * min_i cos(update, g_i) over the non-zero gradients, = sign(s)·(C c)_i/‖ĝ‖ with s = Σ_i g_iᵀĝ; every
   * cosine equals 1/‖ĝ‖ when the gradients are linearly independent. NaN when the update is zero.
   */
  minimumCosine: number;
  /** How the eigen-solver of the cosine matrix ended (trivially converged when every gradient is zero). */
  report: SolverReport;
}

const FLOAT32_EPSILON = 2 ** -23;

/** A gradient whose squared norm is at most this fraction of the largest is treated as zero. */
const RELATIVE_ZERO = 1e-30;

/**
 * ConFIG's weights from the Gramian (Liu, Chu, Thuerey 2024, "ConFIG: Towards Conflict-free
 * Training of Physics Informed Neural Networks", Eq. 2). With unit vectors u_i = g_i/‖g_i‖ (rows of
 * U = D⁻¹J, D = diag ‖g_i‖), the direction is ĝ = U⁺1, its unit vector g_u = ĝ/‖ĝ‖, and the update
 * (Σ_i g_iᵀ g_u) g_u. Everything comes from G:
 *   C = D⁻¹ G D⁻¹ (cosines),  c = C⁺1 (so ĝ = Uᵀc = Jᵀ D⁻¹ c),  ‖ĝ‖² = cᵀCc,  g_iᵀĝ = (G D⁻¹ c)_i,
 * so w = (Σ_i (G D⁻¹ c)_i / ‖ĝ‖²) · D⁻¹ c. U⁺ = Uᵀ C⁺ since U⁺ = Uᵀ(UUᵀ)⁺.
 */
export function configWeights(gramian: readonly (readonly number[])[], options: ConFIGOptions = {}): ConFIGResult {
  const count = gramian.length;
  const squaredNorms = gramian.map((row, i) => row[i]!);
  const largest = Math.max(0, ...squaredNorms.filter(Number.isFinite));
  const kept = squaredNorms.flatMap((value, i) => (value > RELATIVE_ZERO * largest && value > 0 ? [i] : []));
  const dropped = squaredNorms.flatMap((_, i) => (kept.includes(i) ? [] : [i]));
  const weights = new Array<number>(count).fill(0);
  if (kept.length === 0) {
    return { weights, rank: 0, dropped, minimumCosine: Number.NaN, report: { residual: 0, iterations: 0, converged: true } };
  }
  const norms = kept.map((i) => Math.sqrt(squaredNorms[i]!));
  const cosines = kept.map((i, a) =>
    kept.map((j, b) => (a === b ? 1 : Math.min(1, Math.max(-1, (0.5 * (gramian[i]![j]! + gramian[j]![i]!)) / (norms[a]! * norms[b]!))))),
  );
  const { values, vectors, report } = symmetricEigen(cosines, options.maxSweeps === undefined ? {} : { maxIterations: options.maxSweeps });
  const size = kept.length;
  const tolerance = (options.relativeTolerance ?? size * FLOAT32_EPSILON) * values[0]!;
  // c = C⁺1 = Σ_r v_r (v_rᵀ1)/λ_r over the kept eigenvalues; ‖ĝ‖² = cᵀCc = Σ_r (v_rᵀ1)²/λ_r;
  // C c = Σ_r v_r (v_rᵀ1), the projection of 1 onto C's range.
  const coefficients = new Array<number>(size).fill(0);
  const projection = new Array<number>(size).fill(0);
  let squaredLength = 0;
  let projectedMass = 0;
  let rank = 0;
  for (let r = 0; r < size; r++) {
    const lambda = values[r]!;
    if (!(lambda > tolerance)) continue;
    rank += 1;
    let along = 0;
    for (let a = 0; a < size; a++) along += vectors[a]![r]!;
    squaredLength += (along * along) / lambda;
    projectedMass += along * along;
    for (let a = 0; a < size; a++) {
      coefficients[a]! += (vectors[a]![r]! * along) / lambda;
      projection[a]! += vectors[a]![r]! * along;
    }
  }
  // 1 (numerically) orthogonal to C's range, e.g. two opposite gradients: ĝ = 0, no direction.
  if (rank === 0 || projectedMass <= 1e-12 * size || !(squaredLength > 0)) {
    return { weights, rank, dropped, minimumCosine: Number.NaN, report };
  }
  // Σ_i g_iᵀĝ = Σ_a ‖g_a‖ (C c)_a.
  const length = norms.reduce((sum, norm, a) => sum + norm * projection[a]!, 0);
  const factor = length / squaredLength;
  kept.forEach((i, a) => (weights[i] = (factor * coefficients[a]!) / norms[a]!));
  const minimumCosine = Math.min(...projection.map((p) => (Math.sign(length) * p) / Math.sqrt(squaredLength)));
  return { weights, rank, dropped, minimumCosine, report };
}

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `weighting 'config': option '${option}' ${message}`, { plugin: 'config', option });
}

/**
 * ConFIG (Liu, Chu, Thuerey 2024) as a Gramian weighting: the update has the same positive cosine
 * with every task gradient (when they are linearly independent) and the length of the sum of the
 * gradients' projections on it. Sites 'shared' (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { config } from '@mtljs/weighting-config';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: config() });
 * ```
 */
export function config(options: ConFIGOptions = {}): GramianWeighting<ConFIGState> {
  checkOptions("weighting 'config'", options, ['relativeTolerance', 'maxSweeps']);
  const { relativeTolerance, maxSweeps } = options;
  if (relativeTolerance !== undefined && (typeof relativeTolerance !== 'number' || !Number.isFinite(relativeTolerance) || relativeTolerance < 0 || relativeTolerance >= 1)) {
    throw badOption('relativeTolerance', `must be a number in [0, 1), got ${JSON.stringify(relativeTolerance)}`);
  }
  if (maxSweeps !== undefined && (!Number.isInteger(maxSweeps) || maxSweeps < 1)) {
    throw badOption('maxSweeps', `must be a positive integer, got ${JSON.stringify(maxSweeps)}`);
  }
  return {
    kind: 'weighting',
    name: 'config',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => config(next as ConFIGOptions),
    init: () => null,
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: ConFIGState, _info: StepInfo): WeightsResult<ConFIGState> {
      const result = configWeights(gramian.arraySync(), { relativeTolerance, maxSweeps });
      const values: Record<string, number> = { rank: result.rank, dropped: result.dropped.length };
      if (Number.isFinite(result.minimumCosine)) values.minimumCosine = result.minimumCosine;
      return { weights: result.weights, state, diagnostics: { solver: { ...result.report }, values } };
    },
  };
}

/** The same factory, named so it does not read as the word "config". */
export const conFig = config;
