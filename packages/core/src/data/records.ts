import type { TaskKind, TaskSpec } from '../contracts';
import { MtlError } from '../errors';

// Tabular records (CSV rows, JSON objects) become model inputs and task targets here, so every
// file adapter encodes, fits and fails the same way; an adapter only turns bytes into records.

/** One cell as an adapter reads it: CSV gives strings, JSON also numbers, booleans and null. */
export type CellValue = string | number | boolean | null | undefined;

/** How an input column is encoded: a number, a 0/1 flag, or a one-hot block. */
export type ColumnType = 'numeric' | 'categorical' | 'boolean';

/** What an empty input cell becomes: an error, the training mean, or zero. */
export type MissingPolicy = 'error' | 'mean' | 'zero';

/** One record: the values of `schema.columns` in that order, and where the record starts. */
export interface RecordRow {
  /** The cells of the pass's columns (`recordColumns(mapping)` or `schema.columns`), in that order. */
  values: readonly CellValue[];
  /** 1-based line of the record in its file, for messages. */
  line: number;
}

/** An input column with options, where a plain column name is not enough. */
export interface InputColumnSpec {
  /** Column name in the records. */
  column: string;
  /** Overrides type inference. */
  type?: ColumnType;
  /** Standardise a numeric column with the training mean and std (default: the schema's `normalize`). */
  normalize?: boolean;
  /** Fixed categories (categorical only), in slot order; otherwise learnt from the training split. */
  categories?: readonly (string | number | boolean)[];
}

/** Where a task's target lies in the records, and how to read it. */
export interface TaskColumnSpec {
  /** The task's kind; multiclass and binary tasks read exactly one column. */
  kind: TaskKind;
  /** One column (multiclass, binary, regression) or several (multilabel, multi-output regression). */
  column: string | readonly string[];
  /**
   * Multiclass: the class labels in index order (otherwise: order of first appearance in the
   * training split). Binary: `[negative, positive]` labels (otherwise 0/1, true/false, yes/no).
   */
  classes?: readonly (string | number | boolean)[];
}

/** Which columns feed the input vector (in order) and which column(s) hold each task's target. */
export interface RecordMapping {
  /** Input columns in input-vector order: names, or specs with options. Non-empty; no column twice. */
  inputs: readonly (string | InputColumnSpec)[];
  /** Per task name, where its target lies; at least one task. A target column cannot also be an input. */
  tasks: Readonly<Record<string, TaskColumnSpec>>;
}

/** How `fitRecordSchema` infers column types and treats empty cells (also accepted by `recordSource` when it fits). */
export interface SchemaOptions {
  /** Per-column type overrides for input columns. */
  types?: Readonly<Record<string, ColumnType>>;
  /** Rows read to infer the types of input columns (default 1000). */
  inferRows?: number;
  /** Empty input cells (default 'error'); empty target cells always mean "unlabelled". */
  missing?: MissingPolicy;
  /** Cell texts that count as empty, compared after trimming (default ['']). */
  missingValues?: readonly string[];
  /** Standardise numeric inputs (default true). */
  normalize?: boolean;
}

/** A fitted input column as stored in JSON. */
export type InputColumnJSON =
  | {
      /** Column name. */
      column: string;
      /** One input slot holding the value, standardised when `normalize`. */
      type: 'numeric';
      /** Whether the slot holds (x − mean) / std instead of x. */
      normalize: boolean;
      /** Mean of the training values. */
      mean: number;
      /** Population standard deviation of the training values; 1 for a constant or empty column. */
      std: number;
    }
  | {
      /** Column name. */
      column: string;
      /** One input slot holding 0 or 1. */
      type: 'boolean';
      /** Share of 1s among the training values (0 when there were none); the fill for missing 'mean'. */
      mean: number;
    }
  | {
      /** Column name. */
      column: string;
      /** A one-hot block of `categories.length + 1` slots; the last takes categories unseen in training. */
      type: 'categorical';
      /** Categories in slot order (as given in the mapping, else in order of first appearance). */
      categories: string[];
      /** Each category's share of the training values, in slot order; the fill for missing 'mean'. */
      frequencies: number[];
    };

/** A fitted task as stored in JSON. */
export interface TaskColumnJSON {
  /** Task name. */
  name: string;
  /** Task kind. */
  kind: TaskKind;
  /** Target column(s) in the records. */
  columns: string[];
  /** Class labels (multiclass) or [negative, positive] labels (binary), when the task has them. */
  classes?: string[];
  /** Training rows labelled for the task. */
  labelled: number;
}

/** A fitted schema as plain JSON (`RecordSchema.toJSON`); `RecordSchema.fromJSON` validates and restores it. */
export interface RecordSchemaJSON {
  /** Always 'mtljs.record-schema'. */
  format: 'mtljs.record-schema';
  /** Format version; 1 is the only one. */
  version: 1;
  /** What an empty input cell becomes when encoding. */
  missing: MissingPolicy;
  /** Cell texts that count as empty, trimmed. */
  missingValues: string[];
  /** Training rows the statistics were computed from. */
  rows: number;
  /** Input columns in input-vector order. */
  inputs: InputColumnJSON[];
  /** Tasks in model order. */
  tasks: TaskColumnJSON[];
}

