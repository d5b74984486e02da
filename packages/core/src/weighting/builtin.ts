import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D } from '@tensorflow/tfjs-core';
import { API_VERSION, type LossWeighting } from '../contracts';
import { MtlError } from '../errors';
import { checkOptionTaskNames, checkOptions } from '../registry';

/** Options of {@link equalWeighting}. */
export interface EqualWeightingOptions {
  /** 'sum' (default): Σ_t L_t, every weight 1. 'mean': (1/T_active) Σ_t L_t. */
  reduction?: 'sum' | 'mean';
}

/**
 * Equal weighting (EW): the default. Objective Σ_t L_t over the active tasks (weights 1), or
 * their mean with `reduction: 'mean'`.
 *
 * @throws MtlError BAD_CONFIG for an unknown option or a reduction other than 'sum' and 'mean'.
 */
export function equalWeighting(options: EqualWeightingOptions = {}): LossWeighting<null> {
  checkOptions("weighting 'ew'", options, ['reduction']);
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') {
    throw new MtlError('BAD_CONFIG', `equal weighting: reduction must be 'sum' or 'mean', got '${String(reduction)}'`, { plugin: 'ew' });
  }
  return {
    kind: 'weighting',
    name: 'ew',
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => equalWeighting(next as EqualWeightingOptions),
    init: () => null,
    combine(losses: Tensor1D, state) {
      const count = losses.shape[0];
      const weight = reduction === 'mean' ? 1 / count : 1;
      return {
        loss: (reduction === 'mean' ? tf.mean(losses) : tf.sum(losses)) as Scalar,
        weights: new Array<number>(count).fill(weight),
        state,
      };
    },
  };
}

/** Options of {@link staticWeighting}. */
export interface StaticWeightingOptions {
  /** Fixed weight per task name; tasks not listed get `defaultWeight`. */
  weights: Record<string, number>;
  /** Weight of the tasks `weights` does not list (default 1). */
  defaultWeight?: number;
}

/**
 * Static weighting: objective Σ_t w_t L_t with fixed, user-given w_t.
 *
 * @throws MtlError BAD_CONFIG for an unknown option, a missing `weights` or a non-finite weight; at
 *   `init`, for a task name the model does not have.
 */
export function staticWeighting(options: StaticWeightingOptions): LossWeighting<null> {
  checkOptions("weighting 'static'", options, ['weights', 'defaultWeight']);
  if (typeof options?.weights !== 'object' || options.weights === null) {
    throw new MtlError('BAD_CONFIG', "weighting 'static': option 'weights' must be an object of task name → weight", { plugin: 'static', option: 'weights' });
  }
  const defaultWeight = options.defaultWeight ?? 1;
  for (const [task, weight] of Object.entries(options?.weights ?? {})) {
    if (!Number.isFinite(weight)) {
      throw new MtlError('BAD_CONFIG', `static weighting: weight of task '${task}' must be a finite number, got ${weight}`, {
        plugin: 'static',
        task,
      });
    }
  }
  return {
    kind: 'weighting',
    name: 'static',
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => staticWeighting(next as unknown as StaticWeightingOptions),
    init(context) {
      checkOptionTaskNames('static', 'weights', Object.keys(options.weights), context.taskNames);
      return null;
    },
    combine(losses, state, info) {
      const weights = info.activeTasks.map((task) => options.weights[task] ?? defaultWeight);
      return { loss: tf.sum(tf.mul(losses, tf.tensor1d(weights))) as Scalar, weights, state };
    },
  };
}
