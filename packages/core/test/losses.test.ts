import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  binaryCrossEntropy,
  canonicalTarget,
  createMetric,
  huber,
  isMtlError,
  maskedMean,
  meanAbsoluteError,
  meanSquaredError,
  softmaxCrossEntropy,
  type TaskSpec,
} from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('losses against hand-worked values', () => {
  it('softmax cross-entropy: log Σ e^z − z_y', () => {
    const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
    const oneHot = tf.tensor2d([[0, 0, 1], [1, 0, 0]]);
    const expected = [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3, Math.log(3)];
    values(softmaxCrossEntropy(logits, oneHot)).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('softmax cross-entropy on [N, g, C] with one-hot, soft and all-zero (masked) rows: values and dz = dy·(softmax·Σy − y), worked in plain JS', () => {
    // Row 2 has logits 1000 apart: lse must not overflow, and the low class's loss is ~1000.
    const z = [
      [[1, 2, 3], [0.5, -1, 0]],
      [[0, 0, 0], [2, 2, -1]],
      [[1000, 0, -3], [-4, 1, 2]],
    ];
    const y = [
      [[0, 0, 1], [0.2, 0.3, 0.5]],
      [[1, 0, 0], [0, 0, 0]],
      [[0, 1, 0], [0, 0, 1]],
    ];
    const dy = [[0.5, -1], [2, 3], [1, 0.25]];
    const lse = (row: number[]) => {
      const m = Math.max(...row);
      return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    };
    const logits = tf.tensor3d(z);
    const target = tf.tensor3d(y);
    const cotangent = tf.tensor2d(dy);
    const before = tf.memory().numTensors;
    const loss = softmaxCrossEntropy(logits, target);
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(softmaxCrossEntropy(x, target), cotangent)))(logits);
    const lossValues = loss.arraySync() as unknown as number[][];
    const gradValues = grad.arraySync() as number[][][];
    z.forEach((rows, n) =>
      rows.forEach((row, g) => {
        const t = y[n]![g]!;
        const mass = t.reduce((a, v) => a + v, 0);
        expect(lossValues[n]![g]!).toBeCloseTo(t.reduce((a, v, c) => a - v * (row[c]! - lse(row)), 0), 3);
        row.forEach((v, c) => expect(gradValues[n]![g]![c]!).toBeCloseTo(dy[n]![g]! * (Math.exp(v - lse(row)) * mass - t[c]!), 5));
      }),
    );
    expect(lossValues[2]![0]!).toBeCloseTo(1000, 3);
    tf.dispose([loss, grad]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, target, cotangent]);
  });

  it('binary cross-entropy on logits: −y log σ(z) − (1−y) log(1−σ(z)), stable at large |z|', () => {
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
    const z = [0.5, -2, 40];
    const y = [1, 0, 0];
    const result = values(binaryCrossEntropy(tf.tensor2d(z, [3, 1]), tf.tensor2d(y, [3, 1])));
    expect(result[0]).toBeCloseTo(-Math.log(sigmoid(0.5)), 5);
    expect(result[1]).toBeCloseTo(-Math.log(1 - sigmoid(-2)), 5);
    expect(result[2]).toBeCloseTo(40, 4); // log(1 + e^40) ≈ 40, no overflow
  });

  it('MSE, MAE and Huber average over units', () => {
    const p = tf.tensor2d([[1, 2], [0, 0]]);
    const t = tf.tensor2d([[0, 4], [3, 0.5]]);
    expect(values(meanSquaredError(p, t))).toEqual([2.5, 4.625]);
    expect(values(meanAbsoluteError(p, t))).toEqual([1.5, 1.75]);
    // d = 1 → ½; d = 2 → 2 − ½ = 1.5; d = 3 → 2.5; d = 0.5 → 0.125
    const h = values(huber(1)(p, t));
    expect(h[0]).toBeCloseTo((0.5 + 1.5) / 2, 6);
    expect(h[1]).toBeCloseTo((2.5 + 0.125) / 2, 6);
  });

  it('maskedMean averages over labelled rows only and keeps NaN on unlabelled rows out of the gradient', () => {
    const mask = tf.tensor1d([1, 0, 1]);
    expect(maskedMean(tf.tensor1d([2, NaN, 4]), mask).dataSync()[0]).toBe(3);
    expect(maskedMean(tf.tensor1d([2, 5, 4]), null).dataSync()[0]).toBeCloseTo(11 / 3, 6);
    const task: TaskSpec = { name: 'r', kind: 'regression', units: 1 };
    const target = canonicalTarget(task, tf.tensor1d([1, NaN, 2]), 3, mask);
    const grad = tf.grad((p: tf.Tensor) => maskedMean(meanSquaredError(p, target), mask))(tf.tensor2d([0, 0, 0], [3, 1]));
    expect(values(grad)).toEqual([-1, 0, -2]); // d/dp of ((p−y)²)/2 over 2 labelled rows
  });
});

