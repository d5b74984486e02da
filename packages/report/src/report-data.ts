import { deltaM, isMtlError } from '@mtljs/core';
import type { RunLog, TaskEvaluationRecord } from './run-log';
import { extent } from './svg';

/** A run's final evaluation: its last 'eval' record, else the validation of its last epoch that has one. */
export interface FinalEvaluation {
  /** The split evaluated: the `eval` record's `split`, or `'validation'`. */
  split: string;
  /** Evaluation per task, `{ loss, count, metrics }`. */
  tasks: Record<string, TaskEvaluationRecord>;
}

/**
 * A run's final metrics, as the summary table and Δm% use them: its last `eval` record, else the
 * validation of its last epoch that has one.
 *
 * @returns `undefined` when the run has neither.
 */
export function finalEvaluation(log: RunLog): FinalEvaluation | undefined {
  const last = log.evals[log.evals.length - 1];
  if (last) return { split: last.split, tasks: last.tasks };
  for (let i = log.epochs.length - 1; i >= 0; i--) {
    const validation = log.epochs[i]!.validation;
    if (validation) return { split: 'validation', tasks: validation };
  }
  return undefined;
}

/** A task's metrics without the null (undefined) ones. */
export function definedMetrics(evaluation: TaskEvaluationRecord | undefined): Record<string, number> {
  if (!evaluation) return {};
  return Object.fromEntries(Object.entries(evaluation.metrics).filter((entry): entry is [string, number] => entry[1] !== null));
}

/** Steps the run took: from its end record, else from its last step record, else its epochs. */
export function stepsTaken(log: RunLog): number {
  if (log.end) return log.end.steps;
  const last = log.steps[log.steps.length - 1];
  if (last) return last.step + 1;
  return log.epochs.reduce((sum, epoch) => sum + epoch.steps, 0);
}

/** The mean cosines of a run's `cosine` records (`meanCosines`): what the task-relationship heatmap shows. */
export interface MeanCosines {
  /** Row and column order of the matrices: the run's tasks, then any task found only in cosine records. */
  tasks: string[];
  /** Mean over the records where both tasks were present and the cosine defined; null where never. */
  mean: (number | null)[][];
  /** Per pair: the records in which its cosine was below zero. */
  negative: number[][];
  /** Per pair: the records in which its cosine was defined (both tasks present, not `null`). */
  counts: number[][];
  /** Number of cosine records averaged. */
  records: number;
  /** Number of those records by `source`. */
  bySource: {
    /** Records from the weighting's Gramian. */
    gramian: number;
    /** Records from probes at the features site. */
    probe: number;
  };
  /** Step of the earliest cosine record. */
  firstStep: number;
  /** Step of the latest cosine record. */
  lastStep: number;
}

/**
 * The mean pairwise cosine of the tasks' gradients over a run's cosine records, in the order of
 * the run's tasks. A record covers the tasks active at its step, so each pair is averaged over the
 * records that hold it.
 *
 * @returns `undefined` when the run has no cosine records.
 */
export function meanCosines(log: RunLog): MeanCosines | undefined {
  if (log.cosines.length === 0) return undefined;
  const tasks = log.run.tasks.map((task) => task.name);
  for (const record of log.cosines) for (const task of record.tasks) if (!tasks.includes(task)) tasks.push(task);
  const size = tasks.length;
  const zeros = () => Array.from({ length: size }, () => new Array<number>(size).fill(0));
  const sums = zeros();
  const counts = zeros();
  const negative = zeros();
  const bySource = { gramian: 0, probe: 0 };
  for (const record of log.cosines) {
    bySource[record.source] += 1;
    const index = record.tasks.map((task) => tasks.indexOf(task));
    record.values.forEach((row, i) =>
      row.forEach((value, j) => {
        if (value === null) return;
        sums[index[i]!]![index[j]!]! += value;
        counts[index[i]!]![index[j]!]! += 1;
        if (value < 0) negative[index[i]!]![index[j]!]! += 1;
      }),
    );
  }
  const [firstStep, lastStep] = extent(log.cosines.map((record) => record.step));
  return {
    tasks,
    mean: sums.map((row, i) => row.map((sum, j) => (counts[i]![j]! > 0 ? sum / counts[i]![j]! : null))),
    negative,
    counts,
    records: log.cosines.length,
    bySource,
    firstStep,
    lastStep,
  };
}

