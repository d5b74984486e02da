import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, Trainer, type GramianWeighting, type ModelSpec } from '@mtljs/core';
import { checkNoLeak, checkSharingStrategy, defaultSharingSpec } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { clustered } from './clustered';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spec: ModelSpec = { ...defaultSharingSpec(), encoder: { type: 'mlp', units: [6, 4] } };

// Equal weights through the Gramian path, so the leak check runs the 'features' site with a record of features.
const gramianEqual: GramianWeighting<null> = {
  kind: 'weighting',
  name: 'gramian-equal',
  apiVersion: API_VERSION,
  level: 'gramian',
  sites: ['features', 'shared', 'last-shared'],
  init: () => null,
  weigh: (gramian, _losses, state) => ({ weights: new Array(gramian.shape[0]).fill(1), state }),
};

function batchOf(size: number) {
  return {
    inputs: tf.randomNormal([size, 6], 0, 1, 'float32', 1),
    targets: {
      regression: tf.randomNormal([size, 1], 0, 1, 'float32', 2),
      multiclass: tf.tensor1d(Array.from({ length: size }, (_, i) => i % 3), 'int32'),
      binary: tf.tensor1d(Array.from({ length: size }, (_, i) => i % 2), 'float32'),
    },
  };
}

describe('clustered sharing conforms to the sharing contract (testkit)', () => {
  it('passes checkSharingStrategy with explicit groups, one of them a single task', async () => {
    const report = await checkSharingStrategy(clustered({ groups: [['regression', 'multiclass'], ['binary']] }), { spec, seed: 2 });
    expect(report.variables.shared).toBe(8);
    expect(report.variables.lastShared).toBe(4);
  }, 60_000);

  it('leaks no tensor over 50 trainer steps (EW, and a Gramian weighting at the features site)', async () => {
    const batch = batchOf(8);
    for (const [weighting, site] of [[undefined, undefined], [gramianEqual, 'features']] as const) {
      const model = clustered({ groups: [['regression'], ['multiclass', 'binary']] }).build(spec, { seed: 1 });
      const trainer = new Trainer({ model, weighting, site, optimizer: { name: 'adam', learningRate: 0.01 } });
      const first = trainer.step(batch).loss;
      await checkNoLeak(() => void trainer.step(batch), { steps: 50, label: `clustered trainer step (${weighting?.name ?? 'ew'})` });
      expect(trainer.step(batch).loss).toBeLessThan(first);
      trainer.dispose();
      model.dispose();
    }
    tf.dispose([batch.inputs, ...Object.values(batch.targets)]);
  }, 60_000);

  it('the warm-up inside build() leaks nothing: everything but the returned model is freed', async () => {
    const batch = batchOf(8);
    await checkNoLeak(
      () => {
        const model = clustered({ groups: 2, warmup: { batches: [batch], steps: 3 } }).build(spec, { seed: 0 });
        model.dispose();
      },
      { steps: 3, label: 'clustered warm-up build' },
    );
    tf.dispose([batch.inputs, ...Object.values(batch.targets)]);
  });
});
