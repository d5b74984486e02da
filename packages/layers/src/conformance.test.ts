import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, type ModelSpec } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkSharingStrategy, defaultSharingSpec } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { layersFactory } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** dense 8 relu → dense 4 relu, each layer seeded from the context's seed. */
const encoder = layersFactory(({ inputShape, seed }) => {
  const rng = Rng.fromSeed(seed);
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 8, activation: 'relu', inputShape: [...inputShape], kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.nextSeed() }) }),
      tfl.layers.dense({ units: 4, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.nextSeed() }) }),
    ],
  });
});

const head = layersFactory(({ inputShape, seed }) =>
  tfl.sequential({
    layers: [tfl.layers.dense({ units: 3, activation: 'tanh', inputShape: [...inputShape], kernelInitializer: tfl.initializers.glorotUniform({ seed }) })],
  }),
);

describe('hard sharing with tfjs-layers modules passes the sharing conformance suite (testkit)', () => {
  it('with a layersFactory encoder, training at every site', async () => {
    const spec: ModelSpec = { ...defaultSharingSpec(), encoder };
    const report = await checkSharingStrategy(hardSharing(), { spec });
    expect(report.variables.shared).toBe(4);
    expect(report.variables.lastShared).toBe(2);
    expect(report.training.map((run) => run.site)).toEqual([null, 'shared', 'last-shared', 'features']);
    for (const run of report.training) expect(run.lastLoss).toBeLessThan(run.firstLoss);
  });

  it('with layersFactory encoder and heads', async () => {
    const spec: ModelSpec = { ...defaultSharingSpec(), encoder, head };
    const report = await checkSharingStrategy(hardSharing(), { spec, seed: 4, trainingSteps: 30 });
    expect(Object.values(report.variables.perTask)).toEqual([4, 4, 4]);
  });
});
