import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  buildHead,
  buildModule,
  checkOptions,
  dense,
  glorotUniform,
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

/** What `encode` returns, and so what the engine's 'features' site differentiates. */
export type MmoeFeatures = 'tasks' | 'experts';

/** Options of `mmoe`; bad values are BAD_CONFIG naming the option. */
export interface MmoeOptions {
  /** Number of experts E, each built from `spec.encoder` (default 4). */
  experts?: number;
  /**
   * 'tasks' (default): features are each task's mixture f_t, keyed by task name; the gates are
   * shared variables. 'experts': features are the experts' outputs stacked [N, E, d]; each gate is
   * a variable of its own task and is applied in decode.
   */
  features?: MmoeFeatures;
}

/** A model built by {@link mmoe}: a MultiTaskModel that also reports its gates. */
export interface MmoeModel extends MultiTaskModel {
  /** Number of experts E. */
  readonly experts: number;
  /** The `features` option it was built with: per-task mixtures, or the experts' outputs. */
  readonly featureMode: MmoeFeatures;
  /** Each task's gate g_t(x) = softmax(W_t x + b_t), [N, E]; rows sum to 1. */
  gates(inputs: Inputs): Record<string, Tensor2D>;
}

/** The sharing strategy `mmoe` returns. */
export interface MmoeStrategy extends SharingStrategy {
  /** The options with every default filled in. */
  readonly options: Readonly<Required<MmoeOptions>>;
  /** Builds the E experts, one softmax gate per task and the heads for `spec` (seeded by `options.seed`, default 0). */
  build(spec: ModelSpec, options: BuildOptions): MmoeModel;
  configure(options: Record<string, unknown>): MmoeStrategy;
}

const NAME = 'mmoe';
const PLUGIN = `sharing '${NAME}'`;

interface Gate {
  kernel: Variable;
  bias: Variable;
}

function resolveOptions(options: MmoeOptions | undefined): Required<MmoeOptions> {
  checkOptions(PLUGIN, options, ['experts', 'features']);
  const experts = options?.experts ?? 4;
  const features = options?.features ?? 'tasks';
  if (!Number.isInteger(experts) || experts < 1) {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'experts' must be a positive integer, got ${JSON.stringify(experts)}`, { plugin: NAME, option: 'experts' });
  }
  if (features !== 'tasks' && features !== 'experts') {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'features' must be 'tasks' or 'experts', got ${JSON.stringify(features)}`, {
      plugin: NAME,
      option: 'features',
    });
  }
  return { experts, features };
}

