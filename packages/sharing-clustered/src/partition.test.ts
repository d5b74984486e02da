import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { groupingScore, partitionTasks } from './partition';

/**
 * Six tasks: {0, 1, 2} give each other 0.3, {3, 4} give each other 0.4, the two blocks give each
 * other −0.2; task 5 gives +0.1 to every task and receives −0.5 from every task.
 * affinity[i][j] = Z_{i→j}.
 */
function handMadeAffinity(): number[][] {
  const block = (i: number) => (i <= 2 ? 'x' : i <= 4 ? 'y' : 'z');
  return Array.from({ length: 6 }, (_, i) =>
    Array.from({ length: 6 }, (_, j) => {
      if (i === j) return 1; // the diagonal never enters the criterion
      if (i === 5) return 0.1;
      if (j === 5) return -0.5;
      return block(i) === block(j) ? (block(i) === 'x' ? 0.3 : 0.4) : -0.2;
    }),
  );
}

describe('task grouping (Fifty et al. criterion: Σ_i mean_{j ∈ group(i), j ≠ i} Z_{j→i})', () => {
  it('scores partitions as worked by hand', () => {
    const z = handMadeAffinity();
    // {0,1,2}: 3 × 0.3; {3,4}: 2 × 0.4; {5} alone: 0.
    expect(groupingScore(z, [[0, 1, 2], [3, 4], [5]])).toBeCloseTo(1.7, 12);
    // {0,1,2,5}: tasks 0–2 each receive mean(0.3, 0.3, 0.1) = 7/30; task 5 receives −0.5; {3,4}: 0.8.
    expect(groupingScore(z, [[0, 1, 2, 5], [3, 4]])).toBeCloseTo(3 * (0.7 / 3) - 0.5 + 0.8, 12);
    // {0,1,2},{3,4,5}: 0.9 + 2 × mean(0.4, 0.1) − 0.5.
    expect(groupingScore(z, [[0, 1, 2], [3, 4, 5]])).toBeCloseTo(0.9 + 0.5 - 0.5, 12);
    // One group: tasks 0–2 receive (0.3 + 0.3 − 0.2 − 0.2 + 0.1) / 5, tasks 3–4 receive (0.4 − 0.6 + 0.1) / 5, task 5 −0.5.
    expect(groupingScore(z, [[0, 1, 2, 3, 4, 5]])).toBeCloseTo(3 * 0.06 + 2 * -0.02 - 0.5, 12);
  });

  it('finds the known best partition for k = 1, 2, 3 and 6 by exhaustive search', () => {
    const z = handMadeAffinity();
    expect(partitionTasks(z, 1)).toEqual({ groups: [[0, 1, 2, 3, 4, 5]], score: expect.closeTo(-0.36, 12), search: 'exhaustive' });
    // With two groups task 5 is best kept with the block it hurts least: {0,1,2,5},{3,4} scores 1.0 > 0.9.
    const two = partitionTasks(z, 2);
    expect(two.groups).toEqual([[0, 1, 2, 5], [3, 4]]);
    expect(two.score).toBeCloseTo(1.0, 12);
    // A third group lets task 5 stand alone (it receives only negative affinity).
    const three = partitionTasks(z, 3);
    expect(three.groups).toEqual([[0, 1, 2], [3, 4], [5]]);
    expect(three.score).toBeCloseTo(1.7, 12);
    // More groups allowed than useful: splitting a positive block only loses score.
    expect(partitionTasks(z, 6).groups).toEqual([[0, 1, 2], [3, 4], [5]]);
  });

  it('breaks ties towards fewer groups', () => {
    const zero = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    expect(partitionTasks(zero, 3).groups).toEqual([[0, 1, 2]]);
  });

  it('uses the criterion Fifty et al. define: affinity received, not given', () => {
    // Task 1 gives task 0 a lot (Z_{1→0} = 0.9) but receives harm (Z_{0→1} = −0.4): together 0.9 − 0.4 = 0.5 > 0.
    expect(partitionTasks([[0, -0.4], [0.9, 0]], 2).groups).toEqual([[0, 1]]);
    // Here together gives −0.6 + 0.1 < 0: apart.
    expect(partitionTasks([[0, -0.6], [0.1, 0]], 2).groups).toEqual([[0], [1]]);
  });

  it('beyond 10 tasks, a local search finds two clear blocks', () => {
    const size = 12;
    const z = Array.from({ length: size }, (_, i) => Array.from({ length: size }, (_, j) => ((i % 2) === (j % 2) ? 0.2 : -0.3)));
    const result = partitionTasks(z, 3);
    expect(result.search).toBe('local-search');
    expect(result.groups).toEqual([
      [0, 2, 4, 6, 8, 10],
      [1, 3, 5, 7, 9, 11],
    ]);
    // The most any partition can score: every task receives 0.2 from each mate.
    expect(result.score).toBeCloseTo(12 * 0.2, 12);
    expect(groupingScore(z, result.groups)).toBeCloseTo(result.score, 12);
  });

  it('refuses a bad matrix or group count with BAD_CONFIG', () => {
    const bad = (run: () => unknown, text: RegExp) => {
      try {
        run();
        expect.unreachable();
      } catch (error) {
        expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
        expect((error as Error).message).toMatch(text);
      }
    };
    bad(() => partitionTasks([], 2), /non-empty square matrix/);
    bad(() => partitionTasks([[0, 1], [1]], 2), /row 1 has 1 entries/);
    bad(() => partitionTasks([[0, Number.NaN], [1, 0]], 2), /affinity\[0\]\[1\] is not finite/);
    bad(() => partitionTasks([[0]], 0), /number of groups must be a positive integer, got 0/);
    bad(() => groupingScore([[0, 1], [1, 0]], [[0]]), /task 1 is in no group/);
  });
});
