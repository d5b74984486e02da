import { MtlError, Rng } from '@mtljs/core';
import type { Batch, DataSource } from '@mtljs/core';
import { Schema, checkKnownOptions, checkPositiveInteger, checkSeed, checkSource, decodedBatches, rebatch } from './rows';
import type { DecodedBatch, RowRef } from './rows';
import { shuffleRows } from './shuffle-buffer';

/** Options of `splitSource`: the fractions of the parts and how examples are assigned to them. */
export interface SplitOptions {
  /** Fraction of examples for validation, in [0, 1) (default 0). */
  validation?: number;
  /** Fraction of examples for test, in [0, 1) (default 0). validation + test must be < 1. */
  test?: number;
  /** Seed of the assignment (default 0). */
  seed?: number;
  /**
   * `'permutation'`: exact counts from a seeded permutation of the source's `size` (needs it);
   * `'hash'`: each example's index is hashed with the seed, for sources of unknown size (counts
   * are then close to, not exactly, the fractions); `'auto'` (default): permutation when the
   * source has a size, hash otherwise.
   */
  method?: 'auto' | 'permutation' | 'hash';
  /** Examples a batch of each split (default: the size of the source's first batch). */
  batchSize?: number;
  /** Examples held by a split's `shuffled(seed)` (default 10 000; see shuffleBuffer). */
  shuffleBufferSize?: number;
}

/**
 * The three disjoint parts made by `splitSource`. Each has a `size` when the split is by
 * permutation, and a `shuffled(seed)` that reshuffles its examples with a buffer.
 */
export interface Splits {
  /** The examples left after validation and test: about 1 − validation − test of the source. */
  train: DataSource;
  /** About `validation` of the examples (empty when the fraction is 0). */
  validation: DataSource;
  /** About `test` of the examples (empty when the fraction is 0). */
  test: DataSource;
}

type Part = 0 | 1 | 2;
const PART_NAMES = ['train', 'validation', 'test'] as const;

/** A 32-bit hash of (seed, index): murmur3's finaliser over both halves of the index. */
function hashIndex(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const word of [index >>> 0, Math.floor(index / 2 ** 32) >>> 0]) {
    h = Math.imul(h ^ word, 0xcc9e2d51) >>> 0;
    h = ((h << 15) | (h >>> 17)) >>> 0;
    h = Math.imul(h, 0x1b873593) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

interface Assignment {
  partOf(index: number): Part;
  /** Examples per part when exact, else null. */
  counts: [number, number, number] | null;
  /** Examples the source must yield, when known. */
  total: number | null;
}

function permutationAssignment(size: number, validation: number, test: number, seed: number): Assignment {
  const nValidation = Math.round(size * validation);
  const nTest = Math.round(size * test);
  let parts: Uint8Array | null = null;
  return {
    counts: [size - nValidation - nTest, nValidation, nTest],
    total: size,
    partOf(index) {
      if (!parts) {
        // Fisher–Yates over an Int32Array: 4 bytes an example, computed once, on first use.
        const rng = Rng.fromSeed(seed);
        const order = new Int32Array(size);
        for (let i = 0; i < size; i++) order[i] = i;
        for (let i = size - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          const t = order[i]!;
          order[i] = order[j]!;
          order[j] = t;
        }
        parts = new Uint8Array(size);
        for (let k = 0; k < nValidation + nTest; k++) parts[order[k]!] = k < nValidation ? 1 : 2;
      }
      return parts[index] as Part;
    },
  };
}

function hashAssignment(validation: number, test: number, seed: number): Assignment {
  const validationBound = validation * 2 ** 32;
  const testBound = (validation + test) * 2 ** 32;
  const hashSeed = Rng.fromSeed(seed).nextUint32();
  return {
    counts: null,
    total: null,
    partOf(index) {
      const h = hashIndex(hashSeed, index);
      return h < validationBound ? 1 : h < testBound ? 2 : 0;
    },
  };
}

class SplitSource implements DataSource {
  readonly size?: number;

  constructor(
    private readonly source: DataSource,
    private readonly part: Part,
    private readonly assignment: Assignment,
    private readonly options: { batchSize?: number; shuffleBufferSize: number; shuffleSeed: number | null },
  ) {
    if (assignment.counts) this.size = assignment.counts[part];
  }

  shuffled(seed: number): DataSource {
    return new SplitSource(this.source, this.part, this.assignment, { ...this.options, shuffleSeed: seed });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const label = `splitSource (${PART_NAMES[this.part]})`;
    const schema = new Schema();
    let batchSize = this.options.batchSize ?? 0;
    const { assignment, part } = this;
    async function* selected(batches: AsyncIterable<DecodedBatch>): AsyncGenerator<RowRef> {
      let index = 0;
      let first = true;
      for await (const batch of batches) {
        schema.observe(batch, label);
        if (first) {
          if (!batchSize) batchSize = batch.rows;
          schema.freeze();
          first = false;
        }
        if (assignment.total !== null && index + batch.rows > assignment.total) {
          throw new MtlError('BAD_DATA', `${label}: the source yields more than its declared size of ${assignment.total} examples; its size must be exact for a permutation split`, {
            expected: assignment.total,
            received: index + batch.rows,
          });
        }
        for (let row = 0; row < batch.rows; row++, index++) if (assignment.partOf(index) === part) yield { batch, row };
      }
      if (assignment.total !== null && index !== assignment.total) {
        throw new MtlError('BAD_DATA', `${label}: the source yielded ${index} examples, but its size says ${assignment.total}; its size must be exact for a permutation split`, {
          expected: assignment.total,
          received: index,
        });
      }
    }
    // Assignment is by position in the source's own order, so the source itself is never
    // shuffled here: a split reshuffles its own examples with a buffer.
    let rows = selected(decodedBatches(this.source, label));
    if (this.options.shuffleSeed !== null) rows = shuffleRows(rows, this.options.shuffleBufferSize, Rng.fromSeed(this.options.shuffleSeed));
    yield* rebatch(rows, () => batchSize, schema);
  }
}

function checkFraction(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new MtlError('BAD_CONFIG', `splitSource: ${name} must be a fraction in [0, 1), got ${String(value)}`, { option: name });
  }
  return value;
}

