import * as tf from '@tensorflow/tfjs-core';
import { MtlError, Rng, assertBackend, isMtlError } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import type { ByteInput } from './bytes';
import { describeInput } from './bytes';
import type { IdxDtype, IdxTypedArray } from './format';
import { readIdx } from './read';
import type { IdxArray, ReadIdxOptions } from './read';

/** An IDX input, or an array already read with readIdx. */
export type IdxInput = ByteInput | IdxArray;

/** Options of `idxSource`: the files, batching and how inputs are scaled and shaped. */
export interface IdxSourceOptions {
  /** The inputs file: [N, H, W] images (MNIST), [N, H, W, C], or [N, D] feature rows. */
  images: IdxInput;
  /** One labels file per task: [N] (class indices, 0/1 labels, scalars) or [N, K] rows. */
  labels: Record<string, IdxInput>;
  /** Examples a batch (required; a positive integer, else BAD_CONFIG). */
  batchSize: number;
  /**
   * How input values become float32 (default true):
   * - `true`: integer types are divided by their largest value (uint8 / 255 → [0, 1], int8 / 127,
   *   int16 / 32767, int32 / 2147483647); float types are kept as they are;
   * - `false`: raw values;
   * - `{ mean, std }`: (raw − mean) / std, on raw values (MNIST's usual: mean 33.32, std 78.57).
   */
  normalise?:
    | boolean
    | {
        /** Subtracted from each raw value. */
        mean: number;
        /** Divides each centred value; finite and ≠ 0. */
        std: number;
      };
  /**
   * `'image'` (default): [N, H, W] files give inputs [B, H, W, 1]; rank-2 and rank-4 files keep
   * their shape. `'flat'`: inputs [B, product of the record's dimensions].
   */
  layout?: 'image' | 'flat';
  /** Use the first `limit` examples only (default all). */
  limit?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropRemainder?: boolean;
  /** Largest file accepted in bytes (default 2 GiB; see readIdx). */
  maxBytes?: number;
}

const INTEGER_MAX: Partial<Record<IdxDtype, number>> = { uint8: 255, int8: 127, int16: 32767, int32: 2147483647 };

interface Loaded {
  images: IdxTypedArray;
  rowSize: number;
  inputShape: number[];
  count: number;
  scale: number;
  offset: number;
  labels: Record<string, { data: IdxTypedArray; width: number; file: string }>;
}

class IdxMemorySource implements DataSource {
  readonly size: number;

  constructor(
    private readonly loaded: Loaded,
    private readonly batchSize: number,
    private readonly dropRemainder: boolean,
    private readonly order: Int32Array | null,
  ) {
    this.size = loaded.count;
  }

  /** Shape of one example's inputs. */
  get inputShape(): number[] {
    return [...this.loaded.inputShape];
  }

  shuffled(seed: number): DataSource {
    const order = Int32Array.from(Rng.fromSeed(seed).permutation(this.loaded.count));
    return new IdxMemorySource(this.loaded, this.batchSize, this.dropRemainder, order);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    assertBackend('idxSource');
    const { images, rowSize, inputShape, count, scale, offset, labels } = this.loaded;
    for (let start = 0; start < count; start += this.batchSize) {
      const rows = Math.min(this.batchSize, count - start);
      if (rows < this.batchSize && this.dropRemainder) break;
      const index = (k: number) => (this.order ? this.order[start + k]! : start + k);
      // Values stay in their file's compact type until here; only one batch is float32 at a time.
      const inputs = new Float32Array(rows * rowSize);
      for (let k = 0; k < rows; k++) {
        const from = index(k) * rowSize;
        for (let j = 0; j < rowSize; j++) inputs[k * rowSize + j] = (images[from + j]! - offset) * scale;
      }
      const targets: Batch['targets'] = {};
      for (const [task, label] of Object.entries(labels)) {
        const values = new Float32Array(rows * label.width);
        for (let k = 0; k < rows; k++) {
          const from = index(k) * label.width;
          for (let j = 0; j < label.width; j++) values[k * label.width + j] = label.data[from + j]!;
        }
        targets[task] = label.width === 1 ? tf.tensor1d(values) : tf.tensor2d(values, [rows, label.width]);
      }
      yield { inputs: tf.tensor(inputs, [rows, ...inputShape]), targets };
    }
  }
}

async function load(input: IdxInput, what: string, options: ReadIdxOptions): Promise<{ array: IdxArray; file: string }> {
  const file = isIdxArray(input) ? what : describeInput(input);
  if (isIdxArray(input)) return { array: input, file };
  try {
    return { array: await readIdx(input, { maxBytes: options.maxBytes }), file };
  } catch (error) {
    if (isMtlError(error) && error.details.task === undefined && what.startsWith('labels.')) {
      error.details.task = what.slice('labels.'.length);
    }
    throw error;
  }
}

