import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  checkOptions,
  type GramianWeighting,
  type SolverReport,
  type StepInfo,
  type WeightsResult,
  activePreference,
  checkPreferenceTasks,
  dualConeProjectionWeights,
  type TaskPreference,
  checkPreferenceOptions,
} from '@mtljs/core';

/** Options of `dualproj`; bad values are BAD_CONFIG naming the option. */
export interface DualProjOptions {
  /**
   * The preference vector u ≥ 0 whose combination Jᵀu is projected: one number per task of the
   * model (in its order) or an object of task name → number. Default: 1/T for each of the T
   * active tasks (the mean gradient, torchjd's default), or 1 each with `reduction: 'sum'`.
   */
  preference?: TaskPreference;
  /** Default preference when `preference` is not given: 'mean' (1/T, default) or 'sum' (1). */
  reduction?: 'mean' | 'sum';
  /** Iteration limit of the active-set solve (default: core's, 100·T + 100). */
  maxIterations?: number;
}

/**
 * DualProj's weights from a plain Gramian (Quinton & Rey 2024, "Jacobian Descent for Multi-Objective
 * Optimization"; the projection of GEM, Lopez-Paz & Ranzato 2017, eq. 11): the combination Jᵀu is
 * projected onto the dual cone {v : Jv ≥ 0}; the projection is Jᵀw with
 * w = u + argmin_{x ≥ 0} ½(u + x)ᵀG(u + x) (Quinton & Rey, Proposition 1; core's
 * `dualConeProjectionWeights`, which solves it on the Gramian of the normalised gradients).
 */
export function dualprojWeights(
  gramian: readonly (readonly number[])[],
  preference: readonly number[],
  options: { maxIterations?: number } = {},
): {
  /** Weights w of the projected update Jᵀw, one per row of G. */
  weights: number[];
  /** How the active-set solve ended: KKT residual, iterations, and whether it converged. */
  report: SolverReport;
} {
  return dualConeProjectionWeights(gramian.map((row) => [...row]), preference, options.maxIterations === undefined ? {} : { maxIterations: options.maxIterations });
}

/**
 * DualProj (Quinton & Rey 2024) as a Gramian weighting: the mean of the active tasks' gradients
 * (or their combination with a preference vector), projected onto the dual cone of those
 * gradients, so the update never conflicts with any task (J·update ≥ 0). Sites 'shared' (default)
 * and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { dualproj } from '@mtljs/weighting-dualproj';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: dualproj() });
 * ```
 */
export function dualproj(options: DualProjOptions = {}): GramianWeighting<null> {
  checkOptions("weighting 'dualproj'", options, ['preference', 'reduction', 'maxIterations']);
  const { preference, reduction, maxIterations } = checkPreferenceOptions('dualproj', options);
  return {
    kind: 'weighting',
    name: 'dualproj',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => dualproj(next as DualProjOptions),
    init(context) {
      checkPreferenceTasks('dualproj', preference, context);
      return null;
    },
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: null, info: StepInfo): WeightsResult<null> {
      const u = activePreference('dualproj', preference, reduction, info.activeTasks, info.activeIndices);
      const result = dualprojWeights(gramian.arraySync(), u, maxIterations === undefined ? {} : { maxIterations });
      return { weights: result.weights, state, diagnostics: { solver: result.report } };
    },
  };
}
