import * as tf from '@tensorflow/tfjs-core';
import { disposeBatch, isMtlError, register, Trainer, useBackend, type Batch, type StepReport } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { pcgrad } from '@mtljs/weighting-pcgrad';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRunLog } from './run-log-reader';
import { RunLogWriter } from './run-log-writer';

// 240 training examples in batches of 16: 15 steps an epoch, 30 steps in 2 epochs.
const data = syntheticTasks({ tasks: 3, correlation: 0.5, inputDim: 8, trainSize: 240, validationSize: 48, batchSize: 16, sinusoids: 2, seed: 3 });
const EPOCHS = 2;
const STEPS = 30;

beforeAll(async () => {
  register(cpuBackend());
  await useBackend('cpu', { log: () => {} });
});

async function firstBatch(): Promise<Batch> {
  for await (const batch of data.validation) return batch;
  throw new Error('empty validation source');
}

/** Trains a small hard-sharing model with the writer's callbacks and returns the log's text. */
async function train(weighting: 'pcgrad' | 'ew', every: number, probeEvery?: number): Promise<string> {
  const lines: string[] = [];
  const writer = new RunLogWriter((line) => {
    lines.push(line);
  });
  const model = hardSharing().build({ tasks: data.tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [16] } }, { seed: 5 });
  const trainer = new Trainer({ model, weighting: weighting === 'pcgrad' ? pcgrad() : undefined, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 5 });
  const probeBatch = probeEvery ? await firstBatch() : undefined;
  try {
    await writer.start({
      name: `hard+${weighting}`,
      tasks: [...data.tasks],
      sharing: 'hard',
      weighting,
      site: weighting === 'pcgrad' ? 'shared' : null,
      backend: 'cpu',
      seed: 5,
    });
    await trainer.fit(data.train, {
      epochs: EPOCHS,
      validation: data.validation,
      callbacks: writer.callbacks({ every, probe: probeBatch ? { every: probeEvery, gramian: () => trainer.probeGramian(probeBatch) } : undefined }),
    });
    await writer.eval('validation', await trainer.evaluate(data.validation));
    await writer.end('completed');
  } finally {
    if (probeBatch) disposeBatch(probeBatch);
    trainer.dispose();
    model.dispose();
  }
  return lines.join('');
}

describe('RunLogWriter on a real training run', () => {
  it('writes step and gramian cosine records every N steps, epoch records with validation, and leaks no tensor', async () => {
    const text = await train('pcgrad', 5);
    const log = parseRunLog(text, 'pcgrad.jsonl');
    expect(log.run).toMatchObject({ type: 'run', version: 1, name: 'hard+pcgrad', weighting: 'pcgrad' });
    expect(log.run.tasks).toEqual(data.tasks.map(({ name, kind, units }) => ({ name, kind, units })));
    expect(log.steps.map((s) => s.step)).toEqual([0, 5, 10, 15, 20, 25]);
    expect(log.steps.map((s) => s.epoch)).toEqual([0, 0, 0, 1, 1, 1]);
    for (const step of log.steps) {
      expect(Object.keys(step.losses)).toEqual(['task1', 'task2', 'task3']);
      for (const value of [...Object.values(step.losses), ...Object.values(step.weights)]) expect(value).toEqual(expect.any(Number));
      expect(step.ms).toBeGreaterThan(0);
    }
    expect(log.cosines.map((c) => [c.step, c.source])).toEqual(log.steps.map((s) => [s.step, 'gramian']));
    for (const cosine of log.cosines) {
      expect(cosine.tasks).toEqual(['task1', 'task2', 'task3']);
      cosine.values.forEach((row, i) => {
        expect(row[i]).toBeCloseTo(1, 5);
        row.forEach((value, j) => {
          expect(value).toBeGreaterThanOrEqual(-1 - 1e-6);
          expect(value).toBeLessThanOrEqual(1 + 1e-6);
          expect(value).toBeCloseTo(cosine.values[j]![i]!, 6);
        });
      });
    }
    expect(log.epochs.map((e) => [e.epoch, e.steps])).toEqual([
      [0, 15],
      [1, 15],
    ]);
    for (const epoch of log.epochs) {
      expect(Object.keys(epoch.validation!)).toEqual(['task1', 'task2', 'task3']);
      expect(epoch.validation!.task1!.count).toBe(48);
      expect(epoch.validation!.task1!.metrics).toHaveProperty('rmse');
      expect(epoch.ms).toBeGreaterThan(0);
    }
    expect(log.evals).toHaveLength(1);
    expect(log.end).toMatchObject({ status: 'completed', steps: STEPS });

    // A second identical run: the same records (timings aside), and no tensor left behind.
    const before = tf.memory().numTensors;
    const again = parseRunLog(await train('pcgrad', 5));
    expect(tf.memory().numTensors).toBe(before);
    expect(again.steps.map((s) => s.losses)).toEqual(log.steps.map((s) => s.losses));
    expect(again.cosines).toEqual(log.cosines);
  });

  it('probes the Gramian for a weighting that computes none, and every = 1 logs each step', async () => {
    await train('ew', 1, 10);
    const before = tf.memory().numTensors;
    const log = parseRunLog(await train('ew', 1, 10));
    expect(tf.memory().numTensors).toBe(before);
    expect(log.steps).toHaveLength(STEPS);
    expect(log.cosines.map((c) => [c.step, c.source])).toEqual([
      [0, 'probe'],
      [10, 'probe'],
      [20, 'probe'],
    ]);
    for (const cosine of log.cosines) cosine.values.forEach((row, i) => expect(row[i]).toBeCloseTo(1, 5));
    expect(log.end?.steps).toBe(STEPS);
  });
});

