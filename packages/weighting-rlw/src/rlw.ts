import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, Rng, checkOptions, type LossWeighting, type RngState } from '@mtljs/core';

/** Options of `rlw`; bad values are BAD_CONFIG naming the option. */
export interface RlwOptions {
  /**
   * 'one' (default, as LibMTL's RLW): w = softmax(z), the weights sum to 1.
   * 'tasks': w = |A| · softmax(z), the weights sum to the number of active tasks |A| (the scale of
   * equal weighting's sum).
   */
  scale?: 'one' | 'tasks';
}

/** The state `rlw` carries from step to step (and into checkpoints): its random generator. */
export interface RlwState {
  /** The generator's state; its stream gives the draws of the next steps. */
  rng: RngState;
}

const NAME = 'rlw';
const SCALES = ['one', 'tasks'] as const;

/**
 * Random Loss Weighting (Lin et al., TMLR 2022, "Reasonable Effectiveness of Random Weighting: A
 * Litmus Test for Multi-Task Learning"): at every step z ~ N(0, I) over the active tasks A,
 * w = softmax(z) (times |A| with scale 'tasks'), objective Σ_{t∈A} w_t L_t.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { rlw } from '@mtljs/weighting-rlw';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: rlw() });
 * ```
 */
export function rlw(options: RlwOptions = {}): LossWeighting<RlwState> {
  checkOptions(`weighting '${NAME}'`, options, ['scale']);
  const scale = options.scale ?? 'one';
  if (!(SCALES as readonly string[]).includes(scale)) {
    throw new MtlError('BAD_CONFIG', `weighting '${NAME}': option 'scale' must be 'one' or 'tasks', got ${JSON.stringify(scale)}`, {
      plugin: NAME,
      option: 'scale',
      available: SCALES,
    });
  }
  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => rlw(next as RlwOptions),
    init: (context) => ({ rng: Rng.fromSeed(context.seed).state() }),
    combine(losses, state, info) {
      const rng = Rng.fromState(state.rng);
      // One standard normal per active task, in the order of info.activeTasks.
      const z = info.activeIndices.map(() => rng.normal());
      const top = Math.max(...z);
      const exps = z.map((v) => Math.exp(v - top));
      const total = exps.reduce((sum, v) => sum + v, 0);
      const factor = scale === 'tasks' ? z.length : 1;
      const weights = exps.map((v) => (factor * v) / total);
      const loss = tf.sum(tf.mul(losses, tf.tensor1d(weights))) as Scalar;
      return { loss, weights, state: { rng: rng.state() } };
    },
  };
}
