import * as tf from '@tensorflow/tfjs-core';
import {
  cosineFromGramian,
  defaultRegistry,
  disposeBatch,
  Trainer,
  useBackend,
  type Batch,
  type DataSource,
  type EpochReport,
  type MultiTaskModel,
  type Registry,
  type StepReport,
  type TaskSpec,
} from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { configuredSharing, modelSpec } from './catalog';
import type { PlaygroundSettings } from './settings';

/** Per-task values of one step; null where the value is undefined (inactive task, no weight). */
export type TaskNumbers = Record<string, number | null>;

export interface StepPoint {
  step: number;
  epoch: number;
  losses: TaskNumbers;
  weights: TaskNumbers;
  /** When the step's report arrived (performance.now(), ms). */
  at: number;
}

export interface EpochPoint {
  /** 0-based epoch. */
  epoch: number;
  steps: number;
  trainLosses: TaskNumbers;
  /** Validation loss and metrics per task after the epoch. */
  validation: Record<string, { loss: number | null; metrics: TaskNumbers }>;
}

/**
 * The running mean of the pairwise cosine similarity of the tasks' gradients. `source` is
 * 'gramian' when it comes from the Gramian the weighting computed at every step (at its own
 * site), 'probe' when the page probed the Gramian at the features site every `probeEvery` steps.
 */
export interface CosineSummary {
  source: 'gramian' | 'probe';
  tasks: string[];
  /** Mean over the samples where both tasks had a gradient; null where none had. */
  mean: (number | null)[][];
  samples: number;
}

export type SessionStatus = 'ready' | 'running' | 'paused' | 'finished' | 'failed' | 'disposed';

/** Tensors alive after each step, from step {@link FLAT_FROM} on (the optimiser's slots exist by then). */
export interface TensorRange {
  min: number;
  max: number;
  last: number;
  since: number;
}

/** Steps after which the number of live tensors must stop changing. */
export const FLAT_FROM = 3;

export interface SessionOptions {
  registry?: Registry;
  /** Lets the page draw and take input between steps; default a zero-delay timeout. */
  yieldControl?: () => Promise<void>;
  /** Where the backend choice is reported; default silent. */
  log?: (message: string) => void;
}

