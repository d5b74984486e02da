import * as tf from '@tensorflow/tfjs-core';
import type { Batch, MultiTaskModel, SharingStrategy, TaskSpec } from '@mtljs/core';

/** Task `left` (regression) and task `right` (binary). */
export const LEFT_RIGHT_TASKS: readonly TaskSpec[] = [
  { name: 'left', kind: 'regression', units: 1 },
  { name: 'right', kind: 'binary', units: 1 },
];

/** Builds the model and the batch, runs `use`, and disposes both, also when `use` throws. */
function withModel<T>(model: MultiTaskModel, batch: Batch, use: (model: MultiTaskModel, batch: Batch) => T): T {
  try {
    return use(model, batch);
  } finally {
    tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets).filter((target): target is tf.Tensor => target !== undefined)]);
    model.dispose();
  }
}

/**
 * Runs `use` with the model `strategy` builds for `tasks` (e.g. {@link LEFT_RIGHT_TASKS}) on 4 inputs, an MLP
 * encoder of 6 units, seed 1; and a batch of 8 rows: inputs N(0, 1) drawn with seed 3, then per task in order,
 * regression targets N(0, 1) drawn with seeds 4, 5, … and binary targets 0 1 1 0 1 0 0 1 (no other kinds).
 * Disposes both after.
 */
export function withSmallModel<T>(strategy: SharingStrategy, tasks: readonly TaskSpec[], use: (model: MultiTaskModel, batch: Batch) => T): T {
  const model = strategy.build({ tasks, inputShape: [4], encoder: { type: 'mlp', units: [6] } }, { seed: 1 });
  const inputs = tf.randomNormal([8, 4], 0, 1, 'float32', 3);
  let seed = 4;
  const targets = Object.fromEntries(
    tasks.map((task) => {
      if (task.kind !== 'regression' && task.kind !== 'binary') throw new Error(`withSmallModel: task '${task.name}' is ${task.kind}; regression and binary only`);
      return [task.name, task.kind === 'binary' ? tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1]) : tf.randomNormal([8], 0, 1, 'float32', seed++)];
    }),
  );
  return withModel(model, { inputs, targets }, use);
}

/**
 * Runs `use` with the model `strategy` builds for task `a` (regression) and task `b` (binary) on 3 inputs, an MLP
 * encoder of 4 units, seed 1; and the batch inputs [[1, 2, 3], [−1, 0, 2]], targets a = (1, −1), b = (0, 1).
 * Disposes both after.
 */
export function withTinyModel<T>(strategy: SharingStrategy, use: (model: MultiTaskModel, batch: Batch) => T): T {
  const tasks: TaskSpec[] = [
    { name: 'a', kind: 'regression', units: 1 },
    { name: 'b', kind: 'binary', units: 1 },
  ];
  const model = strategy.build({ tasks, inputShape: [3], encoder: { type: 'mlp', units: [4] } }, { seed: 1 });
  const batch = { inputs: tf.tensor2d([1, 2, 3, -1, 0, 2], [2, 3]), targets: { a: tf.tensor1d([1, -1]), b: tf.tensor1d([0, 1]) } };
  return withModel(model, batch, use);
}
