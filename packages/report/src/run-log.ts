/**
 * The run log: one JSON object per line (JSONL), each with a `type`. `mtl train` writes it, the
 * benchmark apps write it, and `renderReport` reads it. JSON has no NaN or Infinity, so a number
 * that is not finite (an inactive task's loss, a weight a Jacobian rule does not define) is
 * written as `null`.
 *
 * Format version 1. A reader ignores record types it does not know, so later versions can add
 * records without breaking older reports.
 */

/**
 * The run log format version this package writes in `run.version` (now 1). Later versions may add
 * record types and fields but do not change the meaning of existing ones; a change that would
 * break that makes a new major format, which readers then refuse.
 */
export const RUN_LOG_VERSION = 1;

/** Per-task values; `null` where the value is undefined for that task (inactive, not finite). */
export type TaskValues = Record<string, number | null>;

/** A task as the `run` record lists it: a `TaskSpec` reduced to `{ name, kind, units }`. */
export interface RunTask {
  /** The task's name: the key of its values in `losses`, `weights`, `metrics` and `values`' rows. */
  name: string;
  /** The task's kind, as in core's `TaskSpec`. */
  kind: 'multiclass' | 'binary' | 'regression' | 'multilabel';
  /** Output width: classes (multiclass), 1 (binary), output dimensions (regression), labels (multilabel). */
  units: number;
}

/** The `run` record: written once, first; the first line of every run log. */
export interface RunStartRecord {
  /** Record type: `'run'`. */
  type: 'run';
  /** The format version (now 1, `RUN_LOG_VERSION`). */
  version: number;
  /** A name for the run, unique within a report (e.g. 'hard+pcgrad seed 1'). */
  name: string;
  /** When the run started (ISO 8601). */
  startedAt: string;
  /** The run's tasks, each `{ name, kind, units }`; at least one. */
  tasks: RunTask[];
  /** Name of the sharing strategy (e.g. `'hard'`). */
  sharing: string;
  /** Name of the weighting (e.g. `'pcgrad'`). */
  weighting: string;
  /** Gradient site of a gradient-level weighting; `null` for loss-level weightings. */
  site: string | null;
  /** Name of the backend that trained (e.g. `'cpu'`). */
  backend: string;
  /** The run's seed. */
  seed: number;
  /**
   * `'multi-task'` or `'single-task'`; absent reads as multi-task. 'single-task' runs train one task
   * alone and serve as the Δm% baseline for that task.
   */
  role?: 'multi-task' | 'single-task';
  /** The config the run was started from, as given (for reports and reruns). */
  config?: unknown;
}

/** The `step` record: one optimiser step, written every N steps (`every`, counting from step 0). */
export interface StepRecord {
  /** Record type: `'step'`. */
  type: 'step';
  /** 0-based optimiser step. */
  step: number;
  /** 0-based epoch. */
  epoch: number;
  /** The objective the optimiser minimised this step; `null` when not finite. */
  loss: number | null;
  /** Raw (unweighted, not scaled by importance) loss per task; `null` where undefined (an inactive task, not finite). */
  losses: TaskValues;
  /** Weight per task; `null` where undefined (e.g. a weight a Jacobian-level rule does not define). */
  weights: TaskValues;
  /**
   * Wall-clock milliseconds since the previous step (`RunLogWriter`: from the end of the previous
   * `onStep`, or from `callbacks()` or the last epoch end: data loading plus the step, without
   * writing, probing or validating), rounded to the microsecond.
   */
  ms?: number;
  /**
   * `true` when the step was skipped under the 'skip' non-finite policy (nothing was applied);
   * absent otherwise. A skipped step is always logged, whatever `every` is.
   */
  skipped?: true;
  /** Steps skipped so far in the run, this one included; absent while there are none. */
  skips?: number;
}

/**
 * Pairwise cosine similarities of the tasks' gradients at one step: from the Gramian a weighting
 * computed (`source: 'gramian'`) or from a probe at the features site (`source: 'probe'`).
 */
export interface CosineRecord {
  /** Record type: `'cosine'`. */
  type: 'cosine';
  /** The 0-based optimiser step the cosines were taken at. */
  step: number;
  /** `'gramian'`: from the weighting's Gramian; `'probe'`: from `probeGramian` at the features site. */
  source: 'gramian' | 'probe';
  /** Row and column order of `values`: the tasks active at the step. */
  tasks: string[];
  /** T×T cosines cos_ij = G_ij / √(G_ii G_jj), in `tasks` order; `null` where a gradient is zero. */
  values: (number | null)[][];
}