const FORMAT = 'mtljs.record-schema';
const KINDS: readonly TaskKind[] = ['multiclass', 'binary', 'regression', 'multilabel'];
const TYPES: readonly ColumnType[] = ['numeric', 'categorical', 'boolean'];
const MISSING: readonly MissingPolicy[] = ['error', 'mean', 'zero'];
/** Decimal numbers only: Number() would also accept '0x1f', 'Infinity' and '' (as 0). */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const RADIX_PREFIX = /[xXbBoO]/;
const TRUE_WORDS = new Set(['true', 'yes', '1']);
const FALSE_WORDS = new Set(['false', 'no', '0']);

// ---------------------------------------------------------------------------------------------
// Cells

function parseNumber(value: CellValue): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  // Hot path (every numeric cell of every row): Number() is right whenever it gives a finite value,
  // except for blank text (0) and '0x…', '0b…', '0o…' literals, which the regex settles.
  const number = +value;
  if (!Number.isFinite(number)) return undefined;
  if (number === 0 || RADIX_PREFIX.test(value)) return NUMBER.test(value.trim()) ? number : undefined;
  return number;
}

function isSpace(code: number): boolean {
  return code <= 32 || code === 0xa0 || code >= 0x1680;
}

/** Whether a cell is empty: null, absent, or (after trimming) one of `missingValues`. */
function missingTest(missingValues: readonly string[]): (value: CellValue) => boolean {
  if (missingValues.length === 1 && missingValues[0] === '') {
    // Only blank text is missing: trim only cells that start or end with a space-like character.
    return (v) =>
      v === null || v === undefined || (typeof v === 'string' && (v.length === 0 || ((isSpace(v.charCodeAt(0)) || isSpace(v.charCodeAt(v.length - 1))) && v.trim() === '')));
  }
  const empty = new Set(missingValues);
  return (v) => v === null || v === undefined || (typeof v === 'string' && empty.has(v.trim()));
}

function parseBoolean(value: CellValue): 0 | 1 | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value === 1 ? 1 : value === 0 ? 0 : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (TRUE_WORDS.has(text)) return 1;
  if (FALSE_WORDS.has(text)) return 0;
  const number = parseNumber(text);
  return number === 1 ? 1 : number === 0 ? 0 : undefined;
}

/** The key a categorical value is stored under: 3, '3' and ' 3 ' are one category. */
function categoryKey(value: string | number | boolean): string {
  return typeof value === 'string' ? value.trim() : String(value);
}

function show(value: CellValue): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** Where a value came from, for messages: `file, line 12, column 'age'`. */
interface Place {
  file: string;
  line: number;
  column: string;
  task?: string;
}

function badData(place: Place, problem: string): MtlError {
  const details: Record<string, unknown> = { file: place.file, line: place.line, column: place.column };
  if (place.task !== undefined) details.task = place.task;
  return new MtlError('BAD_DATA', `${place.file}, line ${place.line}, column '${place.column}': ${problem}`, details);
}

/** The message for a missing input value under missing: 'error'. */
function emptyInput(value: CellValue): string {
  return `${value === undefined ? 'no value (the field is absent)' : 'empty input cell'} (set missing: 'mean' or 'zero' to fill it)`;
}

