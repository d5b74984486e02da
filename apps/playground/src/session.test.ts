import 'mtljs';
import * as tf from '@tensorflow/tfjs-core';
import { defaultRegistry, isMtlError, useBackend } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FLAT_FROM, TrainingSession } from './session';
import { DEFAULT_SETTINGS, type PlaygroundSettings } from './settings';

const registry = defaultRegistry();

// 256 training examples in batches of 32: 8 steps an epoch, on the cpu backend.
function settings(overrides: Partial<PlaygroundSettings> = {}): PlaygroundSettings {
  return {
    ...DEFAULT_SETTINGS,
    dataset: { ...DEFAULT_SETTINGS.dataset, inputDim: 16, trainSize: 256, validationSize: 64, batchSize: 32 },
    encoderUnits: [16, 8],
    headUnits: [],
    backend: 'cpu',
    learningRate: 0.01,
    epochs: 5,
    probeEvery: 4,
    ...overrides,
  };
}

/** Resolves once `predicate` holds after one of the session's updates. */
function when(session: TrainingSession, predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const remove = session.subscribe(() => {
      if (predicate()) {
        remove();
        resolve();
      }
    });
  });
}

beforeAll(async () => {
  await useBackend('cpu', { registry, log: () => {} });
});

describe('TrainingSession', () => {
  it('trains epoch after epoch, records losses, weights and validation metrics, keeps the tensor count flat and frees everything', async () => {
    const before = tf.memory().numTensors;
    const session = await TrainingSession.create(settings(), { registry });
    expect(session.status).toBe('ready');
    expect(session.backend).toBe('cpu');
    session.start();
    await session.finished();
    expect(session.error).toBeNull();
    expect(session.status).toBe('finished');
    expect(session.stepCount).toBe(40);
    expect(session.steps.map((s) => s.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // The trainer counts epochs (DWA and GradNorm read them).
    expect(session.steps.at(-1)!.epoch).toBe(4);
    for (const point of session.steps) {
      for (const task of ['task1', 'task2']) {
        expect(point.losses[task]).toBeGreaterThan(0);
        expect(point.weights[task]).toBe(1);
      }
    }
    expect(session.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3, 4]);
    const first = session.epochs[0]!.validation['task1']!;
    const last = session.epochs[4]!.validation['task1']!;
    expect(Object.keys(last.metrics)).toEqual(['rmse', 'mae', 'r2']);
    expect(last.loss!).toBeLessThan(first.loss!);
    // Leak check over 37 steps and 5 validation passes.
    expect(session.tensors).toMatchObject({ since: FLAT_FROM });
    expect(session.tensors!.max).toBe(session.tensors!.min);
    // Equal weighting computes no Gramian, so the features-site probe ran every 4 steps.
    expect(session.cosine).toMatchObject({ source: 'probe', tasks: ['task1', 'task2'], samples: 10 });
    expect(session.cosine!.mean[0]![0]).toBeCloseTo(1, 6);
    expect(session.cosine!.mean[0]![1]).toBe(session.cosine!.mean[1]![0]);
    expect(Math.abs(session.cosine!.mean[0]![1]!)).toBeLessThan(1);
    await session.dispose();
    expect(session.status).toBe('disposed');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes the cosine from the Gramian a gradient weighting computes, at every step', async () => {
    const session = await TrainingSession.create(settings({ weighting: 'pcgrad', site: 'features', epochs: 1 }), { registry });
    session.start();
    await session.finished();
    expect(session.error).toBeNull();
    expect(session.cosine).toMatchObject({ source: 'gramian', samples: 8 });
    await session.dispose();
  });

  it('pauses after the step in progress, resumes, and stops when disposed while running', async () => {
    const before = tf.memory().numTensors;
    const session = await TrainingSession.create(settings({ epochs: 100 }), { registry });
    let paused = false;
    session.subscribe(() => {
      if (!paused && session.stepCount === 5) {
        paused = true;
        session.pause();
      }
    });
    session.start();
    await when(session, () => session.status === 'paused');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(session.stepCount).toBe(5);
    session.start();
    expect(session.status).toBe('running');
    await when(session, () => session.stepCount >= 12);
    await session.dispose();
    const stoppedAt = session.stepCount;
    expect(stoppedAt).toBeGreaterThanOrEqual(12);
    expect(stoppedAt).toBeLessThan(800);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(session.stepCount).toBe(stoppedAt);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('builds the clustered strategy after its warm-up, and frees the warm-up batches', async () => {
    const before = tf.memory().numTensors;
    const session = await TrainingSession.create(settings({ sharing: 'clustered', epochs: 1, probeEvery: 0 }), { registry });
    session.start();
    await session.finished();
    expect(session.error).toBeNull();
    expect(session.cosine).toBeNull();
    await session.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an unknown weighting with UNKNOWN_PLUGIN and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const error = await TrainingSession.create(settings({ weighting: 'nope' }), { registry }).catch((e: unknown) => e);
    expect(isMtlError(error, 'UNKNOWN_PLUGIN')).toBe(true);
    expect((error as Error).message).toContain("no weighting plugin named 'nope'");
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses weighting options the plugin does not know, naming them', async () => {
    const error = await TrainingSession.create(settings({ weighting: 'pcgrad', weightingOptions: { bogus: 1 } }), { registry }).catch((e: unknown) => e);
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect((error as Error).message).toContain('bogus');
  });

  it('ends as failed, with the error, when training diverges', async () => {
    const before = tf.memory().numTensors;
    const session = await TrainingSession.create(settings({ optimizer: 'sgd', learningRate: 10, epochs: 20 }), { registry });
    session.start();
    await session.finished();
    expect(session.status).toBe('failed');
    expect(isMtlError(session.error, 'NON_FINITE_LOSS')).toBe(true);
    await session.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
