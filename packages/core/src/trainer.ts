import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Batch, DataSource, GradientSite, MultiTaskModel, PluginReference, StepReport, TaskGramian, Weighting } from './contracts';
import { assertBackend } from './backend';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, namedMap, packTensors, unpackTensors, type Checkpoint, type CheckpointManifest } from './checkpoint';
import { disposeBatch } from './data/memory';
import { labelledCounts, prepareBatch, TrainStepEngine, type FreezeOptions } from './engine';
import { MtlError } from './errors';
import { lossFor, maskedMean } from './losses/losses';
import { createMetric, metricNamesFor, type MetricAccumulator } from './losses/metrics';
import { createRegistry, defaultRegistry, type Registry } from './registry';
import { Rng } from './rng';
import { equalWeighting, staticWeighting } from './weighting/builtin';

export type OptimizerSpec =
  | tf.Optimizer
  | { name: 'sgd' | 'adam' | 'rmsprop' | 'adagrad'; learningRate?: number }
  | { name: 'momentum'; learningRate?: number; momentum?: number };

export interface TrainerOptions {
  model: MultiTaskModel;
  /**
   * A weighting plugin, or a registered one by name (`'pcgrad'`) or with options
   * (`{ name: 'pcgrad', options: { reduction: 'mean' } }`). Default: equal weighting (sum).
   */
  weighting?: Weighting<any> | string | PluginReference;
  /** Gradient site for gradient-level weightings (default: the weighting's first site). */
  site?: GradientSite;
  /** Default: Adam with learning rate 1e-3. */
  optimizer?: OptimizerSpec;
  /** Fixes shuffling and the weighting's randomness (the model's initialisation has its own seed). */
  seed?: number;
  registry?: Registry;
  /**
   * Variables held fixed: `{ shared: true }` trains only the heads (e.g. while a task added with
   * `model.addTask` warms up); `{ tasks: ['a'] }` keeps task a's head as it is.
   */
  freeze?: FreezeOptions;
}

export interface TaskEvaluation {
  /** Raw task loss averaged over the labelled examples. */
  loss: number;
  /** Labelled examples seen. */
  count: number;
  metrics: Record<string, number>;
}

export interface EvaluationReport {
  tasks: Record<string, TaskEvaluation>;
}

export interface EpochReport {
  epoch: number;
  /** Mean of each task's step losses over the epoch (active steps only). */
  trainLosses: Record<string, number>;
  /** Mean of each task's weights over the epoch (active steps only). */
  meanWeights: Record<string, number>;
  validation?: EvaluationReport;
  steps: number;
}

export interface TrainerCallbacks {
  onStep?(report: StepReport): void | Promise<void>;
  /**
   * A warning of a step (e.g. a weighting's solver that hit its iteration limit). When no callback
   * has onWarning, the trainer writes each distinct warning once with console.warn.
   */
  onWarning?(warning: { step: number; message: string }): void | Promise<void>;
  onEpochEnd?(report: EpochReport): void | Promise<void>;
}

export interface FitOptions {
  epochs: number;
  validation?: DataSource;
  callbacks?: TrainerCallbacks | TrainerCallbacks[];
  /** Reshuffle each epoch with the trainer's seeded RNG when the source supports it (default true). */
  shuffle?: boolean;
}

/** Registered weighting by reference; EW and static are built in, so they resolve without registering. */
function resolveWeighting(registry: Registry, reference: string | PluginReference): Weighting<any> {
  const name = typeof reference === 'string' ? reference : reference.name;
  if (!registry.has('weighting', name) && (name === 'ew' || name === 'static')) {
    const builtIn = createRegistry();
    builtIn.register(name === 'ew' ? equalWeighting() : staticWeighting({ weights: {} }));
    return builtIn.resolve('weighting', reference);
  }
  return registry.resolve('weighting', reference);
}

