import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { columnSums, oneHotConstant, sliceEqual, sliceParts, stackConstant } from '../src/nn/slices';

// sliceParts cuts by halving (tfjs-backend-wasm copies a slice's whole input per slice); its parts
// must be exactly tf.split's, for any number of parts, sizes and axis.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('sliceParts', () => {
  for (const [sizes, axis] of [
    [[3], 1],
    [[1, 2], 1],
    [[2, 1, 4, 1, 1], 1],
    [[1, 1, 1, 1, 1, 1, 1], 0],
    [[4, 3], 0],
    [[70, 64, 3], 1], // parts of ≥ 64 values a row are copied by rows, narrower ones by elements
  ] as [number[], number][]) {
    it(`parts of sizes [${sizes.join(', ')}] on axis ${axis} equal tf.split's, with nothing left behind`, () => {
      const total = sizes.reduce((a, b) => a + b, 0);
      const shape = axis === 0 ? [total, 3] : [2, total];
      const x = tf.tensor2d(Array.from({ length: shape[0]! * shape[1]! }, (_, i) => i * 0.5 - 3), shape as [number, number]);
      const before = tf.memory().numTensors;
      const parts = sliceParts(x, sizes, axis);
      expect(tf.memory().numTensors).toBe(before + sizes.length);
      const reference = tf.split(x, sizes, axis);
      parts.forEach((part, i) => {
        expect(part.shape).toEqual(reference[i]!.shape);
        expect(part.arraySync()).toEqual(reference[i]!.arraySync());
      });
      tf.dispose([...parts, ...reference]);
      expect(x.isDisposed).toBe(false);
      x.dispose();
    });
  }

  it('sliceEqual cuts 40 equal parts of a [3, 400] gradient like tf.split', () => {
    const x = tf.randomNormal([3, 400], 0, 1, 'float32', 4);
    const parts = sliceEqual(x, 40, 1);
    const reference = tf.split(x, 40, 1);
    expect(parts.map((p, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(p, reference[i]!))).dataSync()[0]))).toEqual(new Array(40).fill(0));
    tf.dispose([x, ...parts, ...reference]);
  });

  it('stackConstant equals tf.stack for 40 parts on axes 0 and 1 (targets of 40 tasks)', () => {
    const parts = Array.from({ length: 40 }, (_, i) => tf.randomNormal([3, 7], 0, 1, 'float32', i));
    for (const axis of [0, 1]) {
      const mine = stackConstant(parts, axis);
      const reference = tf.stack(parts, axis);
      expect(mine.shape).toEqual(reference.shape);
      expect(mine.arraySync()).toEqual(reference.arraySync());
      tf.dispose([mine, reference]);
    }
    tf.dispose(parts);
  });

  for (const axis of [0, 1, 2]) {
    it(`stackConstant on axis ${axis} equals tf.stack (int32 and float32)`, () => {
      const parts = [0, 1, 2].map((i) => tf.tensor2d(Array.from({ length: 6 }, (_, j) => i * 10 + j), [2, 3]));
      const ints = parts.map((p) => tf.cast(p, 'int32'));
      for (const list of [parts, ints]) {
        const mine = stackConstant(list, axis);
        const reference = tf.stack(list, axis);
        expect([mine.shape, mine.dtype]).toEqual([reference.shape, reference.dtype]);
        expect(mine.arraySync()).toEqual(reference.arraySync());
        tf.dispose([mine, reference]);
      }
      tf.dispose([...parts, ...ints]);
    });
  }
});

describe('oneHotConstant', () => {
  it('equals tfjs\'s cast–oneHot–cast, masked rows class 0, out-of-range indices a zero row; null for non-integers', () => {
    const indices = tf.tensor1d([2, 0, 1, 4, -1, 1, 0], 'int32');
    const mask = tf.tensor1d([1, 1, 0, 1, 1, 1, 0]);
    const host = oneHotConstant(indices, 3, mask)!;
    const masked = tf.where(tf.greater(mask, 0), tf.cast(indices, 'float32'), tf.zerosLike(mask));
    const device = tf.cast(tf.oneHot(tf.cast(masked, 'int32'), 3), 'float32');
    expect(host.dtype).toBe('float32');
    expect(host.arraySync()).toEqual(device.arraySync());
    expect((host.arraySync() as number[][])[3]).toEqual([0, 0, 0]);
    const column = tf.tensor2d([[1], [2]]);
    expect(oneHotConstant(column, 3, null)!.arraySync()).toEqual([
      [0, 1, 0],
      [0, 0, 1],
    ]);
    // A fractional or NaN index outside the mask: the caller keeps tfjs's path.
    expect(oneHotConstant(tf.tensor1d([0.5, 1]), 3, null)).toBeNull();
    expect(oneHotConstant(tf.tensor1d([NaN, 1]), 3, tf.tensor1d([1, 1]))).toBeNull();
    // …but not when that row is masked out.
    expect(oneHotConstant(tf.tensor1d([NaN, 1]), 3, tf.tensor1d([0, 1]))!.arraySync()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    tf.dispose([indices, mask, host, masked, device, column]);
  });
});

describe('columnSums (bias gradients as 1ᵀ·dy)', () => {
  for (const shape of [[256, 400], [1, 5], [7, 1], [3, 2]] as [number, number][]) {
    it(`[${shape.join(', ')}]: each column's sum, as a float64 sum on the host gives it, with nothing left behind`, () => {
      const [rows, columns] = shape;
      const values = Float32Array.from({ length: rows * columns }, (_, i) => Math.sin(i * 1.7) * 3 + (i % 5) - 2);
      const x = tf.tensor2d(values, shape);
      const before = tf.memory().numTensors;
      const sums = columnSums(x);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(sums.shape).toEqual([columns]);
      const got = sums.dataSync();
      for (let c = 0; c < columns; c++) {
        let exact = 0;
        for (let r = 0; r < rows; r++) exact += values[r * columns + c]!;
        expect(Math.abs(got[c]! - exact)).toBeLessThan(1e-5 * Math.max(1, rows));
      }
      tf.dispose([x, sums]);
    });
  }
});
