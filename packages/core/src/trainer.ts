import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Batch, DataSource, GradientSite, MultiTaskModel, PluginReference, StepReport, TaskGramian, Weighting } from './contracts';
import { assertBackend } from './backend';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkManifest,
  namedMap,
  packTensors,
  unpackTensors,
  type Checkpoint,
  type CheckpointGroup,
  type CheckpointManifest,
  type CheckpointTensor,
} from './checkpoint';
import { disposeBatch } from './data/memory';
import { labelledCounts, prepareBatch, TrainStepEngine, type FreezeOptions, type NonFinitePolicy } from './engine';
import { MtlError, type MtlErrorDetails } from './errors';
import { lossFor, maskedMean } from './losses/losses';
import { createMetric, metricNamesFor, type MetricAccumulator } from './losses/metrics';
import { createRegistry, defaultRegistry, type Registry } from './registry';
import { Rng, type RngState } from './rng';
import { equalWeighting, staticWeighting } from './weighting/builtin';

/**
 * The trainer's optimiser: a `tf.Optimizer` used as it is, or a tfjs optimiser by name
 * (`tf.train.<name>`, tfjs defaults for everything not listed here). Another name is BAD_CONFIG.
 */
export type OptimizerSpec =
  | tf.Optimizer
  | {
      /** `tf.train.sgd`, `adam`, `rmsprop` or `adagrad`. */
      name: 'sgd' | 'adam' | 'rmsprop' | 'adagrad';
      /** Default: 0.01 for sgd and adagrad, 1e-3 for adam and rmsprop. */
      learningRate?: number;
    }
  | {
      /** `tf.train.momentum`: SGD with momentum. */
      name: 'momentum';
      /** Default: 0.01. */
      learningRate?: number;
      /** Momentum coefficient. Default: 0.9. */
      momentum?: number;
    };

/** Options of `new Trainer(...)`; only `model` is required. */
export interface TrainerOptions {
  /** The model to train, built by a sharing strategy; it stays the caller's to dispose. */
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
  /** Fixes shuffling and the weighting's randomness (the model's initialisation has its own seed). Default: 0. */
  seed?: number;
  /**
   * Where a weighting given by name is looked up. Default: the default registry. 'ew' and
   * 'static' resolve even when not registered.
   */
  registry?: Registry;
  /**
   * Variables held fixed: `{ shared: true }` trains only the heads (e.g. while a task added with
   * `model.addTask` warms up); `{ tasks: ['a'] }` keeps task a's head as it is.
   */
  freeze?: FreezeOptions;
  /**
   * A step whose task loss, weight, objective or update is NaN or ±Inf changes nothing, and then:
   * 'throw' (default) throws MtlError NON_FINITE_LOSS naming the task and the step; 'skip' drops
   * the step and counts it (`StepReport.skipped`/`skips`, `EpochReport.skipped`, `Trainer.skips`).
   */
  nonFinite?: NonFinitePolicy;
}

/** One task's result in an `EvaluationReport`. */
export interface TaskEvaluation {
  /** Raw task loss averaged over the labelled examples. */
  loss: number;
  /** Labelled examples seen. */
  count: number;
  /**
   * Metric values by name: the task's `metrics`, else by kind accuracy (multiclass, multilabel),
   * accuracy and f1 (binary), rmse, mae and r2 (regression).
   */
  metrics: Record<string, number>;
}

/** What `Trainer.evaluate` and `evaluateModel` return. */
export interface EvaluationReport {
  /** Per task name: loss, labelled count and metrics. A task with no labelled example has loss NaN. */
  tasks: Record<string, TaskEvaluation>;
}

