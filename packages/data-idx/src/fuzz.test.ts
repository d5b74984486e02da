import { gzipSync } from 'node:zlib';
import * as fc from 'fast-check';
import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { encodeIdx } from './format';
import type { IdxDtype } from './format';
import { readIdx } from './read';
import { idxRecords } from './records';

const DTYPES: IdxDtype[] = ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'];
const RUN_TIMEOUT_MS = 2000;
/** Outcomes over all runs, to show the mutations reach both valid and invalid files. */
const outcomes = { ok: 0, mtlError: 0 };

/** A tiny valid IDX file: rank 1–3, at most 4 values a dimension. */
const validFile = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }),
    seed: fc.integer(),
  })
  .map(({ dtype, shape, seed }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = Array.from({ length: count }, (_, i) => ((seed + i * 37) % 100) - (dtype === 'uint8' ? 0 : 50));
    return encodeIdx({ dtype, shape, data });
  });

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'overwrite'; at: number; bytes: number[] };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 6 }) }),
  // Header-sized overwrites reach the type code, rank and dimensions (huge dims included).
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.integer({ min: 0, max: 12 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Array.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    switch (m.kind) {
      case 'flip':
        if (out.length) out[at % out.length]! ^= m.mask;
        break;
      case 'truncate':
        out = out.slice(0, at);
        break;
      case 'insert':
        out.splice(at, 0, ...m.bytes);
        break;
      case 'delete':
        out.splice(at, m.length);
        break;
      case 'overwrite':
        m.bytes.forEach((b, i) => {
          if (m.at + i < out.length) out[m.at + i] = b;
        });
        break;
    }
  }
  return Uint8Array.from(out);
}

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Runs both readers; anything but success or an MtlError (or a run over the time limit) fails. */
async function parseBoth(bytes: Uint8Array, chunkSize: number): Promise<void> {
  const attempt = async (run: () => Promise<unknown>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
    });
    try {
      await Promise.race([run(), timeout]);
      outcomes.ok += 1;
    } catch (error) {
      if (!isMtlError(error)) throw error;
      outcomes.mtlError += 1;
      expect(error.code).toBe('BAD_DATA');
      expect(error.message).toContain('fuzz.idx');
    } finally {
      clearTimeout(timer);
    }
  };
  let whole: Awaited<ReturnType<typeof readIdx>> | undefined;
  await attempt(async () => {
    whole = await readIdx(bytes, { file: 'fuzz.idx', maxBytes: 1 << 20 });
  });
  let streamed: number[] | undefined;
  await attempt(async () => {
    const values: number[] = [];
    for await (const record of idxRecords(() => chunks(bytes, chunkSize), { file: 'fuzz.idx', maxRecordBytes: 1 << 20 })) values.push(...record.data);
    streamed = values;
  });
  // Both readers agree on what a valid file holds.
  if (whole && streamed) expect(streamed).toEqual(Array.from(whole.data));
}

describe('fuzz: mutated IDX files end in success or an MtlError', () => {
  it('plain files: 1500 mutations (byte flips, truncations, insertions, deletions, header overwrites)', async () => {
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(validFile, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 9 }), async (file, mutations, chunkSize) => {
        const bytes = mutate(file, mutations);
        await parseBoth(bytes, chunkSize).catch((error) => {
          failures += 1;
          throw error;
        });
      }),
      { numRuns: 1500, seed: 20240611 },
    );
    expect(failures).toBe(0);
  });

  it('gzipped files: 1200 mutations of the compressed bytes, and of the content before compression', async () => {
    await fc.assert(
      fc.asyncProperty(
        validFile,
        fc.array(mutation, { minLength: 1, maxLength: 2 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        async (file, mutations, beforeCompression, chunkSize) => {
          const bytes = beforeCompression ? gzipSync(mutate(file, mutations)) : mutate(gzipSync(file), mutations);
          await parseBoth(bytes, chunkSize);
        },
      ),
      { numRuns: 1200, seed: 7 },
    );
  });

  it('random bytes, with and without a gzip header: 500 runs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('none', 'gzip-magic', 'idx-magic'), async (random, prefix) => {
        const head = prefix === 'gzip-magic' ? [0x1f, 0x8b] : prefix === 'idx-magic' ? [0, 0] : [];
        await parseBoth(Uint8Array.from([...head, ...random]), 7);
      }),
      { numRuns: 500, seed: 3 },
    );
    console.log(`fuzz outcomes over all runs (two readers each): ${outcomes.ok} parsed, ${outcomes.mtlError} MtlError`);
    expect(outcomes.ok).toBeGreaterThan(100);
    expect(outcomes.mtlError).toBeGreaterThan(1000);
  });
});
