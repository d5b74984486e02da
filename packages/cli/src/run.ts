import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  currentBackend,
  disposeBatch,
  isMtlError,
  MtlError,
  Trainer,
  useBackend,
  writeCheckpointFile,
  type Batch,
  type DataSource,
  type EvaluationReport,
  type GradientSite,
  type MultiTaskModel,
  type Registry,
  type SharingStrategy,
  type TrainerCallbacks,
} from '@mtljs/core';
import { RunLogWriter } from '@mtljs/report';
import type { CliConfig, LoadedConfig } from './config';
import { firstBatch, type RunData } from './data';
import { isInterrupted, RunInterrupted } from './exit-codes';
import { checkConfigPlugins, loadPluginPackages, resolveConfigured } from './plugins';
import { formatNumber, ProgressRenderer, type ProgressStream } from './progress';

/** What a run needs besides its config and data. */
export interface RunContext {
  /** Registry the config's plugin names resolve from and its `plugins` packages register in. */
  registry: Registry;
  /** Progress and messages; nothing is printed when absent. */
  stream?: ProgressStream;
  /** Plain progress lines every N steps when the stream is not a TTY (0: epoch lines only). */
  logEvery?: number;
  /** Aborting it stops training after the current step; the log ends 'interrupted'. */
  signal?: AbortSignal;
}

/** One trained run, as written to its folder. */
export interface RunResult {
  /** The run's name, as in its log's `run` record. */
  name: string;
  /** `single-task` for a baseline run, else `multi-task`. */
  role: 'multi-task' | 'single-task';
  /** The run's folder and its files. */
  dir: string;
  /** Absolute path of the run's `log.jsonl`. */
  log: string;
  /** Absolute paths of the checkpoint files still on disk, oldest first (`checkpoint.keep` deletes older ones). */
  checkpoints: string[];
  /** The final evaluation (test split, else validation, else train). */
  evaluation: {
    /** The split evaluated: `test`, `validation` or `train`. */
    split: string;
    /** Per-task loss and metrics on that split. */
    report: EvaluationReport;
  };
  /** The validation evaluation after the last epoch, when there is a validation split. */
  validation?: EvaluationReport;
  /** Optimiser steps taken. */
  steps: number;
  /** Wall time of the run in seconds, from the start of `trainRun` to the final evaluation. */
  seconds: number;
  /** Registry name of the sharing strategy. */
  sharing: string;
  /** Registry name of the weighting. */
  weighting: string;
  /** Gradient site of a gradient-level weighting; null for loss-level ones. */
  site: GradientSite | null;
}

/** File names inside a run folder. */
export const RUN_FILES = {
  /** The run log (`@mtljs/report`'s JSONL format). */
  log: 'log.jsonl',
  /** The resolved config (defaults filled in, paths absolute, overrides applied). */
  config: 'config.json',
  /** The record schema fitted on the training file (CSV/JSONL data only). */
  schema: 'data-schema.json',
  /** The HTML report. */
  report: 'report.html',
  /** Folder of the `epoch-<n>.mtlckpt` checkpoint files. */
  checkpoints: 'checkpoints',
} as const;

/** `epoch-<n>.mtlckpt`: the checkpoint written after epoch n (1-based). */
export function checkpointName(epoch: number): string {
  return `epoch-${epoch}.mtlckpt`;
}

const CHECKPOINT_PATTERN = /^epoch-(\d+)\.mtlckpt$/;

/** The checkpoints of a run folder, by epoch, oldest first. */
export function listCheckpoints(dir: string): {
  /** Epochs completed when it was written (the `<n>` of `epoch-<n>.mtlckpt`, 1-based). */
  epoch: number;
  /** Absolute path of the file when `dir` is absolute (it is joined to `dir`). */
  path: string;
}[] {
  const folder = join(dir, RUN_FILES.checkpoints);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .map((file) => ({ match: CHECKPOINT_PATTERN.exec(file), file }))
    .filter((entry) => entry.match !== null)
    .map((entry) => ({ epoch: Number(entry.match![1]), path: join(folder, entry.file) }))
    .sort((a, b) => a.epoch - b.epoch);
}

/**
 * Loads the config's plugin packages, checks every plugin name and option it gives against the
 * registry, and activates its backend (once per call; the choice is printed to `stream`).
 */
export async function prepare(loaded: LoadedConfig, context: RunContext, options: { backend?: boolean } = {}): Promise<void> {
  await loadPluginPackages(loaded, context.registry);
  checkConfigPlugins(loaded, context.registry);
  if (options.backend !== false) {
    try {
      await useBackend(loaded.config.backend, { registry: context.registry, log: (message) => context.stream?.write(`${message}\n`) });
    } catch (error) {
      if (isMtlError(error)) throw new MtlError(error.code, `${loaded.label}: backend: ${error.message}`, error.details, { cause: error });
      throw error;
    }
  }
}

