import * as tf from '@tensorflow/tfjs-core';
import type { Batch, DataSource } from '../contracts';
import { MtlError } from '../errors';
import { assertBackend } from '../backend';
import { Rng } from '../rng';

/** Rows of numbers: `number[][]`, or one flat typed array / number[] with `width` values a row. */
export type NumericRows = readonly (readonly number[])[] | Float32Array | readonly number[];

/** Examples held in arrays, for `fromArrays`. */
export interface MemoryData {
  /** Inputs: one row per example. */
  inputs: NumericRows;
  /** Shape of one example (default: [row width]). */
  inputShape?: readonly number[];
  /**
   * Targets per task, one entry per example: a number (class index, 0/1 label, scalar target) or
   * a row of numbers. `null` (or NaN) marks the example unlabelled for that task.
   */
  targets: Record<string, readonly (number | null | readonly number[])[] | Float32Array>;
  /** Explicit labelled flags per task (1/true labelled); combined with null targets. */
  masks?: Record<string, readonly (number | boolean)[]>;
}

/** Batching options of `fromArrays`. */
export interface MemorySourceOptions {
  /** Examples per batch: a positive integer (else BAD_CONFIG). */
  batchSize: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropRemainder?: boolean;
}

interface Columns {
  inputs: Float32Array;
  inputShape: number[];
  rowSize: number;
  count: number;
  targets: Record<string, { values: Float32Array; width: number }>;
  masks: Record<string, Float32Array | null>;
}

function flatten(name: string, rows: NumericRows | readonly (number | null | readonly number[])[], count?: number): { values: Float32Array; width: number; count: number } {
  if (rows instanceof Float32Array) {
    if (count === undefined) throw new MtlError('BAD_DATA', `'${name}': a flat Float32Array needs a known example count`, { column: name });
    if (rows.length % count !== 0) {
      throw new MtlError('BAD_DATA', `'${name}': ${rows.length} values do not split into ${count} examples`, { column: name });
    }
    return { values: rows, width: rows.length / count, count };
  }
  const n = rows.length;
  const first = rows.find((r) => r !== null && r !== undefined);
  const width = Array.isArray(first) ? (first as number[]).length : 1;
  const values = new Float32Array(n * width);
  for (let i = 0; i < n; i++) {
    const row = rows[i] as number | null | readonly number[] | undefined;
    if (row === null || row === undefined) {
      values.fill(Number.NaN, i * width, (i + 1) * width);
      continue;
    }
    if (Array.isArray(row)) {
      if (row.length !== width) {
        throw new MtlError('BAD_DATA', `'${name}', example ${i}: row has ${row.length} values, expected ${width} like the first row`, {
          column: name,
          line: i,
        });
      }
      for (let j = 0; j < width; j++) values[i * width + j] = Number(row[j]);
    } else if (typeof row === 'number') {
      if (width !== 1) {
        throw new MtlError('BAD_DATA', `'${name}', example ${i}: a single number where rows of ${width} values were expected`, { column: name, line: i });
      }
      values[i] = row;
    } else {
      throw new MtlError('BAD_DATA', `'${name}', example ${i}: expected a number or an array of numbers, got ${typeof row}`, { column: name, line: i });
    }
  }
  return { values, width, count: n };
}

function toColumns(data: MemoryData): Columns {
  if (!data || typeof data !== 'object' || !data.inputs || !data.targets) {
    throw new MtlError('BAD_DATA', 'in-memory data needs `inputs` and `targets` (per task)');
  }
  let inputCount: number | undefined;
  if (data.inputs instanceof Float32Array || (Array.isArray(data.inputs) && typeof data.inputs[0] === 'number')) {
    const size = data.inputShape?.reduce((a, b) => a * b, 1);
    if (!size) throw new MtlError('BAD_DATA', 'flat inputs need `inputShape` to say how many values make one example', { column: 'inputs' });
    inputCount = data.inputs.length / size;
    if (!Number.isInteger(inputCount)) {
      throw new MtlError('BAD_DATA', `${data.inputs.length} input values do not split into examples of shape [${data.inputShape!.join(', ')}]`, {
        column: 'inputs',
      });
    }
  }
  const inputs = flatten('inputs', data.inputs instanceof Float32Array ? data.inputs : Array.isArray(data.inputs) && typeof data.inputs[0] === 'number' ? Float32Array.from(data.inputs as number[]) : data.inputs, inputCount);
  const inputShape = [...(data.inputShape ?? [inputs.width])];
  if (inputShape.reduce((a, b) => a * b, 1) !== inputs.width) {
    throw new MtlError('BAD_DATA', `input rows have ${inputs.width} values but inputShape [${inputShape.join(', ')}] needs ${inputShape.reduce((a, b) => a * b, 1)}`, {
      column: 'inputs',
    });
  }
  const count = inputs.count;
  for (let i = 0; i < inputs.values.length; i++) {
    if (!Number.isFinite(inputs.values[i]!)) {
      const row = Math.floor(i / inputs.width);
      throw new MtlError('BAD_DATA', `inputs, example ${row}: value ${i - row * inputs.width} is not a finite number`, { column: 'inputs', line: row });
    }
  }
  const targets: Columns['targets'] = {};
  const masks: Columns['masks'] = {};
  for (const [task, rows] of Object.entries(data.targets)) {
    const column = flatten(`targets.${task}`, rows, count);
    if (column.count !== count) {
      throw new MtlError('BAD_DATA', `task '${task}': ${column.count} targets for ${count} input examples`, { task, column: `targets.${task}` });
    }
    const explicit = data.masks?.[task];
    if (explicit && explicit.length !== count) {
      throw new MtlError('BAD_DATA', `task '${task}': mask has ${explicit.length} entries for ${count} examples`, { task, column: `masks.${task}` });
    }
    let mask: Float32Array | null = null;
    for (let i = 0; i < count; i++) {
      const missing = !Number.isFinite(column.values[i * column.width]!);
      const flagged = explicit ? !explicit[i] : false;
      if (missing || flagged) {
        mask ??= new Float32Array(count).fill(1);
        mask[i] = 0;
      }
    }
    targets[task] = { values: column.values, width: column.width };
    masks[task] = mask;
  }
  for (const task of Object.keys(data.masks ?? {})) {
    if (!(task in data.targets)) throw new MtlError('BAD_DATA', `a mask is given for task '${task}', which has no targets`, { task });
  }
  return { inputs: inputs.values, inputShape, rowSize: inputs.width, count, targets, masks };
}

