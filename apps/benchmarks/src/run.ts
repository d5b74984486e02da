import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { disposeBatch, fromArrays, isMtlError, Trainer, type Batch, type DataSource, type MultiTaskModel, type Registry, type TaskSpec, type TrainerCallbacks } from '@mtljs/core';
import { multiLeNetSpec, type MultiDigitDataset } from '@mtljs/datasets';
import { readRunLog, RunLogWriter, runLogFileSink, type RunLog } from '@mtljs/report';
import type { MethodPlan } from './methods';
import type { RunResult } from './results';

/** What every run of a benchmark shares. */
export interface RunContext {
  dataset: MultiDigitDataset;
  datasetName: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** The active tfjs backend's name, for the run logs. */
  backend: string;
  /** Step records every N steps. */
  logEvery: number;
  /** Probe the Gramian at the features site every N steps when the weighting computes none (0: never). */
  probeEvery: number;
  /** The results folder; run logs go to `logFolder` below it. */
  out: string;
  /** Folder of the run logs, relative to `out`. */
  logFolder: string;
  registry: Registry;
  /** Progress lines. */
  log: (line: string) => void;
}

type Split = MultiDigitDataset['arrays']['train'];
type MemorySource = DataSource & { batches(): Generator<Batch> };

/** An in-memory source of a split with the targets of `tasks` only (a model refuses targets of tasks it does not have). */
export function splitSource(split: Split, tasks: readonly string[], batchSize: number): MemorySource {
  const targets = Object.fromEntries(tasks.map((task) => [task, split[task as 'left' | 'right']]));
  return fromArrays({ inputs: split.images, inputShape: [28, 28, 1], targets }, { batchSize });
}

