import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMtlError } from '@mtljs/core';
import { afterAll, describe, expect, it } from 'vitest';
import { formatRecord, RUN_LOG_VERSION, type RunLogRecord } from './run-log';
import { parseRunLog, readRunLog } from './run-log-reader';

const RUN: RunLogRecord = {
  type: 'run',
  version: RUN_LOG_VERSION,
  name: 'hard+pcgrad seed 1',
  startedAt: '2025-01-02T03:04:05.000Z',
  tasks: [
    { name: 'a', kind: 'multiclass', units: 10 },
    { name: 'b', kind: 'regression', units: 1 },
  ],
  sharing: 'hard',
  weighting: 'pcgrad',
  site: 'shared',
  backend: 'cpu',
  seed: 1,
  role: 'multi-task',
  config: { epochs: 2, optimizer: { name: 'adam' } },
};

const EVERY_TYPE: RunLogRecord[] = [
  RUN,
  { type: 'step', step: 0, epoch: 0, loss: 3.5, losses: { a: 2.25, b: 1.25 }, weights: { a: 1, b: 1 }, ms: 12.5 },
  { type: 'cosine', step: 0, source: 'gramian', tasks: ['a', 'b'], values: [[1, -0.25], [-0.25, 1]] },
  {
    type: 'epoch',
    epoch: 0,
    steps: 15,
    trainLosses: { a: 2, b: 1 },
    meanWeights: { a: 1, b: 0.5 },
    validation: { a: { loss: 1.5, count: 64, metrics: { accuracy: 0.5 } }, b: { loss: 0.75, count: 64, metrics: { rmse: 0.875, mae: 0.5, r2: 0.25 } } },
    ms: 800,
  },
  { type: 'eval', split: 'test', tasks: { a: { loss: 1.25, count: 100, metrics: { accuracy: 0.625 } }, b: { loss: 0.5, count: 100, metrics: { rmse: 0.75 } } } },
  { type: 'checkpoint', epoch: 0, step: 15, path: 'runs/x/epoch-1.mtlckpt' },
  { type: 'warning', step: 7, message: "weighting 'mgda': its solver stopped before converging" },
  { type: 'end', status: 'completed', finishedAt: '2025-01-02T03:05:00.000Z', steps: 15 },
];

function expectBadData(action: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(isMtlError(caught, 'BAD_DATA'), `expected MtlError BAD_DATA, got ${String(caught)}`).toBe(true);
  for (const fragment of fragments) expect((caught as Error).message).toContain(fragment);
}

