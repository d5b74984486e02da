import { MtlError } from '@mtljs/core';
import type { RunLog, RunLogRecord, RunStartRecord } from './run-log';

/** Thrown by a record check: the dotted path of the field at fault and what it should be. */
class FieldProblem {
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly received: unknown,
  ) {}
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function need(record: Fields, field: string, expected: string, ok: (value: unknown) => boolean): void {
  if (!ok(record[field])) throw new FieldProblem(field, expected, record[field]);
}

const isNumber = (value: unknown): boolean => typeof value === 'number';
const isNumberOrNull = (value: unknown): boolean => value === null || typeof value === 'number';
const isString = (value: unknown): boolean => typeof value === 'string';
const isOptionalNumber = (value: unknown): boolean => value === undefined || isNumberOrNull(value);
const oneOf =
  (...allowed: string[]) =>
  (value: unknown): boolean =>
    typeof value === 'string' && allowed.includes(value);

/** `{ task: number | null }`, the shape of losses, weights and metrics. */
function checkTaskValues(record: Fields, field: string): void {
  const value = record[field];
  if (!isObject(value)) throw new FieldProblem(field, 'an object of per-task numbers (or null)', value);
  for (const [task, entry] of Object.entries(value)) {
    if (!isNumberOrNull(entry)) throw new FieldProblem(`${field}.${task}`, 'a number or null', entry);
  }
}

function checkEvaluations(record: Fields, field: string): void {
  const value = record[field];
  if (!isObject(value)) throw new FieldProblem(field, 'an object with one evaluation per task', value);
  for (const [task, evaluation] of Object.entries(value)) {
    if (!isObject(evaluation)) throw new FieldProblem(`${field}.${task}`, 'an object { loss, count, metrics }', evaluation);
    const at = `${field}.${task}`;
    try {
      need(evaluation, 'loss', 'a number or null', isNumberOrNull);
      need(evaluation, 'count', 'a number', isNumber);
      checkTaskValues(evaluation, 'metrics');
    } catch (problem) {
      if (problem instanceof FieldProblem) throw new FieldProblem(`${at}.${problem.field}`, problem.expected, problem.received);
      throw problem;
    }
  }
}

const TASK_KINDS = ['multiclass', 'binary', 'regression', 'multilabel'];

function checkRun(record: Fields): void {
  need(record, 'version', 'an integer ≥ 1', (v) => Number.isInteger(v) && (v as number) >= 1);
  need(record, 'name', 'a string', isString);
  need(record, 'startedAt', 'a string (ISO 8601 time)', isString);
  need(record, 'tasks', 'a non-empty array of { name, kind, units }', (v) => Array.isArray(v) && v.length > 0);
  (record.tasks as unknown[]).forEach((task, i) => {
    if (!isObject(task)) throw new FieldProblem(`tasks[${i}]`, 'an object { name, kind, units }', task);
    if (!isString(task.name)) throw new FieldProblem(`tasks[${i}].name`, 'a string', task.name);
    if (!oneOf(...TASK_KINDS)(task.kind)) throw new FieldProblem(`tasks[${i}].kind`, `one of ${TASK_KINDS.join(', ')}`, task.kind);
    if (!isNumber(task.units)) throw new FieldProblem(`tasks[${i}].units`, 'a number', task.units);
  });
  need(record, 'sharing', 'a string', isString);
  need(record, 'weighting', 'a string', isString);
  need(record, 'site', 'a string or null', (v) => v === null || isString(v));
  need(record, 'backend', 'a string', isString);
  need(record, 'seed', 'a number', isNumber);
  need(record, 'role', "'multi-task', 'single-task' or absent", (v) => v === undefined || oneOf('multi-task', 'single-task')(v));
}

function checkStep(record: Fields): void {
  need(record, 'step', 'a number', isNumber);
  need(record, 'epoch', 'a number', isNumber);
  need(record, 'loss', 'a number or null', isNumberOrNull);
  checkTaskValues(record, 'losses');
  checkTaskValues(record, 'weights');
  need(record, 'ms', 'a number, null or absent', isOptionalNumber);
  need(record, 'skipped', 'true or absent', (v) => v === undefined || v === true);
  need(record, 'skips', 'a non-negative integer or absent', (v) => v === undefined || (Number.isInteger(v) && (v as number) >= 0));
}

function checkCosine(record: Fields): void {
  need(record, 'step', 'a number', isNumber);
  need(record, 'source', "'gramian' or 'probe'", oneOf('gramian', 'probe'));
  need(record, 'tasks', 'an array of task names', (v) => Array.isArray(v) && v.every(isString));
  const size = (record.tasks as string[]).length;
  need(record, 'values', `a ${size}×${size} array of numbers or null (one row per task)`, (v) => Array.isArray(v) && v.length === size);
  (record.values as unknown[]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== size || !row.every(isNumberOrNull)) {
      throw new FieldProblem(`values[${i}]`, `an array of ${size} numbers or null`, row);
    }
  });
}