function createOptimizer(spec: OptimizerSpec | undefined): tf.Optimizer {
  if (spec === undefined) return tf.train.adam(1e-3);
  if (spec instanceof tf.Optimizer) return spec;
  const lr = spec.learningRate;
  switch (spec.name) {
    case 'sgd':
      return tf.train.sgd(lr ?? 0.01);
    case 'momentum':
      return tf.train.momentum(lr ?? 0.01, spec.momentum ?? 0.9);
    case 'adam':
      return tf.train.adam(lr ?? 1e-3);
    case 'rmsprop':
      return tf.train.rmsprop(lr ?? 1e-3);
    case 'adagrad':
      return tf.train.adagrad(lr ?? 0.01);
    default:
      throw new MtlError('BAD_CONFIG', `unknown optimizer '${String((spec as { name: unknown }).name)}'; use sgd, momentum, adam, rmsprop or adagrad`, {
        available: ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad'],
      });
  }
}

/**
 * Trains a multi-task model: `step` for one batch, `fit` for epochs over a DataSource with
 * validation, `evaluate` for per-task losses and metrics.
 *
 * @example
 * ```ts
 * import { fromArrays, register, Trainer, useBackend } from '@mtljs/core';
 * import { cpuBackend } from '@mtljs/backend-cpu';
 * import { hardSharing } from '@mtljs/sharing-hard';
 *
 * register(cpuBackend());
 * await useBackend('auto');
 * const x = Array.from({ length: 64 }, (_, i) => [Math.sin(i), Math.cos(i)]);
 * const data = fromArrays(
 *   { inputs: x, targets: { sum: x.map(([a, b]) => a + b), positive: x.map(([a]) => (a > 0 ? 1 : 0)) } },
 *   { batchSize: 16 },
 * );
 * const model = hardSharing().build(
 *   {
 *     tasks: [{ name: 'sum', kind: 'regression', units: 1 }, { name: 'positive', kind: 'binary', units: 1 }],
 *     inputShape: [2],
 *     encoder: { type: 'mlp', units: [8] },
 *   },
 *   { seed: 1 },
 * );
 * const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 1 });
 * await trainer.fit(data, { epochs: 5 });
 * console.log((await trainer.evaluate(data)).tasks);
 * trainer.dispose();
 * model.dispose();
 * ```
 */
export class Trainer {
  readonly model: MultiTaskModel;
  readonly engine: TrainStepEngine;
  readonly optimizer: tf.Optimizer;
  private rng: Rng;
  private epochCount = 0;

  constructor(options: TrainerOptions) {
    if (!options?.model) throw new MtlError('BAD_CONFIG', 'a Trainer needs a `model` (build one with a sharing strategy)');
    assertBackend('Trainer');
    this.model = options.model;
    const registry = options.registry ?? defaultRegistry();
    const reference = options.weighting;
    const weighting =
      reference === undefined
        ? equalWeighting()
        : typeof reference === 'string' || !('kind' in reference)
          ? resolveWeighting(registry, reference)
          : reference;
    const seed = options.seed ?? 0;
    this.rng = Rng.fromSeed(seed);
    this.optimizer = createOptimizer(options.optimizer);
    this.engine = new TrainStepEngine({
      model: this.model,
      weighting,
      optimizer: this.optimizer,
      site: options.site,
      seed: this.rng.nextSeed(),
      freeze: options.freeze,
    });
  }

  /** Optimiser steps taken so far. */
  get stepCount(): number {
    return this.engine.step;
  }

  get epoch(): number {
    return this.epochCount;
  }

  /**
   * One optimiser step on a batch. The batch stays the caller's to dispose. The report's
   * `warnings` are also written with console.warn (once each), as `fit` does without onWarning.
   */
  step(batch: Batch): StepReport {
    const report = this.engine.runStep(batch, this.epochCount);
    void this.warn(report, []);
    return report;
  }

