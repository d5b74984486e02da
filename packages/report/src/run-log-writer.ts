import { cosineFromGramian, isMtlError, MtlError } from '@mtljs/core';
import type { EpochReport, EvaluationReport, StepReport, TaskGramian, TrainerCallbacks } from '@mtljs/core';
import { nodeBuiltin } from './run-log-reader';
import {
  finiteOrNull,
  formatRecord,
  RUN_LOG_VERSION,
  taskValues,
  type CosineRecord,
  type RunEndRecord,
  type RunLogRecord,
  type RunStartRecord,
  type TaskEvaluationRecord,
} from './run-log';

/** Where the lines go: a file, an array, a WebSocket… Called in order, one complete line (with its newline) at a time. */
export type RunLogSink = (line: string) => void | Promise<void>;

/**
 * The start record's fields; `type` and `version` are filled in, `startedAt` defaults to now, and
 * each task is written as `{ name, kind, units }` (so TaskSpecs can be passed as they are).
 */
export type RunStartFields = Omit<RunStartRecord, 'type' | 'version' | 'startedAt'> & {
  /** When the run started (ISO 8601). Default: now. */
  startedAt?: string;
};

/** Options of `RunLogWriter.callbacks`. */
export interface RunLogCallbackOptions {
  /**
   * Write a step record (and the step's cosine record) when `step % every === 0`, so the first step
   * is always logged; a positive integer (`BAD_CONFIG` otherwise). Default: 1.
   */
  every?: number;
  /**
   * For weightings that compute no Gramian: a function giving one (e.g.
   * `() => trainer.probeGramian(probeBatch)`), called every `probe.every` steps (default: the
   * step records' `every`) after a step whose report has no Gramian; its cosines are written with
   * source 'probe'.
   */
  probe?: {
    /** Returns a Gramian of the active tasks' gradients (e.g. from `trainer.probeGramian`); called after the step. */
    gramian: () => Promise<TaskGramian> | TaskGramian;
    /** Probe when `step % every === 0`; a positive integer (`BAD_CONFIG` otherwise). Default: the step records' `every`. */
    every?: number;
  };
}

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new MtlError('BAD_CONFIG', `RunLogWriter: ${what} must be a positive integer, got ${value}`, { field: what, received: value });
  return value;
}

/** A monotonic clock where there is one (performance.now in Node and browsers). */
const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Durations to the microsecond: the clock's digits beyond that are noise. */
const milliseconds = (value: number): number => Math.round(value * 1000) / 1000;

/** An evaluation report's tasks as `{ loss, count, metrics }` records (for `eval` and `epoch` records), non-finite numbers as null. */
export function evaluationRecord(report: EvaluationReport): Record<string, TaskEvaluationRecord> {
  return Object.fromEntries(
    Object.entries(report.tasks).map(([task, evaluation]) => [
      task,
      { loss: finiteOrNull(evaluation.loss), count: evaluation.count, metrics: taskValues(evaluation.metrics) },
    ]),
  );
}

/** The cosine record of a Gramian: cos_ij = G_ij / √(G_ii G_jj), null where a gradient is zero. */
export function cosineRecord(step: number, source: CosineRecord['source'], gramian: TaskGramian): CosineRecord {
  return { type: 'cosine', step, source, tasks: [...gramian.tasks], values: cosineFromGramian(gramian.values) };
}

/**
 * Writes a run log: `start` first, then records from the trainer's callbacks and from `eval`,
 * `checkpoint`, `warning`, and `end` last. Every method returns when its line has been handed to
 * the sink (and the sink's promise, if any, resolved); lines reach the sink in call order even
 * when calls are not awaited. Imports no Node built-in, so the browser can use it.
 */
export class RunLogWriter {
  private readonly sink: RunLogSink;
  private pending: Promise<void> | undefined;
  private started = false;
  private ended = false;
  private stepsTaken = 0;

  /**
   * @param sink - Receives each line; a file (`runLogFileSink`), an array's push, a WebSocket's send.
   * @throws MtlError `BAD_CONFIG` when `sink` is not a function.
   */
  constructor(sink: RunLogSink) {
    if (typeof sink !== 'function') throw new MtlError('BAD_CONFIG', 'RunLogWriter needs a sink: a function (line: string) => void | Promise<void>');
    this.sink = sink;
  }

