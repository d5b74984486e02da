import { describe, expect, it } from 'vitest';
import { isMtlError } from '../errors';
import { fitRecordSchema, recordColumns, RecordSchema, type CellValue, type RecordMapping, type RecordRow } from './records';

async function* rowsOf(values: readonly (readonly CellValue[])[], firstLine = 2): AsyncGenerator<RecordRow> {
  for (let i = 0; i < values.length; i++) yield { values: values[i]!, line: firstLine + i };
}

async function thrown(promise: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function encodeAll(schema: RecordSchema, rows: readonly (readonly CellValue[])[], file = 'test.csv'): number[][] {
  const encoder = schema.encoder(file);
  const out = new Float32Array(encoder.layout.rowWidth);
  return rows.map((values, i) => {
    encoder.encode(values, i + 2, out, 0);
    return Array.from(out);
  });
}

const MAPPING: RecordMapping = {
  inputs: ['x', 'colour', 'flag'],
  tasks: {
    price: { kind: 'regression', column: 'price' },
    kind: { kind: 'multiclass', column: 'kind' },
    spam: { kind: 'binary', column: 'spam' },
  },
};

// columns: x, colour, flag, price, kind, spam
const TRAIN: CellValue[][] = [
  ['1', 'red', 'yes', '10', 'cat', 'true'],
  ['2', 'blue', 'no', '', 'dog', '0'],
  ['3', 'red', 'YES', '30', '', '1'],
  ['6', 'green', 'no', '40', 'cat', 'no'],
];

describe('fitRecordSchema', () => {
  it('infers types, learns categories and classes in order of first appearance, and normalisation statistics', async () => {
    const schema = await fitRecordSchema(rowsOf(TRAIN), MAPPING, { file: 'train.csv' });
    const json = schema.toJSON();
    expect(json.rows).toBe(4);
    expect(json.inputs[0]).toEqual({ column: 'x', type: 'numeric', normalize: true, mean: 3, std: Math.sqrt(3.5) });
    expect(json.inputs[1]).toEqual({ column: 'colour', type: 'categorical', categories: ['red', 'blue', 'green'], frequencies: [0.5, 0.25, 0.25] });
    expect(json.inputs[2]).toEqual({ column: 'flag', type: 'boolean', mean: 0.5 });
    expect(json.tasks).toEqual([
      { name: 'price', kind: 'regression', columns: ['price'], labelled: 3 },
      { name: 'kind', kind: 'multiclass', columns: ['kind'], classes: ['cat', 'dog'], labelled: 3 },
      { name: 'spam', kind: 'binary', columns: ['spam'], labelled: 4 },
    ]);
    expect(schema.columns).toEqual(['x', 'colour', 'flag', 'price', 'kind', 'spam']);
    expect(schema.inputWidth).toBe(1 + 4 + 1);
    expect(schema.inputNames).toEqual(['x', 'colour=red', 'colour=blue', 'colour=green', 'colour=<unknown>', 'flag']);
    expect(schema.tasks).toEqual([
      { name: 'price', kind: 'regression', units: 1 },
      { name: 'kind', kind: 'multiclass', units: 2 },
      { name: 'spam', kind: 'binary', units: 1 },
    ]);
  });

  it('encodes rows: standardised numbers, one-hot with an unknown slot, 0/1 flags, targets and masks', async () => {
    const schema = await fitRecordSchema(rowsOf(TRAIN), MAPPING);
    const s = Math.sqrt(3.5);
    const rows = encodeAll(schema, [...TRAIN, ['3', 'purple', 'no', '5', 'dog', 'yes']]);
    // layout: x, colour×4, flag | price, kind, spam | masks price, kind, spam
    const expected = [
      [(1 - 3) / s, 1, 0, 0, 0, 1, 10, 0, 1, 1, 1, 1],
      [(2 - 3) / s, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1],
      [0, 1, 0, 0, 0, 1, 30, 0, 1, 1, 0, 1],
      [(6 - 3) / s, 0, 0, 1, 0, 0, 40, 0, 0, 1, 1, 1],
      [0, 0, 0, 0, 1, 0, 5, 1, 1, 1, 1, 1],
    ];
    rows.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 5)));
  });

  it('round-trips through JSON and encodes identically', async () => {
    const schema = await fitRecordSchema(rowsOf(TRAIN), MAPPING);
    const text = JSON.stringify(schema);
    const restored = RecordSchema.fromJSON(text);
    expect(restored.toJSON()).toEqual(schema.toJSON());
    expect(RecordSchema.fromJSON(JSON.parse(text)).tasks).toEqual(schema.tasks);
    // e.g. a schema made by another copy of @mtljs/core
    expect(RecordSchema.fromJSON({ toJSON: () => schema.toJSON() } as never).toJSON()).toEqual(schema.toJSON());
    expect(encodeAll(restored, TRAIN)).toEqual(encodeAll(schema, TRAIN));
  });

  it('uses explicit classes, categories and types, and reads JSON scalars', async () => {
    const mapping: RecordMapping = {
      inputs: [{ column: 'n', normalize: false }, { column: 'c', categories: ['b', 'a'] }, 'code'],
      tasks: {
        digit: { kind: 'multiclass', column: 'd', classes: [0, 1, 2] },
        yes: { kind: 'binary', column: 'y', classes: ['ham', 'spam'] },
        tags: { kind: 'multilabel', column: ['t1', 't2'] },
        xy: { kind: 'regression', column: ['rx', 'ry'] },
      },
    };
    const rows: CellValue[][] = [
      [1.5, 'a', 7, 2, 'spam', true, 0, 1, 2],
      [2.5, 'zzz', 8, 0, 'ham', 'no', 1, 3, 4],
      [3.5, 'b', 7, null, null, null, 1, null, 5],
    ];
    const schema = await fitRecordSchema(rowsOf(rows), mapping, { types: { code: 'categorical' } });
    expect(schema.toJSON().inputs[1]).toMatchObject({ categories: ['b', 'a'], frequencies: [0.5, 0.5] });
    expect(schema.toJSON().inputs[2]).toMatchObject({ type: 'categorical', categories: ['7', '8'] });
    expect(schema.tasks.map((t) => t.units)).toEqual([3, 1, 2, 2]);
    const encoded = encodeAll(schema, rows);
    // n, c×3, code×3 | digit, yes, t1 t2, rx ry | 4 masks
    expect(encoded[0]).toEqual([1.5, 0, 1, 0, 1, 0, 0, 2, 1, 1, 0, 1, 2, 1, 1, 1, 1]);
    expect(encoded[1]).toEqual([2.5, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 3, 4, 1, 1, 1, 1]);
    expect(encoded[2]).toEqual([3.5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('infers only from the first inferRows rows; a later word in a numeric column names file, line and column', async () => {
    const rows: CellValue[][] = [['1', '1'], ['2', '2'], ['oops', '3']];
    const mapping: RecordMapping = { inputs: ['a'], tasks: { t: { kind: 'regression', column: 'b' } } };
    const error = await thrown(fitRecordSchema(rowsOf(rows), mapping, { inferRows: 2, file: 'data.csv' }));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain("data.csv, line 4, column 'a'");
    expect((error as Error).message).toContain("types: { 'a': 'categorical' }");
    expect((error as { details: object }).details).toMatchObject({ file: 'data.csv', line: 4, column: 'a' });
    const wide = await fitRecordSchema(rowsOf(rows), mapping, { inferRows: 3 });
    expect(wide.toJSON().inputs[0]).toMatchObject({ type: 'categorical', categories: ['1', '2', 'oops'] });
  });

  it('reads decimal numbers only: hex, binary, octal, Infinity and blanks are not numbers', async () => {
    const mapping: RecordMapping = { inputs: ['x'], tasks: { t: { kind: 'regression', column: 't' } } };
    const numeric = await fitRecordSchema(rowsOf([[' 12 ', '1'], ['.5', '1'], ['5.', '1'], ['1e3', '1'], ['-0', '1'], ['+2', '1']]), mapping, { normalize: false });
    expect(numeric.toJSON().inputs[0]).toMatchObject({ type: 'numeric' });
    expect(encodeAll(numeric, [[' 12 ', '1'], ['.5', '1'], ['1e3', '1']]).map((r) => r[0])).toEqual([12, 0.5, 1000]);
    for (const text of ['0x10', '0b1', '0o7', 'Infinity', '1_0', '1e999', '--1', '0x']) {
      const schema = await fitRecordSchema(rowsOf([[text, '1'], ['1', '2']]), mapping);
      expect(schema.toJSON().inputs[0]!.type, text).toBe('categorical');
      expect(() => encodeAll(numeric, [[text, '1']]), text).toThrow(/is not a number/);
    }
    expect(() => encodeAll(numeric, [[' \u00a0', '1']])).toThrow(/empty input cell/);
  });

  it('missing input cells: an error by default, or the training mean, or zero', async () => {
    const rows: CellValue[][] = [['1', 'a', 'true', '1'], ['3', 'b', 'false', '2'], ['', '', '', '3']];
    const mapping: RecordMapping = { inputs: ['n', 'c', 'b'], tasks: { t: { kind: 'regression', column: 't' } } };
    const error = await thrown(fitRecordSchema(rowsOf(rows), mapping, { file: 'm.csv' }));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toMatch(/m\.csv, line 4, column 'n': empty input cell/);

    const meanSchema = await fitRecordSchema(rowsOf(rows), mapping, { missing: 'mean', missingValues: ['', 'NA'] });
    expect(meanSchema.toJSON().inputs[0]).toMatchObject({ mean: 2, std: 1 });
    expect(encodeAll(meanSchema, [['NA', ' ', '', '4']])[0]).toEqual([0, 0.5, 0.5, 0, 0.5, 4, 1]);
    const zeroSchema = await fitRecordSchema(rowsOf(rows), mapping, { missing: 'zero' });
    expect(encodeAll(zeroSchema, [['', '', '', '4']])[0]).toEqual([-2, 0, 0, 0, 0, 4, 1]);
    const schema = await fitRecordSchema(rowsOf(rows.slice(0, 2)), mapping);
    expect(() => encodeAll(schema, [['1', 'a', '', '5']], 'v.csv')).toThrow(/v\.csv, line 2, column 'b': empty input cell/);
  });

  it('targets that do not parse and unseen classes are BAD_DATA naming the task', async () => {
    const mapping: RecordMapping = {
      inputs: ['x'],
      tasks: { r: { kind: 'regression', column: 'r' }, b: { kind: 'binary', column: 'b' }, c: { kind: 'multiclass', column: 'c' } },
    };
    const bad = async (row: CellValue[], pattern: RegExp, task: string) => {
      const error = await thrown(fitRecordSchema(rowsOf([['1', '1', '0', 'u'], row]), mapping, { file: 'f.csv' }));
      expect(isMtlError(error, 'BAD_DATA')).toBe(true);
      expect((error as Error).message).toMatch(pattern);
      expect((error as { details: { task?: string } }).details.task).toBe(task);
    };
    await bad(['1', 'abc', '1', 'u'], /line 3, column 'r': "abc" is not a number \(task 'r'/, 'r');
    await bad(['1', '2', 'maybe', 'u'], /line 3, column 'b': "maybe" is not a binary label/, 'b');
    await bad(['1', '2', '2', 'u'], /column 'b': "2" is not a binary label/, 'b');
    const schema = await fitRecordSchema(rowsOf([['1', '1', '0', 'u'], ['2', '2', '1', 'v']]), mapping);
    expect(() => encodeAll(schema, [['1', '1', '1', 'w']], 'val.csv')).toThrow(/val\.csv, line 2, column 'c': class "w" of task 'c' was not seen in the training data; its 2 classes: u, v/);
    const objectCell = await thrown(fitRecordSchema(rowsOf([[{} as unknown as CellValue, '1', '0', 'u']]), mapping, { file: 'o.jsonl' }));
    expect((objectCell as Error).message).toMatch(/o\.jsonl, line 2, column 'x': expected a number, string, boolean or null, got an object/);
  });

  it('a multiclass task with no labelled row and no classes cannot be fitted', async () => {
    const error = await thrown(fitRecordSchema(rowsOf([['1', '']]), { inputs: ['x'], tasks: { c: { kind: 'multiclass', column: 'c' } } }));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain("task 'c' has no labelled row");
  });

  it('refuses bad mappings and options with BAD_CONFIG naming them', async () => {
    const cases: [unknown, RegExp][] = [
      [{ inputs: [], tasks: { t: { kind: 'regression', column: 'y' } } }, /needs `inputs`/],
      [{ inputs: ['x'], tasks: {} }, /needs `tasks`/],
      [{ inputs: ['x', 'x'], tasks: { t: { kind: 'regression', column: 'y' } } }, /'x' is listed twice/],
      [{ inputs: ['x'], tasks: { t: { kind: 'ranking', column: 'y' } } }, /tasks\.t\.kind must be one of/],
      [{ inputs: ['x'], tasks: { t: { kind: 'regression', column: 'x' } } }, /both an input and the target of task 't'/],
      [{ inputs: ['x'], tasks: { t: { kind: 'binary', column: ['a', 'b'] } } }, /a binary task reads one column/],
      [{ inputs: ['x'], tasks: { t: { kind: 'binary', column: 'y', classes: ['a'] } } }, /\[negative, positive\]/],
      [{ inputs: ['x'], tasks: { t: { kind: 'regression', column: 'y', classes: ['a'] } } }, /only for multiclass and binary/],
      [{ inputs: [{ column: 'x', typ: 'numeric' }], tasks: { t: { kind: 'regression', column: 'y' } } }, /unknown key 'typ'/],
      [{ inputs: ['x'], tasks: { t: { kind: 'regression', column: 'y' } }, extra: 1 }, /unknown key 'extra'/],
    ];
    for (const [mapping, pattern] of cases) {
      const error = await thrown(() => recordColumns(mapping as RecordMapping));
      expect(isMtlError(error, 'BAD_CONFIG'), String(pattern)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
    const ok: RecordMapping = { inputs: ['x'], tasks: { t: { kind: 'regression', column: 'y' } } };
    for (const [options, pattern] of [
      [{ inferRows: 0 }, /inferRows/],
      [{ missing: 'drop' }, /missing must be one of/],
      [{ types: { z: 'numeric' } }, /types names column 'z', which is not an input/],
      [{ types: { x: 'text' } }, /types\.x must be one of/],
    ] as const) {
      const error = await thrown(fitRecordSchema(rowsOf([]), ok, options as object));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
  });

  it('fromJSON refuses malformed schemas with BAD_CONFIG', async () => {
    const json = (await fitRecordSchema(rowsOf(TRAIN), MAPPING)).toJSON();
    for (const broken of [
      '{not json',
      { ...json, format: 'other' },
      { ...json, version: 2 },
      { ...json, inputs: [{ column: 'x', type: 'numeric', normalize: true, mean: 0, std: 0 }] },
      { ...json, tasks: [{ name: 'k', kind: 'multiclass', columns: ['k'], labelled: 0 }] },
    ]) {
      const error = await thrown(() => RecordSchema.fromJSON(broken as never));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    }
  });

  it('a numeric column whose values overflow the statistics is BAD_DATA, not NaN', async () => {
    const error = await thrown(fitRecordSchema(rowsOf([['1e308', '1'], ['-1e308', '2']]), { inputs: ['x'], tasks: { t: { kind: 'regression', column: 'y' } } }));
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
  });
});
