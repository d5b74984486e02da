import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { gzipSync } from 'node:zlib';
import { disposeBatch, isMtlError, type RecordMapping } from '@mtljs/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { csvSource } from './index';

// Random mutations of small valid CSV files: every run must end in success or an MtlError
// (BAD_DATA / BAD_CONFIG naming the input), never another exception, a hang or a leaked tensor.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const MAPPING: RecordMapping = {
  inputs: ['a', 'b'],
  tasks: { y: { kind: 'regression', column: 'y' }, c: { kind: 'multiclass', column: 'c' }, f: { kind: 'binary', column: 'f' } },
};

const row = fc.record({
  a: fc.integer({ min: -999, max: 999 }).map(String),
  b: fc.constantFrom('red', 'blue', '"dark, red"', '"say ""hi"""', '"two\nlines"'),
  y: fc.oneof(fc.constant(''), fc.double({ min: -100, max: 100, noNaN: true }).map((x) => x.toPrecision(4))),
  c: fc.constantFrom('', 'p', 'q', 'r'),
  f: fc.constantFrom('', '0', '1', 'yes', 'no'),
});

const validCsv = fc
  .tuple(fc.array(row, { minLength: 1, maxLength: 6 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
  .map(([rows, eol, trailing]) => ['a,b,y,c,f', ...rows.map((r) => [r.a, r.b, r.y, r.c, r.f].join(','))].join(eol) + (trailing ? eol : ''));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'bytes'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(',', '"', '\n', '\r', '""', ',,', '\uFEFF', 'x', '1e999', ' ') }),
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = input;
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
    const insert = (extra: Uint8Array) => new Uint8Array([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)]);
    if (m.kind === 'flip' && bytes.length > 0) {
      bytes = Uint8Array.from(bytes);
      bytes[at % bytes.length] ^= 1 << m.bit;
    } else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
    else if (m.kind === 'insert') bytes = insert(new TextEncoder().encode(m.text));
    else if (m.kind === 'bytes') bytes = insert(m.bytes);
    else if (m.kind === 'delete') bytes = new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + m.length)]);
  }
  return bytes;
}

/** Runs `work`; a run still going after `ms` is a hang. */
async function withinTime(work: Promise<unknown>, ms: number): Promise<{ error?: unknown; hung?: boolean }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<{ hung: boolean }>((resolve) => {
    timer = setTimeout(() => resolve({ hung: true }), ms);
  });
  try {
    return await Promise.race([work.then(() => ({}), (error: unknown) => ({ error })), hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function consume(bytes: Uint8Array, chunkSize: number, gzip: boolean): Promise<void> {
  const open = () =>
    (async function* () {
      for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
    })();
  const source = csvSource(open, { columns: MAPPING, batchSize: 2, name: 'fuzz.csv', gzip, missing: 'mean' });
  for await (const batch of source.shuffled(1)) disposeBatch(batch);
}

function checkOutcome(outcome: { error?: unknown; hung?: boolean }, tensorsBefore: number): void {
  expect(outcome.hung, 'the parser hung').toBeUndefined();
  if (outcome.error !== undefined) {
    const error = outcome.error;
    if (!isMtlError(error) || !['BAD_DATA', 'BAD_CONFIG'].includes(error.code)) {
      throw new Error(`not an MtlError BAD_DATA/BAD_CONFIG: ${String((error as Error)?.stack ?? error)}`);
    }
    expect(error.message).toContain('fuzz.csv');
  }
  expect(tf.memory().numTensors).toBe(tensorsBefore);
}

describe('CSV parser fuzz', () => {
  it('1000 mutated CSV files end in batches or an MtlError, without hangs or leaks', async () => {
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(validCsv, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 64 }), async (csv, mutations, chunkSize) => {
        const before = tf.memory().numTensors;
        const outcome = await withinTime(consume(mutate(new TextEncoder().encode(csv), mutations), chunkSize, false), 5000);
        if (outcome.error) failures += 1;
        checkOutcome(outcome, before);
      }),
      { numRuns: 1000 },
    );
    // Sanity: the mutations do break files, and not all of them.
    expect(failures).toBeGreaterThan(50);
    expect(failures).toBeLessThan(1000);
  });

  it('300 mutated .csv.gz streams end in batches or an MtlError', async () => {
    await fc.assert(
      fc.asyncProperty(validCsv, fc.array(mutation, { minLength: 1, maxLength: 2 }), fc.integer({ min: 1, max: 64 }), async (csv, mutations, chunkSize) => {
        const before = tf.memory().numTensors;
        const outcome = await withinTime(consume(mutate(gzipSync(csv), mutations), chunkSize, true), 5000);
        checkOutcome(outcome, before);
      }),
      { numRuns: 300 },
    );
  });
});
