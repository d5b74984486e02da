import { dataAdapter, type DataAdapter, type DataSource } from '@mtljs/core';
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
  return dataAdapter('idx', '{ labels, batchSize, … }', (input, options: Omit<IdxSourceOptions, 'images'>) => deferred(() => idxSource({ ...options, images: input })));
}