/** One task's evaluation on a split, `{ loss, count, metrics }`, as `epoch` and `eval` records hold it. */
export interface TaskEvaluationRecord {
  /** Raw task loss averaged over the labelled examples; `null` when not finite. */
  loss: number | null;
  /** Labelled examples evaluated. */
  count: number;
  /** Metric values by name (`accuracy`, `rmse`, …); `null` for a metric that could not be computed. */
  metrics: TaskValues;
}

/** The `epoch` record, written at each epoch end: means over its steps, and the validation evaluation when there is one. */
export interface EpochRecord {
  /** Record type: `'epoch'`. */
  type: 'epoch';
  /** 0-based epoch. */
  epoch: number;
  /** Optimiser steps taken in the epoch. */
  steps: number;
  /** Steps of the epoch skipped under the 'skip' non-finite policy; absent when none. */
  skipped?: number;
  /** Per-task mean of the raw training losses over the epoch's active steps. */
  trainLosses: TaskValues;
  /** Per-task mean of the weights over the epoch's active steps. */
  meanWeights: TaskValues;
  /** Validation per task, `{ loss, count, metrics }`; absent when the epoch had no validation. */
  validation?: Record<string, TaskEvaluationRecord>;
  /**
   * Wall-clock milliseconds from the end of the previous epoch (or from `callbacks()`) to this
   * epoch's end, validation included; rounded to the microsecond.
   */
  ms?: number;
}

/** The `eval` record, written on request: an evaluation outside the epoch loop (e.g. the final test split). */
export interface EvalRecord {
  /** Record type: `'eval'`. */
  type: 'eval';
  /** The split evaluated (e.g. `'test'`). */
  split: string;
  /** Evaluation per task, `{ loss, count, metrics }`. */
  tasks: Record<string, TaskEvaluationRecord>;
}

/** The `checkpoint` record, written on request: a checkpoint saved during the run. */
export interface CheckpointRecord {
  /** Record type: `'checkpoint'`. */
  type: 'checkpoint';
  /** 0-based epoch of the checkpoint. */
  epoch: number;
  /** 0-based optimiser step of the checkpoint. */
  step: number;
  /** Where the checkpoint was saved. */
  path: string;
}

/** The `warning` record: one per trainer warning (e.g. a solver that hit its iteration limit). */
export interface WarningRecord {
  /** Record type: `'warning'`. */
  type: 'warning';
  /** The 0-based optimiser step that raised the warning. */
  step: number;
  /** The warning's text. */
  message: string;
}

/** The `end` record: written once, last, by a run that ended (a run that crashed has none). */
export interface RunEndRecord {
  /** Record type: `'end'`. */
  type: 'end';
  /** How the run ended: `'completed'`, `'failed'` or `'interrupted'`. */
  status: 'completed' | 'failed' | 'interrupted';
  /** When the run ended (ISO 8601). */
  finishedAt: string;
  /** Optimiser steps taken (the last step's index + 1 by default). */
  steps: number;
  /** The error that ended the run: its message, prefixed with the MtlError code when it has one. */
  error?: string;
}

/** Any record of format version 1, told apart by `type`. */
export type RunLogRecord =
  | RunStartRecord
  | StepRecord
  | CosineRecord
  | EpochRecord
  | EvalRecord
  | CheckpointRecord
  | WarningRecord
  | RunEndRecord;

/** A run log read back: its start record and its other records by type, in log order. */
export interface RunLog {
  /** The `run` record (the first line). */
  run: RunStartRecord;
  /** The `step` records. */
  steps: StepRecord[];
  /** The `cosine` records. */
  cosines: CosineRecord[];
  /** The `epoch` records. */
  epochs: EpochRecord[];
  /** The `eval` records. */
  evals: EvalRecord[];
  /** The `checkpoint` records. */
  checkpoints: CheckpointRecord[];
  /** The `warning` records. */
  warnings: WarningRecord[];
  /** The `end` record; `undefined` for a run that crashed (the report calls it unfinished). */
  end?: RunEndRecord;
}

/** A finite number as is; anything else (NaN, ±Infinity, undefined) as null. */
export function finiteOrNull(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Per-task numbers with the non-finite ones as null. */
export function taskValues(values: Record<string, number | null | undefined>): TaskValues {
  return Object.fromEntries(Object.entries(values).map(([task, value]) => [task, finiteOrNull(value)]));
}

/** One record as a JSONL line (with its newline); non-finite numbers anywhere become null. */
export function formatRecord(record: RunLogRecord): string {
  return `${JSON.stringify(record, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value))}\n`;
}
