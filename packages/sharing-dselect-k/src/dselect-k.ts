import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  buildHead,
  buildModule,
  checkOptions,
  dense,
  MtlError,
  Rng,
  uniqueScope,
  variableFrom,
  WeightTable,
  type ApplyOptions,
  type BuildOptions,
  type Features,
  type Inputs,
  type LayerModule,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec, checkTaskSpecs,
} from '@mtljs/core';
import { codeLength, dselectGate, selectorEntropy } from './gate';

/** What `encode` returns, and so what the engine's 'features' site differentiates. */
export type DSelectKFeatures = 'tasks' | 'experts';

/** 'static': z and α are parameters of the task; 'per-example': z = W x + b, α = V x + c. */
export type DSelectKGateKind = 'static' | 'per-example';

/** Options of `dselectK`; bad values are BAD_CONFIG naming the option. */
export interface DSelectKOptions {
  /** Number of experts E ≥ 2, each built from `spec.encoder` (default 4). */
  experts?: number;
  /** Selectors per gate: at most k experts get a non-zero weight once the gate has converged (default 2, 1 ≤ k ≤ E). */
  k?: number;
  /** Width γ > 0 of the smooth-step's transition region (default 1). */
  gamma?: number;
  /** Default 'per-example'. */
  gate?: DSelectKGateKind;
  /** 'tasks' (default): features per task, gates shared; 'experts': the experts' outputs [N, E, d], gates per task. */
  features?: DSelectKFeatures;
  /**
   * λ ≥ 0 of the selectors' entropy regulariser λ Σ_t Σ_i H(r_t,i), returned by the model's
   * penalty() (default 0: off). Needs gate 'static' and features 'tasks' (see README).
   */
  entropyWeight?: number;
}

/** A model built by {@link dselectK}: a MultiTaskModel that also reports its gates. */
export interface DSelectKModel extends MultiTaskModel {
  /** Number of experts E. */
  readonly experts: number;
  /** The `features` option it was built with: per-task features, or the experts' outputs. */
  readonly featureMode: DSelectKFeatures;
  /** The `gate` option it was built with: static or per-example gates. */
  readonly gateKind: DSelectKGateKind;
  /** Each task's gate weights over the experts, [N, E]; rows sum to 1. */
  gates(inputs: Inputs): Record<string, Tensor2D>;
}

/** The sharing strategy `dselectK` returns. */
export interface DSelectKStrategy extends SharingStrategy {
  /** The options with every default filled in. */
  readonly options: Readonly<Required<DSelectKOptions>>;
  /** Builds the E experts, one gate per task and the heads for `spec` (seeded by `options.seed`, default 0). */
  build(spec: ModelSpec, options: BuildOptions): DSelectKModel;
  configure(options: Record<string, unknown>): DSelectKStrategy;
}

const NAME = 'dselect-k';
const PLUGIN = `sharing '${NAME}'`;
const OPTION_NAMES = ['experts', 'k', 'gamma', 'gate', 'features', 'entropyWeight'];

/** A task's gate: the z and α parameters (static), or the maps producing them from x (per-example). */
type Gate =
  | { kind: 'static'; z: Variable; alpha: Variable }
  | { kind: 'per-example'; zKernel: Variable; zBias: Variable; alphaKernel: Variable; alphaBias: Variable };

function gateVariables(gate: Gate): Variable[] {
  return gate.kind === 'static' ? [gate.z, gate.alpha] : [gate.zKernel, gate.zBias, gate.alphaKernel, gate.alphaBias];
}

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `${PLUGIN}: option '${option}' ${message}`, { plugin: NAME, option });
}

