import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, type Batch } from '../src/index';
import { fixedBatch, learnedScale, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A batch in which task 'cls' has no labelled example. */
function withoutCls(batch: Batch): Batch {
  return { ...batch, masks: { cls: tf.zeros([(batch.inputs as tf.Tensor).shape[0]!]) as tf.Tensor1D } };
}


function headValues(trainer: Trainer, task: string): Float32Array[] {
  return trainer.model.taskVariables(task).map((v) => Float32Array.from(v.dataSync()));
}

describe('optimiser slots with inactive tasks', () => {
  it("Adam: a head inactive in step 1 moves in step 2 by exactly Adam's second-step closed form, lr·√(1+β2)/(1+β1) per element", () => {
    const lr = 0.01;
    const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 11 }), optimizer: { name: 'adam', learningRate: lr }, seed: 1 });
    const initial = headValues(trainer, 'cls');
    trainer.step(withoutCls(fixedBatch(16, 21)));
    expect(headValues(trainer, 'cls')).toEqual(initial);
    trainer.step(fixedBatch(16, 22));
    // Moments of a variable first updated at step t = 2: m = (1−β1) g, v = (1−β2) g²; bias corrections
    // 1−β1², 1−β2²; so m̂/√v̂ = sign(g) · (1/(1+β1)) / √(1/(1+β2)).
    const expected = (lr * Math.sqrt(1 + 0.999)) / (1 + 0.9);
    let moved = 0;
    headValues(trainer, 'cls').forEach((values, i) =>
      values.forEach((value, j) => {
        const delta = Math.abs(value - initial[i]![j]!);
        if (delta > 1e-9) {
          moved += 1;
          expect(delta).toBeCloseTo(expected, 5);
        }
      }),
    );
    expect(moved).toBeGreaterThan(10);
    trainer.dispose();
  });

  it('a loss-level weighting variable placed after an inactive head keeps its own slots (no broadcast error, learns)', () => {
    const trainer = new Trainer({ model: tinyModel(TASKS, { seed: 12 }), weighting: learnedScale(), optimizer: { name: 'adam', learningRate: 0.05 }, seed: 1 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 6; i++) trainer.step(i % 2 === 0 ? withoutCls(fixedBatch(16, 30 + i)) : fixedBatch(16, 30 + i));
    const s = Array.from(trainer.engine.weightingParams['s']!.dataSync());
    expect(s.every((value) => value !== 0)).toBe(true);
    // Slots were created once, at the first step; later steps, with or without 'cls', add none.
    const batches = [fixedBatch(16, 40), withoutCls(fixedBatch(16, 41))];
    const after = tf.memory().numTensors;
    for (const batch of batches) trainer.step(batch);
    expect(tf.memory().numTensors).toBe(after);
    expect(after).toBeGreaterThan(before);
    trainer.dispose();
  });
});
