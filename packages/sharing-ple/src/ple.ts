import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  buildHead,
  buildModule,
  checkOptions,
  dense,
  DenseStack,
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
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec, checkTaskSpecs, singleInput,
} from '@mtljs/core';

/** Options of `ple`; bad values are BAD_CONFIG naming the option. */
export interface PleOptions {
  /** Number of stacked CGC levels L ≥ 1 (default 2). */
  levels?: number;
  /** Shared experts per level, ≥ 1 (default 2). */
  sharedExperts?: number;
  /** Experts per task per level, ≥ 0 (default 1); 0 with levels = 1 is MMoE. */
  taskExperts?: number;
  /**
   * Widths of the dense layers of every expert above level 1 (default: one layer as wide as a
   * level-1 expert's output). Level-1 experts are built from `spec.encoder`.
   */
  expertUnits?: number[];
  /** Activation of the dense layers of experts above level 1, the last included (default 'relu'). */
  expertActivation?: ActivationName;
}

const PLUGIN = "sharing 'ple'";
const OPTION_NAMES = ['levels', 'sharedExperts', 'taskExperts', 'expertUnits', 'expertActivation'] as const;
const ACTIVATIONS: readonly ActivationName[] = ['relu', 'tanh', 'sigmoid', 'elu', 'leaky-relu', 'linear'];

/**
 * Bias of the shared-gate logits that addTask gives a new task's experts (their kernel is zero).
 * A new expert's share of a shared gate is then e^(−30) / (Σ_j e^(z_j) + k·e^(−30)) ≈ 9.4e-14·e^(−max z),
 * below float32 resolution for logits of ordinary size: old outputs keep their values. −∞ would be
 * exact but makes the softmax's gradient NaN.
 */
export const NEW_EXPERT_GATE_BIAS = -30;

interface ResolvedOptions {
  levels: number;
  sharedExperts: number;
  taskExperts: number;
  expertUnits: number[] | undefined;
  expertActivation: ActivationName;
}

