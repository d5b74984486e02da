import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  buildHead,
  buildModule,
  checkOptions,
  DenseStack,
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
  type RecordedPass,
  type SharingStrategy,
  type TaskSpec, checkTaskSpecs, singleInput,
} from '@mtljs/core';

/** Options of `hardSharing`. */
export interface HardSharingOptions {
  /** Default encoder when the spec gives none: an MLP with these hidden widths (default [64, 32]). */
  defaultEncoderUnits?: number[];
}

class HardSharingModel implements MultiTaskModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  private readonly encoder: LayerModule;
  private readonly heads: Map<string, LayerModule>;
  private readonly inputShape: readonly number[];
  private readonly featureShape: number[];
  private readonly head: ModelSpec['head'];
  private readonly rng: Rng;
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number) {
    checkTaskSpecs('hard sharing', spec.tasks);
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    this.rng = Rng.fromSeed(seed);
    this.scope = uniqueScope('hard');
    this.head = spec.head;
    this.encoder = buildModule(spec.encoder, { inputShape: this.inputShape, rng: this.rng, scope: `${this.scope}/encoder`, what: 'hard sharing encoder' });
    this.featureShape = this.encoder.outputShape(this.inputShape);
    this.heads = new Map(this.tasks.map((task) => [task.name, this.buildHead(task, this.rng)]));
  }

  private buildHead(task: TaskSpec, rng: Rng): LayerModule {
    return buildHead(this.head, { featureShape: this.featureShape, units: task.units, rng, scope: `${this.scope}/head/${task.name}`, what: `hard sharing head of task '${task.name}'` });
  }

  /**
   * A new task: a fresh head on the trained encoder (seeded by `options.seed`); nothing else
   * changes. Train with `freeze: { shared: true }` to keep the encoder while the head warms up.
   */
  addTask(task: TaskSpec, options: BuildOptions): void {
    checkTaskSpecs('hard sharing', [...this.tasks, task]);
    const head = this.buildHead(task, Rng.fromSeed(options?.seed ?? 0));
    this.heads.set(task.name, head);
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  encode(inputs: Inputs, options: ApplyOptions): Features {
    return this.encoder.apply(this.checkedInput(inputs), options);
  }

  /**
   * The encoder's recorded pass when it can record one (core's MLP encoder can): the engine then
   * runs the encoder forward once per step at the 'features' and 'shared' sites. The heads read
   * no encoder variable, so the encoder's gradients are those of the features.
   */
  encodeRecorded(inputs: Inputs, options: ApplyOptions): RecordedPass | null {
    const x = this.checkedInput(inputs);
    return this.encoder.record?.(x, options) ?? null;
  }

  private checkedInput(inputs: Inputs): Tensor {
    const x = singleInput(inputs, 'hard sharing takes one input tensor');
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `hard sharing: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    return x;
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (!(features instanceof tf.Tensor)) throw new MtlError('BAD_DATA', 'hard sharing: features must be one tensor');
    const names = tasks ?? this.taskNames;
    const heads = this.headsOf(names);
    return Object.fromEntries(names.map((name, i) => [name, heads[i]!.apply(features, options)]));
  }

  /** The heads of `tasks` as one batched pass when they share a spec (see `MultiTaskModel.decodeStacked`). */
  decodeStacked(features: Features, _inputs: Inputs, _options: ApplyOptions, tasks: readonly string[]): Tensor | null {
    if (!(features instanceof tf.Tensor)) throw new MtlError('BAD_DATA', 'hard sharing: features must be one tensor');
    const heads = this.headsOf(tasks);
    if (!heads.every((head) => head instanceof DenseStack)) return null;
    return DenseStack.applyStacked(heads as DenseStack[], features);
  }

  /** `decodeStacked` with one copy of the features per task (see `MultiTaskModel.decodeStackedCopies`). */
  decodeStackedCopies(copies: readonly Features[], _inputs: Inputs, _options: ApplyOptions, tasks: readonly string[]): Tensor | null {
    if (!copies.every((copy) => copy instanceof tf.Tensor)) throw new MtlError('BAD_DATA', 'hard sharing: features must be one tensor');
    const heads = this.headsOf(tasks);
    if (!heads.every((head) => head instanceof DenseStack)) return null;
    return DenseStack.applyStacked(heads as DenseStack[], copies as Tensor[]);
  }

  /** The heads' single linear layers when every head of `tasks` is one (see `MultiTaskModel.linearHeads`). */
  linearHeads(tasks: readonly string[]): { kernel: Variable; bias: Variable }[] | null {
    const layers = this.headsOf(tasks).map((head) => (head instanceof DenseStack ? head.linearLayer() : null));
    return layers.every((layer) => layer !== null) ? (layers as { kernel: Variable; bias: Variable }[]) : null;
  }

  private headsOf(tasks: readonly string[]): LayerModule[] {
    return tasks.map((name) => {
      const head = this.heads.get(name);
      if (!head) throw new MtlError('BAD_CONFIG', `hard sharing: no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
      return head;
    });
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

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `hard sharing: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return head.variables();
  }

  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      encoder: this.encoder.variables(),
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
    this.encoder.dispose?.();
    for (const head of this.heads.values()) head.dispose?.();
  }
}

/**
 * Hard parameter sharing (Caruana 1997): one encoder shared by every task, one head per task.
 * Shared variables: the encoder; last shared layer: the encoder's last dense layer; features:
 * the encoder's output; task variables: the task's head.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { hardSharing } from '@mtljs/sharing-hard';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = hardSharing().build(spec, { seed: 1 });
 * ```
 */
export function hardSharing(options: HardSharingOptions = {}): SharingStrategy {
  checkOptions("sharing 'hard'", options, ['defaultEncoderUnits']);
  const units = options.defaultEncoderUnits;
  if (units !== undefined && (!Array.isArray(units) || units.length === 0 || !units.every((u) => Number.isInteger(u) && u > 0))) {
    throw new MtlError('BAD_CONFIG', `sharing 'hard': defaultEncoderUnits must be a non-empty list of positive integers, got ${JSON.stringify(units)}`);
  }
  return {
    kind: 'sharing',
    name: 'hard',
    apiVersion: API_VERSION,
    configure: (next: Record<string, unknown>) => hardSharing(next as HardSharingOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions) {
      const encoder = spec.encoder ?? { type: 'mlp', units: units ?? [64, 32] };
      return new HardSharingModel({ ...spec, encoder }, buildOptions?.seed ?? 0);
    },
  };
}
