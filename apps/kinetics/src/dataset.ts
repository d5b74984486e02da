import { fromArrays, MtlError, Rng, type DataSource, type TaskSpec } from '@mtljs/core';
import { CONTINUOUS_DESCRIPTORS, descriptorRow, generateReactions, type Reaction } from './arrhenius';

/** The two tasks: ln k at the row's temperature, and the activation energy. */
export type KineticsTask = 'lnk' | 'ea';
export const KINETICS_TASKS: readonly KineticsTask[] = ['lnk', 'ea'];

/** Physical units of each task's RMSE and MAE. */
export const TASK_UNITS: Record<KineticsTask, string> = { lnk: 'ln units', ea: 'kJ/mol' };

export function taskSpec(task: KineticsTask): TaskSpec {
  return { name: task, kind: 'regression', units: 1 };
}

export interface KineticsDataOptions {
  /** Generator seed: fixes the reactions, the split and which rows have an Ea label. */
  seed: number;
  trainSize: number;
  testSize: number;
  /** Fraction of training reactions whose Ea is labelled, in (0, 1]; every ln k is labelled. */
  labelledEa: number;
  noise?: { ea?: number; lnK?: number };
}

export interface Standardiser {
  mean: number;
  std: number;
}

/** One split, standardised: inputs, ln k targets, Ea targets (null where unlabelled). */
export interface KineticsSplit {
  reactions: Reaction[];
  inputs: number[][];
  targets: Record<KineticsTask, (number | null)[]>;
}

export interface KineticsData {
  train: KineticsSplit;
  test: KineticsSplit;
  /** Training rows with an Ea label. */
  labelledEaCount: number;
  /** Statistics of the training split: one per continuous input column, one per target. */
  stats: { inputs: Standardiser[]; targets: Record<KineticsTask, Standardiser> };
}

function standardiser(values: readonly number[], what: string): Standardiser {
  if (values.length < 2) {
    throw new MtlError('BAD_CONFIG', `kinetics: standardising ${what} needs at least 2 training values, got ${values.length}`, { column: what });
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std: std > 0 ? std : 1 };
}

function checkCount(value: number, field: string, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum) {
    throw new MtlError('BAD_CONFIG', `kinetics: ${field} must be an integer ≥ ${minimum}, got ${value}`, { column: field, received: value });
  }
}

/**
 * Generates train and test reactions from separate seeded streams (the test set does not change
 * with trainSize or labelledEa), marks a seeded subset of the training reactions Ea-labelled
 * (nested: the rows labelled at a fraction are also labelled at any larger one), and standardises
 * the continuous inputs, ln k and Ea with statistics of the training split (Ea: of its labelled rows).
 * The test split is fully labelled.
 */
export function kineticsData(options: KineticsDataOptions): KineticsData {
  checkCount(options.trainSize, 'trainSize', 2);
  checkCount(options.testSize, 'testSize', 1);
  const fraction = options.labelledEa;
  if (!(fraction > 0 && fraction <= 1)) {
    throw new MtlError('BAD_CONFIG', `kinetics: labelledEa must be a fraction in (0, 1], got ${fraction}`, { column: 'labelledEa', received: fraction });
  }
  const seeds = Rng.fromSeed(options.seed);
  const trainReactions = generateReactions({ count: options.trainSize, seed: seeds.nextSeed(), noise: options.noise });
  const testReactions = generateReactions({ count: options.testSize, seed: seeds.nextSeed(), noise: options.noise });
  const labelledEaCount = Math.max(2, Math.round(fraction * options.trainSize));
  const labelled = new Uint8Array(options.trainSize);
  for (const i of Rng.fromSeed(seeds.nextSeed()).permutation(options.trainSize).slice(0, labelledEaCount)) labelled[i] = 1;

  const rawTrain = trainReactions.map(descriptorRow);
  const inputStats = Array.from({ length: CONTINUOUS_DESCRIPTORS }, (_, j) => standardiser(rawTrain.map((row) => row[j]!), `input column ${j}`));
  const targets: Record<KineticsTask, Standardiser> = {
    lnk: standardiser(trainReactions.map((r) => r.lnKObserved), 'lnk'),
    ea: standardiser(trainReactions.filter((_, i) => labelled[i]).map((r) => r.eaObserved), 'ea'),
  };
  // One-hot columns stay 0/1.
  const scaleRow = (row: number[]) => row.map((v, j) => (j < CONTINUOUS_DESCRIPTORS ? (v - inputStats[j]!.mean) / inputStats[j]!.std : v));
  const split = (reactions: Reaction[], isLabelled: (i: number) => boolean): KineticsSplit => ({
    reactions,
    inputs: reactions.map((r) => scaleRow(descriptorRow(r))),
    targets: {
      lnk: reactions.map((r) => (r.lnKObserved - targets.lnk.mean) / targets.lnk.std),
      ea: reactions.map((r, i) => (isLabelled(i) ? (r.eaObserved - targets.ea.mean) / targets.ea.std : null)),
    },
  });
  return {
    train: split(trainReactions, (i) => labelled[i] === 1),
    test: split(testReactions, () => true),
    labelledEaCount,
    stats: { inputs: inputStats, targets },
  };
}

/**
 * A DataSource over a split for the given tasks. With `labelledOnly`, only rows labelled for every
 * one of the tasks are kept (a single-task Ea model sees its labelled reactions and nothing else).
 */
export function splitSource(split: KineticsSplit, tasks: readonly KineticsTask[], batchSize: number, labelledOnly = false): DataSource {
  const keep = split.inputs.map((_, i) => !labelledOnly || tasks.every((t) => split.targets[t][i] !== null));
  const rows = split.inputs.filter((_, i) => keep[i]);
  if (rows.length === 0) throw new MtlError('BAD_DATA', `kinetics: no row is labelled for ${tasks.join(' and ')}`, { task: tasks.join(',') });
  return fromArrays(
    {
      inputs: rows,
      targets: Object.fromEntries(tasks.map((t) => [t, split.targets[t].filter((_, i) => keep[i])])),
    },
    { batchSize },
  );
}

/** Number of rows a `splitSource` with these arguments yields. */
export function sourceRows(split: KineticsSplit, tasks: readonly KineticsTask[], labelledOnly: boolean): number {
  if (!labelledOnly) return split.inputs.length;
  return split.inputs.filter((_, i) => tasks.every((t) => split.targets[t][i] !== null)).length;
}
