import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { MtlError, type ConvSpec, type GradientSite, type LossName, type MetricName, type MlpSpec, type PluginReference, type TaskKind } from '@mtljs/core';
import { z } from 'zod';
import { fileNotFound } from './exit-codes';

// The `mtl` config file, validated with zod. Every object is strict (an unknown key is an error
// naming it), and every problem becomes one line `<file>: <field path>: <what was expected>, got
// <value>` of a single BAD_CONFIG error.

const POSITIVE_INTEGER = 'expected a positive integer';
const NON_NEGATIVE_INTEGER = 'expected a non-negative integer';

function positiveInteger() {
  return z.int({ error: POSITIVE_INTEGER }).positive({ error: POSITIVE_INTEGER });
}

function nonNegativeInteger() {
  return z.int({ error: NON_NEGATIVE_INTEGER }).nonnegative({ error: NON_NEGATIVE_INTEGER });
}

function positiveNumber() {
  return z.number({ error: 'expected a positive number' }).positive({ error: 'expected a positive number' });
}

function name(what: string) {
  return z.string({ error: `expected ${what} (a non-empty string)` }).min(1, { error: `expected ${what} (a non-empty string)` });
}

const options = z.record(z.string(), z.unknown(), { error: 'expected an object of options' });

/** A registered plugin: its name, or `{ name, options }`. */
const pluginReference = z.union([name('a plugin name'), z.strictObject({ name: name('a plugin name'), options: options.optional() })], {
  error: 'expected a plugin name or { "name": …, "options": { … } }',
});

const activation = z.enum(['relu', 'tanh', 'sigmoid', 'elu', 'leaky-relu', 'linear']);

const mlpSpec = z.strictObject({
  type: z.literal('mlp'),
  units: z.array(positiveInteger(), { error: 'expected an array of positive integers' }).min(1, { error: 'expected at least one layer width' }),
  activation: activation.optional(),
  outputActivation: activation.optional(),
});

const convBlockSpec = z.strictObject({
  filters: positiveInteger(),
  kernelSize: positiveInteger().optional(),
  stride: positiveInteger().optional(),
  padding: z.enum(['same', 'valid']).optional(),
  norm: z.enum(['layer', 'none']).optional(),
  pool: z.enum(['max', 'avg', 'none']).optional(),
  poolSize: positiveInteger().optional(),
});

const convSpec = z.strictObject({
  type: z.literal('conv'),
  blocks: z.array(convBlockSpec, { error: 'expected an array of conv blocks' }).min(1, { error: 'expected at least one conv block' }),
  activation: activation.optional(),
  dense: z.array(positiveInteger(), { error: 'expected an array of positive integers' }).optional(),
});

const taskConfig = z.strictObject({
  name: name('a task name'),
  kind: z.enum(['multiclass', 'binary', 'regression', 'multilabel']).optional(),
  units: positiveInteger().optional(),
  loss: z.enum(['softmax-cross-entropy', 'binary-cross-entropy', 'mse', 'mae', 'huber']).optional(),
  metrics: z.array(z.enum(['accuracy', 'f1', 'rmse', 'mae', 'r2'])).optional(),
  weight: z.number({ error: 'expected a non-negative number' }).nonnegative({ error: 'expected a non-negative number' }).optional(),
});

/** A data file of an adapter: its path, or `{ path, options }` with options for this split only. */
const splitFile = z.union([name('a file path'), z.strictObject({ path: name('a file path'), options: options.optional() })], {
  error: 'expected a file path or { "path": …, "options": { … } }',
});

const dataConfig = z
  .strictObject({
    dataset: name('a dataset name').optional(),
    adapter: name('a data adapter name').optional(),
    train: splitFile.optional(),
    validation: splitFile.optional(),
    test: splitFile.optional(),
    options: options.optional(),
  })
  .superRefine((data, context) => {
    if (data.dataset === undefined && data.adapter === undefined) {
      context.addIssue({ code: 'custom', path: [], message: 'expected "dataset" (a registered dataset) or "adapter" (a data adapter with "train")' });
    } else if (data.dataset !== undefined && data.adapter !== undefined) {
      context.addIssue({ code: 'custom', path: ['adapter'], message: 'give "dataset" or "adapter", not both' });
    } else if (data.dataset !== undefined) {
      for (const key of ['train', 'validation', 'test'] as const) {
        if (data[key] !== undefined) context.addIssue({ code: 'custom', path: [key], message: 'file paths go with "adapter"; a dataset supplies its own splits' });
      }
    } else if (data.train === undefined) {
      context.addIssue({ code: 'custom', path: ['train'], message: 'required with "adapter" (the training file)' });
    }
  });