  /**
   * `step` with every device read awaited: the same numbers, and it also works on backends that
   * cannot read tensors synchronously (WebGPU in Node or on a software adapter). `fit` uses it.
   */
  async stepAsync(batch: Batch): Promise<StepReport> {
    const report = await this.engine.runStepAsync(batch, this.epochCount);
    await this.warn(report, []);
    return report;
  }

  private readonly warned = new Set<string>();

  private async warn(report: StepReport, callbacks: TrainerCallbacks[]): Promise<void> {
    if (report.warnings.length === 0) return;
    const listeners = callbacks.filter((c) => c.onWarning);
    for (const message of report.warnings) {
      if (listeners.length) {
        for (const listener of listeners) await listener.onWarning!({ step: report.step, message });
      } else {
        // A message repeats verbatim only when its step number matches, so key on the text without digits.
        const key = message.replace(/\d+(\.\d+)?(e[-+]\d+)?/g, '#');
        if (!this.warned.has(key)) {
          this.warned.add(key);
          console.warn(`mtljs: ${message}`);
        }
      }
    }
  }

  async fit(source: DataSource, options: FitOptions): Promise<EpochReport[]> {
    if (!Number.isInteger(options?.epochs) || options.epochs < 0) {
      throw new MtlError('BAD_CONFIG', `fit: epochs must be a non-negative integer, got ${options?.epochs}`);
    }
    const callbacks = options.callbacks === undefined ? [] : Array.isArray(options.callbacks) ? options.callbacks : [options.callbacks];
    const history: EpochReport[] = [];
    for (let e = 0; e < options.epochs; e++) {
      const epochSource = options.shuffle !== false && source.shuffled ? source.shuffled(this.rng.nextSeed()) : source;
      const sums: Record<string, { loss: number; weight: number; count: number }> = {};
      for (const task of this.model.taskNames) sums[task] = { loss: 0, weight: 0, count: 0 };
      let steps = 0;
      for await (const batch of epochSource) {
        let report: StepReport;
        try {
          report = await this.engine.runStepAsync(batch, this.epochCount);
        } finally {
          disposeBatch(batch);
        }
        steps += 1;
        for (const task of this.model.taskNames) {
          if (!report.active[task]) continue;
          sums[task]!.loss += report.losses[task]!;
          sums[task]!.weight += report.weights[task]!;
          sums[task]!.count += 1;
        }
        for (const callback of callbacks) await callback.onStep?.(report);
        await this.warn(report, callbacks);
      }
      const epochReport: EpochReport = {
        epoch: this.epochCount,
        steps,
        trainLosses: Object.fromEntries(Object.entries(sums).map(([t, s]) => [t, s.count ? s.loss / s.count : Number.NaN])),
        meanWeights: Object.fromEntries(Object.entries(sums).map(([t, s]) => [t, s.count ? s.weight / s.count : Number.NaN])),
      };
      if (options.validation) epochReport.validation = await this.evaluate(options.validation);
      this.epochCount += 1;
      history.push(epochReport);
      for (const callback of callbacks) await callback.onEpochEnd?.(epochReport);
    }
    return history;
  }

  /**
   * The Gramian of the tasks' gradients at `site` (default 'features') on a batch, without taking
   * a step; see {@link TrainStepEngine.probeGramian}. The batch stays the caller's to dispose.
   * `cosineFromGramian` turns it into the tasks' pairwise gradient cosines.
   */
  async probeGramian(batch: Batch, site: GradientSite = 'features'): Promise<TaskGramian> {
    return this.engine.probeGramian(batch, site);
  }

  /** Current values of the weighting's trainable parameters (e.g. uncertainty's log-variances), by key. */
  weightingParameters(): Record<string, number[]> {
    return Object.fromEntries(Object.entries(this.engine.weightingParams).map(([key, variable]) => [key, Array.from(variable.dataSync())]));
  }

  /** Per-task loss (raw, over labelled examples) and metrics over a whole source. Disposes its batches. */
  async evaluate(source: DataSource): Promise<EvaluationReport> {
    return evaluateModel(this.model, source);
  }