function checkScalar(value: CellValue, place: Place): void {
  if (typeof value === 'object' && value !== null) {
    throw badData(place, `expected a number, string, boolean or null, got ${show(value)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping

interface NormalisedInput {
  column: string;
  type?: ColumnType;
  normalize?: boolean;
  categories?: string[];
}

interface NormalisedTask {
  name: string;
  kind: TaskKind;
  columns: string[];
  classes?: string[];
}

interface NormalisedMapping {
  inputs: NormalisedInput[];
  tasks: NormalisedTask[];
}

function config(message: string, details: Record<string, unknown> = {}): MtlError {
  return new MtlError('BAD_CONFIG', message, details);
}

function checkKeys(where: string, value: object, allowed: readonly string[]): void {
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length) {
    throw config(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; it accepts: ${allowed.join(', ')}`, {
      option: unknown[0],
      available: allowed,
    });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkColumnName(where: string, column: unknown): string {
  if (typeof column !== 'string' || column.length === 0) {
    throw config(`${where}: a column name must be a non-empty string, got ${JSON.stringify(column)}`, { option: where });
  }
  return column;
}

function labelList(where: string, labels: unknown): string[] {
  if (!Array.isArray(labels) || labels.some((l) => !['string', 'number', 'boolean'].includes(typeof l))) {
    throw config(`${where} must be an array of strings, numbers or booleans`, { option: where });
  }
  const keys = labels.map((l) => categoryKey(l as string | number | boolean));
  const duplicate = keys.find((k, i) => keys.indexOf(k) !== i);
  if (duplicate !== undefined) throw config(`${where} lists '${duplicate}' twice`, { option: where });
  return keys;
}

function normaliseMapping(mapping: RecordMapping, types: Readonly<Record<string, ColumnType>> = {}): NormalisedMapping {
  if (!isPlainObject(mapping)) {
    throw config('the column mapping must be an object { inputs: [...columns], tasks: { name: { kind, column } } }');
  }
  checkKeys('column mapping', mapping, ['inputs', 'tasks']);
  if (!Array.isArray(mapping.inputs) || mapping.inputs.length === 0) {
    throw config('the column mapping needs `inputs`: a non-empty list of columns', { option: 'inputs' });
  }
  if (!isPlainObject(mapping.tasks) || Object.keys(mapping.tasks).length === 0) {
    throw config('the column mapping needs `tasks`: { taskName: { kind, column } } with at least one task', { option: 'tasks' });
  }
  const inputs: NormalisedInput[] = mapping.inputs.map((raw: unknown, i) => {
    const where = `inputs[${i}]`;
    if (typeof raw === 'string') return { column: checkColumnName(where, raw) };
    const entry = raw as Partial<InputColumnSpec>;
    if (!isPlainObject(raw)) throw config(`${where} must be a column name or { column, type?, normalize?, categories? }`, { option: 'inputs' });
    checkKeys(where, entry, ['column', 'type', 'normalize', 'categories']);
    const column = checkColumnName(`${where}.column`, entry.column);
    if (entry.type !== undefined && !TYPES.includes(entry.type)) {
      throw config(`${where}.type must be one of ${TYPES.join(', ')}, got ${JSON.stringify(entry.type)}`, { column, available: TYPES });
    }
    if (entry.normalize !== undefined && typeof entry.normalize !== 'boolean') throw config(`${where}.normalize must be a boolean`, { column });
    const input: NormalisedInput = { column };
    if (entry.type !== undefined) input.type = entry.type;
    if (entry.normalize !== undefined) input.normalize = entry.normalize;
    if (entry.categories !== undefined) {
      if (entry.type !== undefined && entry.type !== 'categorical') throw config(`${where}: categories are given for a ${entry.type} column`, { column });
      input.type = 'categorical';
      input.categories = labelList(`${where}.categories`, entry.categories);
    }
    return input;
  });
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.column)) throw config(`column '${input.column}' is listed twice in inputs`, { column: input.column });
    seen.add(input.column);
  }
  if (!isPlainObject(types)) throw config('`types` must be an object { column: type }', { option: 'types' });
  for (const [column, type] of Object.entries(types)) {
    if (!seen.has(column)) {
      throw config(`types names column '${column}', which is not an input; inputs: ${inputs.map((i) => i.column).join(', ')}`, {
        column,
        available: inputs.map((i) => i.column),
      });
    }
    if (!TYPES.includes(type)) throw config(`types.${column} must be one of ${TYPES.join(', ')}, got ${JSON.stringify(type)}`, { column });
    const input = inputs.find((i) => i.column === column)!;
    if (input.type !== undefined && input.type !== type) {
      throw config(`column '${column}' is given type '${input.type}' in inputs and '${type}' in types`, { column });
    }
    input.type = type;
  }
  const tasks: NormalisedTask[] = Object.entries(mapping.tasks).map(([name, spec]) => {
    const where = `tasks.${name}`;
    if (!isPlainObject(spec)) throw config(`${where} must be { kind, column, classes? }`, { task: name });
    checkKeys(where, spec, ['kind', 'column', 'classes']);
    if (!KINDS.includes(spec.kind as TaskKind)) {
      throw config(`${where}.kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(spec.kind)}`, { task: name, available: KINDS });
    }
    const kind = spec.kind as TaskKind;
    const rawColumns = Array.isArray(spec.column) ? spec.column : [spec.column];
    if (rawColumns.length === 0) throw config(`${where}.column lists no column`, { task: name });
    const columns = rawColumns.map((c: unknown) => checkColumnName(`${where}.column`, c));
    if (new Set(columns).size !== columns.length) throw config(`${where}.column lists a column twice`, { task: name });
    if ((kind === 'multiclass' || kind === 'binary') && columns.length !== 1) {
      throw config(`${where}: a ${kind} task reads one column, got ${columns.length}`, { task: name });
    }
    const task: NormalisedTask = { name, kind, columns };
    if (spec.classes !== undefined) {
      if (kind !== 'multiclass' && kind !== 'binary') throw config(`${where}.classes is only for multiclass and binary tasks`, { task: name });
      task.classes = labelList(`${where}.classes`, spec.classes);
      if (kind === 'binary' && task.classes.length !== 2) {
        throw config(`${where}.classes of a binary task must be [negative, positive], got ${task.classes.length} labels`, { task: name });
      }
      if (task.classes.length === 0) throw config(`${where}.classes is empty`, { task: name });
    }
    for (const column of columns) {
      if (seen.has(column)) {
        throw config(`column '${column}' is both an input and the target of task '${name}'`, { column, task: name });
      }
    }
    return task;
  });
  return { inputs, tasks };
}

