import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  MtlError,
  checkOptions,
  minNormPoint,
  type GramianWeighting,
  type SolverReport,
  type StepInfo,
  type WeightsResult,
} from '@mtljs/core';

/**
 * How each task gradient is divided before the min-norm problem (Sener & Koltun's code,
 * `gradient_normalizers`): 'none' (1), 'l2' (‖g_t‖), 'loss' (L_t), 'loss+' (L_t·‖g_t‖).
 */
export type MGDANormalization = 'none' | 'l2' | 'loss' | 'loss+';

/** Options of `mgda` (which rejects bad values with BAD_CONFIG naming the option); `mgdaWeights` takes the same. */
export interface MGDAOptions {
  /** Default 'none': the min-norm point of the gradients themselves (the paper). */
  normalization?: MGDANormalization;
  /**
   * 'simplex' (default): the weights are α, on the simplex (Σ_t α_t = 1). 'tasks': T·α, T the
   * number of active tasks, so the weights sum to T as equal weighting's do.
   */
  scale?: 'simplex' | 'tasks';
  /** Iteration limit of the active-set solver (default: core's, 100·T + 100). */
  maxIterations?: number;
}

/** What `mgdaWeights` returns: the weights, the simplex point α and its norm. */
export interface MGDAResult {
  /** The weights applied to the (unnormalised) task gradients. */
  weights: number[];
  /** α on the simplex, before `scale`. */
  alpha: number[];
  /** ‖Σ_t α_t ĝ_t‖ = √(αᵀĜα), ĝ the normalised gradients: 0 exactly at Pareto-stationary points. */
  minNorm: number;
  /** How the active-set min-norm solver ended: KKT residual, iterations, and whether it converged. */
  report: SolverReport;
}

const NORMALIZATIONS: readonly MGDANormalization[] = ['none', 'l2', 'loss', 'loss+'];
const SCALES = ['simplex', 'tasks'] as const;

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `weighting 'mgda': option '${option}' ${message}`, { plugin: 'mgda', option });
}

/**
 * The normalised Gramian Ĝ_ij = G_ij / (n_i n_j) for the normalisers n_t of `normalization`.
 * A zero gradient (G_tt = 0) stays zero under 'l2' and 'loss+': it has no direction to normalise.
 */
function normalizeGramian(gramian: readonly (readonly number[])[], losses: readonly number[], normalization: MGDANormalization): number[][] {
  if (normalization === 'none') return gramian.map((row) => [...row]);
  const count = gramian.length;
  if (normalization === 'loss' || normalization === 'loss+') {
    losses.forEach((loss, t) => {
      if (!(loss > 0) || !Number.isFinite(loss)) {
        throw new MtlError(
          'BAD_DATA',
          `weighting 'mgda' with normalization '${normalization}' divides each gradient by its task's loss, which must be positive and finite; active task ${t} has loss ${loss}. Use normalization 'none' or 'l2' for losses that can be zero or negative.`,
          { plugin: 'mgda', option: 'normalization', received: loss },
        );
      }
    });
  }
  const norms = gramian.map((row, t) => Math.sqrt(Math.max(row[t]!, 0)));
  const divisors = Array.from({ length: count }, (_, t) => (normalization === 'l2' ? norms[t]! : normalization === 'loss' ? losses[t]! : losses[t]! * norms[t]!));
  return gramian.map((row, i) => row.map((value, j) => (divisors[i]! > 0 && divisors[j]! > 0 ? value / (divisors[i]! * divisors[j]!) : 0)));
}

/**
 * MGDA's weights from a plain Gramian (Désidéri 2012; Sener & Koltun 2018, eq. 3 and Algorithm 2):
 * α = argmin_{α ∈ Δ} αᵀĜα, Ĝ the Gramian of the normalised gradients g_t / n_t, solved exactly by
 * core's active-set `minNormPoint`. As in Sener & Koltun's code, α then weighs the task gradients
 * themselves (their `scale[t]` multiplies the raw loss), so with normalization 'none' the update
 * Σ_t α_t g_t is the min-norm point of the convex hull of the gradients.
 */
export function mgdaWeights(
  gramian: readonly (readonly number[])[],
  losses: readonly number[],
  options: Pick<MGDAOptions, 'normalization' | 'scale' | 'maxIterations'> = {},
): MGDAResult {
  const normalized = normalizeGramian(gramian, losses, options.normalization ?? 'none');
  const { weights: alpha, report } = minNormPoint(normalized, options.maxIterations === undefined ? {} : { maxIterations: options.maxIterations });
  const squaredNorm = alpha.reduce((sum, a, i) => sum + a * alpha.reduce((inner, b, j) => inner + normalized[i]![j]! * b, 0), 0);
  const factor = options.scale === 'tasks' ? alpha.length : 1;
  return { weights: alpha.map((a) => a * factor), alpha, minNorm: Math.sqrt(Math.max(squaredNorm, 0)), report };
}

/**
 * MGDA (Désidéri 2012; Sener & Koltun, NeurIPS 2018, "Multi-Task Learning as Multi-Objective
 * Optimization") as a Gramian weighting: the shared update is the min-norm element of the convex
 * hull of the active tasks' gradients, a common descent direction that vanishes exactly at
 * Pareto-stationary points. Sites 'shared' (default: exact MGDA), 'features' (MGDA-UB, the
 * paper's upper-bound approximation) and 'last-shared'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { mgda } from '@mtljs/weighting-mgda';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: mgda() });
 * ```
 */
export function mgda(options: MGDAOptions = {}): GramianWeighting<null> {
  checkOptions("weighting 'mgda'", options, ['normalization', 'scale', 'maxIterations']);
  const normalization = options.normalization ?? 'none';
  if (!NORMALIZATIONS.includes(normalization)) {
    throw badOption('normalization', `must be one of ${NORMALIZATIONS.map((n) => `'${n}'`).join(', ')}, got ${JSON.stringify(normalization)}`);
  }
  const scale = options.scale ?? 'simplex';
  if (!SCALES.includes(scale)) throw badOption('scale', `must be 'simplex' or 'tasks', got ${JSON.stringify(scale)}`);
  const maxIterations = options.maxIterations;
  if (maxIterations !== undefined && !(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw badOption('maxIterations', `must be a positive integer, got ${JSON.stringify(maxIterations)}`);
  }
  const usesLosses = normalization === 'loss' || normalization === 'loss+';
  return {
    kind: 'weighting',
    name: 'mgda',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features', 'last-shared'],
    configure: (next) => mgda(next as MGDAOptions),
    init: () => null,
    weigh(gramian: Tensor2D, losses: Tensor1D, state: null, _info: StepInfo): WeightsResult<null> {
      const matrix = gramian.arraySync();
      const lossValues = usesLosses ? losses.arraySync() : [];
      const result = mgdaWeights(matrix, lossValues, { normalization, scale, maxIterations });
      return { weights: result.weights, state, diagnostics: { solver: result.report, values: { minNorm: result.minNorm } } };
    },
  };
}
