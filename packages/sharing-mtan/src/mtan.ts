import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import {
  activate,
  API_VERSION,
  buildHead,
  checkOptions,
  conv2d,
  ConvStack,
  glorotUniform,
  heUniform,
  layerNorm,
  MtlError,
  Rng,
  uniqueScope,
  variableFrom,
  WeightTable,
  type ActivationName,
  type ApplyOptions,
  type BuildOptions,
  type ConvBlockSpec,
  type ConvSpec,
  type Features,
  type Inputs,
  type LayerModule,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec, checkTaskSpecs, singleInput,
} from '@mtljs/core';

/** Options of `mtan`; bad values are BAD_CONFIG naming the option. */
export interface MtanOptions {
  /**
   * Width of the hidden 1×1 convolution g of each attention module: one number for every block,
   * or one per encoder block (default: the block's filters, as in the paper's code).
   */
  attentionUnits?: number | number[];
  /**
   * Kernel side of the task convolution f that carries a task's attended map of block j to the
   * resolution of block j + 1 (default: block j + 1's own kernelSize). A block with 'valid'
   * padding fixes the kernel (its resolution depends on it), so there it must be left out or equal.
   */
  taskKernelSize?: number;
}

const OPTION_NAMES = ['attentionUnits', 'taskKernelSize'] as const;
const WHAT = "sharing 'mtan'";
const ACTIVATIONS: readonly ActivationName[] = ['relu', 'tanh', 'sigmoid', 'elu', 'leaky-relu', 'linear'];

/**
 * What one task's attention computes at one encoder block; see {@link MtanModel.attention}. (A type
 * alias, not an interface, so that a list of them is a tf.TensorContainer that tf.tidy returns.)
 */
export type MtanBlockAttention = {
  /** The soft mask a_j^t = sigmoid(h(relu(g(input)))), [N, h_j, w_j, c_j], in (0, 1). */
  mask: Tensor4D;
  /** a_j^t ⊙ shared_j, [N, h_j, w_j, c_j]. */
  attended: Tensor4D;
  /**
   * The attended map passed through the task convolution f and block j + 1's pooling, at block
   * j + 1's shape: what block j + 1's attention module concatenates to the shared map. Absent at
   * the last block, whose attended map goes to the head.
   */
  carried?: Tensor4D;
};

/** A model built by {@link mtan}: a MultiTaskModel that also shows its attention masks. */
export interface MtanModel extends MultiTaskModel {
  /**
   * One task's attention, block by block, for given features (from `encode`): the masks, the
   * attended maps and what is carried to the next block. For inspection (the paper plots the
   * masks) and tests; `decode` computes the same thing.
   */
  attention(features: Features, task: string): MtanBlockAttention[];
  /** A new task's attention modules, task convolutions and head, from `options.seed`. */
  addTask(task: TaskSpec, options: BuildOptions): void;
}

/** The strategy {@link mtan} returns: its models are {@link MtanModel}s. */
export interface MtanStrategy extends SharingStrategy {
  /** Always 'mtan'. */
  readonly name: 'mtan';
  /**
   * Builds the shared conv encoder, each task's attention modules and task convolutions, and the
   * heads for `spec` (seeded by `options.seed`, default 0).
   *
   * @throws MtlError BAD_CONFIG when `spec.encoder` is not a conv spec (`{ type: 'conv', blocks }`).
   */
  build(spec: ModelSpec, options: BuildOptions): MtanModel;
  configure(options: Record<string, unknown>): MtanStrategy;
}

/** The geometry of one shared block, after ConvStack's defaults. */
interface BlockGeometry {
  filters: number;
  kernelSize: number;
  stride: number;
  padding: 'same' | 'valid';
  norm: 'layer' | 'none';
  pool: 'max' | 'avg' | 'none';
  poolSize: number;
  /** The block's output shape [h, w, c] for one example. */
  shape: [number, number, number];
}

/** One task's attention module at one block: g (1×1, relu) then h (1×1, sigmoid). */
interface AttentionModule {
  gKernel: Variable;
  gBias: Variable;
  hKernel: Variable;
  hBias: Variable;
}

/** The task convolution f from block j's attended map to block j + 1's resolution. */
interface TaskConv {
  kernel: Variable;
  bias: Variable;
  gamma?: Variable;
  beta?: Variable;
  stride: number;
  padding: 'same' | 'valid';
  pool: 'max' | 'avg' | 'none';
  poolSize: number;
}

interface TaskBranch {
  attention: AttentionModule[];
  /** One fewer than the blocks: f between block j and j + 1. */
  convs: TaskConv[];
  head: LayerModule;
}

function positiveInteger(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) > 0;
}

