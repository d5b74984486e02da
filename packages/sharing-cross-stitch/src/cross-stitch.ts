import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import {
  activate,
  API_VERSION,
  buildHead,
  checkOptions,
  dense,
  glorotUniform,
  heUniform,
  MtlError,
  Rng,
  uniqueScope,
  variableFrom,
  WeightTable,
  type ActivationName,
  type ApplyOptions,
  type BuildOptions,
  type Features,
  type Inputs,
  type LayerModule,
  type MlpSpec,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec, checkTaskSpecs, singleInput,
} from '@mtljs/core';

const NAME = 'cross-stitch';
const PLUGIN = `sharing '${NAME}'`;
const ACTIVATIONS: readonly ActivationName[] = ['relu', 'tanh', 'sigmoid', 'elu', 'leaky-relu', 'linear'];

/** How the cross-stitch matrices α start and whether they learn. */
export interface CrossStitchAlphaOptions {
  /**
   * Initial α_tt, the weight of a task's own tower in its mix (default 0.9); every off-diagonal
   * entry starts at (1 − self)/(T − 1), so each row sums to 1. In [0, 1].
   */
  self?: number;
  /** Whether α is learnt (shared variables) or kept constant (default true). */
  trainable?: boolean;
}

/** Options of `crossStitch`; bad values are BAD_CONFIG naming the option. */
export interface CrossStitchOptions {
  /** Initial value and trainability of every α^l (defaults: self 0.9, trainable). */
  alpha?: CrossStitchAlphaOptions;
}

interface ResolvedOptions {
  self: number;
  trainable: boolean;
}

function resolveOptions(options: CrossStitchOptions | undefined): ResolvedOptions {
  checkOptions(PLUGIN, options, ['alpha']);
  const alpha = options?.alpha ?? {};
  checkOptions(`${PLUGIN} option 'alpha'`, alpha, ['self', 'trainable']);
  const self = alpha.self ?? 0.9;
  if (typeof self !== 'number' || !Number.isFinite(self) || self < 0 || self > 1) {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'alpha.self' must be a number in [0, 1], got ${String(self)}`, { plugin: NAME, option: 'alpha.self', received: self });
  }
  const trainable = alpha.trainable ?? true;
  if (typeof trainable !== 'boolean') {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'alpha.trainable' must be true or false, got ${JSON.stringify(trainable)}`, {
      plugin: NAME,
      option: 'alpha.trainable',
      received: trainable,
    });
  }
  return { self, trainable };
}

/** The towers' layer widths and activations, from an MLP spec (the only kind that has layers to stitch). */
function checkEncoder(encoder: unknown, inputShape: readonly number[]): { units: number[]; activation: ActivationName; outputActivation: ActivationName } {
  const type = (encoder as { type?: unknown } | undefined)?.type;
  if (type !== 'mlp') {
    const what = typeof (encoder as { apply?: unknown } | undefined)?.apply === 'function' ? 'a LayerModule instance' : JSON.stringify(type ?? typeof encoder);
    throw new MtlError(
      'BAD_CONFIG',
      `cross-stitch: spec.encoder must be { type: 'mlp', units }, because a cross-stitch unit sits between the towers' layers and only core's MLP exposes them; got ${what}`,
      { option: 'encoder', received: type },
    );
  }
  const mlp = encoder as MlpSpec;
  if (!Array.isArray(mlp.units) || mlp.units.length === 0) throw new MtlError('BAD_CONFIG', 'cross-stitch: the encoder MLP needs at least one layer (units: [..])', { option: 'encoder.units' });
  mlp.units.forEach((width, index) => {
    if (!Number.isInteger(width) || width <= 0) {
      throw new MtlError('BAD_CONFIG', `cross-stitch: encoder layer ${index} width must be a positive integer, got ${width}`, { option: 'encoder.units' });
    }
  });
  const activation = mlp.activation ?? 'relu';
  const outputActivation = mlp.outputActivation ?? activation;
  for (const [option, name] of [
    ['encoder.activation', activation],
    ['encoder.outputActivation', outputActivation],
  ] as const) {
    if (!ACTIVATIONS.includes(name)) {
      throw new MtlError('BAD_CONFIG', `cross-stitch: ${option} '${String(name)}' is unknown; use ${ACTIVATIONS.join(', ')}`, { option, received: name });
    }
  }
  const inputSize = inputShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(inputSize) || inputSize <= 0) {
    throw new MtlError('BAD_CONFIG', `cross-stitch: input shape must be positive integers, got [${inputShape.join(', ')}]`);
  }
  return { units: [...mlp.units], activation, outputActivation };
}

