import { MtlError } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { checkKnownOptions, checkPositiveInteger, checkSource, disposeAny, sourceFailure } from './rows';

/** Options of `prefetch`. */
export interface PrefetchOptions {
  /** Batches prepared ahead of the one being consumed (default 2). */
  batches?: number;
}

/** Counters of a prefetching iterator, for tests and monitoring. */
export interface PrefetchStats {
  /** Batches taken from the source so far. */
  pulled: number;
  /** Batches handed to the consumer so far. */
  delivered: number;
  /** Batches waiting in the buffer now. */
  buffered: number;
  /** Batches disposed unread because the consumer stopped early. */
  discarded: number;
}

class Prefetcher implements AsyncIterator<Batch> {
  readonly stats: PrefetchStats = { pulled: 0, delivered: 0, buffered: 0, discarded: 0 };
  private readonly buffer: Batch[] = [];
  private iterator: AsyncIterator<Batch> | null = null;
  private pump: Promise<void> | null = null;
  private finished = false;
  private stopped = false;
  private failure: { error: unknown } | null = null;
  /** Pending `next()` calls (normally one; more if a caller does not await between calls). */
  private consumerWaiters: (() => void)[] = [];
  private wakeProducer: (() => void) | null = null;

  constructor(
    private readonly source: DataSource,
    private readonly depth: number,
  ) {}

  private async run(): Promise<void> {
    try {
      this.iterator = this.source[Symbol.asyncIterator]();
      while (!this.stopped) {
        if (this.buffer.length >= this.depth) {
          await new Promise<void>((resolve) => (this.wakeProducer = resolve));
          continue;
        }
        const step = await this.iterator.next();
        if (step.done) break;
        this.stats.pulled += 1;
        if (this.stopped) {
          disposeAny(step.value);
          this.stats.discarded += 1;
          break;
        }
        this.buffer.push(step.value);
        this.stats.buffered = this.buffer.length;
        this.notifyConsumer();
      }
    } catch (error) {
      this.failure = { error };
    } finally {
      this.finished = true;
      this.notifyConsumer();
    }
  }

  private notifyConsumer(): void {
    for (const wake of this.consumerWaiters.splice(0)) wake();
  }

  private notifyProducer(): void {
    const wake = this.wakeProducer;
    this.wakeProducer = null;
    wake?.();
  }

  async next(): Promise<IteratorResult<Batch>> {
    // The producer starts on the first request, not when the iterator is created.
    this.pump ??= this.run();
    while (this.buffer.length === 0 && !this.finished) {
      await new Promise<void>((resolve) => this.consumerWaiters.push(resolve));
    }
    if (this.buffer.length > 0) {
      const batch = this.buffer.shift()!;
      this.stats.buffered = this.buffer.length;
      this.stats.delivered += 1;
      this.notifyProducer();
      return { done: false, value: batch };
    }
    // Batches pulled before a failure are delivered first, as without prefetching.
    if (this.failure) {
      const { error } = this.failure;
      this.failure = null;
      throw sourceFailure('prefetch source', error);
    }
    return { done: true, value: undefined };
  }

  /** Stops the producer, disposes the batches it prepared, and closes the source. */
  async return(): Promise<IteratorResult<Batch>> {
    this.stopped = true;
    this.notifyProducer();
    // A pull in flight ends in the producer, which disposes its batch on seeing `stopped`.
    await this.pump;
    for (const batch of this.buffer.splice(0)) {
      disposeAny(batch);
      this.stats.discarded += 1;
    }
    this.stats.buffered = 0;
    try {
      await this.iterator?.return?.();
    } catch {
      // The source failed while closing; the consumer has already stopped, so there is no one to tell.
    }
    this.finished = true;
    return { done: true, value: undefined };
  }
}

class PrefetchSource implements DataSource {
  readonly size?: number;
  /** Stats of the most recent iteration. */
  lastStats: PrefetchStats | null = null;

  constructor(
    private readonly source: DataSource,
    private readonly depth: number,
  ) {
    this.size = source.size;
  }

  shuffled(seed: number): DataSource {
    if (!this.source.shuffled) return this;
    return new PrefetchSource(this.source.shuffled(seed), this.depth);
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    const prefetcher = new Prefetcher(this.source, this.depth);
    this.lastStats = prefetcher.stats;
    return prefetcher;
  }
}

/**
 * Prepares up to `batches` batches ahead of the consumer: while the consumer trains on one batch,
 * the source's asynchronous work for the next ones (file reads, decompression, anything awaiting
 * I/O or a worker) proceeds. Synchronous work of the source (JavaScript parsing, tensor creation)
 * still shares the one JavaScript thread with the training step; it moves between steps rather
 * than overlapping them. Stopping early (break, an error in the loop) disposes the prepared batches
 * and closes the source. The order of batches is the source's.
 *
 * @throws MtlError BAD_CONFIG when `source` is not a DataSource or `batches` is not a positive integer.
 */
export function prefetch(
  source: DataSource,
  options: PrefetchOptions = {},
): DataSource & {
  /** Counters of the most recent iteration (live while it runs); null before the first. */
  readonly lastStats: PrefetchStats | null;
} {
  checkSource('prefetch', 'source', source);
  if (typeof options !== 'object' || options === null) throw new MtlError('BAD_CONFIG', 'prefetch: options must be an object { batches }', { option: 'batches' });
  checkKnownOptions('prefetch', options, ['batches']);
  checkPositiveInteger('prefetch', 'batches', options.batches, true);
  return new PrefetchSource(source, options.batches ?? 2);
}
