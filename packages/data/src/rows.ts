// Example-level plumbing shared by the combinators: a source's batches are read into CPU arrays
// (and their tensors disposed at once), examples are referenced as (batch, row) pairs, and new
// batches are assembled from any rows. Keeping examples as typed arrays rather than tensor slices
// means one read per source batch and one upload per output batch, and nothing to leak while
// examples wait in a shuffle buffer or a mix.
import * as tf from '@tensorflow/tfjs-core';
import { MtlError, isMtlError } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';

export type Values = Float32Array | Int32Array | Uint8Array;
type Dtype = 'float32' | 'int32' | 'bool';

export interface FieldLayout {
  rowShape: number[];
  rowSize: number;
  dtype: Dtype;
}

export interface Field extends FieldLayout {
  values: Values;
}

/** One source batch, read into arrays. */
export interface DecodedBatch {
  rows: number;
  /** Inputs by key; a single-tensor input has the key '' and `single` set. */
  inputs: Record<string, Field>;
  single: boolean;
  /** Tasks with targets in this batch. */
  targets: Record<string, Field>;
  /** Tasks with a mask in this batch, as 0/1 values. */
  masks: Record<string, Float32Array>;
}

export interface RowRef {
  batch: DecodedBatch;
  row: number;
}

const SINGLE = '';

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Errors of an upstream source pass through when they are MtlErrors, and are wrapped otherwise. */
export function sourceFailure(label: string, error: unknown): MtlError {
  if (isMtlError(error)) return error;
  return new MtlError('BAD_DATA', `${label}: the source failed: ${errorText(error)}`, { source: label }, { cause: error });
}

function tensorsOf(batch: Batch): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  const add = (value: unknown) => {
    if (value instanceof tf.Tensor && !value.isDisposed) out.push(value);
  };
  if (batch && typeof batch === 'object') {
    if (batch.inputs instanceof tf.Tensor) add(batch.inputs);
    else if (batch.inputs && typeof batch.inputs === 'object') Object.values(batch.inputs).forEach(add);
    if (batch.targets && typeof batch.targets === 'object') Object.values(batch.targets).forEach(add);
    if (batch.masks && typeof batch.masks === 'object') Object.values(batch.masks).forEach(add);
  }
  return out;
}

/** Disposes whatever tensors a (possibly malformed) batch holds. */
export function disposeAny(batch: Batch): void {
  for (const t of tensorsOf(batch)) t.dispose();
}

async function readField(tensor: tf.Tensor, label: string, what: string, rows: number, details: Record<string, unknown>): Promise<Field> {
  if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32' && tensor.dtype !== 'bool') {
    throw new MtlError('BAD_DATA', `${label}: ${what} has dtype ${tensor.dtype}; only float32, int32 and bool tensors can be re-batched`, details);
  }
  if (tensor.rank === 0 || tensor.shape[0] !== rows) {
    throw new MtlError('BAD_DATA', `${label}: ${what} has shape ${shapeText(tensor.shape)}, expected ${rows} rows like the inputs`, {
      ...details,
      expected: rows,
      received: tensor.shape,
    });
  }
  const rowShape = tensor.shape.slice(1);
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  return { values: (await tensor.data()) as Values, rowShape, rowSize, dtype: tensor.dtype };
}

/**
 * Reads a batch into arrays and disposes its tensors (the combinator is the batch's consumer).
 * Malformed batches are BAD_DATA naming `label`.
 */
