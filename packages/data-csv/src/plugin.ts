import { asByteInput, dataAdapter, type DataAdapter } from '@mtljs/core';
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
  return dataAdapter('csv', '{ columns, batchSize, … }', (input, options: CsvSourceOptions) => csvSource(asByteInput(input), options));
}