const checkpointConfig = z.strictObject({
  every: z.union([z.literal('epoch'), positiveInteger()], { error: 'expected "epoch" or a positive integer (epochs)' }).default('epoch'),
  keep: positiveInteger().optional(),
});

const configObject = z.strictObject({
  name: name('a run name').optional(),
  seed: nonNegativeInteger().default(0),
  backend: name('a backend name or "auto"').default('auto'),
  data: dataConfig,
  tasks: z.array(taskConfig, { error: 'expected an array of tasks' }).min(1, { error: 'expected at least one task' }).optional(),
  model: z.strictObject({
    sharing: pluginReference,
    encoder: z.discriminatedUnion('type', [mlpSpec, convSpec]),
    head: mlpSpec.optional(),
  }),
  weighting: pluginReference.default('ew'),
  site: z.enum(['shared', 'last-shared', 'features']).optional(),
  nonFinite: z.enum(['throw', 'skip']).optional(),
  optimizer: z
    .strictObject({
      name: z.enum(['adam', 'sgd', 'momentum', 'rmsprop', 'adagrad']),
      learningRate: positiveNumber().optional(),
      momentum: z.number({ error: 'expected a number in [0, 1)' }).min(0).lt(1, { error: 'expected a number in [0, 1)' }).optional(),
    })
    .default({ name: 'adam', learningRate: 1e-3 }),
  epochs: positiveInteger(),
  log: z.strictObject({ every: positiveInteger().default(1) }).default({ every: 1 }),
  probe: z.strictObject({ every: nonNegativeInteger().default(10) }).default({ every: 10 }),
  checkpoint: checkpointConfig.default({ every: 'epoch' }),
  plugins: z.array(name('a package name or path'), { error: 'expected an array of package names' }).default([]),
  baselines: z.boolean({ error: 'expected true or false' }).default(false),
  out: name('a folder path').optional(),
});

/**
 * The zod schema of the config file: strict objects, defaults filled in, and the cross-field
 * checks (a dataset or an adapter with `train`, no task listed twice, `optimizer.momentum` only
 * with the `momentum` optimizer). {@link parseConfig} wraps it with the CLI's error messages.
 */
export const configSchema: z.ZodType<CliConfig, unknown> = configObject.superRefine((config, context) => {
  const seen = new Set<string>();
  for (const [i, task] of (config.tasks ?? []).entries()) {
    if (seen.has(task.name)) context.addIssue({ code: 'custom', path: ['tasks', i, 'name'], message: `task '${task.name}' is listed twice` });
    seen.add(task.name);
  }
  if (config.optimizer.momentum !== undefined && config.optimizer.name !== 'momentum') {
    context.addIssue({ code: 'custom', path: ['optimizer', 'momentum'], message: 'only the "momentum" optimizer takes a momentum' });
  }
});

/** A registered plugin as a config names it: its name (`"pcgrad"`), or `{ name, options }`. */
export type PluginReferenceConfig = string | PluginReference;

/**
 * A data file of an adapter: its path (relative to the config file's folder), or `{ path, options }`
 * whose options are merged over the data's shared `options` for this split only (e.g. the
 * `labels` of IDX test files).
 */
export type SplitFileConfig = string | SplitFileObject;

/** A data file given as `{ path, options }` (see {@link SplitFileConfig}). */
export interface SplitFileObject {
  /** Path of the file; relative paths resolve from the config file's folder. */
  path: string;
  /** Adapter options for this split, merged over the data's shared `options`. */
  options?: Record<string, unknown>;
}

/**
 * Where the data comes from: a registered dataset (`dataset`, which supplies its own splits and
 * tasks), or a data adapter (`adapter`) with a `train` file and optional `validation` and `test`
 * files. Exactly one of `dataset` and `adapter` is given.
 */
export interface DataConfig {
  /** A registered `dataset` plugin (`synthetic`, `multi-mnist`, …); no file paths go with it. */
  dataset?: string;
  /** A registered `data` adapter plugin (`csv`, `jsonl`, `idx`, …); requires `train`. */
  adapter?: string;
  /** The training file (adapter only; required with `adapter`). */
  train?: SplitFileConfig;
  /** The validation file (adapter only). */
  validation?: SplitFileConfig;
  /** The test file (adapter only). */
  test?: SplitFileConfig;
  /** Options for the dataset's `load()` or the adapter (e.g. `csvSource`'s `columns`, `batchSize`); passed on unchanged. */
  options?: Record<string, unknown>;
}