function resolveOptions(options: PleOptions | undefined): ResolvedOptions {
  checkOptions(PLUGIN, options, OPTION_NAMES);
  const given = options ?? {};
  const integer = (name: keyof PleOptions, value: unknown, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new MtlError('BAD_CONFIG', `${PLUGIN}: option '${name}' must be an integer ≥ ${min}, got ${JSON.stringify(value)}`, {
        plugin: 'ple',
        option: name,
        received: value,
      });
    }
    return value;
  };
  const levels = integer('levels', given.levels, 2, 1);
  // With no shared expert no level would mix anything across tasks: T separate networks.
  const sharedExperts = integer('sharedExperts', given.sharedExperts, 2, 1);
  const taskExperts = integer('taskExperts', given.taskExperts, 1, 0);
  let expertUnits: number[] | undefined;
  if (given.expertUnits !== undefined) {
    const units = given.expertUnits as unknown;
    if (!Array.isArray(units) || units.length === 0 || !units.every((u) => typeof u === 'number' && Number.isInteger(u) && u > 0)) {
      throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'expertUnits' must be a non-empty array of positive integers, got ${JSON.stringify(units)}`, {
        plugin: 'ple',
        option: 'expertUnits',
        received: units,
      });
    }
    expertUnits = [...(units as number[])];
  }
  const expertActivation = given.expertActivation ?? 'relu';
  if (!ACTIVATIONS.includes(expertActivation)) {
    throw new MtlError('BAD_CONFIG', `${PLUGIN}: option 'expertActivation' must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(expertActivation)}`, {
      plugin: 'ple',
      option: 'expertActivation',
      received: expertActivation,
      available: ACTIVATIONS,
    });
  }
  return { levels, sharedExperts, taskExperts, expertUnits, expertActivation };
}

function flatten(x: Tensor): Tensor2D {
  return (x.rank === 2 ? x : tf.reshape(x, [x.shape[0]!, -1])) as Tensor2D;
}

/** One block of gate logits: the columns of the experts of one group (a task's, or the shared ones). */
interface GateBlock {
  group: string;
  kernel: Variable;
  bias: Variable;
}

/**
 * A gate: softmax(x·W + b) over the experts it mixes (PLE eq. 3, with a bias as in common
 * implementations). W is kept in column blocks, one per expert group, so addTask can give the
 * shared gates columns for a new task's experts without replacing an existing variable.
 */
class Gate {
  readonly blocks: GateBlock[] = [];

  constructor(private readonly scope: string, readonly inputSize: number) {}

  /** Appends (or, before `before`, inserts) a block; its kernel values are given row-major [inputSize, columns]. */
  addBlock(group: string, columns: number, kernel: Float32Array, biasValue: number, before?: string): void {
    const name = group ? `${this.scope}/${group}` : this.scope;
    const block: GateBlock = {
      group,
      kernel: variableFrom(kernel, [this.inputSize, columns], `${name}/kernel`),
      bias: variableFrom(new Float32Array(columns).fill(biasValue), [columns], `${name}/bias`),
    };
    const at = before === undefined ? -1 : this.blocks.findIndex((b) => b.group === before);
    if (at < 0) this.blocks.push(block);
    else this.blocks.splice(at, 0, block);
  }

  /** Mixing weights [N, experts], in block order. */
  weights(x: Tensor2D): Tensor2D {
    const logits = this.blocks.map((b) => dense(x, b.kernel as unknown as Tensor2D, b.bias));
    return tf.softmax(logits.length === 1 ? logits[0]! : tf.concat(logits, 1)) as Tensor2D;
  }

  variables(): Variable[] {
    return this.blocks.flatMap((b) => [b.kernel, b.bias]);
  }

  dispose(): void {
    for (const b of this.blocks) {
      b.kernel.dispose();
      b.bias.dispose();
    }
    this.blocks.length = 0;
  }
}

/** Glorot-uniform values of a [fanIn, fanOut] kernel, drawn from the seeded Rng. */
function glorotValues(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: fanIn * fanOut }, () => rng.uniform(-limit, limit));
}

/** Σ_k w[:, k] · e_k: experts [N, d] each, weights [N, K]. */
function mix(weights: Tensor2D, experts: Tensor2D[]): Tensor2D {
  return tf.sum(tf.mul(tf.expandDims(weights, 2), tf.stack(experts, 1)), 1) as Tensor2D;
}

interface Level {
  /** Width of every expert's (flattened) output at this level. */
  width: number;
  taskExperts: Map<string, LayerModule[]>;
  sharedExperts: LayerModule[];
  taskGates: Map<string, Gate>;
  /** Absent at the last level. */
  sharedGate: Gate | null;
}

const SHARED_GROUP = 'shared-experts';

class PleModel implements MultiTaskModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  private readonly levels: Level[] = [];
  private readonly heads = new Map<string, LayerModule>();
  private readonly inputShape: readonly number[];
  private readonly inputSize: number;
  private readonly scope: string;

  constructor(private readonly spec: ModelSpec, private readonly options: ResolvedOptions, seed: number) {
    checkTaskSpecs('ple', spec.tasks);
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...(spec.inputShape ?? [])];
    this.inputSize = this.inputShape.reduce((a, b) => a * b, 1);
    if (this.inputShape.length === 0 || !this.inputShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new MtlError('BAD_CONFIG', `ple: inputShape must be positive integers, got [${this.inputShape.join(', ')}]`);
    }
    this.scope = uniqueScope('ple');
    const rng = Rng.fromSeed(seed);
    try {
      for (let l = 0; l < options.levels; l++) {
        const last = l === options.levels - 1;
        const level: Level = { width: 0, taskExperts: new Map(), sharedExperts: [], taskGates: new Map(), sharedGate: null };
        this.levels.push(level);
        for (const task of this.taskNames) level.taskExperts.set(task, this.buildExperts(l, `task/${task}`, options.taskExperts, rng));
        level.sharedExperts = this.buildExperts(l, 'shared', options.sharedExperts, rng);
        level.width = this.expertWidth(l, level.sharedExperts);
        for (const experts of level.taskExperts.values()) this.expertWidth(l, experts, level.width);
        const gateInput = this.levelInputSize(l);
        const taskGateWidth = options.taskExperts + options.sharedExperts;
        for (const task of this.taskNames) {
          const gate = new Gate(`${this.levelScope(l)}/task/${task}/gate`, gateInput);
          level.taskGates.set(task, gate);
          gate.addBlock('', taskGateWidth, glorotValues(rng, gateInput, taskGateWidth), 0);
        }
        if (!last) {
          // One dense layer over every expert of the level, drawn whole, then cut into blocks.
          const total = this.taskNames.length * options.taskExperts + options.sharedExperts;
          const values = glorotValues(rng, gateInput, total);
          const gate = new Gate(`${this.levelScope(l)}/shared/gate`, gateInput);
          level.sharedGate = gate;
          const groups = [...(options.taskExperts > 0 ? this.taskNames.map((t) => [`task/${t}`, options.taskExperts] as const) : []), [SHARED_GROUP, options.sharedExperts] as const];
          let offset = 0;
          for (const [group, columns] of groups) {
            gate.addBlock(group, columns, columnsOf(values, gateInput, total, offset, columns), 0);
            offset += columns;
          }
        }
      }
      for (const task of this.tasks) this.heads.set(task.name, this.buildTaskHead(task, rng));
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  private levelScope(l: number): string {
    return `${this.scope}/level${l + 1}`;
  }

  /** Flattened width of level l's inputs: x for level 1, the previous level's outputs above. */
  private levelInputSize(l: number): number {
    return l === 0 ? this.inputSize : this.levels[l - 1]!.width;
  }

  private buildExperts(l: number, owner: string, count: number, rng: Rng): LayerModule[] {
    const experts: LayerModule[] = [];
    const level = this.levelScope(l);
    for (let k = 0; k < count; k++) {
      const scope = `${level}/${owner}/expert${k}`;
      const what = `ple level ${l + 1} expert ${k} of ${owner === 'shared' ? 'the shared experts' : `task '${owner.slice(5)}'`}`;
      try {
        if (l === 0) {
          experts.push(buildModule(this.spec.encoder, { inputShape: this.inputShape, rng, scope, what, allowInstance: false }));
        } else {
          const inputSize = this.levelInputSize(l);
          const units = this.options.expertUnits ?? [this.levels[0]!.width];
          const activation = this.options.expertActivation;
          experts.push(new DenseStack({ inputSize, units, activation, outputActivation: activation, scope, rng }));
        }
      } catch (error) {
        experts.forEach((e) => e.dispose?.());
        throw error;
      }
    }
    return experts;
  }

  /** The common flattened output width of a level's experts (all must agree). */
  private expertWidth(l: number, experts: LayerModule[], expected?: number): number {
    const inputShape = l === 0 ? this.inputShape : [this.levelInputSize(l)];
    let width = expected;
    for (const expert of experts) {
      const size = expert.outputShape(inputShape).reduce((a, b) => a * b, 1);
      if (!Number.isInteger(size) || size <= 0) {
        throw new MtlError('BAD_CONFIG', `ple: level ${l + 1} experts must have a positive output size, got ${size}`);
      }
      if (width !== undefined && size !== width) {
        throw new MtlError('BAD_CONFIG', `ple: the experts of level ${l + 1} must all have the same output width; got ${size} and ${width}`);
      }
      width = size;
    }
    return width!;
  }

  private buildTaskHead(task: TaskSpec, rng: Rng): LayerModule {
    return buildHead(this.spec.head, {
      featureShape: [this.levels[this.levels.length - 1]!.width],
      units: task.units,
      rng,
      scope: `${this.scope}/head/${task.name}`,
      what: `ple head of task '${task.name}'`,
    });
  }

  /**
   * A new task: its experts and gate at every level and its head, from `seed`; each shared gate
   * gets the new experts' logit columns with kernel 0 and bias NEW_EXPERT_GATE_BIAS, so the old
   * tasks' outputs do not move (exactly so when taskExperts = 0: no new expert then).
   */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs('ple', [...this.tasks, task]);
    const rng = Rng.fromSeed(options?.seed ?? 0);
    const added: { level: Level; experts: LayerModule[]; gate?: Gate }[] = [];
    let head: LayerModule | undefined;
    try {
      this.levels.forEach((level, l) => {
        const experts = this.buildExperts(l, `task/${task.name}`, this.options.taskExperts, rng);
        added.push({ level, experts });
        this.expertWidth(l, experts, level.width);
        const gateInput = this.levelInputSize(l);
        const width = this.options.taskExperts + this.options.sharedExperts;
        const gate = new Gate(`${this.levelScope(l)}/task/${task.name}/gate`, gateInput);
        added[added.length - 1]!.gate = gate;
        gate.addBlock('', width, glorotValues(rng, gateInput, width), 0);
      });
      head = this.buildTaskHead(task, rng);
    } catch (error) {
      for (const { experts, gate } of added) {
        experts.forEach((e) => e.dispose?.());
        gate?.dispose();
      }
      throw error;
    }
    for (const { level, experts, gate } of added) {
      level.taskExperts.set(task.name, experts);
      level.taskGates.set(task.name, gate!);
      if (level.sharedGate && this.options.taskExperts > 0) {
        const inputSize = level.sharedGate.inputSize;
        level.sharedGate.addBlock(`task/${task.name}`, this.options.taskExperts, new Float32Array(inputSize * this.options.taskExperts), NEW_EXPERT_GATE_BIAS, SHARED_GROUP);
      }
    }
    this.heads.set(task.name, head);
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  /** Features: each task's output of the last CGC level, keyed by task name. */
  encode(inputs: Inputs, options: ApplyOptions): Features {
    const x = singleInput(inputs, `ple takes one input tensor`);
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `ple: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    return tf.tidy(() => {
      const flat = flatten(x);
      // Level 1 experts read x as given (a conv expert needs its shape); gates read it flattened.
      let taskInputs = new Map<string, Tensor>(this.taskNames.map((t) => [t, x]));
      let sharedInput: Tensor = x;
      let taskGateInputs = new Map<string, Tensor2D>(this.taskNames.map((t) => [t, flat]));
      let sharedGateInput: Tensor2D = flat;
      for (const level of this.levels) {
        const run = (expert: LayerModule, input: Tensor) => flatten(expert.apply(input, options));
        const shared = level.sharedExperts.map((e) => run(e, sharedInput));
        const own = new Map(this.taskNames.map((t) => [t, level.taskExperts.get(t)!.map((e) => run(e, taskInputs.get(t)!))]));
        const outputs = new Map<string, Tensor2D>();
        for (const task of this.taskNames) {
          // CGC (PLE eq. 2-4): g_t = softmax(W_t x_t) · [E_t,1..E_t,m_t, E_s,1..E_s,m_s].
          outputs.set(task, mix(level.taskGates.get(task)!.weights(taskGateInputs.get(task)!), [...own.get(task)!, ...shared]));
        }
        if (level.sharedGate) {
          // PLE eq. 5: the shared gate mixes every expert of the level.
          const all = [...this.taskNames.flatMap((t) => own.get(t)!), ...shared];
          const sharedOutput = mix(level.sharedGate.weights(sharedGateInput), all);
          sharedInput = sharedOutput;
          sharedGateInput = sharedOutput;
        }
        taskInputs = outputs;
        taskGateInputs = outputs;
      }
      return Object.fromEntries(this.taskNames.map((t) => [t, taskInputs.get(t)!]));
    });
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', 'ple: features must be a record of tensors keyed by task name (what encode() returns)');
    }
    const outputs: Record<string, Tensor> = {};
    for (const name of tasks ?? this.taskNames) {
      const head = this.heads.get(name);
      if (!head) throw new MtlError('BAD_CONFIG', `ple: no task named '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
      const feature = features[name];
      if (!(feature instanceof tf.Tensor)) throw new MtlError('BAD_DATA', `ple: features have no tensor for task '${name}'`, { task: name });
      outputs[name] = head.apply(feature, options);
    }
    return outputs;
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  sharedVariables(): Variable[] {
    return this.levels.flatMap((level) => [
      ...this.taskNames.flatMap((t) => level.taskExperts.get(t)!.flatMap((e) => e.variables())),
      ...level.sharedExperts.flatMap((e) => e.variables()),
      ...this.taskNames.flatMap((t) => level.taskGates.get(t)!.variables()),
      ...(level.sharedGate?.variables() ?? []),
    ]);
  }

  /** The last level's experts' last layers and its task gates (the mixing applied after them). */
  lastSharedVariables(): Variable[] {
    const level = this.levels[this.levels.length - 1]!;
    return [
      ...this.taskNames.flatMap((t) => level.taskExperts.get(t)!.flatMap((e) => e.lastLayerVariables())),
      ...level.sharedExperts.flatMap((e) => e.lastLayerVariables()),
      ...this.taskNames.flatMap((t) => level.taskGates.get(t)!.variables()),
    ];
  }

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `ple: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return head.variables();
  }

  private weightTable(): WeightTable {
    const groups: Record<string, readonly Variable[]> = {};
    this.levels.forEach((level, l) => {
      const name = `level${l + 1}`;
      for (const t of this.taskNames) {
        level.taskExperts.get(t)!.forEach((e, k) => (groups[`${name}/task/${t}/expert${k}`] = e.variables()));
        groups[`${name}/task/${t}/gate`] = level.taskGates.get(t)!.variables();
      }
      level.sharedExperts.forEach((e, k) => (groups[`${name}/shared/expert${k}`] = e.variables()));
      if (level.sharedGate) groups[`${name}/shared/gate`] = level.sharedGate.variables();
    });
    for (const t of this.taskNames) groups[`head/${t}`] = this.taskVariables(t);
    return new WeightTable(this.scope, groups);
  }

  getWeights(): NamedTensorMap {
    return this.weightTable().read();
  }

  setWeights(weights: NamedTensorMap): void {
    this.weightTable().write(weights);
  }

  dispose(): void {
    for (const level of this.levels) {
      for (const experts of level.taskExperts.values()) experts.forEach((e) => e.dispose?.());
      level.sharedExperts.forEach((e) => e.dispose?.());
      for (const gate of level.taskGates.values()) gate.dispose();
      level.sharedGate?.dispose();
    }
    this.levels.length = 0;
    for (const head of this.heads.values()) head.dispose?.();
    this.heads.clear();
  }
}

/** Columns [offset, offset + count) of a row-major [rows, total] matrix. */
function columnsOf(values: Float32Array, rows: number, total: number, offset: number, count: number): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * total + offset, r * total + offset + count), r * count);
  return out;
}

/**
 * Progressive Layered Extraction (Tang et al. 2020): L stacked Customized Gate Control levels of
 * shared and task-specific experts. Features: each task's output of the last level (a record by
 * task name); shared variables: every expert and gate; task variables: the task's head.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { ple } from '@mtljs/sharing-ple';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = ple().build(spec, { seed: 1 });
 * ```
 */
export function ple(options: PleOptions = {}): SharingStrategy {
  const resolved = resolveOptions(options);
  return {
    kind: 'sharing',
    name: 'ple',
    apiVersion: API_VERSION,
    configure: (configured: Record<string, unknown>) => ple(configured as PleOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): MultiTaskModel {
      if (typeof spec !== 'object' || spec === null) throw new MtlError('BAD_CONFIG', 'ple: build() needs a model spec');
      return new PleModel(spec, resolved, buildOptions?.seed ?? 0);
    },
  };
}