  /** Optimiser steps seen by the callbacks (the last step's index + 1). */
  get steps(): number {
    return this.stepsTaken;
  }

  /**
   * Hands one record to the sink, with non-finite numbers as null. A synchronous sink is called
   * at once; after an asynchronous one, later lines wait for it.
   *
   * @returns A promise that resolves when the line reached the sink; it rejects with MtlError
   * `BAD_CONFIG` for a record before the `run` record, a second `run` record or a record after
   * `end`, and with the sink's error when the sink fails (that write only).
   */
  write(record: RunLogRecord): Promise<void> {
    const problem = this.orderProblem(record);
    if (problem) return Promise.reject(new MtlError('BAD_CONFIG', `RunLogWriter: ${problem}`));
    this.started = true;
    if (record.type === 'end') this.ended = true;
    const line = formatRecord(record);
    if (this.pending) return this.track(this.pending.then(() => this.sink(line)));
    let result: void | Promise<void>;
    try {
      result = this.sink(line);
    } catch (error) {
      return Promise.reject(error);
    }
    return result instanceof Promise ? this.track(result) : Promise.resolve();
  }

  private orderProblem(record: RunLogRecord): string | undefined {
    if (!this.started && record.type !== 'run') return `the first record must be the 'run' record (call start() first), got '${record.type}'`;
    if (this.started && record.type === 'run') return 'start() was already called; a run log holds one run';
    if (this.ended) return `a '${record.type}' record after end(); the run log is closed`;
    return undefined;
  }

  /** Makes later lines wait for this one; a failed line is reported to its own caller only. */
  private track(promise: Promise<void>): Promise<void> {
    const settled: Promise<void> = promise.then(
      () => this.settle(settled),
      () => this.settle(settled),
    );
    this.pending = settled;
    return promise;
  }

  private settle(settled: Promise<void>): void {
    if (this.pending === settled) this.pending = undefined;
  }

  /** Resolves when every line written so far has reached the sink. */
  async flush(): Promise<void> {
    while (this.pending) await this.pending;
  }

  /**
   * Writes the `run` record: `version` filled in, `startedAt` defaulting to now, each task reduced
   * to `{ name, kind, units }` (so `TaskSpec`s can be passed as they are).
   *
   * @returns A promise that rejects with MtlError `BAD_CONFIG` when `name` is not a string, `tasks`
   * is not a non-empty array, or `start` was already called.
   */
  start(fields: RunStartFields): Promise<void> {
    const { name, startedAt, tasks, ...rest } = fields ?? ({} as RunStartFields);
    if (typeof name !== 'string' || !Array.isArray(tasks) || tasks.length === 0) {
      return Promise.reject(new MtlError('BAD_CONFIG', "RunLogWriter.start: 'name' (a string) and 'tasks' (a non-empty array of { name, kind, units }) are required", { field: typeof name !== 'string' ? 'name' : 'tasks' }));
    }
    return this.write({
      type: 'run',
      version: RUN_LOG_VERSION,
      name,
      startedAt: startedAt ?? new Date().toISOString(),
      // Task specs may carry loss functions and options; the log keeps what a report needs.
      tasks: tasks.map((task) => ({ name: task.name, kind: task.kind, units: task.units })),
      ...rest,
    });
  }

