import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Variable } from '@tensorflow/tfjs-core';
import { MtlError } from '../errors';

/** Variable names carry a process-unique prefix (`mtl7/`, from uniqueScope); checkpoints use the rest. */
function localName(name: string): string {
  return name.replace(/^mtl\d+\//, '');
}

/**
 * The checkpoint keys of a model's variables, the same for every model built from the same spec:
 * a variable created under the model's scope is keyed by its name without the per-model prefix;
 * a foreign one (a user's tf.layers weights, named by tfjs's global counters) by its group and
 * position (`encoder/#3`). Used by every strategy's getWeights / setWeights.
 */
export class WeightTable {
  private readonly entries: [string, Variable][];

  constructor(scope: string, groups: Record<string, readonly Variable[]>) {
    const prefix = `${scope}/`;
    this.entries = Object.entries(groups).flatMap(([group, variables]) =>
      variables.map((v, i): [string, Variable] => [v.name.startsWith(prefix) ? localName(v.name) : `${group}/#${i}`, v]),
    );
    const seen = new Set<string>();
    for (const [key] of this.entries) {
      if (seen.has(key)) throw new MtlError('BAD_CONFIG', `two model variables have the checkpoint key '${key}'`, { received: key });
      seen.add(key);
    }
  }

  /** The checkpoint keys, in the order of the groups and their variables. */
  keys(): string[] {
    return this.entries.map(([key]) => key);
  }

  /** Copies of every variable, by key. */
  read(): NamedTensorMap {
    return Object.fromEntries(this.entries.map(([key, v]) => [key, tf.clone(v)]));
  }

  /** Checks every key and shape first, then assigns: a bad map changes nothing. */
  write(weights: NamedTensorMap): void {
    if (typeof weights !== 'object' || weights === null) throw new MtlError('BAD_CHECKPOINT', 'weights must be a record of tensors');
    for (const [key, variable] of this.entries) {
      const value = weights[key];
      if (!(value instanceof tf.Tensor)) throw new MtlError('BAD_CHECKPOINT', `weights are missing '${key}'`, { expected: key });
      if (value.shape.join(',') !== variable.shape.join(',')) {
        throw new MtlError('BAD_CHECKPOINT', `weight '${key}' has shape [${value.shape.join(', ')}], the model needs [${variable.shape.join(', ')}]`, {
          expected: variable.shape,
          received: value.shape,
        });
      }
    }
    for (const [key, variable] of this.entries) variable.assign(weights[key]!);
  }
}
