import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  buildHead,
  buildModule,
  checkOptions,
  MtlError,
  Rng,
  uniqueScope,
  WeightTable,
  type ApplyOptions,
  type BuildOptions,
  type Features,
  type Inputs,
  type LayerModule,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec, checkTaskSpecs, singleInput,
} from '@mtljs/core';

const NAME = 'soft';
const PLUGIN = `sharing '${NAME}'`;

/** The form of the L2 tie between the towers: see `SoftSharingOptions.tie`. */
export type SoftTie = 'pairwise' | 'mean';
/** How `addTask` initialises a new task's tower: see `SoftSharingOptions.newTower`. */
export type SoftNewTower = 'mean' | 'fresh';

/** Options of `softSharing`; bad values are BAD_CONFIG naming the option. */
export interface SoftSharingOptions {
  /** Strength λ ≥ 0 of the L2 tie between the towers (default 1e-2). */
  lambda?: number;
  /**
   * 'pairwise' (default): λ·Σ_{i<j} ‖θ_i − θ_j‖²; 'mean': λ·Σ_i ‖θ_i − θ̄‖², θ̄ the towers' mean.
   * Both sums run over every parameter tensor of the towers.
   */
  tie?: SoftTie;
  /**
   * The tower `addTask` gives a new task: 'mean' (default), a copy of the mean of the existing
   * towers; 'fresh', a tower initialised from the addTask seed.
   */
  newTower?: SoftNewTower;
}

interface ResolvedOptions {
  lambda: number;
  tie: SoftTie;
  newTower: SoftNewTower;
}