function distinctColumns(inputs: readonly { column: string }[], tasks: readonly { columns: readonly string[] }[]): string[] {
  const columns = inputs.map((i) => i.column);
  for (const task of tasks) for (const column of task.columns) if (!columns.includes(column)) columns.push(column);
  return columns;
}

/**
 * The distinct columns a mapping reads, inputs first, then targets: the order in which an
 * adapter must hand each record's values to {@link fitRecordSchema} and the batching.
 */
export function recordColumns(mapping: RecordMapping): string[] {
  const { inputs, tasks } = normaliseMapping(mapping);
  return distinctColumns(inputs, tasks);
}

// ---------------------------------------------------------------------------------------------
// Schema

function checkSchemaOptions(options: SchemaOptions): { inferRows: number; missing: MissingPolicy; missingValues: string[]; normalize: boolean } {
  const inferRows = options.inferRows ?? 1000;
  if (!Number.isInteger(inferRows) || inferRows < 1) throw config(`inferRows must be a positive integer, got ${options.inferRows}`, { option: 'inferRows' });
  const missing = options.missing ?? 'error';
  if (!MISSING.includes(missing)) throw config(`missing must be one of ${MISSING.join(', ')}, got ${JSON.stringify(options.missing)}`, { option: 'missing' });
  const missingValues = options.missingValues ?? [''];
  if (!Array.isArray(missingValues) || missingValues.some((v) => typeof v !== 'string')) {
    throw config('missingValues must be an array of strings', { option: 'missingValues' });
  }
  const normalize = options.normalize ?? true;
  if (typeof normalize !== 'boolean') throw config('normalize must be a boolean', { option: 'normalize' });
  return { inferRows, missing, missingValues: missingValues.map((v) => v.trim()), normalize };
}

/** Layout of one encoded row: inputs, then each task's target values, then one mask per task. */
export interface RowLayout {
  /** Values of the input vector, at the start of the row. */
  inputWidth: number;
  /** Per task, in schema order: where its target values start. */
  targetOffsets: number[];
  /** Per task: its target values, 1 for multiclass (the class index), else one per target column. */
  targetWidths: number[];
  /** Per task: where its mask value lies (1 labelled, 0 not). */
  maskOffsets: number[];
  /** Values in the whole row. */
  rowWidth: number;
}

/** Encodes records into rows of numbers; see {@link RecordSchema.encoder}. */
export interface RowEncoder {
  /** Where the inputs, targets and masks lie in an encoded row. */
  readonly layout: RowLayout;
  /** Writes one record's row into `out` at `offset`; throws BAD_DATA naming file, line and column. */
  encode(values: readonly CellValue[], line: number, out: Float32Array, offset: number): void;
}

/**
 * A fitted table schema: the column types, categories, classes and normalisation statistics
 * learnt from a training split. It encodes any split the same way and round-trips through JSON
 * (`toJSON` / `RecordSchema.fromJSON`) so it can be saved beside a model.
 */
export class RecordSchema {
  /** The columns each record must supply, in order: inputs, then targets. */
  readonly columns: readonly string[];
  /** Width of the input vector. */
  readonly inputWidth: number;
  /** Name of each input slot: `column`, or `column=category` (and `column=<unknown>`) for one-hot slots. */
  readonly inputNames: readonly string[];
  /** The tasks to build a model with: name, kind and units (classes, outputs or labels). */
  readonly tasks: readonly TaskSpec[];
  /** Training rows the statistics come from. */
  readonly rows: number;
  private readonly json: RecordSchemaJSON;

  private constructor(json: RecordSchemaJSON) {
    this.json = json;
    this.columns = Object.freeze(distinctColumns(json.inputs, json.tasks));
    const names: string[] = [];
    for (const input of json.inputs) {
      if (input.type === 'categorical') {
        for (const category of input.categories) names.push(`${input.column}=${category}`);
        names.push(`${input.column}=<unknown>`);
      } else {
        names.push(input.column);
      }
    }
    this.inputNames = Object.freeze(names);
    this.inputWidth = names.length;
    this.tasks = Object.freeze(json.tasks.map((t) => Object.freeze({ name: t.name, kind: t.kind, units: unitsOf(t) })));
    this.rows = json.rows;
  }

  /** Plain JSON (a deep copy) to save beside the model; `RecordSchema.fromJSON` restores it. */
  toJSON(): RecordSchemaJSON {
    return JSON.parse(JSON.stringify(this.json)) as RecordSchemaJSON;
  }

  /** A schema from `toJSON()`'s object, its JSON text, or a schema; anything malformed is a BAD_CONFIG error. */
  static fromJSON(json: RecordSchemaJSON | string): RecordSchema {
    let value: unknown = json;
    // A RecordSchema from another copy of this package (instanceof fails across copies) gives its JSON.
    if (typeof (json as unknown as { toJSON?: unknown })?.toJSON === 'function') value = (json as unknown as { toJSON(): unknown }).toJSON();
    if (typeof json === 'string') {
      try {
        value = JSON.parse(json);
      } catch (error) {
        throw new MtlError('BAD_CONFIG', `schema: not valid JSON (${(error as Error).message})`, {}, { cause: error });
      }
    }
    return new RecordSchema(validateSchemaJSON(value));
  }

