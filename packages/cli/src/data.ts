import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { disposeBatch, isMtlError, MtlError, type Batch, type DataSource, type LoadedDataset, type Registry, type TaskSpec } from '@mtljs/core';
import { fileNotFound } from './exit-codes';
import { SPLITS, type LoadedConfig, type SplitName, type TaskConfig } from './config';

/**
 * The data of a run: the tasks the model trains (the data's, or those the config's `tasks`
 * selects), the input shape and the splits, plus the record schema fitted on the training file
 * (CSV, JSONL) as JSON, saved with the run.
 */
export interface RunData extends LoadedDataset {
  /** The record schema's JSON (`data-schema.json`), when the training source fitted one or a saved run gave it. */
  schema?: unknown;
}

// Options only a schema-fitting pass takes (core's record sources refuse them beside a schema).
const FITTING_OPTIONS = ['columns', 'mapping', 'types', 'inferRows', 'missing', 'missingValues', 'normalize'];

function withPrefix(error: unknown, prefix: string): unknown {
  if (isMtlError(error) && (error.code === 'BAD_CONFIG' || error.code === 'UNKNOWN_PLUGIN')) {
    return new MtlError(error.code, `${prefix}: ${error.message}`, error.details, { cause: error });
  }
  return error;
}

/** A source whose batches carry only the named tasks' targets and masks (the others are disposed). */
export function onlyTasks(source: DataSource, names: readonly string[]): DataSource {
  const keep = new Set(names);
  const select = (batch: Batch): Batch => {
    const targets: Batch['targets'] = {};
    const masks: NonNullable<Batch['masks']> = {};
    for (const [task, tensor] of Object.entries(batch.targets)) {
      if (keep.has(task)) targets[task] = tensor;
      else tensor?.dispose();
    }
    for (const [task, tensor] of Object.entries(batch.masks ?? {})) {
      if (keep.has(task)) masks[task] = tensor;
      else tensor?.dispose();
    }
    return batch.masks ? { inputs: batch.inputs, targets, masks } : { inputs: batch.inputs, targets };
  };
  const wrapped: DataSource = {
    get size() {
      return source.size;
    },
    async *[Symbol.asyncIterator]() {
      for await (const batch of source) yield select(batch);
    },
  };
  if (source.shuffled) {
    const shuffled = source.shuffled.bind(source);
    (wrapped as { shuffled?: (seed: number) => DataSource }).shuffled = (seed: number) => onlyTasks(shuffled(seed), names);
  }
  return wrapped;
}

/** The first batch of a source (the caller disposes it), or undefined for an empty source. */
export async function firstBatch(source: DataSource): Promise<Batch | undefined> {
  for await (const batch of source) return batch;
  return undefined;
}

/**
 * The tasks to train: the data's, or the config's `tasks` matched to them by name (kind and units
 * must agree when given; loss, metrics and weight are taken from the config). With data that
 * does not describe its tasks, each config task needs its kind and units.
 */
export function selectTasks(dataTasks: readonly TaskSpec[] | undefined, configTasks: readonly TaskConfig[] | undefined, label: string): TaskSpec[] {
  if (configTasks === undefined) {
    if (dataTasks === undefined) {
      throw new MtlError('BAD_CONFIG', `${label}: tasks: required here (the data adapter does not describe its tasks): give each task's name, kind and units`, { field: 'tasks' });
    }
    return dataTasks.map((task) => ({ ...task }));
  }
  return configTasks.map((task, i) => {
    const field = `tasks[${i}]`;
    const known = dataTasks?.find((candidate) => candidate.name === task.name);
    if (dataTasks !== undefined && known === undefined) {
      throw new MtlError('BAD_CONFIG', `${label}: ${field}.name: the data has no task '${task.name}'; its tasks: ${dataTasks.map((t) => t.name).join(', ')}`, {
        field: `${field}.name`,
        task: task.name,
        available: dataTasks.map((t) => t.name),
      });
    }
    const kind = task.kind ?? known?.kind;
    const units = task.units ?? known?.units;
    if (kind === undefined || units === undefined) {
      throw new MtlError('BAD_CONFIG', `${label}: ${field}: give "kind" and "units" (the data adapter does not describe its tasks)`, { field });
    }
    if (known && kind !== known.kind) {
      throw new MtlError('BAD_CONFIG', `${label}: ${field}.kind: the data's task '${task.name}' is ${known.kind}, not ${kind}`, { field: `${field}.kind` });
    }
    if (known && units !== known.units) {
      throw new MtlError('BAD_CONFIG', `${label}: ${field}.units: the data's task '${task.name}' has ${known.units} units, not ${units}`, { field: `${field}.units` });
    }
    const spec: TaskSpec = { ...known, name: task.name, kind, units };
    if (task.loss !== undefined) spec.loss = task.loss;
    if (task.metrics !== undefined) spec.metrics = task.metrics;
    if (task.weight !== undefined) spec.weight = task.weight;
    return spec;
  });
}