describe('formatRecord + parseRunLog', () => {
  it('round-trips every record type', () => {
    const text = EVERY_TYPE.map(formatRecord).join('');
    expect(text.split('\n')).toHaveLength(EVERY_TYPE.length + 1);
    const log = parseRunLog(text, 'run.jsonl');
    expect(log.run).toEqual(RUN);
    expect(log.steps).toEqual([EVERY_TYPE[1]]);
    expect(log.cosines).toEqual([EVERY_TYPE[2]]);
    expect(log.epochs).toEqual([EVERY_TYPE[3]]);
    expect(log.evals).toEqual([EVERY_TYPE[4]]);
    expect(log.checkpoints).toEqual([EVERY_TYPE[5]]);
    expect(log.warnings).toEqual([EVERY_TYPE[6]]);
    expect(log.end).toEqual(EVERY_TYPE[7]);
    // And back: the parsed records format to the same lines.
    const again = [log.run, ...log.steps, ...log.cosines, ...log.epochs, ...log.evals, ...log.checkpoints, ...log.warnings, log.end!].map(formatRecord).join('');
    expect(again).toBe(text);
  });

  it('writes NaN and ±Infinity as null, anywhere in a record', () => {
    const line = formatRecord({
      type: 'step',
      step: 3,
      epoch: 0,
      loss: Number.POSITIVE_INFINITY,
      losses: { a: Number.NaN, b: 0.5 },
      weights: { a: 0, b: Number.NEGATIVE_INFINITY },
      ms: Number.NaN,
    });
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({ type: 'step', step: 3, epoch: 0, loss: null, losses: { a: null, b: 0.5 }, weights: { a: 0, b: null }, ms: null });
    const log = parseRunLog(formatRecord(RUN) + line);
    expect(log.steps[0]!.losses.a).toBeNull();
    expect(log.steps[0]!.loss).toBeNull();
    const cosine = formatRecord({ type: 'cosine', step: 0, source: 'probe', tasks: ['a', 'b'], values: [[Number.NaN, 0], [0, 1]] });
    expect(JSON.parse(cosine).values[0][0]).toBeNull();
  });

  it('names the file and the 1-based line of a line that is not JSON', () => {
    const text = `${formatRecord(RUN)}${formatRecord(EVERY_TYPE[1]!)}{"type": "step", "step": 1,\n`;
    expectBadData(() => parseRunLog(text, 'run.jsonl'), 'run.jsonl', 'line 3', 'not valid JSON');
    try {
      parseRunLog(text, 'run.jsonl');
    } catch (error) {
      expect((error as { details: { line: number; file: string } }).details).toMatchObject({ line: 3, file: 'run.jsonl' });
    }
  });

  it('counts blank lines when it names a line, and skips them', () => {
    const text = `\n${formatRecord(RUN)}\n\n${formatRecord(EVERY_TYPE[1]!)}   \nnot json\n`;
    expectBadData(() => parseRunLog(text, 'gaps.jsonl'), 'gaps.jsonl', 'line 7');
    const fine = parseRunLog(`\n${formatRecord(RUN)}\n\r\n${formatRecord(EVERY_TYPE[1]!).replace('\n', '\r\n')}`);
    expect(fine.steps).toHaveLength(1);
  });

  it("refuses a log whose first record is not 'run'", () => {
    expectBadData(() => parseRunLog(formatRecord(EVERY_TYPE[1]!) + formatRecord(RUN), 'late.jsonl'), 'late.jsonl', 'line 1', "type 'run'", "got type 'step'");
    expectBadData(() => parseRunLog('', 'empty.jsonl'), 'empty.jsonl', 'empty');
    expectBadData(() => parseRunLog(`${formatRecord(RUN)}[1, 2]\n`, 'array.jsonl'), 'array.jsonl', 'line 2', "string 'type'");
  });

  it('refuses a second run record', () => {
    expectBadData(() => parseRunLog(formatRecord(RUN) + formatRecord(RUN), 'two.jsonl'), 'two.jsonl', 'line 2', "second 'run'");
  });

  it('names the missing or mistyped field and its line', () => {
    const { steps: _steps, ...noSteps } = EVERY_TYPE[7] as Extract<RunLogRecord, { type: 'end' }>;
    expectBadData(() => parseRunLog(formatRecord(RUN) + `${JSON.stringify(noSteps)}\n`, 'end.jsonl'), 'end.jsonl', 'line 2', "'end' record", "field 'steps'", 'missing');
    const badLoss = { ...(EVERY_TYPE[1] as object), losses: { a: 'high' } };
    expectBadData(() => parseRunLog(formatRecord(RUN) + `${JSON.stringify(badLoss)}\n`, 'x.jsonl'), 'line 2', "field 'losses.a'", 'a number or null', '"high"');
    const { tasks: _tasks, ...noTasks } = RUN as Extract<RunLogRecord, { type: 'run' }>;
    expectBadData(() => parseRunLog(`${JSON.stringify(noTasks)}\n`, 'y.jsonl'), 'y.jsonl', 'line 1', "field 'tasks'");
    const badValidation = { ...(EVERY_TYPE[3] as object), validation: { a: { loss: 1, metrics: {} } } };
    expectBadData(() => parseRunLog(formatRecord(RUN) + `${JSON.stringify(badValidation)}\n`), "field 'validation.a.count'");
    const ragged = { type: 'cosine', step: 0, source: 'gramian', tasks: ['a', 'b'], values: [[1, 0], [0]] };
    expectBadData(() => parseRunLog(formatRecord(RUN) + `${JSON.stringify(ragged)}\n`), "field 'values[1]'", 'an array of 2 numbers');
    expectBadData(() => parseRunLog(formatRecord({ ...RUN, version: 0 } as RunLogRecord)), "field 'version'");
    expectBadData(() => parseRunLog(formatRecord(RUN) + formatRecord({ ...(EVERY_TYPE[7] as object), status: 'done' } as unknown as RunLogRecord)), "field 'status'", "'completed'");
  });

  it('ignores record types it does not know, and unknown fields stay on the record', () => {
    const text = `${formatRecord(RUN)}{"type":"gpu-memory","step":0,"bytes":123}\n${JSON.stringify({ ...(EVERY_TYPE[1] as object), lr: 0.001 })}\n`;
    const log = parseRunLog(text);
    expect(log.steps).toHaveLength(1);
    expect((log.steps[0] as unknown as { lr: number }).lr).toBe(0.001);
    expect(Object.values(log).flat()).toHaveLength(2);
  });

  it('reads a log without an end record (a crashed run)', () => {
    const log = parseRunLog(EVERY_TYPE.slice(0, 4).map(formatRecord).join(''));
    expect(log.end).toBeUndefined();
    expect(log.epochs).toHaveLength(1);
  });
});

describe('readRunLog', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names it in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mtljs-report-'));
    dirs.push(dir);
    const good = join(dir, 'good.jsonl');
    await writeFile(good, EVERY_TYPE.map(formatRecord).join(''));
    expect((await readRunLog(good)).end?.status).toBe('completed');
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, `${formatRecord(RUN)}oops\n`);
    await expect(readRunLog(bad)).rejects.toThrow(`${bad}, line 2`);
    const missing = join(dir, 'missing.jsonl');
    await expect(readRunLog(missing)).rejects.toSatisfy((error: unknown) => isMtlError(error, 'BAD_CONFIG') && (error as Error).message.includes(missing));
  });
});
