import * as tf from '@tensorflow/tfjs-core';
import type { Variable } from '@tensorflow/tfjs-core';
import type { GradientSite, GramianWeighting, LossStepInfo, StepInfo, WeightingDiagnostics } from '@mtljs/core';

/** The names `task0`, `task1`, … of `count` tasks. */
export function taskNamesFor(count: number): string[] {
  return Array.from({ length: count }, (_, t) => `task${t}`);
}

/** Options of `stepInfoFor`: the parts of a StepInfo to set. */
export interface StepInfoOptions {
  /** Indices of the active tasks in the task names, in order (default: all). */
  active?: readonly number[];
  /** 0-based optimiser step (default 0). */
  step?: number;
  /** 0-based epoch (default 0). */
  epoch?: number;
  /** Default 'shared'; the engine passes null to loss weightings. */
  site?: GradientSite | null;
}

/** The StepInfo the engine passes a weighting, for `tasks`: their names, or a count of `task0`, `task1`, …. */
export function stepInfoFor(tasks: number | readonly string[], options: StepInfoOptions = {}): StepInfo {
  const taskNames = typeof tasks === 'number' ? taskNamesFor(tasks) : tasks;
  const activeIndices = [...(options.active ?? taskNames.map((_, t) => t))];
  return {
    step: options.step ?? 0,
    epoch: options.epoch ?? 0,
    taskNames,
    activeTasks: activeIndices.map((t) => taskNames[t]!),
    activeIndices,
    site: options.site === undefined ? 'shared' : options.site,
  };
}

/** Options of `lossStepInfoFor`: those of `stepInfoFor` without `site` (always null), plus the parameters. */
export interface LossStepInfoOptions extends Omit<StepInfoOptions, 'site'> {
  /** The weighting's trainable parameters (default: none). */
  params?: Record<string, Variable>;
}

/** The LossStepInfo the engine passes a loss weighting's `combine`: site null, and its parameters. */
export function lossStepInfoFor(tasks: number | readonly string[], options: LossStepInfoOptions = {}): LossStepInfo {
  const { params, ...rest } = options;
  return { ...stepInfoFor(tasks, { ...rest, site: null }), params: params ?? {} };
}

/** Options of `weighGramian`. */
export interface WeighGramianOptions<S> {
  /** The losses of the active tasks (default: 1 each). */
  losses?: readonly number[];
  /** Default: `plugin.init({ taskNames: info.taskNames, seed: 0 })`. */
  state?: S;
  /** Default: `stepInfoFor(G's size)`, every task active. */
  info?: StepInfo;
}

/** What `weigh` returned, with the weights read back as numbers. */
export interface WeighGramianResult<S> {
  /** One weight per active task, in the order of `info.activeTasks`. */
  weights: number[];
  /** The state `weigh` returned, to pass to the next call. */
  state: S;
  /** The weighting's own report of the call (solver residual, iterations, …), if it gave one. */
  diagnostics?: WeightingDiagnostics;
}

/**
 * Calls `plugin.weigh` as the engine does: G and the losses as float32 tensors that it owns and
 * disposes after the call; a weights tensor is read and disposed. Numbers out.
 */
export function weighGramian<S>(plugin: GramianWeighting<S>, gramian: readonly (readonly number[])[], options: WeighGramianOptions<S> = {}): WeighGramianResult<S> {
  const count = gramian.length;
  const info = options.info ?? stepInfoFor(count);
  const state = options.state === undefined ? plugin.init({ taskNames: info.taskNames, seed: 0 }) : options.state;
  const g = tf.tensor2d(gramian.map((row) => [...row]), [count, count]);
  const losses = tf.tensor1d(options.losses ? [...options.losses] : new Array<number>(count).fill(1));
  try {
    const result = plugin.weigh(g, losses, state, info);
    let weights: number[];
    if (result.weights instanceof tf.Tensor) {
      weights = Array.from(result.weights.dataSync());
      result.weights.dispose();
    } else weights = [...result.weights];
    return { weights, state: result.state, diagnostics: result.diagnostics };
  } finally {
    g.dispose();
    losses.dispose();
  }
}

/** What `run` throws, as is (typed Error to read its message); throws itself when `run` returns. */
export function thrownBy(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}
