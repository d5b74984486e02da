import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { disposeBatch, isMtlError, RecordSchema, type Batch, type RecordMapping, type RecordRow } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvRows, csvSource, fitCsvSchema } from './index';

let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'mtljs-data-csv-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function caught(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

async function drain(source: AsyncIterable<Batch>): Promise<{ inputs: number[][]; targets: Record<string, number[]>; masks: Record<string, number[]>; sizes: number[] }> {
  const inputs: number[][] = [];
  const targets: Record<string, number[]> = {};
  const masks: Record<string, number[]> = {};
  const sizes: number[] = [];
  for await (const batch of source) {
    const n = (batch.inputs as tf.Tensor).shape[0]!;
    sizes.push(n);
    inputs.push(...((batch.inputs as tf.Tensor).arraySync() as number[][]));
    for (const [task, t] of Object.entries(batch.targets)) (targets[task] ??= []).push(...Array.from(t!.dataSync()));
    for (const task of Object.keys(batch.targets)) {
      const mask = batch.masks?.[task];
      (masks[task] ??= []).push(...(mask ? Array.from(mask.dataSync()) : new Array<number>(n).fill(1)));
    }
    disposeBatch(batch);
  }
  return { inputs, targets, masks, sizes };
}

const MAPPING: RecordMapping = {
  inputs: ['age', 'colour'],
  tasks: {
    price: { kind: 'regression', column: 'price' },
    kind: { kind: 'multiclass', column: 'kind' },
  },
};

const CSV = ['age,colour,price,kind', '20,red,1.5,cat', '30,blue,,dog', '40,red,3.5,', '50,green,4,cat', ''].join('\n');

