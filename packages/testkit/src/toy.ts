import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import { uniqueScope, type Batch, type Features, type MultiTaskModel, type TaskSpec } from '@mtljs/core';

/** Lower clamp of the log terms' argument in g1 and g2. */
const LOWER = 5e-6;

/**
 * The two-objective toy problem of the CAGrad paper (Liu et al. 2021, "Conflict-Averse Gradient
 * Descent for Multi-task Learning", Fig. 1), on x = (x1, x2) ∈ R²:
 *
 *   g1 = log(max(|½(−x1 − 7) − tanh(−x2)|, 5e-6)) + 6,   g2 = log(max(|½(−x1 + 3) + tanh(−x2) + 2|, 5e-6)) + 6
 *   h1 = ((−x1 + 7)² + 0.1(−x2 − 8)²)/10 − 20,          h2 = ((−x1 − 7)² + 0.1(−x2 − 8)²)/10 − 20
 *   c1 = max(tanh(x2/2), 0),  c2 = max(tanh(−x2/2), 0)
 *   f_i = c1·g_i + c2·h_i.
 *
 * The paper starts Adam from (−8.5, 7.5), (−8.5, −5), (9, 9) ({@link TOY_STARTS}).
 *
 * These three starts, as (x1, x2); `toyProblem`'s default is the first.
 */
export const TOY_STARTS: readonly (readonly [number, number])[] = [
  [-8.5, 7.5],
  [-8.5, -5],
  [9, 9],
];

/** f1 and f2 at (x1, x2), in plain numbers (for plots and hand checks). */
export function toyObjectives(x1: number, x2: number): [number, number] {
  const t = Math.tanh(-x2);
  const g1 = Math.log(Math.max(Math.abs(0.5 * (-x1 - 7) - t), LOWER)) + 6;
  const g2 = Math.log(Math.max(Math.abs(0.5 * (-x1 + 3) + t + 2), LOWER)) + 6;
  const h1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20;
  const h2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20;
  const c1 = Math.max(Math.tanh(x2 / 2), 0);
  const c2 = Math.max(Math.tanh(-x2 / 2), 0);
  return [c1 * g1 + c2 * h1, c1 * g2 + c2 * h2];
}

function toyTensors(x: Tensor): [Scalar, Scalar] {
  const x1 = tf.slice(tf.reshape(x, [2]), [0], [1]);
  const x2 = tf.slice(tf.reshape(x, [2]), [1], [1]);
  const t = tf.tanh(tf.neg(x2));
  const g1 = tf.add(tf.log(tf.maximum(tf.abs(tf.sub(tf.mul(0.5, tf.sub(tf.neg(x1), 7)), t)), LOWER)), 6);
  const g2 = tf.add(tf.log(tf.maximum(tf.abs(tf.add(tf.add(tf.mul(0.5, tf.add(tf.neg(x1), 3)), t), 2)), LOWER)), 6);
  const tail = tf.mul(0.1, tf.square(tf.sub(tf.neg(x2), 8)));
  const h1 = tf.sub(tf.div(tf.add(tf.square(tf.add(tf.neg(x1), 7)), tail), 10), 20);
  const h2 = tf.sub(tf.div(tf.add(tf.square(tf.sub(tf.neg(x1), 7)), tail), 10), 20);
  const c1 = tf.relu(tf.tanh(tf.mul(x2, 0.5)));
  const c2 = tf.relu(tf.tanh(tf.mul(x2, -0.5)));
  const f1 = tf.add(tf.mul(c1, g1), tf.mul(c2, h1));
  const f2 = tf.add(tf.mul(c1, g2), tf.mul(c2, h2));
  return [tf.reshape(f1, []) as Scalar, tf.reshape(f2, []) as Scalar];
}

