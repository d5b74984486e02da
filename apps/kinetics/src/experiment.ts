import * as tf from '@tensorflow/tfjs-core';
import { deltaM, disposeBatch, MtlError, Rng, Trainer, type EvaluationReport, type StepReport } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { uncertainty } from '@mtljs/weighting-uncertainty';
import { DESCRIPTOR_NAMES } from './arrhenius';
import { KINETICS_TASKS, kineticsData, sourceRows, splitSource, taskSpec, type KineticsData, type KineticsTask } from './dataset';

export type WeightingName = 'ew' | 'uncertainty';

/**
 * The compared models. 'single-task' is one network per task trained on its plain loss (the
 * baseline of Δm%); 'single-task+uncertainty' is the same pair with uncertainty weighting's learned
 * loss scale, a control that separates what the weighting does to optimisation from what sharing does.
 */
export type ModelName = 'single-task' | 'single-task+uncertainty' | 'hard+ew' | 'hard+uncertainty';
export const MODEL_NAMES: readonly ModelName[] = ['single-task', 'single-task+uncertainty', 'hard+ew', 'hard+uncertainty'];

const MODELS: Record<ModelName, { shared: boolean; weighting: WeightingName }> = {
  'single-task': { shared: false, weighting: 'ew' },
  'single-task+uncertainty': { shared: false, weighting: 'uncertainty' },
  'hard+ew': { shared: true, weighting: 'ew' },
  'hard+uncertainty': { shared: true, weighting: 'uncertainty' },
};

export interface TrainSettings {
  /** Optimiser steps; every model of a comparison gets the same number. */
  steps: number;
  batchSize: number;
  /** Peak Adam learning rate; cosine decay to a twentieth of it over `steps`. */
  learningRate: number;
  /** Hidden widths of the shared encoder (ReLU). */
  encoder: number[];
  /** Hidden widths of each head (ReLU), before its linear output. */
  head: number[];
  /** Seed of the model's initialisation, the batch order and the trainer. */
  seed: number;
}

/** Test scores of one task in physical units (RMSE and MAE in ln units or kJ/mol). */
export interface TaskScore {
  rmse: number;
  mae: number;
  r2: number;
  /** Test MSE on standardised targets before training and after. */
  initialLoss: number;
  finalLoss: number;
}

export interface TrainResult {
  scores: Partial<Record<KineticsTask, TaskScore>>;
  steps: number;
  seconds: number;
  /** Learned σ² of each task's standardised loss (uncertainty weighting only). */
  learnedVariance?: Partial<Record<KineticsTask, number>>;
}

export interface TrainOptions {
  /** Train on the rows labelled for every task only (the single-task Ea model). */
  labelledOnly?: boolean;
  onStep?: (report: StepReport) => void;
}

/** lr(t) = lr_min + ½(lr − lr_min)(1 + cos(π t / T)), lr_min = lr/20 (Loshchilov & Hutter 2017, without restarts). */
export function cosineRate(learningRate: number, step: number, steps: number): number {
  const minimum = learningRate / 20;
  return minimum + 0.5 * (learningRate - minimum) * (1 + Math.cos((Math.PI * Math.min(step, steps)) / steps));
}

function scoresOf(report: EvaluationReport, initial: EvaluationReport, data: KineticsData, tasks: readonly KineticsTask[]): Partial<Record<KineticsTask, TaskScore>> {
  const scores: Partial<Record<KineticsTask, TaskScore>> = {};
  for (const task of tasks) {
    const r = report.tasks[task]!;
    // Targets are (y − μ)/σ, so errors in physical units are σ times the standardised ones; R² is scale-free.
    const sigma = data.stats.targets[task].std;
    scores[task] = { rmse: r.metrics.rmse! * sigma, mae: r.metrics.mae! * sigma, r2: r.metrics.r2!, initialLoss: initial.tasks[task]!.loss, finalLoss: r.loss };
  }
  return scores;
}

/**
 * Builds a hard-sharing model for `tasks` (one task: a plain single-task network of the same
 * shape), trains it for exactly `settings.steps` Adam steps over reshuffled passes of the training
 * split, and scores it on the test split. Everything it creates is disposed before it returns.
 */