/**
 * Splits a source into train, validation and test parts, fixed by the seed. An example's part
 * depends only on its position in the source's (unshuffled) order, so the source must give the
 * same examples in the same order on every pass (files and arrays do); the parts never overlap
 * and together hold every example. Each part re-reads the source and keeps its own examples.
 */
export function splitSource(source: DataSource, options: SplitOptions = {}): Splits {
  checkSource('splitSource', 'source', source);
  checkKnownOptions('splitSource', options, ['validation', 'test', 'seed', 'method', 'batchSize', 'shuffleBufferSize']);
  const validation = checkFraction('validation', options.validation);
  const test = checkFraction('test', options.test);
  if (validation + test >= 1) {
    throw new MtlError('BAD_CONFIG', `splitSource: validation + test must be < 1 to leave examples for training, got ${validation} + ${test}`, { option: 'validation' });
  }
  const seed = checkSeed('splitSource', options.seed);
  checkPositiveInteger('splitSource', 'batchSize', options.batchSize, true);
  checkPositiveInteger('splitSource', 'shuffleBufferSize', options.shuffleBufferSize, true);
  const method = options.method ?? 'auto';
  if (!['auto', 'permutation', 'hash'].includes(method)) {
    throw new MtlError('BAD_CONFIG', `splitSource: method must be 'auto', 'permutation' or 'hash', got '${String(method)}'`, { option: 'method' });
  }
  const size = source.size;
  const hasSize = Number.isSafeInteger(size) && (size as number) >= 0;
  if (method === 'permutation' && !hasSize) {
    throw new MtlError('BAD_CONFIG', "splitSource: method 'permutation' needs a source with a known size; use method 'hash' for streaming sources", { option: 'method' });
  }
  const assignment = method === 'hash' || !hasSize ? hashAssignment(validation, test, seed) : permutationAssignment(size as number, validation, test, seed);
  const partOptions = { batchSize: options.batchSize, shuffleBufferSize: options.shuffleBufferSize ?? 10_000, shuffleSeed: null };
  return {
    train: new SplitSource(source, 0, assignment, partOptions),
    validation: new SplitSource(source, 1, assignment, partOptions),
    test: new SplitSource(source, 2, assignment, partOptions),
  };
}
