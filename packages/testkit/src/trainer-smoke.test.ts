import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { equalWeighting, staticWeighting } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConformanceError } from './errors';
import { gramianEqual, gramianEqualProjection, jacobianMean, logVarianceWeighting, tinySharing } from './test-fixtures';
import { trainerSmokeCheck } from './trainer-smoke';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('trainerSmokeCheck', () => {
  it('trains a loss-level weighting', async () => {
    const before = tf.memory().numTensors;
    const report = await trainerSmokeCheck(tinySharing(), equalWeighting());
    expect(report.runs).toHaveLength(1);
    expect(report.runs[0]!.site).toBeNull();
    expect(report.runs[0]!.lastLoss).toBeLessThan(report.runs[0]!.firstLoss);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trains a weighting with its own trainable parameters, and frees them', async () => {
    await trainerSmokeCheck(tinySharing(), logVarianceWeighting());
    await trainerSmokeCheck(tinySharing(), staticWeighting({ weights: { multiclass: 0.5 } }));
  });

  it('trains a Gramian weighting at every site it declares', async () => {
    const report = await trainerSmokeCheck(tinySharing(), gramianEqual());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features', 'last-shared']);
    await trainerSmokeCheck(tinySharing(), gramianEqualProjection(), { sites: ['shared'] });
  });

  it('trains a Jacobian weighting at its sites', async () => {
    const report = await trainerSmokeCheck(tinySharing(), jacobianMean());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('fails when the loss goes up', async () => {
    // Gradient ascent, slow enough to stay finite for 20 steps.
    const ascent = staticWeighting({ weights: {}, defaultWeight: -0.1 });
    const error = await trainerSmokeCheck(tinySharing(), ascent, { learningRate: 0.01 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConformanceError);
    expect((error as ConformanceError).check).toBe('decrease');
    expect((error as Error).message).toMatch(/the summed task loss did not decrease over 20 SGD steps \(lr 0\.01\): [\d.]+ → [\d.]+; weights at the last step: \{"regression":-0\.1/);
  });

  it('fails when the weighting leaks during training', async () => {
    const kept: tf.Tensor[] = [];
    const leaking = gramianEqual({
      name: 'leaky',
      weigh: (g, _l, state) => {
        kept.push(tf.ones([1]));
        return { weights: new Array(g.shape[0]).fill(1), state };
      },
    });
    await expect(trainerSmokeCheck(tinySharing(), leaking, { sites: ['features'] })).rejects.toThrow(
      /weighting 'leaky'\) at site 'features': leaked 20 tensors over 20 steps \(1 per step/,
    );
    tf.dispose(kept);
  });

  it('fails, naming the step, when the engine refuses a step', async () => {
    const nan = gramianEqual({ name: 'nan-later', weigh: (g, _l, state, info) => ({ weights: new Array(g.shape[0]).fill(info.step >= 5 ? Number.NaN : 1), state }) });
    const error = await trainerSmokeCheck(tinySharing(), nan, { sites: ['shared'] }).catch((e: unknown) => e);
    expect((error as ConformanceError).check).toBe('step');
    expect((error as Error).message).toMatch(/training at site 'shared' failed at step 5: .*non-finite weight/);
  });

  it('refuses a site the weighting does not declare', async () => {
    await expect(trainerSmokeCheck(tinySharing(), jacobianMean(), { sites: ['last-shared'] })).rejects.toThrow(/does not declare site last-shared/);
    await expect(trainerSmokeCheck(tinySharing(), equalWeighting(), { sites: ['shared'] })).rejects.toThrow(/takes no sites/);
  });
});