/** A task's baseline for Δm%: the final metrics of a single-task run, or values given directly. */
export interface Baseline {
  /** Metric values by name (`accuracy`, `rmse`, …), the undefined ones left out. */
  metrics: Record<string, number>;
  /** The single-task run it came from, or 'given' for `renderReport`'s `baselines` option. */
  source: string;
  /** The split of the single-task run's final metrics; absent for given baselines. */
  split?: string;
}

/**
 * Per-task baselines for Δm%: each single-task run (role 'single-task', one task) gives its
 * final metrics for its own task, the first such run of a task winning; `given` (explicit metric
 * values per task) takes precedence. `notes` says what was skipped.
 */
export function collectBaselines(
  runs: RunLog[],
  given: Record<string, Record<string, number>> = {},
): {
  /** The baseline of each task that has one, by task name. */
  baselines: Record<string, Baseline>;
  /** One sentence per single-task run not used (several tasks, no final metrics, a task's second run). */
  notes: string[];
} {
  const baselines: Record<string, Baseline> = {};
  const notes: string[] = [];
  for (const log of runs) {
    if (log.run.role !== 'single-task') continue;
    if (log.run.tasks.length !== 1) {
      notes.push(`single-task run '${log.run.name}' has ${log.run.tasks.length} tasks; it is not used as a baseline`);
      continue;
    }
    const task = log.run.tasks[0]!.name;
    const evaluation = finalEvaluation(log);
    const metrics = definedMetrics(evaluation?.tasks[task]);
    if (!evaluation || Object.keys(metrics).length === 0) {
      notes.push(`single-task run '${log.run.name}' has no final metrics for task '${task}'; it is not used as a baseline`);
      continue;
    }
    if (baselines[task]) {
      notes.push(`several single-task runs for task '${task}': '${baselines[task]!.source}' is the baseline, '${log.run.name}' is not used`);
      continue;
    }
    baselines[task] = { metrics, source: log.run.name, split: evaluation.split };
  }
  for (const [task, metrics] of Object.entries(given)) baselines[task] = { metrics: { ...metrics }, source: 'given' };
  return { baselines, notes };
}

/** One row of the report's comparison with single-task models: a multi-task run and its Δm%. */
export interface DeltaMRow {
  /** The multi-task run. */
  log: RunLog;
  /** Its final metrics (`finalEvaluation`); `undefined` when it has none. */
  evaluation: FinalEvaluation | undefined;
  /** Δm% against the baselines, or null with the reason in `problem`. */
  value: number | null;
  /** Why `value` is null: no final evaluation, a task without a baseline, or `deltaM`'s refusal. */
  problem?: string;
}

/**
 * Δm% (core's `deltaM`) of a multi-task run's final metrics against the baselines:
 * Δm% = (100/T) Σ_t (1/K_t) Σ_k s_k (M_t,k − B_t,k) / |B_t,k| (Maninis et al. 2019; Vandenhende et
 * al. 2021), positive when the multi-task model is better. Never throws for a run it cannot
 * compare: `value` is then null and `problem` says why.
 */
export function deltaMRow(log: RunLog, baselines: Record<string, Baseline>): DeltaMRow {
  const evaluation = finalEvaluation(log);
  if (!evaluation) return { log, evaluation, value: null, problem: 'no final evaluation (no eval record, no validation)' };
  const results: Record<string, Record<string, number>> = {};
  for (const task of log.run.tasks) {
    const metrics = definedMetrics(evaluation.tasks[task.name]);
    if (!baselines[task.name]) return { log, evaluation, value: null, problem: `no baseline for task '${task.name}'` };
    results[task.name] = metrics;
  }
  const given = Object.fromEntries(Object.entries(baselines).map(([task, baseline]) => [task, baseline.metrics]));
  try {
    return { log, evaluation, value: deltaM(results, given) };
  } catch (error) {
    if (!isMtlError(error)) throw error;
    return { log, evaluation, value: null, problem: error.message.replace(/^deltaM: /, '') };
  }
}