/** One epoch of `Trainer.fit`: passed to `onEpochEnd` and returned in `fit`'s history. */
export interface EpochReport {
  /** 0-based index, counted over the trainer's life (restored by `loadCheckpoint`). */
  epoch: number;
  /** Mean of each task's step losses over the epoch (active steps only). */
  trainLosses: Record<string, number>;
  /** Mean of each task's weights over the epoch (active steps only). */
  meanWeights: Record<string, number>;
  /** `evaluate` on `FitOptions.validation` after the epoch, when one is given. */
  validation?: EvaluationReport;
  /**
   * Steps (batches) taken in the epoch by this `fit` call (a resumed epoch counts only the
   * batches after the checkpoint), skipped ones included.
   */
  steps: number;
  /** Steps of the epoch skipped under the 'skip' non-finite policy (they are left out of the means). */
  skipped: number;
}

/** Hooks that `Trainer.fit` calls; a returned promise is awaited before training goes on. */
export interface TrainerCallbacks {
  /** After each step of `fit`, with its report. */
  onStep?(report: StepReport): void | Promise<void>;
  /**
   * A warning of a step (e.g. a weighting's solver that hit its iteration limit). When no callback
   * has onWarning, the trainer writes each distinct warning once with console.warn.
   */
  onWarning?(warning: { step: number; message: string }): void | Promise<void>;
  /** After each epoch (and its validation), with its report. */
  onEpochEnd?(report: EpochReport): void | Promise<void>;
}

/** Options of `Trainer.fit`. */
export interface FitOptions {
  /** Epochs to run: a non-negative integer (else BAD_CONFIG); 0 runs none. */
  epochs: number;
  /** Evaluated after each epoch; the result goes into `EpochReport.validation`. */
  validation?: DataSource;
  /** One set of callbacks, or several, called in array order. */
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
  /** The model being trained (`TrainerOptions.model`). */
  readonly model: MultiTaskModel;
  /** The engine that runs the steps: its weighting, site, state and trainable weighting parameters. */
  readonly engine: TrainStepEngine;
  /** The optimiser made from `TrainerOptions.optimizer` (or the `tf.Optimizer` given there). */
  readonly optimizer: tf.Optimizer;
  private rng: Rng;
  private epochCount = 0;
  /** Batches of the current epoch that `fit` has trained on; 0 at an epoch boundary. */
  private batchInEpoch = 0;
  /** The RNG state at the start of the current epoch (before its shuffle draw), while `batchInEpoch` > 0. */
  private epochRng: RngState | null = null;

