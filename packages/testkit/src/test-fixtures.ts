// Plugins for the testkit's own tests: small correct ones that every check must pass, and
// deliberately broken variants that a check must catch. Not exported from the package.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Tensor1D, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  DenseStack,
  Rng,
  uniqueScope,
  type Features,
  type GramianWeighting,
  type Inputs,
  type JacobianWeighting,
  type LossWeighting,
  type MlpSpec,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec,
} from '@mtljs/core';

/** Equal weights from the Gramian: w_t = 1 (so the update is Σ_t g_t). */
export function gramianEqual(overrides: Partial<GramianWeighting<null>> = {}): GramianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'gramian-equal',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features', 'last-shared'],
    init: () => null,
    weigh: (gramian, _losses, state) => ({ weights: new Array<number>(gramian.shape[0]).fill(1), state }),
    ...overrides,
  };
}

/** The mean of J's rows, with weights 1/T. */
export function jacobianMean(overrides: Partial<JacobianWeighting<null>> = {}): JacobianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'jacobian-mean',
    apiVersion: API_VERSION,
    level: 'jacobian',
    sites: ['shared', 'features'],
    init: () => null,
    aggregate: (jacobian, _losses, state) => ({
      update: tf.mean(jacobian, 0) as Tensor1D,
      weights: new Array<number>(jacobian.shape[0]).fill(1 / jacobian.shape[0]),
      state,
    }),
    ...overrides,
  };
}

/**
 * w = G⁻¹1 / (1ᵀG⁻¹1): then G·w = 1 / (1ᵀG⁻¹1) > 0 for every task (G positive definite), so the
 * update conflicts with no task; permutation- and scale-invariant too.
 */
export function gramianEqualProjection(): GramianWeighting<null> {
  return gramianEqual({
    name: 'gramian-equal-projection',
    weigh: (gramian, _losses, state) => {
      const inverseTimesOnes = solve(gramian.arraySync(), new Array<number>(gramian.shape[0]).fill(1));
      const total = inverseTimesOnes.reduce((a, b) => a + b, 0);
      return { weights: inverseTimesOnes.map((v) => v / total), state };
    },
  });
}

/** Gaussian elimination with partial pivoting, in float64. */
function solve(matrix: number[][], rhs: number[]): number[] {
  const n = rhs.length;
  const a = matrix.map((row, i) => [...row, rhs[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const factor = a[r]![col]! / a[col]![col]!;
      for (let c = col; c <= n; c++) a[r]![c]! -= factor * a[col]![c]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]!);
}

/**
 * Uncertainty-style weighting (Kendall et al. 2018), enough to exercise trainable parameters:
 * Σ_t exp(−s_t) L_t + s_t over the active tasks, s the log-variances.
 */
export function logVarianceWeighting(): LossWeighting<null> {
  return {
    kind: 'weighting',
    name: 'log-variance',
    apiVersion: API_VERSION,
    level: 'loss',
    init: () => null,
    parameters: (context) => ({ logVariance: context.taskNames.map(() => 0) }),
    combine(losses, state, info) {
      const s = tf.gather(info.params.logVariance!, info.activeIndices) as Tensor1D;
      const weights = tf.exp(tf.neg(s)) as Tensor1D;
      return { loss: tf.sum(tf.add(tf.mul(weights, losses), s)) as Scalar, weights, state };
    },
  };
}

export interface TinySharingBugs {
  /** The second task's head also reads the first task's head (its output adds it). */
  crossTalk?: boolean;
  /** dispose() forgets the heads. */
  leakyDispose?: boolean;
  /** Initialises from Math.random instead of the seed. */
  unseeded?: boolean;
}

/** One dense encoder (the spec's MLP) and one linear dense head per task, from DenseStack. */
export function tinySharing(bugs: TinySharingBugs = {}): SharingStrategy {
  return {
    kind: 'sharing',
    name: bugs.crossTalk ? 'tiny-cross-talk' : bugs.leakyDispose ? 'tiny-leaky-dispose' : bugs.unseeded ? 'tiny-unseeded' : 'tiny',
    apiVersion: API_VERSION,
    build: (spec, options) => new TinyModel(spec, bugs.unseeded ? Math.floor(Math.random() * 2 ** 31) : options.seed, bugs),
  };
}

class TinyModel implements MultiTaskModel {
  readonly tasks: readonly TaskSpec[];
  readonly taskNames: readonly string[];
  private readonly encoder: DenseStack;
  private readonly heads: Map<string, DenseStack>;
  private readonly scope: string;

  constructor(
    spec: ModelSpec,
    seed: number,
    private readonly bugs: TinySharingBugs,
  ) {
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    const rng = Rng.fromSeed(seed);
    this.scope = uniqueScope('tiny');
    const encoderUnits = (spec.encoder as MlpSpec).units;
    this.encoder = new DenseStack({
      inputSize: spec.inputShape.reduce((a, b) => a * b, 1),
      units: encoderUnits,
      activation: 'relu',
      outputActivation: 'relu',
      scope: `${this.scope}/encoder`,
      rng,
    });
    this.heads = new Map(
      this.tasks.map((task) => [
        task.name,
        new DenseStack({
          inputSize: encoderUnits[encoderUnits.length - 1]!,
          units: [task.units],
          activation: 'linear',
          outputActivation: 'linear',
          scope: `${this.scope}/head/${task.name}`,
          rng,
        }),
      ]),
    );
  }

  encode(inputs: Inputs, options: { training: boolean }): Features {
    return this.encoder.apply(inputs as Tensor, options);
  }

  decode(features: Features, _inputs: Inputs, options: { training: boolean }, tasks?: readonly string[]): Record<string, Tensor> {
    const outputs: Record<string, Tensor> = {};
    for (const name of tasks ?? this.taskNames) {
      let output = this.heads.get(name)!.apply(features as Tensor, options);
      if (this.bugs.crossTalk && name === this.taskNames[1]) {
        const first = this.heads.get(this.taskNames[0]!)!.apply(features as Tensor, options);
        output = tf.add(output, tf.slice(first, [0, 0], [-1, 1]));
      }
      outputs[name] = output;
    }
    return outputs;
  }

  apply(inputs: Inputs, options: { training: boolean }) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  sharedVariables(): Variable[] {
    return this.encoder.variables();
  }

  lastSharedVariables(): Variable[] {
    return this.encoder.lastLayerVariables();
  }

  taskVariables(task: string): Variable[] {
    return this.heads.get(task)!.variables();
  }

  private all(): Variable[] {
    return [...this.sharedVariables(), ...this.taskNames.flatMap((task) => this.taskVariables(task))];
  }

  getWeights(): NamedTensorMap {
    return Object.fromEntries(this.all().map((v) => [v.name.slice(this.scope.length), tf.clone(v)]));
  }

  setWeights(weights: NamedTensorMap): void {
    for (const v of this.all()) v.assign(weights[v.name.slice(this.scope.length)]!);
  }

  dispose(): void {
    this.encoder.dispose();
    if (!this.bugs.leakyDispose) for (const head of this.heads.values()) head.dispose();
  }
}

