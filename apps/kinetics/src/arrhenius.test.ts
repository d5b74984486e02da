import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { activationEnergy, descriptorRow, generateReactions, lnPreExponential, REACTION_CLASSES } from './arrhenius';

// The README's parameter table, transcribed here by hand so the generator is checked against the
// documentation rather than against itself: [E0, α, ln A0, rotor penalty] per class.
const TABLE: Record<number, [number, number, number, number]> = {
  0: [60, 0.3, 22.5, 0.3],
  1: [66, 0.25, 21.5, 0.3],
  2: [147, 0.4, 29.5, 0.35],
  3: [120, 0.5, 28, 0.45],
};
const R = 8.314; // J/(mol·K)

const big = generateReactions({ count: 20_000, seed: 7 });

describe('Arrhenius generator', () => {
  it('reproduces a worked example by hand', () => {
    // H-atom abstraction, ΔH = −20, D = 420, s = 0.5, p = 0.5, 2 rotors, T = 500 K:
    // Ea = 60 − 0.3·20 + 0.08·20 + 12·0.5 − 8·0.25 = 59.6 kJ/mol; ln A = 22.5 − 0.3·2 − 1.5·0.5 = 21.15;
    // ln k = 21.15 − 59600/(8.314·500) = 6.812737551118595 (float64, by hand in Python).
    const row = { reactionClass: 0, deltaH: -20, bondEnergy: 420, steric: 0.5, polarity: 0.5, rotors: 2 };
    expect(activationEnergy(row)).toBeCloseTo(59.6, 12);
    expect(lnPreExponential(row)).toBeCloseTo(21.15, 12);
    const lnK = Math.log(Math.exp(lnPreExponential(row)) * Math.exp((-activationEnergy(row) * 1000) / (R * 500)));
    expect(Math.abs(lnK - 6.812737551118595)).toBeLessThan(1e-9);
  });

  it('every row satisfies ln k = ln A − Ea/(R·T) before noise, with Ea and ln A from the documented table', () => {
    let worst = { ea: 0, lnA: 0, lnK: 0 };
    for (const r of big) {
      const [e0, alpha, lnA0, rotorPenalty] = TABLE[r.reactionClass]!;
      const ea = e0 + alpha * r.deltaH + 0.08 * (r.bondEnergy - 400) + 12 * r.steric - 8 * r.polarity ** 2;
      const lnA = lnA0 - rotorPenalty * r.rotors - 1.5 * r.steric;
      // k = A·exp(−Ea/(RT)) taken the long way round, then its logarithm.
      const k = Math.exp(lnA) * Math.exp((-ea * 1000) / (R * r.temperature));
      worst = {
        ea: Math.max(worst.ea, Math.abs(r.ea - ea)),
        lnA: Math.max(worst.lnA, Math.abs(r.lnA - lnA)),
        lnK: Math.max(worst.lnK, Math.abs(r.lnK - Math.log(k))),
      };
    }
    expect(worst.ea).toBeLessThan(1e-9);
    expect(worst.lnA).toBeLessThan(1e-9);
    expect(worst.lnK).toBeLessThan(1e-9);
  });

  it('keeps every quantity in its physical range', () => {
    const outside: string[] = [];
    const check = (ok: boolean, what: string, i: number) => ok || outside.push(`row ${i}: ${what}`);
    for (const [i, r] of big.entries()) {
      const c = REACTION_CLASSES[r.reactionClass]!;
      check(r.ea >= 20 && r.ea <= 200, `Ea ${r.ea}`, i);
      // The reverse barrier Ea − ΔH is positive: no endothermic reaction is faster than thermodynamics allows.
      check(r.ea > Math.max(0, r.deltaH), `Ea ${r.ea} ≤ ΔH ${r.deltaH}`, i);
      check(r.lnA >= 18 && r.lnA <= 30, `ln A ${r.lnA}`, i);
      check(r.temperature >= c.temperature[0] && r.temperature <= c.temperature[1], `T ${r.temperature}`, i);
      check(r.temperature >= 250 && r.temperature <= 1000, `T ${r.temperature}`, i);
      check(r.deltaH >= c.deltaH[0] && r.deltaH <= c.deltaH[1], `ΔH ${r.deltaH}`, i);
    }
    expect(outside.slice(0, 5)).toEqual([]);
    // The draws cover most of the 20–200 kJ/mol window, not a sliver of it.
    const eas = big.map((r) => r.ea);
    expect(Math.min(...eas)).toBeLessThan(30);
    expect(Math.max(...eas)).toBeGreaterThan(185);
    const perClass = REACTION_CLASSES.map((_, k) => big.filter((r) => r.reactionClass === k).length);
    for (const n of perClass) expect(n).toBeGreaterThan(4_500);
  });

  it('adds noise with the stated standard deviations (within 10% on 20,000 rows)', () => {
    const std = (values: number[]) => {
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    };
    const eaNoise = std(big.map((r) => r.eaObserved - r.ea));
    const lnKNoise = std(big.map((r) => r.lnKObserved - r.lnK));
    expect(Math.abs(eaNoise - 3) / 3).toBeLessThan(0.1);
    expect(Math.abs(lnKNoise - 0.3) / 0.3).toBeLessThan(0.1);
    const custom = generateReactions({ count: 20_000, seed: 8, noise: { ea: 2, lnK: 0 } });
    expect(Math.abs(std(custom.map((r) => r.eaObserved - r.ea)) - 2) / 2).toBeLessThan(0.1);
    expect(custom.every((r) => r.lnKObserved === r.lnK)).toBe(true);
  });

  it('is deterministic in its seed and differs between seeds', () => {
    const a = generateReactions({ count: 50, seed: 3 });
    const b = generateReactions({ count: 50, seed: 3 });
    const c = generateReactions({ count: 50, seed: 4 });
    expect(b).toEqual(a);
    expect(c.map((r) => r.lnKObserved)).not.toEqual(a.map((r) => r.lnKObserved));
    // A longer draw with the same seed starts with the same rows.
    expect(generateReactions({ count: 80, seed: 3 }).slice(0, 50)).toEqual(a);
  });

  it('builds input rows of descriptors with 1000/T and a class one-hot', () => {
    const [r] = generateReactions({ count: 1, seed: 11 });
    const row = descriptorRow(r!);
    expect(row).toHaveLength(10);
    expect(row.slice(0, 5)).toEqual([r!.deltaH, r!.bondEnergy, r!.steric, r!.polarity, r!.rotors]);
    expect(row[5]).toBeCloseTo(1000 / r!.temperature, 12);
    expect(row.slice(6).reduce((a, b) => a + b, 0)).toBe(1);
    expect(row[6 + r!.reactionClass]).toBe(1);
  });

  it('rejects bad options with BAD_CONFIG naming the field', () => {
    const attempt = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const negative = attempt(() => generateReactions({ count: 10, seed: 1, noise: { ea: -1 } }));
    expect(isMtlError(negative, 'BAD_CONFIG')).toBe(true);
    expect((negative as Error).message).toContain('noise.ea');
    const count = attempt(() => generateReactions({ count: 2.5, seed: 1 }));
    expect(isMtlError(count, 'BAD_CONFIG')).toBe(true);
    expect((count as Error).message).toContain('count');
  });
});