describe('canonical targets', () => {
  it('class indices become one-hot; binary and regression get a unit axis', () => {
    const cls: TaskSpec = { name: 'c', kind: 'multiclass', units: 3 };
    expect(canonicalTarget(cls, tf.tensor1d([2, 0]), 2, null).arraySync()).toEqual([[0, 0, 1], [1, 0, 0]]);
    expect(canonicalTarget({ name: 'b', kind: 'binary', units: 1 }, tf.tensor1d([1, 0]), 2, null).shape).toEqual([2, 1]);
    expect(canonicalTarget({ name: 'r', kind: 'regression', units: 1 }, tf.tensor1d([1, 0]), 2, null).shape).toEqual([2, 1]);
  });

  it('a mismatched shape is a SHAPE_MISMATCH naming the task, kind and expected shape', () => {
    const task: TaskSpec = { name: 'depth', kind: 'regression', units: 2 };
    try {
      canonicalTarget(task, tf.zeros([4, 3]), 4, null);
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'SHAPE_MISMATCH')).toBe(true);
      expect((error as Error).message).toBe("task 'depth' (regression, units 2): targets of shape [4, 3] do not match; expected [4, 2]");
    }
  });
});

describe('metrics against hand-worked values', () => {
  const flat = (rows: number[][]) => Float32Array.from(rows.flat());
  it('accuracy (multiclass) counts argmax matches on labelled rows', () => {
    const m = createMetric('accuracy', { name: 'c', kind: 'multiclass', units: 3 });
    m.update(flat([[1, 0, 0], [0, 2, 1], [0, 0, 5], [3, 0, 0]]), flat([[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0]]), Float32Array.from([1, 1, 1, 0]), 4, 3);
    expect(m.result()).toBeCloseTo(2 / 3, 10);
  });

  it('F1 = 2TP / (2TP + FP + FN) on logits thresholded at 0', () => {
    const m = createMetric('f1', { name: 'b', kind: 'binary', units: 1 });
    // predictions: +, +, −, −, + ; labels: 1, 0, 1, 0, 1 → TP 2, FP 1, FN 1
    m.update(Float32Array.from([2, 1, -1, -3, 0.5]), Float32Array.from([1, 0, 1, 0, 1]), null, 5, 1);
    expect(m.result()).toBeCloseTo(4 / 6, 10);
  });

  it('RMSE, MAE and R² over two batches equal the one-pass values', () => {
    const y = [3, -0.5, 2, 7];
    const p = [2.5, 0, 2, 8];
    const mean = y.reduce((a, b) => a + b, 0) / 4;
    const ssRes = y.reduce((s, v, i) => s + (v - p[i]!) ** 2, 0);
    const ssTot = y.reduce((s, v) => s + (v - mean) ** 2, 0);
    const task: TaskSpec = { name: 'r', kind: 'regression', units: 1 };
    const results = (['rmse', 'mae', 'r2'] as const).map((name) => {
      const m = createMetric(name, task);
      m.update(Float32Array.from(p.slice(0, 2)), Float32Array.from(y.slice(0, 2)), null, 2, 1);
      m.update(Float32Array.from(p.slice(2)), Float32Array.from(y.slice(2)), null, 2, 1);
      return m.result();
    });
    expect(results[0]).toBeCloseTo(Math.sqrt(ssRes / 4), 10);
    expect(results[1]).toBeCloseTo((0.5 + 0.5 + 0 + 1) / 4, 10);
    expect(results[2]).toBeCloseTo(1 - ssRes / ssTot, 10); // 0.9486… as in scikit-learn's r2_score example
  });

  it('a metric that does not fit the task kind is refused', () => {
    expect(() => createMetric('rmse', { name: 'c', kind: 'multiclass', units: 3 })).toThrowError("task 'c': metric 'rmse' does not apply to a multiclass task");
  });
});
