/**
 * The run log: one JSON object per line (JSONL), each with a `type`. `mtl train` writes it, the
 * benchmark apps write it, and `renderReport` reads it. JSON has no NaN or Infinity, so a number
 * that is not finite (an inactive task's loss, a weight a Jacobian rule does not define) is
 * written as `null`.
 *
 * Format version 1. A reader ignores record types it does not know, so later versions can add
 * records without breaking older reports.
 */

export const RUN_LOG_VERSION = 1;

/** Per-task values; `null` where the value is undefined for that task (inactive, not finite). */
export type TaskValues = Record<string, number | null>;

export interface RunTask {
  name: string;
  kind: 'multiclass' | 'binary' | 'regression' | 'multilabel';
  units: number;
}

/** First line of every run log. */
export interface RunStartRecord {
  type: 'run';
  version: number;
  /** A name for the run, unique within a report (e.g. 'hard+pcgrad seed 1'). */
  name: string;
  startedAt: string;
  tasks: RunTask[];
  sharing: string;
  weighting: string;
  /** Gradient site of a gradient-level weighting; null for loss-level ones. */
  site: string | null;
  backend: string;
  seed: number;
  /** 'single-task' runs train one task alone and serve as the Δm% baseline for that task. */
  role?: 'multi-task' | 'single-task';
  /** The config the run was started from, as given (for reports and reruns). */
  config?: unknown;
}

/** A training step (written every step or every N steps). */
export interface StepRecord {
  type: 'step';
  step: number;
  epoch: number;
  /** The objective the optimiser minimised this step. */
  loss: number | null;
  losses: TaskValues;
  weights: TaskValues;
  /** Milliseconds the step took (wall clock). */
  ms?: number;
}

/**
 * Pairwise cosine similarities of the tasks' gradients at one step: from the Gramian a weighting
 * computed (`source: 'gramian'`) or from a probe at the features site (`source: 'probe'`).
 */
export interface CosineRecord {
  type: 'cosine';
  step: number;
  source: 'gramian' | 'probe';
  /** Row and column order of `values`. */
  tasks: string[];
  values: (number | null)[][];
}

export interface TaskEvaluationRecord {
  loss: number | null;
  count: number;
  metrics: TaskValues;
}

/** End of an epoch: means over its steps, and the validation evaluation when there is one. */
export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  steps: number;
  trainLosses: TaskValues;
  meanWeights: TaskValues;
  validation?: Record<string, TaskEvaluationRecord>;
  ms?: number;
}

/** An evaluation outside the epoch loop (e.g. the final test split). */
export interface EvalRecord {
  type: 'eval';
  split: string;
  tasks: Record<string, TaskEvaluationRecord>;
}

export interface CheckpointRecord {
  type: 'checkpoint';
  epoch: number;
  step: number;
  path: string;
}

export interface WarningRecord {
  type: 'warning';
  step: number;
  message: string;
}

/** Last line of a run that ended (a run that crashed has none). */
export interface RunEndRecord {
  type: 'end';
  status: 'completed' | 'failed' | 'interrupted';
  finishedAt: string;
  steps: number;
  error?: string;
}

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
  run: RunStartRecord;
  steps: StepRecord[];
  cosines: CosineRecord[];
  epochs: EpochRecord[];
  evals: EvalRecord[];
  checkpoints: CheckpointRecord[];
  warnings: WarningRecord[];
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