function isIdxArray(value: unknown): value is IdxArray {
  const v = value as IdxArray | null;
  return typeof v === 'object' && v !== null && typeof v.dtype === 'string' && Array.isArray(v.shape) && ArrayBuffer.isView(v.data);
}

/**
 * A DataSource over IDX files: images (or feature rows) and one labels file per task, read whole
 * into memory in their compact type (60 000 MNIST images: 47 MB) and converted to float32 one
 * batch at a time. Every example is labelled for every task (no masks). `shuffled(seed)` gives a
 * seed-fixed permutation, which Trainer.fit uses each epoch.
 *
 * @throws MtlError BAD_CONFIG for bad options; BAD_DATA when a file is malformed or a labels file
 * has fewer records than the images file.
 */
export async function idxSource(options: IdxSourceOptions): Promise<
  DataSource & {
    /** Examples per epoch: the images file's records, or `limit` when smaller. */
    readonly size: number;
    /** Shape of one example's input, without the batch dimension (e.g. [28, 28, 1] for MNIST with layout 'image'). */
    readonly inputShape: number[];
  }
> {
  if (!options || typeof options !== 'object') throw new MtlError('BAD_CONFIG', 'idxSource needs options { images, labels, batchSize }');
  const { batchSize, layout = 'image', normalise = true, limit } = options;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new MtlError('BAD_CONFIG', `idxSource: batchSize must be a positive integer, got ${batchSize}`);
  if (layout !== 'image' && layout !== 'flat') throw new MtlError('BAD_CONFIG', `idxSource: layout must be 'image' or 'flat', got '${String(layout)}'`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new MtlError('BAD_CONFIG', `idxSource: limit must be a non-negative integer, got ${limit}`);
  if (
    typeof normalise !== 'boolean' &&
    (typeof normalise !== 'object' || normalise === null || !Number.isFinite(normalise.mean) || !Number.isFinite(normalise.std) || normalise.std === 0)
  ) {
    throw new MtlError('BAD_CONFIG', 'idxSource: normalise must be true, false or { mean, std } with finite numbers and std ≠ 0');
  }
  if (!options.images) throw new MtlError('BAD_CONFIG', 'idxSource: `images` (a path, bytes or stream of an IDX file) is required');
  const taskNames = Object.keys(options.labels ?? {});
  if (taskNames.length === 0) throw new MtlError('BAD_CONFIG', 'idxSource: `labels` must name at least one task: { labels: { digit: "train-labels-idx1-ubyte" } }');

  const images = await load(options.images, 'images', options);
  const shape = images.array.shape;
  const fileCount = shape[0]!;
  const count = Math.min(fileCount, limit ?? fileCount);
  const recordShape = shape.slice(1);
  const rowSize = recordShape.reduce((a, b) => a * b, 1);
  if (rowSize === 0 && count > 0) {
    throw new MtlError('BAD_DATA', `${images.file}: its records have shape [${recordShape.join(', ')}], which holds no value`, { file: images.file, received: shape });
  }
  let inputShape: number[];
  if (layout === 'flat') inputShape = [rowSize];
  else if (recordShape.length === 2) inputShape = [...recordShape, 1];
  else if (recordShape.length === 0) inputShape = [1];
  else inputShape = recordShape;

  const labels: Loaded['labels'] = {};
  for (const task of taskNames) {
    const label = await load(options.labels[task]!, `labels.${task}`, options);
    const labelCount = label.array.shape[0]!;
    if (labelCount < count) {
      throw new MtlError('BAD_DATA', `task '${task}': ${label.file} has ${labelCount} labels but ${images.file} has ${fileCount} examples${limit !== undefined ? ` (limit ${limit})` : ''}`, {
        task,
        file: label.file,
        expected: count,
        received: labelCount,
      });
    }
    if (labelCount !== fileCount && limit === undefined) {
      throw new MtlError('BAD_DATA', `task '${task}': ${label.file} has ${labelCount} labels but ${images.file} has ${fileCount} examples`, {
        task,
        file: label.file,
        expected: fileCount,
        received: labelCount,
      });
    }
    const width = label.array.shape.slice(1).reduce((a, b) => a * b, 1);
    if (width === 0) throw new MtlError('BAD_DATA', `task '${task}': ${label.file} has labels of shape [${label.array.shape.slice(1).join(', ')}], which hold no value`, { task, file: label.file });
    labels[task] = { data: label.array.data, width, file: label.file };
  }

  let scale = 1;
  let offset = 0;
  if (normalise === true) scale = 1 / (INTEGER_MAX[images.array.dtype] ?? 1);
  else if (typeof normalise === 'object') {
    scale = 1 / normalise.std;
    offset = normalise.mean;
  }
  const loaded: Loaded = { images: images.array.data, rowSize, inputShape, count, scale, offset, labels };
  return new IdxMemorySource(loaded, batchSize, options.dropRemainder ?? false, null);
}
