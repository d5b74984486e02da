// The bridge to tf.data. @tensorflow/tfjs-data is an optional peer: this module only imports its
// types statically; the runtime module is loaded by `toTfDataset` with a dynamic import (or given
// as an option), and `fromTfDataset` needs no import at all, since it only calls the dataset's
// own methods. Nothing else in the package refers to tf.data.
import * as tf from '@tensorflow/tfjs-core';
import { MtlError, isMtlError } from '@mtljs/core';
import type { Batch, DataSource, Inputs } from '@mtljs/core';
import type { Dataset } from '@tensorflow/tfjs-data';
import { checkKnownOptions, checkPositiveInteger, checkSource, disposeAny, errorText, sourceFailure } from './rows';

/** What fromTfDataset needs of a tf.data.Dataset (any version with these methods works). */
export interface TfDatasetLike<T = unknown> {
  /** Starts a new pass over the elements; called once per iteration of the source. */
  iterator(): Promise<{
    /** The next element, or `{ done: true }` at the end of the pass. */
    next(): Promise<IteratorResult<T>>;
  }>;
  /** Groups single examples into batches; called with `smallLastBatch = true` when `batchSize` is set. */
  batch(batchSize: number, smallLastBatch?: boolean): TfDatasetLike<unknown>;
  /** Shuffles examples in a buffer; called by `shuffled(seed)` with the seed as a string and `reshuffleEachIteration = false`. */
  shuffle(bufferSize: number, seed?: string, reshuffleEachIteration?: boolean): TfDatasetLike<T>;
  /** Elements in the dataset: null when unknown, Infinity when endless. */
  readonly size: number | null;
}

/** A key of the element (dots reach into nested objects: 'ys.digit') or a function of it. */
export type ElementSelector<R> = string | ((element: any) => R);

/** Options of `fromTfDataset`: where each element keeps its inputs, targets and masks, and how to batch. */
export interface FromTfDatasetOptions {
  /** Where the inputs are: a key ('xs'), or a function returning a tensor or a record of tensors. */
  inputs: ElementSelector<Inputs>;
  /** Each task's targets: a key (which must exist) or a function; undefined or null means the batch has none. */
  targets: Record<string, ElementSelector<tf.Tensor | undefined | null>>;
  /** Each task's [N] 0/1 mask; a key missing from an element means no mask (fully labelled). */
  masks?: Record<string, ElementSelector<tf.Tensor | undefined | null>>;
  /**
   * When the dataset's elements are single examples: batch them with `dataset.batch(batchSize)`
   * (the last batch may be smaller). Omit it when the elements are batches already.
   */
  batchSize?: number;
  /**
   * Enables `shuffled(seed)`: examples are shuffled with `dataset.shuffle(shuffleBufferSize, seed)`
   * before batching. Needs batchSize.
   */
  shuffleBufferSize?: number;
  /** Examples in the dataset, when known (default: the dataset's size when the bridge batches it). */
  size?: number;
}

function collectTensors(value: unknown, out: Set<tf.Tensor>, depth = 0): void {
  if (depth > 16 || value === null || typeof value !== 'object') return;
  if (value instanceof tf.Tensor) {
    out.add(value);
    return;
  }
  for (const item of Array.isArray(value) ? value : Object.values(value)) collectTensors(item, out, depth + 1);
}

