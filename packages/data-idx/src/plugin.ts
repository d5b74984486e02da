import { API_VERSION, MtlError, type DataAdapter, type DataSource } from '@mtljs/core';
import { idxSource, type IdxSourceOptions } from './source';

/** A source opened on first use, for a factory that must read headers first. */
function deferred(open: () => Promise<DataSource>): DataSource {
  let pending: Promise<DataSource> | undefined;
  const source = () => (pending ??= open());
  return {
    async *[Symbol.asyncIterator]() {
      yield* await source();
    },
    shuffled(seed: number) {
      return deferred(async () => {
        const opened = await source();
        return opened.shuffled ? opened.shuffled(seed) : opened;
      });
    },
  };
}

/**
 * The IDX adapter as a plugin (registered as 'idx' by the umbrella `mtljs`): `open(images,
 * { labels: { task: path }, batchSize, … })` is `idxSource({ images, ...options })`, opened when
 * first iterated (reading the headers is asynchronous). Malformed files therefore surface as
 * BAD_DATA on the first iteration.
 *
 * @example
 * ```ts
 * import { register } from '@mtljs/core';
 * import { idxAdapter } from '@mtljs/data-idx';
 *
 * register(idxAdapter()); // configs can now name the 'idx' adapter
 * ```
 */
export function idxAdapter(): DataAdapter {
  return {
    kind: 'data',
    name: 'idx',
    apiVersion: API_VERSION,
    open(input, options) {
      if (options === null || typeof options !== 'object') throw new MtlError('BAD_CONFIG', "data adapter 'idx': options must be an object ({ labels, batchSize, … })");
      return deferred(() => idxSource({ ...(options as unknown as Omit<IdxSourceOptions, 'images'>), images: input }));
    },
  };
}
