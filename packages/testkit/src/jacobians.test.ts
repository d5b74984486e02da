import { Rng } from '@mtljs/core';
import { expect, it } from 'vitest';
import { gramianOf, randomJacobian, REFERENCE_JACOBIANS } from './jacobians';

it('gramianOf: hand-worked G of J1 is [[18, −22], [−22, 38]]', () => {
  expect(gramianOf(REFERENCE_JACOBIANS.J1)).toEqual([
    [18, -22],
    [-22, 38],
  ]);
});

it('randomJacobian covers the cases the property loops need', () => {
  const rng = Rng.fromSeed(1);
  let zero = 0;
  let zeroRow = 0;
  let counts = new Set<number>();
  for (let trial = 0; trial < 1000; trial++) {
    const j = randomJacobian(rng, trial);
    counts.add(j.length);
    expect(j.every((row) => row.length === j[0]!.length && row.every(Number.isFinite))).toBe(true);
    if (j.every((row) => row.every((v) => v === 0))) zero += 1;
    else if (j.some((row) => row.every((v) => v === 0))) zeroRow += 1;
  }
  expect([...counts].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(zero).toBe(20);
  expect(zeroRow).toBeGreaterThan(100);
  expect(randomJacobian(rng, 1, 3)).toHaveLength(3);
});
