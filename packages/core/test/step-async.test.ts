import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, type GradientSite, type Weighting } from '../src/index';
import { disposeAll, fixedBatch, fixedGramian, fixedJacobian, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cases: [string, () => Weighting<any> | undefined, GradientSite | undefined][] = [
  ['equal weighting', () => undefined, undefined],
  ['gramian at shared', () => fixedGramian([0.5, 0.3, 0.2]), 'shared'],
  ['gramian at last-shared', () => fixedGramian([0.5, 0.3, 0.2]), 'last-shared'],
  ['gramian at features', () => fixedGramian([0.5, 0.3, 0.2]), 'features'],
  ['jacobian at features', () => fixedJacobian([0.2, 0.5, 0.3]), 'features'],
];

describe('Trainer.stepAsync', () => {
  for (const [label, weighting, site] of cases) {
    it(`${label}: gives the same reports and variables as step(), and leaks nothing`, async () => {
      const batch = fixedBatch();
      // A mask, so the asynchronous mask count is exercised too.
      batch.masks = { bin: tf.tensor1d([1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1]) };
      const run = async (useAsync: boolean) => {
        const model = tinyModel(TASKS, { seed: 4, penalty: 0.001 });
        const trainer = new Trainer({ model, weighting: weighting(), site, optimizer: { name: 'adam', learningRate: 0.01 } });
        const reports = [];
        const before = tf.memory().numTensors;
        for (let i = 0; i < 5; i++) reports.push(useAsync ? await trainer.stepAsync(batch) : trainer.step(batch));
        const leaked = tf.memory().numTensors - before;
        const variables = [...model.sharedVariables(), ...model.taskNames.flatMap((t) => model.taskVariables(t))].map((v) => Array.from(v.dataSync()));
        trainer.dispose();
        model.dispose();
        return { reports, variables, leaked };
      };
      const sync = await run(false);
      const asynchronous = await run(true);
      expect(asynchronous.reports).toEqual(sync.reports);
      expect(asynchronous.variables).toEqual(sync.variables);
      // Adam's slots appear at the first step; after that nothing may accumulate.
      expect(asynchronous.leaked).toBe(sync.leaked);
      disposeAll([batch.inputs as tf.Tensor, ...(Object.values(batch.targets) as tf.Tensor[]), batch.masks.bin!]);
    });
  }
});
