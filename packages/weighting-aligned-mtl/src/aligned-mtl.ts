import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  MtlError,
  checkOptions,
  symmetricEigen,
  type GramianWeighting,
  type SolverReport,
  type StepInfo,
  type WeightingContext,
  type WeightsResult,
  checkOptionTaskNames,
} from '@mtljs/core';

/**
 * Options of `alignedMtl`, which rejects bad values with BAD_CONFIG naming the option;
 * `alignedMtlWeights` takes `scale`, `relativeTolerance` and `maxSweeps` unchecked.
 */
export interface AlignedMtlOptions {
  /**
   * 'sum' (default): u_t = p_t, the update is Σ_t ĝ_t (the authors' code and LibMTL). 'mean':
   * u_t = p_t / T with T the number of active tasks (torchjd's default preference 1/m).
   */
  reduction?: 'sum' | 'mean';
  /** Preference p_t per task name (finite, ≥ 0); tasks not listed get 1. */
  preference?: Record<string, number>;
  /**
   * The common singular value σ of the aligned gradients: 'min' (default, the paper's σ_min = √λ_R),
   * 'median' (√ of the median kept eigenvalue, the lower middle one for an even count) or 'rmse'
   * (√ of the mean kept eigenvalue): the authors' `scale_mode`.
   */
  scale?: 'min' | 'median' | 'rmse';
  /**
   * Eigenvalues λ ≤ relativeTolerance · λ_max of G count as zero. Default T · 2⁻²³ (T active tasks,
   * 2⁻²³ the float32 machine epsilon), the rule of the authors' code.
   */
  relativeTolerance?: number;
  /**
   * Step limit of core's eigen-solver (implicit QR steps; default 30 per active task); reaching it is
   * reported as not converged. The name is that of the Jacobi solver's sweep limit it replaced.
   */
  maxSweeps?: number;
}

/** Aligned-MTL keeps nothing between steps. */
export type AlignedMtlState = null;

/** What {@link alignedMtlWeights} returns: the weights and how they were obtained. */
export interface AlignedMtlResult {
  /** w = B·u: the update Σ_t w_t g_t equals Σ_i u_i ĝ_i, the preference-weighted aligned gradients. */
  weights: number[];
  /** The balance transformation B = σ · V_R Λ_R^{-1/2} V_Rᵀ (identity when G is zero). */
  balance: number[][];
  /** The common singular value σ of the aligned gradient matrix Ĵ = B·J on its R-dimensional range. */
  sigma: number;
  /** R: eigenvalues of G kept. */
  rank: number;
  /** Eigenvalues of G, in decreasing order. */
  eigenvalues: number[];
  /** How the eigen-solver of G ended: residual ‖GV − VΛ‖/‖G‖, QR steps, and whether it converged. */
  report: SolverReport;
}

const FLOAT32_EPSILON = 2 ** -23;

/**
 * Aligned-MTL's weights from the Gramian (Senushkin et al., CVPR 2023, Algorithm 1). With
 * G = J Jᵀ = V Λ Vᵀ and the R eigenvalues above the tolerance, the balance transformation
 *   B = σ · V_R Λ_R^{-1/2} V_Rᵀ
 * makes the aligned gradients Ĵ = B J = σ · U Wᵀ (from the thin SVD J = U Σ Wᵀ, U = V_R) have all
 * their singular values equal to σ, i.e. condition number 1: Ĵ Ĵᵀ = B G B = σ² V_R V_Rᵀ.
 * The update Σ_i u_i ĝ_i = (B u)ᵀ J, so the weights are w = B u.
 */