function prefixed(error: unknown, prefix: string, codes: readonly string[]): unknown {
  if (isMtlError(error) && codes.includes(error.code)) return new MtlError(error.code, `${prefix}: ${error.message}`, error.details, { cause: error });
  return error;
}

/** The model a config describes, for the data's tasks; spec errors name the `model` field. */
export function buildModel(loaded: LoadedConfig, data: RunData, registry: Registry): { model: MultiTaskModel; strategy: SharingStrategy } {
  const { config, label } = loaded;
  const strategy = resolveConfigured(registry, 'sharing', config.model.sharing, label, 'model.sharing');
  const spec = { tasks: data.tasks, inputShape: data.inputShape, encoder: config.model.encoder, ...(config.model.head ? { head: config.model.head } : {}) };
  try {
    return { model: strategy.build(spec, { seed: config.seed }), strategy };
  } catch (error) {
    throw prefixed(error, `${label}: model`, ['BAD_CONFIG', 'SHAPE_MISMATCH']);
  }
}

/** A trainer for the model as the config says (weighting, site, optimiser, seed). */
export function createTrainer(loaded: LoadedConfig, model: MultiTaskModel, registry: Registry): Trainer {
  const { config, label } = loaded;
  const weighting = resolveConfigured(registry, 'weighting', config.weighting, label, 'weighting');
  try {
    return new Trainer({
      model,
      weighting,
      ...(config.site ? { site: config.site } : {}),
      ...(config.nonFinite ? { nonFinite: config.nonFinite } : {}),
      optimizer: config.optimizer,
      seed: config.seed,
      registry,
    });
  } catch (error) {
    if (isMtlError(error) && error.code === 'UNSUPPORTED_SITE') throw prefixed(error, `${label}: site`, ['UNSUPPORTED_SITE']);
    throw prefixed(error, `${label}: weighting`, ['BAD_CONFIG']);
  }
}

/** The split a final evaluation uses: test, else validation, else train. */
export function finalSplit(data: RunData): { split: 'test' | 'validation' | 'train'; source: DataSource } {
  if (data.test) return { split: 'test', source: data.test };
  if (data.validation) return { split: 'validation', source: data.validation };
  return { split: 'train', source: data.train };
}

/** Steps per epoch when the source's size and the config's batchSize option give it. */
function knownStepsPerEpoch(config: CliConfig, data: RunData): number | undefined {
  const batchSize = (config.data.options as { batchSize?: unknown } | undefined)?.batchSize;
  const size = data.train.size;
  if (typeof batchSize !== 'number' || !(batchSize > 0) || typeof size !== 'number') return undefined;
  return Math.ceil(size / batchSize);
}

/** Where gradient probes run: the features site when the model's strategy supports it. */
function probeSite(strategy: SharingStrategy): GradientSite {
  return !strategy.sites || strategy.sites.includes('features') ? 'features' : 'shared';
}

/** One run for {@link trainRun} to train. */
export interface RunSpec {
  /** The run's config. */
  loaded: LoadedConfig;
  /** The opened data (shared by the runs of a bench or tune). */
  data: RunData;
  /** The run folder; created when missing, its old checkpoints deleted. */
  dir: string;
  /** The run's name, written to its log and checkpoints. */
  name: string;
  /** `single-task` for a baseline run, else `multi-task`. */
  role: 'multi-task' | 'single-task';
}

/**
 * Trains one run into its folder: `config.json` (the resolved config), `data-schema.json` (when
 * the data fitted one), `log.jsonl`, and `checkpoints/epoch-<n>.mtlckpt` at epoch ends; then the
 * final evaluation. The log ends 'completed', 'failed' (the error rethrown) or 'interrupted'.
 * Every tensor it makes is disposed.
 */