/** One task to train, matched by name to a task of the data; given fields replace the data's defaults. */
export interface TaskConfig {
  /** Name of a task of the data. */
  name: string;
  /** Task kind; must agree with the data's when it describes the task, required when it does not. */
  kind?: TaskKind;
  /** Output width (classes, 1, outputs or labels); must agree with the data's, required when the data does not describe the task. */
  units?: number;
  /** Loss replacing the kind's default (core's `TaskSpec.loss`). */
  loss?: LossName;
  /** Metrics replacing the kind's default (core's `TaskSpec.metrics`). */
  metrics?: MetricName[];
  /** Importance `c_t` ≥ 0 multiplying the task's loss before weighting (core's `TaskSpec.weight`; default 1). */
  weight?: number;
}

/** The model: a sharing strategy around an encoder, with a head per task. */
export interface ModelConfig {
  /** A registered sharing strategy (`hard`, `soft`, `mmoe`, `ple`, …) and its options. */
  sharing: PluginReferenceConfig;
  /** The encoder (core's `MlpSpec` or `ConvSpec`), copied as the strategy needs (a tower per task, an expert per slot). */
  encoder: MlpSpec | ConvSpec;
  /** Hidden layers of each task's head; the linear output layer is always added. Default: none. */
  head?: MlpSpec;
}

/**
 * A validated `mtl` config file, defaults filled in (the README's "The config file"). Paths are
 * absolute once it comes from {@link loadConfig} or {@link fromRaw}.
 */
export interface CliConfig {
  /** Run name, used in the log, the report and the default run folder. Default: the config file's name without its extension. */
  name?: string;
  /** Integer ≥ 0 seeding model initialisation, shuffling and weighting randomness. @defaultValue `0` */
  seed: number;
  /** Backend for `useBackend`: `auto` (best available), `cpu`, `wasm`, `webgpu`, `node`, or a plugin's. @defaultValue `'auto'` */
  backend: string;
  /** Where the data comes from. Required. */
  data: DataConfig;
  /** Which tasks to train, in this order (at least one, no name twice). Default: every task the data has. */
  tasks?: TaskConfig[];
  /** The model to build. Required. */
  model: ModelConfig;
  /** A registered weighting and its options. @defaultValue `'ew'` */
  weighting: PluginReferenceConfig;
  /** Gradient site of a gradient-level weighting. Default: the weighting's first site. */
  site?: GradientSite;
  /**
   * A step with a NaN or infinite loss, weight or update changes nothing, then: 'throw' stops the
   * run (exit 1, naming the task and step); 'skip' drops the step, counts it, and goes on (the
   * count is in the run log's step and epoch records). Default: 'throw'.
   */
  nonFinite?: 'throw' | 'skip';
  /** The optimizer. @defaultValue `{ name: 'adam', learningRate: 1e-3 }` */
  optimizer: {
    /** Optimizer kind. */
    name: 'adam' | 'sgd' | 'momentum' | 'rmsprop' | 'adagrad';
    /** Learning rate > 0. Default: core's default for the optimizer. */
    learningRate?: number;
    /** Momentum in [0, 1), only with the `momentum` optimizer. */
    momentum?: number;
  };
  /** Number of epochs, integer ≥ 1. Required. */
  epochs: number;
  /** Step logging. @defaultValue `{ every: 1 }` */
  log: {
    /** A step record every N steps (counting from step 0), integer ≥ 1; Gramian cosines are logged at the same steps. @defaultValue `1` */
    every: number;
  };
  /** The task-relationship probe, for weightings that compute no Gramian. @defaultValue `{ every: 10 }` */
  probe: {
    /** Probe the task-gradient Gramian every N steps (from step 0), integer ≥ 0; `0` never. @defaultValue `10` */
    every: number;
  };
  /** Checkpointing. @defaultValue `{ every: 'epoch' }` */
  checkpoint: {
    /** A checkpoint every N epochs (`'epoch'`: every epoch); the last epoch always gets one. @defaultValue `'epoch'` */
    every: 'epoch' | number;
    /** Keep only the newest N checkpoint files (integer ≥ 1). Default: all. */
    keep?: number;
  };
  /** Third-party plugin packages (names, or paths starting with `.` or `/`) loaded before plugin names are checked. @defaultValue `[]` */
  plugins: string[];
  /** Also train one single-task model per task, for Δm%. @defaultValue `false` */
  baselines: boolean;
  /** The run folder; a relative path resolves from the config file's folder. Default: `runs/<name>-<yyyymmdd-hhmmss>` in the working directory. */
  out?: string;
}

