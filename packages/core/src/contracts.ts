import type { NamedTensorMap, Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import type { RngState } from './rng';

/** The contract version plugins declare; the registry accepts {@link SUPPORTED_API_VERSIONS}. */
export const API_VERSION = 1;
/** The plugin `apiVersion` values this core accepts; `Registry.register` refuses any other with INCOMPATIBLE_PLUGIN. */
export const SUPPORTED_API_VERSIONS: readonly number[] = [1];

// ---------------------------------------------------------------------------------------------
// Tasks

/**
 * What a task predicts, which fixes its target format and its default loss and metrics: 'multiclass'
 * (one of `units` classes), 'binary' (one 0/1 label, `units` 1), 'regression' (`units` real values),
 * 'multilabel' (`units` independent 0/1 labels).
 */
export type TaskKind = 'multiclass' | 'binary' | 'regression' | 'multilabel';

/** Per-example loss: returns a [N] vector; the engine masks and averages it. */
export type PerExampleLoss = (prediction: Tensor, target: Tensor) => Tensor1D;

/**
 * A built-in per-example loss (see `lossFor`): softmax cross-entropy and binary cross-entropy on logits,
 * mean squared error, mean absolute error, Huber with δ = 1; each is a mean over the output units.
 */
export type LossName = 'softmax-cross-entropy' | 'binary-cross-entropy' | 'mse' | 'mae' | 'huber';
/**
 * A built-in evaluation metric (see `createMetric`): 'accuracy' for classification kinds, 'f1' for binary
 * and multilabel tasks, 'rmse', 'mae' and 'r2' for regression.
 */
export type MetricName = 'accuracy' | 'f1' | 'rmse' | 'mae' | 'r2';

/**
 * One task of a multi-task model: its name, kind and output width, and optionally its loss, metrics
 * and importance.
 */
export interface TaskSpec {
  /** Unique name; the key of the task's targets, masks, outputs and metrics. */
  name: string;
  /** What the task predicts; fixes the format of its targets and its default loss and metrics. */
  kind: TaskKind;
  /** Output width: classes (multiclass), 1 (binary), output dimensions (regression), labels (multilabel). */
  units: number;
  /** Defaults by kind: softmax-cross-entropy, binary-cross-entropy, mse, binary-cross-entropy. */
  loss?:
    | LossName
    | {
        /** Identifies the custom loss in specs and configurations; the engine only calls `fn`. */
        name: string;
        /** The per-example loss, called with the task's output and its canonical targets. */
        fn: PerExampleLoss;
      };
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

/**
 * A batch's inputs: one tensor [N, …inputShape], or named tensors (each [N, …]) for a model that reads
 * several.
 */
export type Inputs = Tensor | Record<string, Tensor>;

/**
 * One batch. `targets[t]` holds task t's labels: class indices [N] (or one-hot [N, units]) for
 * multiclass, 0/1 values [N] or [N, 1] for binary, [N, units] (or [N] when units = 1) for
 * regression, [N, units] 0/1 for multilabel. `masks[t]` is [N] with 1 where example i is labelled
 * for task t; a task with no mask is fully labelled, and then its targets must be present.
 */
export interface Batch {
  /** The model's inputs; their first dimension N is the batch size. */
  inputs: Inputs;
  /** Labels by task name, in the formats above. Absent only for a task whose mask marks no example labelled. */
  targets: Record<string, Tensor | undefined>;
  /** Labelled-example masks [N] by task name (value > 0: labelled); a task without one is fully labelled. */
  masks?: Record<string, Tensor | undefined>;
}

/**
 * A source of batches. `shuffled(seed)`, when present, returns the same data in an order fixed
 * by the seed; the trainer calls it once per epoch. `size` is the number of examples, if known.
 */
export interface DataSource extends AsyncIterable<Batch> {
  /** Number of examples, when known (the core does not read it; the CLI reports it). */
  readonly size?: number;
  /** The same examples in an order fixed by `seed`; the trainer calls it once per epoch when shuffling. */
  shuffled?(seed: number): DataSource;
}

// ---------------------------------------------------------------------------------------------
// Models and sharing

/** The shared representation: one tensor, or several (gated models keep one per task or expert). */
export type Features = Tensor | Record<string, Tensor>;

/** Options of a forward pass. */
export interface ApplyOptions {
  /** True in training steps, false in evaluation; for layers that behave differently in training (dropout). */
  training: boolean;
}

/** What `MultiTaskModel.apply` returns: every task's outputs and the shared features they were decoded from. */
export interface ForwardResult {
  /** Per task name, the output [N, units]: logits for classification kinds, values for regression. */
  outputs: Record<string, Tensor>;
  /** The encoder's output (`encode`'s result) for the same inputs. */
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
  /** The tasks' names, in the order of `tasks`. */
  readonly taskNames: readonly string[];
  /** The shared representation of a batch; must read shared variables only. */
  encode(inputs: Inputs, options: ApplyOptions): Features;
  /** Outputs of the named tasks (all when `tasks` is omitted). */
  decode(features: Features, inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor>;
  /**
   * Optional fast path of `decode` for the engine: the outputs of `tasks` (which all have the same
   * `units`) stacked [N, k, units] and computed together, e.g. the heads of tasks that share a spec
   * as one matMul. Returns null when these tasks' heads cannot be computed together; the engine
   * then calls `decode`.
   */
  decodeStacked?(features: Features, inputs: Inputs, options: ApplyOptions, tasks: readonly string[]): Tensor | null;
  /**
   * Optional: `decodeStacked` given one copy of the features per task of `tasks` (equal values)
   * instead of one features value, where task k's outputs read copies[k] only, so that the
   * gradient with respect to copy k is task k's alone. The engine's 'features' and 'shared' sites
   * use it to get every task's feature gradient from one backward pass while the heads are still
   * computed together. Returns null when it cannot; the engine then decodes each task from its copy.
   */
  decodeStackedCopies?(copies: readonly Features[], inputs: Inputs, options: ApplyOptions, tasks: readonly string[]): Tensor | null;
  /**
   * Optional, for the engine's 'features' site: when the head of every task of `tasks` is one
   * dense layer with no activation on the features (F of shape [N, D]; output_t = F·kernel_t +
   * bias_t, nothing else read), those layers' variables in the order of `tasks`; else null. Task
   * t's feature gradient is then δ_t·kernel_tᵀ (δ_t: its loss's gradient with respect to its
   * output), so a Gramian weighting's G = J Jᵀ comes from δᵀδ and kernelᵀkernel, [Σ units]² each,
   * and the [T, N·D] Jacobian J is not formed unless read (Jacobian weightings, which read all of
   * J, keep the engine's general path).
   */
  linearHeads?(tasks: readonly string[]): { kernel: Variable; bias: Variable }[] | null;
  /**
   * Optional fast path of `encode` for the engine's 'features' and 'shared' sites: the same
   * features from a forward pass that keeps what its backward pass needs, so the engine runs the
   * encoder forward once per step and then takes any number of gradients through it (one per
   * task at 'shared', the combined one at 'features'). `backward` must give the gradients of
   * every variable of `sharedVariables()`, in that order. Implement it only when the task losses
   * depend on the shared variables through the features alone (`decode` reads no shared
   * variable). Returns null when the encoder cannot record its pass; the engine then uses tfjs's
   * gradients.
   */
  encodeRecorded?(inputs: Inputs, options: ApplyOptions): RecordedPass | null;
  /** `encode` then `decode` for every task: the full forward pass. */
  apply(inputs: Inputs, options: ApplyOptions): ForwardResult;
  /**
   * The variables the strategy shares between tasks (encoder; experts, gates, cross-stitch units…);
   * at the gradient levels they get the weighting's combined update.
   */
  sharedVariables(): Variable[];
  /** The last shared layer's variables: a subset of sharedVariables(). */
  lastSharedVariables(): Variable[];
  /**
   * The variables of one task's own part (its head, and its tower where the strategy has one); they
   * are trained on that task's loss only.
   */
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
  /**
   * Copies of every variable, by checkpoint key (the same for every model built from the same spec:
   * see `WeightTable`); the caller owns the copies.
   */
  getWeights(): NamedTensorMap;
  /**
   * Assigns every variable from a map `getWeights` produced; checks all keys and shapes first and throws
   * BAD_CHECKPOINT, changing nothing, on a mismatch.
   */
  setWeights(weights: NamedTensorMap): void;
  /** Frees every variable of the model. */
  dispose(): void;
}

/** What a layer stack looks like; `units` lists the widths of the hidden layers. */
export interface MlpSpec {
  /** Discriminant of a dense-stack spec. */
  type: 'mlp';
  /** Widths of the layers, in order; at least one for an encoder, possibly none for a head. */
  units: number[];
  /** Activation after every hidden layer (default 'relu'). */
  activation?: ActivationName;
  /** Activation after the last layer of an encoder (default: `activation`). */
  outputActivation?: ActivationName;
}

/** An activation function (see `activate`); 'leaky-relu' has slope 0.01 below zero, 'linear' is the identity. */
export type ActivationName = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'leaky-relu' | 'linear';

/** Anything that maps a tensor to a tensor with its own variables; wraps a user's layers too. */
export interface LayerModule {
  /** Maps a batch [N, …inputShape] to [N, …outputShape]. */
  apply(input: Tensor, options: ApplyOptions): Tensor;
  /** Every trainable variable of the module. */
  variables(): Variable[];
  /** The variables of the module's last parametrised layer. */
  lastLayerVariables(): Variable[];
  /** Shape of one example's output (no batch dimension) for one example's input shape. */
  outputShape(inputShape: readonly number[]): number[];
  /** Frees the module's variables; a model calls it from its own dispose(). */
  dispose?(): void;
  /**
   * Optional: the forward pass of `apply` with what its backward pass needs kept, so gradients
   * can be taken through it later, for several cotangents at once (see {@link RecordedPass}). No
   * gradient with respect to the input is computed. Returns null when the module cannot.
   */
  record?(input: Tensor, options: ApplyOptions): RecordedPass | null;
}

/**
 * A module's forward pass, kept for backward passes written by hand (`LayerModule.record`,
 * `MultiTaskModel.encodeRecorded`). Owns its tensors until `dispose`.
 */
export interface RecordedPass {
  /** The output [N, …], equal to what `apply` (or `encode`) gives. */
  readonly output: Tensor;
  /**
   * For T cotangents of the output stacked [T, N, …]: the gradient of ⟨output, cotangent t⟩ for
   * each t with respect to each variable (in `variables()` order, or `sharedVariables()` order for
   * a model), stacked [T, …variable shape]. New tensors; the caller disposes them.
   */
  backward(cotangents: Tensor): Tensor[];
  /**
   * Optional: the gradients of `backward` with the tasks last: per variable a [variable size, T]
   * matrix whose column t is task t's gradient, flattened (row-major). The engine's 'shared' site
   * uses it when present: the Jacobian's transpose is then these matrices stacked, and both the
   * Gramian and the weighted combination are single matMuls on it. New tensors; the caller
   * disposes them.
   */
  backwardColumns?(cotangents: Tensor): Tensor[];
  /** Frees what the pass kept, the output included. */
  dispose(): void;
}

/** One convolutional block: conv2d → activation → normalisation → pooling. */
export interface ConvBlockSpec {
  /** Output channels of the block's convolution. */
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
  /** Discriminant of a convolutional-stack spec. */
  type: 'conv';
  /** The convolutional blocks, in order; at least one. */
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
  /** Discriminant of a module factory. */
  type: 'factory';
  /** Builds a new module with fresh variables, named under `context.scope` and initialised from `context.seed`. */
  create(context: ModuleContext): LayerModule;
}

/** What a `LayerModuleFactory` is given for each module it builds. */
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

/** What a sharing strategy builds a model from: the tasks, the input shape, the encoder and the heads. */
export interface ModelSpec {
  /** The tasks, in the order the model keeps them; names must be unique. */
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

/** Options of `SharingStrategy.build` and `MultiTaskModel.addTask`. */
export interface BuildOptions {
  /** Seed of the initial variable values; the same seed gives the same model. */
  seed: number;
}

/** What every plugin has: registered under its `kind` and `name`, against one contract version. */
export interface Plugin {
  /** The registry namespace: 'sharing', 'weighting', 'backend', 'data', 'dataset', or a third party's own. */
  readonly kind: string;
  /** The name it is registered and referred to by (`'ew'`, `'pcgrad'`, `'hard'`); unique within its kind. */
  readonly name: string;
  /** The contract version it was written for (`API_VERSION`); the registry refuses one it does not accept. */
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
  /** A registered plugin's name. */
  name: string;
  /** Options passed to the plugin's `configure`; omitted: the plugin as registered. */
  options?: Record<string, unknown>;
}

/** A way of sharing parameters between tasks (hard, soft, MMoE, …): builds models from a `ModelSpec`. */
export interface SharingStrategy<Spec extends ModelSpec = ModelSpec> extends Plugin {
  /** Always 'sharing'. */
  readonly kind: 'sharing';
  /**
   * The gradient sites its models support (default: all three). The testkit's sharing suite
   * trains at each of them.
   */
  readonly sites?: readonly GradientSite[];
  /**
   * Builds a model with fresh variables from `spec`, initialised from `options.seed`; throws BAD_CONFIG on
   * an invalid spec.
   */
  build(spec: Spec, options: BuildOptions): MultiTaskModel;
}

// ---------------------------------------------------------------------------------------------
// Weightings

/**
 * Where a gradient-level weighting sees the task gradients: all shared variables ('shared'), the last
 * shared layer's variables ('last-shared'), or the encoder's output ('features').
 */
export type GradientSite = 'shared' | 'last-shared' | 'features';
/**
 * What a weighting works on: the task losses, the Gramian G = J Jᵀ of the task gradients, or the
 * Jacobian J itself.
 */
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
  /** 0-based epoch: the trainer's count of completed epochs (`Trainer.epoch`). */
  epoch: number;
  /** All task names, in the model's order. */
  taskNames: readonly string[];
  /** Names of the active tasks, in order: the rows of G, J and the entries of `losses`. */
  activeTasks: readonly string[];
  /** Index of each active task in `taskNames`. */
  activeIndices: readonly number[];
  /** The site the engine computes gradients at; null for a loss-level weighting. */
  site: GradientSite | null;
}

/** What a loss-level weighting's `combine` is given at every step. */
export interface LossStepInfo extends StepInfo {
  /** The weighting's trainable parameters (see {@link LossWeighting.parameters}). */
  params: Record<string, Variable>;
}

/** What a weighting reports about its own work this step; the engine puts it in the step report. */
export interface WeightingDiagnostics {
  /** The solver's KKT residual (relative), iteration count and whether it converged. */
  solver?: {
    /** KKT residual relative to the problem's scale (see `SolverReport`). */
    residual: number;
    /** Iterations the solver ran. */
    iterations: number;
    /** Whether the residual met the solver's tolerance; false makes the engine add a warning. */
    converged: boolean;
  };
  /** Anything the user should see; a solver that did not converge gets one from the engine too. */
  warnings?: string[];
  /** Other numbers worth logging (e.g. GradNorm's own loss). */
  values?: Record<string, number>;
}

/** What a Gramian-level weighting's `weigh` returns. */
export interface WeightsResult<S> {
  /** One weight per active task. A tensor is disposed by the engine after it is read. */
  weights: Tensor1D | readonly number[];
  /** The weighting's next state, used from the next step on (the engine keeps the old one if the step fails). */
  state: S;
  /** What the weighting reports about this step. */
  diagnostics?: WeightingDiagnostics;
}

interface WeightingBase<S> extends Plugin {
  /** Always 'weighting'. */
  readonly kind: 'weighting';
  /** What the weighting works on, which decides which method the engine calls. */
  readonly level: WeightingLevel;
  /** Initial state; must survive JSON round trips (checkpoints store it). */
  init(context: WeightingContext): S;
}

/**
 * Loss level: `combine` runs inside the gradient tape and returns the scalar to minimise over all
 * parameters (shared, the active heads and the weighting's own `parameters`).
 */
export interface LossWeighting<S = unknown> extends WeightingBase<S> {
  /** Always 'loss'. */
  readonly level: 'loss';
  /** Initial values of trainable parameters the optimiser updates with the model (e.g. log σ²). */
  parameters?(context: WeightingContext): Record<string, number[]>;
  /**
   * The objective of one step, computed inside the gradient tape so that its gradients reach every
   * parameter (and the weighting's own `parameters`, in `info.params`).
   *
   * @param losses - The active tasks' importance-scaled losses c_t·L_t [T], differentiable.
   * @param state - The state `init` or the previous step returned.
   */
  combine(
    losses: Tensor1D,
    state: S,
    info: LossStepInfo,
  ): {
    /** The scalar to minimise (the model's penalty, if any, is added by the engine). */
    loss: Scalar;
    /** One weight per active task, for the step report; the gradients come from `loss` alone. */
    weights: Tensor1D | readonly number[];
    /** The next state. */
    state: S;
    /** What the weighting reports about this step. */
    diagnostics?: WeightingDiagnostics;
  };
}

/** Gramian level: weights from G = J Jᵀ (active tasks only); the engine applies Σ_t w_t g_t. */
export interface GramianWeighting<S = unknown> extends WeightingBase<S> {
  /** Always 'gramian'. */
  readonly level: 'gramian';
  /** Supported sites; the first is the default. */
  readonly sites: readonly GradientSite[];
  /**
   * The weights of the active tasks from their Gramian.
   *
   * @param gramian - G = J Jᵀ [T, T] of the active tasks' importance-scaled gradients at `info.site`,
   *   readable synchronously.
   * @param losses - The active tasks' importance-scaled losses c_t·L_t [T].
   * @param state - The state `init` or the previous step returned.
   */
  weigh(gramian: Tensor2D, losses: Tensor1D, state: S, info: StepInfo): WeightsResult<S>;
}

/** Jacobian level: any rule J ↦ update (a [P] vector); sites 'shared' and 'features' only. */
export interface JacobianWeighting<S = unknown> extends WeightingBase<S> {
  /** Always 'jacobian'. */
  readonly level: 'jacobian';
  /** Supported sites ('last-shared' is not available at this level); the first is the default. */
  readonly sites: readonly ('shared' | 'features')[];
  /**
   * The shared update direction from the Jacobian of the active tasks.
   *
   * @param jacobian - J [T, P]: row t is active task t's importance-scaled gradient at `info.site`,
   *   flattened over the site's P values.
   * @param losses - The active tasks' importance-scaled losses c_t·L_t [T].
   * @param state - The state `init` or the previous step returned.
   */
  aggregate(
    jacobian: Tensor2D,
    losses: Tensor1D,
    state: S,
    info: StepInfo,
  ): {
    /** The combined gradient [P] the engine applies to the site (a BAD_CONFIG MtlError if not P long). */
    update: Tensor1D;
    /** The next state. */
    state: S;
    /** Weights per active task when the rule has them (for the report and the objective); else NaN is reported. */
    weights?: Tensor1D | readonly number[];
    /** What the weighting reports about this step. */
    diagnostics?: WeightingDiagnostics;
  };
}

/** Any weighting plugin; `level` tells which of the three contracts it follows. `S` is its state type. */
export type Weighting<S = unknown> = LossWeighting<S> | GramianWeighting<S> | JacobianWeighting<S>;

// ---------------------------------------------------------------------------------------------
// Backends

/**
 * A tfjs backend as a plugin. `useBackend('auto')` checks every candidate's `isAvailable()`,
 * ranks the available ones by effective priority (higher first) and activates them in that
 * order until one starts; the standard values are `BACKEND_PRIORITY` in backend.ts.
 */
export interface Backend extends Plugin {
  /** Always 'backend'. */
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
  isAvailable(): Promise<{
    /** Whether `activate()` is expected to succeed here. */
    available: boolean;
    /** What was found, or what is missing and how to install it; shown in `useBackend`'s log and errors. */
    reason: string;
    /** The priority that applies here, replacing the declared `priority` in this ranking. */
    priority?: number;
  }>;
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
  /** The dataset's tasks, with kinds and units matching its targets. */
  tasks: TaskSpec[];
  /** Shape of one example, without the batch dimension. */
  inputShape: number[];
  /** The training split. */
  train: DataSource;
  /** The validation split, when the dataset has one. */
  validation?: DataSource;
  /** The test split, when the dataset has one. */
  test?: DataSource;
  /** One line on what it is (shown by the CLI and in reports). */
  description?: string;
}

/** A named dataset recipe (`'synthetic'`, `'multi-mnist'`, …): `load(options)` builds it. */
export interface DatasetPlugin extends Plugin {
  /** Always 'dataset'. */
  readonly kind: 'dataset';
  /** Builds the dataset with its own options; an unknown option must raise a BAD_CONFIG MtlError. */
  load(options?: Record<string, unknown>): Promise<LoadedDataset>;
}

/**
 * A data adapter (`'csv'`, `'jsonl'`, `'idx'`, …): `open(input, options)` gives a DataSource over
 * a file path (Node) or bytes, with the adapter's own options (its column mapping, batch size…).
 */
export interface DataAdapter extends Plugin {
  /** Always 'data'. */
  readonly kind: 'data';
  /** A DataSource over a file path (Node) or the file's bytes, read with the adapter's options. */
  open(input: string | Uint8Array, options: Record<string, unknown>): DataSource;
}

// ---------------------------------------------------------------------------------------------
// Reports

/** What one training step reports (`Trainer.step`, `onStep`): the losses, weights and objective it used. */
export interface StepReport {
  /** 0-based index of the step: the number of optimiser steps completed before it. */
  step: number;
  /** 0-based epoch the step belongs to. */
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
  /** Per task, whether the batch had a labelled example for it (inactive tasks are left out of the step). */
  active: Record<string, boolean>;
  /** The weighting's own report for this step (solver residual and iterations, values), if any. */
  diagnostics?: WeightingDiagnostics;
  /** Warnings raised this step (e.g. a solver that hit its iteration limit); empty when none. */
  warnings: string[];
  /**
   * True when the step was dropped under the 'skip' non-finite policy: a task loss, weight, the
   * objective or the update was NaN or ±Inf, so nothing was applied (the reason is in `warnings`).
   */
  skipped: boolean;
  /** Steps skipped so far in this run, this one included (0 under the default 'throw' policy). */
  skips: number;
  /**
   * Gramian-level weightings: G = J Jᵀ of the active tasks' importance-scaled gradients at the
   * step's site, as the weighting saw it; rows and columns in the order of `tasks`.
   */
  gramian?: TaskGramian;
}

/** A Gramian of task gradients: `values[i][j]` = ⟨g_i, g_j⟩ for the tasks in `tasks` order. */
export interface TaskGramian {
  /** The tasks of the rows and columns, in order. */
  tasks: string[];
  /** The symmetric matrix, `values[i][j]` = ⟨g_i, g_j⟩. */
  values: number[][];
}

export interface StateSnapshot {
  step: number;
  rng: RngState;
}
