import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import {
  checkOptions,
  disposeBatch,
  equalWeighting,
  lossFor,
  maskedMean,
  MtlError,
  Trainer,
  type Batch,
  type DataSource,
  type ModelSpec,
  type PreparedBatch,
  type TaskSpec,
} from '@mtljs/core';
import { checkTasks, ClusteredModel, type ClusteringReport } from './model';
import { partitionTasks } from './partition';

/** How the warm-up trains and measures. */
export interface AffinityTrainingOptions {
  /** Optimiser of the warm-up training (default 'adam'). */
  optimizer?: 'adam' | 'sgd';
  /** Learning rate of the warm-up training (default 1e-2 for Adam, 0.1 for SGD). */
  learningRate?: number;
  /** η of the lookahead step θ′_{s|i} = θ_s − η ∇_{θ_s} L_i (default: learningRate). */
  lookaheadRate?: number;
}

export interface MeasureAffinityOptions extends AffinityTrainingOptions {
  /** Seed of the warm-up model (default 0). */
  seed?: number;
  /** Maximum number of groups k (default 2). */
  groups?: number;
  /** Passes over the source (default 1). */
  epochs?: number;
  /** Stop after this many steps (default: no limit beyond `epochs`). */
  steps?: number;
}

/** What measureTaskAffinity resolves to: the same report a warm-up model carries as `model.clustering`. */
export type AffinityResult = ClusteringReport;

export const DEFAULT_GROUP_COUNT = 2;

const TRAINING_KEYS = ['optimizer', 'learningRate', 'lookaheadRate'] as const;

export function checkPositive(where: string, option: string, value: unknown, integer: boolean): void {
  if (value === undefined) return;
  const ok = typeof value === 'number' && Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value));
  if (!ok) {
    throw new MtlError('BAD_CONFIG', `${where}: option '${option}' must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value) ?? String(value)}`, {
      option,
    });
  }
}

export function checkTrainingOptions(where: string, options: AffinityTrainingOptions): void {
  if (options.optimizer !== undefined && options.optimizer !== 'adam' && options.optimizer !== 'sgd') {
    throw new MtlError('BAD_CONFIG', `${where}: option 'optimizer' must be 'adam' or 'sgd', got ${JSON.stringify(options.optimizer)}`, { option: 'optimizer' });
  }
  checkPositive(where, 'learningRate', options.learningRate, false);
  checkPositive(where, 'lookaheadRate', options.lookaheadRate, false);
}

/**
 * The warm-up of Fifty et al. (2021): a one-group (hard sharing) model trained with equal
 * weighting, measuring at every step, before the update, the lookahead affinity
 * Z_{i→j} = 1 − L_j(X, θ′_{s|i}, θ_j) / L_j(X, θ_s, θ_j) with θ′_{s|i} = θ_s − η ∇_{θ_s} L_i.
 */
export class AffinityWarmup {
  readonly model: ClusteredModel;
  private readonly trainer: Trainer;
  private readonly lookaheadRate: number;
  private readonly tasks: readonly TaskSpec[];
  private readonly sums: number[][];
  private readonly counts: number[][];
  private stepCount = 0;

  constructor(spec: ModelSpec, seed: number, options: AffinityTrainingOptions = {}) {
    checkTasks(spec.tasks);
    const optimizer = options.optimizer ?? 'adam';
    const learningRate = options.learningRate ?? (optimizer === 'adam' ? 1e-2 : 0.1);
    this.lookaheadRate = options.lookaheadRate ?? learningRate;
    this.model = new ClusteredModel(spec, [spec.tasks.map((task) => task.name)], seed);
    try {
      this.trainer = new Trainer({ model: this.model, weighting: equalWeighting(), optimizer: { name: optimizer, learningRate }, seed });
    } catch (error) {
      this.model.dispose();
      throw error;
    }
    this.tasks = this.model.tasks;
    const size = this.tasks.length;
    this.sums = Array.from({ length: size }, () => new Array<number>(size).fill(0));
    this.counts = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  }

  get steps(): number {
    return this.stepCount;
  }

  /** Measures the affinity on the batch at the current parameters, then takes one EW training step on it. */
  observe(batch: Batch): void {
    this.measure(batch);
    this.trainer.step(batch);
    this.stepCount += 1;
  }

