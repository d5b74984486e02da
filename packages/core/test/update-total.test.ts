import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { updateTotal } from '../src/engine';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** An encoder's and 40 heads' shapes, a scalar and a rank-3 variable: every grouping case. */
function updates(seed: number): tf.Tensor[] {
  const shapes: number[][] = [[784, 8], [8], [8, 4], [4], ...Array.from({ length: 40 }, (_, i) => (i % 2 ? [10] : [4, 10])), [], [], [2, 3, 5], [7, 3, 5]];
  return shapes.map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', seed + i));
}

describe('updateTotal (the finite check of a step’s update)', () => {
  it('equals the sum of every entry, summed in float64 on the host', () => {
    const list = updates(1);
    const total = tf.tidy(() => updateTotal(list));
    const reference = list.reduce((sum, t) => sum + Array.from(t.dataSync()).reduce((a, b) => a + b, 0), 0);
    expect(total.shape).toEqual([]);
    expect(total.dataSync()[0]).toBeCloseTo(reference, 3);
    tf.dispose([total, ...list]);
  });

  it('is NaN or ±Inf when one entry of any group is, and 0 for no update', () => {
    for (const [position, bad] of [[5, Number.NaN], [44, Number.POSITIVE_INFINITY], [46, Number.NEGATIVE_INFINITY], [0, Number.NaN]] as const) {
      const list = updates(2);
      const values = list[position]!.dataSync().slice();
      values[values.length - 1] = bad;
      list[position]!.dispose();
      list[position] = tf.tensor(values, list[position]!.shape);
      const total = tf.tidy(() => updateTotal(list));
      expect(Number.isFinite(total.dataSync()[0]), `position ${position}`).toBe(false);
      tf.dispose([total, ...list]);
    }
    const none = updateTotal([]);
    expect(none.dataSync()[0]).toBe(0);
    none.dispose();
  });

  it('leaves no tensor behind in a tidy scope', () => {
    const list = updates(3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) tf.tidy(() => void updateTotal(list).dataSync());
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(list);
  });
});