class MixtureOfExpertsModel implements MmoeModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  readonly experts: number;
  readonly featureMode: MmoeFeatures;
  private readonly expertModules: LayerModule[];
  private readonly gateVariables = new Map<string, Gate>();
  private readonly heads = new Map<string, LayerModule>();
  private readonly inputShape: readonly number[];
  private readonly inputSize: number;
  /** Width d of one expert's (flattened) output. */
  private readonly width: number;
  private readonly head: ModelSpec['head'];
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number, options: Required<MmoeOptions>) {
    checkTaskSpecs('mmoe', spec?.tasks);
    if (spec.encoder === undefined || spec.encoder === null) {
      throw new MtlError('BAD_CONFIG', 'mmoe: the model spec needs an encoder (the template each expert is built from)');
    }
    this.experts = options.experts;
    this.featureMode = options.features;
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    this.inputSize = this.inputShape.reduce((a, b) => a * b, 1);
    this.head = spec.head;
    this.scope = uniqueScope(NAME);
    const rng = Rng.fromSeed(seed);
    this.expertModules = [];
    try {
      for (let e = 0; e < this.experts; e++) {
        this.expertModules.push(
          buildModule(spec.encoder, { inputShape: this.inputShape, rng, scope: `${this.scope}/expert${e}`, what: `mmoe expert ${e}`, allowInstance: false }),
        );
      }
      const shapes = this.expertModules.map((expert) => expert.outputShape(this.inputShape));
      const widths = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
      if (widths.some((w) => w !== widths[0])) {
        throw new MtlError('BAD_CONFIG', `mmoe: every expert must have the same output width; got ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')}`);
      }
      this.width = widths[0]!;
      for (const task of this.tasks) this.addParts(task, rng);
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  private addParts(task: TaskSpec, rng: Rng): void {
    const gateScope = `${this.scope}/gate/${task.name}`;
    const kernel = variableFrom(glorotUniform(rng, this.inputSize, this.experts), [this.inputSize, this.experts], `${gateScope}/kernel`);
    const bias = variableFrom(new Float32Array(this.experts), [this.experts], `${gateScope}/bias`);
    this.gateVariables.set(task.name, { kernel, bias });
    try {
      const head = buildHead(this.head, {
        featureShape: [this.width],
        units: task.units,
        rng,
        scope: `${this.scope}/head/${task.name}`,
        what: `mmoe head of task '${task.name}'`,
      });
      this.heads.set(task.name, head);
    } catch (error) {
      kernel.dispose();
      bias.dispose();
      this.gateVariables.delete(task.name);
      throw error;
    }
  }

  /** A new task: a new gate and head (seeded by `options.seed`); the experts and other tasks are unchanged. */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs('mmoe', [...this.tasks, task]);
    this.addParts(task, Rng.fromSeed(options?.seed ?? 0));
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  private input(inputs: Inputs): Tensor {
    let x: Tensor | undefined;
    if (inputs instanceof tf.Tensor) x = inputs;
    else if (typeof inputs === 'object' && inputs !== null) {
      const keys = Object.keys(inputs);
      if (keys.length !== 1) throw new MtlError('BAD_DATA', `mmoe takes one input tensor; got inputs ${keys.map((k) => `'${k}'`).join(', ') || '(none)'}`);
      x = inputs[keys[0]!];
    }
    if (!(x instanceof tf.Tensor)) throw new MtlError('BAD_DATA', 'mmoe: inputs must be a tensor');
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `mmoe: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    return x;
  }

  private gate(task: string): Gate {
    const gate = this.gateVariables.get(task);
    if (!gate) throw new MtlError('BAD_CONFIG', `mmoe: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return gate;
  }

  /** g_t(x) = softmax(W_t x + b_t) over the experts (Ma et al. 2018, with a bias added), x flattened. */
  private gateWeights(task: string, x: Tensor): Tensor2D {
    const { kernel, bias } = this.gate(task);
    const flat = tf.reshape(x, [x.shape[0]!, this.inputSize]) as Tensor2D;
    return tf.softmax(dense(flat, kernel as unknown as Tensor2D, bias)) as Tensor2D;
  }

  /** The experts' outputs, flattened and stacked: [N, E, d]. */
  private expertOutputs(x: Tensor, options: ApplyOptions): Tensor3D {
    const n = x.shape[0]!;
    return tf.stack(this.expertModules.map((expert) => tf.reshape(expert.apply(x, options), [n, this.width])), 1) as Tensor3D;
  }

  /** f_t = Σ_e g_t,e · expert_e(x) (Ma et al. 2018). */
  private mix(stacked: Tensor3D, weights: Tensor2D): Tensor2D {
    return tf.sum(tf.mul(stacked, tf.expandDims(weights, 2)), 1) as Tensor2D;
  }

  gates(inputs: Inputs): Record<string, Tensor2D> {
    const x = this.input(inputs);
    return tf.tidy(() => Object.fromEntries(this.taskNames.map((task) => [task, this.gateWeights(task, x)])));
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
      if (!this.heads.has(name)) throw new MtlError('BAD_CONFIG', `mmoe: no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
    }
    if (this.featureMode === 'experts') {
      if (!(features instanceof tf.Tensor) || features.rank !== 3 || features.shape[1] !== this.experts || features.shape[2] !== this.width) {
        throw new MtlError(
          'BAD_DATA',
          `mmoe (features 'experts'): features must be the experts' outputs [N, ${this.experts}, ${this.width}], got ${features instanceof tf.Tensor ? `[${features.shape.join(', ')}]` : 'a record'}`,
        );
      }
      const x = this.input(inputs);
      return tf.tidy(() =>
        Object.fromEntries(names.map((name) => [name, this.heads.get(name)!.apply(this.mix(features as Tensor3D, this.gateWeights(name, x)), options)])),
      );
    }
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', "mmoe (features 'tasks'): features must be a record of tensors keyed by task name");
    }
    return tf.tidy(() =>
      Object.fromEntries(
        names.map((name) => {
          const own = features[name];
          if (!(own instanceof tf.Tensor)) throw new MtlError('BAD_DATA', `mmoe: the features have no tensor for task '${name}'`, { task: name });
          return [name, this.heads.get(name)!.apply(own, options)];
        }),
      ),
    );
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  private gateVariablesOf(task: string): Variable[] {
    const { kernel, bias } = this.gate(task);
    return [kernel, bias];
  }

  private allGateVariables(): Variable[] {
    return this.taskNames.flatMap((task) => this.gateVariablesOf(task));
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
    if (!head) throw new MtlError('BAD_CONFIG', `mmoe: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return this.featureMode === 'tasks' ? head.variables() : [...this.gateVariablesOf(task), ...head.variables()];
  }

  /** The same keys in both feature modes, so a checkpoint moves between them. */
  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      ...Object.fromEntries(this.expertModules.map((expert, e) => [`expert${e}`, expert.variables()])),
      ...Object.fromEntries(this.taskNames.map((task) => [`gate/${task}`, this.gateVariablesOf(task)])),
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
    for (const { kernel, bias } of this.gateVariables.values()) {
      kernel.dispose();
      bias.dispose();
    }
    for (const head of this.heads.values()) head.dispose?.();
    this.expertModules.length = 0;
    this.gateVariables.clear();
    this.heads.clear();
  }
}

/**
 * Multi-gate mixture-of-experts (Ma et al. 2018, KDD): E experts built from `spec.encoder`, one
 * softmax gate per task over the experts, one head per task on its gated mixture.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { mmoe } from '@mtljs/sharing-mmoe';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = mmoe().build(spec, { seed: 1 });
 * ```
 */
export function mmoe(options: MmoeOptions = {}): MmoeStrategy {
  const resolved = resolveOptions(options);
  return {
    kind: 'sharing',
    name: NAME,
    apiVersion: API_VERSION,
    options: resolved,
    configure: (next: Record<string, unknown>) => mmoe(next as MmoeOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): MmoeModel {
      return new MixtureOfExpertsModel(spec, buildOptions?.seed ?? 0, resolved);
    },
  };
}