function checkEpoch(record: Fields): void {
  need(record, 'epoch', 'a number', isNumber);
  need(record, 'steps', 'a number', isNumber);
  need(record, 'skipped', 'a non-negative integer or absent', (v) => v === undefined || (Number.isInteger(v) && (v as number) >= 0));
  checkTaskValues(record, 'trainLosses');
  checkTaskValues(record, 'meanWeights');
  if (record.validation !== undefined) checkEvaluations(record, 'validation');
  need(record, 'ms', 'a number, null or absent', isOptionalNumber);
}

function checkEval(record: Fields): void {
  need(record, 'split', 'a string', isString);
  checkEvaluations(record, 'tasks');
}

function checkCheckpoint(record: Fields): void {
  need(record, 'epoch', 'a number', isNumber);
  need(record, 'step', 'a number', isNumber);
  need(record, 'path', 'a string', isString);
}

function checkWarning(record: Fields): void {
  need(record, 'step', 'a number', isNumber);
  need(record, 'message', 'a string', isString);
}

function checkEnd(record: Fields): void {
  need(record, 'status', "'completed', 'failed' or 'interrupted'", oneOf('completed', 'failed', 'interrupted'));
  need(record, 'finishedAt', 'a string (ISO 8601 time)', isString);
  need(record, 'steps', 'a number', isNumber);
  need(record, 'error', 'a string or absent', (v) => v === undefined || isString(v));
}

const CHECKS: Record<RunLogRecord['type'], (record: Fields) => void> = {
  run: checkRun,
  step: checkStep,
  cosine: checkCosine,
  epoch: checkEpoch,
  eval: checkEval,
  checkpoint: checkCheckpoint,
  warning: checkWarning,
  end: checkEnd,
};

/**
 * Reads a run log (JSONL). Blank lines are skipped and records of unknown types ignored, so a
 * log written by a later format version still reads; a log without an 'end' record (a run that
 * crashed) reads too, with `end` undefined. A line that is not JSON, a first record that is not
 * the 'run' record, a second 'run' record, or a record missing a required field raises
 * MtlError BAD_DATA naming `source` and the 1-based line.
 */
export function parseRunLog(text: string, source = 'run log'): RunLog {
  let log: RunLog | undefined;
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const where = `${source}, line ${index + 1}`;
    const details = { file: source, line: index + 1 };
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new MtlError('BAD_DATA', `${where}: not valid JSON (${(error as Error).message})`, details, { cause: error });
    }
    if (!isObject(record) || typeof record.type !== 'string') {
      throw new MtlError('BAD_DATA', `${where}: a record must be a JSON object with a string 'type', got ${describe(record)}`, details);
    }
    const type = record.type;
    if (!log && type !== 'run') {
      throw new MtlError('BAD_DATA', `${where}: the first record of a run log must have type 'run', got type '${type}'`, {
        ...details,
        expected: 'run',
        received: type,
      });
    }
    if (log && type === 'run') {
      throw new MtlError('BAD_DATA', `${where}: a second 'run' record; a run log holds one run (write each run to its own file)`, details);
    }
    const check = Object.hasOwn(CHECKS, type) ? CHECKS[type as RunLogRecord['type']] : undefined;
    if (!check) continue;
    try {
      check(record);
    } catch (problem) {
      if (!(problem instanceof FieldProblem)) throw problem;
      throw new MtlError(
        'BAD_DATA',
        `${where}: '${type}' record: field '${problem.field}' must be ${problem.expected}, got ${describe(problem.received)}`,
        { ...details, field: problem.field, expected: problem.expected, received: problem.received },
      );
    }
    const typed = record as unknown as RunLogRecord;
    if (!log) {
      log = { run: typed as RunStartRecord, steps: [], cosines: [], epochs: [], evals: [], checkpoints: [], warnings: [] };
      continue;
    }
    switch (typed.type) {
      case 'step':
        log.steps.push(typed);
        break;
      case 'cosine':
        log.cosines.push(typed);
        break;
      case 'epoch':
        log.epochs.push(typed);
        break;
      case 'eval':
        log.evals.push(typed);
        break;
      case 'checkpoint':
        log.checkpoints.push(typed);
        break;
      case 'warning':
        log.warnings.push(typed);
        break;
      case 'end':
        log.end = typed;
        break;
    }
  }
  if (!log) throw new MtlError('BAD_DATA', `${source}: the run log is empty (no 'run' record)`, { file: source });
  return log;
}

/**
 * Node built-ins by a variable specifier, so a browser bundle of this package does not try to
 * resolve them (the same device as @mtljs/core's byte streams).
 */
export function nodeBuiltin<T>(name: 'fs/promises'): Promise<T> {
  const specifier = `node:${name}`;
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier) as Promise<T>;
}

/** Reads and parses a run log file (Node only). A file that cannot be read is BAD_CONFIG naming it. */
export async function readRunLog(path: string): Promise<RunLog> {
  const { readFile } = await nodeBuiltin<typeof import('node:fs/promises')>('fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new MtlError('BAD_CONFIG', `${path}: cannot read the run log (${(error as Error).message})`, { file: path }, { cause: error });
  }
  return parseRunLog(text, path);
}
