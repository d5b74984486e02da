import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, createRegistry, isMtlError, Trainer, type GramianWeighting, type ModelSpec } from '@mtljs/core';
import { checkNoLeak, checkSharingStrategy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { mmoe } from './mmoe';

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
  encoder: { type: 'mlp', units: [6, 4] },
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

describe('mmoe conforms to the sharing contract (testkit)', () => {
  it("passes checkSharingStrategy with features 'tasks' (default)", async () => {
    const report = await checkSharingStrategy(mmoe({ experts: 2 }), { spec });
    // Two experts of two dense layers (kernel, bias each), one gate (kernel, bias) per task.
    expect(report.variables.shared).toBe(2 * 4 + 3 * 2);
    expect(report.variables.perTask).toEqual({ regression: 2, multiclass: 2, binary: 2 });
  });

  it("passes checkSharingStrategy with features 'experts'", async () => {
    const report = await checkSharingStrategy(mmoe({ experts: 2, features: 'experts' }), { spec, seed: 4 });
    expect(report.variables.shared).toBe(2 * 4);
    expect(report.variables.perTask).toEqual({ regression: 4, multiclass: 4, binary: 4 });
  });
});

describe('mmoe registration', () => {
  it('resolves by name, with options, and names a misspelt option', () => {
    const registry = createRegistry();
    registry.register(mmoe());
    const plain = registry.resolve('sharing', 'mmoe');
    expect(plain.name).toBe('mmoe');
    const configured = registry.resolve('sharing', { name: 'mmoe', options: { experts: 2, features: 'experts' } }) as ReturnType<typeof mmoe>;
    expect(configured.options).toEqual({ experts: 2, features: 'experts' });
    try {
      registry.resolve('sharing', { name: 'mmoe', options: { expert: 1 } });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toBe("sharing 'mmoe': unknown option 'expert'; it accepts: experts, features");
    }
  });
});

describe('mmoe leaks nothing while training', () => {
  for (const features of ['tasks', 'experts'] as const) {
    it(`over 50 Trainer steps (features '${features}'; EW, then a Gramian weighting at the 'features' site)`, async () => {
      const batch = {
        inputs: tf.randomNormal([12, 6], 0, 1, 'float32', 1),
        targets: {
          regression: tf.randomNormal([12, 1], 0, 1, 'float32', 2),
          multiclass: tf.tensor1d(Array.from({ length: 12 }, (_, i) => i % 3), 'int32'),
          binary: tf.tensor1d(Array.from({ length: 12 }, (_, i) => i % 2)),
        },
      };
      for (const weighting of [undefined, gramianEqual]) {
        const model = mmoe({ experts: 3, features }).build(spec, { seed: 2 });
        const trainer = new Trainer({ model, weighting, site: weighting ? 'features' : undefined, optimizer: { name: 'adam', learningRate: 0.01 } });
        let first = Number.NaN;
        let last = Number.NaN;
        await checkNoLeak(
          (i) => {
            const report = trainer.step(batch);
            if (i === 0) first = report.loss;
            last = report.loss;
          },
          { steps: 50, label: `mmoe '${features}' training` },
        );
        expect(last).toBeLessThan(first);
        trainer.dispose();
        model.dispose();
      }
      tf.dispose([batch.inputs, ...Object.values(batch.targets)]);
    });
  }
});
