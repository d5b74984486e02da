import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../contracts';
import { isMtlError } from '../errors';
import { disposeBatch } from './memory';
import { chunksOf, recordBatches, recordSource, type RecordInput } from './record-source';
import { fitRecordSchema, type CellValue, type RecordMapping, type RecordRow } from './records';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const MAPPING: RecordMapping = {
  inputs: ['id'],
  tasks: { y: { kind: 'regression', column: 'y' }, c: { kind: 'multiclass', column: 'c' } },
};

/** Rows id = 0..n-1, y = id (empty every third row), c alternating a/b. */
function table(n: number): CellValue[][] {
  return Array.from({ length: n }, (_, i) => [String(i), i % 3 === 2 ? '' : String(i), i % 2 ? 'b' : 'a']);
}

function memoryInput(rows: CellValue[][], reads: { count: number } = { count: 0 }): RecordInput {
  return {
    name: 'mem.csv',
    reusable: true,
    async *read(columns) {
      reads.count += 1;
      expect(columns).toEqual(['id', 'y', 'c']);
      for (let i = 0; i < rows.length; i++) yield { values: rows[i]!, line: i + 2 } satisfies RecordRow;
    },
  };
}

async function collect(source: AsyncIterable<Batch>): Promise<{ ids: number[]; sizes: number[]; batches: { inputs: number[]; y: number[]; c: number[]; yMask?: number[]; cMask?: number[] }[] }> {
  const ids: number[] = [];
  const sizes: number[] = [];
  const batches = [];
  for await (const batch of source) {
    const inputs = Array.from((batch.inputs as tf.Tensor).dataSync());
    const entry = {
      inputs,
      y: Array.from(batch.targets.y!.dataSync()),
      c: Array.from(batch.targets.c!.dataSync()),
      ...(batch.masks?.y ? { yMask: Array.from(batch.masks.y.dataSync()) } : {}),
      ...(batch.masks?.c ? { cMask: Array.from(batch.masks.c.dataSync()) } : {}),
    };
    batches.push(entry);
    sizes.push((batch.inputs as tf.Tensor).shape[0]!);
    ids.push(...inputs);
    disposeBatch(batch);
  }
  return { ids, sizes, batches };
}

