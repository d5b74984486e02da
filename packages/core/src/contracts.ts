import type { NamedTensorMap, Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import type { RngState } from './rng';

/** The contract version plugins declare; the registry accepts {@link SUPPORTED_API_VERSIONS}. */
export const API_VERSION = 1;
export const SUPPORTED_API_VERSIONS: readonly number[] = [1];

// ---------------------------------------------------------------------------------------------
// Tasks

export type TaskKind = 'multiclass' | 'binary' | 'regression' | 'multilabel';

/** Per-example loss: returns a [N] vector; the engine masks and averages it. */
export type PerExampleLoss = (prediction: Tensor, target: Tensor) => Tensor1D;

export type LossName = 'softmax-cross-entropy' | 'binary-cross-entropy' | 'mse' | 'mae' | 'huber';
export type MetricName = 'accuracy' | 'f1' | 'rmse' | 'mae' | 'r2';

export interface TaskSpec {
  /** Unique name; the key of the task's targets, masks, outputs and metrics. */
  name: string;
  kind: TaskKind;
  /** Output width: classes (multiclass), 1 (binary), output dimensions (regression), labels (multilabel). */
  units: number;
  /** Defaults by kind: softmax-cross-entropy, binary-cross-entropy, mse, binary-cross-entropy. */
  loss?: LossName | { name: string; fn: PerExampleLoss };
  /** Defaults by kind: [accuracy], [accuracy, f1], [rmse, mae, r2], [accuracy]. */
  metrics?: MetricName[];
  /**
   * Importance c_t ≥ 0 (default 1). The engine multiplies the task's loss by it before any
   * weighting sees the loss, at every level and site: the term entering the weighting is c_t·L_t.
   */
  weight?: number;
}

// ---------------------------------------------------------------------------------------------
// Data

export type Inputs = Tensor | Record<string, Tensor>;

/**
 * One batch. `targets[t]` holds task t's labels: class indices [N] (or one-hot [N, units]) for
 * multiclass, 0/1 values [N] or [N, 1] for binary, [N, units] (or [N] when units = 1) for
 * regression, [N, units] 0/1 for multilabel. `masks[t]` is [N] with 1 where example i is labelled
 * for task t; a task with no mask is fully labelled, and then its targets must be present.
 */
export interface Batch {
  inputs: Inputs;
  targets: Record<string, Tensor | undefined>;
  masks?: Record<string, Tensor | undefined>;
}

/**
 * A source of batches. `shuffled(seed)`, when present, returns the same data in an order fixed
 * by the seed; the trainer calls it once per epoch. `size` is the number of examples, if known.
 */
export interface DataSource extends AsyncIterable<Batch> {
  readonly size?: number;
  shuffled?(seed: number): DataSource;
}

// ---------------------------------------------------------------------------------------------
// Models and sharing

/** The shared representation: one tensor, or several (gated models keep one per task or expert). */
export type Features = Tensor | Record<string, Tensor>;

export interface ApplyOptions {
  training: boolean;
}

export interface ForwardResult {
  outputs: Record<string, Tensor>;
  features: Features;
}

/**
 * A model built by a sharing strategy. `encode` must depend on shared variables only, and
 * `decode` on the features, the inputs and task variables only: the engine's 'features' site
 * differentiates the task losses with respect to `encode`'s output.
 */
export interface MultiTaskModel {
  /** The tasks the model was built for, in order. */
  readonly tasks: readonly TaskSpec[];
  readonly taskNames: readonly string[];
  encode(inputs: Inputs, options: ApplyOptions): Features;
  /** Outputs of the named tasks (all when `tasks` is omitted). */
  decode(features: Features, inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor>;
  apply(inputs: Inputs, options: ApplyOptions): ForwardResult;
  sharedVariables(): Variable[];
  /** The last shared layer's variables: a subset of sharedVariables(). */
  lastSharedVariables(): Variable[];
  taskVariables(task: string): Variable[];
  /** A regulariser added to the objective of the shared variables (soft sharing's tie). */
  penalty?(): Scalar;
  /**
   * Adds a task to a built (possibly trained) model: a new head, and the new tower or gate the
   * strategy needs, initialised from `seed`; every existing variable keeps its value. Afterwards
   * `tasks`, `taskNames` and `taskVariables(task.name)` include it. Optional: strategies whose
   * shared part depends on the task set (e.g. clustered) may not offer it.
   */
  addTask?(task: TaskSpec, options: BuildOptions): void;
  getWeights(): NamedTensorMap;
  setWeights(weights: NamedTensorMap): void;
  dispose(): void;
}

/** What a layer stack looks like; `units` lists the widths of the hidden layers. */
export interface MlpSpec {
  type: 'mlp';
  units: number[];
  activation?: ActivationName;
  /** Activation after the last layer of an encoder (default: `activation`). */
  outputActivation?: ActivationName;
}

export type ActivationName = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'leaky-relu' | 'linear';

/** Anything that maps a tensor to a tensor with its own variables; wraps a user's layers too. */
export interface LayerModule {
  apply(input: Tensor, options: ApplyOptions): Tensor;
  variables(): Variable[];
  /** The variables of the module's last parametrised layer. */
  lastLayerVariables(): Variable[];
  /** Shape of one example's output (no batch dimension) for one example's input shape. */
  outputShape(inputShape: readonly number[]): number[];
  /** Frees the module's variables; a model calls it from its own dispose(). */
  dispose?(): void;
}

/** One convolutional block: conv2d → activation → normalisation → pooling. */
export interface ConvBlockSpec {
  filters: number;
  /** Square kernel side (default 3). */
  kernelSize?: number;
  /** Default 1. */
  stride?: number;
  /** Default 'same'. */
  padding?: 'same' | 'valid';
  /** Layer normalisation over each example's (height, width, channels), per-channel scale and shift (default 'none'). */
  norm?: 'layer' | 'none';
  /** Default 'max'. */
  pool?: 'max' | 'avg' | 'none';
  /** Pooling window and stride (default 2). */
  poolSize?: number;
}

/**
 * A convolutional stack for inputs of shape [height, width, channels] (a [height, width] input is
 * read as one channel); its output is the last block's map flattened, then optional dense layers.
 */
export interface ConvSpec {
  type: 'conv';
  blocks: ConvBlockSpec[];
  /** Activation after every conv and dense layer (default 'relu'). */
  activation?: ActivationName;
  /** Widths of dense layers after flattening (default none). */
  dense?: number[];
}

/**
 * Builds a fresh LayerModule for each model (and each copy a strategy needs: a tower per task,
 * an expert per slot), so a spec can be built many times with different seeds. `@mtljs/layers`
 * makes one from a tf.layers model factory.
 */
export interface LayerModuleFactory {
  type: 'factory';
  create(context: ModuleContext): LayerModule;
}

export interface ModuleContext {
  /** One example's input shape. */
  inputShape: readonly number[];
  /** Seed for the module's initial values. */
  seed: number;
  /** A variable-name prefix unique to this module. */
  scope: string;
}

/** How an encoder, tower or expert is described: a spec built by core, a factory, or a module. */
export type ModuleSpec = MlpSpec | ConvSpec | LayerModuleFactory | LayerModule;

export interface ModelSpec {
  tasks: readonly TaskSpec[];
  /** Shape of one example, without the batch dimension. */
  inputShape: readonly number[];
  /**
   * The shared encoder (hard sharing), or the template of each tower or expert. A LayerModule
   * instance is used as it is, so a strategy that needs several copies refuses it: give a spec or
   * a factory.
   */
  encoder: ModuleSpec;
  /**
   * Hidden layers of each head (an MLP spec, or a factory called once per task); the output layer
   * (task.units wide, linear) is always added.
   */
  head?: MlpSpec | LayerModuleFactory;
}

export interface BuildOptions {
  seed: number;
}

export interface Plugin {
  readonly kind: string;
  readonly name: string;
  readonly apiVersion: number;
  /**
   * A copy of the plugin with these options, so a registered (default) plugin can be configured
   * by name: `{ weighting: { name: 'pcgrad', options: { reduction: 'mean' } } }`. Unknown options
   * must raise an MtlError naming them (see `checkOptions`).
   */
  configure?(options: Record<string, unknown>): Plugin;
}

/** A registered plugin named with its options, as configuration files write it. */
export interface PluginReference {
  name: string;
  options?: Record<string, unknown>;
}

export interface SharingStrategy<Spec extends ModelSpec = ModelSpec> extends Plugin {
  readonly kind: 'sharing';
  /**
   * The gradient sites its models support (default: all three). The testkit's sharing suite
   * trains at each of them.
   */
  readonly sites?: readonly GradientSite[];
  build(spec: Spec, options: BuildOptions): MultiTaskModel;
}

// ---------------------------------------------------------------------------------------------
// Weightings

export type GradientSite = 'shared' | 'last-shared' | 'features';
export type WeightingLevel = 'loss' | 'gramian' | 'jacobian';

/** Given once, when a trainer starts a weighting. */
export interface WeightingContext {
  /** All task names, in the model's order. */
  taskNames: readonly string[];
  /** The task specs (kind, units, importance), same order; absent when a weighting is used outside a trainer. */
  tasks?: readonly TaskSpec[];
  /** A seed for the plugin's own RNG (derived from the trainer's seed). */
  seed: number;
}

/** Given at every call. */
export interface StepInfo {
  /** 0-based count of completed optimiser steps. */
  step: number;
  epoch: number;
  taskNames: readonly string[];
  /** Names of the active tasks, in order: the rows of G, J and the entries of `losses`. */
  activeTasks: readonly string[];
  /** Index of each active task in `taskNames`. */
  activeIndices: readonly number[];
  site: GradientSite | null;
}

export interface LossStepInfo extends StepInfo {
  /** The weighting's trainable parameters (see {@link LossWeighting.parameters}). */
  params: Record<string, Variable>;
}

/** What a weighting reports about its own work this step; the engine puts it in the step report. */
export interface WeightingDiagnostics {
  /** The solver's KKT residual (relative), iteration count and whether it converged. */
  solver?: { residual: number; iterations: number; converged: boolean };
  /** Anything the user should see; a solver that did not converge gets one from the engine too. */
  warnings?: string[];
  /** Other numbers worth logging (e.g. GradNorm's own loss). */
  values?: Record<string, number>;
}

export interface WeightsResult<S> {
  /** One weight per active task. A tensor is disposed by the engine after it is read. */
  weights: Tensor1D | readonly number[];
  state: S;
  diagnostics?: WeightingDiagnostics;
}

interface WeightingBase<S> extends Plugin {
  readonly kind: 'weighting';
  readonly level: WeightingLevel;
  /** Initial state; must survive JSON round trips (checkpoints store it). */
  init(context: WeightingContext): S;
}

/**
 * Loss level: `combine` runs inside the gradient tape and returns the scalar to minimise over all
 * parameters (shared, the active heads and the weighting's own `parameters`).
 */
export interface LossWeighting<S = unknown> extends WeightingBase<S> {
  readonly level: 'loss';
  /** Initial values of trainable parameters the optimiser updates with the model (e.g. log σ²). */
  parameters?(context: WeightingContext): Record<string, number[]>;
  combine(
    losses: Tensor1D,
    state: S,
    info: LossStepInfo,
  ): { loss: Scalar; weights: Tensor1D | readonly number[]; state: S; diagnostics?: WeightingDiagnostics };
}

/** Gramian level: weights from G = J Jᵀ (active tasks only); the engine applies Σ_t w_t g_t. */
export interface GramianWeighting<S = unknown> extends WeightingBase<S> {
  readonly level: 'gramian';
  /** Supported sites; the first is the default. */
  readonly sites: readonly GradientSite[];
  weigh(gramian: Tensor2D, losses: Tensor1D, state: S, info: StepInfo): WeightsResult<S>;
}

/** Jacobian level: any rule J ↦ update (a [P] vector); sites 'shared' and 'features' only. */
export interface JacobianWeighting<S = unknown> extends WeightingBase<S> {
  readonly level: 'jacobian';
  readonly sites: readonly ('shared' | 'features')[];
  aggregate(
    jacobian: Tensor2D,
    losses: Tensor1D,
    state: S,
    info: StepInfo,
  ): { update: Tensor1D; state: S; weights?: Tensor1D | readonly number[]; diagnostics?: WeightingDiagnostics };
}

export type Weighting<S = unknown> = LossWeighting<S> | GramianWeighting<S> | JacobianWeighting<S>;

// ---------------------------------------------------------------------------------------------
// Backends

/**
 * A tfjs backend as a plugin. `useBackend('auto')` checks every candidate's `isAvailable()`,
 * ranks the available ones by effective priority (higher first) and activates them in that
 * order until one starts; the standard values are `BACKEND_PRIORITY` in backend.ts.
 */
export interface Backend extends Plugin {
  readonly kind: 'backend';
  /**
   * Where it ranks in `useBackend('auto')`, higher first, unless `isAvailable()` returns a
   * priority of its own. A backend whose speed depends on what it finds at run time declares the
   * best case here.
   */
  readonly priority: number;
  /**
   * Whether the backend can start here, with a reason either way for the log (what was found, or
   * what is missing and how to install it). `priority`, when given, replaces the declared one for
   * this ranking: e.g. WebGPU on a software adapter ranks below wasm, on a GPU above it. Must not
   * change the current tfjs backend, and should be cheap to call again.
   */
  isAvailable(): Promise<{ available: boolean; reason: string; priority?: number }>;
  /**
   * Registers the tfjs backend if needed and makes it current; throws (an MtlError
   * BACKEND_UNAVAILABLE, ideally) when it cannot start, and `useBackend('auto')` moves on.
   */
  activate(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Data and datasets as plugins (so configuration files can name them)

/** A dataset ready to train on: its tasks, input shape and splits. */
export interface LoadedDataset {
  tasks: TaskSpec[];
  inputShape: number[];
  train: DataSource;
  validation?: DataSource;
  test?: DataSource;
  /** One line on what it is (shown by the CLI and in reports). */
  description?: string;
}

/** A named dataset recipe (`'synthetic'`, `'multi-mnist'`, …): `load(options)` builds it. */
export interface DatasetPlugin extends Plugin {
  readonly kind: 'dataset';
  load(options?: Record<string, unknown>): Promise<LoadedDataset>;
}

/**
 * A data adapter (`'csv'`, `'jsonl'`, `'idx'`, …): `open(input, options)` gives a DataSource over
 * a file path (Node) or bytes, with the adapter's own options (its column mapping, batch size…).
 */
export interface DataAdapter extends Plugin {
  readonly kind: 'data';
  open(input: string | Uint8Array, options: Record<string, unknown>): DataSource;
}

// ---------------------------------------------------------------------------------------------
// Reports

export interface StepReport {
  step: number;
  epoch: number;
  /**
   * The objective after weighting (loss level), or Σ_t w_t c_t L_t (gradient levels; Σ_t c_t L_t
   * for a Jacobian rule that gives no weights), plus the model's penalty when it has one.
   */
  loss: number;
  /** Raw (unscaled by importance) task losses; NaN for inactive tasks. */
  losses: Record<string, number>;
  /** Weights per task; 0 for inactive tasks, NaN where a Jacobian rule defines none. */
  weights: Record<string, number>;
  active: Record<string, boolean>;
  /** The weighting's own report for this step (solver residual and iterations, values), if any. */
  diagnostics?: WeightingDiagnostics;
  /** Warnings raised this step (e.g. a solver that hit its iteration limit); empty when none. */
  warnings: string[];
  /**
   * Gramian-level weightings: G = J Jᵀ of the active tasks' importance-scaled gradients at the
   * step's site, as the weighting saw it; rows and columns in the order of `tasks`.
   */
  gramian?: TaskGramian;
}

/** A Gramian of task gradients: `values[i][j]` = ⟨g_i, g_j⟩ for the tasks in `tasks` order. */
export interface TaskGramian {
  tasks: string[];
  values: number[][];
}

export interface StateSnapshot {
  step: number;
  rng: RngState;
}