  /** What an empty input cell becomes (`SchemaOptions.missing` of the fit). */
  get missing(): MissingPolicy {
    return this.json.missing;
  }

  /** An encoder for records of `file` (the name used in error messages). */
  encoder(file: string): RowEncoder {
    return createEncoder(this.json, this.columns, file);
  }
}

function unitsOf(task: TaskColumnJSON): number {
  if (task.kind === 'multiclass') return task.classes!.length;
  if (task.kind === 'binary') return 1;
  return task.columns.length;
}

function validateSchemaJSON(value: unknown): RecordSchemaJSON {
  const fail = (problem: string): never => {
    throw new MtlError('BAD_CONFIG', `schema: ${problem} (expected the object written by RecordSchema.toJSON())`);
  };
  if (!isPlainObject(value)) return fail('not an object');
  if (value.format !== FORMAT) return fail(`format is ${JSON.stringify(value.format)}, not '${FORMAT}'`);
  if (value.version !== 1) return fail(`version ${JSON.stringify(value.version)} is not supported (supported: 1)`);
  if (!MISSING.includes(value.missing as MissingPolicy)) return fail(`missing is ${JSON.stringify(value.missing)}`);
  if (!Array.isArray(value.missingValues) || value.missingValues.some((v) => typeof v !== 'string')) return fail('missingValues must be strings');
  if (!Number.isInteger(value.rows) || (value.rows as number) < 0) return fail('rows must be a non-negative integer');
  if (!Array.isArray(value.inputs) || value.inputs.length === 0) return fail('inputs must be a non-empty array');
  if (!Array.isArray(value.tasks) || value.tasks.length === 0) return fail('tasks must be a non-empty array');
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  const inputColumns = new Set<string>();
  for (const input of value.inputs as unknown[]) {
    if (!isPlainObject(input) || typeof input.column !== 'string' || input.column === '') return fail('an input has no column name');
    if (inputColumns.has(input.column)) return fail(`input column '${input.column}' appears twice`);
    inputColumns.add(input.column);
    const where = `input '${input.column}'`;
    if (input.type === 'numeric') {
      if (typeof input.normalize !== 'boolean' || !finite(input.mean) || !finite(input.std) || (input.std as number) <= 0) {
        return fail(`${where}: numeric columns need normalize, a finite mean and a positive std`);
      }
    } else if (input.type === 'boolean') {
      if (!finite(input.mean)) return fail(`${where}: boolean columns need a finite mean`);
    } else if (input.type === 'categorical') {
      if (!strings(input.categories) || !Array.isArray(input.frequencies) || input.frequencies.length !== (input.categories as string[]).length || !input.frequencies.every(finite)) {
        return fail(`${where}: categorical columns need categories and one frequency per category`);
      }
    } else {
      return fail(`${where}: type ${JSON.stringify(input.type)} is not one of ${TYPES.join(', ')}`);
    }
  }
  const taskNames = new Set<string>();
  for (const task of value.tasks as unknown[]) {
    if (!isPlainObject(task) || typeof task.name !== 'string' || task.name === '') return fail('a task has no name');
    if (taskNames.has(task.name)) return fail(`task '${task.name}' appears twice`);
    taskNames.add(task.name);
    const where = `task '${task.name}'`;
    if (!KINDS.includes(task.kind as TaskKind)) return fail(`${where}: kind ${JSON.stringify(task.kind)}`);
    if (!strings(task.columns) || (task.columns as string[]).length === 0) return fail(`${where}: columns must be a non-empty list of names`);
    if ((task.columns as string[]).some((c) => inputColumns.has(c))) return fail(`${where}: a target column is also an input`);
    if ((task.kind === 'multiclass' || task.kind === 'binary') && (task.columns as string[]).length !== 1) return fail(`${where}: a ${task.kind} task has one column`);
    if (task.kind === 'multiclass' && (!strings(task.classes) || (task.classes as string[]).length === 0)) return fail(`${where}: a multiclass task needs its classes`);
    if (task.kind === 'binary' && task.classes !== undefined && (!strings(task.classes) || (task.classes as string[]).length !== 2)) {
      return fail(`${where}: binary classes must be [negative, positive]`);
    }
    if (!Number.isInteger(task.labelled) || (task.labelled as number) < 0) return fail(`${where}: labelled must be a non-negative integer`);
  }
  return JSON.parse(JSON.stringify(value)) as RecordSchemaJSON;
}

// ---------------------------------------------------------------------------------------------
// Fitting

type InputStats =
  | { column: string; type: 'numeric'; normalize: boolean; count: number; mean: number; m2: number }
  | { column: string; type: 'boolean'; count: number; sum: number }
  | { column: string; type: 'categorical'; index: Map<string, number>; counts: number[]; fixed: boolean };