class MemorySource implements DataSource {
  readonly size: number;

  constructor(
    private readonly columns: Columns,
    private readonly options: MemorySourceOptions,
    private readonly order: Int32Array | null,
  ) {
    this.size = columns.count;
  }

  shuffled(seed: number): DataSource {
    const order = Int32Array.from(Rng.fromSeed(seed).permutation(this.columns.count));
    return new MemorySource(this.columns, this.options, order);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    yield* this.batches();
  }

  /** The same batches, synchronously. */
  *batches(): Generator<Batch> {
    assertBackend('in-memory DataSource');
    const { count, rowSize, inputShape } = this.columns;
    const batchSize = this.options.batchSize;
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(start + batchSize, count);
      if (end - start < batchSize && this.options.dropRemainder) break;
      const rows = end - start;
      const index = (k: number) => (this.order ? this.order[start + k]! : start + k);
      const inputs = new Float32Array(rows * rowSize);
      for (let k = 0; k < rows; k++) inputs.set(this.columns.inputs.subarray(index(k) * rowSize, (index(k) + 1) * rowSize), k * rowSize);
      const targets: Batch['targets'] = {};
      const masks: NonNullable<Batch['masks']> = {};
      for (const [task, column] of Object.entries(this.columns.targets)) {
        const values = new Float32Array(rows * column.width);
        for (let k = 0; k < rows; k++) values.set(column.values.subarray(index(k) * column.width, (index(k) + 1) * column.width), k * column.width);
        targets[task] = column.width === 1 ? tf.tensor1d(values) : tf.tensor2d(values, [rows, column.width]);
        const mask = this.columns.masks[task];
        if (mask) {
          const m = new Float32Array(rows);
          for (let k = 0; k < rows; k++) m[k] = mask[index(k)]!;
          masks[task] = tf.tensor1d(m);
        }
      }
      yield { inputs: tf.tensor(inputs, [rows, ...inputShape]), targets, masks };
    }
  }
}

/**
 * An in-memory DataSource. Arrays are checked once (lengths, widths, finite inputs) and each
 * batch is a fresh set of tensors the consumer owns (Trainer.fit disposes them after its step).
 * `shuffled(seed)` gives the same data in a seed-fixed order.
 *
 * @throws MtlError `BAD_CONFIG` for a bad `batchSize`; `BAD_DATA` naming the task, column or
 *   example for inconsistent or non-finite inputs, ragged rows, or a count mismatch.
 */
export function fromArrays(
  data: MemoryData,
  options: MemorySourceOptions,
): DataSource & {
  /** The same batches, synchronously. Needs a tfjs backend (BACKEND_UNAVAILABLE otherwise). */
  batches(): Generator<Batch>;
} {
  if (!Number.isInteger(options?.batchSize) || options.batchSize <= 0) {
    throw new MtlError('BAD_CONFIG', `batchSize must be a positive integer, got ${options?.batchSize}`);
  }
  return new MemorySource(toColumns(data), options, null);
}

/** Disposes every tensor of a batch. */
export function disposeBatch(batch: Batch): void {
  const tensors = [
    ...(batch.inputs instanceof tf.Tensor ? [batch.inputs] : Object.values(batch.inputs)),
    ...Object.values(batch.targets),
    ...Object.values(batch.masks ?? {}),
  ];
  for (const t of tensors) if (t && !t.isDisposed) t.dispose();
}
