import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, defaultRegistry, hardSharing, isMtlError, Trainer, useBackend, type Batch, type ModelSpec, type MultiTaskModel, type Plugin, type SharingStrategy, type Weighting } from '../src/index';
import { conv, spec } from './specs';

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});

// Issue 10 (config and registry robustness): every registered weighting and sharing strategy,
// configured with each of its options set to a value of the wrong type, either refuses it with an
// MtlError or trains a step; never a TypeError from inside a plugin or tfjs.

const WRONG: unknown[] = ['seven', -1, 0, 1e9, Number.NaN, null, true, [], [1, 'x'], {}, { r: 'x' }];
// Sizes are not bounded (a strategy given 1e9 experts tries to build them and runs out of
// memory), so the sharing strategies get the wrong types and signs only.
const WRONG_FOR_SHARING: unknown[] = WRONG.filter((value) => value !== 1e9);

function batchFor(model: ModelSpec): Batch {
  return {
    inputs: tf.randomNormal([4, ...model.inputShape], 0, 1, 'float32', 3),
    targets: { r: tf.tensor2d([[0.5], [-1], [2], [0]]), c: tf.tensor1d([0, 2, 1, 1], 'int32') },
  };
}

/** The options a plugin accepts, read from the error its `configure` gives for an unknown one. */
function acceptedOptions(plugin: Plugin): string[] {
  try {
    plugin.configure?.({ 'no-such-option': 1 });
  } catch (error) {
    if (isMtlError(error, 'BAD_CONFIG') && Array.isArray(error.details.available)) return [...error.details.available];
    throw error;
  }
  return [];
}

async function outcome(run: () => void | Promise<void>): Promise<'refused' | 'trained'> {
  try {
    await run();
    return 'trained';
  } catch (error) {
    if (isMtlError(error)) return 'refused';
    throw error;
  }
}

/**
 * Configures every registered plugin of `kind` with each of its options set to each value, builds
 * a model and trainer (`setUp`) and takes one step; counts the MtlError refusals and the steps
 * taken. Any other exception fails the test, naming the plugin, option and value.
 */
async function tryEveryOption(
  kind: 'weighting' | 'sharing',
  values: readonly unknown[],
  setUp: (configured: Plugin, name: string) => { model: MultiTaskModel; trainer: () => Trainer; spec: ModelSpec },
): Promise<{ refused: number; trained: number }> {
  const registry = defaultRegistry();
  const counts = { refused: 0, trained: 0 };
  const tensorsBefore = tf.memory().numTensors;
  for (const name of registry.list(kind)) {
    const plugin = registry.get(kind, name);
    for (const option of acceptedOptions(plugin)) {
      for (const value of values) {
        const result = await outcome(async () => {
          const { model, trainer: makeTrainer, spec: modelSpec } = setUp(plugin.configure!({ [option]: value }), name);
          const batch = batchFor(modelSpec);
          let trainer: Trainer | undefined;
          try {
            trainer = makeTrainer();
            await trainer.stepAsync(batch);
          } finally {
            trainer?.dispose();
            model.dispose();
            tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
          }
        }).catch((error: unknown) => {
          throw new Error(`${kind} '${name}', option '${option}' = ${JSON.stringify(value)}: ${String(error)}`, { cause: error });
        });
        counts[result] += 1;
      }
    }
  }
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  return counts;
}

const sgd = { name: 'sgd', learningRate: 0.01 } as const;

describe('plugin options of the wrong type', () => {
  it('every weighting: MtlError or a finite step, for every option × 11 wrong values', async () => {
    const counts = await tryEveryOption('weighting', WRONG, (weighting) => {
      const model = hardSharing().build(spec, { seed: 1 });
      return { model, spec, trainer: () => new Trainer({ model, weighting: weighting as Weighting<unknown>, optimizer: sgd, seed: 1 }) };
    });
    console.log(`weighting options: ${counts.refused} refused with MtlError, ${counts.trained} trained`);
    expect(counts.refused).toBeGreaterThan(counts.trained);
  }, 300_000);

  it('every sharing strategy: MtlError or a model that trains, for every option × 10 wrong values', async () => {
    const counts = await tryEveryOption('sharing', WRONG_FOR_SHARING, (strategy, name) => {
      const modelSpec = name === 'mtan' ? conv : spec;
      const model = (strategy as SharingStrategy).build(modelSpec, { seed: 1 });
      return { model, spec: modelSpec, trainer: () => new Trainer({ model, optimizer: sgd, seed: 1 }) };
    });
    console.log(`sharing options: ${counts.refused} refused with MtlError, ${counts.trained} trained`);
    expect(counts.refused).toBeGreaterThan(counts.trained);
  }, 300_000);
});

describe('the registry and the trainer refuse bad plugins and task sets with MtlError', () => {
  it('unknown, duplicate and incompatible-version plugins; a configure that gets a non-object', () => {
    const registry = createRegistry();
    const plugin = { kind: 'weighting', name: 'mine', apiVersion: 1, level: 'loss', init: () => null, combine: () => undefined } as unknown as Weighting;
    registry.register(plugin);
    const codes = [
      () => registry.get('weighting', 'mnie'),
      () => registry.register(plugin),
      () => registry.register({ ...plugin, name: 'future', apiVersion: 99 } as Weighting),
      () => defaultRegistry().resolve('weighting', { name: 'pcgrad', options: 'mean' as never }),
      () => new Trainer({ model: hardSharing().build(spec, { seed: 1 }), weighting: 'pcgard' }),
    ].map((fn) => {
      try {
        fn();
        return 'no error';
      } catch (error) {
        return isMtlError(error) ? error.code : `not an MtlError: ${String(error)}`;
      }
    });
    expect(codes).toEqual(['UNKNOWN_PLUGIN', 'DUPLICATE_PLUGIN', 'INCOMPATIBLE_PLUGIN', 'BAD_CONFIG', 'UNKNOWN_PLUGIN']);
  });

  it('an empty task list is BAD_CONFIG from every sharing strategy', () => {
    for (const name of defaultRegistry().list('sharing')) {
      const strategy = defaultRegistry().get('sharing', name);
      expect(() => strategy.build({ ...(name === 'mtan' ? conv : spec), tasks: [] }, { seed: 1 }), name).toThrowError(/at least one task/);
    }
  });

  it('a task with no labelled example in the whole dataset stops fit with BAD_DATA naming it', async () => {
    const model = hardSharing().build(spec, { seed: 1 });
    const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.01 }, seed: 1 });
    const source = {
      async *[Symbol.asyncIterator]() {
        for (let i = 0; i < 3; i++) {
          const batch = batchFor(spec);
          batch.masks = { c: tf.zeros([4]) };
          yield batch;
        }
      },
    };
    const error = await trainer.fit(source, { epochs: 2 }).catch((e: unknown) => e);
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toMatch(/task 'c' had no labelled example in the whole training source \(epoch 0, 3 batches\)/);
    expect(trainer.epoch).toBe(0);
    trainer.dispose();
    model.dispose();
  });
});