function resolveOptions(options: SoftSharingOptions | undefined): ResolvedOptions {
  checkOptions(PLUGIN, options, ['lambda', 'tie', 'newTower']);
  const lambda = options?.lambda ?? 1e-2;
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'lambda' must be a finite number ≥ 0, got ${String(lambda)}`, { plugin: NAME, option: 'lambda', received: lambda });
  }
  const tie = options?.tie ?? 'pairwise';
  if (tie !== 'pairwise' && tie !== 'mean') {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'tie' must be 'pairwise' or 'mean', got ${JSON.stringify(tie)}`, { plugin: NAME, option: 'tie', received: tie });
  }
  const newTower = options?.newTower ?? 'mean';
  if (newTower !== 'mean' && newTower !== 'fresh') {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'newTower' must be 'mean' or 'fresh', got ${JSON.stringify(newTower)}`, {
      plugin: NAME,
      option: 'newTower',
      received: newTower,
    });
  }
  return { lambda, tie, newTower };
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

class SoftSharingModel implements MultiTaskModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  private readonly towers = new Map<string, LayerModule>();
  private readonly heads = new Map<string, LayerModule>();
  private readonly encoderSpec: ModelSpec['encoder'];
  private readonly headSpec: ModelSpec['head'];
  private readonly inputShape: readonly number[];
  private readonly featureShape: number[];
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number, private readonly options: ResolvedOptions) {
    checkTaskSpecs('soft sharing', spec.tasks);
    if (spec.encoder === undefined || spec.encoder === null) {
      throw new MtlError('BAD_CONFIG', 'soft sharing: the spec needs an encoder, the template of every task tower');
    }
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    this.encoderSpec = spec.encoder;
    this.headSpec = spec.head;
    this.scope = uniqueScope(NAME);
    const rng = Rng.fromSeed(seed);
    try {
      for (const task of this.tasks) this.towers.set(task.name, this.buildTower(task.name, rng));
      const first = this.towers.get(this.taskNames[0]!)!;
      this.featureShape = first.outputShape(this.inputShape);
      for (const task of this.tasks) this.checkTowerMatches(task.name);
      for (const task of this.tasks) this.heads.set(task.name, this.buildHead(task, rng));
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  private buildTower(task: string, rng: Rng): LayerModule {
    return buildModule(this.encoderSpec, {
      inputShape: this.inputShape,
      rng,
      scope: `${this.scope}/tower/${task}`,
      what: `soft sharing tower of task '${task}'`,
      allowInstance: false,
    });
  }

  private buildHead(task: TaskSpec, rng: Rng): LayerModule {
    return buildHead(this.headSpec, {
      featureShape: this.featureShape,
      units: task.units,
      rng,
      scope: `${this.scope}/head/${task.name}`,
      what: `soft sharing head of task '${task.name}'`,
    });
  }

  /** The tie pairs the k-th variable of every tower, so the towers must have one architecture. */
  private checkTowerMatches(task: string): void {
    const reference = this.towers.get(this.taskNames[0]!)!.variables();
    const tower = this.towers.get(task)!;
    const variables = tower.variables();
    const output = tower.outputShape(this.inputShape);
    const same =
      variables.length === reference.length &&
      variables.every((v, k) => v.shape.join(',') === reference[k]!.shape.join(',')) &&
      output.join(',') === this.featureShape.join(',');
    if (!same) {
      throw new MtlError(
        'BAD_CONFIG',
        `soft sharing: the tower of task '${task}' (variables ${variables.map((v) => shapeText(v.shape)).join(' ')}) differs from the tower of task '${this.taskNames[0]}' ` +
          `(${reference.map((v) => shapeText(v.shape)).join(' ')}); the L2 tie needs towers of one architecture`,
        { task },
      );
    }
    if (variables.length === 0) {
      throw new MtlError('BAD_CONFIG', `soft sharing: the tower of task '${task}' has no variables, so there is nothing to tie`, { task });
    }
  }

  /**
   * A new tower (a copy of the mean of the existing towers, or fresh: option `newTower`) and a
   * new head, both seeded by `options.seed`; every existing variable keeps its value.
   */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs('soft sharing', [...this.tasks, task]);
    const rng = Rng.fromSeed(options?.seed ?? 0);
    const tower = this.buildTower(task.name, rng);
    let head: LayerModule | undefined;
    try {
      this.towers.set(task.name, tower);
      this.checkTowerMatches(task.name);
      head = this.buildHead(task, rng);
      if (this.options.newTower === 'mean') {
        const groups = this.variableGroups();
        tower.variables().forEach((variable, k) => {
          tf.tidy(() => variable.assign(tf.div(tf.addN(groups[k]!), groups[k]!.length)));
        });
      }
    } catch (error) {
      this.towers.delete(task.name);
      tower.dispose?.();
      head?.dispose?.();
      throw error;
    }
    this.heads.set(task.name, head);
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  private checkInputs(x: Tensor): void {
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `soft sharing: inputs of shape ${shapeText(x.shape)} do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
  }

  /** Features: task t's tower output, keyed by t. */
  encode(inputs: Inputs, options: ApplyOptions): Record<string, Tensor> {
    const x = singleInput(inputs, `soft sharing takes one input tensor`);
    this.checkInputs(x);
    return Object.fromEntries(this.taskNames.map((task) => [task, this.towers.get(task)!.apply(x, options)]));
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', 'soft sharing: features must be a record of tensors keyed by task (one tower output per task)');
    }
    const outputs: Record<string, Tensor> = {};
    for (const name of tasks ?? this.taskNames) {
      const head = this.heads.get(name);
      if (!head) throw new MtlError('BAD_CONFIG', `soft sharing: no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
      const feature = features[name];
      if (!(feature instanceof tf.Tensor)) {
        throw new MtlError('BAD_DATA', `soft sharing: the features have no tensor for task '${name}'`, { task: name });
      }
      outputs[name] = head.apply(feature, options);
    }
    return outputs;
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  /** variableGroups()[k][i]: the k-th variable of task i's tower (task order). */
  private variableGroups(): Variable[][] {
    const perTower = this.taskNames.map((task) => this.towers.get(task)!.variables());
    return perTower[0]!.map((_, k) => perTower.map((variables) => variables[k]!));
  }

  /**
   * The tie, with S = Σ_k Σ_i ‖θ_i^k − θ̄^k‖² (k over the towers' parameter tensors, i over the
   * towers, θ̄^k their mean): 'mean' is λ·S; 'pairwise' is λ·Σ_{i<j} ‖θ_i^k − θ_j^k‖² = λ·T·S,
   * by the identity Σ_{i<j} ‖a_i − a_j‖² = T·Σ_i ‖a_i − ā‖², computed that way in O(T) per tensor.
   * With one tower it is 0, still connected to the variables so that gradients exist.
   */
  penalty(): Scalar {
    return tf.tidy(() => {
      const terms = this.variableGroups().map((group) => {
        const mean = tf.div(tf.addN(group), group.length);
        const spread = group.map((variable) => tf.sum(tf.square(tf.sub(variable, mean))));
        return spread.length === 1 ? spread[0]! : tf.addN(spread);
      });
      const total = terms.length === 1 ? terms[0]! : tf.addN(terms);
      const scale = this.options.lambda * (this.options.tie === 'pairwise' ? this.taskNames.length : 1);
      return tf.mul(total, scale) as Scalar;
    });
  }

  sharedVariables(): Variable[] {
    return this.taskNames.flatMap((task) => this.towers.get(task)!.variables());
  }

  lastSharedVariables(): Variable[] {
    return this.taskNames.flatMap((task) => this.towers.get(task)!.lastLayerVariables());
  }

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `soft sharing: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return head.variables();
  }

  /** The tower of one task (its variables are shared variables). */
  towerVariables(task: string): Variable[] {
    const tower = this.towers.get(task);
    if (!tower) throw new MtlError('BAD_CONFIG', `soft sharing: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return tower.variables();
  }

  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      ...Object.fromEntries(this.taskNames.map((task) => [`tower/${task}`, this.towers.get(task)!.variables()])),
      ...Object.fromEntries(this.taskNames.map((task) => [`head/${task}`, this.taskVariables(task)])),
    });
  }

  getWeights(): NamedTensorMap {
    return this.weightTable().read();
  }

  setWeights(weights: NamedTensorMap): void {
    this.weightTable().write(weights);
  }

  dispose(): void {
    for (const tower of this.towers.values()) tower.dispose?.();
    for (const head of this.heads.values()) head.dispose?.();
    this.towers.clear();
    this.heads.clear();
  }
}

/** A model built by {@link softSharing}: a MultiTaskModel with a tie penalty and per-task towers. */
export interface SoftSharingModelApi extends MultiTaskModel {
  penalty(): Scalar;
  addTask(task: TaskSpec, options: BuildOptions): void;
  /** Task t's tower variables (a part of sharedVariables()). */
  towerVariables(task: string): Variable[];
}

/** The sharing strategy `softSharing` returns. */
export interface SoftSharingStrategy extends SharingStrategy {
  /** Builds one tower and one head per task for `spec` (seeded by `options.seed`, default 0). */
  build(spec: ModelSpec, options: BuildOptions): SoftSharingModelApi;
}

/**
 * Soft parameter sharing (Duong et al. 2015; Ruder 2017's overview): one tower per task built
 * from `spec.encoder`, one head per task on its own tower, and an L2 tie between the towers'
 * corresponding parameters that the engine adds to the objective of the shared variables.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { softSharing } from '@mtljs/sharing-soft';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = softSharing().build(spec, { seed: 1 });
 * ```
 */
export function softSharing(options: SoftSharingOptions = {}): SoftSharingStrategy {
  const resolved = resolveOptions(options);
  return {
    kind: 'sharing',
    name: NAME,
    apiVersion: API_VERSION,
    configure: (next) => softSharing(next as SoftSharingOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): SoftSharingModelApi {
      return new SoftSharingModel(spec, buildOptions?.seed ?? 0, resolved);
    },
  };
}
