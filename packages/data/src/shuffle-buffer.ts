import { MtlError, Rng } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { Schema, checkKnownOptions, checkPositiveInteger, checkSeed, checkSource, decodedBatches, deriveSeed, rebatch } from './rows';
import type { DecodedBatch, RowRef } from './rows';

/** Options of `shuffleBuffer`. */
export interface ShuffleBufferOptions {
  /** Examples held at once (required). A buffer at least as large as the source shuffles it uniformly. */
  bufferSize: number;
  /** Seed of the order (default 0). Every iteration of the same source gives the same order. */
  seed?: number;
  /** Examples a batch (default: the size of the source's first batch). */
  batchSize?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropRemainder?: boolean;
}

/**
 * The classic streaming shuffle: fill a buffer with `bufferSize` examples; then each incoming
 * example takes the place of a uniformly drawn one, which is emitted; at the end the rest of the
 * buffer is emitted in a uniformly random order. An example can move back by at most bufferSize
 * positions, so the shuffle is uniform only when the buffer holds the whole source.
 */
export async function* shuffleRows(rows: AsyncIterable<RowRef>, bufferSize: number, rng: Rng): AsyncGenerator<RowRef> {
  const buffer: RowRef[] = [];
  for await (const row of rows) {
    if (buffer.length < bufferSize) {
      buffer.push(row);
      continue;
    }
    const j = rng.int(bufferSize);
    const out = buffer[j]!;
    buffer[j] = row;
    yield out;
  }
  rng.shuffle(buffer);
  yield* buffer;
}

/** Rows of decoded batches, each batch checked against the schema first. */
export async function* checkedRows(batches: AsyncIterable<DecodedBatch>, schema: Schema, label: string, onFirst?: (batch: DecodedBatch) => void): AsyncGenerator<RowRef> {
  let first = true;
  for await (const batch of batches) {
    schema.observe(batch, label);
    if (first) {
      onFirst?.(batch);
      schema.freeze();
      first = false;
    }
    for (let row = 0; row < batch.rows; row++) yield { batch, row };
  }
}

class ShuffleBufferSource implements DataSource {
  readonly size?: number;

  constructor(
    private readonly source: DataSource,
    private readonly options: Required<Pick<ShuffleBufferOptions, 'bufferSize' | 'seed' | 'dropRemainder'>> & { batchSize?: number },
  ) {
    this.size = source.size;
  }

  shuffled(seed: number): DataSource {
    // A new order for the buffer, and for the source too when it can shuffle itself (a memory
    // source's full permutation followed by the buffer is still a uniform shuffle).
    const inner = this.source.shuffled ? this.source.shuffled(deriveSeed(seed, 1)) : this.source;
    return new ShuffleBufferSource(inner, { ...this.options, seed: deriveSeed(seed, 2) });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const schema = new Schema();
    let batchSize = this.options.batchSize ?? 0;
    const rows = checkedRows(decodedBatches(this.source, 'shuffleBuffer source'), schema, 'shuffleBuffer source', (first) => {
      if (!batchSize) batchSize = first.rows;
    });
    yield* rebatch(shuffleRows(rows, this.options.bufferSize, Rng.fromSeed(this.options.seed)), () => batchSize, schema, this.options.dropRemainder);
  }
}

/**
 * Shuffles a (streaming) source at the example level with a seeded buffer of `bufferSize`
 * examples, and re-batches it. Memory: the buffer's examples (as arrays), not the source.
 */
export function shuffleBuffer(source: DataSource, options: ShuffleBufferOptions): DataSource {
  checkSource('shuffleBuffer', 'source', source);
  if (!options || typeof options !== 'object') throw new MtlError('BAD_CONFIG', 'shuffleBuffer needs options { bufferSize, seed? }', { option: 'bufferSize' });
  checkKnownOptions('shuffleBuffer', options, ['bufferSize', 'seed', 'batchSize', 'dropRemainder']);
  checkPositiveInteger('shuffleBuffer', 'bufferSize', options.bufferSize);
  checkPositiveInteger('shuffleBuffer', 'batchSize', options.batchSize, true);
  return new ShuffleBufferSource(source, {
    bufferSize: options.bufferSize,
    seed: checkSeed('shuffleBuffer', options.seed),
    batchSize: options.batchSize,
    dropRemainder: options.dropRemainder ?? false,
  });
}
