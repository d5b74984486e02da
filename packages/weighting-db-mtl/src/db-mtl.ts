import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type GramianWeighting, type StepInfo } from '@mtljs/core';

/** Options of `dbMtl`; bad values are BAD_CONFIG naming the option. */
export interface DbMtlOptions {
  /** EMA coefficient β of the gradient norms, in [0, 1) (default 0.9, LibMTL's `DB_beta`); 0 keeps no memory. */
  beta?: number;
  /** Decay σ of the EMA coefficient: β_k = β / k^σ at the k-th step, k = step + 1 (default 0, LibMTL's `DB_beta_sigma`). */
  betaSigma?: number;
  /** ε in log(L_t + ε) (default 1e-8, LibMTL's value). */
  epsilon?: number;
}

/** The state `dbMtl` carries from step to step (and into checkpoints). */
export interface DbMtlState {
  /** EMA n̂_t of ‖∇ log(L_t + ε)‖ per task of the model, in its order; null before the task's first active step. */
  gradientNorms: (number | null)[];
}

const NAME = 'db-mtl';

function option(name: string, value: unknown, low: number, high: number, highIncluded: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > high || (!highIncluded && value === high)) {
    throw new MtlError('BAD_CONFIG', `weighting '${NAME}': option '${name}' must be a number in [${low}, ${high}${highIncluded ? ']' : ')'}, got ${JSON.stringify(value)}`, {
      plugin: NAME,
      option: name,
    });
  }
  return value;
}

/**
 * DB-MTL, Dual-Balancing Multi-Task Learning (Lin et al. 2023), as a weighting of the Gramian.
 * Loss scale: each task's loss becomes log(L_t + ε), whose gradient is ĝ_t = g_t / (L_t + ε).
 * Gradient magnitude: with n̂_t ← β_k n̂_t + (1 − β_k) ‖ĝ_t‖ (‖g_t‖ = √G_tt), the update is
 *   Σ_t (max_s n̂_s / n̂_t) ĝ_t = Σ_t w_t g_t,   w_t = (max_s n̂_s / n̂_t) / (L_t + ε),
 * the maximum over the active tasks. (The paper keeps an EMA of the vectors ĝ_t; see the README.)
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { dbMtl } from '@mtljs/weighting-db-mtl';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: dbMtl() });
 * ```
 */
export function dbMtl(options: DbMtlOptions = {}): GramianWeighting<DbMtlState> {
  checkOptions(`weighting '${NAME}'`, options, ['beta', 'betaSigma', 'epsilon']);
  const beta = option('beta', options.beta ?? 0.9, 0, 1, false);
  const betaSigma = option('betaSigma', options.betaSigma ?? 0, 0, Number.MAX_VALUE, true);
  const epsilon = option('epsilon', options.epsilon ?? 1e-8, 0, Number.MAX_VALUE, true);

  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => dbMtl(next as DbMtlOptions),
    init: (context) => ({ gradientNorms: context.taskNames.map(() => null) }),
    weigh(gramian: Tensor2D, losses: Tensor1D, state: DbMtlState, info: StepInfo) {
      const taskCount = info.taskNames.length;
      if (state?.gradientNorms?.length !== taskCount) {
        throw new MtlError('BAD_CONFIG', `weighting '${NAME}': its state holds ${state?.gradientNorms?.length ?? 0} tasks, the model has ${taskCount}; start from init()`, {
          plugin: NAME,
          expected: taskCount,
          received: state?.gradientNorms?.length,
        });
      }
      const g = gramian.arraySync();
      const values = Array.from(losses.dataSync());
      const shifted = values.map((value, k) => {
        const task = info.activeTasks[k];
        if (!Number.isFinite(value) || !(value + epsilon > 0)) {
          throw new MtlError(
            'NON_FINITE_LOSS',
            `weighting '${NAME}': the loss of task '${task}' is ${value} at step ${info.step}; DB-MTL takes log(loss + ε), so every loss must be above −ε (${-epsilon})`,
            { plugin: NAME, task, step: info.step, received: value },
          );
        }
        return value + epsilon;
      });
      const betaK = beta / (info.step + 1) ** betaSigma;
      const gradientNorms = [...state.gradientNorms];
      const active = info.activeIndices.map((t, k) => {
        // ‖∇ log(L_t + ε)‖ = ‖g_t‖ / (L_t + ε), ‖g_t‖ = √G_tt.
        const norm = Math.sqrt(Math.max(g[k]![k]!, 0)) / shifted[k]!;
        const previous = state.gradientNorms[t];
        const smoothed = previous === null || previous === undefined ? norm : betaK * previous + (1 - betaK) * norm;
        gradientNorms[t] = smoothed;
        return smoothed;
      });
      const largest = Math.max(...active);
      // A task whose smoothed norm is 0 has had zero gradients throughout: any weight gives it a zero term.
      const scales = active.map((n) => (n > 0 ? largest / n : 1));
      const weights = scales.map((scale, k) => scale / shifted[k]!);
      return {
        weights,
        state: { gradientNorms },
        diagnostics: { values: Object.fromEntries(info.activeTasks.map((task, k) => [`scale/${task}`, scales[k]!])) },
      };
    },
  };
}