export async function trainAndEvaluate(
  data: KineticsData,
  tasks: readonly KineticsTask[],
  weighting: WeightingName,
  settings: TrainSettings,
  options: TrainOptions = {},
): Promise<TrainResult> {
  if (!Number.isInteger(settings.steps) || settings.steps < 1) {
    throw new MtlError('BAD_CONFIG', `kinetics: steps must be a positive integer, got ${settings.steps}`, { column: 'steps', received: settings.steps });
  }
  const started = performance.now();
  const model = hardSharing().build(
    {
      tasks: tasks.map(taskSpec),
      inputShape: [DESCRIPTOR_NAMES.length],
      encoder: { type: 'mlp', units: settings.encoder },
      head: { type: 'mlp', units: settings.head },
    },
    { seed: settings.seed },
  );
  const adamOptimizer = tf.train.adam(settings.learningRate);
  const optimizer = adamOptimizer;
  let trainer: Trainer | undefined;
  try {
    trainer = new Trainer({ model, weighting: weighting === 'ew' ? 'ew' : uncertainty(), optimizer, seed: settings.seed });
    const test = splitSource(data.test, tasks, 1024);
    const initial = await trainer.evaluate(test);
    const train = splitSource(data.train, tasks, settings.batchSize, options.labelledOnly);
    const order = Rng.fromSeed(settings.seed);
    // tfjs's Adam reads its (protected) learning rate at every update.
    const adam = adamOptimizer as unknown as { learningRate: number };
    let step = 0;
    while (step < settings.steps) {
      for await (const batch of train.shuffled!(order.nextSeed())) {
        try {
          adam.learningRate = cosineRate(settings.learningRate, step, settings.steps);
          const report = await trainer.stepAsync(batch);
          options.onStep?.(report);
        } finally {
          disposeBatch(batch);
        }
        step += 1;
        if (step >= settings.steps) break;
      }
    }
    const final = await trainer.evaluate(test);
    const result: TrainResult = { scores: scoresOf(final, initial, data, tasks), steps: step, seconds: (performance.now() - started) / 1000 };
    if (weighting === 'uncertainty') {
      const logVariance = trainer.weightingParameters().logVariance!;
      result.learnedVariance = Object.fromEntries(tasks.map((task, i) => [task, Math.exp(logVariance[i]!)]));
    }
    return result;
  } finally {
    if (trainer) trainer.dispose(); // the optimizer too
    else optimizer.dispose();
    model.dispose();
  }
}

export interface ComparisonOptions {
  /** One replicate per seed: its own reactions, split, labelled subset and initialisation. */
  seeds: number[];
  trainSize: number;
  testSize: number;
  /** Regimes: fractions of training reactions with an Ea label. */
  labelledEa: number[];
  /** Passes over the full training split; sets the step budget of every model. */
  epochs: number;
  batchSize: number;
  learningRate: number;
  encoder: number[];
  head: number[];
  noise?: { ea?: number; lnK?: number };
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface SeedRun {
  seed: number;
  tasks: Record<KineticsTask, TaskScore>;
  /** Δm% against the plain single-task models of the same seed and regime (absent for those). */
  deltaM?: number;
  /**
   * Δm% of a hard-sharing model against the single-task models trained with the same weighting
   * (hard+uncertainty vs single-task+uncertainty): the effect of sharing alone.
   */
  deltaMSameWeighting?: number;
  /** Training time of the model (single-task: both networks), s. */
  seconds: number;
  /** Learned σ² per task (uncertainty weighting). */
  learnedVariance?: Partial<Record<KineticsTask, number>>;
}

export interface Spread {
  mean: number;
  /** Sample standard deviation over seeds (n − 1); 0 for one seed. */
  std: number;
}

export interface ModelSummary {
  runs: SeedRun[];
  tasks: Record<KineticsTask, { rmse: Spread; mae: Spread; r2: Spread }>;
  deltaM?: Spread;
  deltaMSameWeighting?: Spread;
  /** Seeds on which Δm% > 0 (the multi-task model beat the single-task pair). */
  wins?: number;
}

export interface RegimeResult {
  labelledEa: number;
  labelledEaCount: number;
  models: Record<ModelName, ModelSummary>;
}

export interface ComparisonResult {
  steps: number;
  seconds: number;
  regimes: RegimeResult[];
}

export function spread(values: readonly number[]): Spread {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, std };
}

/** The metrics Δm% averages: RMSE and MAE per task (R² is left out, see the README). */
function deltaMetrics(tasks: Record<KineticsTask, TaskScore>): Record<string, Record<string, number>> {
  return Object.fromEntries(KINETICS_TASKS.map((task) => [task, { rmse: tasks[task].rmse, mae: tasks[task].mae }]));
}

function summarise(runs: SeedRun[]): ModelSummary {
  const tasks = Object.fromEntries(
    KINETICS_TASKS.map((task) => [
      task,
      {
        rmse: spread(runs.map((r) => r.tasks[task].rmse)),
        mae: spread(runs.map((r) => r.tasks[task].mae)),
        r2: spread(runs.map((r) => r.tasks[task].r2)),
      },
    ]),
  ) as ModelSummary['tasks'];
  const summary: ModelSummary = { runs, tasks };
  const deltas = runs.flatMap((r) => (r.deltaM === undefined ? [] : [r.deltaM]));
  if (deltas.length) {
    summary.deltaM = spread(deltas);
    summary.wins = deltas.filter((d) => d > 0).length;
  }
  const same = runs.flatMap((r) => (r.deltaMSameWeighting === undefined ? [] : [r.deltaMSameWeighting]));
  if (same.length) summary.deltaMSameWeighting = spread(same);
  return summary;
}

