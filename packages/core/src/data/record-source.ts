import * as tf from '@tensorflow/tfjs-core';
import type { Batch, DataSource } from '../contracts';
import { assertBackend } from '../backend';
import { MtlError } from '../errors';
import { Rng } from '../rng';
import { fileChunks, gunzipChunks } from './byte-streams';
import { fitRecordSchema, recordColumns, RecordSchema, type RecordMapping, type RecordRow, type RecordSchemaJSON, type RowLayout, type SchemaOptions } from './records';

/** How `recordBatches` and `recordSource` batch and shuffle the encoded rows. */
export interface RecordBatchOptions {
  /** Rows per batch: a positive integer (else BAD_CONFIG). */
  batchSize: number;
  /**
   * Rows held for shuffling (default 10 000): each emitted row is drawn at random from the buffer
   * and replaced by the next one read, so memory stays bounded while rows move up to this far.
   * 0 disables shuffling.
   */
  shuffleBuffer?: number;
  /** Shuffle with this seed when iterated directly; `shuffled(seed)` sets it per epoch. */
  seed?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropRemainder?: boolean;
}

/** A file or stream of records as an adapter offers it to {@link recordSource}. */
export interface RecordInput {
  /** Names the input in messages: a file path, or a name given for a stream. */
  readonly name: string;
  /** False for a one-shot stream, which can be read once: its schema must then be given. */
  readonly reusable: boolean;
  /**
   * Starts a new pass yielding the values of `columns` for each record. `purpose` is 'fit' for
   * the schema-fitting pass (an adapter may check more there, e.g. that every column occurs).
   */
  read(columns: readonly string[], purpose: 'fit' | 'data'): AsyncIterable<RecordRow>;
}

/**
 * Options of `recordSource`: batching, and either a column `mapping` (the schema options then
 * apply to the fit) or a fitted `schema` (then no schema option may be given).
 */
export interface RecordSourceOptions extends RecordBatchOptions, SchemaOptions {
  /** How columns map to inputs and tasks; the source fits its schema on the first pass. */
  mapping?: RecordMapping;
  /** A schema fitted on the training split (or its JSON): encodes this input the same way. */
  schema?: RecordSchema | RecordSchemaJSON;
}

/** A streaming DataSource over records; `schema()` gives the fitted schema (fitting it if needed). */
export interface RecordDataSource extends DataSource {
  /** Records in the input, once known (after fitting or a complete pass). */
  readonly size?: number;
  /**
   * The same input read through the shuffle buffer with `seed`; it shares this source's schema
   * and fit. A non-finite seed is BAD_CONFIG.
   */
  shuffled(seed: number): RecordDataSource;
  /**
   * The schema: the given one, or one fitted on a pass over the input at the first call (and
   * shared by later calls and iterations; a failed fit is retried at the next call).
   */
  schema(): Promise<RecordSchema>;
}

const DEFAULT_SHUFFLE_BUFFER = 10_000;
const SCHEMA_OPTIONS = ['types', 'inferRows', 'missing', 'missingValues', 'normalize'] as const;

/** Checks batch options; a bad value is a BAD_CONFIG error naming it. */
export function checkRecordBatchOptions(options: RecordBatchOptions): Required<Omit<RecordBatchOptions, 'seed'>> & { seed?: number } {
  if (!Number.isInteger(options?.batchSize) || options.batchSize <= 0) {
    throw new MtlError('BAD_CONFIG', `batchSize must be a positive integer, got ${options?.batchSize}`, { option: 'batchSize' });
  }
  const shuffleBuffer = options.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER;
  if (!Number.isInteger(shuffleBuffer) || shuffleBuffer < 0) {
    throw new MtlError('BAD_CONFIG', `shuffleBuffer must be a non-negative integer, got ${options.shuffleBuffer}`, { option: 'shuffleBuffer' });
  }
  if (options.seed !== undefined && !Number.isFinite(options.seed)) {
    throw new MtlError('BAD_CONFIG', `seed must be a finite number, got ${options.seed}`, { option: 'seed' });
  }
  if (options.dropRemainder !== undefined && typeof options.dropRemainder !== 'boolean') {
    throw new MtlError('BAD_CONFIG', 'dropRemainder must be a boolean', { option: 'dropRemainder' });
  }
  const checked: Required<Omit<RecordBatchOptions, 'seed'>> & { seed?: number } = {
    batchSize: options.batchSize,
    shuffleBuffer,
    dropRemainder: options.dropRemainder ?? false,
  };
  if (options.seed !== undefined) checked.seed = options.seed;
  return checked;
}