// The interfaces above are what users read; these checks keep them equal to what the schema
// accepts and returns (same keys, mutually assignable; a compile error names the side that drifted).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? ([keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false) : false) : false;
type Assert<T extends true> = T;
type SchemaConfig = z.output<typeof configObject>;
type _ConfigMatchesSchema = Assert<Same<CliConfig, SchemaConfig>>;
type _DataMatchesSchema = Assert<Same<DataConfig, SchemaConfig['data']>>;
type _SplitFileMatchesSchema = Assert<Same<SplitFileObject, Exclude<NonNullable<SchemaConfig['data']['train']>, string>>>;
type _TaskMatchesSchema = Assert<Same<TaskConfig, z.output<typeof taskConfig>>>;
type _ModelMatchesSchema = Assert<Same<ModelConfig, SchemaConfig['model']>>;
type _MlpMatchesSchema = Assert<Same<MlpSpec, z.output<typeof mlpSpec>>>;
type _ConvMatchesSchema = Assert<Same<ConvSpec, z.output<typeof convSpec>>>;
type _OptimizerMatchesSchema = Assert<Same<CliConfig['optimizer'], SchemaConfig['optimizer']>>;
type _CheckpointMatchesSchema = Assert<Same<CliConfig['checkpoint'], SchemaConfig['checkpoint']>>;

/** A config file read, validated and resolved. */
export interface LoadedConfig {
  /** The validated config: defaults filled in, overrides applied, paths absolute. */
  config: CliConfig;
  /** The label used in messages: the path as given. */
  label: string;
  /** Absolute path of the file, when it came from one. */
  file?: string;
  /** Folder that relative paths resolve from. */
  dir: string;
  /** The JSON as written in the file (before defaults and overrides). */
  raw: unknown;
}

