import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  equalWeighting,
  isMtlError,
  readCheckpointFile,
  Trainer,
  writeCheckpointFile,
  type Batch,
  type Checkpoint,
  type CheckpointManifest,
} from '../src/index';
import { fixedBatch, fixedGramian, learnedScale, TASKS, tinyModel } from './fixtures';

const dir = mkdtempSync(join(tmpdir(), 'mtljs-ckpt-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


const batches: Batch[] = Array.from({ length: 6 }, (_, i) => fixedBatch(12, 100 + i));

function variableValues(trainer: Trainer): Float32Array[] {
  const weights = trainer.model.getWeights();
  const values = Object.keys(weights)
    .sort()
    .map((key) => weights[key]!.dataSync() as Float32Array);
  Object.values(weights).forEach((t) => t.dispose());
  return [...values, ...Object.values(trainer.engine.weightingParams).map((v) => v.dataSync() as Float32Array)];
}

describe('checkpoints', () => {
  it('save → 3 more steps → load → the same 3 steps gives bit-identical variables (SGD with momentum, learnable weighting)', async () => {
    const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 3 }), weighting: learnedScale(), optimizer: { name: 'momentum', learningRate: 0.05 }, seed: 9 });
    for (const batch of batches.slice(0, 3)) trainer.step(batch);
    const saved = await trainer.saveCheckpoint({ note: 'mid-run' });
    const atSave = variableValues(trainer);
    for (const batch of batches.slice(3)) trainer.step(batch);
    const straight = variableValues(trainer);
    expect(straight).not.toEqual(atSave);

    const before = tf.memory().numTensors;
    const restored = decodeCheckpoint(encodeCheckpoint(saved), 'mem');
    await trainer.loadCheckpoint(restored);
    expect(tf.memory().numTensors).toBe(before);
    expect(variableValues(trainer)).toEqual(atSave);
    expect(trainer.stepCount).toBe(3);
    expect((trainer.engine.weightingState as { calls: number }).calls).toBe(3);
    expect(restored.manifest.meta).toEqual({ note: 'mid-run' });
    for (const batch of batches.slice(3)) trainer.step(batch);
    expect(variableValues(trainer)).toEqual(straight);
    trainer.dispose();
  });

  it('Adam: resumed run matches the straight one to 1e-6 and loading twice leaks nothing', async () => {
    const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 4 }), weighting: equalWeighting(), optimizer: { name: 'adam', learningRate: 0.01 }, seed: 2 });
    for (const batch of batches.slice(0, 3)) trainer.step(batch);
    const saved = await trainer.saveCheckpoint();
    for (const batch of batches.slice(3)) trainer.step(batch);
    const straight = variableValues(trainer);
    await trainer.loadCheckpoint(saved);
    const before = tf.memory().numTensors;
    await trainer.loadCheckpoint(saved);
    expect(tf.memory().numTensors).toBe(before);
    for (const batch of batches.slice(3)) trainer.step(batch);
    const resumed = variableValues(trainer);
    resumed.forEach((values, i) => values.forEach((v, j) => expect(Math.abs(v - straight[i]![j]!)).toBeLessThan(1e-6)));
    trainer.dispose();
  });

  it('files: atomic write, read back, and BAD_CHECKPOINT naming the file for a missing, truncated or foreign file', async () => {
    const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 5 }), seed: 1 });
    trainer.step(batches[0]!);
    const path = join(dir, 'epoch-1.mtlckpt');
    const checkpoint = await trainer.saveCheckpoint();
    await writeCheckpointFile(path, checkpoint);
    const back = await readCheckpointFile(path);
    expect(back.manifest.step).toBe(1);
    expect(back.manifest.tasks.map((t) => t.name)).toEqual(['reg', 'cls', 'bin']);
    expect(Buffer.from(back.data).equals(Buffer.from(checkpoint.data))).toBe(true);

    const expectBad = async (promise: Promise<unknown>, pattern: RegExp) => {
      const error = await promise.then(() => null, (e: unknown) => e);
      expect(isMtlError(error) && error.code).toBe('BAD_CHECKPOINT');
      expect((error as Error).message).toMatch(pattern);
    };
    await expectBad(readCheckpointFile(join(dir, 'nope.mtlckpt')), /nope\.mtlckpt.*ENOENT/);
    const bytes = readFileSync(path);
    writeFileSync(join(dir, 'short.mtlckpt'), bytes.subarray(0, bytes.length - 10));
    await expectBad(readCheckpointFile(join(dir, 'short.mtlckpt')), /short\.mtlckpt: .*outside the data/);
    writeFileSync(join(dir, 'foreign.mtlckpt'), 'PK\u0003\u0004 not a checkpoint');
    await expectBad(readCheckpointFile(join(dir, 'foreign.mtlckpt')), /foreign\.mtlckpt: not an mtljs checkpoint/);
    trainer.dispose();
  });

  it('loading into a model with other tasks, another weighting or another optimiser is BAD_CHECKPOINT and changes nothing', async () => {
    const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 6 }), seed: 1 });
    trainer.step(batches[0]!);
    const saved: Checkpoint = await trainer.saveCheckpoint();
    const other = new Trainer({ model: tinyModel(TASKS.slice(0, 2), { seed: 6 }), seed: 1 });
    const values = variableValues(other);
    await expect(other.loadCheckpoint(saved)).rejects.toThrow(/tasks \(reg:regression:2, cls:multiclass:3, bin:binary:1\) differ/);
    expect(variableValues(other)).toEqual(values);
    const sgd = new Trainer({ model: tinyModel(TASKS, { seed: 6 }), optimizer: { name: 'sgd' }, seed: 1 });
    await expect(sgd.loadCheckpoint(saved)).rejects.toThrow(/Adam optimiser slots; this trainer uses SGD/);
    const renamed = { ...saved, manifest: { ...saved.manifest, weighting: { ...saved.manifest.weighting, name: 'pcgrad' } } };
    await expect(trainer.loadCheckpoint(renamed)).rejects.toThrow(/weighting 'pcgrad'; this trainer uses 'ew'/);
    for (const t of [trainer, other, sgd]) t.dispose();
  });

  it('BAD_CHECKPOINT, before anything changes, for another site, apiVersion, slot layout, weighting state shape or layer width', async () => {
    const make = (options: { site?: 'shared' | 'features'; width?: number } = {}) =>
      new Trainer({ model: tinyModel(TASKS, { seed: 6, inputSize: options.width ?? 5 }), weighting: fixedGramian([1, 1, 1]), site: options.site ?? 'shared', seed: 1 });
    const trainer = make();
    trainer.step(batches[0]!);
    const saved = await trainer.saveCheckpoint();
    expect(saved.manifest.weighting).toMatchObject({ name: 'fixed-gramian', apiVersion: 1, level: 'gramian', site: 'shared' });
    const target = make();
    const values = variableValues(target);
    const manifest = saved.manifest;
    const variant = (change: (m: CheckpointManifest) => void): Checkpoint => {
      const copy = structuredClone(manifest);
      change(copy);
      return { manifest: copy, data: saved.data };
    };
    const cases: [Checkpoint, RegExp][] = [
      [variant((m) => (m.weighting.site = 'features')), /ran at level 'gramian', site "features"; this trainer's at level 'gramian', site "shared"/],
      [variant((m) => (m.weighting.apiVersion = 2)), /apiVersion 2; this trainer's has 1/],
      [variant((m) => (m.weighting.state = { calls: 'seven' })), /state of weighting 'fixed-gramian' does not fit it: state.calls is a string, expected a number/],
      [variant((m) => (m.weighting.state = {})), /state.calls is missing/],
      [variant((m) => m.tensors.splice(m.tensors.findIndex((t) => t.group === 'optimizer') + 1, 1)), /optimiser slots; this trainer's \d+ variables take a multiple of/],
      [variant((m) => (m.tensors.find((t) => t.group === 'model')!.name = 'renamed')), /model variable 'renamed', which this trainer does not/],
      [variant((m) => (m.position = { batch: -1, epochRng: [1, 2, 3, 4] })), /manifest.position must be/],
      [variant((m) => (m.rng = [0, 0, 0, 0])), /manifest.rng must be four unsigned 32-bit integers, not all 0/],
    ];
    for (const [checkpoint, pattern] of cases) {
      const error = await target.loadCheckpoint(checkpoint).then(() => null, (e: unknown) => e);
      expect(isMtlError(error, 'BAD_CHECKPOINT'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
    // A model whose first layer is wider: caught by the shape check, not by tfjs.
    const wider = make({ width: 7 });
    await expect(wider.loadCheckpoint(saved)).rejects.toThrow(/is \[5, \d+\] in the checkpoint, \[7, \d+\] here/);
    expect(variableValues(target)).toEqual(values);
    expect(target.stepCount).toBe(0);
    await target.loadCheckpoint(saved);
    expect(target.stepCount).toBe(1);
    for (const t of [trainer, target, wider]) t.dispose();
  });
});
