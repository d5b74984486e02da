import { MtlError, Rng } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { Schema, buildBatch, checkKnownOptions, checkPositiveInteger, checkSeed, checkSource, decodedBatches, deriveSeed } from './rows';
import type { DecodedBatch, RowRef } from './rows';

/**
 * How `mixTasks` picks the source of each example, with n_i the size of source i:
 * 'proportional' (p_i = n_i / Σ n_j), 'uniform' (p_i = 1 / K), or `{ temperature }`.
 */
export type Sampling =
  | 'proportional'
  | 'uniform'
  | {
      /** T > 0 in p_i ∝ n_i^(1/T): 1 is proportional, Infinity uniform; otherwise BAD_CONFIG. */
      temperature: number;
    };

/** Options of `mixTasks`. */
export interface MixTasksOptions {
  /** One source per task (or group of tasks), by a name used in messages. */
  sources: Record<string, DataSource>;
  /** Examples a mixed batch. */
  batchSize: number;
  /**
   * Which source each example is drawn from (default 'proportional'), with n_i the size of source i:
   * - 'proportional': p_i = n_i / Σ n_j;
   * - 'uniform': p_i = 1 / K;
   * - `{ temperature: T }`: p_i ∝ n_i^(1/T) (T = 1 is proportional, T → ∞ uniform; T > 0).
   */
  sampling?: Sampling;
  /** Seed of the draws (default 0); the same seed gives the same batches. */
  seed?: number;
  /** Batches an epoch (default ceil(Σ n_i / batchSize), which needs every size). */
  stepsPerEpoch?: number;
  /** Sizes of sources that have no `size` (or to override it). */
  sizes?: Record<string, number>;
}

/** The mixed source, with the numbers it works by. */
export interface MixedSource extends DataSource {
  /** stepsPerEpoch × batchSize. */
  readonly size: number;
  /** Batches an epoch: the option `stepsPerEpoch`, or ceil(Σ n_i / batchSize). */
  readonly stepsPerEpoch: number;
  /** p_i by source name. */
  readonly probabilities: Readonly<Record<string, number>>;
  /**
   * The same mix with a new draw sequence derived from `seed`, each source read through its own
   * `shuffled(...)` when it has one; Trainer.fit calls it each epoch.
   */
  shuffled(seed: number): DataSource;
}

/** p_i for a sampling rule and sizes n_i. */
export function samplingProbabilities(sampling: Sampling, sizes: readonly number[]): number[] {
  const k = sizes.length;
  if (sampling === 'uniform') return sizes.map(() => 1 / k);
  const temperature = sampling === 'proportional' ? 1 : sampling.temperature;
  if (temperature === Number.POSITIVE_INFINITY) return sizes.map(() => 1 / k);
  const weights = sizes.map((n) => (n === 0 ? 0 : n ** (1 / temperature)));
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new MtlError('BAD_CONFIG', 'mixTasks: every source has size 0; nothing to sample', { option: 'sizes' });
  return weights.map((w) => w / total);
}

/**
 * Reads one source's examples, starting a new pass when it runs out, so a small source can be
 * drawn from more often than it has examples (uniform or tempered sampling).
 */
class Cursor {
  private iterator: AsyncIterator<DecodedBatch> | null = null;
  private current: DecodedBatch | null = null;
  private row = 0;
  private rowsThisPass = 0;
  private passSeeds: Rng | null;

  constructor(
    private readonly source: DataSource,
    readonly label: string,
    passSeed: number | null,
    private readonly observe: (batch: DecodedBatch, label: string) => void,
  ) {
    this.passSeeds = passSeed === null ? null : Rng.fromSeed(passSeed);
  }

  private open(): void {
    const pass = this.passSeeds && this.source.shuffled ? this.source.shuffled(this.passSeeds.nextSeed()) : this.source;
    this.iterator = decodedBatches(pass, this.label)[Symbol.asyncIterator]();
    this.rowsThisPass = 0;
  }

  /** The next batch, read ahead of any row (the first batches define the tasks and shapes). */
  async prime(): Promise<void> {
    await this.load();
  }