function select<R>(element: unknown, selector: ElementSelector<R>, what: string, optional = false): R {
  if (typeof selector === 'function') return selector(element);
  let value: unknown = element;
  for (const key of selector.split('.')) {
    if (value === null || typeof value !== 'object' || !(key in value)) {
      if (optional) return undefined as R;
      const keys = value !== null && typeof value === 'object' && !(value instanceof tf.Tensor) ? Object.keys(value) : [];
      throw new MtlError('BAD_DATA', `fromTfDataset: ${what} '${selector}': the element has no '${key}'${keys.length ? ` (keys: ${keys.join(', ')})` : ''}`, {
        column: selector,
        available: keys,
      });
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value as R;
}

function checkTensor(value: unknown, what: string, optional: boolean): void {
  if (optional && (value === undefined || value === null)) return;
  if (!(value instanceof tf.Tensor)) throw new MtlError('BAD_DATA', `fromTfDataset: ${what} must be a tensor, got ${value === null ? 'null' : typeof value}`, { column: what });
}

function toBatch(element: unknown, options: FromTfDatasetOptions): Batch {
  const owned = new Set<tf.Tensor>();
  collectTensors(element, owned);
  let batch: Batch | undefined;
  try {
    // tidy frees whatever the selector functions create along the way; the element's own tensors
    // were made outside it and are left alone.
    batch = tf.tidy(() => {
      const inputs = select<Inputs>(element, options.inputs, 'inputs');
      const targets: Record<string, tf.Tensor | undefined> = {};
      for (const [task, selector] of Object.entries(options.targets)) targets[task] = select(element, selector, `targets of '${task}'`) ?? undefined;
      const masks: Record<string, tf.Tensor | undefined> = {};
      for (const [task, selector] of Object.entries(options.masks ?? {})) {
        // A missing mask key means no mask (a fully labelled batch), as in the Batch contract.
        const mask = select<tf.Tensor | undefined | null>(element, selector, `mask of '${task}'`, true);
        // A batch without a mask for a task is fully labelled for it: leave the key out.
        if (mask !== undefined && mask !== null) masks[task] = mask;
      }
      return (Object.keys(masks).length ? { inputs, targets, masks } : { inputs, targets }) as unknown as tf.TensorContainer;
    }) as unknown as Batch;
    if (batch.inputs instanceof tf.Tensor) checkTensor(batch.inputs, 'inputs', false);
    else if (batch.inputs && typeof batch.inputs === 'object' && Object.keys(batch.inputs).length > 0) {
      for (const [key, value] of Object.entries(batch.inputs)) checkTensor(value, `input '${key}'`, false);
    } else checkTensor(batch.inputs, 'inputs', false);
    for (const [task, value] of Object.entries(batch.targets)) checkTensor(value, `targets of '${task}'`, true);
    for (const [task, value] of Object.entries(batch.masks ?? {})) checkTensor(value, `mask of '${task}'`, true);
  } catch (error) {
    for (const t of owned) t.dispose();
    if (batch) disposeAny(batch);
    throw isMtlError(error) ? error : new MtlError('BAD_DATA', `fromTfDataset: mapping an element failed: ${errorText(error)}`, {}, { cause: error });
  }
  // Tensors of the element the batch does not use are ours to free; the rest go to the consumer.
  const kept = new Set<tf.Tensor>();
  collectTensors(batch, kept);
  for (const t of owned) if (!kept.has(t)) t.dispose();
  return batch;
}

class TfDatasetSource implements DataSource {
  readonly size?: number;

  constructor(
    private readonly dataset: TfDatasetLike,
    private readonly options: FromTfDatasetOptions,
    private readonly shuffleSeed: number | null,
  ) {
    const datasetSize = dataset.size;
    this.size = options.size ?? (options.batchSize !== undefined && typeof datasetSize === 'number' && Number.isFinite(datasetSize) ? datasetSize : undefined);
    if (options.shuffleBufferSize !== undefined) this.shuffled = (seed: number) => new TfDatasetSource(dataset, options, seed);
  }

  shuffled?: (seed: number) => DataSource;

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    let dataset = this.dataset;
    const { batchSize, shuffleBufferSize } = this.options;
    if (this.shuffleSeed !== null && shuffleBufferSize !== undefined) dataset = dataset.shuffle(shuffleBufferSize, String(this.shuffleSeed), false);
    if (batchSize !== undefined) dataset = dataset.batch(batchSize, true);
    let iterator: Awaited<ReturnType<TfDatasetLike['iterator']>>;
    try {
      iterator = await dataset.iterator();
    } catch (error) {
      throw sourceFailure('fromTfDataset', error);
    }
    while (true) {
      let step: IteratorResult<unknown>;
      try {
        step = await iterator.next();
      } catch (error) {
        throw sourceFailure('fromTfDataset', error);
      }
      if (step.done) return;
      yield toBatch(step.value, this.options);
    }
  }
}

/**
 * A DataSource over a tf.data.Dataset. Each iteration asks the dataset for a new iterator. The
 * dataset's elements are consumed: tensors the batch uses pass to the batch's consumer (the
 * trainer disposes them), the others are disposed at once.
 */
export function fromTfDataset(dataset: TfDatasetLike, options: FromTfDatasetOptions): DataSource {
  if (!dataset || typeof dataset.iterator !== 'function') {
    throw new MtlError('BAD_CONFIG', 'fromTfDataset: expected a tf.data.Dataset (an object with iterator())', { option: 'dataset' });
  }
  if (!options || typeof options !== 'object') throw new MtlError('BAD_CONFIG', 'fromTfDataset needs options { inputs, targets }');
  checkKnownOptions('fromTfDataset', options, ['inputs', 'targets', 'masks', 'batchSize', 'shuffleBufferSize', 'size']);
  const isSelector = (value: unknown) => typeof value === 'function' || (typeof value === 'string' && value.length > 0);
  if (!isSelector(options.inputs)) throw new MtlError('BAD_CONFIG', "fromTfDataset: `inputs` must be a key of the elements ('xs') or a function", { option: 'inputs' });
  if (!options.targets || typeof options.targets !== 'object' || Object.keys(options.targets).length === 0) {
    throw new MtlError('BAD_CONFIG', "fromTfDataset: `targets` must map each task to a key or function: { digit: 'ys.digit' }", { option: 'targets' });
  }
  for (const [group, map] of [['targets', options.targets], ['masks', options.masks ?? {}]] as const) {
    for (const [task, selector] of Object.entries(map)) {
      if (!isSelector(selector)) throw new MtlError('BAD_CONFIG', `fromTfDataset: ${group}.${task} must be a key or a function`, { option: `${group}.${task}`, task });
    }
  }
  checkPositiveInteger('fromTfDataset', 'batchSize', options.batchSize, true);
  checkPositiveInteger('fromTfDataset', 'shuffleBufferSize', options.shuffleBufferSize, true);
  if (options.shuffleBufferSize !== undefined && options.batchSize === undefined) {
    throw new MtlError('BAD_CONFIG', 'fromTfDataset: shuffleBufferSize shuffles single examples before batching, so it needs batchSize (and a dataset of single examples)', {
      option: 'shuffleBufferSize',
    });
  }
  if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0)) {
    throw new MtlError('BAD_CONFIG', `fromTfDataset: size must be a non-negative integer, got ${options.size}`, { option: 'size' });
  }
  return new TfDatasetSource(dataset, options, null);
}

