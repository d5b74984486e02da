import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { combineColumns, combineRows, gramian, gramianOfColumns, gramianParts } from '../src/gradient-math';

// The Gramian G = J Jᵀ and the combination Σ_t w_t J_t take different routes by the number of rows
// (transposeB up to 4 rows; above, an explicit Jᵀ that also serves the combination). Each route is
// checked against sums written out by hand in plain JS.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function rows(count: number, width: number): number[][] {
  return Array.from({ length: count }, (_, t) => Array.from({ length: width }, (_, d) => Math.sin(1 + 3 * t + 0.7 * d) * (t + 1)));
}

describe('gramianParts and combineRows', () => {
  for (const count of [1, 2, 4, 5, 9]) {
    it(`${count} rows: G_ts = Σ_d J_td J_sd, and the combination Σ_t w_t J_t, as written by hand`, () => {
      const values = rows(count, 13);
      const weights = values.map((_, t) => 0.5 - 0.3 * t);
      const jacobian = tf.tensor2d(values);
      const w = tf.tensor1d(weights);
      const before = tf.memory().numTensors;
      const { gramian: g, transposed } = gramianParts(jacobian);
      expect(transposed === null).toBe(count <= 4);
      const combined = combineRows(jacobian, transposed, w);
      const gValues = g.arraySync();
      values.forEach((a, t) => values.forEach((b, s) => expect(gValues[t]![s]!).toBeCloseTo(a.reduce((sum, x, d) => sum + x * b[d]!, 0), 4)));
      const expected = values[0]!.map((_, d) => values.reduce((sum, row, t) => sum + weights[t]! * row[d]!, 0));
      Array.from(combined.dataSync()).forEach((x, d) => expect(x).toBeCloseTo(expected[d]!, 5));
      tf.dispose([g, combined, ...(transposed ? [transposed] : [])]);
      expect(tf.memory().numTensors).toBe(before);
      const alone = gramian(jacobian);
      expect(alone.arraySync()).toEqual(gValues);
      tf.dispose([alone, jacobian, w]);
    });
  }
});

// The same from Jᵀ ([D, T], the layout of a recorded pass's gradient columns): G by transposeA up to
// 4 tasks, else J·Jᵀ from the J the caller supplies; the combination through an [8T, 8] block
// diagonal when T ≤ 4 and D is a multiple of 8 (D = 16 here), else Jᵀ·w (D = 13).
describe('gramianOfColumns and combineColumns', () => {
  for (const [count, width] of [[1, 16], [2, 16], [2, 13], [4, 24], [5, 16], [9, 13]] as const) {
    it(`${count} tasks, D = ${width}: the same G and Σ_t w_t J_t as written by hand`, () => {
      const values = rows(count, width);
      const weights = values.map((_, t) => 0.5 - 0.3 * t);
      const jacobian = tf.tensor2d(values);
      const columns = tf.transpose(jacobian) as tf.Tensor2D;
      const w = tf.tensor1d(weights);
      const before = tf.memory().numTensors;
      let asked = 0;
      const g = gramianOfColumns(columns, () => (asked++, jacobian));
      expect(asked).toBe(count <= 4 ? 0 : 1);
      const combined = combineColumns(columns, w);
      expect(combined.shape).toEqual([width]);
      const gValues = g.arraySync();
      values.forEach((a, t) => values.forEach((b, s) => expect(gValues[t]![s]!).toBeCloseTo(a.reduce((sum, x, d) => sum + x * b[d]!, 0), 4)));
      const expected = values[0]!.map((_, d) => values.reduce((sum, row, t) => sum + weights[t]! * row[d]!, 0));
      Array.from(combined.dataSync()).forEach((x, d) => expect(x).toBeCloseTo(expected[d]!, 5));
      tf.dispose([g, combined]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([jacobian, columns, w]);
    });
  }
});