  private async load(): Promise<void> {
    while (this.current === null || this.row >= this.current.rows) {
      if (!this.iterator) this.open();
      const step = await this.iterator!.next();
      if (step.done) {
        this.iterator = null;
        if (this.rowsThisPass === 0) {
          throw new MtlError('BAD_DATA', `mixTasks: source '${this.label}' has no examples, but the sampling draws from it`, { source: this.label });
        }
        continue;
      }
      this.observe(step.value, this.label);
      this.current = step.value;
      this.row = 0;
      this.rowsThisPass += step.value.rows;
    }
  }

  async next(): Promise<RowRef> {
    await this.load();
    return { batch: this.current!, row: this.row++ };
  }

  async close(): Promise<void> {
    const iterator = this.iterator;
    this.iterator = null;
    await iterator?.return?.();
  }
}

class MixSource implements MixedSource {
  readonly size: number;
  readonly probabilities: Readonly<Record<string, number>>;
  private readonly cumulative: number[];

  constructor(
    private readonly names: readonly string[],
    private readonly sources: readonly DataSource[],
    probabilities: readonly number[],
    private readonly batchSize: number,
    readonly stepsPerEpoch: number,
    private readonly seed: number,
    /** Null: sources are read in their own order; a number: each pass is `source.shuffled(...)`. */
    private readonly shuffleSeed: number | null,
  ) {
    this.size = stepsPerEpoch * batchSize;
    this.probabilities = Object.fromEntries(names.map((name, i) => [name, probabilities[i]!]));
    let sum = 0;
    this.cumulative = probabilities.map((p) => (sum += p));
  }

  shuffled(seed: number): DataSource {
    const probabilities = this.names.map((name) => this.probabilities[name]!);
    return new MixSource(this.names, this.sources, probabilities, this.batchSize, this.stepsPerEpoch, deriveSeed(this.seed, seed), deriveSeed(seed, this.seed));
  }

  private draw(rng: Rng): number {
    const u = rng.next() * this.cumulative[this.cumulative.length - 1]!;
    for (let i = 0; i < this.cumulative.length; i++) if (u < this.cumulative[i]!) return i;
    // Rounding can leave u at the total: give it to the last source with a positive probability.
    for (let i = this.cumulative.length - 1; i >= 0; i--) if (this.probabilities[this.names[i]!]! > 0) return i;
    return 0;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const schema = new Schema();
    const observe = (batch: DecodedBatch, label: string) => schema.observe(batch, label);
    const cursors = this.sources.map(
      (source, i) => new Cursor(source, this.names[i]!, this.shuffleSeed === null ? null : deriveSeed(this.shuffleSeed, i + 1), observe),
    );
    try {
      // Each source's first batch says which tasks it labels and what its inputs look like; a
      // mixed batch must carry every task, so all are read before the first batch is built.
      for (let i = 0; i < cursors.length; i++) if (this.cumulative[i]! > (this.cumulative[i - 1] ?? 0)) await cursors[i]!.prime();
      schema.freeze();
      const rng = Rng.fromSeed(this.seed);
      for (let step = 0; step < this.stepsPerEpoch; step++) {
        const rows: RowRef[] = [];
        for (let k = 0; k < this.batchSize; k++) rows.push(await cursors[this.draw(rng)]!.next());
        yield buildBatch(rows, schema);
      }
    } finally {
      await Promise.all(cursors.map((c) => c.close()));
    }
  }
}

function checkSampling(sampling: unknown): Sampling {
  if (sampling === undefined) return 'proportional';
  if (sampling === 'proportional' || sampling === 'uniform') return sampling;
  if (typeof sampling === 'object' && sampling !== null && 'temperature' in sampling) {
    const t = (sampling as { temperature: unknown }).temperature;
    if (typeof t === 'number' && t > 0 && !Number.isNaN(t)) return { temperature: t };
    throw new MtlError('BAD_CONFIG', `mixTasks: sampling temperature must be a number > 0 (Infinity for uniform), got ${String(t)}`, { option: 'sampling' });
  }
  throw new MtlError('BAD_CONFIG', `mixTasks: sampling must be 'proportional', 'uniform' or { temperature: T }, got ${JSON.stringify(sampling)}`, { option: 'sampling' });
}