describe('csvSource', () => {
  it('streams a file: schema fitted on the first pass, inputs normalised, empty targets masked, re-iterable', async () => {
    const path = file('basic.csv', CSV);
    const source = csvSource(path, { columns: MAPPING, batchSize: 3 });
    const first = await drain(source);
    expect(source.size).toBe(4);
    expect(first.sizes).toEqual([3, 1]);
    const std = Math.sqrt(125);
    first.inputs.forEach((row, i) => expect(row[0]).toBeCloseTo((20 + 10 * i - 35) / std, 5));
    expect(first.inputs.map((row) => row.slice(1))).toEqual([
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 1, 0],
    ]);
    expect(first.targets).toEqual({ price: [1.5, 0, 3.5, 4], kind: [0, 1, 0, 0] });
    expect(first.masks).toEqual({ price: [1, 0, 1, 1], kind: [1, 1, 0, 1] });
    expect(await drain(source)).toEqual(first);
    const schema = await source.schema();
    expect(schema.tasks).toEqual([
      { name: 'price', kind: 'regression', units: 1 },
      { name: 'kind', kind: 'multiclass', units: 2 },
    ]);
  });

  it('fitCsvSchema + schema JSON encode a validation file like the training file; unseen categories use the unknown slot', async () => {
    const train = file('train.csv', CSV);
    const valid = file('valid.csv', 'kind,price,colour,age\ndog,2,purple,35\n');
    const schema = await fitCsvSchema(train, MAPPING);
    const restored = RecordSchema.fromJSON(JSON.stringify(schema));
    const run = await drain(csvSource(valid, { schema: restored, batchSize: 8 }));
    expect(run.inputs).toEqual([[0, 0, 0, 0, 1]]);
    expect(run.targets).toEqual({ price: [2], kind: [1] });
    const unseen = file('unseen.csv', 'age,colour,price,kind\n1,red,2,bird\n');
    const error = await caught(() => drain(csvSource(unseen, { schema, batchSize: 8 })));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain(`${unseen}, line 2, column 'kind': class "bird" of task 'kind' was not seen in the training data`);
  });

  it('handles quotes, embedded delimiters and newlines, CRLF, a BOM, blank lines, and reports the line a record starts on', async () => {
    const text = '\uFEFFage,colour,price,kind\r\n"20","dark, red",1,"c""at"\r\n\r\n30,"multi\nline",2,dog\r\n   \r\n40,blue,x,dog\r\n';
    const path = file('quoted.csv', text);
    const rows: RecordRow[] = [];
    const error = await caught(async () => {
      for await (const row of csvRows((async function* () {
        yield text;
      })(), ['colour', 'kind', 'price'], { name: 'q.csv' })) rows.push(row);
      await drain(csvSource(path, { columns: MAPPING, batchSize: 4 }));
    });
    expect(rows).toEqual([
      { values: ['dark, red', 'c"at', '1'], line: 2 },
      { values: ['multi\nline', 'dog', '2'], line: 4 },
      { values: ['blue', 'dog', 'x'], line: 7 },
    ]);
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toBe(`${path}, line 7, column 'price': "x" is not a number (task 'price' is a regression)`);
    expect((error as { details: object }).details).toMatchObject({ file: path, line: 7, column: 'price', task: 'price' });
  });

  it('text in a numeric input column is BAD_DATA naming file, line and column', async () => {
    const path = file('text.csv', 'age,colour,price,kind\n1,red,1,a\n2,red,1,a\n3,red,1,a\nold,red,1,a\n');
    const error = await caught(() => fitCsvSchema(path, MAPPING, { inferRows: 2 }));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, line 5, column 'age': "old" is not a number`));
    expect((error as { details: object }).details).toMatchObject({ file: path, line: 5, column: 'age' });
  });

  it('a ragged row is BAD_DATA naming file and line', async () => {
    const path = file('ragged.csv', 'age,colour,price,kind\n1,red,1,a\n2,red,1\n');
    const error = await caught(() => drain(csvSource(path, { columns: MAPPING, batchSize: 2 })));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toBe(`${path}, line 3: 3 fields where the header has 4`);
    expect((error as { details: object }).details).toMatchObject({ file: path, line: 3 });
  });

  it('an unclosed quote and an empty file are BAD_DATA', async () => {
    const open = file('open.csv', 'age,colour,price,kind\n1,"red,1,a\n2,red,1,a\n');
    const error = await caught(() => fitCsvSchema(open, MAPPING));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toMatch(/open\.csv, line \d+: a quoted field is still open/);
    const empty = file('empty.csv', '');
    const emptyError = await caught(() => fitCsvSchema(empty, MAPPING));
    expect(isMtlError(emptyError, 'BAD_DATA')).toBe(true);
    expect((emptyError as Error).message).toContain('expected a header line');
  });

  it('unknown columns in the mapping are BAD_CONFIG listing the header', async () => {
    const path = file('cols.csv', CSV);
    const error = await caught(() => fitCsvSchema(path, { inputs: ['age', 'size'], tasks: { p: { kind: 'regression', column: 'cost' } } }));
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect((error as Error).message).toBe(`${path}: the mapping names columns 'size', 'cost', not in the header; its columns: age, colour, price, kind`);
    expect((error as { details: { available: string[] } }).details.available).toEqual(['age', 'colour', 'price', 'kind']);
  });

  it('reads .csv.gz; a truncated or corrupt gzip is BAD_DATA naming the file and byte offset', async () => {
    const gz = gzipSync(Buffer.from(CSV));
    const path = file('data.csv.gz', gz);
    const plain = await drain(csvSource(file('plain.csv', CSV), { columns: MAPPING, batchSize: 2 }));
    expect(await drain(csvSource(path, { columns: MAPPING, batchSize: 2 }))).toEqual(plain);
    const truncated = file('truncated.csv.gz', gz.subarray(0, gz.length - 12));
    const error = await caught(() => drain(csvSource(truncated, { columns: MAPPING, batchSize: 2 })));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain(`${truncated}: the gzip data ends early (truncated file?) at byte offset ${gz.length - 12}`);
    expect((error as { details: object }).details).toMatchObject({ file: truncated, offset: gz.length - 12 });
    const corrupt = Buffer.from(gz);
    corrupt[12] ^= 0xff;
    corrupt[13] ^= 0xff;
    const corruptPath = file('corrupt.csv.gz', corrupt);
    const corruptError = await caught(() => fitCsvSchema(corruptPath, MAPPING));
    expect(isMtlError(corruptError, 'BAD_DATA')).toBe(true);
    expect((corruptError as Error).message).toMatch(/corrupt\.csv\.gz: the gzip data (is corrupt|ends early)/);
    expect(typeof (corruptError as { details: { offset: unknown } }).details.offset).toBe('number');
  });

  it('a missing file is BAD_CONFIG naming it', async () => {
    const path = join(dir, 'nope.csv');
    const error = await caught(() => fitCsvSchema(path, MAPPING));
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect((error as Error).message).toContain(`${path}: cannot read the file`);
  });

  it('header: false names columns by position; header: [...] names them; other delimiters', async () => {
    const noHeader = file('noheader.tsv', '20\tred\t1\tcat\n30\tblue\t2\tdog\n');
    const positional = await drain(
      csvSource(noHeader, { columns: { inputs: ['0'], tasks: { k: { kind: 'multiclass', column: '3' } } }, batchSize: 4, delimiter: '\t', header: false, normalize: false }),
    );
    expect(positional.inputs).toEqual([[20], [30]]);
    expect(positional.targets.k).toEqual([0, 1]);
    const named = await drain(csvSource(noHeader, { columns: MAPPING, batchSize: 4, delimiter: '\t', header: ['age', 'colour', 'price', 'kind'] }));
    expect(named.sizes).toEqual([2]);
  });

  it('streams: a one-shot stream needs a schema and is read once; a function re-opens; web ReadableStreams work', async () => {
    const schema = await fitCsvSchema(() => [Buffer.from(CSV)].values() as unknown as AsyncIterable<Uint8Array>, MAPPING).catch((e: unknown) => e);
    // A sync iterable is not a byte stream: the message says what is accepted.
    expect(isMtlError(schema, 'BAD_CONFIG')).toBe(true);
    const open = () =>
      (async function* () {
        // chunk boundaries inside a field and inside a quoted newline
        for (let i = 0; i < CSV.length; i += 7) yield Buffer.from(CSV.slice(i, i + 7));
      })();
    const fitted = await fitCsvSchema(open, MAPPING, { name: 'chunks.csv' });
    const reference = await drain(csvSource(file('ref.csv', CSV), { schema: fitted, batchSize: 3 }));
    const reopened = csvSource(open, { columns: MAPPING, batchSize: 3 });
    expect(await drain(reopened)).toEqual(reference);
    expect(await drain(reopened)).toEqual(reference);
    const oneShot = csvSource(open(), { schema: fitted, batchSize: 3, name: 'upload.csv' });
    expect(await drain(oneShot)).toEqual(reference);
    const again = await caught(() => drain(oneShot));
    expect(isMtlError(again, 'BAD_CONFIG')).toBe(true);
    expect((again as Error).message).toContain('upload.csv: this stream was already read');
    const needsSchema = await caught(() => csvSource(open(), { columns: MAPPING, batchSize: 3 }));
    expect(isMtlError(needsSchema, 'BAD_CONFIG')).toBe(true);
    const web = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(CSV));
          controller.close();
        },
      });
    expect(await drain(csvSource(web, { schema: fitted, batchSize: 3 }))).toEqual(reference);
    const gzStream = () =>
      (async function* () {
        yield gzipSync(Buffer.from(CSV));
      })();
    expect(await drain(csvSource(gzStream, { schema: fitted, batchSize: 3, gzip: true }))).toEqual(reference);
  });

  it('bad options are BAD_CONFIG naming them', async () => {
    const path = file('opts.csv', CSV);
    const cases: [() => unknown, RegExp][] = [
      [() => csvSource(path, { columns: MAPPING, batchSize: 0 }), /batchSize/],
      [() => csvSource(path, { columns: MAPPING, batchSize: 2, delimiter: '' }), /delimiter/],
      [() => csvSource(path, { columns: MAPPING, batchSize: 2, quote: ',' }), /quote/],
      [() => csvSource(path, { columns: MAPPING, batchSize: 2, bogus: 1 } as never), /unknown option 'bogus'/],
      [() => csvSource(path, { batchSize: 2 }), /give a column mapping/],
      [() => csvSource(42 as never, { columns: MAPPING, batchSize: 2 }), /expected a file path/],
    ];
    for (const [run, pattern] of cases) {
      const error = await caught(run);
      expect(isMtlError(error, 'BAD_CONFIG'), String(pattern)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
  });

  it('missing: mean fills empty input cells; the default names file, line and column', async () => {
    const path = file('holes.csv', 'age,colour,price,kind\n20,red,1,a\n,red,2,b\n40,,3,a\n');
    const error = await caught(() => fitCsvSchema(path, MAPPING));
    expect((error as Error).message).toBe(`${path}, line 3, column 'age': empty input cell (set missing: 'mean' or 'zero' to fill it)`);
    const run = await drain(csvSource(path, { columns: MAPPING, batchSize: 4, missing: 'mean' }));
    expect(run.inputs[1]![0]).toBeCloseTo(0, 6);
    expect(run.inputs[2]!.slice(1)).toEqual([1, 0]);
  });

  it('leaves no tensor behind over repeated passes (shuffled and in order)', async () => {
    const path = file('leak.csv', ['age,colour,price,kind', ...Array.from({ length: 50 }, (_, i) => `${i},${i % 3 ? 'red' : 'blue'},${i % 4 ? i : ''},${i % 2 ? 'a' : 'b'}`)].join('\n'));
    const source = csvSource(path, { columns: MAPPING, batchSize: 8, shuffleBuffer: 16 });
    await checkNoLeak(
      async (i) => {
        for await (const batch of i % 2 ? source.shuffled(i) : source) disposeBatch(batch);
      },
      { steps: 4, label: 'csvSource' },
    );
  });
});
