import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { CONTINUOUS_DESCRIPTORS } from './arrhenius';
import { kineticsData, sourceRows } from './dataset';

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const std = (values: number[]) => Math.sqrt(mean(values.map((v) => (v - mean(values)) ** 2)));

describe('kineticsData', () => {
  const data = kineticsData({ seed: 5, trainSize: 1000, testSize: 400, labelledEa: 0.1 });

  it('standardises inputs and targets with statistics of the training split', () => {
    for (let j = 0; j < CONTINUOUS_DESCRIPTORS; j++) {
      const column = data.train.inputs.map((row) => row[j]!);
      expect(Math.abs(mean(column))).toBeLessThan(1e-9);
      expect(std(column)).toBeCloseTo(1, 9);
    }
    // The class one-hot is left as 0/1.
    for (const row of data.train.inputs) expect(row.slice(CONTINUOUS_DESCRIPTORS).sort()).toEqual([0, 0, 0, 1]);
    const lnk = data.train.targets.lnk as number[];
    expect(Math.abs(mean(lnk))).toBeLessThan(1e-9);
    expect(std(lnk)).toBeCloseTo(1, 9);
    // Ea's statistics come from its labelled training rows only.
    const ea = data.train.targets.ea.filter((v): v is number => v !== null);
    expect(ea).toHaveLength(100);
    expect(Math.abs(mean(ea))).toBeLessThan(1e-9);
    expect(std(ea)).toBeCloseTo(1, 9);
    // Standardised targets map back to the measured values.
    const { lnk: lnkStats } = data.stats.targets;
    expect(lnk[3]! * lnkStats.std + lnkStats.mean).toBeCloseTo(data.train.reactions[3]!.lnKObserved, 9);
    // The test split uses the training statistics, so its own mean is not exactly 0.
    expect(Math.abs(mean(data.test.targets.lnk as number[]))).toBeGreaterThan(1e-6);
  });

  it('labels Ea on a seeded, nested subset; the test split is fully labelled and independent of the training size', () => {
    expect(data.labelledEaCount).toBe(100);
    expect(sourceRows(data.train, ['ea'], true)).toBe(100);
    expect(sourceRows(data.train, ['lnk', 'ea'], false)).toBe(1000);
    expect(data.test.targets.ea.every((v) => v !== null)).toBe(true);
    const more = kineticsData({ seed: 5, trainSize: 1000, testSize: 400, labelledEa: 0.3 });
    const labelled = (d: typeof data) => d.train.targets.ea.flatMap((v, i) => (v === null ? [] : [i]));
    expect(labelled(more)).toHaveLength(300);
    expect(labelled(data).every((i) => labelled(more).includes(i))).toBe(true);
    const bigger = kineticsData({ seed: 5, trainSize: 1500, testSize: 400, labelledEa: 0.1 });
    expect(bigger.test.reactions).toEqual(data.test.reactions);
    expect(kineticsData({ seed: 6, trainSize: 1000, testSize: 400, labelledEa: 0.1 }).test.reactions).not.toEqual(data.test.reactions);
  });

  it('rejects a labelled fraction outside (0, 1] and too small a training split with BAD_CONFIG', () => {
    for (const [options, field] of [
      [{ labelledEa: 0 }, 'labelledEa'],
      [{ labelledEa: 1.5 }, 'labelledEa'],
      [{ trainSize: 1 }, 'trainSize'],
    ] as const) {
      let error: unknown;
      try {
        kineticsData({ seed: 1, trainSize: 100, testSize: 10, labelledEa: 0.5, ...(options as object) });
      } catch (caught) {
        error = caught;
      }
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain(field);
    }
  });
});
