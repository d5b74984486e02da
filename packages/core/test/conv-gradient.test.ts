import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/setup-gradients';
import { conv2dWithDirectKernelGradient } from '../src/nn/conv';
import { withConstants } from '../src/nn/dense';
import { maxAbsDiff } from './fixtures';

// Core's own conv2d backward (used on wasm, which has no Conv2DBackpropFilter kernel), checked on
// the cpu backend against tfjs's conv2d and its Conv2DBackpropFilter / Conv2DBackpropInput kernels:
// the kernel gradient is a convolution of the input with dy (dilated by the stride).

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Shape4 = [number, number, number, number];
const CASES: [Shape4, Shape4, number, 'same' | 'valid'][] = [
  // input [n, h, w, c], kernel [kh, kw, c, f], stride, padding
  [[3, 9, 7, 2], [3, 3, 2, 4], 1, 'same'],
  [[3, 9, 7, 2], [5, 3, 2, 3], 1, 'valid'],
  [[2, 10, 11, 3], [3, 2, 3, 2], 2, 'same'],
  [[2, 10, 11, 3], [3, 3, 3, 2], 2, 'valid'],
  [[2, 13, 8, 1], [4, 4, 1, 5], 3, 'same'],
  [[2, 13, 8, 1], [2, 3, 1, 2], 3, 'valid'],
];

function gradients(conv: (x: tf.Tensor4D, k: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D, k: tf.Tensor4D, r: tf.Tensor) {
  const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r));
  const [dx, dk] = tf.grads(f)([x, k]);
  return { y: conv(x, k), dx: dx!, dk: dk! };
}

describe("core's conv2d backward", () => {
  for (const [xShape, kShape, stride, padding] of CASES) {
    it(`input [${xShape.join(', ')}], kernel [${kShape.join(', ')}], stride ${stride}, ${padding}: output, input and kernel gradients equal tfjs's`, () => {
      const x = tf.randomNormal(xShape, 0, 1, 'float32', 1) as tf.Tensor4D;
      const k = tf.randomNormal(kShape, 0, 1, 'float32', 2) as tf.Tensor4D;
      const out = tf.conv2d(x, k, stride, padding);
      const r = tf.randomNormal(out.shape, 0, 1, 'float32', 3);
      const mine = gradients((a, b) => conv2dWithDirectKernelGradient(a, b, stride, padding), x, k, r);
      const reference = gradients((a, b) => tf.conv2d(a, b, stride, padding), x, k, r);
      expect(mine.dk.shape).toEqual(kShape);
      expect(maxAbsDiff(mine.y, reference.y)).toBeLessThan(1e-4);
      expect(maxAbsDiff(mine.dx, reference.dx)).toBeLessThan(1e-4);
      expect(maxAbsDiff(mine.dk, reference.dk)).toBeLessThan(1e-4);
      tf.dispose([x, k, out, r, ...Object.values(mine), ...Object.values(reference)]);
    });
  }

  it('an input marked constant gets a zero gradient without the input-gradient convolution; the kernel gradient is unchanged', async () => {
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const k = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 5) as tf.Tensor4D;
    const r = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 6);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => conv2dWithDirectKernelGradient(a, b, 1, 'same');
    const free = gradients(conv, x, k, r);
    const convolutions = async (fn: () => void) => (await tf.profile(fn)).kernels.filter((kernel) => kernel.name === 'Conv2D').length;
    let marked: ReturnType<typeof gradients> | undefined;
    const withMark = await convolutions(() => {
      marked = withConstants([x], () => gradients(conv, x, k, r));
    });
    const without = await convolutions(() => tf.dispose(Object.values(gradients(conv, x, k, r))));
    expect(withMark).toBe(without - 1);
    expect(Array.from(marked!.dx.dataSync()).every((v) => v === 0)).toBe(true);
    expect(maxAbsDiff(marked!.dk, free.dk)).toBe(0);
    tf.dispose([x, k, r, ...Object.values(free), ...Object.values(marked!)]);
  });
});