  /**
   * Everything needed to continue this run: model variables, optimiser slots, the weighting's
   * state and trainable parameters, the trainer's RNG, step and epoch, plus `meta` (the caller's:
   * the CLI stores its config). Encode it with `encodeCheckpoint`, or `writeCheckpointFile` in Node.
   */
  async saveCheckpoint(meta?: Record<string, unknown>): Promise<Checkpoint> {
    const modelWeights = this.model.getWeights();
    const optimizerWeights = await this.optimizer.getWeights();
    try {
      const { entries, data } = await packTensors({
        model: Object.entries(modelWeights).map(([name, tensor]) => ({ name, tensor })),
        optimizer: optimizerWeights.map(({ name, tensor }) => ({ name, tensor })),
        weighting: Object.entries(this.engine.weightingParams).map(([name, tensor]) => ({ name, tensor })),
      });
      const manifest: CheckpointManifest = {
        format: CHECKPOINT_FORMAT,
        version: CHECKPOINT_VERSION,
        createdAt: new Date().toISOString(),
        step: this.engine.step,
        epoch: this.epochCount,
        tasks: this.model.tasks.map((task) => ({ name: task.name, kind: task.kind, units: task.units })),
        weighting: { name: this.engine.weighting.name, level: this.engine.weighting.level, site: this.engine.site, state: this.engine.weightingState },
        optimizer: { className: this.optimizer.getClassName() },
        rng: this.rng.state(),
        tensors: entries,
        ...(meta === undefined ? {} : { meta }),
      };
      return { manifest, data };
    } finally {
      Object.values(modelWeights).forEach((t) => t.dispose());
      // The optimiser hands out its own variables (keep them) and a fresh iteration count (ours).
      optimizerWeights.forEach(({ tensor }) => {
        if (!(tensor instanceof tf.Variable)) tensor.dispose();
      });
    }
  }

  /**
   * Restores a checkpoint written by `saveCheckpoint` into this trainer (same tasks, model
   * architecture, weighting and optimiser class). Everything is checked before anything
   * changes; a mismatch is BAD_CHECKPOINT naming it.
   */
  async loadCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const { manifest } = checkpoint ?? {};
    if (!manifest || !(checkpoint.data instanceof Uint8Array)) throw new MtlError('BAD_CHECKPOINT', 'loadCheckpoint needs { manifest, data } (see decodeCheckpoint)');
    const own = this.model.tasks.map((task) => `${task.name}:${task.kind}:${task.units}`).join(', ');
    const theirs = manifest.tasks.map((task) => `${task.name}:${task.kind}:${task.units}`).join(', ');
    if (own !== theirs) {
      throw new MtlError('BAD_CHECKPOINT', `the checkpoint's tasks (${theirs}) differ from the model's (${own})`, { expected: own, received: theirs });
    }
    if (manifest.weighting.name !== this.engine.weighting.name) {
      throw new MtlError('BAD_CHECKPOINT', `the checkpoint was written with weighting '${manifest.weighting.name}'; this trainer uses '${this.engine.weighting.name}'`, {
        plugin: manifest.weighting.name,
        expected: this.engine.weighting.name,
      });
    }
    if (manifest.optimizer.className !== this.optimizer.getClassName()) {
      throw new MtlError('BAD_CHECKPOINT', `the checkpoint holds ${manifest.optimizer.className} optimiser slots; this trainer uses ${this.optimizer.getClassName()}`, {
        expected: this.optimizer.getClassName(),
        received: manifest.optimizer.className,
      });
    }
    const params = this.engine.weightingParams;
    const groups = { model: unpackTensors(checkpoint, 'model'), optimizer: unpackTensors(checkpoint, 'optimizer'), weighting: unpackTensors(checkpoint, 'weighting') };
    try {
      for (const { name, tensor } of groups.weighting) {
        const variable = params[name];
        if (!variable || variable.shape.join(',') !== tensor.shape.join(',')) {
          throw new MtlError('BAD_CHECKPOINT', `weighting parameter '${name}' [${tensor.shape.join(', ')}] does not match this trainer's (${variable ? `[${variable.shape.join(', ')}]` : 'none'})`, {
            received: name,
          });
        }
      }
      const rng = Rng.fromState(manifest.rng);
      // WeightTable.write checks every key and shape before it assigns anything.
      this.model.setWeights(namedMap(groups.model));
      if (groups.optimizer.length) {
        // tfjs optimisers replace their slot variables on setWeights without disposing the old ones.
        const previous = await this.optimizer.getWeights();
        await this.optimizer.setWeights(groups.optimizer.map(({ name, tensor }) => ({ name, tensor })));
        previous.forEach(({ tensor }) => tensor.dispose());
      }
      for (const { name, tensor } of groups.weighting) params[name]!.assign(tensor);
      this.engine.weightingState = manifest.weighting.state as never;
      this.engine.step = manifest.step;
      this.epochCount = manifest.epoch;
      this.rng = rng;
    } finally {
      [...groups.model, ...groups.optimizer, ...groups.weighting].forEach(({ tensor }) => tensor.dispose());
    }
  }

  dispose(): void {
    this.engine.dispose();
    this.optimizer.dispose();
  }
}

