import { asByteInput, dataAdapter, type DataAdapter } from '@mtljs/core';
import { jsonlSource, type JsonlSourceOptions } from './jsonl-source';

/**
 * The JSONL adapter as a plugin (registered as 'jsonl' by the umbrella `mtljs`), so a
 * configuration can name it: `open(path, options)` is `jsonlSource(path, options)`.
 *
 * @example
 * ```ts
 * import { register } from '@mtljs/core';
 * import { jsonlAdapter } from '@mtljs/data-jsonl';
 *
 * register(jsonlAdapter()); // configs can now name the 'jsonl' adapter
 * ```
 */
export function jsonlAdapter(): DataAdapter {
  return dataAdapter('jsonl', '{ columns, batchSize, … }', (input, options: JsonlSourceOptions) => jsonlSource(asByteInput(input), options));
}
