import {
  checkOptions,
  chunksOf,
  fitRecordSchema,
  isChunkSource,
  MtlError,
  recordColumns,
  recordSource,
  type ChunkSource,
  type RecordBatchOptions,
  type RecordDataSource,
  type RecordInput,
  type RecordMapping,
  type RecordSchema,
  type RecordSchemaJSON,
  type SchemaOptions,
} from '@mtljs/core';
import { CSV_FORMAT_OPTIONS, checkCsvFormat, csvRows, type CsvFormatOptions } from './csv-rows';
import { fileChunks, gunzipChunks } from '@mtljs/core';

/**
 * Where CSV comes from: a file path (Node; `.gz` is gunzipped), a function opening a fresh
 * stream for each pass, or a one-shot stream (async iterable of bytes/strings, web ReadableStream).
 */
export type CsvInput = string | ChunkSource | (() => ChunkSource);

export interface CsvInputOptions extends CsvFormatOptions {
  /** Gunzip the bytes (default: true for a path ending in `.gz`, false otherwise). Node only. */
  gzip?: boolean;
  /** Names the input in messages (default: the path, or '<stream>'). */
  name?: string;
}

export interface CsvSourceOptions extends CsvInputOptions, RecordBatchOptions, SchemaOptions {
  /** Column mapping: inputs (in order) and each task's column(s); the source fits its schema on the first pass. */
  columns?: RecordMapping;
  /** A schema fitted on the training split (`fitCsvSchema`, or its JSON); replaces `columns`. */
  schema?: RecordSchema | RecordSchemaJSON;
}

const INPUT_OPTIONS = [...CSV_FORMAT_OPTIONS, 'gzip', 'name'] as const;
const SCHEMA_OPTIONS = ['types', 'inferRows', 'missing', 'missingValues', 'normalize'] as const;
const BATCH_OPTIONS = ['batchSize', 'shuffleBuffer', 'seed', 'dropRemainder'] as const;

function pick<T extends object>(options: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if ((options as Record<string, unknown>)[key] !== undefined) out[key] = (options as Record<string, unknown>)[key];
  return out as Partial<T>;
}

/** The CSV input as a record input for the shared batching: each `read` parses a fresh pass. */
function csvInput(input: CsvInput, options: CsvInputOptions): RecordInput {
  const format = checkCsvFormat(options);
  if (options.gzip !== undefined && typeof options.gzip !== 'boolean') throw new MtlError('BAD_CONFIG', 'gzip must be a boolean', { option: 'gzip' });
  if (options.name !== undefined && typeof options.name !== 'string') throw new MtlError('BAD_CONFIG', 'name must be a string', { option: 'name' });
  if (typeof input === 'string') {
    if (input.length === 0) throw new MtlError('BAD_CONFIG', 'the CSV path is empty', { option: 'path' });
    const name = options.name ?? input;
    const gzip = options.gzip ?? /\.gz$/i.test(input);
    return {
      name,
      reusable: true,
      read: (columns) => {
        const bytes = fileChunks(input, name);
        return csvRows(gzip ? gunzipChunks(bytes, name) : bytes, columns, { ...format, name });
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
    return { name, reusable: true, read: (columns) => csvRows(open(input()), columns, { ...format, name }) };
  }
  open(input);
  let used = false;
  return {
    name,
    reusable: false,
    read: (columns) => {
      if (used) {
        throw new MtlError('BAD_CONFIG', `${name}: this stream was already read; pass a file path or a function that opens the stream anew to iterate again`, {
          option: 'input',
        });
      }
      used = true;
      return csvRows(open(input), columns, { ...format, name });
    },
  };
}

/**
 * A streaming DataSource over a CSV file or stream. Give `columns` (the mapping; the schema is
 * then fitted on the first pass over this input) or `schema` (fitted on the training split).
 * Each iteration re-reads the file; `shuffled(seed)` shuffles through a bounded buffer.
 */
export function csvSource(input: CsvInput, options: CsvSourceOptions): RecordDataSource {
  if (options === undefined) throw new MtlError('BAD_CONFIG', 'csvSource needs options: { columns or schema, batchSize }');
  checkOptions('csvSource', options, [...INPUT_OPTIONS, ...SCHEMA_OPTIONS, ...BATCH_OPTIONS, 'columns', 'schema']);
  return recordSource(csvInput(input, options), {
    ...pick(options, [...SCHEMA_OPTIONS, ...BATCH_OPTIONS]),
    batchSize: options.batchSize,
    ...(options.columns !== undefined ? { mapping: options.columns } : {}),
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
  });
}

/**
 * Fits a schema in one streaming pass over a CSV training split: column types (from the first
 * `inferRows` rows), categories, classes and normalisation statistics. Save it with
 * `JSON.stringify(schema)` and restore it with `RecordSchema.fromJSON`.
 */
export async function fitCsvSchema(input: CsvInput, mapping: RecordMapping, options: CsvInputOptions & SchemaOptions = {}): Promise<RecordSchema> {
  checkOptions('fitCsvSchema', options, [...INPUT_OPTIONS, ...SCHEMA_OPTIONS]);
  const source = csvInput(input, options);
  return fitRecordSchema(source.read(recordColumns(mapping), 'fit'), mapping, { ...pick(options, SCHEMA_OPTIONS), file: source.name });
}