type TfDataModule = typeof import('@tensorflow/tfjs-data');

/** Options of `toTfDataset`. */
export interface ToTfDatasetOptions {
  /**
   * `'xs-ys'` (default): elements `{ xs: inputs, ys: { task: targets } }` as tf.layers'
   * fitDataset expects; a batch with unlabelled examples (a mask with a 0) is BAD_DATA there,
   * since { xs, ys } cannot say so. `'batch'`: the Batch itself, `{ inputs, targets, masks }`.
   */
  format?: 'xs-ys' | 'batch';
  /** The @tensorflow/tfjs-data module, when already loaded (bundlers, browsers); default: imported on first use. */
  tfData?: TfDataModule;
}

/** An element of `toTfDataset` in the default `'xs-ys'` format, as tf.layers' `fitDataset` expects. */
export interface XsYs {
  /** The batch's inputs: a tensor [batch, …] or a record of them. */
  xs: Inputs;
  /** Each task's targets, keyed by task name; tasks without targets in the batch are left out. */
  ys: Record<string, tf.Tensor>;
}

async function loadTfData(): Promise<TfDataModule> {
  try {
    return await import('@tensorflow/tfjs-data');
  } catch (error) {
    throw new MtlError('BAD_CONFIG', `toTfDataset needs the optional peer @tensorflow/tfjs-data (same version as @tensorflow/tfjs-core); install it, or pass it as { tfData }: ${errorText(error)}`, {
      option: 'tfData',
    }, { cause: error });
  }
}

function withoutEmpty(record: Record<string, tf.Tensor | undefined> | undefined): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(record ?? {})) if (value) out[key] = value;
  return out;
}

/**
 * A tf.data.Dataset over a DataSource: each `dataset.iterator()` iterates the source afresh.
 * Elements are the source's batches, which the dataset's consumer owns. tf.data has no way to
 * tell an iterator that its consumer stopped early, so a partly read source is only closed when
 * garbage-collected (its already-made batches are the consumer's as usual).
 */
export async function toTfDataset(source: DataSource, options: ToTfDatasetOptions & { format: 'batch' }): Promise<Dataset<Batch & tf.TensorContainerObject>>;
export async function toTfDataset(source: DataSource, options?: ToTfDatasetOptions): Promise<Dataset<XsYs & tf.TensorContainerObject>>;
export async function toTfDataset(source: DataSource, options: ToTfDatasetOptions = {}): Promise<Dataset<tf.TensorContainerObject>> {
  checkSource('toTfDataset', 'source', source);
  checkKnownOptions('toTfDataset', options, ['format', 'tfData']);
  const format = options.format ?? 'xs-ys';
  if (format !== 'xs-ys' && format !== 'batch') throw new MtlError('BAD_CONFIG', `toTfDataset: format must be 'xs-ys' or 'batch', got '${String(format)}'`, { option: 'format' });
  const tfData = options.tfData ?? (await loadTfData());
  async function* elements(): AsyncGenerator<tf.TensorContainerObject> {
    for await (const batch of source) {
      const targets = withoutEmpty(batch.targets);
      const masks = withoutEmpty(batch.masks);
      if (format === 'batch') {
        yield (Object.keys(masks).length ? { inputs: batch.inputs, targets, masks } : { inputs: batch.inputs, targets }) as unknown as tf.TensorContainerObject;
        continue;
      }
      for (const [task, mask] of Object.entries(masks)) {
        const values = await mask.data();
        if (values.some((v) => !(v > 0))) {
          disposeAny(batch);
          throw new MtlError('BAD_DATA', `toTfDataset: task '${task}' has unlabelled examples in a batch (mask 0), which { xs, ys } cannot express; use format 'batch'`, { task });
        }
        mask.dispose();
      }
      yield { xs: batch.inputs, ys: targets } as unknown as tf.TensorContainerObject;
    }
  }
  return tfData.generator(elements) as unknown as Dataset<tf.TensorContainerObject>;
}
