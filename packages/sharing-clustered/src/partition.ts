import { MtlError } from '@mtljs/core';

/** Above this many tasks the search is a local search instead of an exhaustive one (Bell(10) = 115 975 partitions). */
export const EXHAUSTIVE_TASK_LIMIT = 10;

/** Scores this close count as equal (they differ only by rounding). */
const TIE = 1e-12;

/** What `partitionTasks` returns: the best grouping it found for an affinity matrix. */
export interface PartitionResult {
  /** Groups of task indices, each sorted, ordered by their first task. */
  groups: number[][];
  /** Σ_i mean_{j ∈ group(i), j ≠ i} Z_{j→i} of this partition (see {@link groupingScore}). */
  score: number;
  /** 'exhaustive' for T ≤ 10 tasks, 'local-search' beyond. */
  search: 'exhaustive' | 'local-search';
}

function checkAffinity(affinity: readonly (readonly number[])[]): number {
  if (!Array.isArray(affinity) || affinity.length === 0) {
    throw new MtlError('BAD_CONFIG', 'task grouping: the affinity must be a non-empty square matrix (number[][])');
  }
  const size = affinity.length;
  affinity.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== size) {
      throw new MtlError('BAD_CONFIG', `task grouping: affinity row ${i} has ${Array.isArray(row) ? row.length : 'no'} entries; the matrix must be ${size}×${size}`);
    }
    row.forEach((value, j) => {
      if (!Number.isFinite(value)) throw new MtlError('BAD_CONFIG', `task grouping: affinity[${i}][${j}] is not finite (${value})`);
    });
  });
  return size;
}

function checkGroupCount(groups: number): void {
  if (!Number.isInteger(groups) || groups < 1) {
    throw new MtlError('BAD_CONFIG', `task grouping: the number of groups must be a positive integer, got ${String(groups)}`, { option: 'groups' });
  }
}

/** Score of a labelling (label[i] = group of task i): Σ_i mean over i's group-mates j of Z[j][i]; a task alone scores 0. */
function labelScore(affinity: readonly (readonly number[])[], label: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < label.length; i++) {
    let sum = 0;
    let mates = 0;
    for (let j = 0; j < label.length; j++) {
      if (j !== i && label[j] === label[i]) {
        sum += affinity[j]![i]!;
        mates += 1;
      }
    }
    if (mates > 0) total += sum / mates;
  }
  return total;
}

function groupsOf(label: readonly number[]): number[][] {
  const byLabel = new Map<number, number[]>();
  label.forEach((g, i) => {
    const members = byLabel.get(g) ?? [];
    members.push(i);
    byLabel.set(g, members);
  });
  return [...byLabel.values()].sort((a, b) => a[0]! - b[0]!);
}

/**
 * Fifty et al. (2021)'s grouping criterion for a partition of the tasks: each task i scores the
 * mean affinity it receives from the other tasks of its group, mean_{j ∈ group(i), j ≠ i} Z_{j→i},
 * and the scores are summed over tasks. `affinity[i][j]` is Z_{i→j} (row: the task whose
 * lookahead step was taken; column: the task whose loss was measured). A task alone in its group
 * receives no affinity and scores 0.
 */
export function groupingScore(affinity: readonly (readonly number[])[], groups: readonly (readonly number[])[]): number {
  const size = checkAffinity(affinity);
  const label = new Array<number>(size).fill(-1);
  groups.forEach((members, g) =>
    members.forEach((i) => {
      if (!Number.isInteger(i) || i < 0 || i >= size) throw new MtlError('BAD_CONFIG', `task grouping: task index ${i} is outside 0..${size - 1}`);
      if (label[i] !== -1) throw new MtlError('BAD_CONFIG', `task grouping: task ${i} is in two groups`);
      label[i] = g;
    }),
  );
  const missing = label.indexOf(-1);
  if (missing >= 0) throw new MtlError('BAD_CONFIG', `task grouping: task ${missing} is in no group`);
  return labelScore(affinity, label);
}

