import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// Loads tfjs's gradient registrations (a plain tfjs-core import has none).
import '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeLength, dselectGate, selectorEntropy, selectorWeights, smoothStep } from './gate';
import { entropyNumber, gateNumbers, selectorNumbers } from './paper-formulas.test-helper';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function values(t: tf.Tensor): number[] {
  const data = Array.from(t.dataSync());
  t.dispose();
  return data;
}

describe('smooth-step S', () => {
  it('takes the hand-computed values at −γ/2, 0, γ/4, γ/2 and is 0 / 1 beyond', () => {
    for (const gamma of [1, 2]) {
      const t = tf.tensor1d([-gamma, -gamma / 2, 0, gamma / 4, gamma / 2, gamma]);
      // S(γ/4) = −2/64 + 3/8 + 1/2 = 0.84375 for every γ.
      const s = values(smoothStep(t, gamma));
      expect(s[0]).toBe(0);
      expect(s[1]).toBeCloseTo(0, 7);
      expect(s[2]).toBeCloseTo(0.5, 7);
      expect(s[3]).toBeCloseTo(0.84375, 6);
      expect(s[4]).toBeCloseTo(1, 7);
      expect(s[5]).toBe(1);
      t.dispose();
    }
  });

  it("has a continuous derivative: S'(t) = −6t²/γ³ + 3/(2γ) inside, 0 outside, 0 at ±γ/2 from both sides", () => {
    const gamma = 2;
    const derivative = tf.grad((t: tf.Tensor) => tf.sum(smoothStep(t, gamma)));
    const points = [-1.5, -1 - 1e-3, -1, -1 + 1e-3, 0, 0.5, 1 - 1e-3, 1, 1 + 1e-3, 1.5];
    const t = tf.tensor1d(points);
    const d = values(derivative(t));
    t.dispose();
    points.forEach((p, i) => {
      const expected = Math.abs(p) >= gamma / 2 ? 0 : (-6 * p * p) / gamma ** 3 + 3 / (2 * gamma);
      expect(d[i]).toBeCloseTo(expected, 5);
    });
    expect(d[4]).toBeCloseTo(0.75, 6); // 3/(2γ)
    expect(d[5]).toBeCloseTo(0.5625, 6); // 9/(8γ) at γ/4
    // Across each boundary the slope changes by O(δ) only (here < 1e-2 for δ = 1e-3).
    expect(Math.abs(d[1]! - d[3]!)).toBeLessThan(1e-2);
    expect(Math.abs(d[6]! - d[8]!)).toBeLessThan(1e-2);
    expect(d[2]).toBe(0);
    expect(d[7]).toBe(0);
  });
});

describe('DSelect-k gate', () => {
  it('E = 4, k = 1: the weights are the product formula and sum to 1', () => {
    // γ = 1, z = (0.1, −0.3): S(0.1) = −0.002 + 0.15 + 0.5 = 0.648, S(−0.3) = 0.054 − 0.45 + 0.5 = 0.104.
    // r(00) = 0.352 · 0.896, r(01) = 0.648 · 0.896, r(10) = 0.352 · 0.104, r(11) = 0.648 · 0.104 (bit 0 = z₀).
    const expected = [0.315392, 0.580608, 0.036608, 0.067392];
    expect(selectorNumbers([0.1, -0.3], 1).map((r) => Number(r.toFixed(6)))).toEqual(expected);
    const z = tf.tensor3d([[[0.1, -0.3]]]);
    const alpha = tf.tensor2d([[0.7]]);
    const gate = values(dselectGate(z, alpha, 4, 1));
    gate.forEach((g, l) => expect(g).toBeCloseTo(expected[l]!, 6));
    expect(gate.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(values(selectorWeights(z, 1))).toEqual(gate);
    tf.dispose([z, alpha]);
  });

  it('once |z| ≥ γ/2 in every coordinate, a selector is exactly one-hot on the expert whose binary code matches', () => {
    for (const gamma of [1, 0.5]) {
      for (let code = 0; code < 8; code++) {
        // bit j of the code set ⇔ z_j ≥ γ/2.
        const zRow = [0, 1, 2].map((j) => ((code >> j) & 1 ? gamma / 2 + 0.3 * j : -gamma / 2 - 0.1 * j));
        const z = tf.tensor3d([[zRow]]);
        const alpha = tf.tensor2d([[0]]);
        const gate = values(dselectGate(z, alpha, 8, gamma));
        expect(gate).toEqual(Array.from({ length: 8 }, (_, l) => (l === code ? 1 : 0)));
        tf.dispose([z, alpha]);
      }
    }
  });

  it('k = 2 saturated selectors give weight softmax(α) to exactly two experts (k-sparse)', () => {
    // Selector 0 on code 1 (z = (+, −)), selector 1 on code 3 (z = (+, +)); α = (0.3, −0.2).
    const z = tf.tensor3d([[[0.6, -0.5], [0.5, 2]]]);
    const alpha = tf.tensor2d([[0.3, -0.2]]);
    const w0 = Math.exp(0.3) / (Math.exp(0.3) + Math.exp(-0.2));
    const gate = values(dselectGate(z, alpha, 4, 1));
    expect(gate[0]).toBe(0);
    expect(gate[2]).toBe(0);
    expect(gate[1]).toBeCloseTo(w0, 6);
    expect(gate[3]).toBeCloseTo(1 - w0, 6);
    tf.dispose([z, alpha]);
  });

  it('matches the formula for a batch, k = 3, E from 2 to 8 (codes ≥ E fold onto expert code − E)', () => {
    for (const experts of [2, 3, 4, 5, 6, 7, 8]) {
      const m = codeLength(experts);
      expect(m).toBe(Math.ceil(Math.log2(experts)));
      const zRows = [0, 1].map((n) => [0, 1, 2].map((i) => Array.from({ length: m }, (_, j) => Math.sin(1 + n + 2 * i + 3 * j + experts) * 0.7)));
      const alphaRows = [[0.2, -0.4, 1], [0, 0.5, -1]];
      const z = tf.tensor3d(zRows);
      const alpha = tf.tensor2d(alphaRows);
      const gate = values(dselectGate(z, alpha, experts, 1));
      [0, 1].forEach((n) => {
        const expected = gateNumbers(zRows[n]!, alphaRows[n]!, experts, 1);
        const row = gate.slice(n * experts, (n + 1) * experts);
        row.forEach((g, e) => expect(g).toBeCloseTo(expected[e]!, 6));
        expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      });
      tf.dispose([z, alpha]);
    }
  });

  it('E = 3: a selector saturated on the missing code 3 (binary 11) selects expert 0', () => {
    const z = tf.tensor3d([[[0.5, 0.5]]]);
    const alpha = tf.tensor2d([[0]]);
    expect(values(dselectGate(z, alpha, 3, 1))).toEqual([1, 0, 0]);
    tf.dispose([z, alpha]);
  });

  it('selector entropy: −Σ r log r by hand; 0 when one-hot', () => {
    const z = tf.tensor3d([[[0.1, -0.3]], [[0.5, -0.5]]]);
    const h = entropyNumber([0.315392, 0.580608, 0.036608, 0.067392]);
    // Averaged over the two rows: (h + 0) / 2.
    expect(values(selectorEntropy(z, 1))[0]).toBeCloseTo(h / 2, 5);
    z.dispose();
  });
});