export async function decodeBatch(batch: Batch, label: string): Promise<DecodedBatch> {
  try {
    if (!batch || typeof batch !== 'object' || !batch.inputs || typeof batch.targets !== 'object' || batch.targets === null) {
      throw new MtlError('BAD_DATA', `${label}: a batch must be an object with \`inputs\` and \`targets\` (per task)`, { source: label });
    }
    const single = batch.inputs instanceof tf.Tensor;
    const inputEntries: [string, unknown][] = single ? [[SINGLE, batch.inputs]] : Object.entries(batch.inputs);
    if (inputEntries.length === 0) throw new MtlError('BAD_DATA', `${label}: the batch has no inputs`, { source: label });
    for (const [key, value] of inputEntries) {
      if (!(value instanceof tf.Tensor)) {
        throw new MtlError('BAD_DATA', `${label}: input${key ? ` '${key}'` : 's'} must be a tensor, got ${value === null ? 'null' : typeof value}`, { source: label, column: key || 'inputs' });
      }
      if (value.rank === 0) throw new MtlError('BAD_DATA', `${label}: input${key ? ` '${key}'` : 's'} is a scalar; a batch needs a leading example dimension`, { source: label });
    }
    const rows = (inputEntries[0]![1] as tf.Tensor).shape[0]!;
    // Thunks, started together once every check has passed, so no read is left unawaited by a throw.
    const reads: (() => Promise<void>)[] = [];
    const inputs: Record<string, Field> = {};
    for (const [key, value] of inputEntries) {
      reads.push(() => readField(value as tf.Tensor, label, key ? `input '${key}'` : 'the inputs', rows, { source: label, column: key || 'inputs' }).then((f) => void (inputs[key] = f)));
    }
    const targets: Record<string, Field> = {};
    for (const [task, value] of Object.entries(batch.targets)) {
      if (value === undefined || value === null) continue;
      if (!(value instanceof tf.Tensor)) throw new MtlError('BAD_DATA', `${label}: targets of task '${task}' must be a tensor, got ${typeof value}`, { source: label, task });
      reads.push(() => readField(value, label, `the targets of task '${task}'`, rows, { source: label, task }).then((f) => void (targets[task] = f)));
    }
    const masks: Record<string, Float32Array> = {};
    for (const [task, value] of Object.entries(batch.masks ?? {})) {
      if (value === undefined || value === null) continue;
      if (!(value instanceof tf.Tensor) || value.size !== rows) {
        throw new MtlError('BAD_DATA', `${label}: the mask of task '${task}' must be a [${rows}] tensor, got ${value instanceof tf.Tensor ? shapeText(value.shape) : typeof value}`, {
          source: label,
          task,
        });
      }
      reads.push(() =>
        value.data().then((data) => {
          const mask = new Float32Array(rows);
          for (let i = 0; i < rows; i++) mask[i] = (data[i] as number) > 0 ? 1 : 0;
          masks[task] = mask;
        }),
      );
    }
    await Promise.all(reads.map((read) => read()));
    return { rows, inputs, single, targets, masks };
  } catch (error) {
    // e.g. a tensor the source had already disposed
    throw sourceFailure(label, error);
  } finally {
    disposeAny(batch);
  }
}

/** Reads a source's batches one by one; source failures become MtlErrors naming `label`. */
export async function* decodedBatches(source: DataSource, label: string): AsyncGenerator<DecodedBatch> {
  let iterator: AsyncIterator<Batch>;
  try {
    iterator = source[Symbol.asyncIterator]();
  } catch (error) {
    throw sourceFailure(label, error);
  }
  let finished = false;
  try {
    while (true) {
      let step: IteratorResult<Batch>;
      try {
        step = await iterator.next();
      } catch (error) {
        finished = true;
        throw sourceFailure(label, error);
      }
      if (step.done) {
        finished = true;
        return;
      }
      yield await decodeBatch(step.value, label);
    }
  } finally {
    if (!finished) await iterator.return?.();
  }
}

/** Every row of a source, in order. */
export async function* rowsOf(batches: AsyncIterable<DecodedBatch>): AsyncGenerator<RowRef> {
  for await (const batch of batches) {
    for (let row = 0; row < batch.rows; row++) yield { batch, row };
  }
}

function layoutText(layout: FieldLayout): string {
  return `${shapeText(layout.rowShape)} ${layout.dtype}`;
}

function widerDtype(a: Dtype, b: Dtype): Dtype {
  if (a === b) return a;
  return 'float32';
}

/**
 * What every output batch looks like: the inputs' keys and per-example shapes, and each task's
 * per-example target shape. Built from the first batch(es) and checked against every later one.
 */
