import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { Batch, Features, GramianWeighting, Inputs, JacobianWeighting, LossWeighting, MultiTaskModel, TaskSpec } from '../src/contracts';
import { API_VERSION } from '../src/contracts';
import { DenseStack } from '../src/nn/mlp';
import { uniqueScope } from '../src/nn/init';
import { Rng } from '../src/rng';

// A minimal hard-sharing model for the core's own tests (the real one lives in
// @mtljs/sharing-hard, which depends on core). An optional L2 penalty on the shared variables
// exercises the engine's penalty path; `stacked` gives it decodeStacked (heads of tasks that share a
// width computed together, as hard sharing does); `recorded` gives it encodeRecorded (the
// encoder's forward pass kept for hand-written backward passes, as hard sharing does).
export function tinyModel(
  tasks: TaskSpec[],
  options: { seed?: number; inputSize?: number; penalty?: number; stacked?: boolean; recorded?: boolean } = {},
): MultiTaskModel {
  const rng = Rng.fromSeed(options.seed ?? 1);
  const scope = uniqueScope('tiny');
  const inputSize = options.inputSize ?? 5;
  const encoder = new DenseStack({ inputSize, units: [7, 6], activation: 'tanh', outputActivation: 'tanh', scope: `${scope}/enc`, rng });
  const heads = new Map(
    tasks.map((t) => [t.name, new DenseStack({ inputSize: 6, units: [4, t.units], activation: 'relu', outputActivation: 'linear', scope: `${scope}/head/${t.name}`, rng })]),
  );
  const local = (name: string) => name.slice(scope.length + 1);
  const all = (): Variable[] => [...encoder.variables(), ...tasks.flatMap((t) => heads.get(t.name)!.variables())];
  const model: MultiTaskModel = {
    tasks,
    taskNames: tasks.map((t) => t.name),
    encode: (inputs: Inputs, o) => encoder.apply(inputs as Tensor, o),
    decode: (features: Features, _inputs, o, names) =>
      Object.fromEntries((names ?? tasks.map((t) => t.name)).map((n) => [n, heads.get(n)!.apply(features as Tensor, o)])),
    apply(inputs, o) {
      const features = model.encode(inputs, o);
      return { features, outputs: model.decode(features, inputs, o) };
    },
    sharedVariables: () => encoder.variables(),
    lastSharedVariables: () => encoder.lastLayerVariables(),
    taskVariables: (task) => heads.get(task)!.variables(),
    // Keyed without the per-model prefix, as WeightTable keys real strategies' weights.
    getWeights: () => Object.fromEntries(all().map((v) => [local(v.name), tf.clone(v)])) as NamedTensorMap,
    setWeights: (weights) => all().forEach((v) => v.assign(weights[local(v.name)]!)),
    dispose: () => {
      encoder.dispose();
      heads.forEach((h) => h.dispose());
    },
  };
  if (options.stacked) {
    model.decodeStacked = (features, _inputs, _o, names) => DenseStack.applyStacked(names.map((n) => heads.get(n)!), features as Tensor);
  }
  if (options.recorded) {
    model.encodeRecorded = (inputs, o) => encoder.record(inputs as Tensor, o);
  }
  if (options.penalty) {
    const lambda = options.penalty;
    model.penalty = () => tf.tidy(() => tf.mul(lambda, tf.addN(encoder.variables().map((v) => tf.sum(tf.square(v))))) as Scalar);
  }
  return model;
}

export const TASKS: TaskSpec[] = [
  { name: 'reg', kind: 'regression', units: 2 },
  { name: 'cls', kind: 'multiclass', units: 3 },
  { name: 'bin', kind: 'binary', units: 1 },
];

/** A fixed batch of N examples built from the seeded RNG. */
export function fixedBatch(n = 12, seed = 7, inputSize = 5): Batch {
  const rng = Rng.fromSeed(seed);
  const values = (count: number, fn: () => number) => Array.from({ length: count }, fn);
  return {
    inputs: tf.tensor2d(values(n * inputSize, () => rng.normal()), [n, inputSize]),
    targets: {
      reg: tf.tensor2d(values(n * 2, () => rng.normal()), [n, 2]),
      cls: tf.tensor1d(values(n, () => rng.int(3)), 'int32'),
      bin: tf.tensor1d(values(n, () => rng.int(2))),
    },
  };
}

/** A gramian weighting that returns fixed weights, for engine tests. */
export function fixedGramian(weights: number[], sites: GramianWeighting['sites'] = ['shared', 'last-shared', 'features']): GramianWeighting<{ calls: number }> {
  return {
    kind: 'weighting',
    name: 'fixed-gramian',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites,
    init: () => ({ calls: 0 }),
    weigh: (_g, _l, state, info) => ({ weights: info.activeIndices.map((i) => weights[i]!), state: { calls: state.calls + 1 } }),
  };
}

/** A Jacobian rule that returns Σ_t w_t J_t (a linear rule, so checkable), for engine tests. */
export function fixedJacobian(weights: number[]): JacobianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'fixed-jacobian',
    apiVersion: API_VERSION,
    level: 'jacobian',
    sites: ['shared', 'features'],
    init: () => null,
    aggregate: (jacobian, _l, state, info) => {
      const w = info.activeIndices.map((i) => weights[i]!);
      return { update: tf.tidy(() => tf.reshape(tf.matMul(tf.tensor2d(w, [1, w.length]), jacobian), [-1])) as tf.Tensor1D, state, weights: w };
    },
  };
}

export function disposeAll(map: NamedTensorMap | Tensor[]): void {
  (Array.isArray(map) ? map : Object.values(map)).forEach((t) => t.dispose());
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/**
 * A loss-level weighting that owns a trainable variable s (one entry per task): objective
 * Σ_t e^{−s_t} L_t + s_t over the active tasks, weights e^{−s_t}; its state counts the calls.
 */
export function learnedScale(): LossWeighting<{ calls: number }> {
  return {
    kind: 'weighting',
    name: 'learned-scale',
    apiVersion: API_VERSION,
    level: 'loss',
    init: () => ({ calls: 0 }),
    parameters: (context) => ({ s: context.taskNames.map(() => 0) }),
    combine(losses, state, info) {
      const s = tf.gather(info.params['s']!, info.activeIndices);
      const loss = tf.sum(tf.add(tf.mul(tf.exp(tf.neg(s)), losses), s)) as tf.Scalar;
      return { loss, weights: tf.exp(tf.neg(s)) as tf.Tensor1D, state: { calls: state.calls + 1 } };
    },
  };
}