describe('RunLogWriter', () => {
  const report = (step: number, losses: Record<string, number>): StepReport => ({
    step,
    epoch: 0,
    loss: Object.values(losses).reduce((a, b) => a + b, 0),
    losses,
    weights: Object.fromEntries(Object.keys(losses).map((t) => [t, 1])),
    active: Object.fromEntries(Object.keys(losses).map((t) => [t, Number.isFinite(losses[t]!)])),
    warnings: [],
    skipped: false,
    skips: 0,
  });
  const start = { name: 'r', tasks: [{ name: 'a', kind: 'binary' as const, units: 1 }], sharing: 'hard', weighting: 'ew', site: null, backend: 'cpu', seed: 0 };

  it('keeps lines in call order with an asynchronous sink, even when calls are not awaited', async () => {
    const lines: string[] = [];
    const delays = [30, 0, 10, 0, 5];
    let call = 0;
    const writer = new RunLogWriter(async (line) => {
      await new Promise((resolve) => setTimeout(resolve, delays[call++ % delays.length]));
      lines.push(line);
    });
    void writer.start(start);
    const callbacks = writer.callbacks();
    for (let step = 0; step < 4; step++) void callbacks.onStep!(report(step, { a: 1 / (step + 1) }));
    void writer.warning(3, 'careful <b>');
    void writer.end('interrupted', new Error('stopped by the user'));
    await writer.flush();
    const log = parseRunLog(lines.join(''));
    expect(log.steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
    expect(log.warnings[0]!.message).toBe('careful <b>');
    expect(log.end).toMatchObject({ status: 'interrupted', error: 'stopped by the user', steps: 4 });
  });

  it("logs every skipped step (whatever 'every' is) with skipped and skips, and the epoch's skip count; the reader accepts them", async () => {
    const lines: string[] = [];
    const writer = new RunLogWriter((line) => void lines.push(line));
    await writer.start(start);
    const callbacks = writer.callbacks({ every: 10 });
    for (let step = 0; step < 12; step++) {
      const skipped = step === 3 || step === 7;
      await callbacks.onStep!({ ...report(step, { a: skipped ? Number.NaN : 0.5 }), skipped, skips: step >= 7 ? 2 : step >= 3 ? 1 : 0 });
    }
    await callbacks.onEpochEnd!({ epoch: 0, steps: 12, skipped: 2, trainLosses: { a: 0.5 }, meanWeights: { a: 1 } });
    await writer.flush();
    const log = parseRunLog(lines.join(''));
    expect(log.steps.map((s) => [s.step, s.skipped, s.skips])).toEqual([
      [0, undefined, undefined],
      [3, true, 1],
      [7, true, 2],
      [10, undefined, 2],
    ]);
    expect(log.epochs[0]!.skipped).toBe(2);
    const bad = lines.join('').replace('"skips":1', '"skips":-1');
    expect(() => parseRunLog(bad, 'run.jsonl')).toThrowError(/run\.jsonl, line 3: 'step' record: .*skips.*a non-negative integer or absent/);
  });

  it('writes a non-finite loss of an inactive task as null', async () => {
    const lines: string[] = [];
    const writer = new RunLogWriter((line) => void lines.push(line));
    await writer.start({ ...start, tasks: [...start.tasks, { name: 'b', kind: 'regression', units: 1 }] });
    await writer.callbacks().onStep!(report(0, { a: 0.5, b: Number.NaN }));
    expect(parseRunLog(lines.join('')).steps[0]!.losses).toEqual({ a: 0.5, b: null });
  });

  it('refuses records before start, after end, a second start, and a bad every', async () => {
    const writer = new RunLogWriter(() => {});
    await expect(writer.start({ ...start, tasks: [] })).rejects.toThrow("'tasks'");
    await expect(writer.warning(0, 'x')).rejects.toSatisfy((e: unknown) => isMtlError(e, 'BAD_CONFIG') && String(e).includes('start()'));
    await writer.start(start);
    await expect(writer.start(start)).rejects.toThrow('already');
    await writer.end('failed', new Error('boom'));
    await expect(writer.eval('test', { tasks: {} })).rejects.toThrow('after end()');
    expect(() => writer.callbacks({ every: 0 })).toThrow('every must be a positive integer');
  });

  it('passes a sink failure to the caller and keeps writing', async () => {
    const lines: string[] = [];
    let fail = true;
    const writer = new RunLogWriter(async (line) => {
      if (line.includes('"warning"') && fail) {
        fail = false;
        throw new Error('disk full');
      }
      lines.push(line);
    });
    await writer.start(start);
    await expect(writer.warning(0, 'lost')).rejects.toThrow('disk full');
    await writer.end('completed');
    expect(parseRunLog(lines.join('')).end?.status).toBe('completed');
  });
});
