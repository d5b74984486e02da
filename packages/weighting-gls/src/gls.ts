import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type LossWeighting } from '@mtljs/core';

/** GLS takes no options; the empty interface keeps the factory's signature like the others'. */
export type GlsOptions = Record<string, never>;

const NAME = 'gls';

/**
 * Geometric loss strategy (Chennupati et al., "MultiNet++", CVPR Workshops 2019): the objective
 * is the geometric mean of the active tasks' losses,
 *   GLS = (Π_t L_t)^{1/T} = exp((1/T) Σ_t log L_t),
 * computed in the log domain so a product of many small or large losses neither underflows nor
 * overflows. Its gradient is Σ_t (GLS / (T L_t)) ∇L_t; those factors are the reported weights.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { gls } from '@mtljs/weighting-gls';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: gls() });
 * ```
 */
export function gls(options: GlsOptions = {}): LossWeighting<null> {
  checkOptions(`weighting '${NAME}'`, options, []);
  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => gls(next as GlsOptions),
    init: () => null,
    combine(losses, state, info) {
      const values = Array.from(losses.dataSync());
      values.forEach((value, k) => {
        if (!(value > 0) || !Number.isFinite(value)) {
          throw new MtlError(
            'NON_FINITE_LOSS',
            `weighting '${NAME}': the loss of task '${info.activeTasks[k]}' is ${value} at step ${info.step}; ` +
              `the geometric mean needs every loss finite and > 0 (its log and the weight GLS/(T·L) are undefined otherwise)`,
            { plugin: NAME, task: info.activeTasks[k], step: info.step, received: value },
          );
        }
      });
      const count = values.length;
      const meanLog = values.reduce((sum, value) => sum + Math.log(value), 0) / count;
      const objective = Math.exp(meanLog);
      const weights = values.map((value) => objective / (count * value));
      const loss = tf.exp(tf.mean(tf.log(losses))) as Scalar;
      return { loss, weights, state };
    },
  };
}