export function alignedMtlWeights(
  gramian: readonly (readonly number[])[],
  preference: readonly number[],
  options: Pick<AlignedMtlOptions, 'scale' | 'relativeTolerance' | 'maxSweeps'> = {},
): AlignedMtlResult {
  const count = gramian.length;
  const symmetric = gramian.map((row, i) => row.map((value, j) => 0.5 * (value + gramian[j]![i]!)));
  const { values, vectors, report } = symmetricEigen(symmetric, options.maxSweeps === undefined ? {} : { maxIterations: options.maxSweeps });
  const largest = values[0] ?? 0;
  const tolerance = (options.relativeTolerance ?? count * FLOAT32_EPSILON) * largest;
  const kept = largest > 0 ? values.flatMap((value, r) => (value > tolerance ? [r] : [])) : [];
  if (kept.length === 0) {
    // G = 0: every gradient is zero, the update is zero whatever the weights; B = I (as torchjd).
    const identity = Array.from({ length: count }, (_, i) => Array.from({ length: count }, (__, j) => (i === j ? 1 : 0)));
    return { weights: [...preference], balance: identity, sigma: 0, rank: 0, eigenvalues: values, report };
  }
  const keptValues = kept.map((r) => values[r]!);
  const scale = options.scale ?? 'min';
  let squaredSigma: number;
  if (scale === 'min') squaredSigma = keptValues[keptValues.length - 1]!;
  // The lower middle value for an even count (torch.median's), counted from the end of this descending list.
  else if (scale === 'median') squaredSigma = keptValues[keptValues.length - 1 - Math.floor((keptValues.length - 1) / 2)]!;
  else squaredSigma = keptValues.reduce((sum, value) => sum + value, 0) / keptValues.length;
  const sigma = Math.sqrt(squaredSigma);
  const balance = Array.from({ length: count }, () => new Array<number>(count).fill(0));
  for (const r of kept) {
    const factor = sigma / Math.sqrt(values[r]!);
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < count; j++) balance[i]![j]! += factor * vectors[i]![r]! * vectors[j]![r]!;
    }
  }
  const weights = balance.map((row) => row.reduce((sum, value, j) => sum + value * preference[j]!, 0));
  return { weights, balance, sigma, rank: kept.length, eigenvalues: values, report };
}

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `weighting 'aligned-mtl': option '${option}' ${message}`, { plugin: 'aligned-mtl', option });
}

/**
 * Aligned-MTL (Senushkin, Patakin, Kuznetsov, Konushin, "Independent Component Alignment for
 * Multi-Task Learning", CVPR 2023) as a Gramian weighting: the task gradients are replaced by
 * aligned ones whose matrix has condition number 1, and the update is their preference-weighted
 * sum. Sites 'shared' (default) and 'features' (the paper's Aligned-MTL-UB).
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { alignedMtl } from '@mtljs/weighting-aligned-mtl';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: alignedMtl() });
 * ```
 */
export function alignedMtl(options: AlignedMtlOptions = {}): GramianWeighting<AlignedMtlState> {
  checkOptions("weighting 'aligned-mtl'", options, ['reduction', 'preference', 'scale', 'relativeTolerance', 'maxSweeps']);
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') throw badOption('reduction', `must be 'sum' or 'mean', got ${JSON.stringify(reduction)}`);
  const scale = options.scale ?? 'min';
  if (scale !== 'min' && scale !== 'median' && scale !== 'rmse') {
    throw badOption('scale', `must be 'min', 'median' or 'rmse', got ${JSON.stringify(scale)}`);
  }
  const preference = options.preference ?? {};
  if (typeof preference !== 'object' || preference === null || Array.isArray(preference)) {
    throw badOption('preference', 'must be an object of task name → preference (a number ≥ 0)');
  }
  for (const [task, value] of Object.entries(preference)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw badOption('preference', `must give each task a finite number ≥ 0; task '${task}' has ${JSON.stringify(value)}`);
    }
  }
  const { relativeTolerance, maxSweeps } = options;
  if (relativeTolerance !== undefined && (typeof relativeTolerance !== 'number' || !Number.isFinite(relativeTolerance) || relativeTolerance < 0 || relativeTolerance >= 1)) {
    throw badOption('relativeTolerance', `must be a number in [0, 1), got ${JSON.stringify(relativeTolerance)}`);
  }
  if (maxSweeps !== undefined && (!Number.isInteger(maxSweeps) || maxSweeps < 1)) {
    throw badOption('maxSweeps', `must be a positive integer, got ${JSON.stringify(maxSweeps)}`);
  }
  return {
    kind: 'weighting',
    name: 'aligned-mtl',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => alignedMtl(next as AlignedMtlOptions),
    init(context: WeightingContext): AlignedMtlState {
      checkOptionTaskNames('aligned-mtl', 'preference', Object.keys(preference), context.taskNames);
      return null;
    },
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: AlignedMtlState, info: StepInfo): WeightsResult<AlignedMtlState> {
      const matrix = gramian.arraySync();
      const count = matrix.length;
      const divisor = reduction === 'mean' ? count : 1;
      const u = info.activeTasks.map((task) => (preference[task] ?? 1) / divisor);
      const result = alignedMtlWeights(matrix, u, { scale, relativeTolerance, maxSweeps });
      const values: Record<string, number> = { rank: result.rank };
      if (result.rank > 0) values.conditionNumber = Math.sqrt(result.eigenvalues[0]! / result.eigenvalues[result.rank - 1]!);
      return {
        weights: result.weights,
        state,
        diagnostics: { solver: { ...result.report }, values },
      };
    },
  };
}
