import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConformanceError } from './errors';
import { checkSharingStrategy, defaultSharingSpec } from './sharing';
import { tinySharing } from './test-fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function failureOf(promise: Promise<unknown>): Promise<ConformanceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the check should have failed').toBeInstanceOf(ConformanceError);
  return error as ConformanceError;
}

describe('checkSharingStrategy', () => {
  it('passes a correct strategy and frees everything it built', async () => {
    const before = tf.memory().numTensors;
    const report = await checkSharingStrategy(tinySharing());
    expect(report.name).toBe('tiny');
    expect(report.tasks).toEqual(['regression', 'multiclass', 'binary']);
    expect(report.variables).toEqual({ shared: 4, lastShared: 2, perTask: { regression: 2, multiclass: 2, binary: 2 } });
    expect(report.checks.length).toBeGreaterThanOrEqual(9);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes another spec and seed', async () => {
    const spec = { ...defaultSharingSpec(), inputShape: [2, 3], encoder: { type: 'mlp' as const, units: [5] } };
    await checkSharingStrategy(tinySharing(), { spec, seed: 42, batchSize: 7 });
  });

  it("fails when task b's head also reads task a's variables", async () => {
    const before = tf.memory().numTensors;
    const error = await failureOf(checkSharingStrategy(tinySharing({ crossTalk: true })));
    expect(error.check).toBe('task-isolation');
    expect(error.message).toMatch(/^sharing strategy 'tiny-cross-talk': adding 1 to task 'regression's variables changed task 'multiclass's output/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fails when dispose() leaks', async () => {
    const error = await failureOf(checkSharingStrategy(tinySharing({ leakyDispose: true })));
    expect(error.check).toBe('dispose');
    expect(error.message).toMatch(/dispose\(\) left 6 tensors alive \(build\(\) created 10\)/);
  });

  it('fails when the seed does not fix initialisation', async () => {
    const error = await failureOf(checkSharingStrategy(tinySharing({ unseeded: true })));
    expect(error.check).toBe('determinism');
    expect(error.message).toMatch(/two models built with seed 0 differ/);
  });

  it('fails when outputs have the wrong shape', async () => {
    const strategy = tinySharing();
    const squeezing = {
      ...strategy,
      build: (spec: Parameters<typeof strategy.build>[0], options: Parameters<typeof strategy.build>[1]) => {
        const model = strategy.build(spec, options);
        const apply = model.apply.bind(model);
        model.apply = (inputs, opts) => {
          const result = apply(inputs, opts);
          return { ...result, outputs: { ...result.outputs, binary: tf.squeeze(result.outputs.binary!) } };
        };
        return model;
      },
    };
    const error = await failureOf(checkSharingStrategy(squeezing));
    expect(error.message).toMatch(/output of task 'binary' has shape \[4\]; expected \[4, 1\]/);
  });

  it('fails when a variable is both shared and a task variable', async () => {
    const strategy = tinySharing();
    const overlapping = {
      ...strategy,
      build: (spec: Parameters<typeof strategy.build>[0], options: Parameters<typeof strategy.build>[1]) => {
        const model = strategy.build(spec, options);
        const taskVariables = model.taskVariables.bind(model);
        model.taskVariables = (task) => [...taskVariables(task), ...(task === 'binary' ? model.lastSharedVariables() : [])];
        return model;
      },
    };
    const error = await failureOf(checkSharingStrategy(overlapping));
    expect(error.check).toBe('variables');
    expect(error.message).toMatch(/variable '.*encoder\/dense1\/kernel' is in both sharedVariables\(\) and taskVariables\('binary'\)/);
  });

  it('fails when getWeights hands out the live variables', async () => {
    const strategy = tinySharing();
    const live = {
      ...strategy,
      build: (spec: Parameters<typeof strategy.build>[0], options: Parameters<typeof strategy.build>[1]) => {
        const model = strategy.build(spec, options);
        model.getWeights = () => Object.fromEntries(model.sharedVariables().map((v) => [v.name, v]));
        return model;
      },
    };
    const error = await failureOf(checkSharingStrategy(live));
    expect(error.message).toMatch(/getWeights\(\) returned the live variable/);
  });

  it('fails when apply leaks past a tidy', async () => {
    const strategy = tinySharing();
    const kept: tf.Tensor[] = [];
    const leaking = {
      ...strategy,
      build: (spec: Parameters<typeof strategy.build>[0], options: Parameters<typeof strategy.build>[1]) => {
        const model = strategy.build(spec, options);
        const apply = model.apply.bind(model);
        model.apply = (inputs, opts) => {
          kept.push(tf.keep(tf.ones([1])));
          return apply(inputs, opts);
        };
        return model;
      },
    };
    const error = await failureOf(checkSharingStrategy(leaking));
    expect(error.check).toBe('leak');
    expect(error.message).toMatch(/apply\(\): leaked 40 tensors over 20 steps \(2 per step/);
    tf.dispose(kept);
  });
});
