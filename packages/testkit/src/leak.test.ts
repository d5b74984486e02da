import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMtlError } from '@mtljs/core';
import { ConformanceError } from './errors';
import { checkNoLeak, countTensorsDuring } from './leak';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('checkNoLeak', () => {
  it('passes a function that cleans up after itself', async () => {
    const report = await checkNoLeak(() => tf.tidy(() => void tf.add(tf.ones([3]), 1)), { steps: 10 });
    expect(report.after).toBe(report.before);
    expect(report.steps).toBe(10);
  });

  it('disposes returned tensors, in arrays and objects too, and awaits promises', async () => {
    const before = tf.memory().numTensors;
    await checkNoLeak(async (i) => ({ a: tf.scalar(i), b: [tf.ones([2]), { c: tf.zeros([1]) }] }), { steps: 5 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves returned variables alone', async () => {
    const variable = tf.variable(tf.zeros([2]), true, 'leak-test/kept');
    await checkNoLeak(() => variable, { steps: 3 });
    expect(variable.isDisposed).toBe(false);
    variable.dispose();
  });

  it('names how many tensors leaked per step', async () => {
    const kept: tf.Tensor[] = [];
    const error = await checkNoLeak(() => void kept.push(tf.ones([2])), { steps: 10, label: 'my plugin' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConformanceError);
    expect((error as Error).message).toMatch(/^my plugin: leaked 10 tensors over 10 steps \(1 per step/);
    tf.dispose(kept);
  });

  it('reports tensors disposed that the function did not create', async () => {
    const pool = Array.from({ length: 4 }, () => tf.ones([1]));
    await expect(checkNoLeak((i) => pool[i]!.dispose(), { steps: 3, warmup: 1 })).rejects.toThrow(/disposed 3 tensors it did not create/);
  });

  it('ignores tensors created once during the warm-up calls', async () => {
    let cache: tf.Tensor | undefined;
    const lazy = () => void (cache ??= tf.keep(tf.ones([4])));
    await expect(checkNoLeak(lazy, { steps: 5, warmup: 1 })).resolves.toBeDefined();
    cache!.dispose();
    cache = undefined;
    await expect(checkNoLeak(lazy, { steps: 5, warmup: 0 })).rejects.toThrow(/leaked 1 tensor over 5 steps/);
    cache!.dispose();
  });

  it('reports which call threw', async () => {
    await expect(
      checkNoLeak((i) => {
        if (i === 3) throw new Error('boom');
      }),
    ).rejects.toThrow(/counted call 3 threw: boom/);
  });

  it('rejects nonsense step counts', async () => {
    await expect(checkNoLeak(() => undefined, { steps: 0 })).rejects.toSatisfy((e) => isMtlError(e, 'BAD_CONFIG') && /steps must be a positive integer/.test((e as Error).message));
  });
});

describe('countTensorsDuring', () => {
  it('counts the tensors a synchronous call leaves alive', () => {
    const { result, created } = countTensorsDuring(() => tf.tidy(() => tf.add(tf.ones([2]), 1)));
    expect(created).toBe(1);
    result.dispose();
    expect(countTensorsDuring(() => tf.tidy(() => void tf.ones([2]))).created).toBe(0);
  });
});
