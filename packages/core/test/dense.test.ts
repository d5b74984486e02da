import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, expect, it } from 'vitest';
import { dense, DenseStack, Rng, scaleGradient } from '../src/index';

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