function resolveOptions(options: DSelectKOptions | undefined): Required<DSelectKOptions> {
  checkOptions(PLUGIN, options, OPTION_NAMES);
  const resolved: Required<DSelectKOptions> = {
    experts: options?.experts ?? 4,
    k: options?.k ?? 2,
    gamma: options?.gamma ?? 1,
    gate: options?.gate ?? 'per-example',
    features: options?.features ?? 'tasks',
    entropyWeight: options?.entropyWeight ?? 0,
  };
  const { experts, k, gamma, gate, features, entropyWeight } = resolved;
  if (!Number.isInteger(experts) || experts < 2) throw badOption('experts', `must be an integer ≥ 2 (one expert leaves nothing to select), got ${JSON.stringify(experts)}`);
  if (!Number.isInteger(k) || k < 1 || k > experts) throw badOption('k', `must be an integer from 1 to experts (${experts}), got ${JSON.stringify(k)}`);
  if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma <= 0) throw badOption('gamma', `must be a finite number > 0, got ${JSON.stringify(gamma)}`);
  if (gate !== 'static' && gate !== 'per-example') throw badOption('gate', `must be 'static' or 'per-example', got ${JSON.stringify(gate)}`);
  if (features !== 'tasks' && features !== 'experts') throw badOption('features', `must be 'tasks' or 'experts', got ${JSON.stringify(features)}`);
  if (typeof entropyWeight !== 'number' || !Number.isFinite(entropyWeight) || entropyWeight < 0) {
    throw badOption('entropyWeight', `must be a finite number ≥ 0, got ${JSON.stringify(entropyWeight)}`);
  }
  if (entropyWeight > 0 && gate !== 'static') {
    throw badOption('entropyWeight', "needs gate 'static': a per-example gate's entropy depends on the batch, which the model's penalty() does not see");
  }
  if (entropyWeight > 0 && features !== 'tasks') {
    throw badOption('entropyWeight', "needs features 'tasks': with features 'experts' the gates are task variables, and the engine applies penalty() to the shared variables only");
  }
  return resolved;
}

function uniform(rng: Rng, size: number, limit: number): Float32Array {
  return Float32Array.from({ length: size }, () => rng.uniform(-limit, limit));
}