function checkStrategyOptions(options: MtanOptions): void {
  checkOptions(WHAT, options, OPTION_NAMES);
  const units = options.attentionUnits;
  if (units !== undefined) {
    const list = Array.isArray(units) ? units : [units];
    if ((Array.isArray(units) && units.length === 0) || !list.every(positiveInteger)) {
      throw new MtlError('BAD_CONFIG', `${WHAT}: option 'attentionUnits' must be a positive integer or a non-empty array of them, got ${JSON.stringify(units)}`, {
        option: 'attentionUnits',
        received: units,
      });
    }
  }
  if (options.taskKernelSize !== undefined && !positiveInteger(options.taskKernelSize)) {
    throw new MtlError('BAD_CONFIG', `${WHAT}: option 'taskKernelSize' must be a positive integer, got ${JSON.stringify(options.taskKernelSize)}`, {
      option: 'taskKernelSize',
      received: options.taskKernelSize,
    });
  }
}

function checkEncoder(encoder: unknown): ConvSpec {
  const typed = encoder as { type?: unknown } | undefined;
  if (typeof encoder !== 'object' || encoder === null || typed?.type !== 'conv') {
    const got = typeof encoder === 'object' && encoder !== null ? (typed?.type === undefined ? 'a LayerModule or an object without a type' : `type ${JSON.stringify(typed.type)}`) : String(encoder);
    throw new MtlError(
      'BAD_CONFIG',
      `${WHAT}: spec.encoder must be a conv spec { type: 'conv', blocks: [{ filters }, ...] }: the attention modules read every block's feature map; got ${got}`,
      { received: typed?.type },
    );
  }
  const conv = encoder as ConvSpec;
  if (conv.dense !== undefined && (!Array.isArray(conv.dense) || conv.dense.length > 0)) {
    throw new MtlError('BAD_CONFIG', `${WHAT}: spec.encoder.dense is not supported (each task's last attended map is flattened into its head); give the dense layers as spec.head: { type: 'mlp', units }`, {
      received: conv.dense,
    });
  }
  return conv;
}

/** Conv with bias, then the shared stack's activation, norm and pooling: one ConvStack block's recipe. */
function convBlock(x: Tensor4D, layer: TaskConv, activation: ActivationName): Tensor4D {
  let y = tf.add(conv2d(x, layer.kernel as unknown as Tensor4D, layer.stride, layer.padding), layer.bias) as Tensor4D;
  y = activate(y, activation) as Tensor4D;
  if (layer.gamma && layer.beta) y = layerNorm(y, layer.gamma, layer.beta);
  if (layer.pool === 'max') y = tf.maxPool(y, layer.poolSize, layer.poolSize, 'valid');
  else if (layer.pool === 'avg') y = tf.avgPool(y, layer.poolSize, layer.poolSize, 'valid');
  return y;
}

/** a = sigmoid(h(relu(g(x)))), g and h 1×1 convolutions (Liu et al. 2019, Sec. 3, Fig. 3). */
function softMask(x: Tensor4D, module: AttentionModule): Tensor4D {
  const hidden = tf.relu(tf.add(conv2d(x, module.gKernel as unknown as Tensor4D, 1, 'same'), module.gBias)) as Tensor4D;
  return tf.sigmoid(tf.add(conv2d(hidden, module.hKernel as unknown as Tensor4D, 1, 'same'), module.hBias)) as Tensor4D;
}

