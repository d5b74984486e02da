import type { Rng } from '@mtljs/core';

// Small synthetic inputs for weightings, all drawn from a seeded Rng so a failure replays.

/** Width of the synthetic Jacobians: more columns than the largest task count, so J has full row rank. */
export const JACOBIAN_COLUMNS = 8;

/** One weighting call's inputs: all task names, the active ones, their losses and gradients. */
export interface WeightingProblem {
  names: string[];
  /** Indices into `names` of the active tasks, increasing. */
  active: number[];
  /** One loss per active task. */
  losses: number[];
  /** One row of JACOBIAN_COLUMNS per active task; float32-exact values. */
  jacobian: number[][];
}

export function taskNamePool(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `task${i}`);
}

/** A random proper, non-empty subset of 0..count-1 (count ≥ 2), in increasing order. */
export function randomSubset(rng: Rng, count: number): number[] {
  const size = 1 + rng.int(count - 1);
  return rng
    .permutation(count)
    .slice(0, size)
    .sort((a, b) => a - b);
}

/** A permutation of 0..count-1 (count ≥ 2) that moves at least one index. */
export function movingPermutation(rng: Rng, count: number): number[] {
  for (;;) {
    const permutation = rng.permutation(count);
    if (permutation.some((p, i) => p !== i)) return permutation;
  }
}

/**
 * Gaussian rows, except that the second row is −1.5 × the first plus noise: the two tasks
 * conflict, so equal weights give an update that increases task 0's loss and a non-conflicting
 * claim is actually put to the test.
 */
export function randomJacobian(rng: Rng, rows: number, columns = JACOBIAN_COLUMNS): number[][] {
  const jacobian = Array.from({ length: rows }, () => Array.from({ length: columns }, () => rng.normal()));
  if (rows >= 2) jacobian[1] = jacobian[0]!.map((value) => -1.5 * value + 0.5 * rng.normal());
  return jacobian.map((row) => row.map(Math.fround));
}

export function randomProblem(rng: Rng, names: string[], active: number[]): WeightingProblem {
  return {
    names,
    active,
    losses: active.map(() => Math.fround(rng.uniform(0.1, 2))),
    jacobian: randomJacobian(rng, active.length),
  };
}

/** G = c·J·Jᵀ, rounded to float32 as the tensor handed to the plugin will be. */
export function gramianOf(jacobian: number[][], scale = 1): number[][] {
  return jacobian.map((a) => jacobian.map((b) => Math.fround(scale * a.reduce((sum, value, k) => sum + value * b[k]!, 0))));
}

export function matVec(matrix: number[][], vector: readonly number[]): number[] {
  return matrix.map((row) => row.reduce((sum, value, k) => sum + value * vector[k]!, 0));
}

export function maxAbs(values: readonly number[] | number[][]): number {
  return (values as (number | number[])[]).flat().reduce((max, value) => Math.max(max, Math.abs(value)), 0);
}

/** max|actual − expected| relative to max|expected|. */
export function relativeGap(actual: readonly number[], expected: readonly number[]): number {
  const scale = Math.max(maxAbs(expected), 1e-12);
  return actual.reduce((max, value, i) => Math.max(max, Math.abs(value - expected[i]!)), 0) / scale;
}

export function formatNumbers(values: readonly number[]): string {
  return `[${values.map((v) => (Number.isFinite(v) ? Number(v.toPrecision(4)) : v)).join(', ')}]`;
}