function checkOptions(options: ComparisonOptions): void {
  const bad = (field: string, expected: string, received: unknown) => {
    throw new MtlError('BAD_CONFIG', `kinetics: ${field} must be ${expected}, got ${JSON.stringify(received)}`, { column: field, expected, received });
  };
  if (!options.seeds.length || options.seeds.some((s) => !Number.isInteger(s))) bad('seeds', 'a non-empty list of integers', options.seeds);
  if (!Number.isInteger(options.epochs) || options.epochs < 1) bad('epochs', 'a positive integer', options.epochs);
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) bad('batchSize', 'a positive integer', options.batchSize);
  if (!(options.learningRate > 0)) bad('learningRate', 'a positive number', options.learningRate);
  if (!options.labelledEa.length || options.labelledEa.some((f) => !(f > 0 && f <= 1))) bad('labelledEa', 'a non-empty list of fractions in (0, 1]', options.labelledEa);
  for (const [field, units] of [['encoder', options.encoder], ['head', options.head]] as const) {
    if (units.some((u) => !Number.isInteger(u) || u < 1)) bad(field, 'a list of positive integer widths', units);
  }
  if (options.encoder.length === 0) bad('encoder', 'at least one layer width', options.encoder);
}

/**
 * For each seed and each labelled-Ea regime: single-task ln k and Ea networks (plain and with
 * uncertainty weighting's loss scale), and hard sharing with equal and with uncertainty weighting,
 * all with the same step budget, seeds and splits; then per-model mean ± std over seeds and Δm% of
 * each model against the plain single-task pair of its own seed.
 */
export async function runComparison(options: ComparisonOptions): Promise<ComparisonResult> {
  checkOptions(options);
  const log = options.log ?? (() => {});
  const started = performance.now();
  const steps = options.epochs * Math.ceil(options.trainSize / options.batchSize);
  const runs = options.labelledEa.map(() => Object.fromEntries(MODEL_NAMES.map((name) => [name, [] as SeedRun[]])) as Record<ModelName, SeedRun[]>);
  const counts: number[] = [];
  const weightings: WeightingName[] = ['ew', 'uncertainty'];
  for (const seed of options.seeds) {
    const settings: TrainSettings = { steps, batchSize: options.batchSize, learningRate: options.learningRate, encoder: options.encoder, head: options.head, seed };
    const dataOptions = { seed, trainSize: options.trainSize, testSize: options.testSize, noise: options.noise };
    // Every ln k is labelled in every regime and the inputs' statistics do not depend on the Ea
    // labels, so the single-task ln k models of a seed serve all its regimes.
    const lnkData = kineticsData({ ...dataOptions, labelledEa: 1 });
    const lnkOnly: Partial<Record<WeightingName, TrainResult>> = {};
    for (const weighting of weightings) {
      lnkOnly[weighting] = await trainAndEvaluate(lnkData, ['lnk'], weighting, settings);
      log(`seed ${seed}: single-task lnk (${weighting}) ${describe(lnkOnly[weighting]!)}`);
    }
    for (const [r, fraction] of options.labelledEa.entries()) {
      const data = kineticsData({ ...dataOptions, labelledEa: fraction });
      counts[r] = data.labelledEaCount;
      const label = `seed ${seed}, Ea labelled ${data.labelledEaCount}/${options.trainSize}`;
      const single: Partial<Record<WeightingName, SeedRun>> = {};
      for (const name of MODEL_NAMES) {
        const { shared, weighting } = MODELS[name];
        let run: SeedRun;
        if (!shared) {
          const eaOnly = await trainAndEvaluate(data, ['ea'], weighting, settings, { labelledOnly: true });
          const lnk = lnkOnly[weighting]!;
          run = { seed, tasks: { lnk: lnk.scores.lnk!, ea: eaOnly.scores.ea! }, seconds: lnk.seconds + eaOnly.seconds };
          if (weighting === 'uncertainty') run.learnedVariance = { lnk: lnk.learnedVariance!.lnk!, ea: eaOnly.learnedVariance!.ea! };
          single[weighting] = run;
          log(`${label}: ${name.padEnd(23)} ${describe(eaOnly)} (${sourceRows(data.train, ['ea'], true)} training rows)`);
        } else {
          const result = await trainAndEvaluate(data, KINETICS_TASKS, weighting, settings);
          run = { seed, tasks: result.scores as Record<KineticsTask, TaskScore>, seconds: result.seconds };
          if (result.learnedVariance) run.learnedVariance = result.learnedVariance;
          run.deltaMSameWeighting = deltaM(deltaMetrics(run.tasks), deltaMetrics(single[weighting]!.tasks));
          log(`${label}: ${name.padEnd(23)} ${describe(result)}`);
        }
        if (name !== 'single-task') run.deltaM = deltaM(deltaMetrics(run.tasks), deltaMetrics(single.ew!.tasks));
        runs[r]![name].push(run);
      }
    }
  }
  return {
    steps,
    seconds: (performance.now() - started) / 1000,
    regimes: options.labelledEa.map((fraction, r) => ({
      labelledEa: fraction,
      labelledEaCount: counts[r]!,
      models: Object.fromEntries(MODEL_NAMES.map((name) => [name, summarise(runs[r]![name])])) as Record<ModelName, ModelSummary>,
    })),
  };
}

function describe(result: TrainResult): string {
  const parts = Object.entries(result.scores).map(([task, s]) => `${task} RMSE ${s!.rmse.toFixed(3)}`);
  return `${parts.join(', ')} (${result.seconds.toFixed(1)} s)`;
}
