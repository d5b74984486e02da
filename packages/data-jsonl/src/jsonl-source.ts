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
import { JSONL_FORMAT_OPTIONS, checkJsonlFormat, jsonlRows, type JsonlFormatOptions } from './jsonl-rows';
import { fileChunks, gunzipChunks } from '@mtljs/core';

/**
 * Where JSON Lines come from: a file path (Node; `.gz` is gunzipped), a function opening a fresh
 * stream for each pass, or a one-shot stream (async iterable of bytes/strings, web ReadableStream).
 */
export type JsonlInput = string | ChunkSource | (() => ChunkSource);

export interface JsonlInputOptions extends JsonlFormatOptions {
  /** Gunzip the bytes (default: true for a path ending in `.gz`, false otherwise). Node only. */
  gzip?: boolean;
  /** Names the input in messages (default: the path, or '<stream>'). */
  name?: string;
}

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
  if (options.gzip !== undefined && typeof options.gzip !== 'boolean') throw new MtlError('BAD_CONFIG', 'gzip must be a boolean', { option: 'gzip' });
  if (options.name !== undefined && typeof options.name !== 'string') throw new MtlError('BAD_CONFIG', 'name must be a string', { option: 'name' });
  const rows = (chunks: ChunkSource, fields: readonly string[], purpose: 'fit' | 'data', name: string) =>
    jsonlRows(chunks, fields, { ...format, name, requireFields: purpose === 'fit' });
  if (typeof input === 'string') {
    if (input.length === 0) throw new MtlError('BAD_CONFIG', 'the JSONL path is empty', { option: 'path' });
    const name = options.name ?? input;
    const gzip = options.gzip ?? /\.gz$/i.test(input);
    return {
      name,
      reusable: true,
      read: (fields, purpose) => {
        const bytes = fileChunks(input, name);
        return rows(gzip ? gunzipChunks(bytes, name) : bytes, fields, purpose, name);
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
    return { name, reusable: true, read: (fields, purpose) => rows(open(input()), fields, purpose, name) };
  }
  open(input);
  let used = false;
  return {
    name,
    reusable: false,
    read: (fields, purpose) => {
      if (used) {
        throw new MtlError('BAD_CONFIG', `${name}: this stream was already read; pass a file path or a function that opens the stream anew to iterate again`, {
          option: 'input',
        });
      }
      used = true;
      return rows(open(input), fields, purpose, name);
    },
  };
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