export class Schema {
  single = true;
  inputs = new Map<string, FieldLayout>();
  /** Tasks in first-seen order; null while only masks have been seen. */
  tasks = new Map<string, FieldLayout | null>();
  /** Where the input layout came from, for messages. */
  private inputsFrom = '';
  private frozen = false;

  /**
   * Checks a batch against the schema and adds what is new. After `freeze()`, a task never seen
   * before is BAD_DATA: output batches already sent would lack it.
   */
  observe(batch: DecodedBatch, label: string): void {
    if (this.inputsFrom === '') {
      this.single = batch.single;
      for (const [key, field] of Object.entries(batch.inputs)) this.inputs.set(key, { rowShape: field.rowShape, rowSize: field.rowSize, dtype: field.dtype });
      this.inputsFrom = label;
    } else {
      this.checkInputs(batch, label);
    }
    const seen = new Set([...Object.keys(batch.targets), ...Object.keys(batch.masks)]);
    for (const task of seen) {
      const field = batch.targets[task];
      if (!this.tasks.has(task)) {
        if (this.frozen) {
          throw new MtlError(
            'BAD_DATA',
            `${label}: a batch has task '${task}', which the first batches did not have (tasks: ${[...this.tasks.keys()].join(', ') || 'none'}); every batch must name the same tasks`,
            { source: label, task },
          );
        }
        this.tasks.set(task, null);
      }
      if (!field) continue;
      const known = this.tasks.get(task);
      if (!known) {
        this.tasks.set(task, { rowShape: field.rowShape, rowSize: field.rowSize, dtype: field.dtype });
      } else if (known.rowShape.join(',') !== field.rowShape.join(',')) {
        throw new MtlError(
          'BAD_DATA',
          `${label}: targets of task '${task}' have per-example shape ${shapeText(field.rowShape)}, earlier batches ${shapeText(known.rowShape)}`,
          { source: label, task, expected: known.rowShape, received: field.rowShape },
        );
      } else {
        known.dtype = widerDtype(known.dtype, field.dtype);
      }
    }
  }

  freeze(): void {
    this.frozen = true;
  }

  private signature(single: boolean, fields: Iterable<[string, FieldLayout]>): string {
    const parts = [...fields].map(([key, layout]) => (single ? layoutText(layout) : `${key}: ${layoutText(layout)}`));
    return single ? parts[0]! : `{ ${parts.join(', ')} }`;
  }

  private checkInputs(batch: DecodedBatch, label: string): void {
    const keys = Object.keys(batch.inputs);
    const sameKeys = batch.single === this.single && keys.length === this.inputs.size && keys.every((k) => this.inputs.has(k));
    const sameShapes = sameKeys && keys.every((k) => this.inputs.get(k)!.rowShape.join(',') === batch.inputs[k]!.rowShape.join(','));
    if (!sameShapes) {
      const expected = this.signature(this.single, this.inputs.entries());
      const received = this.signature(batch.single, Object.entries(batch.inputs));
      const who = label === this.inputsFrom ? `${label}: a batch has inputs ${received}, its first batch ${expected}` : `inputs differ between sources: ${label} gives ${received} per example, ${this.inputsFrom} gives ${expected}`;
      throw new MtlError('BAD_DATA', `${who}; every example must have the same input shape`, {
        source: label,
        sources: label === this.inputsFrom ? [label] : [this.inputsFrom, label],
        expected,
        received,
      });
    }
    for (const key of keys) {
      const layout = this.inputs.get(key)!;
      layout.dtype = widerDtype(layout.dtype, batch.inputs[key]!.dtype);
    }
  }
}

function allocate(dtype: Dtype, length: number): Values {
  return dtype === 'int32' ? new Int32Array(length) : dtype === 'bool' ? new Uint8Array(length) : new Float32Array(length);
}

function gather(rows: readonly RowRef[], layout: FieldLayout, pick: (batch: DecodedBatch) => Field | undefined): Values {
  const out = allocate(layout.dtype, rows.length * layout.rowSize);
  const size = layout.rowSize;
  for (let k = 0; k < rows.length; k++) {
    const { batch, row } = rows[k]!;
    const field = pick(batch);
    if (field) out.set(field.values.subarray(row * size, (row + 1) * size), k * size);
  }
  return out;
}

