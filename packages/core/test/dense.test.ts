import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, DenseStack, Rng, scaleGradient } from '../src/index';
import { withConstants } from '../src/nn/dense';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

it("dense's explicit-transpose backward equals autodiff of matMul + add", () => {
  const rng = Rng.fromSeed(4);
  const draw = (shape: number[]) => tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
  const x = draw([6, 5]) as tf.Tensor2D;
  const w = draw([5, 3]) as tf.Tensor2D;
  const b = draw([3]);
  const dy = draw([6, 3]);
  const ours = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(dense(xi as tf.Tensor2D, wi as tf.Tensor2D, bi), dy)))([x, w, b]);
  const plain = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(xi as tf.Tensor2D, wi as tf.Tensor2D), bi), dy)))([x, w, b]);
  ours.forEach((g, i) => expect(tf.max(tf.abs(tf.sub(g, plain[i]!))).dataSync()[0]).toBeLessThan(1e-5));
  expect(tf.max(tf.abs(tf.sub(dense(x, w, b), tf.add(tf.matMul(x, w), b)))).dataSync()[0]).toBeLessThan(1e-6);
});

it('scaleGradient is the identity forward and scales the gradient', () => {
  const x = tf.tensor1d([1, 2, 3]);
  expect(Array.from(scaleGradient(x, 0.25).dataSync())).toEqual([1, 2, 3]);
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.square(scaleGradient(v, 0.25))))(x);
  expect(Array.from(g.dataSync())).toEqual([0.5, 1, 1.5]);
});

it('DenseStack initialisation is fixed by the seed and rejects a wrong input width', () => {
  const make = (seed: number) => new DenseStack({ inputSize: 4, units: [3, 2], activation: 'relu', outputActivation: 'linear', scope: `t${seed}-${Math.random()}`, rng: Rng.fromSeed(seed) });
  const a = make(1);
  const b = make(1);
  const c = make(2);
  expect(a.variables()[0]!.arraySync()).toEqual(b.variables()[0]!.arraySync());
  expect(a.variables()[0]!.arraySync()).not.toEqual(c.variables()[0]!.arraySync());
  expect(() => a.apply(tf.zeros([2, 5]), { training: false })).toThrowError(/expects 4 input features, got 5/);
  [a, b, c].forEach((s) => s.dispose());
});

describe('withConstants: a dense layer skips the gradient of an input nobody differentiates', () => {
  it('same kernel and bias gradients, one matMul fewer in the backward pass, and the mark ends with the scope', async () => {
    const x = tf.randomNormal([6, 5], 0, 1, 'float32', 11);
    const kernel = tf.variable(tf.randomNormal([5, 3], 0, 1, 'float32', 12));
    const bias = tf.variable(tf.zeros([3]));
    const loss = () => tf.sum(tf.square(dense(x as tf.Tensor2D, kernel as unknown as tf.Tensor2D, bias))) as tf.Scalar;
    const plain = tf.variableGrads(loss, [kernel, bias]);
    const matMuls = async (fn: () => void) => (await tf.profile(fn)).kernels.filter((k) => k.name === 'BatchMatMul').length;
    let marked: ReturnType<typeof tf.variableGrads> | undefined;
    const countMarked = await matMuls(() => withConstants([x], () => (marked = tf.variableGrads(loss, [kernel, bias]))));
    const countPlain = await matMuls(() => tf.dispose(Object.values(tf.variableGrads(loss, [kernel, bias]).grads)));
    expect(countPlain - countMarked).toBe(1); // forward, dW (and dx only without the mark)
    for (const v of [kernel, bias]) {
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(plain.grads[v.name]!, marked!.grads[v.name]!))).dataSync()[0])).toBe(0);
    }
    const countAfter = await matMuls(() => tf.dispose(Object.values(tf.variableGrads(loss, [kernel, bias]).grads)));
    expect(countAfter).toBe(countPlain);
    tf.dispose([x, kernel, bias, plain.value, marked!.value, ...Object.values(plain.grads), ...Object.values(marked!.grads)]);
  });
});
