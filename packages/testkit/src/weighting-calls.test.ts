import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gramianEqual } from './test-fixtures';
import { lossStepInfoFor, stepInfoFor, taskNamesFor, thrownBy, weighGramian } from './weighting-calls';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('stepInfoFor', () => {
  it('names task0…, every task active, step 0, site shared by default', () => {
    expect(taskNamesFor(3)).toEqual(['task0', 'task1', 'task2']);
    expect(stepInfoFor(2)).toEqual({ step: 0, epoch: 0, taskNames: ['task0', 'task1'], activeTasks: ['task0', 'task1'], activeIndices: [0, 1], site: 'shared' });
  });

  it('takes names, the active indices, step, epoch and site', () => {
    expect(stepInfoFor(['a', 'b', 'c'], { active: [0, 2], step: 5, epoch: 1, site: null })).toEqual({
      step: 5,
      epoch: 1,
      taskNames: ['a', 'b', 'c'],
      activeTasks: ['a', 'c'],
      activeIndices: [0, 2],
      site: null,
    });
  });
});

describe('lossStepInfoFor', () => {
  it('has site null and the parameters given (none by default)', () => {
    expect(lossStepInfoFor(2, { step: 3 })).toEqual({ ...stepInfoFor(2, { step: 3, site: null }), params: {} });
    const logVariance = tf.variable(tf.zeros([2]));
    try {
      const info = lossStepInfoFor(['a', 'b', 'c'], { active: [1], params: { logVariance } });
      expect(info).toMatchObject({ taskNames: ['a', 'b', 'c'], activeTasks: ['b'], activeIndices: [1], site: null });
      expect(info.params.logVariance).toBe(logVariance);
    } finally {
      logVariance.dispose();
    }
  });
});

describe('weighGramian', () => {
  it('passes G, the losses, the state and the info as the engine does, and disposes what it made', () => {
    const seen: { gramian?: number[][]; losses?: number[]; state?: unknown; info?: unknown } = {};
    const plugin = gramianEqual({
      init: (context) => ({ names: context.taskNames, seed: context.seed }) as never,
      weigh: (gramian, losses, state, info) => {
        seen.gramian = gramian.arraySync();
        seen.losses = Array.from(losses.dataSync());
        seen.state = state;
        seen.info = info;
        return { weights: tf.tensor1d([0.25, 0.75]), state, diagnostics: { values: { x: 1 } } };
      },
    });
    const before = tf.memory().numTensors;
    const result = weighGramian(plugin, [
      [1, 2],
      [2, 5],
    ]);
    expect(tf.memory().numTensors).toBe(before);
    expect(result).toEqual({ weights: [0.25, 0.75], state: { names: ['task0', 'task1'], seed: 0 }, diagnostics: { values: { x: 1 } } });
    expect(seen.gramian).toEqual([
      [1, 2],
      [2, 5],
    ]);
    expect(seen.losses).toEqual([1, 1]);
    expect(seen.info).toEqual(stepInfoFor(2));

    const info = stepInfoFor(['a', 'b', 'c'], { active: [0, 2] });
    const given = weighGramian(plugin, [[4, 0], [0, 1]], { losses: [0.5, 2], state: null as never, info });
    expect(given.weights).toEqual([0.25, 0.75]);
    expect(seen.losses).toEqual([0.5, 2]);
    expect(seen.state).toBeNull();
    expect(seen.info).toBe(info);
  });

  it('reads weights given as numbers', () => {
    expect(weighGramian(gramianEqual(), [[1]]).weights).toEqual([1]);
  });
});

describe('thrownBy', () => {
  it('returns what the call throws, and throws when it returns', () => {
    const error = new Error('no');
    expect(
      thrownBy(() => {
        throw error;
      }),
    ).toBe(error);
    expect(() => thrownBy(() => 1)).toThrow('expected a throw');
  });
});
