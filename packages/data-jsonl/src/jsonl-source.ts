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
import { JSONL_FORMAT_OPTIONS, checkJsonlFormat, jsonlRows, type JsonlFormatOptions } from './jsonl-rows';

/**
 * Where JSON Lines come from: a file path (Node; `.gz` is gunzipped), a function opening a fresh
 * stream for each pass, or a one-shot stream (async iterable of bytes/strings, web ReadableStream).
 */
export type JsonlInput = ByteInput;

/** Options for reading JSON Lines input: the format (`maxLineLength`) and the byte input's (`gzip`, `name`). */
export interface JsonlInputOptions extends JsonlFormatOptions, ByteInputOptions {}

/**
 * Options of `jsonlSource`: the input and format options, batching (`batchSize`, `shuffleBuffer`,
 * `seed`, `dropRemainder`), schema fitting, and either `fields` or `schema`.
 */
export interface JsonlSourceOptions extends JsonlInputOptions, RecordBatchOptions, SchemaOptions {
  /** Field mapping (dotted paths): inputs (in order) and each task's field(s); the schema is fitted on the first pass. */
  fields?: RecordMapping;
  /** A schema fitted on the training split (`fitJsonlSchema`, or its JSON); replaces `fields`. */
  schema?: RecordSchema | RecordSchemaJSON;
}

const INPUT_OPTIONS = [...JSONL_FORMAT_OPTIONS, 'gzip', 'name'] as const;
const SCHEMA_OPTIONS = ['types', 'inferRows', 'missing', 'missingValues', 'normalize'] as const;
const BATCH_OPTIONS = ['batchSize', 'shuffleBuffer', 'seed', 'dropRemainder'] as const;

function pick<T extends object>(options: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if ((options as Record<string, unknown>)[key] !== undefined) out[key] = (options as Record<string, unknown>)[key];
  return out as Partial<T>;
}

/** The JSONL input as a record input for the shared batching: each `read` parses a fresh pass. */
function jsonlInput(input: JsonlInput, options: JsonlInputOptions): RecordInput {
  const format = checkJsonlFormat(options);
  return byteRecordInput(input, options, 'JSONL', (chunks, fields, purpose, name) => jsonlRows(chunks, fields, { ...format, name, requireFields: purpose === 'fit' }));
}

/**
 * A streaming DataSource over a JSON Lines file or stream (one JSON object per line). Give
 * `fields` (the mapping, with dotted paths; the schema is then fitted on the first pass) or
 * `schema` (fitted on the training split). Each iteration re-reads the file.
 */
export function jsonlSource(input: JsonlInput, options: JsonlSourceOptions): RecordDataSource {
  if (options === undefined) throw new MtlError('BAD_CONFIG', 'jsonlSource needs options: { fields or schema, batchSize }');
  checkOptions('jsonlSource', options, [...INPUT_OPTIONS, ...SCHEMA_OPTIONS, ...BATCH_OPTIONS, 'fields', 'schema']);
  return recordSource(jsonlInput(input, options), {
    ...pick(options, [...SCHEMA_OPTIONS, ...BATCH_OPTIONS]),
    batchSize: options.batchSize,
    ...(options.fields !== undefined ? { mapping: options.fields } : {}),
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
  });
}

/**
 * Fits a schema in one streaming pass over a JSONL training split: types (from the first
 * `inferRows` records), categories, classes and normalisation statistics. A mapped field that no
 * record has is a BAD_CONFIG error listing the fields seen.
 */
export async function fitJsonlSchema(input: JsonlInput, fields: RecordMapping, options: JsonlInputOptions & SchemaOptions = {}): Promise<RecordSchema> {
  checkOptions('fitJsonlSchema', options, [...INPUT_OPTIONS, ...SCHEMA_OPTIONS]);
  const source = jsonlInput(input, options);
  return fitRecordSchema(source.read(recordColumns(fields), 'fit'), fields, { ...pick(options, SCHEMA_OPTIONS), file: source.name });
}