interface TaskStats {
  task: NormalisedTask;
  classIndex?: Map<string, number>;
  labelled: number;
}

/** Numeric when every value is a number; boolean when every value is a flag (one of them a word, since 0/1 alone is numeric); else categorical. */
function inferType(values: readonly CellValue[]): ColumnType {
  if (values.every((v) => parseNumber(v) !== undefined)) return 'numeric';
  if (values.every((v) => parseBoolean(v) !== undefined)) return 'boolean';
  return 'categorical';
}

/**
 * Fits a schema in one streaming pass over the training split: the types of input columns are
 * inferred from the first `inferRows` records (unless given), then every record updates the
 * categories (first-appearance order), the classes of multiclass tasks, and the mean and std of
 * numeric inputs (Welford's algorithm). `rows` must give the values of `recordColumns(mapping)`.
 *
 * @param options - Schema options, plus `file`: the name used in messages (default '<records>').
 * @throws MtlError `BAD_CONFIG` for a malformed mapping or options; `BAD_DATA` naming file, line
 *   and column for a value that does not fit its column or task, an empty input cell under
 *   missing 'error', or a multiclass task without any labelled row.
 */
export async function fitRecordSchema(
  rows: AsyncIterable<RecordRow>,
  mapping: RecordMapping,
  options: SchemaOptions & { file?: string } = {},
): Promise<RecordSchema> {
  if (typeof options !== 'object' || options === null) throw config('schema options must be an object');
  const { inferRows, missing, missingValues, normalize } = checkSchemaOptions(options);
  const file = options.file ?? '<records>';
  const { inputs, tasks } = normaliseMapping(mapping, options.types);
  const columns = distinctColumns(inputs, tasks);
  const position = new Map(columns.map((c, i) => [c, i]));
  const isMissing = missingTest(missingValues);

  let stats: InputStats[] | null = null;
  const taskStats: TaskStats[] = tasks.map((task) => {
    const s: TaskStats = { task, labelled: 0 };
    if (task.kind === 'multiclass') s.classIndex = new Map((task.classes ?? []).map((c, i) => [c, i]));
    return s;
  });
  const window: RecordRow[] = [];
  let count = 0;

  const startStats = (): InputStats[] =>
    inputs.map((input) => {
      let type = input.type;
      if (type === undefined) {
        const index = position.get(input.column)!;
        const seen: CellValue[] = [];
        for (const row of window) {
          const v = row.values[index];
          if (!isMissing(v)) seen.push(v);
        }
        // A column with no value in the window is taken as numeric; a later word in it fails with a hint to set its type.
        type = inferType(seen);
      }
      if (type === 'numeric') return { column: input.column, type, normalize: input.normalize ?? normalize, count: 0, mean: 0, m2: 0 };
      if (type === 'boolean') return { column: input.column, type, count: 0, sum: 0 };
      const fixed = input.categories !== undefined;
      return { column: input.column, type, index: new Map((input.categories ?? []).map((c, i) => [c, i])), counts: (input.categories ?? []).map(() => 0), fixed };
    });

  const inferredFrom = (column: string) =>
    inputs.find((i) => i.column === column)?.type === undefined ? ` (inferred from the first ${inferRows} rows; set types: { '${column}': 'categorical' } if it is not)` : '';

  const update = (row: RecordRow): void => {
    if (!Array.isArray(row.values) || row.values.length !== columns.length) {
      throw new MtlError('BAD_DATA', `${file}, line ${row.line}: a record with ${row.values?.length} values where ${columns.length} columns were expected`, { file, line: row.line });
    }
    count += 1;
    for (let i = 0; i < stats!.length; i++) {
      const s = stats![i]!;
      const value = row.values[i];
      const place: Place = { file, line: row.line, column: s.column };
      checkScalar(value, place);
      if (isMissing(value)) {
        if (missing === 'error') throw badData(place, emptyInput(value));
        continue;
      }
      if (s.type === 'numeric') {
        const x = parseNumber(value);
        if (x === undefined) throw badData(place, `${show(value)} is not a number; the column is numeric${inferredFrom(s.column)}`);
        s.count += 1;
        const delta = x - s.mean;
        s.mean += delta / s.count;
        s.m2 += delta * (x - s.mean);
      } else if (s.type === 'boolean') {
        const b = parseBoolean(value);
        if (b === undefined) throw badData(place, `${show(value)} is not a boolean (true/false, yes/no, 1/0); the column is boolean${inferredFrom(s.column)}`);
        s.count += 1;
        s.sum += b;
      } else {
        const key = categoryKey(value as string | number | boolean);
        let slot = s.index.get(key);
        if (slot === undefined && !s.fixed) {
          slot = s.counts.length;
          s.index.set(key, slot);
          s.counts.push(0);
        }
        if (slot !== undefined) s.counts[slot] += 1;
      }
    }
    for (const t of taskStats) {
      let labelled = true;
      for (const column of t.task.columns) {
        const value = row.values[position.get(column)!];
        const place: Place = { file, line: row.line, column, task: t.task.name };
        checkScalar(value, place);
        if (isMissing(value)) {
          labelled = false;
          continue;
        }
        if (t.task.kind === 'multiclass') {
          const key = categoryKey(value as string | number | boolean);
          if (!t.classIndex!.has(key)) {
            if (t.task.classes) throw badData(place, `class ${show(key)} of task '${t.task.name}' is not in its classes: ${t.task.classes.join(', ')}`);
            t.classIndex!.set(key, t.classIndex!.size);
          }
        } else {
          readTarget(t.task, value, place);
        }
      }
      if (labelled) t.labelled += 1;
    }
  };

  for await (const row of rows) {
    if (stats === null) {
      window.push(row);
      if (window.length < inferRows) continue;
      stats = startStats();
      for (const buffered of window.splice(0)) update(buffered);
      continue;
    }
    update(row);
  }
  if (stats === null) {
    stats = startStats();
    for (const buffered of window.splice(0)) update(buffered);
  }

  const inputJSON: InputColumnJSON[] = stats.map((s) => {
    if (s.type === 'numeric') {
      const std = s.count > 0 ? Math.sqrt(s.m2 / s.count) : 1;
      if (!Number.isFinite(s.mean) || !Number.isFinite(std)) {
        throw new MtlError('BAD_DATA', `${file}, column '${s.column}': its values are too large to compute a mean and standard deviation`, { file, column: s.column });
      }
      // A constant column keeps std 1, so it encodes to 0 instead of dividing by zero.
      return { column: s.column, type: 'numeric', normalize: s.normalize, mean: s.mean, std: std > 1e-12 ? std : 1 };
    }
    if (s.type === 'boolean') return { column: s.column, type: 'boolean', mean: s.count ? s.sum / s.count : 0 };
    const total = s.counts.reduce((a, b) => a + b, 0);
    return { column: s.column, type: 'categorical', categories: [...s.index.keys()], frequencies: s.counts.map((c) => (total ? c / total : 0)) };
  });
  const taskJSON: TaskColumnJSON[] = taskStats.map((t) => {
    const json: TaskColumnJSON = { name: t.task.name, kind: t.task.kind, columns: [...t.task.columns], labelled: t.labelled };
    if (t.task.kind === 'multiclass') {
      json.classes = [...t.classIndex!.keys()];
      if (json.classes.length === 0) {
        throw new MtlError('BAD_DATA', `${file}: task '${t.task.name}' has no labelled row, so its classes cannot be learnt (give classes: [...] in the mapping)`, {
          file,
          task: t.task.name,
          column: t.task.columns[0],
        });
      }
    } else if (t.task.classes) {
      json.classes = [...t.task.classes];
    }
    return json;
  });
  return RecordSchema.fromJSON({ format: FORMAT, version: 1, missing, missingValues, rows: count, inputs: inputJSON, tasks: taskJSON });
}