  /**
   * Trainer callbacks that log the run: a step record every `every` steps (with the milliseconds
   * since the previous step, or since the callbacks were made or the last epoch ended), the
   * step's cosine record from `report.gramian` at the same steps (or from `probe`), an epoch
   * record at each epoch end (its `ms`: from the end of the previous epoch, or from this call, to
   * this epoch's end, validation included), and a warning record for each warning (which the
   * trainer then does not also print).
   *
   * @throws MtlError `BAD_CONFIG` when `every` or `probe.every` is not a positive integer.
   */
  callbacks(options: RunLogCallbackOptions = {}): TrainerCallbacks {
    const every = positiveInteger(options.every, 1, 'every');
    const probe = options.probe;
    const probeEvery = positiveInteger(probe?.every, every, 'probe.every');
    let mark = now();
    let epochStart = mark;
    return {
      onStep: async (report: StepReport) => {
        const time = now();
        const ms = milliseconds(time - mark);
        mark = time;
        this.stepsTaken = Math.max(this.stepsTaken, report.step + 1);
        if (report.step % every === 0 || report.skipped) {
          await this.write({
            type: 'step',
            step: report.step,
            epoch: report.epoch,
            loss: finiteOrNull(report.loss),
            losses: taskValues(report.losses),
            weights: taskValues(report.weights),
            ms,
            ...(report.skipped ? { skipped: true as const } : {}),
            ...(report.skips > 0 ? { skips: report.skips } : {}),
          });
          if (report.gramian) await this.write(cosineRecord(report.step, 'gramian', report.gramian));
        }
        if (!report.gramian && probe && report.step % probeEvery === 0) {
          const gramian = await probe.gramian();
          await this.write(cosineRecord(report.step, 'probe', gramian));
        }
        // Time spent writing and probing is not the next step's.
        mark = now();
      },
      onWarning: (warning) => this.warning(warning.step, warning.message),
      onEpochEnd: async (report: EpochReport) => {
        const time = now();
        await this.write({
          type: 'epoch',
          epoch: report.epoch,
          steps: report.steps,
          ...(report.skipped > 0 ? { skipped: report.skipped } : {}),
          trainLosses: taskValues(report.trainLosses),
          meanWeights: taskValues(report.meanWeights),
          ...(report.validation ? { validation: evaluationRecord(report.validation) } : {}),
          ms: milliseconds(time - epochStart),
        });
        mark = now();
        epochStart = mark;
      },
    };
  }

  /** An evaluation outside the epoch loop, e.g. `eval('test', await trainer.evaluate(test))`. */
  eval(split: string, report: EvaluationReport): Promise<void> {
    return this.write({ type: 'eval', split, tasks: evaluationRecord(report) });
  }

  /** Writes a `checkpoint` record for a checkpoint saved at `path`. */
  checkpoint(fields: {
    /** 0-based epoch of the checkpoint. */
    epoch: number;
    /** 0-based optimiser step of the checkpoint. */
    step: number;
    /** Where the checkpoint was saved. */
    path: string;
  }): Promise<void> {
    return this.write({ type: 'checkpoint', epoch: fields.epoch, step: fields.step, path: fields.path });
  }

  /** Writes a `warning` record (the callbacks' `onWarning` calls it for each trainer warning). */
  warning(step: number, message: string): Promise<void> {
    return this.write({ type: 'warning', step, message });
  }

  /**
   * The last record. `error` (for 'failed' or 'interrupted') is written as its message, with the
   * MtlError code in front when it has one; `steps` defaults to the steps the callbacks saw.
   */
  end(status: RunEndRecord['status'], error?: unknown, steps: number = this.stepsTaken): Promise<void> {
    const record: RunEndRecord = { type: 'end', status, finishedAt: new Date().toISOString(), steps };
    if (error !== undefined) record.error = errorText(error);
    return this.write(record);
  }
}

function errorText(error: unknown): string {
  if (isMtlError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * A sink that writes a run log file (Node only; the file is created or truncated). `close()`
 * waits for the pending writes and closes the file.
 */
export async function runLogFileSink(path: string): Promise<{
  /** The sink to give `RunLogWriter`: appends each line to the file, in call order. */
  write: RunLogSink;
  /** Waits for the pending writes, then closes the file. */
  close(): Promise<void>;
}> {
  const { open } = await nodeBuiltin<typeof import('node:fs/promises')>('fs/promises');
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'w');
  } catch (error) {
    throw new MtlError('BAD_CONFIG', `${path}: cannot open the run log for writing (${(error as Error).message})`, { file: path }, { cause: error });
  }
  let queue: Promise<unknown> = Promise.resolve();
  return {
    write: (line: string) => {
      const next = queue.then(() => handle.write(line)).then(() => undefined);
      queue = next.catch(() => undefined);
      return next;
    },
    close: async () => {
      await queue;
      await handle.close();
    },
  };
}
