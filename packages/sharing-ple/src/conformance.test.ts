import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRegistry, isMtlError, type ModelSpec } from '@mtljs/core';
import { checkSharingStrategy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { ple } from './ple';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spec: ModelSpec = {
  tasks: [
    { name: 'regression', kind: 'regression', units: 1 },
    { name: 'multiclass', kind: 'multiclass', units: 3 },
    { name: 'binary', kind: 'binary', units: 1 },
  ],
  inputShape: [6],
  encoder: { type: 'mlp', units: [8, 4] },
};

describe('ple conforms to the sharing contract (testkit)', () => {
  it('passes checkSharingStrategy with the default options (2 levels, 2 shared experts, 1 per task)', async () => {
    const report = await checkSharingStrategy(ple(), { spec });
    expect(report.variables.lastShared).toBeGreaterThan(0);
    expect(report.training.map((run) => run.site)).toEqual([null, 'shared', 'last-shared', 'features']);
  });

  it('passes it as a one-level model without task experts (MMoE) and as a three-level model, without training', async () => {
    await checkSharingStrategy(ple({ levels: 1, taskExperts: 0, sharedExperts: 3 }), { spec, trainingSteps: 0, seed: 4 });
    await checkSharingStrategy(ple({ levels: 3, taskExperts: 2, sharedExperts: 1, expertUnits: [5, 3], expertActivation: 'tanh' }), {
      spec: { ...spec, head: { type: 'mlp', units: [4] } },
      trainingSteps: 0,
      seed: 7,
    });
  });
});

describe('ple in the registry', () => {
  it("registers as 'ple' and resolves by name, with options", () => {
    const registry = createRegistry();
    registry.register(ple());
    expect(registry.resolve('sharing', 'ple').name).toBe('ple');
    const configured = registry.resolve('sharing', { name: 'ple', options: { levels: 3, taskExperts: 0 } });
    const model = configured.build({ ...spec, encoder: { type: 'mlp', units: [3] } }, { seed: 1 });
    const keys = Object.keys(model.getWeights());
    expect(keys.some((key) => key.startsWith('ple/level3/'))).toBe(true);
    expect(keys.some((key) => key.startsWith('ple/level4/'))).toBe(false);
    expect(keys.some((key) => key.includes('/task/') && key.includes('/expert'))).toBe(false);
    model.dispose();
  });

  it('refuses a misspelt option with an MtlError naming it', () => {
    const registry = createRegistry();
    registry.register(ple());
    try {
      registry.resolve('sharing', { name: 'ple', options: { levls: 1 } });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain("'levls'");
    }
  });
});