/** The CAGrad toy problem ready to train (`toyProblem`); call `dispose` when done. */
export interface ToyProblem {
  /** A model whose only (shared) variable is x; its task losses are exactly f1(x) and f2(x). */
  model: MultiTaskModel;
  /** The one batch to step on (targets are unused placeholders). */
  batch: Batch;
  /** Tasks `f1` and `f2`: regression, 1 unit, whose loss is the objective itself. */
  tasks: TaskSpec[];
  /** The current point. */
  position(): [number, number];
  /** Disposes x and the batch (the model's `dispose` disposes x only). */
  dispose(): void;
}

/**
 * The toy problem as a MultiTaskModel, so any weighting trains on it through the real engine and
 * Trainer: x is the shared variable (and the last shared layer, and the features), the heads are
 * empty, and each task's loss is its objective (a custom loss returning the output itself).
 */
export function toyProblem(start: readonly [number, number] = TOY_STARTS[0]!): ToyProblem {
  const x: Variable = tf.variable(tf.tensor2d([[start[0], start[1]]]), true, `${uniqueScope('toy')}/x`);
  const identityLoss = { name: 'objective', fn: (prediction: Tensor) => tf.reshape(prediction, [prediction.shape[0]!]) as tf.Tensor1D };
  const tasks: TaskSpec[] = [
    { name: 'f1', kind: 'regression', units: 1, loss: identityLoss },
    { name: 'f2', kind: 'regression', units: 1, loss: identityLoss },
  ];
  const model: MultiTaskModel = {
    tasks,
    taskNames: ['f1', 'f2'],
    encode: () => tf.mul(x, 1),
    decode: (features: Features, _inputs, _options, names) => {
      const [f1, f2] = toyTensors(features as Tensor);
      const all: Record<string, Tensor> = { f1: tf.reshape(f1, [1, 1]), f2: tf.reshape(f2, [1, 1]) };
      return Object.fromEntries((names ?? ['f1', 'f2']).map((name) => [name, all[name]!]));
    },
    apply(inputs, options) {
      const features = model.encode(inputs, options);
      return { features, outputs: model.decode(features, inputs, options) };
    },
    sharedVariables: () => [x],
    lastSharedVariables: () => [x],
    taskVariables: () => [],
    getWeights: () => ({ x: tf.clone(x) }) as NamedTensorMap,
    setWeights: (weights) => x.assign(weights.x as tf.Tensor2D),
    dispose: () => x.dispose(),
  };
  const batch: Batch = { inputs: tf.zeros([1, 1]), targets: { f1: tf.zeros([1]), f2: tf.zeros([1]) } };
  return {
    model,
    batch,
    tasks,
    position: () => {
      const [x1, x2] = x.dataSync();
      return [x1!, x2!];
    },
    dispose: () => {
      x.dispose();
      tf.dispose([batch.inputs as Tensor, batch.targets.f1!, batch.targets.f2!]);
    },
  };
}

/** ∇f1 and ∇f2 at a point (by tfjs autodiff), for Pareto-stationarity checks. */
export function toyGradients(x1: number, x2: number): [[number, number], [number, number]] {
  return tf.tidy(() => {
    const point = tf.tensor1d([x1, x2]);
    const g1 = tf.grad((p: Tensor) => toyTensors(p)[0])(point).dataSync();
    const g2 = tf.grad((p: Tensor) => toyTensors(p)[1])(point).dataSync();
    return [
      [g1[0]!, g1[1]!],
      [g2[0]!, g2[1]!],
    ];
  });
}

/**
 * The norm of the min-norm point of the convex hull of two gradients: 0 exactly at Pareto-stationary
 * points. For two vectors the minimiser of ‖α a + (1 − α) b‖ is α = clip((b − a)·b / ‖a − b‖², 0, 1).
 */
export function twoGradientMinNorm(a: readonly number[], b: readonly number[]): number {
  const diff = a.map((v, i) => v - b[i]!);
  const denominator = diff.reduce((s, v) => s + v * v, 0);
  const alpha = denominator === 0 ? 0.5 : Math.min(1, Math.max(0, -diff.reduce((s, v, i) => s + v * b[i]!, 0) / denominator));
  return Math.hypot(...a.map((v, i) => alpha * v + (1 - alpha) * b[i]!));
}
