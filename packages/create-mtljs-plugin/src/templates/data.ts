import type { TemplateContext } from './common';
import { capital } from './weighting';

export function dataSource({ name, factory }: TemplateContext): string {
  return `import { readFileSync } from 'node:fs';
import { API_VERSION, checkOptions, fromArrays, MtlError, type DataAdapter, type DataSource, type MemoryData } from '@mtljs/core';

export interface ${capital(factory)}Options {
  /** Examples per batch (default 32). */
  batchSize?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropRemainder?: boolean;
}

/**
 * TODO: replace this example format with your own, and say in README.md how a file maps to
 * inputs, targets and masks.
 *
 * Example format: one JSON document { "inputs": number[][], "targets": { task: (number | number[] | null)[] } },
 * one row per example; a null target leaves the example unlabelled for that task (its mask is 0).
 * The whole file is read into memory; batches come in file order, or in a seed-fixed order
 * from shuffled(seed).
 */
export function ${factory}(): DataAdapter {
  return {
    kind: 'data',
    name: '${name}',
    apiVersion: API_VERSION,
    open(input: string | Uint8Array, options: Record<string, unknown> = {}): DataSource {
      checkOptions("data adapter '${name}'", options, ['batchSize', 'dropRemainder']);
      const { batchSize = 32, dropRemainder = false } = options as ${capital(factory)}Options;
      const file = typeof input === 'string' ? input : '<bytes>';
      const text = typeof input === 'string' ? readFileSync(input, 'utf8') : new TextDecoder().decode(input);
      let document: unknown;
      try {
        document = JSON.parse(text);
      } catch (error) {
        throw new MtlError('BAD_DATA', "data adapter '${name}': " + file + ' is not JSON: ' + (error as Error).message, { file });
      }
      const data = document as Partial<MemoryData> | null;
      if (!data || !Array.isArray(data.inputs) || typeof data.targets !== 'object' || data.targets === null) {
        throw new MtlError('BAD_DATA', "data adapter '${name}': " + file + ' must hold { "inputs": number[][], "targets": { task: values[] } }', { file });
      }
      for (const [task, values] of Object.entries(data.targets)) {
        if (!Array.isArray(values) || values.length !== data.inputs.length) {
          throw new MtlError('BAD_DATA', "data adapter '${name}': " + file + ": targets of task '" + task + "' must be a list of " + data.inputs.length + ' values, one per input row', { file, task });
        }
      }
      return fromArrays(data as MemoryData, { batchSize, dropRemainder });
    },
  };
}
`;
}

export function dataTest({ name, factory }: TemplateContext): string {
  return `import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, disposeBatch, isMtlError, type Batch, type DataSource } from '@mtljs/core';
import { checkNoLeak, thrownBy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { ${factory} } from './index';

const DOCUMENT = {
  inputs: [[0, 1], [1, 0], [1, 1], [0, 0], [2, 1]],
  targets: { price: [1.5, null, 2.5, 0, 4], kind: [0, 1, null, 1, 2] },
};
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

async function collect(source: DataSource): Promise<{ inputs: number[][]; price: number[]; priceMask: number[]; sizes: number[] }> {
  const result = { inputs: [] as number[][], price: [] as number[], priceMask: [] as number[], sizes: [] as number[] };
  for await (const batch of source) {
    result.sizes.push((batch.inputs as tf.Tensor).shape[0]!);
    result.inputs.push(...((await (batch.inputs as tf.Tensor).array()) as number[][]));
    result.price.push(...(await batch.targets.price!.data()));
    result.priceMask.push(...(await batch.masks!.price!.data()));
    disposeBatch(batch as Batch);
  }
  return result;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe("data adapter '${name}'", () => {
  it('yields every example once, in batches, with masks for missing targets', async () => {
    const seen = await collect(${factory}().open(bytes(DOCUMENT), { batchSize: 2 }));
    expect(seen.sizes).toEqual([2, 2, 1]);
    expect(seen.inputs).toEqual(DOCUMENT.inputs);
    expect(seen.priceMask).toEqual([1, 0, 1, 1, 1]);
    expect(seen.price.filter((_value, i) => seen.priceMask[i] === 1)).toEqual([1.5, 2.5, 0, 4]);
  });

  it('shuffles in an order fixed by the seed, keeping every example', async () => {
    const source = ${factory}().open(bytes(DOCUMENT), { batchSize: 5 });
    const first = await collect(source.shuffled!(7));
    const again = await collect(source.shuffled!(7));
    expect(again.inputs).toEqual(first.inputs);
    expect([...first.inputs].sort()).toEqual([...DOCUMENT.inputs].sort());
  });

  it('leaks no tensor over repeated passes when the consumer disposes its batches', async () => {
    const source = ${factory}().open(bytes(DOCUMENT), { batchSize: 2 });
    await checkNoLeak(async () => {
      for await (const batch of source) disposeBatch(batch);
    }, { steps: 20 });
  });

  it('names the problem in a bad file', () => {
    const notJson = thrownBy(() => ${factory}().open(new TextEncoder().encode('{ inputs'), {}));
    expect(isMtlError(notJson, 'BAD_DATA')).toBe(true);
    const short = thrownBy(() => ${factory}().open(bytes({ inputs: [[1]], targets: { price: [1, 2] } }), {}));
    expect(short.message).toContain("task 'price'");
    const option = thrownBy(() => ${factory}().open(bytes(DOCUMENT), { batchsize: 2 }));
    expect(isMtlError(option, 'BAD_CONFIG')).toBe(true);
  });

  it('registers under its name', () => {
    const registry = createRegistry();
    registry.register(${factory}());
    expect(registry.list('data')).toContain('${name}');
  });
});
`;
}
