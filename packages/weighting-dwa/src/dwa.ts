import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type LossWeighting } from '@mtljs/core';

/** Options of `dwa`; bad values are BAD_CONFIG naming the option. */
export interface DwaOptions {
  /** Softmax temperature τ (default 2, the paper's value); larger τ gives weights closer to 1. */
  temperature?: number;
}

/** The mean loss of each task over one completed epoch; null for a task never active in it. */
export interface DwaEpochMeans {
  /** The epoch (the engine's 0-based epoch counter). */
  epoch: number;
  /** Mean loss of each task over that epoch, in the model's task order; null where the task was never active. */
  means: (number | null)[];
}

/** The state `dwa` carries from step to step (and into checkpoints). */
export interface DwaState {
  /** The epoch whose losses are being accumulated; null before the first call. */
  epoch: number | null;
  /** Sum and number of the losses received in `epoch`, per task in the model's order. */
  sums: number[];
  /** Losses received in `epoch` per task (the denominators of the means). */
  counts: number[];
  /** The last (at most two) completed epochs, oldest first. */
  history: DwaEpochMeans[];
}

const NAME = 'dwa';

/**
 * Loss descent rate r_t(e−1) = L̄_t(e−1) / L̄_t(e−2) (Liu, Johns & Davison 2019, eq. 7), or 1
 * when either epoch mean is unknown (epochs 0 and 1, a task inactive for a whole epoch) or the
 * ratio is not finite.
 */
function descentRates(history: readonly DwaEpochMeans[], epoch: number, count: number): number[] {
  const previous = history.find((h) => h.epoch === epoch - 1);
  const beforePrevious = history.find((h) => h.epoch === epoch - 2);
  return Array.from({ length: count }, (_, t) => {
    const last = previous?.means[t];
    const first = beforePrevious?.means[t];
    if (last === null || last === undefined || first === null || first === undefined) return 1;
    const rate = last / first;
    return Number.isFinite(rate) ? rate : 1;
  });
}

/** The accumulated epoch closed into its means, keeping the last two epochs. */
function closeEpoch(state: DwaState): DwaEpochMeans[] {
  if (state.epoch === null) return state.history;
  const means = state.sums.map((sum, t) => (state.counts[t]! > 0 ? sum / state.counts[t]! : null));
  return [...state.history.filter((h) => h.epoch !== state.epoch), { epoch: state.epoch, means }].slice(-2);
}

/**
 * Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, eq. 7). Over the active tasks A,
 *   w_t(e) = |A| · exp(r_t(e−1)/τ) / Σ_{i∈A} exp(r_i(e−1)/τ),   r_t(e−1) = L̄_t(e−1) / L̄_t(e−2),
 * L̄_t(e) the mean of the losses task t received during epoch e; objective Σ_{t∈A} w_t L_t.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { dwa } from '@mtljs/weighting-dwa';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: dwa() });
 * ```
 */
export function dwa(options: DwaOptions = {}): LossWeighting<DwaState> {
  checkOptions(`weighting '${NAME}'`, options, ['temperature']);
  const temperature = options.temperature ?? 2;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new MtlError('BAD_CONFIG', `weighting '${NAME}': option 'temperature' must be a finite number > 0, got ${JSON.stringify(temperature)}`, {
      plugin: NAME,
      option: 'temperature',
    });
  }
  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => dwa(next as DwaOptions),
    init: (context) => ({
      epoch: null,
      sums: context.taskNames.map(() => 0),
      counts: context.taskNames.map(() => 0),
      history: [],
    }),
    combine(losses, state, info) {
      const taskCount = info.taskNames.length;
      if (state.sums.length !== taskCount) {
        throw new MtlError('BAD_CONFIG', `weighting '${NAME}': its state holds ${state.sums.length} tasks, the model has ${taskCount}; start from init()`, {
          plugin: NAME,
          expected: taskCount,
          received: state.sums.length,
        });
      }
      const epoch = info.epoch;
      const sameEpoch = state.epoch === epoch;
      const history = sameEpoch ? state.history : closeEpoch(state);
      const sums = sameEpoch ? [...state.sums] : state.sums.map(() => 0);
      const counts = sameEpoch ? [...state.counts] : state.counts.map(() => 0);

      const rates = descentRates(history, epoch, taskCount);
      const active = info.activeIndices.map((i) => rates[i]! / temperature);
      // Softmax over the active tasks, shifted by the maximum for stability.
      const top = Math.max(...active);
      const exps = active.map((v) => Math.exp(v - top));
      const total = exps.reduce((sum, v) => sum + v, 0);
      const weights = exps.map((v) => (active.length * v) / total);

      // The losses feed the epoch means (read once per step; they are the importance-scaled ones).
      const values = losses.dataSync();
      info.activeIndices.forEach((t, k) => {
        sums[t] = sums[t]! + values[k]!;
        counts[t] = counts[t]! + 1;
      });

      const loss = tf.sum(tf.mul(losses, tf.tensor1d(weights))) as Scalar;
      return { loss, weights, state: { epoch, sums, counts, history } };
    },
  };
}
