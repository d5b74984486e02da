import {
  byteRecordInput,
  checkOptions,
  fitRecordSchema,
  MtlError,
  recordColumns,
  recordSource,
  type ByteInput,
  type ByteInputOptions,
  type RecordBatchOptions,
  type RecordDataSource,
  type RecordInput,
  type RecordMapping,
  type RecordSchema,
  type RecordSchemaJSON,
  type SchemaOptions,
} from '@mtljs/core';
import { CSV_FORMAT_OPTIONS, checkCsvFormat, csvRows, type CsvFormatOptions } from './csv-rows';

/**
 * Where CSV comes from: a file path (Node; `.gz` is gunzipped), a function opening a fresh
 * stream for each pass, or a one-shot stream (async iterable of bytes/strings, web ReadableStream).
 */
export type CsvInput = ByteInput;

/** Options for reading CSV input: the format (delimiter, quote, header, …) and the byte input's (`gzip`, `name`). */
export interface CsvInputOptions extends CsvFormatOptions, ByteInputOptions {}

/**
 * Options of `csvSource`: the input and format options, batching (`batchSize`, `shuffleBuffer`,
 * `seed`, `dropRemainder`), schema fitting, and either `columns` or `schema`.
 */
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
  return byteRecordInput(input, options, 'CSV', (chunks, columns, _purpose, name) => csvRows(chunks, columns, { ...format, name }));
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
