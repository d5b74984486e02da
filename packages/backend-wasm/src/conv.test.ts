import * as tf from '@tensorflow/tfjs-core';
import { conv2d, Trainer, useBackend, type ModelSpec } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { hardSharing } from '@mtljs/sharing-hard';
import { describe, expect, it } from 'vitest';
import { wasmBackend } from './index';

const log = () => {};
const use = (name: 'cpu' | 'wasm') => useBackend(name, { backends: [cpuBackend(), wasmBackend()], log });

/** The input, kernel and their conv2d gradients (of Σ conv · r for a fixed r), read back as arrays. */
function convGradients(stride: number, padding: 'same' | 'valid'): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor4d(Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.sin(0.37 * i)), [2, 6, 6, 3]);
    const k = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(0.11 * i)), [3, 3, 3, 4]);
    const f = (a: tf.Tensor4D, b: tf.Tensor4D) => {
      const y = conv2d(a, b, stride, padding);
      return tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape))));
    };
    const [dx, dk] = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)([x, k]);
    return [Array.from(conv2d(x, k, stride, padding).dataSync()), Array.from(dx!.dataSync()), Array.from(dk!.dataSync())];
  });
}

describe('conv2d on wasm', () => {
  // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel; there core's conv2d takes the kernel
  // gradient as a convolution of the input with dy (dilated by the stride). Its output and both
  // gradients must match tf.conv2d on the cpu backend.
  for (const [stride, padding] of [[1, 'same'], [1, 'valid'], [2, 'valid'], [2, 'same'], [3, 'same'], [3, 'valid']] as const) {
    it(`matches cpu's tf.conv2d and its gradients (stride ${stride}, ${padding})`, async () => {
      await use('cpu');
      expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).toBeDefined();
      const reference = convGradients(stride, padding);
      await use('wasm');
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
      const onWasm = convGradients(stride, padding);
      reference.forEach((values, i) => {
        const gap = Math.max(...values.map((v, j) => Math.abs(v - onWasm[i]![j]!)));
        expect(gap, ['output', 'input gradient', 'kernel gradient'][i]).toBeLessThan(1e-4);
      });
    });
  }

  it('a conv encoder with layer norm trains on wasm', async () => {
    await use('wasm');
    const spec: ModelSpec = {
      tasks: [
        { name: 'bright', kind: 'binary', units: 1 },
        { name: 'mean', kind: 'regression', units: 1 },
      ],
      inputShape: [8, 8, 1],
      encoder: { type: 'conv', blocks: [{ filters: 4, norm: 'layer' }, { filters: 4 }], dense: [8] },
    };
    const model = hardSharing().build(spec, { seed: 1 });
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 } });
    const images = Array.from({ length: 16 * 64 }, (_, i) => Math.abs(Math.sin(0.13 * i * ((i >> 6) + 1))));
    const x = tf.tensor4d(images, [16, 8, 8, 1]);
    const means = Array.from({ length: 16 }, (_, n) => images.slice(n * 64, n * 64 + 64).reduce((a, b) => a + b, 0) / 64);
    const batch = { inputs: x, targets: { bright: tf.tensor1d(means.map((m) => (m > 0.6 ? 1 : 0))), mean: tf.tensor1d(means) } };
    const first = trainer.step(batch);
    let last = first;
    for (let i = 0; i < 30; i++) last = trainer.step(batch);
    expect(last.losses.mean!).toBeLessThan(first.losses.mean!);
    expect(last.losses.bright!).toBeLessThan(first.losses.bright!);
    trainer.dispose();
    model.dispose();
    tf.dispose([x, batch.targets.bright, batch.targets.mean]);
  });
});
