import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LEFT_RIGHT_TASKS, withSmallModel, withTinyModel } from './model-fixtures';
import { tinySharing } from './test-fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const valuesOf = (tensor: tf.Tensor | undefined) => Array.from(tensor!.dataSync());
const drawn = (shape: number[], seed: number) => tf.tidy(() => valuesOf(tf.randomNormal(shape, 0, 1, 'float32', seed)));

describe('withSmallModel', () => {
  it('builds the model for the tasks, draws the documented batch, and disposes both', () => {
    const before = tf.memory().numTensors;
    const seen = withSmallModel(tinySharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      expect(model.taskNames).toEqual(['left', 'right']);
      expect((batch.inputs as tf.Tensor).shape).toEqual([8, 4]);
      expect(valuesOf(batch.inputs as tf.Tensor)).toEqual(drawn([8, 4], 3));
      expect(valuesOf(batch.targets.left)).toEqual(drawn([8], 4));
      expect(valuesOf(batch.targets.right)).toEqual([0, 1, 1, 0, 1, 0, 0, 1]);
      return tf.tidy(() => model.apply(batch.inputs, { training: false }).outputs.left!.shape);
    });
    expect(seen).toEqual([8, 1]);
    expect(LEFT_RIGHT_TASKS.map((task) => task.name)).toEqual(['left', 'right']);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives later regression tasks the next seeds, and disposes when `use` throws', () => {
    const before = tf.memory().numTensors;
    const tasks = [...LEFT_RIGHT_TASKS, { name: 'third', kind: 'regression' as const, units: 1 }];
    expect(() =>
      withSmallModel(tinySharing(), tasks, (_model, batch) => {
        expect(valuesOf(batch.targets.third)).toEqual(drawn([8], 5));
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('withTinyModel', () => {
  it('builds tasks a and b on 3 inputs with the documented batch, and disposes both', () => {
    const before = tf.memory().numTensors;
    withTinyModel(tinySharing(), (model, batch) => {
      expect(model.taskNames).toEqual(['a', 'b']);
      expect((batch.inputs as tf.Tensor).arraySync()).toEqual([
        [1, 2, 3],
        [-1, 0, 2],
      ]);
      expect(valuesOf(batch.targets.a)).toEqual([1, -1]);
      expect(valuesOf(batch.targets.b)).toEqual([0, 1]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
