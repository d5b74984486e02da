import { API_VERSION, asByteInput, MtlError, type DataAdapter } from '@mtljs/core';
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
  return {
    kind: 'data',
    name: 'jsonl',
    apiVersion: API_VERSION,
    open(input, options) {
      if (options === null || typeof options !== 'object') throw new MtlError('BAD_CONFIG', "data adapter 'jsonl': options must be an object ({ columns, batchSize, … })");
      return jsonlSource(asByteInput(input), options as unknown as JsonlSourceOptions);
    },
  };
}