/**
 * The partition of the T tasks into at most `groups` non-empty groups that maximises
 * {@link groupingScore}. T ≤ 10: exhaustive, over every set partition (restricted growth strings);
 * among scores equal to within 1e-12 the partition with fewer groups wins (fewer encoders), then
 * the first in that order. T > 10: a local
 * search (greedy merges from singletons while they do not lower the score, then single-task moves
 * while the score improves), which finds a local optimum only; ties again go to fewer groups.
 */
export function partitionTasks(affinity: readonly (readonly number[])[], groups: number): PartitionResult {
  const size = checkAffinity(affinity);
  checkGroupCount(groups);
  const maxGroups = Math.min(groups, size);
  if (size <= EXHAUSTIVE_TASK_LIMIT) {
    const label = new Array<number>(size).fill(0);
    let best = label.slice();
    let bestScore = labelScore(affinity, label);
    // Restricted growth strings: label[0] = 0, label[i] ≤ 1 + max(label[0..i−1]), here also < maxGroups.
    const prefixMax = new Array<number>(size).fill(0);
    const advance = (): boolean => {
      for (let i = size - 1; i > 0; i--) {
        const limit = Math.min(prefixMax[i - 1]! + 1, maxGroups - 1);
        if (label[i]! < limit) {
          label[i]! += 1;
          prefixMax[i] = Math.max(prefixMax[i - 1]!, label[i]!);
          for (let k = i + 1; k < size; k++) {
            label[k] = 0;
            prefixMax[k] = prefixMax[i]!;
          }
          return true;
        }
      }
      return false;
    };
    let bestCount = 1;
    while (advance()) {
      const score = labelScore(affinity, label);
      const count = prefixMax[size - 1]! + 1;
      if (score > bestScore + TIE || (score >= bestScore - TIE && count < bestCount)) {
        bestScore = score;
        bestCount = count;
        best = label.slice();
      }
    }
    return { groups: groupsOf(best), score: bestScore, search: 'exhaustive' };
  }
  return { ...localSearch(affinity, size, maxGroups), search: 'local-search' };
}

function localSearch(affinity: readonly (readonly number[])[], size: number, maxGroups: number): { groups: number[][]; score: number } {
  const label = Array.from({ length: size }, (_, i) => i);
  let score = labelScore(affinity, label);
  const count = (): number => new Set(label).size;
  // Greedy merges: forced while there are too many groups, then while they do not lower the score
  // (ties go to fewer groups, as in the exhaustive order).
  while (count() > 1) {
    const ids = [...new Set(label)];
    let bestMerge: [number, number] | null = null;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let a = 0; a < ids.length; a++) {
      for (let b = a + 1; b < ids.length; b++) {
        const merged = label.map((g) => (g === ids[b] ? ids[a]! : g));
        const candidate = labelScore(affinity, merged);
        if (candidate > bestScore) {
          bestScore = candidate;
          bestMerge = [ids[a]!, ids[b]!];
        }
      }
    }
    if (count() <= maxGroups && bestScore < score - TIE) break;
    const [keep, drop] = bestMerge!;
    label.forEach((g, i) => (label[i] = g === drop ? keep : g));
    score = bestScore;
  }
  // Single-task moves (to another group, or to a new one while fewer than maxGroups exist).
  for (let improved = true; improved; ) {
    improved = false;
    for (let i = 0; i < size; i++) {
      const ids = [...new Set(label)];
      const targets = count() < maxGroups ? [...ids, size + i] : ids;
      for (const target of targets) {
        if (target === label[i]) continue;
        const moved = label.slice();
        moved[i] = target;
        const candidate = labelScore(affinity, moved);
        if (candidate > score + TIE) {
          label[i] = target;
          score = candidate;
          improved = true;
        }
      }
    }
  }
  return { groups: groupsOf(label), score };
}