describe('recordSource', () => {
  it('fits on the first pass, batches in input order with masks only where rows are unlabelled, and re-iterates', async () => {
    const reads = { count: 0 };
    const source = recordSource(memoryInput(table(7), reads), { mapping: MAPPING, batchSize: 3, normalize: false });
    expect(source.size).toBeUndefined();
    const first = await collect(source);
    expect(reads.count).toBe(2); // fit + data
    expect(source.size).toBe(7);
    expect(first.sizes).toEqual([3, 3, 1]);
    expect(first.ids).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(first.batches[0]).toEqual({ inputs: [0, 1, 2], y: [0, 1, 0], c: [0, 1, 0], yMask: [1, 1, 0] });
    expect(first.batches[2]).toEqual({ inputs: [6], y: [6], c: [0] });
    const second = await collect(source);
    expect(reads.count).toBe(3); // the schema is fitted once
    expect(second).toEqual(first);
    const schema = await source.schema();
    expect(schema.tasks).toEqual([
      { name: 'y', kind: 'regression', units: 1 },
      { name: 'c', kind: 'multiclass', units: 2 },
    ]);
  });

  it('shuffled(seed) is a seed-fixed permutation through the shuffle buffer; different seeds differ', async () => {
    const source = recordSource(memoryInput(table(50)), { mapping: MAPPING, batchSize: 8, normalize: false, shuffleBuffer: 16 });
    const a = await collect(source.shuffled(1));
    const again = await collect(source.shuffled(1));
    const b = await collect(source.shuffled(2));
    expect(a.ids).toEqual(again.ids);
    expect(a.ids).not.toEqual(b.ids);
    expect([...a.ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a.ids).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    // targets and masks travel with their row
    for (const batch of a.batches) {
      batch.inputs.forEach((id, k) => {
        expect(batch.c[k]).toBe(id % 2);
        if (id % 3 === 2) expect(batch.yMask?.[k]).toBe(0);
        else expect(batch.y[k]).toBe(id);
      });
    }
    const unshuffled = recordSource(memoryInput(table(20)), { mapping: MAPPING, batchSize: 8, shuffleBuffer: 0 });
    expect((await collect(unshuffled.shuffled(3))).ids.length).toBe(20);
  });

  it('a seed option shuffles plain iteration; dropRemainder drops the short batch', async () => {
    const source = recordSource(memoryInput(table(20)), { mapping: MAPPING, batchSize: 8, normalize: false, seed: 5, dropRemainder: true });
    const run = await collect(source);
    expect(run.sizes).toEqual([8, 8]);
    expect(run.ids).not.toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it('leaves no tensor behind: batches are the consumer’s, and an early break creates none', async () => {
    const source = recordSource(memoryInput(table(40)), { mapping: MAPPING, batchSize: 4 });
    await source.schema();
    const before = tf.memory().numTensors;
    for await (const batch of source.shuffled(3)) disposeBatch(batch);
    for await (const batch of source) {
      disposeBatch(batch);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an encoding error mid-stream surfaces as BAD_DATA with file and line after earlier batches', async () => {
    const rows = table(10);
    const schema = await fitRecordSchema(
      (async function* () {
        for (const [i, values] of rows.entries()) yield { values, line: i + 2 };
      })(),
      MAPPING,
    );
    rows[6] = ['oops', '1', 'a'];
    const seen: number[] = [];
    let error: unknown;
    try {
      for await (const batch of recordSource(memoryInput(rows), { schema, batchSize: 2 })) {
        seen.push((batch.inputs as tf.Tensor).shape[0]!);
        disposeBatch(batch);
      }
    } catch (e) {
      error = e;
    }
    expect(seen).toEqual([2, 2, 2]);
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toMatch(/mem\.csv, line 8, column 'id': "oops" is not a number/);
  });

  it('takes a schema as JSON, and refuses inconsistent options with BAD_CONFIG', async () => {
    const schema = await recordSource(memoryInput(table(5)), { mapping: MAPPING, batchSize: 2 }).schema();
    const fromJson = recordSource(memoryInput(table(5)), { schema: schema.toJSON(), batchSize: 2 });
    expect((await collect(fromJson)).ids.length).toBe(5);
    const oneShot: RecordInput = { ...memoryInput(table(5)), reusable: false };
    const cases: [() => unknown, RegExp][] = [
      [() => recordSource(memoryInput(table(5)), { batchSize: 0, mapping: MAPPING }), /batchSize must be a positive integer/],
      [() => recordSource(memoryInput(table(5)), { batchSize: 2, mapping: MAPPING, shuffleBuffer: -1 }), /shuffleBuffer/],
      [() => recordSource(memoryInput(table(5)), { batchSize: 2 }), /give a column mapping/],
      [() => recordSource(memoryInput(table(5)), { batchSize: 2, schema, mapping: MAPPING }), /either a column mapping or a fitted schema/],
      [() => recordSource(memoryInput(table(5)), { batchSize: 2, schema, missing: 'mean' }), /missing only apply when fitting/],
      [() => recordSource(oneShot, { batchSize: 2, mapping: MAPPING }), /can be read only once/],
    ];
    for (const [make, pattern] of cases) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(isMtlError(error, 'BAD_CONFIG'), String(pattern)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
    expect(() => recordSource(oneShot, { batchSize: 2, schema })).not.toThrow();
  });

  it('recordBatches returns the row count', async () => {
    const rows = table(5);
    const schema = await recordSource(memoryInput(rows), { mapping: MAPPING, batchSize: 2 }).schema();
    const generator = recordBatches(
      (async function* () {
        for (const [i, values] of rows.entries()) yield { values, line: i + 2 };
      })(),
      schema,
      { batchSize: 2 },
    );
    let result = await generator.next();
    while (!result.done) {
      disposeBatch(result.value);
      result = await generator.next();
    }
    expect(result.value).toBe(5);
  });
});

describe('chunksOf', () => {
  it('reads a web ReadableStream and an async iterable alike', async () => {
    const parts = ['a,b\n', new TextEncoder().encode('1,2\n')];
    const stream = new ReadableStream<Uint8Array | string>({
      start(controller) {
        parts.forEach((p) => controller.enqueue(p));
        controller.close();
      },
    });
    const fromStream: (Uint8Array | string)[] = [];
    for await (const chunk of chunksOf(stream)) fromStream.push(chunk);
    expect(fromStream).toEqual(parts);
    const fromIterable: (Uint8Array | string)[] = [];
    for await (const chunk of chunksOf((async function* () {
      yield* parts;
    })())) fromIterable.push(chunk);
    expect(fromIterable).toEqual(parts);
  });
});