/**
 * Combines one source per task into partially-labelled batches. Each example of a mixed batch
 * comes from source i with probability p_i (see `sampling`), drawn with a seeded RNG; it keeps
 * its own targets and masks, and every task it has no label for gets zeros of the task's target
 * shape and mask 0. An epoch is `stepsPerEpoch` full batches; a source that runs out within an
 * epoch starts a new pass. Every iteration starts each source from its beginning; `shuffled(seed)`
 * (which Trainer.fit calls each epoch) draws a new sequence and reads each pass of each source as
 * `source.shuffled(...)` when the source supports it.
 */
export function mixTasks(options: MixTasksOptions): MixedSource {
  if (!options || typeof options !== 'object') throw new MtlError('BAD_CONFIG', 'mixTasks needs options { sources, batchSize }');
  checkKnownOptions('mixTasks', options, ['sources', 'batchSize', 'sampling', 'seed', 'stepsPerEpoch', 'sizes']);
  const entries = Object.entries(options.sources ?? {});
  if (entries.length === 0) throw new MtlError('BAD_CONFIG', 'mixTasks: `sources` must name at least one DataSource, e.g. { sources: { digits: a, letters: b } }', { option: 'sources' });
  for (const [name, source] of entries) checkSource('mixTasks', `sources.${name}`, source);
  checkPositiveInteger('mixTasks', 'batchSize', options.batchSize);
  checkPositiveInteger('mixTasks', 'stepsPerEpoch', options.stepsPerEpoch, true);
  const sampling = checkSampling(options.sampling);
  const seed = checkSeed('mixTasks', options.seed);
  for (const name of Object.keys(options.sizes ?? {})) {
    if (!options.sources[name]) {
      throw new MtlError('BAD_CONFIG', `mixTasks: sizes names '${name}', which is not a source (sources: ${entries.map(([n]) => n).join(', ')})`, {
        option: 'sizes',
        available: entries.map(([n]) => n),
      });
    }
  }
  const sizes = entries.map(([name, source]) => options.sizes?.[name] ?? source.size);
  sizes.forEach((size, i) => {
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
      throw new MtlError('BAD_CONFIG', `mixTasks: the size of source '${entries[i]![0]}' must be a non-negative integer, got ${size}`, { option: 'sizes', source: entries[i]![0] });
    }
  });
  const needSizes = sampling !== 'uniform' || options.stepsPerEpoch === undefined;
  const missing = entries.filter((_, i) => sizes[i] === undefined).map(([name]) => name);
  if (needSizes && missing.length > 0) {
    const why = sampling !== 'uniform' ? `${typeof sampling === 'string' ? sampling : 'temperature'} sampling` : 'the default stepsPerEpoch';
    throw new MtlError('BAD_CONFIG', `mixTasks: ${why} needs the size of every source; ${missing.map((m) => `'${m}'`).join(', ')} ${missing.length > 1 ? 'have' : 'has'} none: give sizes: { ${missing[0]}: n }${sampling === 'uniform' ? ' or stepsPerEpoch' : ''}`, {
      option: 'sizes',
      source: missing[0],
    });
  }
  const probabilities = samplingProbabilities(sampling, sizes.map((s) => s ?? 0));
  const total = sizes.reduce((a: number, b) => a + (b ?? 0), 0);
  const stepsPerEpoch = options.stepsPerEpoch ?? Math.ceil(total / options.batchSize);
  if (stepsPerEpoch === 0) throw new MtlError('BAD_CONFIG', 'mixTasks: the sources hold no examples, so an epoch would have no step', { option: 'sizes' });
  return new MixSource(
    entries.map(([name]) => name),
    entries.map(([, source]) => source),
    probabilities,
    options.batchSize,
    stepsPerEpoch,
    seed,
    null,
  );
}