/**
 * A fresh batch (owned by the caller) from any rows. Every task of the schema gets targets
 * (zeros where a row has none); a task gets a [N] 0/1 mask when some row is unlabelled for it.
 * A task whose target shape is still unknown gets no targets and an all-zero mask.
 */
export function buildBatch(rows: readonly RowRef[], schema: Schema): Batch {
  const n = rows.length;
  const created: tf.Tensor[] = [];
  try {
    const make = (values: Values, shape: number[], dtype: Dtype) => {
      const t = tf.tensor(values, shape, dtype);
      created.push(t);
      return t;
    };
    const inputTensors: Record<string, tf.Tensor> = {};
    for (const [key, layout] of schema.inputs) {
      inputTensors[key] = make(gather(rows, layout, (b) => b.inputs[key]), [n, ...layout.rowShape], layout.dtype);
    }
    const targets: Batch['targets'] = {};
    const masks: NonNullable<Batch['masks']> = {};
    for (const [task, layout] of schema.tasks) {
      const mask = new Float32Array(n);
      let unlabelled = 0;
      for (let k = 0; k < n; k++) {
        const { batch, row } = rows[k]!;
        const labelled = batch.targets[task] !== undefined && (batch.masks[task]?.[row] ?? 1) > 0;
        mask[k] = labelled ? 1 : 0;
        if (!labelled) unlabelled += 1;
      }
      if (layout) {
        const values = gather(rows, layout, (b) => b.targets[task]);
        // Unlabelled rows carry zeros, whatever their source stored there (NaN, a placeholder).
        if (unlabelled) for (let k = 0; k < n; k++) if (mask[k] === 0) values.fill(0, k * layout.rowSize, (k + 1) * layout.rowSize);
        targets[task] = make(values, [n, ...layout.rowShape], layout.dtype);
      }
      if (unlabelled) masks[task] = make(mask, [n], 'float32');
    }
    const inputs = schema.single ? inputTensors[SINGLE]! : inputTensors;
    return Object.keys(masks).length ? { inputs, targets, masks } : { inputs, targets };
  } catch (error) {
    created.forEach((t) => t.dispose());
    throw error;
  }
}

/** Groups rows into batches of `batchSize` (the last one smaller unless `dropRemainder`). */
export async function* rebatch(rows: AsyncIterable<RowRef>, batchSize: () => number, schema: Schema, dropRemainder = false): AsyncGenerator<Batch> {
  let pending: RowRef[] = [];
  for await (const row of rows) {
    pending.push(row);
    if (pending.length >= batchSize()) {
      const ready = pending;
      pending = [];
      yield buildBatch(ready, schema);
    }
  }
  if (pending.length > 0 && !dropRemainder) yield buildBatch(pending, schema);
}

export function checkPositiveInteger(where: string, name: string, value: unknown, optional = false): void {
  if (optional && value === undefined) return;
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new MtlError('BAD_CONFIG', `${where}: ${name} must be a positive integer, got ${String(value)}`, { option: name });
  }
}

export function checkSeed(where: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MtlError('BAD_CONFIG', `${where}: seed must be a finite number, got ${String(value)}`, { option: 'seed' });
  return value;
}

export function checkSource(where: string, name: string, source: unknown): asserts source is DataSource {
  if (!source || typeof (source as DataSource)[Symbol.asyncIterator] !== 'function') {
    throw new MtlError('BAD_CONFIG', `${where}: ${name} must be a DataSource (an async iterable of batches), got ${source === null ? 'null' : typeof source}`, { option: name });
  }
}

/** Unknown option names are BAD_CONFIG naming them (a typo must not silently fall back to a default). */
export function checkKnownOptions(where: string, options: object, known: readonly string[]): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw new MtlError('BAD_CONFIG', `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; known: ${known.join(', ')}`, {
      option: unknown[0],
      available: known,
    });
  }
}

/** A seed derived from two, so that `shuffled(seed)` of a combinator differs from its own seed. */
export function deriveSeed(base: number, salt: number): number {
  let h = (Math.trunc(base) ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (Math.trunc(salt) >>> 0), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