export async function trainRun(spec: RunSpec, context: RunContext): Promise<RunResult> {
  const { loaded, data, dir, name, role } = spec;
  const { config } = loaded;
  const started = performance.now();
  mkdirSync(join(dir, RUN_FILES.checkpoints), { recursive: true });
  // A rerun into the same folder must not leave a longer run's checkpoints for `mtl eval` to pick.
  for (const old of listCheckpoints(dir)) rmSync(old.path, { force: true });
  writeFileSync(join(dir, RUN_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  if (data.schema !== undefined) writeFileSync(join(dir, RUN_FILES.schema), `${JSON.stringify(data.schema, null, 2)}\n`);

  const { model, strategy } = buildModel(loaded, data, context.registry);
  let trainer: Trainer | undefined;
  let probeBatch: Batch | undefined;
  const logPath = join(dir, RUN_FILES.log);
  const fd = openSync(logPath, 'w');
  // Synchronous writes: every line is in the file when its call returns, so a crash or Ctrl-C keeps the log.
  const writer = new RunLogWriter((line) => {
    writeSync(fd, line);
  });
  const stream = context.stream;
  const progress = stream ? new ProgressRenderer(stream, { epochs: config.epochs, tasks: data.tasks.map((t) => t.name), stepsPerEpoch: knownStepsPerEpoch(config, data), logEvery: context.logEvery ?? 0 }) : undefined;
  const checkpoints: string[] = [];
  let validation: EvaluationReport | undefined;
  try {
    trainer = createTrainer(loaded, model, context.registry);
    const weighting = trainer.engine.weighting;
    await writer.start({
      name,
      tasks: data.tasks.map((task) => ({ name: task.name, kind: task.kind, units: task.units })),
      sharing: strategy.name,
      weighting: weighting.name,
      site: trainer.engine.site,
      backend: currentBackend(),
      seed: config.seed,
      role,
      config,
    });
    if (config.probe.every > 0 && weighting.level !== 'gramian') {
      probeBatch = await firstBatch(data.validation ?? data.train);
    }
    const activeTrainer = trainer;
    const site = probeSite(strategy);
    const warned = new Set<string>();
    const own: TrainerCallbacks = {
      onStep: async (report) => {
        progress?.step(report);
        // Signals are delivered between macrotasks; a step's awaits are microtasks, so yield once.
        await new Promise((resolve) => setImmediate(resolve));
        if (context.signal?.aborted) throw new RunInterrupted();
      },
      onWarning: (warning) => {
        const key = warning.message.replace(/\d+(\.\d+)?(e[-+]\d+)?/g, '#');
        if (!warned.has(key)) {
          warned.add(key);
          progress?.message(`warning (step ${warning.step}): ${warning.message}`);
        }
      },
      onEpochEnd: async (report) => {
        progress?.epochEnd(report);
        validation = report.validation;
        const epoch = report.epoch + 1;
        const every = config.checkpoint.every === 'epoch' ? 1 : config.checkpoint.every;
        if (epoch % every === 0 || epoch === config.epochs) {
          const path = join(dir, RUN_FILES.checkpoints, checkpointName(epoch));
          const meta: Record<string, unknown> = { run: name, role, config };
          if (data.schema !== undefined) meta.schema = data.schema;
          await writeCheckpointFile(path, await activeTrainer.saveCheckpoint(meta));
          // `epoch` is the index of the epoch that ended, as in epoch records; the file is named by epochs completed.
          await writer.checkpoint({ epoch: report.epoch, step: activeTrainer.stepCount, path: relative(dir, path) });
          checkpoints.push(path);
          const keep = config.checkpoint.keep;
          while (keep !== undefined && checkpoints.length > keep) rmSync(checkpoints.shift()!, { force: true });
        }
      },
    };
    const logged = writer.callbacks({
      every: config.log.every,
      ...(probeBatch ? { probe: { gramian: () => activeTrainer.probeGramian(probeBatch!, site), every: config.probe.every } } : {}),
    });
    await trainer.fit(data.train, { epochs: config.epochs, ...(data.validation ? { validation: data.validation } : {}), callbacks: [logged, own] });
    const final = finalSplit(data);
    const report = await trainer.evaluate(final.source);
    await writer.eval(final.split, report);
    await writer.end('completed', undefined, trainer.stepCount);
    progress?.finish();
    const result: RunResult = {
      name,
      role,
      dir,
      log: logPath,
      checkpoints,
      evaluation: { split: final.split, report },
      steps: trainer.stepCount,
      seconds: (performance.now() - started) / 1000,
      sharing: strategy.name,
      weighting: weighting.name,
      site: trainer.engine.site,
    };
    if (validation) result.validation = validation;
    return result;
  } catch (error) {
    progress?.finish();
    try {
      await writer.end(isInterrupted(error) ? 'interrupted' : 'failed', isInterrupted(error) ? undefined : error, trainer?.stepCount ?? 0);
    } catch {
      // The log was never started (the trainer could not be made): nothing to close in it.
    }
    throw error;
  } finally {
    closeSync(fd);
    if (probeBatch) disposeBatch(probeBatch);
    trainer?.dispose();
    model.dispose();
  }
}

/** `task: metric value, …` of an evaluation, for summary lines. */
export function evaluationSummary(report: EvaluationReport): string {
  return Object.entries(report.tasks)
    .map(([task, evaluation]) => `${task} ${Object.entries(evaluation.metrics).map(([metric, value]) => `${metric} ${formatNumber(value)}`).join(' ') || `loss ${formatNumber(evaluation.loss)}`}`)
    .join('; ');
}

/** A name safe for a folder: anything outside letters, digits, `.`, `_`, `+` and `-` becomes `-`. */
export function folderName(name: string): string {
  return name.replace(/[^\w.+-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
}

/** `yyyymmdd-hhmmss` in local time. */
export function timestamp(date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}-${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}