class MtanSharingModel implements MtanModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  private readonly encoder: ConvStack;
  private readonly blocks: BlockGeometry[];
  private readonly branches = new Map<string, TaskBranch>();
  private readonly inputShape: readonly number[];
  private readonly activation: ActivationName;
  private readonly attentionUnits: number[];
  private readonly taskKernelSizes: number[];
  private readonly head: ModelSpec['head'];
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number, options: MtanOptions) {
    checkTaskSpecs(WHAT, spec.tasks);
    const encoderSpec = checkEncoder(spec.encoder);
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = Array.isArray(spec.inputShape) ? [...spec.inputShape] : [];
    this.activation = encoderSpec.activation ?? 'relu';
    if (!ACTIVATIONS.includes(this.activation)) {
      throw new MtlError('BAD_CONFIG', `${WHAT}: spec.encoder.activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(this.activation)}`, {
        received: this.activation,
      });
    }
    this.head = spec.head;
    const rng = Rng.fromSeed(seed);
    this.scope = uniqueScope('mtan');
    // ConvStack validates the blocks and the input shape; the geometry below repeats its defaults.
    this.encoder = new ConvStack({ spec: encoderSpec, inputShape: this.inputShape, scope: `${this.scope}/encoder`, rng });
    try {
      const shapes = this.encoder.blockShapes();
      this.blocks = encoderSpec.blocks.map((block: ConvBlockSpec, j) => ({
        filters: block.filters,
        kernelSize: block.kernelSize ?? 3,
        stride: block.stride ?? 1,
        padding: block.padding ?? 'same',
        norm: block.norm ?? 'none',
        pool: block.pool ?? 'max',
        poolSize: block.poolSize ?? 2,
        shape: shapes[j]!,
      }));
      const units = options.attentionUnits;
      if (Array.isArray(units) && units.length !== this.blocks.length) {
        throw new MtlError('BAD_CONFIG', `${WHAT}: option 'attentionUnits' lists ${units.length} widths for ${this.blocks.length} encoder blocks; give one per block or a single number`, {
          option: 'attentionUnits',
          received: units,
        });
      }
      this.attentionUnits = this.blocks.map((block, j) => (Array.isArray(units) ? units[j]! : (units ?? block.filters)));
      this.taskKernelSizes = this.blocks.slice(1).map((next, j) => {
        const k = options.taskKernelSize ?? next.kernelSize;
        if (next.padding === 'valid' && k !== next.kernelSize) {
          throw new MtlError(
            'BAD_CONFIG',
            `${WHAT}: option 'taskKernelSize' ${k} differs from encoder block ${j + 1}'s kernelSize ${next.kernelSize}, and that block has 'valid' padding, so the task map would not match its resolution; leave taskKernelSize out or use 'same' padding`,
            { option: 'taskKernelSize', received: k },
          );
        }
        return k;
      });
      for (const task of this.tasks) this.branches.set(task.name, this.buildBranch(task, rng));
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  private buildBranch(task: TaskSpec, rng: Rng): TaskBranch {
    const base = `${this.scope}/task/${task.name}`;
    const made: Variable[] = [];
    const variable = (values: Float32Array, shape: number[], name: string): Variable => {
      const v = variableFrom(values, shape, `${base}/${name}`);
      made.push(v);
      return v;
    };
    try {
      const attention = this.blocks.map((block, j): AttentionModule => {
        // From block 1 on, the shared map is concatenated with the carried map, which f gave the same width.
        const inChannels = j === 0 ? block.filters : 2 * block.filters;
        const hidden = this.attentionUnits[j]!;
        const c = block.filters;
        return {
          gKernel: variable(heUniform(rng, inChannels, hidden), [1, 1, inChannels, hidden], `attention${j}/g/kernel`),
          gBias: variable(new Float32Array(hidden), [hidden], `attention${j}/g/bias`),
          hKernel: variable(glorotUniform(rng, hidden, c), [1, 1, hidden, c], `attention${j}/h/kernel`),
          hBias: variable(new Float32Array(c), [c], `attention${j}/h/bias`),
        };
      });
      const convs = this.blocks.slice(1).map((next, i): TaskConv => {
        const k = this.taskKernelSizes[i]!;
        const cin = this.blocks[i]!.filters;
        const layer: TaskConv = {
          kernel: variable(heUniform(rng, k * k * cin, next.filters), [k, k, cin, next.filters], `conv${i + 1}/kernel`),
          bias: variable(new Float32Array(next.filters), [next.filters], `conv${i + 1}/bias`),
          stride: next.stride,
          padding: next.padding,
          pool: next.pool,
          poolSize: next.poolSize,
        };
        if (next.norm === 'layer') {
          layer.gamma = variable(new Float32Array(next.filters).fill(1), [next.filters], `conv${i + 1}/gamma`);
          layer.beta = variable(new Float32Array(next.filters), [next.filters], `conv${i + 1}/beta`);
        }
        return layer;
      });
      const [h, w, c] = this.blocks[this.blocks.length - 1]!.shape;
      const head = buildHead(this.head, { featureShape: [h * w * c], units: task.units, rng, scope: `${this.scope}/head/${task.name}`, what: `${WHAT} head of task '${task.name}'` });
      return { attention, convs, head };
    } catch (error) {
      made.forEach((v) => v.dispose());
      throw error;
    }
  }

  /**
   * A new task: its own attention modules, task convolutions and head, seeded by `options.seed`,
   * on the trained encoder; no existing variable changes.
   */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs(WHAT, [...this.tasks, task]);
    this.branches.set(task.name, this.buildBranch(task, Rng.fromSeed(options?.seed ?? 0)));
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  encode(inputs: Inputs, options: ApplyOptions): Features {
    const x = singleInput(inputs, `${WHAT} takes one image tensor [N, height, width, channels]`);
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `${WHAT}: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    const maps = this.encoder.applyBlocks(x, options);
    return Object.fromEntries(maps.map((map, j) => [`block${j}`, map]));
  }

  private sharedMaps(features: Features): Tensor4D[] {
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', `${WHAT}: features must be the record { block0, block1, ... } that encode() returns`);
    }
    return this.blocks.map((block, j) => {
      const map = features[`block${j}`];
      const expected = block.shape.join(', ');
      if (!(map instanceof tf.Tensor) || map.rank !== 4 || map.shape.slice(1).join(', ') !== expected) {
        throw new MtlError('BAD_DATA', `${WHAT}: features 'block${j}' must be a [N, ${expected}] tensor, got ${map instanceof tf.Tensor ? `[${map.shape.join(', ')}]` : String(map)}`, {
          expected: block.shape,
          received: map instanceof tf.Tensor ? map.shape : undefined,
        });
      }
      return map as Tensor4D;
    });
  }

  private branch(task: string): TaskBranch {
    const branch = this.branches.get(task);
    if (!branch) throw new MtlError('BAD_CONFIG', `${WHAT}: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return branch;
  }

  /**
   * Block j: a_j = sigmoid(h_j(relu(g_j([shared_j ; carried_{j−1}])))), attended_j = a_j ⊙ shared_j,
   * carried_j = pool_{j+1}(act(f_{j+1}(attended_j))) (Liu et al. 2019, Sec. 3, Fig. 3).
   */
  private run(shared: Tensor4D[], branch: TaskBranch): MtanBlockAttention[] {
    const steps: MtanBlockAttention[] = [];
    let carried: Tensor4D | undefined;
    shared.forEach((map, j) => {
      const input = carried ? (tf.concat([map, carried], 3) as Tensor4D) : map;
      const mask = softMask(input, branch.attention[j]!);
      const attended = tf.mul(mask, map) as Tensor4D;
      const conv = branch.convs[j];
      carried = conv ? convBlock(attended, conv, this.activation) : undefined;
      steps.push(carried ? { mask, attended, carried } : { mask, attended });
    });
    return steps;
  }

  attention(features: Features, task: string): MtanBlockAttention[] {
    const shared = this.sharedMaps(features);
    const branch = this.branch(task);
    return tf.tidy(() => this.run(shared, branch));
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    const shared = this.sharedMaps(features);
    const outputs: Record<string, Tensor> = {};
    for (const name of tasks ?? this.taskNames) {
      const branch = this.branch(name);
      outputs[name] = tf.tidy(() => {
        const steps = this.run(shared, branch);
        const last = steps[steps.length - 1]!.attended;
        return branch.head.apply(tf.reshape(last, [last.shape[0], -1]), options);
      });
    }
    return outputs;
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  sharedVariables(): Variable[] {
    return this.encoder.variables();
  }

  lastSharedVariables(): Variable[] {
    return this.encoder.lastLayerVariables();
  }

  private attentionVariables(task: string): Variable[] {
    const { attention, convs } = this.branch(task);
    return [
      ...attention.flatMap((m) => [m.gKernel, m.gBias, m.hKernel, m.hBias]),
      ...convs.flatMap((c) => [c.kernel, c.bias, ...(c.gamma && c.beta ? [c.gamma, c.beta] : [])]),
    ];
  }

  taskVariables(task: string): Variable[] {
    return [...this.attentionVariables(task), ...this.branch(task).head.variables()];
  }

  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      encoder: this.encoder.variables(),
      ...Object.fromEntries(this.taskNames.flatMap((task) => [[`task/${task}`, this.attentionVariables(task)], [`head/${task}`, this.branch(task).head.variables()]])),
    });
  }

  getWeights(): NamedTensorMap {
    return this.weightTable().read();
  }

  setWeights(weights: NamedTensorMap): void {
    this.weightTable().write(weights);
  }

  dispose(): void {
    this.encoder?.dispose();
    for (const [task, branch] of this.branches) {
      this.attentionVariables(task).forEach((v) => v.dispose());
      branch.head.dispose?.();
    }
    this.branches.clear();
  }
}

/**
 * MTAN, the multi-task attention network (Liu, Johns & Davison 2019): a shared conv encoder and,
 * per task, one soft-attention module per encoder block. Shared variables: the encoder; last
 * shared layer: its last block; features: every block's output ('block0', 'block1', ...); task
 * variables: the task's attention modules, task convolutions and head.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { mtan } from '@mtljs/sharing-mtan';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = mtan().build(spec, { seed: 1 });
 * ```
 */
export function mtan(options: MtanOptions = {}): MtanStrategy {
  checkStrategyOptions(options);
  const settings: MtanOptions = { ...options, ...(Array.isArray(options.attentionUnits) ? { attentionUnits: [...options.attentionUnits] } : {}) };
  return {
    kind: 'sharing',
    name: 'mtan',
    apiVersion: API_VERSION,
    configure: (next: Record<string, unknown>) => mtan(next as MtanOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): MtanModel {
      return new MtanSharingModel(spec, buildOptions?.seed ?? 0, settings);
    },
  };
}
