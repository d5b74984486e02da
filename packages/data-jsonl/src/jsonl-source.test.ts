import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { disposeBatch, isMtlError, RecordSchema, Trainer, type Batch, type RecordMapping, type StepReport } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkNoLeak } from '@mtljs/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitJsonlSchema, jsonlRows, jsonlSource } from './index';

let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'mtljs-data-jsonl-'));
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

async function drain(source: AsyncIterable<Batch>): Promise<{ inputs: number[][]; targets: Record<string, number[]>; masks: Record<string, number[]> }> {
  const inputs: number[][] = [];
  const targets: Record<string, number[]> = {};
  const masks: Record<string, number[]> = {};
  for await (const batch of source) {
    const n = (batch.inputs as tf.Tensor).shape[0]!;
    inputs.push(...((batch.inputs as tf.Tensor).arraySync() as number[][]));
    for (const [task, t] of Object.entries(batch.targets)) {
      (targets[task] ??= []).push(...Array.from(t!.dataSync()));
      const mask = batch.masks?.[task];
      (masks[task] ??= []).push(...(mask ? Array.from(mask.dataSync()) : new Array<number>(n).fill(1)));
    }
    disposeBatch(batch);
  }
  return { inputs, targets, masks };
}

const FIELDS: RecordMapping = {
  inputs: ['user.age', 'user.country', 'premium'],
  tasks: {
    spend: { kind: 'regression', column: 'labels.spend' },
    churn: { kind: 'binary', column: 'labels.churn' },
  },
};

const LINES = [
  { user: { age: 20, country: 'fr' }, premium: true, labels: { spend: 10, churn: false } },
  { user: { age: 30, country: 'de' }, premium: false, labels: { churn: true } },
  { user: { age: 40, country: 'fr' }, premium: true, labels: { spend: 30, churn: null } },
];
const JSONL = LINES.map((l) => JSON.stringify(l)).join('\n') + '\n';

