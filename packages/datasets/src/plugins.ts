import { API_VERSION, MtlError, type DatasetPlugin, type LoadedDataset } from '@mtljs/core';
import { multiFashion, multiMnist, type MultiDigitOptions } from './multi-mnist';
import { syntheticTasks, type SyntheticOptions } from './synthetic';

function options<T>(name: string, value: Record<string, unknown> | undefined): T {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new MtlError('BAD_CONFIG', `dataset '${name}': options must be an object`);
  }
  return (value ?? {}) as T;
}

/** `syntheticTasks` as a plugin (registered as 'synthetic'): train and validation splits. */
export function syntheticDataset(): DatasetPlugin {
  return {
    kind: 'dataset',
    name: 'synthetic',
    apiVersion: API_VERSION,
    async load(raw): Promise<LoadedDataset> {
      const data = syntheticTasks(options<SyntheticOptions>('synthetic', raw));
      return {
        tasks: data.tasks,
        inputShape: data.inputShape,
        train: data.train,
        validation: data.validation,
        description: `synthetic regression/binary tasks of Ma et al. 2018 (${data.tasks.length} tasks)`,
      };
    },
  };
}

function digits(name: 'multi-mnist' | 'multi-fashion'): DatasetPlugin {
  return {
    kind: 'dataset',
    name,
    apiVersion: API_VERSION,
    async load(raw): Promise<LoadedDataset> {
      const opts = options<MultiDigitOptions>(name, raw);
      const data = name === 'multi-mnist' ? await multiMnist(opts) : await multiFashion(opts);
      return {
        tasks: data.tasks,
        inputShape: data.inputShape,
        train: data.train,
        test: data.test,
        description: `${name === 'multi-mnist' ? 'MultiMNIST' : 'MultiFashion'} (Sener & Koltun 2018): two overlaid items, tasks 'left' and 'right'`,
      };
    },
  };
}

/** `multiMnist` as a plugin (registered as 'multi-mnist'): train and test splits. */
export function multiMnistDataset(): DatasetPlugin {
  return digits('multi-mnist');
}

/** `multiFashion` as a plugin (registered as 'multi-fashion'): train and test splits. */
export function multiFashionDataset(): DatasetPlugin {
  return digits('multi-fashion');
}
