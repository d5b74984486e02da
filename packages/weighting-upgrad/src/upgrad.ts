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
  dualConeProjections,
  type TaskPreference,
  checkPreferenceOptions,
} from '@mtljs/core';

/** Options of `upgrad`; bad values are BAD_CONFIG naming the option. */
export interface UPGradOptions {
  /**
   * The preference vector u ≥ 0 that combines the projected gradients: one number per task of the
   * model (in its order) or an object of task name → number. Default: 1/T for each of the T
   * active tasks (torchjd's default), or 1 each with `reduction: 'sum'`.
   */
  preference?: TaskPreference;
  /** Default preference when `preference` is not given: 'mean' (1/T, default) or 'sum' (1). */
  reduction?: 'mean' | 'sum';
  /** Iteration limit of each projection's active-set solve (default: core's, 100·T + 100). */
  maxIterations?: number;
}

/** What `upgradWeights` returns: the combined weights and each gradient's projection. */
export interface UPGradResult {
  /** w = Σ_i u_i w⁽ⁱ⁾. */
  weights: number[];
  /** w⁽ⁱ⁾: the weights of the projection of g_i onto the dual cone, Jᵀw⁽ⁱ⁾ = π(g_i). */
  projections: number[][];
  /** The solves together: the largest residual, the iterations summed, all converged. */
  report: SolverReport;
}

/**
 * UPGrad's weights from a plain Gramian (Quinton & Rey 2024, "Jacobian Descent for Multi-Objective
 * Optimization"): each task gradient g_i = Jᵀe_i is projected onto the dual cone
 * {v : Jv ≥ 0} of the task gradients, π(g_i) = Jᵀw⁽ⁱ⁾ with w⁽ⁱ⁾ = e_i + argmin_{x ≥ 0} ½(e_i + x)ᵀG(e_i + x)
 * (their Proposition 1; core's `dualConeProjectionWeights`, which solves it on the Gramian of the
 * normalised gradients), and the projections are combined with
 * the preference: update Σ_i u_i π(g_i) = Jᵀw, w = Σ_i u_i w⁽ⁱ⁾. For u_i ≥ 0 the projection of
 * u_i g_i is u_i π(g_i) (the cone is invariant under positive scaling), so this is also Σ_i π(u_i g_i).
 */
export function upgradWeights(
  gramian: readonly (readonly number[])[],
  preference: readonly number[],
  options: { maxIterations?: number } = {},
): UPGradResult {
  const count = gramian.length;
  const weights = new Array<number>(count).fill(0);
  const projections: number[][] = [];
  const report: SolverReport = { residual: 0, iterations: 0, converged: true };
  const units = Array.from({ length: count }, (_, i) => Array.from({ length: count }, (_, k) => (k === i ? 1 : 0)));
  const solved = dualConeProjections(
    gramian.map((row) => [...row]),
    units,
    options.maxIterations === undefined ? {} : { maxIterations: options.maxIterations },
  );
  solved.forEach((projection, i) => {
    projections.push(projection.weights);
    projection.weights.forEach((w, k) => (weights[k]! += preference[i]! * w));
    report.residual = Math.max(report.residual, projection.report.residual);
    report.iterations += projection.report.iterations;
    report.converged &&= projection.report.converged;
  });
  return { weights, projections, report };
}

/**
 * UPGrad — unconflicting projection of gradients (Quinton & Rey 2024) — as a Gramian weighting:
 * every active task's gradient is projected onto the dual cone of all the active tasks' gradients
 * and the projections are averaged (or combined with a preference vector). The update never
 * conflicts with any task (J·update ≥ 0). Sites 'shared' (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { upgrad } from '@mtljs/weighting-upgrad';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: upgrad() });
 * ```
 */
export function upgrad(options: UPGradOptions = {}): GramianWeighting<null> {
  checkOptions("weighting 'upgrad'", options, ['preference', 'reduction', 'maxIterations']);
  const { preference, reduction, maxIterations } = checkPreferenceOptions('upgrad', options);
  return {
    kind: 'weighting',
    name: 'upgrad',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => upgrad(next as UPGradOptions),
    init(context) {
      checkPreferenceTasks('upgrad', preference, context);
      return null;
    },
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: null, info: StepInfo): WeightsResult<null> {
      const u = activePreference('upgrad', preference, reduction, info.activeTasks, info.activeIndices);
      const result = upgradWeights(gramian.arraySync(), u, maxIterations === undefined ? {} : { maxIterations });
      return { weights: result.weights, state, diagnostics: { solver: result.report } };
    },
  };
}
