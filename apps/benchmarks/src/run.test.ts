import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, defaultRegistry, hardSharing, useBackend, wasmBackend, type LossWeighting } from 'mtljs';
import { multiMnist, type MultiDigitDataset } from '@mtljs/datasets';
import { readRunLog } from '@mtljs/report';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planMethods } from './methods';
import { completedRun, runMethod, type RunContext } from './run';

const out = mkdtempSync(join(tmpdir(), 'mtljs-benchmarks-'));
let dataset: MultiDigitDataset;

function context(overrides: Partial<RunContext> = {}): RunContext {
  return {
    dataset,
    datasetName: 'multi-mnist',
    epochs: 1,
    batchSize: 32,
    learningRate: 2e-3,
    backend: 'wasm',
    logEvery: 1,
    probeEvery: 2,
    out,
    logFolder: '.',
    registry: defaultRegistry(),
    log: () => {},
    ...overrides,
  };
}

const plan = (weighting: string) => planMethods({ weightings: [weighting], baselines: false, site: 'default' }, ['left', 'right'], defaultRegistry())[0]!;

beforeAll(async () => {
  await useBackend('wasm', { log: () => {} });
  dataset = await multiMnist({ trainSize: 128, testSize: 64, batchSize: 32 });
});

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('runMethod', () => {
  it('gives the same run for the same seed, leaks no tensor, and logs steps, cosines and the test evaluation', async () => {
    const ew = await runMethod(plan('ew'), 5, context());
    const before = tf.memory().numTensors;
    // Static weighting with its default weights (1 per task) has EW's objective: with the same
    // seed (initial values, data order) its run must be identical.
    const same = await runMethod(plan('static'), 5, context());
    const pcgrad = await runMethod(plan('pcgrad'), 5, context());
    expect(tf.memory().numTensors).toBe(before);

    expect(ew.status).toBe('completed');
    expect(ew.steps).toBe(4);
    expect(same.accuracy).toEqual(ew.accuracy);
    expect(pcgrad).toMatchObject({ status: 'completed', level: 'gramian', site: 'shared', steps: 4 });
    for (const accuracy of Object.values(pcgrad.accuracy)) expect(accuracy).toBeGreaterThanOrEqual(0);

    const log = await readRunLog(join(out, ew.log));
    expect(log.run).toMatchObject({ weighting: 'ew', site: null, seed: 5, role: 'multi-task', sharing: 'hard', backend: 'wasm' });
    expect(log.steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
    // EW computes no Gramian: probed at steps 0 and 2.
    expect(log.cosines.map((c) => [c.step, c.source])).toEqual([
      [0, 'probe'],
      [2, 'probe'],
    ]);
    expect(log.cosines[0]!.values[0]![0]).toBeCloseTo(1, 5);
    expect(log.evals[0]!.split).toBe('test');
    expect(log.evals[0]!.tasks.left!.metrics.accuracy).toBe(ew.accuracy.left);
    expect(log.end?.status).toBe('completed');
    const staticLog = await readRunLog(join(out, same.log));
    expect(staticLog.steps.map((s) => s.losses)).toEqual(log.steps.map((s) => s.losses));

    // PCGrad's steps carry their own Gramian: a cosine record at every logged step.
    const pcgradLog = await readRunLog(join(out, pcgrad.log));
    expect(pcgradLog.cosines.map((c) => c.source)).toEqual(Array(4).fill('gramian'));
    const cosine = pcgradLog.cosines[3]!.values[0]![1]!;
    expect(Math.abs(cosine)).toBeLessThanOrEqual(1 + 1e-6);

    // --resume reads a completed run back from its log, but not one made with other settings.
    const resumed = await completedRun(plan('ew'), 5, context());
    expect(resumed).toMatchObject({ status: 'completed', accuracy: ew.accuracy, steps: 4, log: ew.log });
    expect(resumed!.seconds).toBeGreaterThan(0);
    expect(await completedRun(plan('ew'), 5, context({ learningRate: 1e-3 }))).toBeNull();
    expect(await completedRun(plan('ew'), 6, context())).toBeNull();
  });

  it('trains a single-task baseline on its task alone', async () => {
    const [single] = planMethods({ weightings: [], baselines: true, site: 'default' }, ['left', 'right'], defaultRegistry());
    const result = await runMethod(single!, 5, context());
    expect(result).toMatchObject({ id: 'single-left', role: 'single-task', status: 'completed', tasks: ['left'] });
    expect(Object.keys(result.accuracy)).toEqual(['left']);
    const log = await readRunLog(join(out, result.log));
    expect(log.run.role).toBe('single-task');
    expect(log.run.tasks.map((t) => t.name)).toEqual(['left']);
    expect(log.cosines).toEqual([]);
  });

  it('reports a run that fails as failed, ends its log so, and frees its tensors', async () => {
    const registry = createRegistry();
    registry.register(hardSharing());
    registry.register(wasmBackend());
    const nan: LossWeighting<null> = {
      kind: 'weighting',
      name: 'nan',
      apiVersion: 1,
      level: 'loss',
      init: () => null,
      combine: (losses, state) => ({ loss: tf.mul(tf.sum(losses), Number.NaN) as tf.Scalar, weights: [1, 1], state }),
    };
    registry.register(nan);
    const before = tf.memory().numTensors;
    const failed = await runMethod({ id: 'nan', role: 'multi-task', weighting: 'nan', level: 'loss', site: null, tasks: ['left', 'right'] }, 0, context({ registry }));
    expect(tf.memory().numTensors).toBe(before);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^NON_FINITE_LOSS: /);
    const log = await readRunLog(join(out, failed.log));
    expect(log.end).toMatchObject({ status: 'failed', steps: 0 });
    expect(log.end!.error).toMatch(/NON_FINITE_LOSS/);
    expect(await completedRun({ id: 'nan', role: 'multi-task', weighting: 'nan', level: 'loss', site: null, tasks: ['left', 'right'] }, 0, context({ registry }))).toBeNull();
  });
});