  /**
   * Resolves the weighting and creates the optimiser and the engine.
   *
   * @throws MtlError `BAD_CONFIG` without a model or with an unknown optimiser name;
   *   `BACKEND_UNAVAILABLE` when no tfjs backend is registered; `UNKNOWN_PLUGIN` for a weighting
   *   name not registered; and the errors of `new TrainStepEngine`.
   */
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
    try {
      this.engine = new TrainStepEngine({
        model: this.model,
        weighting,
        optimizer: this.optimizer,
        site: options.site,
        seed: this.rng.nextSeed(),
        freeze: options.freeze,
        nonFinite: options.nonFinite,
      });
    } catch (error) {
      // An optimiser made here holds tensors (its learning rate); one the caller gave stays theirs.
      if (options.optimizer !== this.optimizer) this.optimizer.dispose();
      throw error;
    }
  }

  /** Optimiser steps taken so far. */
  get stepCount(): number {
    return this.engine.step;
  }

  /** Epochs completed so far: the `epoch` of the next step's report. */
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

  /**
   * Trains for `options.epochs` epochs over `source`: one step per batch, with awaited reads as in
   * `stepAsync`, and each batch disposed after its step. Each epoch the source is reshuffled with
   * the seeded RNG when it has `shuffled(seed)` (unless `shuffle` is false), and `validation` is
   * evaluated at its end. A step's error (e.g. NON_FINITE_LOSS) ends the fit; so does an epoch in
   * which a task had no labelled example at all (BAD_DATA naming it: its head would never train).
   *
   * Resuming: after `loadCheckpoint` of a checkpoint written inside a `fit` epoch (e.g. from
   * `onStep`), the first epoch of this call finishes that epoch: the trainer redraws the shuffle
   * that epoch had (the RNG state of the epoch's start is in the checkpoint), skips the batches
   * already trained on (they are read and disposed), and trains on the rest. It counts as one of
   * `epochs`, so a run of E epochs resumes with `fit(source, { epochs: E - trainer.epoch })` and
   * ends exactly as the uninterrupted run would have (same data order, same variables).
   *
   * @returns One report per epoch run.
   * @throws MtlError `BAD_CONFIG` when `epochs` is not a non-negative integer.
   */
  async fit(source: DataSource, options: FitOptions): Promise<EpochReport[]> {
    if (!Number.isInteger(options?.epochs) || options.epochs < 0) {
      throw new MtlError('BAD_CONFIG', `fit: epochs must be a non-negative integer, got ${options?.epochs}`);
    }
    const callbacks = options.callbacks === undefined ? [] : Array.isArray(options.callbacks) ? options.callbacks : [options.callbacks];
    const history: EpochReport[] = [];
    for (let e = 0; e < options.epochs; e++) {
      // Mid-epoch after loadCheckpoint: replay the epoch's shuffle draw and pass over its done batches.
      const done = this.epochRng !== null ? this.batchInEpoch : 0;
      if (this.epochRng !== null) this.rng = Rng.fromState(this.epochRng);
      this.epochRng = this.rng.state();
      this.batchInEpoch = done;
      const epochSource = options.shuffle !== false && source.shuffled ? source.shuffled(this.rng.nextSeed()) : source;
      const sums: Record<string, { loss: number; weight: number; count: number }> = {};
      for (const task of this.model.taskNames) sums[task] = { loss: 0, weight: 0, count: 0 };
      let steps = 0;
      let skipped = 0;
      let seen = 0;
      const labelledSteps = new Set<string>();
      for await (const batch of epochSource) {
        if (seen < done) {
          seen += 1;
          disposeBatch(batch);
          continue;
        }
        seen += 1;
        let report: StepReport;
        try {
          report = await this.engine.runStepAsync(batch, this.epochCount);
        } finally {
          disposeBatch(batch);
        }
        steps += 1;
        this.batchInEpoch = seen;
        if (report.skipped) skipped += 1;
        for (const task of this.model.taskNames) if (report.active[task]) labelledSteps.add(task);
        for (const task of this.model.taskNames) {
          if (report.skipped) break;
          if (!report.active[task]) continue;
          sums[task]!.loss += report.losses[task]!;
          sums[task]!.weight += report.weights[task]!;
          sums[task]!.count += 1;
        }
        for (const callback of callbacks) await callback.onStep?.(report);
        await this.warn(report, callbacks);
      }
      if (seen < done) {
        throw new MtlError('BAD_DATA', `fit: the checkpoint was written after batch ${done} of epoch ${this.epochCount}, but the source gave only ${seen} batches`, {
          expected: done,
          received: seen,
        });
      }
      // A whole epoch in which a task never had a label: its head would never train.
      const unlabelled = this.model.taskNames.filter((task) => !labelledSteps.has(task));
      if (done === 0 && steps > 0 && unlabelled.length) {
        throw new MtlError(
          'BAD_DATA',
          `task${unlabelled.length > 1 ? 's' : ''} ${unlabelled.map((t) => `'${t}'`).join(', ')} had no labelled example in the whole training source ` +
            `(epoch ${this.epochCount}, ${steps} batches); label some examples or leave the task out of the model`,
          { task: unlabelled[0], tasks: unlabelled },
        );
      }
      this.batchInEpoch = 0;
      this.epochRng = null;
      const epochReport: EpochReport = {
        epoch: this.epochCount,
        steps,
        skipped,
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
      const scalars = await optimizerScalars(this.optimizer);
      const manifest: CheckpointManifest = {
        format: CHECKPOINT_FORMAT,
        version: CHECKPOINT_VERSION,
        createdAt: new Date().toISOString(),
        step: this.engine.step,
        epoch: this.epochCount,
        tasks: this.model.tasks.map((task) => ({ name: task.name, kind: task.kind, units: task.units })),
        weighting: {
          name: this.engine.weighting.name,
          apiVersion: this.engine.weighting.apiVersion,
          level: this.engine.weighting.level,
          site: this.engine.site,
          state: this.engine.weightingState,
        },
        optimizer: { className: this.optimizer.getClassName(), ...(Object.keys(scalars).length ? { scalars } : {}) },
        rng: this.rng.state(),
        ...(this.epochRng !== null && this.batchInEpoch > 0 ? { position: { batch: this.batchInEpoch, epochRng: this.epochRng } } : {}),
        skips: this.engine.skips,
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
   * architecture, weighting and optimiser class): model variables, optimiser slots, weighting
   * state and parameters, RNG, step, epoch, skip count and the position inside an epoch (see
   * `fit`). Everything is checked before anything changes: the manifest's structure, the tasks,
   * the weighting's name, apiVersion, level and site, the optimiser's class, every tensor's name
   * and shape against this trainer's variables and optimiser slots, and the weighting state's
   * structure against this trainer's. A mismatch is BAD_CHECKPOINT naming it, and leaves the
   * trainer as it was.
   *
   * @throws MtlError `BAD_CHECKPOINT`.
   */
  async loadCheckpoint(checkpoint: Checkpoint): Promise<void> {
    if (!checkpoint || typeof checkpoint !== 'object' || !(checkpoint.data instanceof Uint8Array)) {
      throw new MtlError('BAD_CHECKPOINT', 'loadCheckpoint needs { manifest, data } (see decodeCheckpoint)');
    }
    const manifest = checkManifest(checkpoint.manifest, checkpoint.data.byteLength, 'checkpoint');
    const bad = (message: string, details: MtlErrorDetails = {}) => new MtlError('BAD_CHECKPOINT', message, details);
    const own = this.model.tasks.map((task) => `${task.name}:${task.kind}:${task.units}`).join(', ');
    const theirs = manifest.tasks.map((task) => `${task.name}:${task.kind}:${task.units}`).join(', ');
    if (own !== theirs) throw bad(`the checkpoint's tasks (${theirs}) differ from the model's (${own})`, { expected: own, received: theirs });
    const weighting = this.engine.weighting;
    if (manifest.weighting.name !== weighting.name) {
      throw bad(`the checkpoint was written with weighting '${manifest.weighting.name}'; this trainer uses '${weighting.name}'`, {
        plugin: manifest.weighting.name,
        expected: weighting.name,
      });
    }
    if (manifest.weighting.apiVersion !== undefined && manifest.weighting.apiVersion !== weighting.apiVersion) {
      throw bad(`the checkpoint's weighting '${weighting.name}' has apiVersion ${manifest.weighting.apiVersion}; this trainer's has ${weighting.apiVersion}`, {
        plugin: weighting.name,
        expected: weighting.apiVersion,
        received: manifest.weighting.apiVersion,
      });
    }
    if (manifest.weighting.level !== weighting.level || (manifest.weighting.site ?? null) !== this.engine.site) {
      throw bad(
        `the checkpoint's weighting '${weighting.name}' ran at level '${manifest.weighting.level}', site ${JSON.stringify(manifest.weighting.site)}; ` +
          `this trainer's at level '${weighting.level}', site ${JSON.stringify(this.engine.site)}`,
        { plugin: weighting.name, expected: this.engine.site, received: manifest.weighting.site },
      );
    }
    const stateProblem = structureProblem(this.engine.weightingState, manifest.weighting.state, 'state');
    if (stateProblem) throw bad(`the checkpoint's state of weighting '${weighting.name}' does not fit it: ${stateProblem}`, { plugin: weighting.name });
    if (manifest.optimizer.className !== this.optimizer.getClassName()) {
      throw bad(`the checkpoint holds ${manifest.optimizer.className} optimiser slots; this trainer uses ${this.optimizer.getClassName()}`, {
        expected: this.optimizer.getClassName(),
        received: manifest.optimizer.className,
      });
    }
    this.checkTensorLayout(manifest.tensors);
    const scalars = manifest.optimizer.scalars ?? {};
    const ownScalars = await optimizerScalars(this.optimizer);
    for (const key of Object.keys(scalars)) {
      if (!(key in ownScalars)) throw bad(`the checkpoint's optimiser value '${key}' has no counterpart in this trainer's ${this.optimizer.getClassName()}`, { received: key });
    }

    const params = this.engine.weightingParams;
    const groups = { model: unpackTensors(checkpoint, 'model'), optimizer: unpackTensors(checkpoint, 'optimizer'), weighting: unpackTensors(checkpoint, 'weighting') };
    try {
      this.model.setWeights(namedMap(groups.model));
      if (groups.optimizer.length) {
        // tfjs optimisers replace their slot variables on setWeights without disposing the old ones.
        const previous = await this.optimizer.getWeights();
        await this.optimizer.setWeights(groups.optimizer.map(({ name, tensor }) => ({ name, tensor })));
        previous.forEach(({ tensor }) => tensor.dispose());
      }
      // tfjs recomputes Adam's β^t from the iteration count on setWeights (pow), while training
      // multiplies step by step; the two can differ in the last bit, so the stored values win.
      for (const [key, value] of Object.entries(scalars)) tf.tidy(() => (this.optimizer as unknown as Record<string, tf.Variable>)[key]!.assign(tf.scalar(value)));
      for (const { name, tensor } of groups.weighting) params[name]!.assign(tensor);
      this.engine.weightingState = manifest.weighting.state as never;
      this.engine.step = manifest.step;
      this.engine.skips = manifest.skips ?? 0;
      this.epochCount = manifest.epoch;
      this.rng = Rng.fromState(manifest.rng);
      const position = manifest.position && manifest.position.batch > 0 ? manifest.position : null;
      this.batchInEpoch = position?.batch ?? 0;
      this.epochRng = position ? [...position.epochRng] : null;
    } finally {
      [...groups.model, ...groups.optimizer, ...groups.weighting].forEach(({ tensor }) => tensor.dispose());
    }
  }

  /**
   * Checks the checkpoint's tensors against this trainer: the model's variables (same names,
   * same shapes, none missing), the weighting's parameters, and the optimiser's slots (an
   * iteration count, then whole slot sets, each laid out like the engine's variables).
   */
  private checkTensorLayout(entries: readonly CheckpointTensor[]): void {
    const bad = (message: string, details: MtlErrorDetails = {}) => new MtlError('BAD_CHECKPOINT', message, details);
    const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
    const group = (name: CheckpointGroup) => entries.filter((entry) => entry.group === name);
    const modelWeights = this.model.getWeights();
    const expected = new Map(Object.entries(modelWeights).map(([name, tensor]) => [name, [...tensor.shape]]));
    Object.values(modelWeights).forEach((tensor) => tensor.dispose());
    const check = (what: string, stored: CheckpointTensor[], wanted: Map<string, number[]>) => {
      for (const entry of stored) {
        const shape = wanted.get(entry.name);
        if (!shape) throw bad(`the checkpoint has ${what} '${entry.name}', which this trainer does not; it has: ${[...wanted.keys()].join(', ') || 'none'}`, { received: entry.name });
        if (!sameShape(shape, entry.shape)) {
          throw bad(`${what} '${entry.name}' is [${entry.shape.join(', ')}] in the checkpoint, [${shape.join(', ')}] here`, { expected: shape, received: entry.shape });
        }
        if (entry.dtype !== 'float32') throw bad(`${what} '${entry.name}' is ${entry.dtype} in the checkpoint; float32 expected`, { expected: 'float32', received: entry.dtype });
      }
      const names = new Set(stored.map((entry) => entry.name));
      const missing = [...wanted.keys()].filter((name) => !names.has(name));
      if (missing.length || names.size !== stored.length) {
        throw bad(`the checkpoint's ${what}s do not match this trainer's: ${missing.length ? `missing ${missing.join(', ')}` : 'a name repeats'}`, { expected: [...wanted.keys()] });
      }
    };
    check('model variable', group('model'), expected);
    check('weighting parameter', group('weighting'), new Map(Object.entries(this.engine.weightingParams).map(([name, v]) => [name, [...v.shape]])));
    const slots = group('optimizer');
    if (slots.length === 0) return;
    const layout = this.engine.slotShapes();
    if (slots[0]!.shape.length !== 0) throw bad(`the checkpoint's first optimiser tensor '${slots[0]!.name}' must be the iteration count (a scalar), got [${slots[0]!.shape.join(', ')}]`);
    const rest = slots.slice(1);
    if (layout.length === 0 ? rest.length !== 0 : rest.length % layout.length !== 0) {
      throw bad(`the checkpoint holds ${rest.length} optimiser slots; this trainer's ${layout.length} variables take a multiple of ${layout.length}`, {
        expected: layout.length,
        received: rest.length,
      });
    }
    rest.forEach((entry, j) => {
      const shape = layout[j % layout.length]!;
      if (entry.dtype !== 'float32') throw bad(`optimiser slot '${entry.name}' (#${j}) is ${entry.dtype} in the checkpoint; float32 expected`, { expected: 'float32', received: entry.dtype });
      if (!sameShape(shape, entry.shape)) {
        throw bad(`optimiser slot '${entry.name}' (#${j}) is [${entry.shape.join(', ')}] in the checkpoint; this trainer's variable #${j % layout.length} is [${shape.join(', ')}]`, {
          expected: shape,
          received: entry.shape,
        });
      }
    });
  }

  /**
   * Disposes the engine's weighting parameters and the optimiser (also one given as a
   * `tf.Optimizer`); the model stays the caller's.
   */
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

/**
 * Scalar variables an optimiser keeps outside `getWeights()` (Adam's β1^t and β2^t, Adamax's
 * β1^t), by property name, as numbers (float32 values are exact in JSON).
 */
async function optimizerScalars(optimizer: tf.Optimizer): Promise<Record<string, number>> {
  const scalars: Record<string, number> = {};
  for (const [key, value] of Object.entries(optimizer)) {
    if (value instanceof tf.Variable && value.rank === 0 && value.dtype === 'float32') scalars[key] = (await value.data())[0]!;
  }
  return scalars;
}

/**
 * Why `candidate` (a stored weighting state) cannot stand in for `reference` (the state this
 * trainer's weighting keeps), or null. The rules fit JSON states that grow while training: a key
 * or array element the reference does not have is accepted, a null in the reference accepts
 * anything, and a null stands for a number (JSON writes NaN as null); otherwise the JSON types
 * must agree, objects must keep every key of the reference, and array elements must match the
 * reference's first element.
 */
function structureProblem(reference: unknown, candidate: unknown, path: string): string | null {
  if (reference === null || reference === undefined) return null;
  const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
  const want = kind(reference);
  const got = kind(candidate);
  if (got === 'null' && want === 'number') return null;
  if (want !== got) return `${path} is ${got === 'null' ? 'null' : `a${got === 'array' || got === 'object' ? 'n' : ''} ${got}`}, expected a${want === 'array' || want === 'object' ? 'n' : ''} ${want}`;
  if (want === 'array') {
    const items = reference as unknown[];
    if (items.length === 0) return null;
    for (const [i, item] of (candidate as unknown[]).entries()) {
      const problem = structureProblem(items[Math.min(i, items.length - 1)], item, `${path}[${i}]`);
      if (problem) return problem;
    }
    return null;
  }
  if (want === 'object') {
    const object = candidate as Record<string, unknown>;
    for (const [key, value] of Object.entries(reference as Record<string, unknown>)) {
      if (!(key in object) && value !== undefined) return `${path}.${key} is missing`;
      const problem = structureProblem(value, object[key], `${path}.${key}`);
      if (problem) return problem;
    }
  }
  return null;
}