/** Collects encoded rows into the arrays of one batch; a fresh set per batch, since tensors keep them. */
class BatchBuilder {
  private inputs!: Float32Array;
  private targets!: Float32Array[];
  private masks!: Float32Array[];
  private unlabelled!: boolean[];
  count = 0;

  constructor(
    private readonly layout: RowLayout,
    private readonly taskNames: readonly string[],
    private readonly batchSize: number,
  ) {
    this.reset();
  }

  private reset(): void {
    const { inputWidth, targetWidths } = this.layout;
    this.inputs = new Float32Array(this.batchSize * inputWidth);
    this.targets = targetWidths.map((w) => new Float32Array(this.batchSize * w));
    this.masks = targetWidths.map(() => new Float32Array(this.batchSize));
    this.unlabelled = targetWidths.map(() => false);
    this.count = 0;
  }

  add(rows: Float32Array, offset: number): void {
    const { inputWidth, targetOffsets, targetWidths, maskOffsets } = this.layout;
    const k = this.count;
    this.inputs.set(rows.subarray(offset, offset + inputWidth), k * inputWidth);
    for (let t = 0; t < targetWidths.length; t++) {
      const width = targetWidths[t]!;
      const start = offset + targetOffsets[t]!;
      if (width === 1) this.targets[t]![k] = rows[start]!;
      else this.targets[t]!.set(rows.subarray(start, start + width), k * width);
      const mask = rows[offset + maskOffsets[t]!]!;
      this.masks[t]![k] = mask;
      if (mask === 0) this.unlabelled[t] = true;
    }
    this.count += 1;
  }

  get full(): boolean {
    return this.count === this.batchSize;
  }

  take(): Batch {
    const n = this.count;
    const { inputWidth, targetWidths } = this.layout;
    const whole = n === this.batchSize;
    const cut = (values: Float32Array, width: number) => (whole ? values : values.slice(0, n * width));
    const targets: Batch['targets'] = {};
    const masks: NonNullable<Batch['masks']> = {};
    this.taskNames.forEach((task, t) => {
      const width = targetWidths[t]!;
      const values = cut(this.targets[t]!, width);
      targets[task] = width === 1 ? tf.tensor1d(values) : tf.tensor2d(values, [n, width]);
      // A fully labelled batch needs no mask, which spares the engine its masked arithmetic.
      if (this.unlabelled[t]) masks[task] = tf.tensor1d(cut(this.masks[t]!, 1));
    });
    const batch: Batch = { inputs: tf.tensor2d(cut(this.inputs, inputWidth), [n, inputWidth]), targets, masks };
    this.reset();
    return batch;
  }
}

/**
 * Encodes records with a fitted schema and yields batches: inputs [N, inputWidth]; per task,
 * class indices [N] (multiclass), 0/1 [N] (binary), values [N] or [N, outputs] (regression),
 * 0/1 [N, labels] (multilabel); a mask [N] for each task with an unlabelled row in the batch.
 * Tensors are created just before each yield and belong to the consumer. Returns the row count.
 */
export async function* recordBatches(
  rows: AsyncIterable<RecordRow>,
  schema: RecordSchema,
  options: RecordBatchOptions & { file?: string },
): AsyncGenerator<Batch, number> {
  const { batchSize, shuffleBuffer, seed, dropRemainder } = checkRecordBatchOptions(options);
  assertBackend('record DataSource');
  const encoder = schema.encoder(options.file ?? '<records>');
  const { rowWidth } = encoder.layout;
  const builder = new BatchBuilder(encoder.layout, schema.tasks.map((t) => t.name), batchSize);
  let count = 0;
  if (seed === undefined || shuffleBuffer <= 1) {
    const row = new Float32Array(rowWidth);
    for await (const record of rows) {
      encoder.encode(record.values, record.line, row, 0);
      count += 1;
      builder.add(row, 0);
      if (builder.full) yield builder.take();
    }
  } else {
    // Shuffle buffer: hold up to B encoded rows; each new row replaces one drawn at random.
    const rng = Rng.fromSeed(seed);
    const slab = new Float32Array(shuffleBuffer * rowWidth);
    let filled = 0;
    for await (const record of rows) {
      if (filled < shuffleBuffer) {
        encoder.encode(record.values, record.line, slab, filled * rowWidth);
        filled += 1;
        count += 1;
        continue;
      }
      const slot = rng.int(shuffleBuffer);
      builder.add(slab, slot * rowWidth);
      encoder.encode(record.values, record.line, slab, slot * rowWidth);
      count += 1;
      if (builder.full) yield builder.take();
    }
    for (const slot of rng.permutation(filled)) {
      builder.add(slab, slot * rowWidth);
      if (builder.full) yield builder.take();
    }
  }
  if (builder.count > 0 && !dropRemainder) yield builder.take();
  return count;
}

