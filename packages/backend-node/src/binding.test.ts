import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { describe, expect, it } from 'vitest';
import { nodeBackend } from './index';

// Tests with the real native binding. They run wherever @tensorflow/tfjs-node loads and skip
// elsewhere (its install downloads libtensorflow, which an offline machine cannot); set
// MTLJS_REQUIRE_TFJS_NODE=1 where the binding is installed so that its absence fails instead.
const status = await nodeBackend().isAvailable();
const required = process.env['MTLJS_REQUIRE_TFJS_NODE'] === '1';
const skip = status.available ? '' : ` (skipped: the @tensorflow/tfjs-node binding is not installed here: ${status.reason})`;

describe('nodeBackend() with the tfjs-node binding', () => {
  it.runIf(required)(`loads, as MTLJS_REQUIRE_TFJS_NODE=1 demands${required ? '' : ' (skipped: MTLJS_REQUIRE_TFJS_NODE is not set to 1)'}`, () => {
    expect(status.reason).toMatch(/^@tensorflow\/tfjs-node loaded/);
    expect(status.available).toBe(true);
  });

  it.skipIf(!status.available)(`reports the TensorFlow version and device${skip}`, () => {
    expect(status.reason).toMatch(/^@tensorflow\/tfjs-node loaded \(TensorFlow \d+\.\d+\.\d+, on the CPU\)$/);
  });

  it.skipIf(!status.available)(`is chosen by useBackend('auto') over wasm and cpu${skip}`, async () => {
    const lines: string[] = [];
    const choice = await useBackend('auto', { backends: [cpuBackend(), wasmBackend(), nodeBackend()], log: (line) => lines.push(line) });
    expect(choice.name).toBe('node');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(lines[0]).toContain("using backend 'node': highest-priority available backend (priority 50; @tensorflow/tfjs-node loaded");
  });

  it.skipIf(!status.available)(`computes the gradients the cpu backend does, to 1e-5${skip}`, async () => {
    // d/dW Σ (relu(x W₁) W₂)² for fixed x, W₁, W₂: matMul, relu and their gradients.
    const gradients = async (backend: 'node' | 'cpu'): Promise<number[]> => {
      await useBackend(backend, { backends: [cpuBackend(), nodeBackend()], log: () => {} });
      const x = tf.tensor2d([0.5, -1, 2, 0.25, 1.5, -0.75], [2, 3]);
      const w1 = tf.variable(tf.tensor2d([0.1, -0.2, 0.3, 0.4, -0.5, 0.6], [3, 2]));
      const w2 = tf.variable(tf.tensor2d([0.7, -0.8], [2, 1]));
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.matMul(tf.relu(tf.matMul(x, w1)), w2))), [w1, w2]);
      const flat = [...(await value.data()), ...(await grads[w1.name]!.data()), ...(await grads[w2.name]!.data())];
      tf.dispose([x, w1, w2, value, ...Object.values(grads)]);
      return Array.from(flat);
    };
    const native = await gradients('node');
    const reference = await gradients('cpu');
    expect(native).toHaveLength(reference.length);
    native.forEach((value, i) => expect(Math.abs(value - reference[i]!)).toBeLessThanOrEqual(1e-5));
  });
});