/** A value as a message shows it: strings quoted, arrays and objects by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return value.length <= 6 && value.every((v) => typeof v !== 'object') ? JSON.stringify(value) : `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** `model.encoder.units[1]`: a field path as users write it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text ? `.${String(part)}` : String(part);
  }
  return text;
}

function expectedName(expected: string): string {
  const names: Record<string, string> = { number: 'a number', int: 'an integer', string: 'a string', boolean: 'true or false', array: 'an array', object: 'an object' };
  return names[expected] ?? expected;
}

type Issue = z.core.$ZodIssue;

function issueLines(issue: Issue): string[] {
  const path = formatPath(issue.path);
  const at = (where: string, message: string) => `${where || '(top level)'}: ${message}`;
  const got = 'input' in issue && issue.input !== undefined ? `, got ${describeValue(issue.input)}` : '';
  switch (issue.code) {
    case 'invalid_type':
      if (!('input' in issue) || issue.input === undefined) return [at(path, 'required')];
      return [at(path, issue.message.startsWith('expected') ? `${issue.message}${got}` : `expected ${expectedName(issue.expected)}${got}`)];
    case 'unrecognized_keys':
      return issue.keys.map((key) => at(formatPath([...issue.path, key]), `unknown key${suggestion(key, knownKeys(issue.path))}`));
    case 'invalid_value':
      return [at(path, `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}${got}`)];
    case 'invalid_union':
      if (issue.discriminator !== undefined && 'options' in issue && issue.options) {
        const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator];
        return [at(path, `expected ${issue.options.map((v: unknown) => JSON.stringify(v)).join(' or ')}, got ${describeValue(value)}`)];
      }
      return [at(path, `${issue.message}${got}`)];
    case 'too_small':
      if (issue.message.startsWith('expected')) return [at(path, `${issue.message}${got}`)];
      if (issue.origin === 'array') return [at(path, `expected at least ${issue.minimum} item(s)`)];
      return [at(path, `expected ${issue.inclusive ? '≥' : '>'} ${issue.minimum}${got}`)];
    case 'too_big':
      if (issue.message.startsWith('expected')) return [at(path, `${issue.message}${got}`)];
      return [at(path, `expected ${issue.inclusive ? '≤' : '<'} ${issue.maximum}${got}`)];
    default:
      return [at(path, issue.message)];
  }
}

/** Keys an object at `path` accepts, for "did you mean" hints (top level and model). */
function knownKeys(path: readonly PropertyKey[]): string[] {
  const shapes: Record<string, string[]> = {
    '': Object.keys(configObject.shape),
    model: ['sharing', 'encoder', 'head'],
    data: ['dataset', 'adapter', 'train', 'validation', 'test', 'options'],
    optimizer: ['name', 'learningRate', 'momentum'],
    checkpoint: ['every', 'keep'],
  };
  return shapes[formatPath(path)] ?? [];
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(previous[j]! + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** ` (did you mean 'x'?)` for the closest candidate within two edits, else ''. */
export function suggestion(value: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(value.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

/**
 * Validates a config object: the config with defaults filled in, or a BAD_CONFIG error with one
 * line per problem, each `<label>: <field path>: <message>`.
 */
export function parseConfig(raw: unknown, label = 'config'): CliConfig {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap(issueLines).map((line) => `${label}: ${line}`);
  const first = result.error.issues[0]!;
  throw new MtlError('BAD_CONFIG', lines.join('\n'), { file: label, field: formatPath(first.path), issues: lines });
}

/** Line and column of a character offset, 1-based. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/**
 * Offset of the first JSON syntax error in `text` (RFC 8259 grammar), or undefined when it
 * parses. V8 names no position for some errors ("Unexpected token"), so it is found here.
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => (text.startsWith(word, i) ? (i += word.length) : fail());
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[\da-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? '')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i));
    if (!match) fail();
    i += match![0].length;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') return void i++;
      for (;;) {
        space();
        if (text[i] !== '"') fail();
        string();
        space();
        if (text[i] !== ':') fail();
        i++;
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    }
    if (c === '"') return string();
    if (c === 't') return void literal('true');
    if (c === 'f') return void literal('false');
    if (c === 'n') return void literal('null');
    return number();
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (offset) {
    return Math.min(offset as number, text.length);
  }
}

/** Reads a JSON file; a missing file exits 3, bad JSON is BAD_CONFIG with its line and column. */
export function readJsonFile(path: string, label: string, what = 'config'): unknown {
  if (!existsSync(path)) throw fileNotFound(path, what, 'BAD_CONFIG');
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    const offset = jsonErrorOffset(text);
    const where = offset === undefined ? '' : (({ line, column }) => ` (line ${line}, column ${column})`)(lineAndColumn(text, offset));
    const reason = (error as Error).message.replace(/, "[\s\S]*" is not valid JSON$/, '');
    throw new MtlError('BAD_CONFIG', `${label}: not valid JSON${where}: ${reason}`, { file: label });
  }
}

/** Overrides from the command line, applied to the file's JSON before validation. */
export interface ConfigOverrides {
  /** Replaces the config's `epochs` (`--epochs`). */
  epochs?: number;
  /** Replaces the config's `seed` (`--seed`). */
  seed?: number;
  /** Replaces the config's `backend` (`--backend`). */
  backend?: string;
  /** Replaces the config's `out`; applied after validation, relative to the working directory (`--out`). */
  out?: string;
}

/**
 * Reads, validates and resolves a config file: relative data and `out` paths resolve from the
 * file's folder. Overrides replace the file's values before validation.
 */
export function loadConfig(path: string, overrides: ConfigOverrides = {}): LoadedConfig {
  const file = resolve(path);
  const raw = readJsonFile(file, path);
  return fromRaw(raw, { label: path, dir: dirname(file), file }, overrides);
}

/** A config from a JSON value (tune's trials, bench's variants): validated and resolved like a file. */
export function fromRaw(raw: unknown, where: { label: string; dir: string; file?: string }, overrides: ConfigOverrides = {}): LoadedConfig {
  let value = raw;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const copy: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
    if (overrides.epochs !== undefined) copy.epochs = overrides.epochs;
    if (overrides.seed !== undefined) copy.seed = overrides.seed;
    if (overrides.backend !== undefined) copy.backend = overrides.backend;
    value = copy;
  } else {
    throw new MtlError('BAD_CONFIG', `${where.label}: expected a JSON object at the top level, got ${describeValue(raw)}`, { file: where.label });
  }
  const config = parseConfig(value, where.label);
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(where.dir, p));
  for (const split of SPLITS) {
    const file = config.data[split];
    if (typeof file === 'string') config.data[split] = absolute(file);
    else if (file !== undefined) file.path = absolute(file.path);
  }
  if (config.out !== undefined) config.out = absolute(config.out);
  if (overrides.out !== undefined) config.out = resolve(overrides.out);
  const loaded: LoadedConfig = { config, label: where.label, dir: where.dir, raw };
  if (where.file !== undefined) loaded.file = where.file;
  return loaded;
}

export const SPLITS = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/** The plugin name of a reference (`'pcgrad'` or `{ name: 'pcgrad', options }`). */
export function referenceName(reference: PluginReferenceConfig): string {
  return typeof reference === 'string' ? reference : reference.name;
}
