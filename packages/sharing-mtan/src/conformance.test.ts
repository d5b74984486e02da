import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRegistry, isMtlError, type ModelSpec } from '@mtljs/core';
import { checkSharingStrategy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { mtan } from './mtan';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Small enough for the suite's 4 × 100 training steps: 8×8 images, two blocks of 4 filters, 2 tasks. */
const spec: ModelSpec = {
  tasks: [
    { name: 'multiclass', kind: 'multiclass', units: 3 },
    { name: 'binary', kind: 'binary', units: 1 },
  ],
  inputShape: [8, 8, 1],
  encoder: { type: 'conv', blocks: [{ filters: 4 }, { filters: 4 }] },
};

describe('mtan conforms to the sharing contract (testkit)', () => {
  it('passes checkSharingStrategy, training at every site', async () => {
    const report = await checkSharingStrategy(mtan(), { spec });
    expect(report.variables.shared).toBe(4);
    expect(report.training.map((run) => run.site)).toEqual([null, 'shared', 'last-shared', 'features']);
    for (const run of report.training) expect(run.lastLoss).toBeLessThan(run.firstLoss);
  }, 180_000);

  it('passes it with layer norm, average pooling, options and a hidden head layer', async () => {
    await checkSharingStrategy(mtan({ attentionUnits: [2, 3], taskKernelSize: 1 }), {
      spec: {
        tasks: [
          { name: 'a', kind: 'multilabel', units: 2 },
          { name: 'b', kind: 'regression', units: 2 },
        ],
        inputShape: [6, 6],
        encoder: { type: 'conv', activation: 'tanh', blocks: [{ filters: 3, norm: 'layer', pool: 'avg' }, { filters: 2, pool: 'none' }] },
        head: { type: 'mlp', units: [3] },
      },
      seed: 4,
      trainingSteps: 10,
    });
  });
});

describe('mtan is registered by name', () => {
  it("resolves as 'mtan' and refuses a misspelt option by name", () => {
    const registry = createRegistry();
    registry.register(mtan());
    expect(registry.resolve('sharing', 'mtan').name).toBe('mtan');
    expect(registry.resolve('sharing', { name: 'mtan', options: { attentionUnits: 2 } }).name).toBe('mtan');
    try {
      registry.resolve('sharing', { name: 'mtan', options: { atentionUnits: 1 } });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain("'atentionUnits'");
    }
  });
});
