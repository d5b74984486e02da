import { MtlError } from '@mtljs/core';
import * as tf from '@tensorflow/tfjs-core';
import { ConformanceError, messageOf } from './errors';

/** Options of `checkNoLeak`. */
export interface LeakCheckOptions {
  /** Calls whose tensor count is compared (default 100). */
  steps?: number;
  /**
   * Calls made before counting (default 1): optimisers create their slots, and plugins their
   * lazily built constants, on the first call.
   */
  warmup?: number;
  /** Names what is being run in the error message (default 'checkNoLeak'). */
  label?: string;
}

/** What `checkNoLeak` counted when no tensor leaked. */
export interface LeakReport {
  /** tf.memory().numTensors after the warm-up calls. */
  before: number;
  /** tf.memory().numTensors after the counted calls. */
  after: number;
  /** Calls counted (`options.steps`). */
  steps: number;
}

/**
 * Runs `run(i)` `warmup` times, records the live tensor count, runs it `steps` more times and
 * throws when the count moved. Returned promises are awaited and returned tensors (in arrays and
 * plain objects too) are disposed, because the caller of a plugin owns what it returns; returned
 * tf.Variables are left alone, since they belong to a model or an optimiser.
 *
 * @throws `ConformanceError` (check `'leak'`) when the count changed or a call threw; MtlError
 * `BAD_CONFIG` when `steps` is not a positive integer or `warmup` not a non-negative integer.
 */
export async function checkNoLeak(run: (i: number) => unknown | Promise<unknown>, options: LeakCheckOptions = {}): Promise<LeakReport> {
  const steps = options.steps ?? 100;
  const warmup = options.warmup ?? 1;
  const label = options.label ?? 'checkNoLeak';
  if (!Number.isInteger(steps) || steps < 1) throw new MtlError('BAD_CONFIG', `${label}: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new MtlError('BAD_CONFIG', `${label}: warmup must be a non-negative integer, got ${warmup}`);

  const call = async (i: number, phase: string): Promise<void> => {
    let value: unknown;
    try {
      value = await run(i);
    } catch (error) {
      throw new ConformanceError(label, 'leak', `${phase} call ${i} threw: ${messageOf(error)}`, { cause: error });
    }
    disposeReturned(value);
  };

  for (let i = 0; i < warmup; i++) await call(i, 'warm-up');
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) await call(warmup + i, 'counted');
  const after = tf.memory().numTensors;
  if (after !== before) {
    const change = after - before;
    const perStep = Math.abs(change) / steps;
    const rate = Number.isInteger(perStep) ? String(perStep) : perStep.toFixed(2);
    throw new ConformanceError(
      label,
      'leak',
      change > 0
        ? `leaked ${change} tensor${change === 1 ? '' : 's'} over ${steps} steps (${rate} per step; ${before} live before, ${after} after). ` +
            'Wrap intermediate work in tf.tidy and dispose what you keep when you replace it.'
        : `disposed ${-change} tensor${change === -1 ? '' : 's'} it did not create over ${steps} steps (${rate} per step; ${before} live before, ${after} after). ` +
            'A plugin must not dispose its inputs: the caller owns them.',
    );
  }
  return { before, after, steps };
}

/**
 * Runs `fn` synchronously and reports how many tensors it left alive (negative when it disposed
 * some it did not create). Its result is returned as is, not disposed.
 */
export function countTensorsDuring<T>(fn: () => T): {
  /** What `fn` returned, not disposed. */
  result: T;
  /** Change of `tf.memory().numTensors` over the call: tensors left alive, negative when it disposed some. */
  created: number;
} {
  const before = tf.memory().numTensors;
  const result = fn();
  return { result, created: tf.memory().numTensors - before };
}

function disposeReturned(value: unknown, seen: Set<unknown> = new Set()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof tf.Variable) return;
  if (value instanceof tf.Tensor) {
    value.dispose();
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) disposeReturned(item, seen);
    return;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) {
    for (const item of Object.values(value)) disposeReturned(item, seen);
  }
}
