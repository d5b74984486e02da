import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Inputs, TaskSpec } from '../contracts';
import { MtlError } from '../errors';

/**
 * The checks every sharing strategy makes of `spec.tasks`: at least one task, non-empty unique
 * names, positive integer units, one logit for a binary task. `strategy` starts each message
 * (e.g. 'soft sharing').
 */
export function checkTaskSpecs(strategy: string, tasks: readonly TaskSpec[]): void {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new MtlError('BAD_CONFIG', `${strategy}: the model spec needs at least one task`);
  const seen = new Set<string>();
  for (const task of tasks) {
    if (!task || typeof task.name !== 'string' || !task.name) throw new MtlError('BAD_CONFIG', `${strategy}: every task needs a non-empty name`);
    if (seen.has(task.name)) throw new MtlError('BAD_CONFIG', `${strategy}: task name '${task.name}' is used twice`, { task: task.name });
    seen.add(task.name);
    if (!Number.isInteger(task.units) || task.units <= 0) {
      throw new MtlError('BAD_CONFIG', `task '${task.name}': units must be a positive integer, got ${task.units}`, { task: task.name });
    }
    if (task.kind === 'binary' && task.units !== 1) {
      throw new MtlError('BAD_CONFIG', `task '${task.name}': a binary task has units 1 (one logit), got ${task.units}`, { task: task.name });
    }
  }
}

/**
 * The one input tensor of a model that takes one: the tensor itself, or the only entry of a
 * record. Anything else is BAD_DATA, `${expectation}; got inputs 'a', 'b'`.
 */
export function singleInput(inputs: Inputs, expectation: string): Tensor {
  if (inputs instanceof tf.Tensor) return inputs;
  const keys = typeof inputs === 'object' && inputs !== null ? Object.keys(inputs) : [];
  if (keys.length !== 1 || !(inputs[keys[0]!] instanceof tf.Tensor)) {
    throw new MtlError('BAD_DATA', `${expectation}; got inputs ${keys.map((k) => `'${k}'`).join(', ') || String(inputs)}`);
  }
  return inputs[keys[0]!]!;
}