/** Evaluates a model on a source: per-task loss and metrics over labelled examples. */
export async function evaluateModel(model: MultiTaskModel, source: DataSource): Promise<EvaluationReport> {
  const tasks = model.tasks;
  const lossFns = tasks.map((task) => lossFor(task));
  const state = tasks.map((task) => ({
    lossSum: 0,
    count: 0,
    metrics: metricNamesFor(task).map((name) => createMetric(name, task)) as MetricAccumulator[],
  }));
  for await (const batch of source) {
    try {
      // Reads are awaited, so evaluation also runs on backends without synchronous reads.
      const prepared = prepareBatch(tasks, batch, await labelledCounts(tasks, batch));
      const batchSize = prepared.batchSize;
      const outputs = tf.tidy(() => model.apply(batch.inputs, { training: false }).outputs);
      try {
        for (const [i, task] of tasks.entries()) {
          const canonical = prepared.targets[task.name];
          if (!canonical) continue;
          const mask = prepared.masks[task.name] ?? null;
          const output = outputs[task.name]!;
          const prediction = tf.reshape(output, canonical.shape);
          const perExample = lossFns[i]!(prediction, canonical);
          const mean = maskedMean(perExample, mask);
          const [lossValue, predictionValues, targetValues, maskValues] = [
            (await mean.data())[0]!,
            (await prediction.data()) as Float32Array,
            (await canonical.data()) as Float32Array,
            mask ? ((await mask.data()) as Float32Array) : null,
          ];
          const labelled = maskValues ? maskValues.reduce((a, b) => a + b, 0) : batchSize;
          state[i]!.lossSum += lossValue * labelled;
          state[i]!.count += labelled;
          const units = canonical.shape[1] ?? 1;
          for (const metric of state[i]!.metrics) metric.update(predictionValues, targetValues, maskValues, batchSize, units);
          [prediction, perExample, mean].forEach((t) => t !== output && t.dispose());
        }
      } finally {
        Object.values(outputs).forEach((t: Tensor) => t.dispose());
        prepared.dispose();
      }
    } finally {
      disposeBatch(batch);
    }
  }
  return {
    tasks: Object.fromEntries(
      tasks.map((task, i) => [
        task.name,
        {
          loss: state[i]!.count ? state[i]!.lossSum / state[i]!.count : Number.NaN,
          count: state[i]!.count,
          metrics: Object.fromEntries(state[i]!.metrics.map((m) => [m.name, m.result()])),
        },
      ]),
    ),
  };
}