class DSelectKMixtureModel implements DSelectKModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  readonly experts: number;
  readonly featureMode: DSelectKFeatures;
  readonly gateKind: DSelectKGateKind;
  /** λ Σ_t Σ_i H(r_t,i); present only when the entropy regulariser is on. */
  penalty?: () => Scalar;
  private readonly k: number;
  private readonly gamma: number;
  private readonly codeBits: number;
  private readonly expertModules: LayerModule[] = [];
  private readonly gateParts = new Map<string, Gate>();
  private readonly heads = new Map<string, LayerModule>();
  private readonly inputShape: readonly number[];
  private readonly inputSize: number;
  /** Width d of one expert's (flattened) output. */
  private width = 0;
  private readonly head: ModelSpec['head'];
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number, options: Required<DSelectKOptions>) {
    checkTaskSpecs('dselect-k', spec?.tasks);
    if (spec.encoder === undefined || spec.encoder === null) {
      throw new MtlError('BAD_CONFIG', 'dselect-k: the model spec needs an encoder (the template each expert is built from)');
    }
    this.experts = options.experts;
    this.k = options.k;
    this.gamma = options.gamma;
    this.codeBits = codeLength(options.experts);
    this.featureMode = options.features;
    this.gateKind = options.gate;
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    this.inputSize = this.inputShape.reduce((a, b) => a * b, 1);
    this.head = spec.head;
    this.scope = uniqueScope(NAME);
    const rng = Rng.fromSeed(seed);
    try {
      for (let e = 0; e < this.experts; e++) {
        this.expertModules.push(
          buildModule(spec.encoder, { inputShape: this.inputShape, rng, scope: `${this.scope}/expert${e}`, what: `dselect-k expert ${e}`, allowInstance: false }),
        );
      }
      const shapes = this.expertModules.map((expert) => expert.outputShape(this.inputShape));
      const widths = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
      if (widths.some((w) => w !== widths[0])) {
        throw new MtlError('BAD_CONFIG', `dselect-k: every expert must have the same output width; got ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')}`);
      }
      this.width = widths[0]!;
      for (const task of this.tasks) this.addParts(task, rng);
    } catch (error) {
      this.dispose();
      throw error;
    }
    const lambda = options.entropyWeight;
    if (lambda > 0) {
      this.penalty = () =>
        tf.tidy(() => {
          const terms = this.taskNames.map((task) => {
            const gate = this.gate(task);
            if (gate.kind !== 'static') throw new MtlError('BAD_CONFIG', 'dselect-k: the entropy regulariser needs static gates');
            return selectorEntropy(tf.expandDims(gate.z, 0) as Tensor3D, this.gamma);
          });
          return tf.mul(terms.length === 1 ? terms[0]! : tf.addN(terms), lambda) as Scalar;
        });
    }
  }

  /**
   * Initial values as in the authors' code as we recall it: z (or its map) uniform in ±γ/100, so
   * every selector starts near the middle of the smooth-step; α (or its map) uniform in ±0.05;
   * biases zero.
   */
  private addParts(task: TaskSpec, rng: Rng): void {
    const scope = `${this.scope}/gate/${task.name}`;
    const { k, codeBits: m, inputSize: n } = this;
    const zLimit = this.gamma / 100;
    const created: Variable[] = [];
    const make = (values: Float32Array, shape: number[], name: string) => {
      const variable = variableFrom(values, shape, `${scope}/${name}`);
      created.push(variable);
      return variable;
    };
    try {
      const gate: Gate =
        this.gateKind === 'static'
          ? { kind: 'static', z: make(uniform(rng, k * m, zLimit), [k, m], 'z'), alpha: make(uniform(rng, k, 0.05), [k], 'alpha') }
          : {
              kind: 'per-example',
              zKernel: make(uniform(rng, n * k * m, zLimit), [n, k * m], 'z/kernel'),
              zBias: make(new Float32Array(k * m), [k * m], 'z/bias'),
              alphaKernel: make(uniform(rng, n * k, 0.05), [n, k], 'alpha/kernel'),
              alphaBias: make(new Float32Array(k), [k], 'alpha/bias'),
            };
      const head = buildHead(this.head, {
        featureShape: [this.width],
        units: task.units,
        rng,
        scope: `${this.scope}/head/${task.name}`,
        what: `dselect-k head of task '${task.name}'`,
      });
      this.gateParts.set(task.name, gate);
      this.heads.set(task.name, head);
    } catch (error) {
      created.forEach((v) => v.dispose());
      throw error;
    }
  }

  /** A new task: a new gate and head (seeded by `options.seed`); the experts and other tasks are unchanged. */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs('dselect-k', [...this.tasks, task]);
    this.addParts(task, Rng.fromSeed(options?.seed ?? 0));
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  private input(inputs: Inputs): Tensor {
    let x: Tensor | undefined;
    if (inputs instanceof tf.Tensor) x = inputs;
    else if (typeof inputs === 'object' && inputs !== null) {
      const keys = Object.keys(inputs);
      if (keys.length !== 1) throw new MtlError('BAD_DATA', `dselect-k takes one input tensor; got inputs ${keys.map((k) => `'${k}'`).join(', ') || '(none)'}`);
      x = inputs[keys[0]!];
    }
    if (!(x instanceof tf.Tensor)) throw new MtlError('BAD_DATA', 'dselect-k: inputs must be a tensor');
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `dselect-k: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    return x;
  }

  private gate(task: string): Gate {
    const gate = this.gateParts.get(task);
    if (!gate) throw new MtlError('BAD_CONFIG', `dselect-k: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return gate;
  }

  /** The task's gate weights: [1, E] for a static gate (broadcast over the batch), [N, E] per example. */
  private gateWeights(task: string, x: Tensor): Tensor2D {
    const gate = this.gate(task);
    if (gate.kind === 'static') {
      return dselectGate(tf.expandDims(gate.z, 0) as Tensor3D, tf.expandDims(gate.alpha, 0) as Tensor2D, this.experts, this.gamma);
    }
    const n = x.shape[0]!;
    const flat = tf.reshape(x, [n, this.inputSize]) as Tensor2D;
    const z = tf.reshape(dense(flat, gate.zKernel as unknown as Tensor2D, gate.zBias), [n, this.k, this.codeBits]) as Tensor3D;
    const alpha = dense(flat, gate.alphaKernel as unknown as Tensor2D, gate.alphaBias);
    return dselectGate(z, alpha, this.experts, this.gamma);
  }

  /** The experts' outputs, flattened and stacked: [N, E, d]. */
  private expertOutputs(x: Tensor, options: ApplyOptions): Tensor3D {
    const n = x.shape[0]!;
    return tf.stack(this.expertModules.map((expert) => tf.reshape(expert.apply(x, options), [n, this.width])), 1) as Tensor3D;
  }

  /** f_t = Σ_e q_t,e · expert_e(x). */
  private mix(stacked: Tensor3D, weights: Tensor2D): Tensor2D {
    return tf.sum(tf.mul(stacked, tf.expandDims(weights, 2)), 1) as Tensor2D;
  }

  gates(inputs: Inputs): Record<string, Tensor2D> {
    const x = this.input(inputs);
    return tf.tidy(() =>
      Object.fromEntries(this.taskNames.map((task) => [task, tf.mul(this.gateWeights(task, x), tf.ones([x.shape[0]!, 1])) as Tensor2D])),
    );
  }

  encode(inputs: Inputs, options: ApplyOptions): Features {
    const x = this.input(inputs);
    return tf.tidy(() => {
      const stacked = this.expertOutputs(x, options);
      if (this.featureMode === 'experts') return stacked;
      return Object.fromEntries(this.taskNames.map((task) => [task, this.mix(stacked, this.gateWeights(task, x))]));
    });
  }

  decode(features: Features, inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    const names = tasks ?? this.taskNames;
    for (const name of names) {
      if (!this.heads.has(name)) throw new MtlError('BAD_CONFIG', `dselect-k: no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
    }
    if (this.featureMode === 'experts') {
      if (!(features instanceof tf.Tensor) || features.rank !== 3 || features.shape[1] !== this.experts || features.shape[2] !== this.width) {
        throw new MtlError(
          'BAD_DATA',
          `dselect-k (features 'experts'): features must be the experts' outputs [N, ${this.experts}, ${this.width}], got ${features instanceof tf.Tensor ? `[${features.shape.join(', ')}]` : 'a record'}`,
        );
      }
      const x = this.input(inputs);
      return tf.tidy(() =>
        Object.fromEntries(names.map((name) => [name, this.heads.get(name)!.apply(this.mix(features as Tensor3D, this.gateWeights(name, x)), options)])),
      );
    }
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', "dselect-k (features 'tasks'): features must be a record of tensors keyed by task name");
    }
    return tf.tidy(() =>
      Object.fromEntries(
        names.map((name) => {
          const own = features[name];
          if (!(own instanceof tf.Tensor)) throw new MtlError('BAD_DATA', `dselect-k: the features have no tensor for task '${name}'`, { task: name });
          return [name, this.heads.get(name)!.apply(own, options)];
        }),
      ),
    );
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  private allGateVariables(): Variable[] {
    return this.taskNames.flatMap((task) => gateVariables(this.gate(task)));
  }

  sharedVariables(): Variable[] {
    const experts = this.expertModules.flatMap((expert) => expert.variables());
    return this.featureMode === 'tasks' ? [...experts, ...this.allGateVariables()] : experts;
  }

  lastSharedVariables(): Variable[] {
    const experts = this.expertModules.flatMap((expert) => expert.lastLayerVariables());
    return this.featureMode === 'tasks' ? [...experts, ...this.allGateVariables()] : experts;
  }

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `dselect-k: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return this.featureMode === 'tasks' ? head.variables() : [...gateVariables(this.gate(task)), ...head.variables()];
  }

  /** The same keys in both feature modes, so a checkpoint moves between them. */
  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      ...Object.fromEntries(this.expertModules.map((expert, e) => [`expert${e}`, expert.variables()])),
      ...Object.fromEntries(this.taskNames.map((task) => [`gate/${task}`, gateVariables(this.gate(task))])),
      ...Object.fromEntries(this.taskNames.map((task) => [`head/${task}`, this.heads.get(task)!.variables()])),
    });
  }

  getWeights(): NamedTensorMap {
    return this.weightTable().read();
  }

  setWeights(weights: NamedTensorMap): void {
    this.weightTable().write(weights);
  }

  dispose(): void {
    for (const expert of this.expertModules) expert.dispose?.();
    for (const gate of this.gateParts.values()) gateVariables(gate).forEach((v) => v.dispose());
    for (const head of this.heads.values()) head.dispose?.();
    this.expertModules.length = 0;
    this.gateParts.clear();
    this.heads.clear();
  }
}

/**
 * DSelect-k (Hazimeh et al. 2021, NeurIPS): the multi-gate mixture of experts with each task's
 * softmax gate replaced by a DSelect-k gate, k binary-encoded expert selectors made continuous by
 * the smooth-step function, which converges to selecting at most k experts.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { dselectK } from '@mtljs/sharing-dselect-k';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = dselectK().build(spec, { seed: 1 });
 * ```
 */
export function dselectK(options: DSelectKOptions = {}): DSelectKStrategy {
  const resolved = resolveOptions(options);
  return {
    kind: 'sharing',
    name: NAME,
    apiVersion: API_VERSION,
    options: resolved,
    configure: (next: Record<string, unknown>) => dselectK(next as DSelectKOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): DSelectKModel {
      return new DSelectKMixtureModel(spec, buildOptions?.seed ?? 0, resolved);
    },
  };
}
