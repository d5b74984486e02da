import type { Rng } from '@mtljs/core';

/**
 * The reference Jacobians of the gradient-aggregation acceptance tests (rows are task gradients):
 * J1 two conflicting tasks, J2 two orthonormal ones, J3 three tasks in general position.
 */
export const REFERENCE_JACOBIANS: {
  /** [[−4, 1, 1], [6, 1, 1]]: two conflicting tasks (⟨g1, g2⟩ = −22). */
  readonly J1: number[][];
  /** [[1, 0], [0, 1]]: two orthonormal tasks. */
  readonly J2: number[][];
  /** [[1, 2, 3], [−2, 1, 0], [0.5, −1, 2]]: three tasks in general position. */
  readonly J3: number[][];
} = {
  J1: [
    [-4, 1, 1],
    [6, 1, 1],
  ],
  J2: [
    [1, 0],
    [0, 1],
  ],
  J3: [
    [1, 2, 3],
    [-2, 1, 0],
    [0.5, -1, 2],
  ],
};

/** G = J·Jᵀ in plain numbers. */
export function gramianOf(jacobian: readonly (readonly number[])[]): number[][] {
  return jacobian.map((a) => jacobian.map((b) => a.reduce((sum, value, k) => sum + value * b[k]!, 0)));
}

/**
 * A random Jacobian of 2–10 tasks for property loops: Gaussian rows with scales from 1e-6 to 1e6,
 * rows repeating an earlier one times ±(0.1…2) with 1e-4 relative noise (nearly parallel or
 * opposite), exact combinations of earlier rows (rank-deficient), zero rows, fewer columns than
 * tasks, and — every 50th trial — an all-zero Jacobian. `tasks` fixes the task count.
 */
export function randomJacobian(rng: Rng, trial: number, tasks?: number): number[][] {
  const count = tasks ?? 2 + rng.int(9);
  const columns = 1 + rng.int(12);
  const rows: number[][] = [];
  for (let t = 0; t < count; t++) {
    const kind = t === 0 ? 0 : rng.int(6);
    const scale = 10 ** rng.uniform(-6, 6);
    if (kind <= 1) rows.push(Array.from({ length: columns }, () => rng.normal() * scale));
    else if (kind === 2) {
      const source = rows[rng.int(t)]!;
      const factor = (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.1, 2);
      rows.push(source.map((x) => factor * x * (1 + 1e-4 * rng.normal())));
    } else if (kind === 3) {
      const a = rng.uniform(-2, 2);
      const b = rng.uniform(-2, 2);
      const r = rows[rng.int(t)]!;
      const s = rows[rng.int(t)]!;
      rows.push(r.map((x, k) => a * x + b * s[k]!));
    } else if (kind === 4) rows.push(new Array<number>(columns).fill(0));
    else rows.push(Array.from({ length: columns }, () => rng.normal()));
  }
  if (trial % 50 === 0) rows.forEach((row) => row.fill(0));
  return rows;
}