/** A non-multiclass target value as a number (binary 0/1, regression, one multilabel flag). */
function readTarget(task: { name: string; kind: TaskKind; classes?: readonly string[] }, value: CellValue, place: Place): number {
  if (task.kind === 'regression') {
    const x = parseNumber(value);
    if (x === undefined) throw badData(place, `${show(value)} is not a number (task '${task.name}' is a regression)`);
    return x;
  }
  if (task.kind === 'binary' && task.classes) {
    const key = categoryKey(value as string | number | boolean);
    const index = task.classes.indexOf(key);
    if (index < 0) throw badData(place, `${show(value)} is neither class of task '${task.name}' (${task.classes.join(', ')})`);
    return index;
  }
  const b = parseBoolean(value);
  if (b === undefined) throw badData(place, `${show(value)} is not a ${task.kind} label (1/0, true/false, yes/no) of task '${task.name}'`);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Encoding

type InputPlan =
  | { kind: 'numeric'; index: number; column: string; offset: number; shift: number; scale: number; fill: number | null }
  | { kind: 'boolean'; index: number; column: string; offset: number; fill: number | null }
  | { kind: 'categorical'; index: number; column: string; offset: number; slots: Map<string, number>; width: number; fill: readonly number[] | null };

interface TaskPlan {
  name: string;
  kind: TaskKind;
  indices: number[];
  columns: string[];
  classes?: string[];
  classIndex?: Map<string, number>;
  targetOffset: number;
  maskOffset: number;
}

function createEncoder(json: RecordSchemaJSON, columns: readonly string[], file: string): RowEncoder {
  const position = new Map(columns.map((c, i) => [c, i]));
  const missing = json.missing;
  let offset = 0;
  const inputs: InputPlan[] = json.inputs.map((input) => {
    const index = position.get(input.column)!;
    const start = offset;
    if (input.type === 'numeric') {
      offset += 1;
      const [shift, scale] = input.normalize ? [input.mean, 1 / input.std] : [0, 1];
      // 'mean' fills the training mean (0 once standardised); 'zero' fills a raw 0.
      const fill = missing === 'mean' ? (input.mean - shift) * scale : missing === 'zero' ? (0 - shift) * scale : null;
      return { kind: 'numeric', index, column: input.column, offset: start, shift, scale, fill };
    }
    if (input.type === 'boolean') {
      offset += 1;
      return { kind: 'boolean', index, column: input.column, offset: start, fill: missing === 'mean' ? input.mean : missing === 'zero' ? 0 : null };
    }
    const width = input.categories.length + 1;
    offset += width;
    // The mean of the training one-hot rows is the category frequencies; the unknown slot's share is 0.
    const fill = missing === 'mean' ? [...input.frequencies, 0] : missing === 'zero' ? new Array<number>(width).fill(0) : null;
    return { kind: 'categorical', index, column: input.column, offset: start, slots: new Map(input.categories.map((c, i) => [c, i])), width, fill };
  });
  const inputWidth = offset;
  const tasks: TaskPlan[] = json.tasks.map((task) => {
    const plan: TaskPlan = {
      name: task.name,
      kind: task.kind,
      indices: task.columns.map((c) => position.get(c)!),
      columns: task.columns,
      targetOffset: offset,
      maskOffset: 0,
    };
    if (task.classes) plan.classes = task.classes;
    if (task.kind === 'multiclass') plan.classIndex = new Map(task.classes!.map((c, i) => [c, i]));
    offset += task.kind === 'multiclass' ? 1 : task.columns.length;
    return plan;
  });
  for (const plan of tasks) plan.maskOffset = offset++;
  const layout: RowLayout = {
    inputWidth,
    targetOffsets: tasks.map((t) => t.targetOffset),
    targetWidths: tasks.map((t) => (t.kind === 'multiclass' ? 1 : t.indices.length)),
    maskOffsets: tasks.map((t) => t.maskOffset),
    rowWidth: offset,
  };
  const isMissing = missingTest(json.missingValues);

  function encode(values: readonly CellValue[], line: number, out: Float32Array, base: number): void {
    if (values.length !== columns.length) {
      throw new MtlError('BAD_DATA', `${file}, line ${line}: a record with ${values.length} values where ${columns.length} columns were expected`, { file, line });
    }
    for (const plan of inputs) {
      const value = values[plan.index];
      const at = base + plan.offset;
      if (isMissing(value)) {
        if (plan.fill === null) throw badData({ file, line, column: plan.column }, emptyInput(value));
        if (plan.kind === 'categorical') out.set(plan.fill as readonly number[], at);
        else out[at] = plan.fill as number;
        continue;
      }
      if (plan.kind === 'numeric') {
        const x = parseNumber(value);
        if (x === undefined) {
          checkScalar(value, { file, line, column: plan.column });
          throw badData({ file, line, column: plan.column }, `${show(value)} is not a number; the column is numeric`);
        }
        out[at] = (x - plan.shift) * plan.scale;
      } else if (plan.kind === 'boolean') {
        const b = parseBoolean(value);
        if (b === undefined) {
          checkScalar(value, { file, line, column: plan.column });
          throw badData({ file, line, column: plan.column }, `${show(value)} is not a boolean (true/false, yes/no, 1/0)`);
        }
        out[at] = b;
      } else {
        checkScalar(value, { file, line, column: plan.column });
        out.fill(0, at, at + plan.width);
        // Unseen categories share the last ('unknown') slot, so the input width never changes.
        const slot = plan.slots.get(categoryKey(value as string | number | boolean));
        out[at + (slot ?? plan.width - 1)] = 1;
      }
    }
    for (const plan of tasks) {
      let labelled = true;
      for (const index of plan.indices) if (isMissing(values[index])) labelled = false;
      const width = plan.kind === 'multiclass' ? 1 : plan.indices.length;
      const at = base + plan.targetOffset;
      if (!labelled) {
        // Unlabelled rows carry a harmless 0 target; the mask keeps it out of the loss.
        out.fill(0, at, at + width);
        out[base + plan.maskOffset] = 0;
        continue;
      }
      if (plan.kind === 'multiclass') {
        const value = values[plan.indices[0]!];
        const place: Place = { file, line, column: plan.columns[0]!, task: plan.name };
        checkScalar(value, place);
        const key = categoryKey(value as string | number | boolean);
        const index = plan.classIndex!.get(key);
        if (index === undefined) {
          const shown = plan.classes!.length > 20 ? `${plan.classes!.slice(0, 20).join(', ')}, …` : plan.classes!.join(', ');
          throw badData(place, `class ${show(key)} of task '${plan.name}' was not seen in the training data; its ${plan.classes!.length} classes: ${shown}`);
        }
        out[at] = index;
      } else {
        for (let k = 0; k < plan.indices.length; k++) {
          const value = values[plan.indices[k]!];
          const place: Place = { file, line, column: plan.columns[k]!, task: plan.name };
          checkScalar(value, place);
          out[at + k] = readTarget(plan, value, place);
        }
      }
      out[base + plan.maskOffset] = 1;
    }
  }

  return { layout, encode };
}