  /** One step's Z (rows: lookahead task, columns: measured task), added to the running sums. */
  private measure(batch: Batch): void {
    const engine = this.trainer.engine;
    const prepared = engine.prepare(batch);
    try {
      if (prepared.activeTasks.length === 0) return; // the training step refuses it with BAD_DATA
      const gradients = engine.taskGradients(prepared, 'shared');
      const shared = this.model.sharedVariables();
      const saved = shared.map((v) => tf.clone(v));
      try {
        const before = Array.from(gradients.losses.dataSync());
        const active = prepared.activeIndices;
        gradients.activeTasks.forEach((_, a) => {
          const gradient = gradients.row(a);
          tf.tidy(() => shared.forEach((v, p) => v.assign(tf.sub(saved[p]!, tf.mul(gradient[p]!, this.lookaheadRate)))));
          tf.dispose(gradient);
          const after = this.losses(prepared);
          active.forEach((j, b) => {
            const base = before[b]!;
            if (!(base > 0) || !Number.isFinite(after[b]!)) return; // a zero loss has no relative change
            const i = active[a]!;
            this.sums[i]![j]! += 1 - after[b]! / base;
            this.counts[i]![j]! += 1;
          });
        });
      } finally {
        shared.forEach((v, p) => v.assign(saved[p]!));
        saved.forEach((t) => t.dispose());
        gradients.dispose();
      }
    } finally {
      prepared.dispose();
    }
  }

  /**
   * Raw losses of the active tasks at the current variables, as the engine computes them: the
   * task's lossFor on the canonical targets engine.prepare made, maskedMean over labelled rows.
   */
  private losses(prepared: PreparedBatch): number[] {
    const values = tf.tidy(() => {
      const training = { training: true };
      const features = this.model.encode(prepared.inputs, training);
      const outputs = this.model.decode(features, prepared.inputs, training, prepared.activeTasks);
      const losses = prepared.activeTasks.map((name, k) => {
        const task = this.tasks[prepared.activeIndices[k]!]!;
        const target = prepared.targets[name]!;
        const output = outputs[name]!;
        const prediction = output.rank === target.rank ? output : tf.reshape(output, target.shape);
        const perExample = tf.reshape(lossFor(task)(prediction, target), [prepared.batchSize]) as Tensor1D;
        return maskedMean(perExample, prepared.masks[name] ?? null);
      });
      return tf.stack(losses);
    });
    const data = Array.from(values.dataSync());
    values.dispose();
    return data;
  }

  /** Ẑ (mean over the steps where both tasks were active; 0 where never) and the best grouping into at most `groups`. */
  result(groups: number): AffinityResult {
    const affinity = this.sums.map((row, i) => row.map((sum, j) => (this.counts[i]![j]! > 0 ? sum / this.counts[i]![j]! : 0)));
    const partition = partitionTasks(affinity, groups);
    const taskNames = this.tasks.map((task) => task.name);
    return {
      taskNames,
      affinity,
      pairSteps: this.counts.map((row) => [...row]),
      groups: partition.groups.map((members) => members.map((i) => taskNames[i]!)),
      score: partition.score,
      steps: this.stepCount,
      search: partition.search,
    };
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}

/**
 * Measures the lookahead inter-task affinity on a data source (one warm-up pass by default) and
 * returns it with the best grouping; build the clustered model with
 * `clustered({ groups: result.groups })`. Like Trainer.fit, it disposes the batches it reads.
 */
export async function measureTaskAffinity(spec: ModelSpec, source: DataSource, options: MeasureAffinityOptions = {}): Promise<AffinityResult> {
  const where = 'measureTaskAffinity';
  checkOptions(where, options, ['seed', 'groups', 'epochs', 'steps', ...TRAINING_KEYS]);
  checkTrainingOptions(where, options);
  checkPositive(where, 'groups', options.groups, true);
  checkPositive(where, 'epochs', options.epochs, true);
  checkPositive(where, 'steps', options.steps, true);
  if (options.seed !== undefined && !Number.isFinite(options.seed)) {
    throw new MtlError('BAD_CONFIG', `${where}: option 'seed' must be a number, got ${String(options.seed)}`, { option: 'seed' });
  }
  if (!source || typeof (source as AsyncIterable<Batch>)[Symbol.asyncIterator] !== 'function') {
    throw new MtlError('BAD_CONFIG', `${where}: the source must be a DataSource (an AsyncIterable of batches)`);
  }
  const seed = options.seed ?? 0;
  const warmup = new AffinityWarmup(spec, seed, options);
  try {
    const limit = options.steps ?? Number.POSITIVE_INFINITY;
    for (let epoch = 0; epoch < (options.epochs ?? 1) && warmup.steps < limit; epoch++) {
      for await (const batch of source) {
        try {
          warmup.observe(batch);
        } finally {
          disposeBatch(batch);
        }
        if (warmup.steps >= limit) break;
      }
    }
    if (warmup.steps === 0) throw new MtlError('BAD_DATA', `${where}: the source gave no batch`);
    return warmup.result(options.groups ?? DEFAULT_GROUP_COUNT);
  } finally {
    warmup.dispose();
  }
}
