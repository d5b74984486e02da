import type { WeightingContext } from '../contracts';
import { MtlError } from '../errors';
import { checkOptionTaskNames } from '../registry';

// Task preferences for weightings that take one (UPGrad, DualProj, Aligned-MTL, …): one number per
// task in the model's order, or an object keyed by task name.

/** One preference per task of the model, in its order, or by task name. */
export type TaskPreference = readonly number[] | Readonly<Record<string, number>>;

function badPreference(plugin: string, message: string, details: Record<string, unknown> = {}): MtlError {
  return new MtlError('BAD_CONFIG', `weighting '${plugin}': option 'preference' ${message}`, { plugin, option: 'preference', ...details });
}

/** Checks what can be checked without the tasks: finite, non-negative numbers. */
export function checkPreference(plugin: string, preference: unknown): void {
  if (preference === undefined) return;
  const values = Array.isArray(preference) ? preference : typeof preference === 'object' && preference !== null ? Object.values(preference) : null;
  if (values === null) throw badPreference(plugin, `must be an array of numbers (one per task) or an object of task name → number, got ${JSON.stringify(preference)}`);
  for (const value of values) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw badPreference(plugin, `must hold finite numbers ≥ 0, got ${JSON.stringify(value)}`, { received: value });
    }
  }
}

/** Checks that the preference names every task of the model once (at `init`, when the tasks are known). */
export function checkPreferenceTasks(plugin: string, preference: TaskPreference | undefined, context: WeightingContext): void {
  if (preference === undefined) return;
  const tasks = context.taskNames;
  if (Array.isArray(preference)) {
    if (preference.length !== tasks.length) {
      throw badPreference(plugin, `has ${preference.length} entries but the model has ${tasks.length} tasks (${tasks.join(', ')}); give one per task, in the model's order`, {
        expected: tasks.length,
        received: preference.length,
      });
    }
    return;
  }
  const names = Object.keys(preference);
  checkOptionTaskNames(plugin, 'preference', names, tasks);
  const missing = tasks.filter((task) => !names.includes(task));
  if (missing.length) {
    throw badPreference(plugin, `gives no value for task '${missing[0]}'; name every task: ${tasks.join(', ')}`, { task: missing[0], available: tasks });
  }
}

/**
 * The preference of the active tasks: the user's values for them, as given (not renormalised), or,
 * by default, 1/T each ('mean', as torchjd) or 1 each ('sum'), T the number of active tasks.
 */
export function activePreference(
  plugin: string,
  preference: TaskPreference | undefined,
  reduction: 'mean' | 'sum',
  activeTasks: readonly string[],
  activeIndices: readonly number[],
): number[] {
  if (preference === undefined) return activeTasks.map(() => (reduction === 'mean' ? 1 / activeTasks.length : 1));
  const values = Array.isArray(preference)
    ? activeIndices.map((index) => preference[index])
    : activeTasks.map((task) => (preference as Readonly<Record<string, number>>)[task]);
  const missing = values.findIndex((value) => value === undefined);
  if (missing >= 0) throw badPreference(plugin, `gives no value for active task '${activeTasks[missing]}'`, { task: activeTasks[missing] });
  return values as number[];
}

/** The options preference-based weightings share (see {@link checkPreferenceOptions}). */
export interface PreferenceOptions {
  /** The preference vector u: finite numbers ≥ 0, one per task; not together with `reduction`. */
  preference?: TaskPreference;
  /** Default preference when none is given: 1/T each ('mean') or 1 each ('sum'). */
  reduction?: 'mean' | 'sum';
  /** Iteration limit of the QP solver (a positive integer; default: the solver's, 100·T + 100). */
  maxIterations?: number;
}

/**
 * Checks the options shared by preference-based weightings (UPGrad, DualProj): a valid
 * preference, a reduction of 'mean' or 'sum' that is not combined with a preference, and a
 * positive integer iteration limit. Returns them with the reduction defaulted to 'mean'.
 */
export function checkPreferenceOptions(
  plugin: string,
  options: PreferenceOptions,
): {
  /** The preference as given, or undefined. */
  preference: TaskPreference | undefined;
  /** The reduction, 'mean' by default. */
  reduction: 'mean' | 'sum';
  /** The iteration limit as given, or undefined. */
  maxIterations: number | undefined;
} {
  const bad = (option: string, message: string) =>
    new MtlError('BAD_CONFIG', `weighting '${plugin}': option '${option}' ${message}`, { plugin, option });
  checkPreference(plugin, options.preference);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') throw bad('reduction', `must be 'mean' or 'sum', got ${JSON.stringify(reduction)}`);
  if (options.reduction !== undefined && options.preference !== undefined) {
    throw bad('reduction', "sets the default preference (1/T or 1 each); it cannot be combined with option 'preference'");
  }
  const maxIterations = options.maxIterations;
  if (maxIterations !== undefined && !(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw bad('maxIterations', `must be a positive integer, got ${JSON.stringify(maxIterations)}`);
  }
  return { preference: options.preference, reduction, maxIterations };
}