/** Thrown inside Trainer.fit's step callback to leave it when the session is reset. */
const STOP = Symbol('stop');

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function finite(value: number | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function finiteValues(values: Record<string, number>): TaskNumbers {
  return Object.fromEntries(Object.entries(values).map(([task, value]) => [task, finite(value)]));
}

/** The synthetic data of the settings, as `syntheticTasks` (@mtljs/datasets) generates it. */
export function makeDataset(settings: PlaygroundSettings): { tasks: TaskSpec[]; inputShape: number[]; train: DataSource & { batches(): Generator<Batch> }; validation: DataSource & { batches(): Generator<Batch> } } {
  const d = settings.dataset;
  const data = syntheticTasks({
    tasks: d.tasks,
    correlation: d.correlation,
    kind: d.kind,
    inputDim: d.inputDim,
    trainSize: d.trainSize,
    validationSize: d.validationSize,
    batchSize: d.batchSize,
    seed: d.seed,
  });
  return { tasks: data.tasks, inputShape: data.inputShape, train: data.train, validation: data.validation };
}

/** The first `count` batches of a source; the caller disposes them. */
export function firstBatches(source: { batches(): Generator<Batch> }, count: number): Batch[] {
  const out: Batch[] = [];
  const iterator = source.batches();
  try {
    while (out.length < count) {
      const next = iterator.next();
      if (next.done) break;
      out.push(next.value);
    }
  } finally {
    iterator.return(undefined);
  }
  return out;
}

/** Steps of the clustered strategy's warm-up before its model is built. */
const WARMUP_STEPS = 20;

/**
 * One live training run: the backend made current, the synthetic data, the model built by the
 * sharing strategy, a Trainer with the weighting, and the history the page draws. `start()` runs
 * `Trainer.fit` one epoch at a time (so the trainer counts epochs, which DWA and GradNorm read),
 * and after every step hands control back to the page, and waits while paused. `dispose()`
 * stops it and frees every tensor it made.
 */
export class TrainingSession {
  readonly tasks: string[];
  /** The tfjs backend that runs the session (`tf.getBackend()` after activation). */
  readonly backend: string;
  readonly backendReason: string;
  readonly steps: StepPoint[] = [];
  readonly epochs: EpochPoint[] = [];
  readonly warnings: string[] = [];
  cosine: CosineSummary | null = null;
  tensors: TensorRange | null = null;
  /** Why no cosine is shown, when the probe cannot run with this model. */
  cosineNote: string | null = null;
  error: Error | null = null;

  private currentStatus: SessionStatus = 'ready';
  private loop: Promise<void> | null = null;
  private resume: (() => void) | null = null;
  private stopping = false;
  private listeners = new Set<() => void>();
  private cosineSums: number[][] = [];
  private cosineCounts: number[][] = [];

  private constructor(
    readonly settings: PlaygroundSettings,
    private readonly model: MultiTaskModel,
    private readonly trainer: Trainer,
    private readonly data: ReturnType<typeof makeDataset>,
    private readonly probeBatch: Batch | null,
    backend: { name: string; reason: string },
    private readonly yieldControl: () => Promise<void>,
  ) {
    this.tasks = [...model.taskNames];
    this.backend = backend.name;
    this.backendReason = backend.reason;
    this.cosineSums = this.tasks.map(() => this.tasks.map(() => 0));
    this.cosineCounts = this.tasks.map(() => this.tasks.map(() => 0));
  }

  /** Activates the backend, generates the data and builds model and trainer (nothing trains yet). */
  static async create(settings: PlaygroundSettings, options: SessionOptions = {}): Promise<TrainingSession> {
    const registry = options.registry ?? defaultRegistry();
    const choice = await useBackend(settings.backend, { registry, log: options.log ?? (() => {}) });
    const data = makeDataset(settings);
    const spec = modelSpec(settings, data.tasks, data.inputShape);
    // Batches a strategy warms up on before it builds (clustered); freed once the model is built.
    const warmup: Batch[] = [];
    let model: MultiTaskModel | undefined;
    let trainer: Trainer | undefined;
    try {
      const sharing = configuredSharing(registry, settings.sharing, {
        tasks: data.tasks,
        warmupBatches: () => {
          warmup.push(...firstBatches(data.train, 4));
          return warmup;
        },
        warmupSteps: WARMUP_STEPS,
      });
      model = sharing.build(spec, { seed: settings.seed });
      trainer = new Trainer({
        model,
        registry,
        weighting: { name: settings.weighting, options: settings.weightingOptions },
        ...(settings.site ? { site: settings.site } : {}),
        optimizer: { name: settings.optimizer, learningRate: settings.learningRate },
        seed: settings.seed,
      });
      const probe = settings.probeEvery > 0 ? (firstBatches(data.validation, 1)[0] ?? null) : null;
      return new TrainingSession(settings, model, trainer, data, probe, { name: tf.getBackend(), reason: choice.reason }, options.yieldControl ?? nextTask);
    } catch (error) {
      trainer?.dispose();
      model?.dispose();
      throw error;
    } finally {
      for (const batch of warmup) disposeBatch(batch);
    }
  }

  get status(): SessionStatus {
    return this.currentStatus;
  }

  /** Optimiser steps taken. */
  get stepCount(): number {
    return this.trainer.stepCount;
  }

  /** Completed epochs. */
  get epochCount(): number {
    return this.epochs.length;
  }

  /** Calls `listener` after every step, epoch and change of status; returns its remover. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  private setStatus(status: SessionStatus): void {
    this.currentStatus = status;
    this.emit();
  }

  /** Starts training, or resumes it after `pause()`. */
  start(): void {
    if (this.currentStatus === 'paused') {
      this.setStatus('running');
      this.resume?.();
      return;
    }
    if (this.currentStatus !== 'ready') return;
    this.setStatus('running');
    this.loop = this.run();
  }

  /** Pauses after the step in progress. */
  pause(): void {
    if (this.currentStatus === 'running') this.setStatus('paused');
  }

  /** Resolves when training has ended (finished, failed or stopped). */
  async finished(): Promise<void> {
    await this.loop;
  }

  private async run(): Promise<void> {
    const callbacks = {
      onStep: (report: StepReport) => this.onStep(report),
      onEpochEnd: (report: EpochReport) => this.onEpochEnd(report),
      onWarning: (warning: { step: number; message: string }) => {
        if (this.warnings.length < 20) this.warnings.push(`step ${warning.step}: ${warning.message}`);
      },
    };
    try {
      while (this.epochs.length < this.settings.epochs && !this.stopping) {
        await this.trainer.fit(this.data.train, { epochs: 1, validation: this.data.validation, callbacks });
      }
      if (!this.stopping) this.setStatus('finished');
    } catch (error) {
      if (error === STOP) return;
      this.error = error as Error;
      this.setStatus('failed');
    }
  }

  private async onStep(report: StepReport): Promise<void> {
    this.steps.push({ step: report.step, epoch: report.epoch, losses: finiteValues(report.losses), weights: finiteValues(report.weights), at: performance.now() });
    if (report.gramian) {
      this.addCosine('gramian', report.gramian);
    } else if (this.probeBatch && this.settings.probeEvery > 0 && report.step % this.settings.probeEvery === 0 && this.cosineNote === null) {
      try {
        this.addCosine('probe', await this.trainer.probeGramian(this.probeBatch, 'features'));
      } catch (error) {
        this.cosineNote = `the gradient probe at the features site failed: ${(error as Error).message}`;
      }
    }
    this.countTensors(report.step);
    this.emit();
    await this.gate();
  }

  private async onEpochEnd(report: EpochReport): Promise<void> {
    const validation = Object.fromEntries(
      Object.entries(report.validation?.tasks ?? {}).map(([task, result]) => [task, { loss: finite(result.loss), metrics: finiteValues(result.metrics) }]),
    );
    this.epochs.push({ epoch: report.epoch, steps: report.steps, trainLosses: finiteValues(report.trainLosses), validation });
    this.countTensors(this.trainer.stepCount);
    this.emit();
    await this.gate();
  }

  private countTensors(step: number): void {
    if (step < FLAT_FROM) return;
    const count = tf.memory().numTensors;
    this.tensors = this.tensors
      ? { min: Math.min(this.tensors.min, count), max: Math.max(this.tensors.max, count), last: count, since: this.tensors.since }
      : { min: count, max: count, last: count, since: step };
  }

  private addCosine(source: CosineSummary['source'], gramian: { tasks: string[]; values: number[][] }): void {
    const cosine = cosineFromGramian(gramian.values);
    const index = gramian.tasks.map((task) => this.tasks.indexOf(task));
    for (const [i, row] of cosine.entries()) {
      for (const [j, value] of row.entries()) {
        if (value === null || !Number.isFinite(value) || index[i]! < 0 || index[j]! < 0) continue;
        this.cosineSums[index[i]!]![index[j]!]! += value;
        this.cosineCounts[index[i]!]![index[j]!]! += 1;
      }
    }
    this.cosine = {
      source,
      tasks: this.tasks,
      mean: this.cosineSums.map((row, i) => row.map((sum, j) => (this.cosineCounts[i]![j]! > 0 ? sum / this.cosineCounts[i]![j]! : null))),
      samples: (this.cosine?.source === source ? this.cosine.samples : 0) + 1,
    };
  }

  /** Between steps: lets the page run, then waits while paused; leaves fit() when stopping. */
  private async gate(): Promise<void> {
    await this.yieldControl();
    while (this.currentStatus === 'paused' && !this.stopping) {
      await new Promise<void>((resolve) => {
        this.resume = resolve;
      });
      this.resume = null;
    }
    if (this.stopping) throw STOP;
  }

  /** Stops training (after the step in progress) and frees the model, the trainer and the probe batch. */
  async dispose(): Promise<void> {
    if (this.currentStatus === 'disposed') return;
    this.stopping = true;
    this.resume?.();
    await this.loop;
    this.trainer.dispose();
    this.model.dispose();
    if (this.probeBatch) disposeBatch(this.probeBatch);
    this.setStatus('disposed');
    this.listeners.clear();
  }
}