interface SharedState {
  input: RecordInput;
  mapping?: RecordMapping;
  schemaOptions: SchemaOptions;
  fitting: Promise<RecordSchema> | null;
  size?: number;
}

class RecordSource implements RecordDataSource {
  constructor(
    private readonly shared: SharedState,
    private readonly options: Required<Omit<RecordBatchOptions, 'seed'>>,
    private readonly seed: number | undefined,
  ) {}

  get size(): number | undefined {
    return this.shared.size;
  }

  schema(): Promise<RecordSchema> {
    const shared = this.shared;
    if (!shared.fitting) {
      shared.fitting = fitRecordSchema(shared.input.read(recordColumns(shared.mapping!), 'fit'), shared.mapping!, {
        ...shared.schemaOptions,
        file: shared.input.name,
      }).then(
        (schema) => {
          shared.size = schema.rows;
          return schema;
        },
        (error: unknown) => {
          // A failed fit is retried on the next call (the file may have been fixed meanwhile).
          shared.fitting = null;
          throw error;
        },
      );
    }
    return shared.fitting;
  }

  shuffled(seed: number): RecordDataSource {
    if (!Number.isFinite(seed)) throw new MtlError('BAD_CONFIG', `shuffled(seed): seed must be a finite number, got ${seed}`, { option: 'seed' });
    return new RecordSource(this.shared, this.options, seed);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const schema = await this.schema();
    const options: RecordBatchOptions & { file: string } = { ...this.options, file: this.shared.input.name };
    if (this.seed !== undefined) options.seed = this.seed;
    const rows = this.shared.input.read(schema.columns, 'data');
    this.shared.size = yield* recordBatches(rows, schema, options);
  }
}

/**
 * A re-iterable, streaming DataSource over a record input: each iteration reads the input
 * again, encodes records with the schema (given, or fitted on the first pass from `mapping`) and
 * yields batches as {@link recordBatches} describes. Order is the input's, unless a seed is set
 * (`seed` option or `shuffled(seed)`, which the Trainer calls each epoch): then rows pass
 * through a shuffle buffer.
 */
export function recordSource(input: RecordInput, options: RecordSourceOptions): RecordDataSource {
  const batch = checkRecordBatchOptions(options);
  const schemaOptions: SchemaOptions = {};
  for (const key of SCHEMA_OPTIONS) if (options[key] !== undefined) (schemaOptions as Record<string, unknown>)[key] = options[key];
  const shared: SharedState = { input, schemaOptions, fitting: null };
  if (options.schema !== undefined) {
    if (options.mapping !== undefined) {
      throw new MtlError('BAD_CONFIG', `${input.name}: give either a column mapping or a fitted schema, not both (the schema holds its mapping)`, {
        option: 'schema',
      });
    }
    const given = Object.keys(schemaOptions);
    if (given.length) {
      throw new MtlError('BAD_CONFIG', `${input.name}: ${given.join(', ')} only apply when fitting a schema; the given schema already fixes them`, {
        option: given[0],
      });
    }
    const schema = options.schema instanceof RecordSchema ? options.schema : RecordSchema.fromJSON(options.schema);
    shared.fitting = Promise.resolve(schema);
  } else {
    if (options.mapping === undefined) {
      throw new MtlError('BAD_CONFIG', `${input.name}: give a column mapping ({ inputs, tasks }) or a schema fitted on the training split`, {
        option: 'mapping',
      });
    }
    recordColumns(options.mapping);
    if (!input.reusable) {
      throw new MtlError(
        'BAD_CONFIG',
        `${input.name}: a stream can be read only once, so it needs a schema fitted beforehand (fit one on the training data and pass it as \`schema\`), or pass a function that opens the stream anew`,
        { option: 'schema' },
      );
    }
    shared.mapping = options.mapping;
  }
  return new RecordSource(shared, batch, batch.seed);
}