interface Layer {
  kernel: Variable;
  bias: Variable;
}

/**
 * Initial α: `self` on the diagonal and (1 − self)/(T − 1) elsewhere, so that every task starts
 * from a convex mix dominated by its own tower; with one task, [[1]].
 */
function initialAlpha(tasks: number, self: number): Float32Array {
  const values = new Float32Array(tasks * tasks);
  for (let t = 0; t < tasks; t++) {
    for (let s = 0; s < tasks; s++) values[t * tasks + s] = tasks === 1 ? 1 : t === s ? self : (1 - self) / (tasks - 1);
  }
  return values;
}

class CrossStitchModel implements MultiTaskModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  private readonly towers = new Map<string, Layer[]>();
  private readonly heads = new Map<string, LayerModule>();
  /** alphas[l]: the T×T matrix α^l applied after layer l (row t mixes into task t). */
  private alphas: Tensor2D[] = [];
  private readonly units: number[];
  private readonly activation: ActivationName;
  private readonly outputActivation: ActivationName;
  private readonly inputShape: readonly number[];
  private readonly inputSize: number;
  private readonly headSpec: ModelSpec['head'];
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number, private readonly options: ResolvedOptions) {
    checkTaskSpecs('cross-stitch', spec.tasks);
    const encoder = checkEncoder(spec.encoder, spec.inputShape);
    this.units = encoder.units;
    this.activation = encoder.activation;
    this.outputActivation = encoder.outputActivation;
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    this.inputSize = this.inputShape.reduce((a, b) => a * b, 1);
    this.headSpec = spec.head;
    this.scope = uniqueScope(NAME);
    const rng = Rng.fromSeed(seed);
    try {
      for (const task of this.tasks) this.towers.set(task.name, this.buildTower(task.name, rng));
      for (const task of this.tasks) this.heads.set(task.name, this.buildHead(task, rng));
      const initial = initialAlpha(this.tasks.length, options.self);
      this.alphas = this.units.map((_, l) => this.makeAlpha(initial, l));
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /** One tower, initialised as core's DenseStack is: He uniform before ReLU-like activations, Glorot otherwise, zero biases. */
  private buildTower(task: string, rng: Rng): Layer[] {
    const layers: Layer[] = [];
    let fanIn = this.inputSize;
    this.units.forEach((width, l) => {
      const act = l === this.units.length - 1 ? this.outputActivation : this.activation;
      const init = act === 'relu' || act === 'leaky-relu' || act === 'elu' ? heUniform : glorotUniform;
      const prefix = `${this.scope}/tower/${task}/dense${l}`;
      layers.push({
        kernel: variableFrom(init(rng, fanIn, width), [fanIn, width], `${prefix}/kernel`),
        bias: variableFrom(new Float32Array(width), [width], `${prefix}/bias`),
      });
      fanIn = width;
    });
    return layers;
  }

  private buildHead(task: TaskSpec, rng: Rng): LayerModule {
    return buildHead(this.headSpec, {
      featureShape: [this.units[this.units.length - 1]!],
      units: task.units,
      rng,
      scope: `${this.scope}/head/${task.name}`,
      what: `cross-stitch head of task '${task.name}'`,
    });
  }

  private makeAlpha(values: Float32Array, layer: number): Tensor2D {
    const size = Math.round(Math.sqrt(values.length));
    if (this.options.trainable) return variableFrom(values, [size, size], `${this.scope}/alpha/layer${layer}`) as unknown as Tensor2D;
    return tf.tensor2d(values, [size, size]);
  }

  /**
   * A new tower and head (seeded by `options.seed`), and every α^l grown by one row and column
   * holding identity entries: α_{new,new} = 1, α_{new,s} = α_{t,new} = 0. Old entries are kept, so
   * the old tasks' outputs do not change; the new task starts from its own tower alone.
   */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs('cross-stitch', [...this.tasks, task]);
    const rng = Rng.fromSeed(options?.seed ?? 0);
    const tower = this.buildTower(task.name, rng);
    let head: LayerModule;
    try {
      head = this.buildHead(task, rng);
    } catch (error) {
      tower.forEach((layer) => [layer.kernel, layer.bias].forEach((v) => v.dispose()));
      throw error;
    }
    const size = this.tasks.length;
    const grown = this.alphas.map((alpha) => {
      const old = alpha.dataSync();
      const values = new Float32Array((size + 1) * (size + 1));
      for (let t = 0; t < size; t++) for (let s = 0; s < size; s++) values[t * (size + 1) + s] = old[t * size + s]!;
      values[size * (size + 1) + size] = 1;
      return values;
    });
    // Variables keep their names (a checkpoint key per layer), so the old ones go first.
    this.alphas.forEach((alpha) => alpha.dispose());
    this.alphas = grown.map((values, l) => this.makeAlpha(values, l));
    this.towers.set(task.name, tower);
    this.heads.set(task.name, head);
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  private checkInputs(x: Tensor): void {
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `cross-stitch: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
  }

  /**
   * Towers layer by layer; after layer l, the cross-stitch unit (Misra et al. 2016, eq. 1,
   * generalised to T tasks): x̃_t = Σ_s α^l_{ts} x_s, one scalar per task pair per layer,
   * computed as α^l · [x_1; …; x_T] on the towers' activations stacked and flattened.
   * Features: task t's mixed output of the last layer.
   */
  encode(inputs: Inputs, _options: ApplyOptions): Record<string, Tensor> {
    const x = singleInput(inputs, `cross-stitch takes one input tensor`);
    this.checkInputs(x);
    return tf.tidy(() => {
      const batch = x.shape[0]!;
      const flat = (x.rank === 2 ? x : tf.reshape(x, [batch, this.inputSize])) as Tensor2D;
      let activations: Tensor2D[] = this.taskNames.map(() => flat);
      this.units.forEach((width, l) => {
        const act = l === this.units.length - 1 ? this.outputActivation : this.activation;
        const outputs = this.taskNames.map((task, t) => {
          const layer = this.towers.get(task)![l]!;
          return activate(dense(activations[t]!, layer.kernel as unknown as Tensor2D, layer.bias), act) as Tensor2D;
        });
        const stacked = tf.reshape(tf.stack(outputs), [outputs.length, batch * width]) as Tensor2D;
        const mixed = tf.reshape(tf.matMul(this.alphas[l]!, stacked), [outputs.length, batch, width]);
        activations = tf.unstack(mixed) as Tensor2D[];
      });
      return Object.fromEntries(this.taskNames.map((task, t) => [task, activations[t]!]));
    });
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', 'cross-stitch: features must be a record of tensors keyed by task (one mixed tower output per task)');
    }
    const outputs: Record<string, Tensor> = {};
    for (const name of tasks ?? this.taskNames) {
      const head = this.heads.get(name);
      if (!head) throw new MtlError('BAD_CONFIG', `cross-stitch: no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
      const feature = features[name];
      if (!(feature instanceof tf.Tensor)) throw new MtlError('BAD_DATA', `cross-stitch: the features have no tensor for task '${name}'`, { task: name });
      outputs[name] = head.apply(feature, options);
    }
    return outputs;
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  private towerList(task: string): Layer[] {
    const tower = this.towers.get(task);
    if (!tower) throw new MtlError('BAD_CONFIG', `cross-stitch: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return tower;
  }

  /** Task t's tower variables (kernel, bias per layer): a part of sharedVariables(). */
  towerVariables(task: string): Variable[] {
    return this.towerList(task).flatMap((layer) => [layer.kernel, layer.bias]);
  }

  /** The α matrices as variables; empty when α is constant (`alpha.trainable: false`). */
  alphaVariables(): Variable[] {
    return this.options.trainable ? (this.alphas as unknown as Variable[]) : [];
  }

  /** Copies of α^l for every layer l, as [T, T] tensors (row t mixes into task t); the caller disposes them. */
  alphaValues(): Tensor2D[] {
    return this.alphas.map((alpha) => tf.clone(alpha));
  }

  sharedVariables(): Variable[] {
    return [...this.taskNames.flatMap((task) => this.towerVariables(task)), ...this.alphaVariables()];
  }

  lastSharedVariables(): Variable[] {
    const last = this.units.length - 1;
    const towers = this.taskNames.flatMap((task) => {
      const layer = this.towerList(task)[last]!;
      return [layer.kernel, layer.bias];
    });
    const alphas = this.alphaVariables();
    return alphas.length ? [...towers, alphas[alphas.length - 1]!] : towers;
  }

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `cross-stitch: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return head.variables();
  }

  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      ...Object.fromEntries(this.taskNames.map((task) => [`tower/${task}`, this.towerVariables(task)])),
      alpha: this.alphaVariables(),
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
    for (const tower of this.towers.values()) for (const layer of tower) [layer.kernel, layer.bias].forEach((v) => v.dispose());
    for (const head of this.heads.values()) head.dispose?.();
    this.alphas.forEach((alpha) => alpha.dispose());
    this.towers.clear();
    this.heads.clear();
    this.alphas = [];
  }
}

/** A model built by {@link crossStitch}. */
export interface CrossStitchModelApi extends MultiTaskModel {
  /**
   * Adds a task: a new tower and head (seeded by `options.seed`), and every α^l grown by an
   * identity row and column, so the old tasks' outputs do not change.
   */
  addTask(task: TaskSpec, options: BuildOptions): void;
  /** Task `task`'s tower variables (kernel, bias per layer), a part of `sharedVariables()`; BAD_CONFIG for an unknown task. */
  towerVariables(task: string): Variable[];
  /** The α matrices as variables, one per tower layer; empty when α is constant (`alpha.trainable: false`). */
  alphaVariables(): Variable[];
  /** Copies of α^l for every layer l, as [T, T] tensors (row t mixes into task t); the caller disposes them. */
  alphaValues(): Tensor2D[];
}

/** The sharing strategy `crossStitch` returns. */
export interface CrossStitchStrategy extends SharingStrategy {
  /**
   * Builds the towers, α matrices and heads for `spec` (seeded by `options.seed`, default 0).
   *
   * @throws MtlError BAD_CONFIG when `spec.encoder` is not an MLP spec (`{ type: 'mlp', units }`) or the tasks are invalid.
   */
  build(spec: ModelSpec, options: BuildOptions): CrossStitchModelApi;
}

/**
 * Cross-stitch networks (Misra, Shrivastava, Gupta & Hebert, CVPR 2016): one MLP tower per task,
 * and after every tower layer a learnable T×T matrix α mixing the towers' activations.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { crossStitch } from '@mtljs/sharing-cross-stitch';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = crossStitch().build(spec, { seed: 1 });
 * ```
 */
export function crossStitch(options: CrossStitchOptions = {}): CrossStitchStrategy {
  const resolved = resolveOptions(options);
  return {
    kind: 'sharing',
    name: NAME,
    apiVersion: API_VERSION,
    configure: (next) => crossStitch(next as CrossStitchOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): CrossStitchModelApi {
      return new CrossStitchModel(spec, buildOptions?.seed ?? 0, resolved);
    },
  };
}
