import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRegistry, isMtlError, Trainer, type ModelSpec } from '@mtljs/core';
import { checkNoLeak, checkSharingStrategy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { softSharing } from './soft';

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

describe('soft sharing conforms to the sharing contract (testkit)', () => {
  it('passes checkSharingStrategy with both ties', async () => {
    const report = await checkSharingStrategy(softSharing(), { spec });
    expect(report.variables.shared).toBe(12); // 3 towers × 2 layers × (kernel, bias)
    expect(report.variables.lastShared).toBe(6);
    await checkSharingStrategy(softSharing({ tie: 'mean', lambda: 0.1 }), { spec, seed: 4, trainingSteps: 0 });
  });

  it('registers by name and refuses a misspelt option by name', () => {
    const registry = createRegistry();
    registry.register(softSharing());
    expect(registry.resolve('sharing', 'soft').name).toBe('soft');
    const configured = registry.resolve('sharing', { name: 'soft', options: { lambda: 0.5, tie: 'mean' } });
    expect(configured.name).toBe('soft');
    try {
      registry.resolve('sharing', { name: 'soft', options: { lamda: 1 } });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain("'lamda'");
    }
  });

  it('leaks no tensor over 50 Trainer steps', async () => {
    const model = softSharing({ lambda: 0.1 }).build(spec, { seed: 2 });
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 } });
    const batch = {
      inputs: tf.randomNormal([8, 6], 0, 1, 'float32', 1),
      targets: {
        regression: tf.randomNormal([8, 1], 0, 1, 'float32', 2),
        multiclass: tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'),
        binary: tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1]),
      },
    };
    const first = trainer.step(batch).loss;
    let last = first;
    await checkNoLeak(
      () => {
        last = trainer.step(batch).loss;
      },
      { steps: 50 },
    );
    expect(last).toBeLessThan(first);
    trainer.dispose();
    model.dispose();
    tf.dispose([batch.inputs, ...Object.values(batch.targets)]);
  });
});