describe('jsonlSource', () => {
  it('reads dotted paths; absent or null targets are masked; inputs normalised; re-iterable', async () => {
    const path = file('basic.jsonl', JSONL);
    const source = jsonlSource(path, { fields: FIELDS, batchSize: 2 });
    const run = await drain(source);
    expect(source.size).toBe(3);
    const std = Math.sqrt(200 / 3);
    [-10 / std, 0, 10 / std].forEach((x, i) => expect(run.inputs[i]![0]).toBeCloseTo(x, 5));
    expect(run.inputs.map((r) => r.slice(1))).toEqual([
      [1, 0, 0, 1],
      [0, 1, 0, 0],
      [1, 0, 0, 1],
    ]);
    expect(run.targets).toEqual({ spend: [10, 0, 30], churn: [0, 1, 0] });
    expect(run.masks).toEqual({ spend: [1, 0, 1], churn: [1, 1, 0] });
    expect(await drain(source)).toEqual(run);
    const schema = await source.schema();
    expect(schema.toJSON().inputs.map((i) => i.type)).toEqual(['numeric', 'categorical', 'boolean']);
    expect(schema.inputNames).toEqual(['user.age', 'user.country=fr', 'user.country=de', 'user.country=<unknown>', 'premium']);
  });

  it('a broken JSON line is BAD_DATA naming file and line (blank lines counted)', async () => {
    const path = file('broken.jsonl', `${JSON.stringify(LINES[0])}\n\n{"user": {"age": 3\n`);
    const error = await caught(() => fitJsonlSchema(path, FIELDS));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, line 3: not valid JSON`));
    expect((error as { details: object }).details).toMatchObject({ file: path, line: 3 });
  });

  it('a line that is not an object, or a field holding an object, is BAD_DATA', async () => {
    const array = file('array.jsonl', `${JSON.stringify(LINES[0])}\n[1, 2]\n`);
    const error = await caught(() => fitJsonlSchema(array, FIELDS));
    expect((error as Error).message).toBe(`${array}, line 2: expected a JSON object, got an array`);
    const nested = file('nested.jsonl', `${JSON.stringify(LINES[0])}\n${JSON.stringify({ ...LINES[0], premium: { yes: 1 } })}\n`);
    const nestedError = await caught(() => fitJsonlSchema(nested, FIELDS));
    expect(isMtlError(nestedError, 'BAD_DATA')).toBe(true);
    expect((nestedError as Error).message).toBe(`${nested}, line 2, column 'premium': expected a number, string, boolean or null, got an object`);
  });

  it('a field that no record has is BAD_CONFIG listing the fields seen', async () => {
    const path = file('typo.jsonl', JSONL);
    const error = await caught(() =>
      fitJsonlSchema(path, { ...FIELDS, tasks: { spend: { kind: 'regression', column: 'labels.spnd' } } }),
    );
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect((error as Error).message).toBe(
      `${path}: the mapping names field 'labels.spnd', which no record has; fields seen: user.age, user.country, premium, labels.spend, labels.churn`,
    );
    // Past the type-inference window, an absent input field fails at its first record instead.
    const inputTypo = await caught(() => fitJsonlSchema(path, { ...FIELDS, inputs: ['user.agee'] }, { inferRows: 1 }));
    expect(isMtlError(inputTypo, 'BAD_DATA')).toBe(true);
    expect((inputTypo as Error).message).toContain(`${path}, line 1, column 'user.agee': no value (the field is absent)`);
    const small = await caught(() => fitJsonlSchema(path, { ...FIELDS, inputs: ['user.agee'] }));
    expect(isMtlError(small, 'BAD_CONFIG')).toBe(true);
  });

  it('reads literal dotted keys and array elements', async () => {
    const rows = [];
    const text = '{"a.b": 1, "c": {"d": [5, 6]}}\n';
    for await (const row of jsonlRows((async function* () {
      yield text;
    })(), ['a.b', 'c.d.1', 'c.d.7', 'constructor'])) rows.push(row);
    expect(rows).toEqual([{ values: [1, 6, undefined, undefined], line: 1 }]);
  });

  it('reads .jsonl.gz; a truncated gzip is BAD_DATA naming file and byte offset', async () => {
    const gz = gzipSync(Buffer.from(JSONL));
    const path = file('data.jsonl.gz', gz);
    expect(await drain(jsonlSource(path, { fields: FIELDS, batchSize: 2 }))).toEqual(await drain(jsonlSource(file('plain.jsonl', JSONL), { fields: FIELDS, batchSize: 2 })));
    const truncated = file('cut.jsonl.gz', gz.subarray(0, gz.length - 5));
    const error = await caught(() => drain(jsonlSource(truncated, { fields: FIELDS, batchSize: 2 })));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain(`${truncated}: the gzip data ends early (truncated file?) at byte offset ${gz.length - 5}`);
  });

  it('a line longer than maxLineLength is BAD_DATA', async () => {
    const path = file('long.jsonl', `${JSON.stringify(LINES[0])}\n{"user": "${'x'.repeat(500)}"}\n`);
    const error = await caught(() => fitJsonlSchema(path, FIELDS, { maxLineLength: 200 }));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain(`${path}, line 2: the line is longer than maxLineLength (200 characters)`);
  });

  it('streams: chunks split inside UTF-8 characters, CRLF, a BOM, web ReadableStreams, one-shot rules', async () => {
    const text = '\uFEFF' + LINES.map((l) => JSON.stringify({ ...l, user: { ...l.user, country: `${l.user.country}-é€` } })).join('\r\n');
    const bytes = new TextEncoder().encode(text);
    const open = () =>
      (async function* () {
        for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
      })();
    const schema = await fitJsonlSchema(open, FIELDS, { name: 'upload.jsonl' });
    expect(schema.toJSON().inputs[1]).toMatchObject({ categories: ['fr-é€', 'de-é€'] });
    const reference = await drain(jsonlSource(open, { schema, batchSize: 2 }));
    expect(reference.targets.spend).toEqual([10, 0, 30]);
    const web = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    const oneShot = jsonlSource(web, { schema: RecordSchema.fromJSON(schema.toJSON()), batchSize: 2, name: 'web.jsonl' });
    expect(await drain(oneShot)).toEqual(reference);
    const again = await caught(() => drain(oneShot));
    expect(isMtlError(again, 'BAD_CONFIG')).toBe(true);
    expect((again as Error).message).toContain('web.jsonl: this stream was already read');
  });

  it('bad options are BAD_CONFIG naming them', async () => {
    const path = file('opts.jsonl', JSONL);
    for (const [run, pattern] of [
      [() => jsonlSource(path, { fields: FIELDS, batchSize: -1 }), /batchSize/],
      [() => jsonlSource(path, { fields: FIELDS, batchSize: 2, maxLineLength: 0 }), /maxLineLength/],
      [() => jsonlSource(path, { columns: FIELDS, batchSize: 2 } as never), /unknown option 'columns'/],
      [() => jsonlSource(path, { batchSize: 2 }), /give a column mapping/],
    ] as [() => unknown, RegExp][]) {
      const error = await caught(run);
      expect(isMtlError(error, 'BAD_CONFIG'), String(pattern)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
    const missing = await caught(() => fitJsonlSchema(join(dir, 'nope.jsonl'), FIELDS));
    expect(isMtlError(missing, 'BAD_CONFIG')).toBe(true);
  });

  it('leaves no tensor behind over repeated passes', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ user: { age: i, country: i % 3 ? 'fr' : 'de' }, premium: i % 2 === 0, labels: i % 4 ? { spend: i } : { churn: i % 3 === 0 } }));
    const path = file('leak.jsonl', lines.join('\n'));
    const source = jsonlSource(path, { fields: FIELDS, batchSize: 8, shuffleBuffer: 10 });
    await checkNoLeak(
      async (i) => {
        for await (const batch of i % 2 ? source.shuffled(i) : source) disposeBatch(batch);
      },
      { steps: 4, label: 'jsonlSource' },
    );
  });

  it('trains with masks: the first step averages each task over its labelled records', async () => {
    const path = file('train.jsonl', JSONL);
    const schema = await fitJsonlSchema(path, FIELDS);
    const model = hardSharing().build({ tasks: schema.tasks, inputShape: [schema.inputWidth], encoder: { type: 'mlp', units: [3] } }, { seed: 1 });
    const current = model.getWeights();
    // Zero weights: spend predicts 0, churn's logit is 0 (BCE = log 2 on every labelled record).
    const zeros = Object.fromEntries(Object.entries(current).map(([k, v]) => [k, tf.zerosLike(v)]));
    model.setWeights(zeros);
    [...Object.values(current), ...Object.values(zeros)].forEach((t) => t.dispose());
    const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.01 }, seed: 1 });
    const reports: StepReport[] = [];
    await trainer.fit(jsonlSource(path, { schema, batchSize: 3 }), { epochs: 1, shuffle: false, callbacks: { onStep: (r) => void reports.push(r) } });
    expect(reports[0]!.losses.spend).toBeCloseTo((10 ** 2 + 30 ** 2) / 2, 3);
    expect(reports[0]!.losses.churn).toBeCloseTo(Math.log(2), 5);
    trainer.dispose();
    model.dispose();
  });
});
