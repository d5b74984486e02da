import { API_VERSION, asByteInput, MtlError, type DataAdapter } from '@mtljs/core';
import { csvSource, type CsvSourceOptions } from './csv-source';

/**
 * The CSV adapter as a plugin (registered as 'csv' by the umbrella `mtljs`), so a configuration
 * can name it: `open(path, options)` is `csvSource(path, options)`.
 *
 * @example
 * ```ts
 * import { register } from '@mtljs/core';
 * import { csvAdapter } from '@mtljs/data-csv';
 *
 * register(csvAdapter()); // configs can now name the 'csv' adapter
 * ```
 */
export function csvAdapter(): DataAdapter {
  return {
    kind: 'data',
    name: 'csv',
    apiVersion: API_VERSION,
    open(input, options) {
      if (options === null || typeof options !== 'object') throw new MtlError('BAD_CONFIG', "data adapter 'csv': options must be an object ({ columns, batchSize, … })");
      return csvSource(asByteInput(input), options as unknown as CsvSourceOptions);
    },
  };
}