function errorText(error: unknown): string {
  if (isMtlError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Progress every quarter of an epoch, and at its end. */
function progress(plan: MethodPlan, seed: number, stepsPerEpoch: number, log: (line: string) => void): TrainerCallbacks {
  const marks = new Set([1, 2, 3].map((q) => Math.round((q * stepsPerEpoch) / 4)));
  let started = performance.now();
  return {
    onStep(report) {
      const inEpoch = (report.step % stepsPerEpoch) + 1;
      if (!marks.has(inEpoch)) return;
      const losses = Object.entries(report.losses).map(([t, l]) => `${t} ${l.toFixed(3)}`).join(', ');
      const weights = Object.entries(report.weights).map(([t, w]) => `${t} ${w.toFixed(3)}`).join(', ');
      log(`  ${plan.id} seed ${seed}: epoch ${report.epoch + 1} step ${inEpoch}/${stepsPerEpoch} (${((performance.now() - started) / 1000).toFixed(0)} s) losses ${losses}; weights ${weights}`);
    },
    onEpochEnd() {
      started = performance.now();
    },
  };
}

/** The settings a run depends on besides its method and seed (its start record's `config`). */
export function runConfig(context: RunContext): Record<string, unknown> {
  return {
    dataset: context.datasetName,
    model: 'multi-LeNet (Sener & Koltun 2018)',
    trainSize: context.dataset.arrays.train.count,
    testSize: context.dataset.arrays.test.count,
    epochs: context.epochs,
    batchSize: context.batchSize,
    optimizer: { name: 'adam', learningRate: context.learningRate },
  };
}

const logPathOf = (plan: MethodPlan, seed: number, context: RunContext) => join(context.logFolder, `${plan.id}-seed${seed}.jsonl`);

/**
 * The result of an earlier run of this method and seed read back from its run log, when that run
 * completed with the same settings (`runConfig`, weighting, site, tasks, backend); else null.
 * Its seconds are the log's finishedAt − startedAt.
 */
export async function completedRun(plan: MethodPlan, seed: number, context: RunContext): Promise<RunResult | null> {
  const path = logPathOf(plan, seed, context);
  if (!existsSync(join(context.out, path))) return null;
  let log: RunLog;
  try {
    log = await readRunLog(join(context.out, path));
  } catch {
    return null;
  }
  const { run, end } = log;
  const test = log.evals.find((e) => e.split === 'test');
  const same =
    run.weighting === plan.weighting &&
    run.site === plan.site &&
    run.seed === seed &&
    run.role === plan.role &&
    run.backend === context.backend &&
    JSON.stringify(run.tasks.map((t) => t.name)) === JSON.stringify(plan.tasks) &&
    JSON.stringify(run.config) === JSON.stringify(runConfig(context));
  if (!same || end?.status !== 'completed' || !test) return null;
  const accuracy: Record<string, number> = {};
  for (const task of plan.tasks) {
    const value = test.tasks[task]?.metrics.accuracy;
    if (typeof value !== 'number') return null;
    accuracy[task] = value;
  }
  return { ...resultOf(plan, seed, path), accuracy, seconds: (Date.parse(end.finishedAt) - Date.parse(run.startedAt)) / 1000, steps: end.steps };
}

/** A completed result of a plan with no numbers yet. */
function resultOf(plan: MethodPlan, seed: number, log: string): RunResult {
  const { id, role, weighting, level, site, tasks } = plan;
  return { id, seed, role, weighting, level, site, tasks, status: 'completed', accuracy: {}, seconds: 0, steps: 0, log };
}

/**
 * Trains one method with one seed and evaluates it on the test split, writing its run log. The
 * seed fixes the model's initial values (the same for every method: the multi-LeNet's shared part
 * is built first), the data order (the trainer's seeded shuffles; every run has the same images)
 * and the weighting's own randomness. A run that throws is reported as failed, with its error,
 * and its log ends with status 'failed'.
 */
export async function runMethod(plan: MethodPlan, seed: number, context: RunContext): Promise<RunResult> {
  const started = performance.now();
  const { dataset } = context;
  const tasks: TaskSpec[] = plan.tasks.map((name) => dataset.tasks.find((t) => t.name === name)!);
  const train = splitSource(dataset.arrays.train, plan.tasks, context.batchSize);
  const test = splitSource(dataset.arrays.test, plan.tasks, context.batchSize);
  const logPath = logPathOf(plan, seed, context);
  const sink = await runLogFileSink(join(context.out, logPath));
  const writer = new RunLogWriter(sink.write);
  const result = resultOf(plan, seed, logPath);
  let model: MultiTaskModel | undefined;
  let trainer: Trainer | undefined;
  let probeBatch: Batch | undefined;
  try {
    await writer.start({
      name: plan.role === 'single-task' ? `single-task ${plan.tasks[0]} (seed ${seed})` : `${plan.weighting}${plan.site ? ` @${plan.site}` : ''} (seed ${seed})`,
      tasks: tasks.map((t) => ({ name: t.name, kind: t.kind, units: t.units })),
      sharing: 'hard',
      weighting: plan.weighting,
      site: plan.site,
      backend: context.backend,
      seed,
      role: plan.role,
      config: runConfig(context),
    });
    model = context.registry.get('sharing', 'hard').build(multiLeNetSpec(tasks), { seed });
    trainer = new Trainer({
      model,
      weighting: plan.weighting,
      ...(plan.site ? { site: plan.site } : {}),
      optimizer: { name: 'adam', learningRate: context.learningRate },
      seed,
      registry: context.registry,
    });
    // The probe reads the Gramian on one fixed batch (the split's first, before any shuffle), so
    // the cosines over training differ only through the model.
    const probing = context.probeEvery > 0 && plan.tasks.length > 1;
    if (probing) probeBatch = train.batches().next().value as Batch;
    const activeTrainer = trainer;
    const callbacks = writer.callbacks({
      every: context.logEvery,
      ...(probing ? { probe: { gramian: () => activeTrainer.probeGramian(probeBatch!), every: context.probeEvery } } : {}),
    });
    const stepsPerEpoch = Math.ceil(dataset.arrays.train.count / context.batchSize);
    await trainer.fit(train, { epochs: context.epochs, callbacks: [callbacks, progress(plan, seed, stepsPerEpoch, context.log)] });
    const report = await trainer.evaluate(test);
    await writer.eval('test', report);
    result.accuracy = Object.fromEntries(plan.tasks.map((task) => [task, report.tasks[task]!.metrics.accuracy!]));
    result.steps = trainer.stepCount;
    await writer.end('completed');
  } catch (error) {
    result.status = 'failed';
    result.error = errorText(error);
    result.steps = trainer?.stepCount ?? 0;
    await writer.end('failed', error, result.steps).catch(() => undefined);
  } finally {
    if (probeBatch) disposeBatch(probeBatch);
    trainer?.dispose();
    model?.dispose();
    await sink.close();
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