// ---------------------------------------------------------------------------------------------
// Byte inputs shared by the file adapters

/** Bytes or text in chunks: a Node stream, an async generator, or a web ReadableStream (fetch body, File.stream()). */
export type ChunkSource = AsyncIterable<Uint8Array | string> | ReadableStream<Uint8Array | string>;

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array | string> {
  return typeof value === 'object' && value !== null && typeof (value as ReadableStream).getReader === 'function';
}

/** True for something {@link chunksOf} accepts. */
export function isChunkSource(value: unknown): value is ChunkSource {
  return isReadableStream(value) || (typeof value === 'object' && value !== null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
}

/**
 * The chunks of a byte or text source as an async iterable; a web ReadableStream is read with
 * its reader (not every browser makes it async-iterable) and released when iteration stops.
 */
export async function* chunksOf(source: ChunkSource): AsyncGenerator<Uint8Array | string> {
  if (!isReadableStream(source)) {
    yield* source;
    return;
  }
  const reader = source.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value !== undefined) yield value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** Where a text adapter's bytes come from: a file path (Node), a function opening a fresh stream per pass, or a one-shot stream. */
export type ByteInput = string | ChunkSource | (() => ChunkSource);

/** Options of `byteRecordInput`: how to read a byte input. */
export interface ByteInputOptions {
  /** Gunzip the bytes (default: true for a path ending in `.gz`, false otherwise). Node only. */
  gzip?: boolean;
  /** Names the input in messages (default: the path, or '<stream>'). */
  name?: string;
}

/**
 * A RecordInput over bytes, for text adapters (CSV, JSONL): `parse(chunks, columns, purpose,
 * name)` turns one pass of bytes into rows. A path or a function is re-opened for every pass; a
 * one-shot stream can be read once (its schema must then be given). `format` names the format in
 * messages ('CSV', 'JSONL').
 */
export function byteRecordInput(
  input: ByteInput,
  options: ByteInputOptions,
  format: string,
  parse: (chunks: AsyncIterable<Uint8Array | string>, columns: readonly string[], purpose: 'fit' | 'data', name: string) => AsyncIterable<RecordRow>,
): RecordInput {
  if (options.gzip !== undefined && typeof options.gzip !== 'boolean') throw new MtlError('BAD_CONFIG', 'gzip must be a boolean', { option: 'gzip' });
  if (options.name !== undefined && typeof options.name !== 'string') throw new MtlError('BAD_CONFIG', 'name must be a string', { option: 'name' });
  if (typeof input === 'string') {
    if (input.length === 0) throw new MtlError('BAD_CONFIG', `the ${format} path is empty`, { option: 'path' });
    const name = options.name ?? input;
    const gzip = options.gzip ?? /\.gz$/i.test(input);
    return {
      name,
      reusable: true,
      read: (columns, purpose) => {
        const bytes = fileChunks(input, name);
        return parse(gzip ? gunzipChunks(bytes, name) : bytes, columns, purpose, name);
      },
    };
  }
  const name = options.name ?? '<stream>';
  const open = (source: unknown): AsyncIterable<Uint8Array | string> => {
    if (!isChunkSource(source)) {
      throw new MtlError('BAD_CONFIG', `${name}: expected a file path, a stream of bytes or strings (async iterable or ReadableStream), or a function returning one`, {
        option: 'input',
      });
    }
    return options.gzip ? gunzipChunks(chunksOf(source), name) : chunksOf(source);
  };
  if (typeof input === 'function') {
    return { name, reusable: true, read: (columns, purpose) => parse(open(input()), columns, purpose, name) };
  }
  open(input);
  let used = false;
  return {
    name,
    reusable: false,
    read: (columns, purpose) => {
      if (used) {
        throw new MtlError('BAD_CONFIG', `${name}: this stream was already read; pass a file path or a function that opens the stream anew to iterate again`, {
          option: 'input',
        });
      }
      used = true;
      return parse(open(input), columns, purpose, name);
    },
  };
}

/** A path as is; bytes in memory as a source that yields them in one chunk on every pass. */
export function asByteInput(input: string | Uint8Array): ByteInput {
  if (typeof input === 'string') return input;
  if (!(input instanceof Uint8Array)) throw new MtlError('BAD_CONFIG', `expected a file path or bytes (Uint8Array), got ${typeof input}`);
  return () =>
    (async function* () {
      yield input;
    })();
}
