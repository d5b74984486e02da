import { API_VERSION, type DataAdapter, type DataSource } from '../contracts';
import { MtlError } from '../errors';

/**
 * A data adapter plugin from its name and its `open`: the options are checked to be an object
 * (BAD_CONFIG naming the adapter and `expected`, e.g. '{ columns, batchSize, … }') before `open`
 * sees them. The adapter's own factory validates the options' contents.
 */
export function dataAdapter<Options>(name: string, expected: string, open: (input: string | Uint8Array, options: Options) => DataSource): DataAdapter {
  return {
    kind: 'data',
    name,
    apiVersion: API_VERSION,
    open(input, options) {
      if (options === null || typeof options !== 'object' || Array.isArray(options)) {
        throw new MtlError('BAD_CONFIG', `data adapter '${name}': options must be an object (${expected})`, { plugin: name });
      }
      return open(input, options as Options);
    },
  };
}
