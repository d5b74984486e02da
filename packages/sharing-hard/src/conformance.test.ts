import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, equalWeighting, type GramianWeighting } from '@mtljs/core';
import { checkSharingStrategy, trainerSmokeCheck } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { hardSharing } from './hard';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Equal weights through the Gramian path: lets the smoke check train at all three sites.
const gramianEqual: GramianWeighting<null> = {
  kind: 'weighting',
  name: 'gramian-equal',
  apiVersion: API_VERSION,
  level: 'gramian',
  sites: ['shared', 'last-shared', 'features'],
  init: () => null,
  weigh: (gramian, _losses, state) => ({ weights: new Array(gramian.shape[0]).fill(1), state }),
};

describe('hard sharing conforms to the sharing contract (testkit)', () => {
  it('passes checkSharingStrategy on the default spec and on a deeper one', async () => {
    const report = await checkSharingStrategy(hardSharing());
    expect(report.checks.length).toBeGreaterThan(5);
    await checkSharingStrategy(hardSharing(), {
      spec: {
        tasks: [
          { name: 'a', kind: 'multilabel', units: 4 },
          { name: 'b', kind: 'regression', units: 2 },
        ],
        inputShape: [3, 2],
        encoder: { type: 'mlp', units: [8, 8, 4], activation: 'tanh' },
        head: { type: 'mlp', units: [5] },
      },
      seed: 9,
    });
  });

  it('trains without leaks with a loss-level weighting and a Gramian one at every site', async () => {
    await trainerSmokeCheck(hardSharing(), equalWeighting());
    const report = await trainerSmokeCheck(hardSharing(), gramianEqual);
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'last-shared', 'features']);
  });
});
