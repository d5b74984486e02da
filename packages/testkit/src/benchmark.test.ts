import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { equalWeighting, fromArrays, Rng, staticWeighting } from '@mtljs/core';
import { beforeAll, expect, it } from 'vitest';
import { compareWithEqualWeighting, type BenchmarkData } from './benchmark';
import { tinySharing } from './test-fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function data(): BenchmarkData {
  const rng = Rng.fromSeed(1);
  const make = (n: number) => {
    const inputs = Array.from({ length: n }, () => Array.from({ length: 6 }, () => rng.normal()));
    return fromArrays({ inputs, targets: { a: inputs.map((x) => x[0]! - x[1]!), b: inputs.map((x) => x[2]! * 0.5 + x[3]!) } }, { batchSize: 32 });
  };
  return {
    tasks: [
      { name: 'a', kind: 'regression', units: 1 },
      { name: 'b', kind: 'regression', units: 1 },
    ],
    inputShape: [6],
    train: make(256),
    validation: make(128),
  };
}

it('EW against itself gives ratio 1; starving a task of its loss gives a worse ratio', async () => {
  const same = await compareWithEqualWeighting({ strategy: tinySharing(), weighting: equalWeighting(), data: data(), epochs: 3, seed: 2 });
  expect(same.ratio).toBe(1);
  const starved = await compareWithEqualWeighting({
    strategy: tinySharing(),
    weighting: staticWeighting({ weights: { b: 0 } }),
    data: data(),
    epochs: 3,
    seed: 2,
  });
  expect(starved.ratio).toBeGreaterThan(1.1);
  expect(starved.perTask.b!.loss).toBeGreaterThan(starved.perTask.b!.equalWeightingLoss);
});