interface SplitFile {
  path: string;
  options: Record<string, unknown>;
}

function splitFile(loaded: LoadedConfig, split: SplitName): SplitFile | undefined {
  const file = loaded.config.data[split];
  if (file === undefined) return undefined;
  const shared = loaded.config.data.options ?? {};
  return typeof file === 'string' ? { path: file, options: { ...shared } } : { path: file.path, options: { ...shared, ...(file.options ?? {}) } };
}

interface SchemaSource extends DataSource {
  schema(): Promise<{ tasks: readonly TaskSpec[]; inputWidth: number; toJSON(): unknown }>;
}

function hasSchema(source: DataSource): source is SchemaSource {
  return typeof (source as Partial<SchemaSource>).schema === 'function';
}

/**
 * Opens the data a config names. A dataset plugin loads its splits; an adapter opens each file
 * (missing files are exit-3 errors naming them). When the training source fits a record schema
 * (CSV, JSONL), validation and test are opened with that schema, so they are encoded with the
 * training statistics; `schema` (from a saved run) replaces the fitting.
 */
export async function openData(loaded: LoadedConfig, registry: Registry, options: { schema?: unknown } = {}): Promise<RunData> {
  const { config, label } = loaded;
  let dataTasks: TaskSpec[] | undefined;
  let inputShape: number[] | undefined;
  const splits: Partial<Record<SplitName, DataSource>> = {};
  let description: string | undefined;
  let schema: unknown = options.schema;

  if (config.data.dataset !== undefined) {
    const plugin = registry.get('dataset', config.data.dataset);
    let dataset;
    try {
      dataset = await plugin.load(config.data.options ?? {});
    } catch (error) {
      throw withPrefix(error, `${label}: data.options`);
    }
    dataTasks = dataset.tasks;
    inputShape = dataset.inputShape;
    splits.train = dataset.train;
    if (dataset.validation) splits.validation = dataset.validation;
    if (dataset.test) splits.test = dataset.test;
    description = dataset.description;
  } else {
    const adapter = registry.get('data', config.data.adapter!);
    const files = Object.fromEntries(SPLITS.map((split) => [split, splitFile(loaded, split)])) as Record<SplitName, SplitFile | undefined>;
    for (const split of SPLITS) {
      const file = files[split];
      if (file && !existsSync(file.path)) throw fileNotFound(file.path, `${label}: data.${split}`);
    }
    const open = (split: SplitName, file: SplitFile, schemaJson: unknown): DataSource => {
      let opts = file.options;
      if (schemaJson !== undefined) {
        opts = Object.fromEntries(Object.entries(opts).filter(([key]) => !FITTING_OPTIONS.includes(key)));
        opts.schema = schemaJson;
      }
      try {
        return adapter.open(file.path, opts);
      } catch (error) {
        throw withPrefix(error, `${label}: data.${split === 'train' ? 'options' : split}`);
      }
    };
    const train = open('train', files.train!, schema);
    splits.train = train;
    if (hasSchema(train)) {
      const fitted = await train.schema();
      dataTasks = fitted.tasks.map((task) => ({ ...task }));
      inputShape = [fitted.inputWidth];
      schema = fitted.toJSON();
    }
    for (const split of ['validation', 'test'] as const) {
      const file = files[split];
      if (file) splits[split] = open(split, file, schema);
    }
    description = `${config.data.adapter} files`;
  }

  const tasks = selectTasks(dataTasks, config.tasks, label);
  if (inputShape === undefined) {
    // An adapter that does not describe its input: the shape of the first training batch.
    const batch = await firstBatch(splits.train!);
    if (!batch) throw new MtlError('BAD_DATA', `${label}: data.train: the training data is empty`, { field: 'data.train' });
    const input = batch.inputs instanceof tf.Tensor ? batch.inputs : Object.values(batch.inputs)[0]!;
    inputShape = input.shape.slice(1);
    disposeBatch(batch);
  }
  const names = tasks.map((task) => task.name);
  const selecting = dataTasks === undefined || names.length !== dataTasks.length || names.some((n, i) => dataTasks![i]!.name !== n);
  const wrap = (source: DataSource | undefined) => (source && selecting ? onlyTasks(source, names) : source);
  const data: RunData = { tasks, inputShape, train: wrap(splits.train)! };
  const validation = wrap(splits.validation);
  const test = wrap(splits.test);
  if (validation) data.validation = validation;
  if (test) data.test = test;
  if (description !== undefined) data.description = description;
  if (schema !== undefined) data.schema = schema;
  return data;
}

/** The same data restricted to some of its tasks (single-task baselines). */
export function restrictData(data: RunData, names: readonly string[]): RunData {
  const restricted: RunData = {
    ...data,
    tasks: data.tasks.filter((task) => names.includes(task.name)),
    train: onlyTasks(data.train, names),
  };
  if (data.validation) restricted.validation = onlyTasks(data.validation, names);
  if (data.test) restricted.test = onlyTasks(data.test, names);
  return restricted;
}
