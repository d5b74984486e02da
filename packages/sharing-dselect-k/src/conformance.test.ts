import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, createRegistry, isMtlError, Trainer, type GramianWeighting, type ModelSpec } from '@mtljs/core';
import { checkNoLeak, checkSharingStrategy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { dselectK } from './dselect-k';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spec: ModelSpec = {
  tasks: [
    { name: 'regression', kind: 'regression', units: 1 },
    { name: 'multiclass', kind: 'multiclass', units: 3 },
  ],
  inputShape: [6],
  encoder: { type: 'mlp', units: [5, 3] },
};

// Equal weights through the Gramian path, so the 'features' site runs in the leak check.
const gramianEqual: GramianWeighting<null> = {
  kind: 'weighting',
  name: 'gramian-equal',
  apiVersion: API_VERSION,
  level: 'gramian',
  sites: ['features', 'shared', 'last-shared'],
  init: () => null,
  weigh: (gramian, _losses, state) => ({ weights: new Array(gramian.shape[0]).fill(1), state }),
};

describe('dselect-k conforms to the sharing contract (testkit)', () => {
  it("per-example gates, features 'tasks' (the defaults), 3 experts (not a power of 2)", async () => {
    const report = await checkSharingStrategy(dselectK({ experts: 3 }), { spec });
    // Three experts of two dense layers; per task a gate of z map (kernel, bias) and α map (kernel, bias).
    expect(report.variables.shared).toBe(3 * 4 + 2 * 4);
    expect(report.variables.perTask).toEqual({ regression: 2, multiclass: 2 });
  });

  it("static gates, features 'experts', k = 1", async () => {
    const report = await checkSharingStrategy(dselectK({ experts: 2, k: 1, gate: 'static', features: 'experts' }), { spec, seed: 3 });
    expect(report.variables.shared).toBe(2 * 4);
    expect(report.variables.perTask).toEqual({ regression: 4, multiclass: 4 });
  });

  it("static gates, features 'tasks', with the entropy regulariser as penalty()", async () => {
    const report = await checkSharingStrategy(dselectK({ experts: 4, gate: 'static', entropyWeight: 0.1, gamma: 2 }), { spec, seed: 5 });
    expect(report.checks).toContain('penalty() is a finite scalar');
  });
});

describe('dselect-k registration', () => {
  it('resolves by name, with options, and names a misspelt option', () => {
    const registry = createRegistry();
    registry.register(dselectK());
    expect(registry.resolve('sharing', 'dselect-k').name).toBe('dselect-k');
    const configured = registry.resolve('sharing', { name: 'dselect-k', options: { experts: 8, k: 3, gate: 'static' } }) as ReturnType<typeof dselectK>;
    expect(configured.options).toEqual({ experts: 8, k: 3, gamma: 1, gate: 'static', features: 'tasks', entropyWeight: 0 });
    try {
      registry.resolve('sharing', { name: 'dselect-k', options: { gama: 1 } });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toBe("sharing 'dselect-k': unknown option 'gama'; it accepts: experts, k, gamma, gate, features, entropyWeight");
    }
  });
});

describe('dselect-k leaks nothing while training', () => {
  for (const [features, gate] of [['tasks', 'per-example'], ['experts', 'static']] as const) {
    it(`over 50 Trainer steps (features '${features}', gate '${gate}'; EW, then a Gramian weighting at the 'features' site)`, async () => {
      const batch = {
        inputs: tf.randomNormal([12, 6], 0, 1, 'float32', 1),
        targets: {
          regression: tf.randomNormal([12, 1], 0, 1, 'float32', 2),
          multiclass: tf.tensor1d(Array.from({ length: 12 }, (_, i) => i % 3), 'int32'),
        },
      };
      for (const weighting of [undefined, gramianEqual]) {
        const model = dselectK({ experts: 3, features, gate }).build(spec, { seed: 2 });
        const trainer = new Trainer({ model, weighting, site: weighting ? 'features' : undefined, optimizer: { name: 'adam', learningRate: 0.01 } });
        let first = Number.NaN;
        let last = Number.NaN;
        await checkNoLeak(
          (i) => {
            const report = trainer.step(batch);
            if (i === 0) first = report.loss;
            last = report.loss;
          },
          { steps: 50, label: `dselect-k '${features}' '${gate}' training` },
        );
        expect(last).toBeLessThan(first);
        trainer.dispose();
        model.dispose();
      }
      tf.dispose([batch.inputs, ...Object.values(batch.targets)]);
    });
  }
});
