import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import type {
  Batch,
  Features,
  GradientSite,
  Inputs,
  MultiTaskModel,
  PerExampleLoss,
  RecordedPass,
  StepInfo,
  StepReport,
  TaskGramian,
  TaskSpec,
  Weighting,
  WeightingContext,
  WeightingDiagnostics,
} from './contracts';
import { MtlError, type MtlErrorDetails } from './errors';
import { canonicalTarget, lossFor, maskedMean } from './losses/losses';
import { combineColumns, combineRows, gramian, gramianOfColumns, gramianParts, scaleGradient } from './gradient-math';
import { uniqueScope } from './nn/init';
import { withConstants } from './nn/dense';
import { columnSums, joinColumns, sliceEqual, sliceParts, stackConstant } from './nn/slices';

/** A batch checked against the tasks, with targets in canonical form; owns its new tensors. */
export interface PreparedBatch {
  /** The batch's inputs as given (not copied: they stay the batch owner's). */
  inputs: Inputs;
  /** Examples in the batch (N): the first dimension of the inputs. */
  batchSize: number;
  /** Canonical targets of active tasks. */
  targets: Record<string, Tensor>;
  /** Float 0/1 [N] masks of active tasks that have one. */
  masks: Record<string, Tensor1D | null>;
  /** Per task, in the model's task order: whether the batch has a labelled example for it. */
  active: boolean[];
  /** Names of the active tasks, in the model's task order. */
  activeTasks: string[];
  /** Positions of the active tasks in the model's task list. */
  activeIndices: number[];
  /** Disposes the tensors made here (canonical targets, 0/1 masks); the batch's own tensors stay. */
  dispose(): void;
}

/** Per-task gradients at one site, as the engine computes them (active tasks only). */
export interface TaskGradients {
  /** The site the gradients were taken at. */
  site: GradientSite;
  /** Names of the active tasks; the rows of `jacobian`, `losses` and `heads` follow this order. */
  activeTasks: string[];
  /**
   * The Jacobian J [tasks, D]: row k is the gradient of task k's (importance-scaled) loss with
   * respect to the site tensors, each flattened, concatenated in the order of `names`.
   */
  jacobian: Tensor2D;
  /** What the site tensors are: variable names, or 'features/<key>'. */
  names: string[];
  /** The site tensors' shapes, in the order of `names` (their sizes add up to D). */
  shapes: number[][];
  /** Raw (unscaled) task losses [tasks]. */
  losses: Tensor1D;
  /** Each active task's own head gradients (variable name → gradient). */
  heads: NamedTensorMap[];
  /** Task k's row of `jacobian` as one tensor per site tensor, shaped as `shapes` says (new tensors; the caller disposes them). */
  row(k: number): Tensor[];
  /**
   * At 'features', the encoder's recorded forward pass when the model gives one
   * (`MultiTaskModel.encodeRecorded`): the step sends the combined feature gradient back through
   * it instead of running the encoder again. Disposed with the rest.
   */
  encoderPass?: RecordedPass;
  /**
   * At 'features' with linear heads (`MultiTaskModel.linearHeads`), and at 'shared' when the
   * encoder's recorded pass gives its gradients as columns (`RecordedPass.backwardColumns`): G = J Jᵀ
   * and Σ_t w_t J_t ([D]) for weights w ([T]), as new tensors the caller disposes, formed without
   * J. The engine uses them in place of `jacobian`, which is then only built when read.
   */
  gramian?(): Tensor2D;
  combine?(weights: Tensor): Tensor1D;
  /** Disposes every tensor above. */
  dispose(): void;
}

/** Options of `new TrainStepEngine(...)`. The `Trainer` builds them from its own options. */
export interface EngineOptions {
  /** The model to train; its `tasks` fix the task order of every step. The engine does not dispose it. */
  model: MultiTaskModel;
  /** The weighting plugin itself (no registry lookup here); its `level` must be 'loss', 'gramian' or 'jacobian'. */
  weighting: Weighting;
  /**
   * Applies each step's update. Its slots follow the variables in a fixed order, so give each
   * engine its own optimiser. The engine does not dispose it.
   */
  optimizer: tf.Optimizer;
  /** Gradient site for gradient-level weightings; the weighting's first site when omitted. */
  site?: GradientSite;
  /** Seed handed to the weighting's init (its RNG). */
  seed: number;
  /** Variables the optimiser leaves unchanged (see {@link FreezeOptions}). */
  freeze?: FreezeOptions;
  /** What a step with a non-finite loss, weight or update does (see {@link NonFinitePolicy}). Default: 'throw'. */
  nonFinite?: NonFinitePolicy;
}

/**
 * What the engine does when a step's task loss, task weight, objective or update is NaN or ±Inf.
 * Either way the check runs after every number of the step is computed and before anything is
 * applied, so no variable, optimiser slot or weighting state changes.
 * - 'throw' (default): throw `MtlError` NON_FINITE_LOSS naming the task(s) and the step.
 * - 'skip': drop the step, count it (`StepReport.skipped`, `StepReport.skips`) and go on; the
 *   step number still advances, so step numbers stay unique in logs.
 */
export type NonFinitePolicy = 'throw' | 'skip';

/**
 * Parts of the model held fixed: `shared` freezes every shared variable (the encoder, towers,
 * gates: whatever `sharedVariables()` lists); `tasks` freezes those tasks' own variables. Frozen
 * variables still take part in the forward pass and in the weighting's gradients (so a gradient
 * weighting sees the true conflicts); they just receive no update.
 */
export interface FreezeOptions {
  /** Freeze every variable `sharedVariables()` lists. Default: false. */
  shared?: boolean;
  /** Tasks whose own variables (`taskVariables(task)`) are frozen; a name the model lacks is BAD_CONFIG. */
  tasks?: readonly string[];
  /**
   * Names of variables that stay trainable although `shared` or `tasks` covers them: e.g. the gate
   * and experts a per-task-features strategy (MMoE, PLE) adds to its shared part in `addTask`
   * (list `sharedVariables()` names before and after adding the task).
   */
  except?: readonly string[];
}

/**
 * A point where a step needs numbers from the device. The step is written once, as a generator
 * that yields these; `runStep` answers them with synchronous reads and `runStepAsync` with
 * `await tensor.data()` (backends such as WebGPU in Node cannot read synchronously).
 * 'values' asks for the tensor's values; 'host' asks for a tensor with the same values that a
 * plugin may read synchronously (the tensor itself when reads are synchronous, else a copy made
 * from the values, which the step disposes).
 */
type ReadRequest = { kind: 'values'; tensor: Tensor } | { kind: 'host'; tensor: Tensor };
type StepGenerator<T> = Generator<ReadRequest, T, Float32Array | Int32Array | Uint8Array | Tensor>;

// Each stretch of a step runs with the batch's inputs marked constant (see `withConstants`).
function runSync<T>(generator: StepGenerator<T>, constants: readonly Tensor[]): T {
  let next = withConstants(constants, () => generator.next());
  while (!next.done) {
    const request = next.value;
    const answer = request.kind === 'values' ? (request.tensor.dataSync() as Float32Array) : request.tensor;
    next = withConstants(constants, () => generator.next(answer));
  }
  return next.value;
}

async function runAsync<T>(generator: StepGenerator<T>, constants: readonly Tensor[]): Promise<T> {
  let next = withConstants(constants, () => generator.next());
  while (!next.done) {
    const request = next.value;
    const values = (await request.tensor.data()) as Float32Array;
    const answer = request.kind === 'values' ? values : tf.tensor(values, request.tensor.shape, request.tensor.dtype as 'float32');
    next = withConstants(constants, () => generator.next(answer));
  }
  return next.value;
}

function inputTensors(inputs: Inputs): Tensor[] {
  return inputs instanceof tf.Tensor ? [inputs] : Object.values(inputs).filter((t): t is Tensor => t instanceof tf.Tensor);
}

function featureEntries(features: Features): [string, Tensor][] {
  if (features instanceof tf.Tensor) return [['features', features]];
  return Object.keys(features)
    .sort()
    .map((key) => [`features/${key}`, features[key]!] as [string, Tensor]);
}

function rebuildFeatures(template: Features, tensors: Tensor[]): Features {
  if (template instanceof tf.Tensor) return tensors[0]!;
  const keys = Object.keys(template).sort();
  return Object.fromEntries(keys.map((key, i) => [key, tensors[i]!]));
}

function flattenRow(tensors: Tensor[]): Tensor1D {
  return tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))) as Tensor1D);
}

// Cut with `sliceParts` (one host read on wasm and cpu, whose tf.slice copies its whole input per part).
/**
 * `TaskGradients.row` over a Jacobian of `count` rows (read through `matrix` on first use): the
 * rows are cut all at once, since a tf.slice per row copies all of J on wasm. `dispose` frees them.
 */
function rowReader(count: number, shapes: readonly number[][], matrix: () => Tensor2D): { row(k: number): Tensor[]; dispose(): void } {
  let rows: Tensor[] | null = null;
  return {
    row(k) {
      if (!Number.isInteger(k) || k < 0 || k >= count) {
        throw new MtlError('BAD_CONFIG', `TaskGradients.row(${k}): there are ${count} active tasks (rows 0–${count - 1})`);
      }
      rows ??= sliceEqual(matrix(), count, 0);
      const cut = rows[k]!;
      return tf.tidy(() => splitLike(tf.reshape(cut, [-1]) as Tensor1D, shapes));
    },
    dispose() {
      rows?.forEach((t) => t.dispose());
      rows = null;
    },
  };
}

/** Losses of groups of tasks (`parts`, their positions `order` concatenated) in task order. */
function inTaskOrder(parts: Tensor1D[], order: readonly number[]): Tensor1D {
  const all = parts.length === 1 ? parts[0]! : (tf.concat(parts) as Tensor1D);
  if (order.every((p, i) => p === i)) return all;
  const inverse = new Array<number>(order.length);
  order.forEach((p, i) => (inverse[p] = i));
  return tf.gather(all, inverse) as Tensor1D;
}

function splitLike(vector: Tensor1D, shapes: readonly number[][]): Tensor[] {
  return tf.tidy(() => {
    const sizes = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    return sliceParts(vector, sizes, 0).map((part, i) => tf.reshape(part, shapes[i]!));
  });
}

function describe(value: unknown): string {
  return value instanceof tf.Tensor ? `[${value.shape.join(', ')}]` : typeof value;
}

/**
 * Labelled examples per task mask of a batch, read asynchronously, for `prepareBatch` on backends
 * that cannot read synchronously. Masks `prepareBatch` would refuse are left for it to report.
 *
 * @returns For each task whose mask is a tensor of one value per row: the count of mask values
 *   greater than 0. Tasks without a mask are absent.
 */
export async function labelledCounts(tasks: readonly TaskSpec[], batch: Batch): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const task of tasks) {
    const mask = batch?.masks?.[task.name];
    if (!(mask instanceof tf.Tensor) || mask.rank > 2 || mask.size !== mask.shape[0]) continue;
    const values = await mask.data();
    let labelled = 0;
    for (let i = 0; i < values.length; i++) if ((values[i] as number) > 0) labelled += 1;
    counts[task.name] = labelled;
  }
  return counts;
}

/**
 * Checks a batch against the tasks (inputs, targets, masks: presence and shapes) and puts active
 * tasks' targets in canonical form. A task whose mask marks no example labelled is inactive.
 *
 * @param labelledCounts - Labelled examples per masked task, as `labelledCounts` gives them; without
 *   it each mask is summed with a synchronous read.
 * @returns The prepared batch; the caller disposes it (`dispose()`), and still owns `batch`.
 * @throws MtlError `BAD_DATA` when the batch has no inputs, a non-tensor input or target, targets
 *   or a mask for an unknown task, or no targets for a task that has no mask or whose mask marks
 *   an example labelled; `SHAPE_MISMATCH` when inputs disagree on the row count or a mask or target has the
 *   wrong shape.
 */
export function prepareBatch(tasks: readonly TaskSpec[], batch: Batch, labelledCounts?: Readonly<Record<string, number>>): PreparedBatch {
  if (!batch || typeof batch !== 'object' || !batch.inputs || typeof batch.targets !== 'object' || batch.targets === null) {
    throw new MtlError('BAD_DATA', 'a batch must be an object with `inputs` and `targets` (per task)');
  }
  const inputEntries = batch.inputs instanceof tf.Tensor ? [['inputs', batch.inputs] as const] : Object.entries(batch.inputs);
  if (inputEntries.length === 0) throw new MtlError('BAD_DATA', 'the batch has no inputs');
  for (const [key, tensor] of inputEntries) {
    if (!(tensor instanceof tf.Tensor)) {
      throw new MtlError('BAD_DATA', `batch input '${key}' must be a tensor, got ${describe(tensor)}`, { column: key });
    }
  }
  const batchSize = inputEntries[0]![1].shape[0] ?? 0;
  for (const [key, tensor] of inputEntries) {
    if (tensor.shape[0] !== batchSize) {
      throw new MtlError('SHAPE_MISMATCH', `batch input '${key}' has ${tensor.shape[0]} rows, others have ${batchSize}`, { column: key });
    }
  }
  const known = new Set(tasks.map((t) => t.name));
  for (const name of [...Object.keys(batch.targets), ...Object.keys(batch.masks ?? {})]) {
    if (!known.has(name)) {
      throw new MtlError('BAD_DATA', `the batch has targets or a mask for task '${name}', which the model does not have; its tasks: ${[...known].join(', ')}`, {
        task: name,
        available: [...known],
      });
    }
  }
  const owned: Tensor[] = [];
  const targets: Record<string, Tensor> = {};
  const masks: Record<string, Tensor1D | null> = {};
  const active: boolean[] = [];
  try {
    for (const task of tasks) {
      const target = batch.targets[task.name];
      const rawMask = batch.masks?.[task.name];
      let mask: Tensor1D | null = null;
      let labelled = batchSize;
      if (rawMask !== undefined && rawMask !== null) {
        if (!(rawMask instanceof tf.Tensor) || rawMask.size !== batchSize || rawMask.rank > 2) {
          throw new MtlError('SHAPE_MISMATCH', `task '${task.name}': the mask must be a [${batchSize}] tensor, got ${describe(rawMask)}`, {
            task: task.name,
            expected: [batchSize],
            received: rawMask instanceof tf.Tensor ? rawMask.shape : typeof rawMask,
          });
        }
        mask = tf.tidy(() => tf.cast(tf.greater(tf.reshape(rawMask, [batchSize]), 0), 'float32') as Tensor1D);
        owned.push(mask);
        labelled = labelledCounts?.[task.name] ?? tf.tidy(() => tf.sum(mask!).arraySync() as number);
      }
      if (target === undefined || target === null) {
        if (mask === null) {
          throw new MtlError('BAD_DATA', `the batch has no targets for task '${task.name}' and no mask marking its examples unlabelled`, {
            task: task.name,
          });
        }
        if (labelled > 0) {
          throw new MtlError('BAD_DATA', `task '${task.name}': the mask marks ${labelled} examples labelled but the batch has no targets for it`, {
            task: task.name,
          });
        }
      }
      if (!(target === undefined || target === null) && !(target instanceof tf.Tensor)) {
        throw new MtlError('BAD_DATA', `task '${task.name}': targets must be a tensor, got ${describe(target)}`, { task: task.name });
      }
      const isActive = labelled > 0;
      active.push(isActive);
      if (!isActive) continue;
      const canonical = canonicalTarget(task, target as Tensor, batchSize, mask);
      owned.push(canonical);
      targets[task.name] = canonical;
      masks[task.name] = mask;
    }
  } catch (error) {
    owned.forEach((t) => t.dispose());
    throw error;
  }
  const activeIndices = active.flatMap((isActive, i) => (isActive ? [i] : []));
  return {
    inputs: batch.inputs,
    batchSize,
    targets,
    masks,
    active,
    activeIndices,
    activeTasks: activeIndices.map((i) => tasks[i]!.name),
    dispose: () => owned.forEach((t) => t.dispose()),
  };
}


/**
 * The train-step engine: the one place in mtljs that computes gradients. It checks a batch,
 * computes the task losses, hands them (loss level) or the tasks' Gramian / Jacobian at the
 * chosen site (gradient levels) to the weighting, and applies the result with the optimiser.
 * It never names a plugin; everything a plugin needs arrives in its call.
 */
export class TrainStepEngine<S = unknown> {
  /** The model being trained (`EngineOptions.model`). */
  readonly model: MultiTaskModel;
  /** The weighting that combines the task losses or gradients (`EngineOptions.weighting`). */
  readonly weighting: Weighting<S>;
  /** The optimiser that applies the updates (`EngineOptions.optimizer`). */
  readonly optimizer: tf.Optimizer;
  /**
   * Gradient site of gradient-level steps: `EngineOptions.site`, else the weighting's first site;
   * null for a loss-level weighting.
   */
  readonly site: GradientSite | null;
  /** The model's task specs, in its task order. */
  readonly tasks: readonly TaskSpec[];
  /** Trainable parameters owned by a loss-level weighting, by their key. */
  readonly weightingParams: Record<string, Variable> = {};
  private readonly lossFns: PerExampleLoss[];
  private state: S;
  private stepCount = 0;
  private skipCount = 0;
  /** The policy for non-finite steps (see {@link NonFinitePolicy}). */
  readonly nonFinite: NonFinitePolicy;
  private readonly frozen: ReadonlySet<string>;
  /**
   * Every variable the optimiser has been or will be given, in the fixed order of its slots (a
   * Map keeps insertion order): variable name → shape.
   */
  private readonly slots = new Map<string, number[]>();

  /**
   * Calls the weighting's `init` (and `parameters`, at the loss level) with `options.seed`.
   *
   * @throws MtlError `BAD_CONFIG` for a weighting without a valid level, a task weight that is not
   *   a finite number ≥ 0, a Jacobian weighting that declares 'last-shared', or `freeze.tasks`
   *   naming a task the model lacks; `UNSUPPORTED_SITE` for a site the weighting does not list, or
   *   any site with a loss-level weighting.
   */
  constructor(options: EngineOptions) {
    this.model = options.model;
    this.frozen = frozenVariableNames(options.model, options.freeze);
    this.weighting = options.weighting as Weighting<S>;
    this.optimizer = options.optimizer;
    this.tasks = this.model.tasks;
    this.lossFns = this.tasks.map((task) => lossFor(task));
    this.tasks.forEach((task) => {
      const c = task.weight ?? 1;
      if (!Number.isFinite(c) || c < 0) {
        throw new MtlError('BAD_CONFIG', `task '${task.name}': weight (importance) must be a finite number ≥ 0, got ${c}`, { task: task.name });
      }
    });
    this.site = resolveSite(this.weighting, options.site);
    if (options.nonFinite !== undefined && options.nonFinite !== 'throw' && options.nonFinite !== 'skip') {
      throw new MtlError('BAD_CONFIG', `nonFinite must be 'throw' or 'skip', got ${JSON.stringify(options.nonFinite)}`, {
        expected: ['throw', 'skip'],
        received: options.nonFinite,
      });
    }
    this.nonFinite = options.nonFinite ?? 'throw';
    const context: WeightingContext = { taskNames: this.model.taskNames, tasks: this.tasks, seed: options.seed };
    this.state = this.weighting.init(context);
    if (this.weighting.level === 'loss' && this.weighting.parameters) {
      const scope = uniqueScope(`weighting/${this.weighting.name}`);
      for (const [key, values] of Object.entries(this.weighting.parameters(context))) {
        this.weightingParams[key] = tf.tidy(() => tf.variable(tf.tensor1d(values), true, `${scope}/${key}`));
      }
    }
    // The optimiser's slot order, fixed by the model's structure (not by which tasks happen to be
    // active in the first step), so a run resumed from a checkpoint lines its slots up the same way.
    const variables = [
      ...this.model.sharedVariables(),
      ...this.model.taskNames.flatMap((task) => this.model.taskVariables(task)),
      ...Object.values(this.weightingParams),
    ];
    for (const variable of variables) {
      if (!this.slots.has(variable.name)) this.slots.set(variable.name, [...variable.shape]);
    }
  }

  /** Optimiser steps taken so far: the `step` of the next report. */
  get step(): number {
    return this.stepCount;
  }

  /** Sets the step count (restoring a checkpoint); the value is not checked. */
  set step(value: number) {
    this.stepCount = value;
  }

  /**
   * The shapes of the variables in the order the optimiser holds their slots (one slot set per
   * variable, in this order): `loadCheckpoint` checks stored optimiser slots against them.
   */
  slotShapes(): number[][] {
    return [...this.slots.values()].map((shape) => [...shape]);
  }

  /** Steps skipped so far under the 'skip' policy (see {@link NonFinitePolicy}). */
  get skips(): number {
    return this.skipCount;
  }

  /** Sets the skip count (restoring a checkpoint); the value is not checked. */
  set skips(value: number) {
    this.skipCount = value;
  }

  /** The weighting's state (serialisable); a checkpoint stores it. */
  get weightingState(): S {
    return this.state;
  }

  /** Replaces the weighting's state (restoring a checkpoint); the value is not checked. */
  set weightingState(state: S) {
    this.state = state;
  }

  /** Checks a batch against the model's tasks and puts its targets in canonical form. */
  prepare(batch: Batch): PreparedBatch {
    return prepareBatch(this.tasks, batch);
  }

  private taskIndex(name: string): number {
    return this.model.taskNames.indexOf(name);
  }

  /**
   * A task's output checked against its targets and shaped like them.
   *
   * @throws MtlError SHAPE_MISMATCH when it is not a tensor of the targets' size with N rows.
   */
  private checkedOutput(prepared: PreparedBatch, task: string, output: Tensor | undefined): Tensor {
    const spec = this.tasks[this.taskIndex(task)]!;
    const target = prepared.targets[task]!;
    if (!(output instanceof tf.Tensor) || output.shape[0] !== prepared.batchSize || output.size !== target.size) {
      throw new MtlError(
        'SHAPE_MISMATCH',
        `task '${task}': the model's output ${describe(output)} does not match its targets [${target.shape.join(', ')}] (units ${spec.units})`,
        { task, expected: target.shape, received: output instanceof tf.Tensor ? output.shape : undefined },
      );
    }
    return output.rank === target.rank ? output : tf.reshape(output, target.shape);
  }

  /** Raw loss L_t of one task from its output (masked mean over labelled examples). */
  private rawLoss(prepared: PreparedBatch, task: string, output: Tensor | undefined): Scalar {
    const prediction = this.checkedOutput(prepared, task, output);
    const perExample = this.lossFns[this.taskIndex(task)]!(prediction, prepared.targets[task]!);
    if (!(perExample instanceof tf.Tensor) || perExample.size !== prepared.batchSize) {
      throw new MtlError('BAD_CONFIG', `task '${task}': its loss must return one value per example ([${prepared.batchSize}]), got ${describe(perExample)}`, {
        task,
      });
    }
    return maskedMean(tf.reshape(perExample, [prepared.batchSize]) as Tensor1D, prepared.masks[task] ?? null);
  }

  /** The tasks' importances c_t as a vector (a new tensor). */
  private importances(tasks: readonly string[]): Tensor1D {
    return tf.tensor1d(tasks.map((task) => this.importance(task)));
  }

  private importance(task: string): number {
    return this.tasks[this.taskIndex(task)]!.weight ?? 1;
  }

  private info(prepared: PreparedBatch, epoch: number): StepInfo {
    return {
      step: this.stepCount,
      epoch,
      taskNames: this.model.taskNames,
      activeTasks: prepared.activeTasks,
      activeIndices: prepared.activeIndices,
      site: this.site,
    };
  }

  private penaltyGradients(variables: Variable[]): NamedTensorMap | null {
    const penalty = this.model.penalty;
    if (!penalty || variables.length === 0) return null;
    const { value, grads } = tf.variableGrads(() => penalty.call(this.model), variables);
    value.dispose();
    return grads;
  }

  /**
   * Raw losses L_t of `tasks` ([k], in that order). Tasks that share a built-in loss and a width
   * form a group: their outputs come stacked [N, g, units] (from the model's `decodeStacked`, or
   * `decodeStackedCopies` for per-task copies, when it has one, else `decode`'s outputs stacked)
   * and are scored in one pass, so a step's loss costs a few kernels per group rather than per task. `features` is what every task reads, or one
   * Features per task (the 'features' site's copies, one per task, so that one backward pass
   * gives each task's feature gradient).
   */
  private taskLosses(prepared: PreparedBatch, features: Features | readonly Features[], tasks: readonly string[]): Tensor1D {
    const training = { training: true };
    const n = prepared.batchSize;
    const perTask = Array.isArray(features);
    const decodeEach = (positions: number[]): Record<string, Tensor> => {
      if (!perTask) return this.model.decode(features as Features, prepared.inputs, training, positions.map((p) => tasks[p]!));
      return Object.fromEntries(
        positions.map((p) => [tasks[p]!, this.model.decode((features as Features[])[p]!, prepared.inputs, training, [tasks[p]!])[tasks[p]!]!]),
      );
    };
    const parts: Tensor1D[] = [];
    const order: number[] = [];
    const singles: number[] = [];
    for (const positions of this.lossGroups(tasks)) {
      if (positions.length === 1) {
        singles.push(positions[0]!);
        continue;
      }
      const names = positions.map((p) => tasks[p]!);
      const spec = this.tasks[this.taskIndex(names[0]!)]!;
      let stacked = perTask
        ? (this.model.decodeStackedCopies?.(positions.map((p) => (features as Features[])[p]!), prepared.inputs, training, names) ?? null)
        : (this.model.decodeStacked?.(features as Features, prepared.inputs, training, names) ?? null);
      if (stacked === null) {
        const outputs = decodeEach(positions);
        stacked = tf.stack(names.map((task) => this.checkedOutput(prepared, task, outputs[task])), 1);
      } else if (stacked.rank !== 3 || stacked.shape[0] !== n || stacked.shape[1] !== names.length || stacked.shape[2] !== spec.units) {
        throw new MtlError(
          'SHAPE_MISMATCH',
          `tasks ${names.map((t) => `'${t}'`).join(', ')}: the model's ${perTask ? 'decodeStackedCopies' : 'decodeStacked'}() gave ${describe(stacked)}, expected [${n}, ${names.length}, ${spec.units}]`,
          { task: names[0], tasks: names, expected: [n, names.length, spec.units], received: stacked.shape },
        );
      }
      parts.push(this.groupLosses(prepared, names, stacked));
      order.push(...positions);
    }
    if (singles.length) {
      const outputs = decodeEach(singles);
      parts.push(tf.stack(singles.map((p) => this.rawLoss(prepared, tasks[p]!, outputs[tasks[p]!]))) as Tensor1D);
      order.push(...singles);
    }
    return inTaskOrder(parts, order);
  }

  /** Raw losses of a loss group's tasks `names` from their outputs stacked [N, g, units]. */
  private groupLosses(prepared: PreparedBatch, names: readonly string[], stacked: Tensor): Tensor1D {
    const n = prepared.batchSize;
    const targets = stackConstant(names.map((task) => prepared.targets[task]!), 1);
    const perExample = this.lossFns[this.taskIndex(names[0]!)]!(stacked, targets);
    const masks = names.map((task) => prepared.masks[task] ?? null);
    if (masks.every((m) => m === null)) return tf.mean(perExample, 0) as Tensor1D;
    const mask = tf.stack(masks.map((m) => m ?? tf.ones([n])), 1);
    const selected = tf.where(tf.greater(mask, 0), perExample, tf.zerosLike(perExample));
    return tf.div(tf.sum(selected, 0), tf.maximum(tf.sum(mask, 0), 1)) as Tensor1D;
  }

  /**
   * `taskGradients` at 'features' when every active task's head is one linear layer on the
   * features (`MultiTaskModel.linearHeads`), else null. With F the features as [N, D], K_t and
   * b_t task t's kernel and bias, and δ_t = ∂(c_t L_t)/∂(F K_t + b_t) (one backward pass over the
   * heads' outputs, not over F), task t's feature gradient is J_t = δ_t K_tᵀ. With the heads'
   * columns side by side (δ = [δ_1 | … | δ_T], K = [K_1 | … | K_T]):
   *   G_st = ⟨δ_s K_sᵀ, δ_t K_tᵀ⟩ = Σ over the (s, t) block of (δᵀδ) ⊙ (KᵀK),
   *   Σ_t w_t J_t = δ · (K ⊙ w per column)ᵀ,
   * so the Gramian costs two [S, S] Gram matrices (S = Σ units) instead of a [T, N·D] Jacobian
   * and its [T, T] product (40 heads of 10 units on [256, 128] features: 12 ms against 33 ms on
   * wasm). The heads' own gradients are Fᵀδ and Σ_rows δ. J itself is built on first read.
   */
  private linearFeatureGradients(prepared: PreparedBatch): TaskGradients | null {
    const tasks = prepared.activeTasks;
    if (!this.model.linearHeads || tasks.length === 0) return null;
    const groups = this.lossGroups(tasks);
    const order = groups.flat();
    const layers = this.model.linearHeads(order.map((p) => tasks[p]!));
    if (!layers || layers.length !== order.length) return null;
    const widths = layers.map((layer) => layer.kernel.shape[1]!);
    const inputSize = layers[0]!.kernel.shape[0]!;
    const fits = layers.every(
      (layer, i) =>
        layer.kernel.rank === 2 && layer.kernel.shape[0] === inputSize && layer.bias.size === widths[i] && this.tasks[this.taskIndex(tasks[order[i]!]!)]!.units === widths[i],
    );
    if (!fits) return null;
    const n = prepared.batchSize;
    const pass = this.recordEncoder(prepared);
    const features = pass ? pass.output : tf.tidy(() => this.model.encode(prepared.inputs, { training: true }));
    const owned: Tensor[] = pass ? [] : featureEntries(features).map(([, t]) => t);
    const release = () => {
      pass?.dispose();
      owned.forEach((t) => t.dispose());
      owned.length = 0;
    };
    if (!(features instanceof tf.Tensor) || features.size !== n * inputSize) {
      release();
      return null;
    }
    const heads: NamedTensorMap[] = tasks.map(() => ({}));
    let losses: Tensor1D | undefined;
    let delta: Tensor2D;
    let kernels: Tensor2D;
    let flat: Tensor2D;
    try {
      flat = tf.reshape(features, [n, inputSize]) as Tensor2D;
      owned.push(flat);
      const kernelList = layers.map((l) => l.kernel as unknown as Tensor2D);
      kernels = widths.every((w) => w === widths[0]) ? joinColumns(kernelList) : (tf.concat(kernelList, 1) as Tensor2D);
      owned.push(kernels);
      const outputs = tf.tidy(() => tf.add(tf.matMul(flat, kernels), layers.length === 1 ? layers[0]!.bias : tf.concat(layers.map((l) => l.bias))));
      const blockWidths = groups.map((positions) => positions.length * widths[order.indexOf(positions[0]!)]!);
      let blocks: Tensor[];
      try {
        blocks = sliceParts(outputs, blockWidths, 1);
      } finally {
        outputs.dispose();
      }
      owned.push(...blocks);
      const { value, grads } = tf.engine().gradients(
        () => {
          const parts = groups.map((positions, g) => {
            const names = positions.map((p) => tasks[p]!);
            if (positions.length === 1) return tf.reshape(this.rawLoss(prepared, names[0]!, blocks[g]), [1]) as Tensor1D;
            return this.groupLosses(prepared, names, tf.reshape(blocks[g]!, [n, positions.length, blockWidths[g]! / positions.length]));
          });
          losses = tf.keep(inTaskOrder(parts, order));
          return tf.sum(tf.mul(losses, this.importances(tasks))) as Scalar;
        },
        blocks,
        undefined,
        true,
      );
      value.dispose();
      const filled = grads.map((g, i) => g ?? tf.zerosLike(blocks[i]!));
      delta = (filled.length === 1 ? filled[0]! : tf.concat(filled, 1)) as Tensor2D;
      if (filled.length > 1) filled.forEach((g) => g.dispose());
      owned.push(delta);
      const kernelGrads = tf.tidy(() => tf.matMul(tf.transpose(flat), delta));
      const biasGrads = columnSums(delta);
      const kernelParts = sliceParts(kernelGrads, widths, 1);
      const biasParts = sliceParts(biasGrads, widths, 0);
      tf.dispose([kernelGrads, biasGrads]);
      order.forEach((p, i) => {
        heads[p] = { [layers[i]!.kernel.name]: kernelParts[i]!, [layers[i]!.bias.name]: biasParts[i]! };
      });
    } catch (error) {
      release();
      losses?.dispose();
      heads.forEach((h) => tf.dispose(Object.values(h)));
      throw error;
    }
    // E [S, T]: column block of each task, in task order (S = Σ widths, in the heads' order).
    const total = widths.reduce((a, b) => a + b, 0);
    const indicator = new Float32Array(total * tasks.length);
    let column = 0;
    order.forEach((p, i) => {
      for (let k = 0; k < widths[i]!; k++, column++) indicator[column * tasks.length + p] = 1;
    });
    const entries = featureEntries(features);
    const shapes = entries.map(([, t]) => [...t.shape]);
    let jacobian: Tensor2D | null = null;
    const buildJacobian = (): Tensor2D =>
      tf.tidy(() => {
        const deltas = sliceParts(delta, widths, 1);
        const rows = new Array<Tensor>(tasks.length);
        order.forEach((p, i) => (rows[p] = tf.reshape(tf.matMul(deltas[i] as Tensor2D, layers[i]!.kernel, false, true), [-1])));
        return tf.stack(rows) as Tensor2D;
      });
    const reader = rowReader(tasks.length, shapes, () => result.jacobian);
    const result: TaskGradients = {
      site: 'features',
      activeTasks: tasks,
      get jacobian() {
        jacobian ??= buildJacobian();
        return jacobian;
      },
      names: entries.map(([name]) => name),
      shapes,
      losses: losses!,
      heads,
      row: (k) => reader.row(k),
      gramian: () =>
        tf.tidy(() => {
          const products = tf.mul(tf.matMul(tf.transpose(delta), delta), tf.matMul(tf.transpose(kernels), kernels));
          const count = tasks.length;
          const width = widths[0]!;
          let blocks: Tensor2D;
          if (widths.every((w) => w === width)) {
            // Heads of one width: the block sums are a reshape to [T, u, T, u] and a sum over the
            // u axes (in the heads' order), then rows and columns put in task order; 1.4 ms less
            // than the two products with E at 40 heads of 10 on wasm.
            const headOrder = tf.sum(tf.reshape(products, [count, width, count, width]), [1, 3]) as Tensor2D;
            const identity = order.every((p, i) => p === i);
            const inverse = tf.tensor1d(order.map((_, p) => order.indexOf(p)), 'int32');
            blocks = identity ? headOrder : (tf.gather(tf.gather(headOrder, inverse, 0), inverse, 1) as Tensor2D);
          } else {
            const e = tf.tensor2d(indicator, [total, count]);
            blocks = tf.matMul(tf.transpose(e), tf.matMul(products, e));
          }
          // Exactly symmetric, as J Jᵀ is: the block sums round differently above and below the
          // diagonal, and iterative solvers that test convergence to rounding stall on that.
          return tf.mul(tf.add(blocks, tf.transpose(blocks)), 0.5) as Tensor2D;
        }),
      combine: (weights) =>
        tf.tidy(() => {
          const perColumn = tf.reshape(tf.matMul(tf.tensor2d(indicator, [total, tasks.length]), tf.reshape(weights, [-1, 1])), [-1]);
          return tf.reshape(tf.matMul(delta, tf.transpose(tf.mul(kernels, perColumn))), [-1]) as Tensor1D;
        }),
      ...(pass ? { encoderPass: pass } : {}),
      dispose: () => {
        reader.dispose();
        jacobian?.dispose();
        losses?.dispose();
        heads.forEach((h) => tf.dispose(Object.values(h)));
        release();
      },
    };
    return result;
  }

  /**
   * `tasks` split into loss groups (positions in `tasks`): tasks with the same built-in loss and
   * width share a group; a task with a custom loss is alone (its function may expect [N, units]).
   */
  private lossGroups(tasks: readonly string[]): number[][] {
    const groups = new Map<string, number[]>();
    tasks.forEach((task, position) => {
      const index = this.taskIndex(task);
      const spec = this.tasks[index]!;
      const key = typeof spec.loss === 'object' ? `custom:${task}` : `${this.lossFns.indexOf(this.lossFns[index]!)}:${spec.units}`;
      const group = groups.get(key);
      if (group) group.push(position);
      else groups.set(key, [position]);
    });
    return [...groups.values()];
  }

  /**
   * The gradient of each active task's importance-scaled loss at a site: 'shared' (every shared
   * variable), 'last-shared' (the last shared layer) or 'features' (the encoder's output). Also
   * each task's head gradients and raw loss. Exposed so tests can compare it with tf.variableGrads.
   *
   * At 'features' with one feature tensor F, the features are computed once, and each task's head
   * reads its own copy of them: one backward pass gives every task's feature gradient (the
   * gradient with respect to its copy) and its head gradients.
   *
   * When the model records its encoder's pass (`encodeRecorded`), the encoder runs forward once:
   * at 'features' the pass is handed on for the combined gradient; at 'shared' each task's
   * gradient over the shared variables is its feature gradient sent back through the pass, all
   * tasks in one backward (J_shared = J_features · ∂F/∂θ).
   */
  taskGradients(prepared: PreparedBatch, site: GradientSite): TaskGradients {
    // A Jacobian weighting reads all of J, which the general path builds faster (GradDrop at T = 40:
    // 179 ms a step against 245 ms through the linear heads' J).
    if (site === 'features' && this.weighting.level !== 'jacobian') {
      const linear = this.linearFeatureGradients(prepared);
      if (linear) return linear;
    }
    const training = { training: true };
    const tasks = prepared.activeTasks;
    const rows: Tensor[][] = [];
    const rawLosses: Scalar[] = [];
    const heads: NamedTensorMap[] = [];
    let names: string[] = [];
    let shapes: number[][] = [];
    let jacobian: Tensor2D | undefined;
    // Jᵀ, when the encoder's recorded pass gives the 'shared' gradients as columns.
    let columns: Tensor2D | undefined;
    let losses: Tensor1D | undefined;
    const cleanup: Tensor[] = [];
    let pass: RecordedPass | null = null;
    const release = () => {
      pass?.dispose();
      cleanup.forEach((t) => t.dispose());
      rows.flat().forEach((t) => t.dispose());
      rawLosses.forEach((t) => t.dispose());
      heads.forEach((h) => Object.values(h).forEach((t) => t.dispose()));
      jacobian?.dispose();
      columns?.dispose();
      losses?.dispose();
    };
    try {
      if (site === 'features' || site === 'shared') pass = this.recordEncoder(prepared);
      if (site === 'features' || pass) {
        const features = pass ? pass.output : tf.tidy(() => this.model.encode(prepared.inputs, training));
        const entries = featureEntries(features);
        if (!pass) cleanup.push(...entries.map(([, t]) => t));
        names = entries.map(([name]) => name);
        shapes = entries.map(([, t]) => [...t.shape]);
        const featureTensors = entries.map(([, t]) => t);
        if (features instanceof tf.Tensor) {
          // One copy of F per task (clones share F's data): the gradient with respect to copy i
          // is task i's feature gradient, all from one backward pass.
          const copies = tasks.map(() => tf.clone(features));
          cleanup.push(...copies);
          const headVariables = tasks.map((task) => this.model.taskVariables(task));
          const { value, grads } = tf.engine().gradients(
            () => {
              losses = tf.keep(this.taskLosses(prepared, copies, tasks));
              return tf.sum(tf.mul(losses, this.importances(tasks))) as Scalar;
            },
            [...copies, ...headVariables.flat()],
            undefined,
            true,
          );
          value.dispose();
          const featureGrads = grads.slice(0, tasks.length);
          const headGrads = grads.slice(tasks.length);
          jacobian = tf.tidy(() => tf.stack(featureGrads.map((g, i) => tf.reshape(g ?? tf.zerosLike(copies[i]!), [-1]))) as Tensor2D);
          featureGrads.forEach((g) => g?.dispose());
          let offset = 0;
          for (const variables of headVariables) {
            const own = headGrads.slice(offset, offset + variables.length);
            offset += variables.length;
            heads.push(Object.fromEntries(variables.flatMap((v, i) => (own[i] ? [[v.name, own[i]!]] : []))));
          }
          if (site === 'shared') {
            const shared = this.model.sharedVariables();
            const perFeature = jacobian;
            const byColumns = pass!.backwardColumns !== undefined;
            const grads = this.throughPass(pass!, tf.reshape(perFeature, [tasks.length, ...features.shape]), shared, byColumns);
            if (byColumns) {
              // Jᵀ [D, T]: each variable's [size, T] block, stacked along the rows (a plain copy).
              columns = (grads.length === 1 ? tf.clone(grads[0]!) : tf.concat(grads, 0)) as Tensor2D;
              jacobian = undefined;
            } else {
              jacobian = tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(g, [tasks.length, -1])), 1) as Tensor2D);
            }
            grads.forEach((g) => g.dispose());
            perFeature.dispose();
            names = shared.map((v) => v.name);
            shapes = shared.map((v) => [...v.shape]);
            pass!.dispose();
            pass = null;
          }
        } else {
          for (const task of tasks) {
            const headVariables = this.model.taskVariables(task);
            let raw: Scalar | undefined;
            const { value, grads } = tf.engine().gradients(
              () => {
                const output = this.model.decode(rebuildFeatures(features, featureTensors), prepared.inputs, training, [task])[task];
                raw = tf.keep(this.rawLoss(prepared, task, output));
                return tf.mul(raw, this.importance(task)) as Scalar;
              },
              [...featureTensors, ...headVariables],
              undefined,
              true,
            );
            value.dispose();
            rawLosses.push(raw!);
            rows.push(featureTensors.map((t, i) => grads[i] ?? tf.zerosLike(t)));
            heads.push(
              Object.fromEntries(headVariables.flatMap((v, i) => (grads[featureTensors.length + i] ? [[v.name, grads[featureTensors.length + i]!]] : []))),
            );
          }
        }
      } else {
        const siteVariables = site === 'shared' ? this.model.sharedVariables() : this.model.lastSharedVariables();
        if (siteVariables.length === 0) {
          throw new MtlError('UNSUPPORTED_SITE', `site '${site}' has no variables in this model (its encoder has no parameters)`);
        }
        names = siteVariables.map((v) => v.name);
        shapes = siteVariables.map((v) => [...v.shape]);
        for (const task of tasks) {
          const headVariables = site === 'shared' ? this.model.taskVariables(task) : [];
          let raw: Scalar | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const features = this.model.encode(prepared.inputs, training);
            const output = this.model.decode(features, prepared.inputs, training, [task])[task];
            raw = tf.keep(this.rawLoss(prepared, task, output));
            return tf.mul(raw, this.importance(task)) as Scalar;
          }, [...siteVariables, ...headVariables]);
          value.dispose();
          rawLosses.push(raw!);
          rows.push(siteVariables.map((v) => grads[v.name] ?? tf.zerosLike(v)));
          heads.push(Object.fromEntries(headVariables.flatMap((v) => (grads[v.name] ? [[v.name, grads[v.name]!]] : []))));
        }
      }
      if (!jacobian && !columns) {
        jacobian = tf.tidy(() => tf.stack(rows.map((row) => flattenRow(row))) as Tensor2D);
        rows.flat().forEach((t) => t.dispose());
        rows.length = 0;
      }
      if (!losses) {
        losses = tf.stack(rawLosses) as Tensor1D;
        rawLosses.forEach((t) => t.dispose());
        rawLosses.length = 0;
      }
    } catch (error) {
      release();
      throw error;
    }
    if (columns) return this.columnGradients(tasks, columns, names, shapes, losses!, heads, release);
    const matrix = jacobian!;
    const reader = rowReader(tasks.length, shapes, () => matrix);
    return {
      site,
      activeTasks: tasks,
      jacobian: matrix,
      names,
      shapes,
      losses: losses!,
      heads,
      row: (k) => reader.row(k),
      ...(pass ? { encoderPass: pass } : {}),
      dispose: () => {
        reader.dispose();
        release();
      },
    };
  }

  /**
   * 'shared' gradients held as Jᵀ [D, T] (the recorded pass's `backwardColumns`): G = JᵀᵀJᵀ and
   * Σ_t w_t J_t = Jᵀ·w are one matMul each, and J itself is made on first read (a Jacobian
   * weighting, `row`; see `gramianOfColumns`).
   */
  private columnGradients(
    tasks: string[],
    columns: Tensor2D,
    names: string[],
    shapes: number[][],
    losses: Tensor1D,
    heads: NamedTensorMap[],
    release: () => void,
  ): TaskGradients {
    let jacobian: Tensor2D | null = null;
    const transposed = (): Tensor2D => (jacobian ??= tf.transpose(columns));
    const reader = rowReader(tasks.length, shapes, transposed);
    return {
      site: 'shared',
      activeTasks: tasks,
      get jacobian() {
        return transposed();
      },
      names,
      shapes,
      losses,
      heads,
      row: (k) => reader.row(k),
      gramian: () => gramianOfColumns(columns, transposed),
      combine: (weights) => combineColumns(columns, weights),
      dispose: () => {
        reader.dispose();
        jacobian?.dispose();
        release();
      },
    };
  }

  /** The model's recorded encoder pass (`encodeRecorded`), or null when it gives none. */
  private recordEncoder(prepared: PreparedBatch): RecordedPass | null {
    const pass = this.model.encodeRecorded?.(prepared.inputs, { training: true }) ?? null;
    if (pass && !(pass.output instanceof tf.Tensor)) {
      pass.dispose();
      throw new MtlError('BAD_CONFIG', `the model's encodeRecorded() must give one output tensor, got ${describe(pass.output)}`);
    }
    return pass;
  }

  /**
   * `pass.backward(cotangents)` ([T, N, …]), checked against the shared variables: one gradient
   * per variable, [T, …shape]; with `byColumns`, `pass.backwardColumns`, [size, T] (new tensors;
   * the caller disposes them).
   * @throws MtlError BAD_CONFIG when the pass's gradients do not match `sharedVariables()`.
   */
  private throughPass(pass: RecordedPass, cotangents: Tensor, shared: Variable[], byColumns = false): Tensor[] {
    let grads: Tensor[];
    try {
      grads = byColumns ? pass.backwardColumns!(cotangents) : pass.backward(cotangents);
    } finally {
      cotangents.dispose();
    }
    const count = cotangents.shape[0]!;
    const expected = (v: Variable) => (byColumns ? [v.size, count] : [count, ...v.shape]);
    const bad = grads.length !== shared.length ? -1 : grads.findIndex((g, i) => g.shape.join(',') !== expected(shared[i]!).join(','));
    if (grads.length !== shared.length || bad >= 0) {
      grads.forEach((g) => g.dispose());
      const which = bad >= 0 ? `variable '${shared[bad]!.name}' got [${grads[bad]?.shape.join(', ')}], expected [${expected(shared[bad]!).join(', ')}]` : `${grads.length} gradients for ${shared.length} shared variables`;
      throw new MtlError('BAD_CONFIG', `the model's recorded encoder pass does not match sharedVariables(): ${which}`);
    }
    return grads;
  }

  /**
   * The Gramian of the active tasks' importance-scaled gradients at a site on a batch, computed
   * as a step would but changing nothing (no variable, state or step count): the probe behind
   * reports' task-relationship view for weightings that compute no Gramian themselves. The
   * model runs in training mode, as in a step.
   */
  async probeGramian(batch: Batch, site: GradientSite = 'features'): Promise<TaskGramian> {
    const prepared = prepareBatch(this.tasks, batch, await labelledCounts(this.tasks, batch));
    let gradients: TaskGradients | undefined;
    try {
      if (prepared.activeTasks.length === 0) {
        throw new MtlError('BAD_DATA', `probeGramian: no task has a labelled example in this batch; tasks: ${this.model.taskNames.join(', ')}`);
      }
      gradients = withConstants(inputTensors(prepared.inputs), () => this.taskGradients(prepared, site));
      const matrix = gradients.gramian?.() ?? gramian(gradients.jacobian);
      const values = (await matrix.data()) as Float32Array;
      matrix.dispose();
      const size = prepared.activeTasks.length;
      return {
        tasks: [...prepared.activeTasks],
        values: Array.from({ length: size }, (_, i) => Array.from(values.subarray(i * size, (i + 1) * size))),
      };
    } catch (error) {
      releaseAbandonedTape();
      throw error;
    } finally {
      gradients?.dispose();
      prepared.dispose();
    }
  }

  /**
   * One optimiser step. When a task loss, a weight or the update is not finite it changes no
   * variable, optimiser slot or weighting state, and then, by the engine's `nonFinite` policy,
   * throws NON_FINITE_LOSS (the step count stays) or returns a report with `skipped: true` (the
   * step and skip counts advance).
   *
   * @param epoch - Copied into the report and the weighting's step info. Default: 0.
   * @throws MtlError `BAD_DATA` when no task has a labelled example in the batch, besides the
   *   errors of `prepareBatch`.
   */
  runStep(batch: Batch, epoch = 0): StepReport {
    return this.execute(this.prepare(batch), epoch, runSync);
  }

  /**
   * The same step with every device read awaited (`tensor.data()`), for backends that cannot read
   * synchronously (WebGPU in Node or on a software adapter). Same numbers, same guarantees.
   */
  async runStepAsync(batch: Batch, epoch = 0): Promise<StepReport> {
    return this.execute(prepareBatch(this.tasks, batch, await labelledCounts(this.tasks, batch)), epoch, runAsync);
  }

  private execute<R extends StepReport | Promise<StepReport>>(
    prepared: PreparedBatch,
    epoch: number,
    run: (generator: StepGenerator<StepReport>, constants: readonly Tensor[]) => R,
  ): R {
    const finishUp = () => prepared.dispose();
    try {
      if (prepared.activeTasks.length === 0) {
        throw new MtlError('BAD_DATA', `no task has a labelled example in this batch; tasks: ${this.model.taskNames.join(', ')}`);
      }
      const result = run(this.weighting.level === 'loss' ? this.lossLevelStep(prepared, epoch) : this.gradientLevelStep(prepared, epoch), inputTensors(prepared.inputs));
      if (result instanceof Promise) {
        return result.then(
          (report) => (finishUp(), report),
          (error: unknown) => {
            finishUp();
            releaseAbandonedTape();
            throw error;
          },
        ) as R;
      }
      finishUp();
      return result;
    } catch (error) {
      finishUp();
      releaseAbandonedTape();
      throw error;
    }
  }

  private *lossLevelStep(prepared: PreparedBatch, epoch: number): StepGenerator<StepReport> {
    const weighting = this.weighting as Extract<Weighting<S>, { level: 'loss' }>;
    const training = { training: true };
    const info = { ...this.info(prepared, epoch), params: this.weightingParams };
    const variables = [
      ...this.model.sharedVariables(),
      ...prepared.activeTasks.flatMap((task) => this.model.taskVariables(task)),
      ...Object.values(this.weightingParams),
    ];
    let rawLosses: Tensor1D | undefined;
    let weights: Tensor1D | readonly number[] | undefined;
    let nextState: S | undefined;
    let diagnostics: WeightingDiagnostics | undefined;
    let objective: Scalar | undefined;
    let grads: NamedTensorMap = {};
    try {
      ({ grads } = tf.variableGrads(() => {
        const features = this.model.encode(prepared.inputs, training);
        rawLosses = tf.keep(this.taskLosses(prepared, features, prepared.activeTasks));
        const scaled = tf.mul(rawLosses, this.importances(prepared.activeTasks)) as Tensor1D;
        const result = weighting.combine(scaled, this.state, info);
        if (!(result?.loss instanceof tf.Tensor) || result.loss.rank !== 0) {
          throw new MtlError('BAD_CONFIG', `weighting '${weighting.name}': combine() must return a scalar loss, got ${describe(result?.loss)}`, {
            plugin: weighting.name,
          });
        }
        weights = result.weights instanceof tf.Tensor ? tf.keep(result.weights) : result.weights;
        nextState = result.state;
        diagnostics = result.diagnostics;
        const total = this.model.penalty ? tf.add(result.loss, this.model.penalty()) : result.loss;
        objective = tf.keep(total as Scalar);
        return total as Scalar;
      }, variables));
      const report = yield* this.finish(prepared, epoch, rawLosses!, weights!, grads, objective!, diagnostics);
      if (report.skipped) return this.skipped(report);
      this.applyUpdate(grads);
      this.state = nextState as S;
      this.stepCount += 1;
      return report;
    } finally {
      Object.values(grads).forEach((g) => g.dispose());
      rawLosses?.dispose();
      objective?.dispose();
      if (weights instanceof tf.Tensor) weights.dispose();
    }
  }

  private *gradientLevelStep(prepared: PreparedBatch, epoch: number): StepGenerator<StepReport> {
    const site = this.site!;
    const weighting = this.weighting as Extract<Weighting<S>, { level: 'gramian' | 'jacobian' }>;
    const info = this.info(prepared, epoch);
    const gradients = this.taskGradients(prepared, site);
    const owned: Tensor[] = [];
    let weights: Tensor1D | readonly number[] | undefined;
    let reportedGramian: StepReport['gramian'];
    const update: NamedTensorMap = {};
    try {
      const rawLosses = gradients.losses;
      const scaled = tf.tidy(() => tf.mul(rawLosses, this.importances(prepared.activeTasks)) as Tensor1D);
      owned.push(scaled);
      let nextState: S;
      let diagnostics: WeightingDiagnostics | undefined;
      let combined: Tensor1D;
      if (weighting.level === 'gramian') {
        const formed = gradients.gramian?.() ?? null;
        const { gramian: gramianMatrix, transposed } = formed ? { gramian: formed, transposed: null } : gramianParts(gradients.jacobian);
        owned.push(gramianMatrix);
        if (transposed) owned.push(transposed);
        // Weightings read G (and the losses) synchronously; give them tensors they can read. The
        // one read of G also serves the step report (the task-relationship view of reports).
        const gramianValues = Float32Array.from((yield { kind: 'values', tensor: gramianMatrix }) as Float32Array);
        const hostGramian = tf.tensor2d(gramianValues, gramianMatrix.shape as [number, number]);
        owned.push(hostGramian);
        const size = gramianMatrix.shape[0];
        reportedGramian = {
          tasks: [...prepared.activeTasks],
          values: Array.from({ length: size }, (_, i) => Array.from(gramianValues.subarray(i * size, (i + 1) * size))),
        };
        const hostLosses = (yield { kind: 'host', tensor: scaled }) as Tensor1D;
        if (hostLosses !== scaled) owned.push(hostLosses);
        const result = weighting.weigh(hostGramian, hostLosses, this.state, info);
        weights = result.weights;
        nextState = result.state;
        diagnostics = result.diagnostics;
        checkWeightCount(weighting.name, weights, prepared.activeTasks.length);
        const w = weights instanceof tf.Tensor ? weights : tf.tensor1d(weights as number[]);
        if (!(weights instanceof tf.Tensor)) owned.push(w);
        combined = gradients.combine ? gradients.combine(w) : combineRows(gradients.jacobian, transposed, w);
      } else {
        const hostLosses = (yield { kind: 'host', tensor: scaled }) as Tensor1D;
        if (hostLosses !== scaled) owned.push(hostLosses);
        const jacobian = gradients.jacobian;
        const result = weighting.aggregate(jacobian, hostLosses, this.state, info);
        nextState = result.state;
        weights = result.weights;
        diagnostics = result.diagnostics;
        combined = result.update;
        if (!(combined instanceof tf.Tensor) || combined.size !== jacobian.shape[1]) {
          throw new MtlError(
            'BAD_CONFIG',
            `weighting '${weighting.name}': aggregate() must return a [${jacobian.shape[1]}] update, got ${describe(combined)}`,
            { plugin: weighting.name },
          );
        }
        if (weights !== undefined) checkWeightCount(weighting.name, weights, prepared.activeTasks.length);
      }
      owned.push(combined);
      const siteParts = splitLike(combined, gradients.shapes);
      owned.push(...siteParts);

      // Shared-variable update from the combination at the site.
      if (site === 'shared') {
        gradients.names.forEach((name, i) => (update[name] = siteParts[i]!));
        addInto(update, this.penaltyGradients(this.model.sharedVariables()), owned);
      } else if (site === 'features' && gradients.encoderPass) {
        // The combined feature gradient back through the encoder's recorded pass: no second forward.
        const shared = this.model.sharedVariables();
        const part = siteParts[0]!;
        const grads = this.throughPass(gradients.encoderPass, tf.reshape(part, [1, ...part.shape]), shared);
        owned.push(...grads);
        shared.forEach((v, i) => {
          const grad = tf.reshape(grads[i]!, v.shape);
          owned.push(grad);
          update[v.name] = grad;
        });
        addInto(update, this.penaltyGradients(shared), owned);
      } else if (site === 'features') {
        const shared = this.model.sharedVariables();
        const { value, grads } = tf.variableGrads(() => {
          const entries = featureEntries(this.model.encode(prepared.inputs, { training: true }));
          const terms = entries.map(([, f], i) => tf.sum(tf.mul(f, siteParts[i]!)));
          const total = terms.length === 1 ? terms[0]! : tf.addN(terms);
          return (this.model.penalty ? tf.add(total, this.model.penalty()) : total) as Scalar;
        }, shared);
        value.dispose();
        Object.assign(update, grads);
        owned.push(...Object.values(grads));
      } else {
        // last-shared: the weights found on the last layer scale each task's gradient through
        // the whole encoder, Σ_t w_t ∇L_t, in one backward; heads keep their own gradient.
        const w = weights instanceof tf.Tensor ? Array.from((yield { kind: 'values', tensor: weights }) as Float32Array) : (weights as number[]);
        const shared = this.model.sharedVariables();
        const { value, grads } = tf.variableGrads(() => {
          const features = this.model.encode(prepared.inputs, { training: true });
          const terms = prepared.activeTasks.map((task, k) => {
            const scaledFeatures = mapFeatures(features, (f) => scaleGradient(f, w[k]!));
            const output = this.model.decode(scaledFeatures, prepared.inputs, { training: true }, [task])[task];
            return tf.mul(this.rawLoss(prepared, task, output), this.importance(task));
          });
          const total = terms.length === 1 ? terms[0]! : tf.addN(terms);
          return (this.model.penalty ? tf.add(total, this.model.penalty()) : total) as Scalar;
        }, [...shared, ...prepared.activeTasks.flatMap((task) => this.model.taskVariables(task))]);
        value.dispose();
        owned.push(...Object.values(grads));
        Object.assign(update, grads);
      }
      // Heads: each task's own gradient (at the last-shared site already in `update`).
      if (site !== 'last-shared') {
        for (const head of gradients.heads) Object.assign(update, head);
      }
      const objective = tf.tidy(() => {
        const w = weights === undefined ? null : weights instanceof tf.Tensor ? weights : tf.tensor1d(weights as number[]);
        const weighted = w === null ? tf.sum(scaled) : tf.sum(tf.mul(w, scaled));
        // The model's penalty is part of the objective at every level (the loss level adds it in the tape).
        return (this.model.penalty ? tf.add(weighted, this.model.penalty()) : weighted) as Scalar;
      });
      owned.push(objective);
      const report = yield* this.finish(prepared, epoch, rawLosses, weights ?? null, update, objective, diagnostics);
      if (reportedGramian) report.gramian = reportedGramian;
      if (report.skipped) return this.skipped(report);
      this.applyUpdate(update);
      this.state = nextState;
      this.stepCount += 1;
      return report;
    } finally {
      owned.forEach((t) => t.dispose());
      if (weights instanceof tf.Tensor) weights.dispose();
      gradients.dispose();
    }
  }

  /**
   * Reads the step's numbers in one transfer and refuses a non-finite loss, weight or update
   * before anything is applied.
   */
  private *finish(
    prepared: PreparedBatch,
    epoch: number,
    rawLosses: Tensor1D,
    weights: Tensor1D | readonly number[] | null,
    update: NamedTensorMap,
    objective: Scalar,
    diagnostics?: WeightingDiagnostics,
  ): StepGenerator<StepReport> {
    const count = prepared.activeTasks.length;
    const values = tf.tidy(() => {
      const parts: Tensor[] = [rawLosses, tf.reshape(objective, [1])];
      if (weights instanceof tf.Tensor) parts.push(weights);
      parts.push(tf.reshape(updateTotal(Object.values(update)), [1]));
      return tf.concat(parts.map((p) => tf.cast(tf.reshape(p, [-1]), 'float32')));
    });
    let data: Float32Array;
    try {
      data = (yield { kind: 'values', tensor: values }) as Float32Array;
    } finally {
      values.dispose();
    }
    const lossValues = Array.from(data.subarray(0, count));
    const objectiveValue = data[count]!;
    const weightValues =
      weights === null ? new Array<number>(count).fill(Number.NaN) : weights instanceof tf.Tensor ? Array.from(data.subarray(count + 1, count + 1 + count)) : [...weights];
    const updateSum = data[data.length - 1]!;

    const problem = this.nonFiniteProblem(prepared.activeTasks, lossValues, weights === null ? null : weightValues, objectiveValue, updateSum);
    if (problem && this.nonFinite === 'throw') {
      throw new MtlError('NON_FINITE_LOSS', `${problem.what} at step ${this.stepCount}; no variable was updated`, { ...problem.details, step: this.stepCount });
    }
    const losses: Record<string, number> = {};
    const reportedWeights: Record<string, number> = {};
    const active: Record<string, boolean> = {};
    this.model.taskNames.forEach((task, i) => {
      const k = prepared.activeTasks.indexOf(task);
      active[task] = prepared.active[i]!;
      losses[task] = k >= 0 ? lossValues[k]! : Number.NaN;
      reportedWeights[task] = k >= 0 ? weightValues[k]! : 0;
    });
    const warnings = [...(diagnostics?.warnings ?? [])];
    const solver = diagnostics?.solver;
    if (solver && !solver.converged) {
      warnings.push(
        `weighting '${this.weighting.name}': its solver stopped before converging at step ${this.stepCount} (residual ${solver.residual.toExponential(2)} after ${solver.iterations} iterations); the weights may be inexact`,
      );
    }
    if (problem) warnings.push(`${problem.what} at step ${this.stepCount}; step skipped`);
    return {
      step: this.stepCount,
      epoch,
      loss: objectiveValue,
      losses,
      weights: reportedWeights,
      active,
      diagnostics,
      warnings,
      skipped: problem !== null,
      skips: this.skipCount + (problem ? 1 : 0),
    };
  }

  /**
   * The first non-finite number of a step, described for the NON_FINITE_LOSS error or the skip
   * warning: a task loss (naming the tasks), else a task weight (naming the weighting and tasks),
   * else the objective, else the sum of the update's entries (NaN or Inf when any entry is).
   */
  private nonFiniteProblem(
    tasks: readonly string[],
    losses: readonly number[],
    weights: readonly number[] | null,
    objective: number,
    updateSum: number,
  ): { what: string; details: MtlErrorDetails } | null {
    const list = (names: string[]) => names.map((t) => `'${t}'`).join(', ');
    const badTasks = tasks.filter((_, k) => !Number.isFinite(losses[k]!));
    if (badTasks.length) {
      return { what: `non-finite loss for task${badTasks.length > 1 ? 's' : ''} ${list(badTasks)}`, details: { task: badTasks[0], tasks: badTasks } };
    }
    const badWeights = weights === null ? [] : tasks.filter((_, k) => !Number.isFinite(weights[k]!));
    if (!badWeights.length && Number.isFinite(objective) && Number.isFinite(updateSum)) return null;
    const what = badWeights.length
      ? `weighting '${this.weighting.name}' gave a non-finite weight for task ${list(badWeights)}`
      : !Number.isFinite(objective)
        ? `the weighted objective of weighting '${this.weighting.name}' is not finite`
        : 'the update (gradient) is not finite';
    return { what, details: { task: badWeights[0], tasks: badWeights, plugin: this.weighting.name } };
  }

  /** A skipped step: nothing applied, the weighting state kept; only the counters move. */
  private skipped(report: StepReport): StepReport {
    this.stepCount += 1;
    this.skipCount += 1;
    return report;
  }

  /**
   * Hands the update to the optimiser. Under plain SGD (exactly tf.train.sgd's class), variables
   * of one shape that come four or more to a step (the heads of 40 tasks) are updated as one:
   * their values and gradients joined along the first axis, v + (−lr)·g computed once, and the
   * result cut back and assigned. The arithmetic is SGD's own, element by element, so the values
   * are bit-identical; at 40 heads it runs 8 kernels (4 per shape) and two cuts in place of 160 kernels.
   */
  private applyUpdate(update: NamedTensorMap): void {
    const ordered = this.forOptimizer(update);
    const scale = Object.getPrototypeOf(this.optimizer) === tf.SGDOptimizer.prototype ? (this.optimizer as unknown as { c?: Tensor }).c : undefined;
    if (scale instanceof tf.Tensor && !scale.isDisposed) {
      const groups = new Map<string, string[]>();
      for (const [name, grad] of Object.entries(ordered)) {
        if (!(grad instanceof tf.Tensor) || grad.rank === 0 || grad.dtype !== 'float32') continue;
        const key = grad.shape.join(',');
        const group = groups.get(key);
        if (group) group.push(name);
        else groups.set(key, [name]);
      }
      const variables = tf.engine().registeredVariables;
      for (const names of groups.values()) {
        if (names.length < 4 || names.some((name) => !variables[name] || variables[name]!.dtype !== 'float32')) continue;
        tf.tidy(() => {
          const values = names.map((name) => variables[name]!);
          const next = tf.add(tf.mul(scale, tf.concat(names.map((name) => ordered[name]!), 0)), tf.concat(values, 0));
          sliceEqual(next, names.length, 0).forEach((part, i) => values[i]!.assign(part));
        });
        // Plain SGD keeps no slots, so leaving entries out here shifts nothing (see forOptimizer).
        for (const name of names) delete ordered[name];
      }
    }
    // The remaining variables; and SGD's iteration count, once per step as before.
    this.optimizer.applyGradients(ordered);
  }

  /**
   * The update as the optimiser must see it. tfjs optimisers keep their slots (Adam's moments,
   * momentum's velocity) by a variable's POSITION in the gradient map, not by its name, so every
   * step hands over every variable in one fixed order (`slots`), with `undefined` for a variable
   * without a gradient this step (an inactive task's head) or a frozen one: tfjs then leaves that
   * variable and its slots alone. Leaving such a variable out would shift the later variables onto
   * other variables' slots. Frozen entries' tensors are disposed by the caller.
   */
  private forOptimizer(update: NamedTensorMap): NamedTensorMap {
    for (const name of Object.keys(update)) {
      if (!this.slots.has(name)) this.slots.set(name, [...update[name]!.shape]);
    }
    const ordered: Record<string, Tensor | undefined> = {};
    for (const name of this.slots.keys()) ordered[name] = this.frozen.has(name) ? undefined : update[name];
    return ordered as NamedTensorMap;
  }

  /** Disposes the weighting's trainable parameters (`weightingParams`); the model and optimiser stay the caller's. */
  dispose(): void {
    Object.values(this.weightingParams).forEach((v) => v.dispose());
  }
}

/**
 * The sum of every entry of the update: NaN or ±Inf when any entry is (or when the finite entries
 * overflow float32, which is no usable update either). Updates of one rank whose shapes agree
 * past the first axis (40 heads' [128, 10] kernels, every bias) are joined along that axis without
 * a reshape each, so a step spends a few kernels here, not two per variable. Call in a tidy scope.
 */
export function updateTotal(updates: readonly Tensor[]): Tensor {
  const groups = new Map<string, Tensor[]>();
  for (const g of updates) {
    const key = `${g.rank}:${g.shape.slice(1).join(',')}`;
    const group = groups.get(key);
    if (group) group.push(g);
    else groups.set(key, [g]);
  }
  const sums = [...groups.values()].map((group) => (group.length === 1 ? tf.sum(group[0]!) : group[0]!.rank === 0 ? tf.addN(group) : tf.sum(tf.concat(group, 0))));
  return sums.length === 0 ? tf.scalar(0) : sums.length === 1 ? sums[0]! : tf.addN(sums);
}

/**
 * tfjs keeps the tensors a gradient tape saves for its backward pass outside every tidy scope,
 * and frees them only when that backward pass completes. A forward function that throws (a
 * plugin's combine() refusing its input, a model error) leaves them alive: this frees them. It
 * reads tfjs's engine state, which offers no public call for it; it does nothing while a tape is
 * still being recorded (gradientDepth > 0) or when there is none.
 */
function releaseAbandonedTape(): void {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number; activeTape?: { saved?: Tensor[] }[] | null } }).state;
  if (!state || state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) node.saved?.forEach((tensor) => tensor.dispose());
  state.activeTape = null;
}

function frozenVariableNames(model: MultiTaskModel, freeze: FreezeOptions | undefined): ReadonlySet<string> {
  const names = new Set<string>();
  if (!freeze) return names;
  if (freeze.shared) model.sharedVariables().forEach((v) => names.add(v.name));
  for (const task of freeze.tasks ?? []) {
    if (!model.taskNames.includes(task)) {
      throw new MtlError('BAD_CONFIG', `freeze.tasks names '${task}', which the model does not have; its tasks: ${model.taskNames.join(', ')}`, {
        task,
        available: [...model.taskNames],
      });
    }
    model.taskVariables(task).forEach((v) => names.add(v.name));
  }
  for (const name of freeze.except ?? []) names.delete(name);
  return names;
}

function mapFeatures(features: Features, fn: (t: Tensor) => Tensor): Features {
  if (features instanceof tf.Tensor) return fn(features);
  return Object.fromEntries(Object.entries(features).map(([key, t]) => [key, fn(t)]));
}

function addInto(target: NamedTensorMap, extra: NamedTensorMap | null, owned: Tensor[]): void {
  if (!extra) return;
  for (const [name, grad] of Object.entries(extra)) {
    owned.push(grad);
    const existing = target[name];
    if (existing) {
      const sum = tf.add(existing, grad);
      owned.push(sum);
      target[name] = sum;
    } else target[name] = grad;
  }
}

function checkWeightCount(plugin: string, weights: Tensor1D | readonly number[] | undefined, count: number): void {
  const size = weights instanceof tf.Tensor ? weights.size : Array.isArray(weights) ? weights.length : -1;
  if (size !== count) {
    throw new MtlError('BAD_CONFIG', `weighting '${plugin}' returned ${size < 0 ? 'no' : size} weights for ${count} active tasks`, {
      plugin,
      expected: count,
      received: size,
    });
  }
  if (Array.isArray(weights) && !weights.every((w) => typeof w === 'number')) {
    throw new MtlError('BAD_CONFIG', `weighting '${plugin}' returned weights that are not all numbers: ${JSON.stringify(weights)}`, { plugin, received: weights });
  }
}

function resolveSite(weighting: Weighting, requested: GradientSite | undefined): GradientSite | null {
  if (!weighting || typeof weighting !== 'object' || !['loss', 'gramian', 'jacobian'].includes((weighting as Weighting).level)) {
    throw new MtlError('BAD_CONFIG', `a weighting must have level 'loss', 'gramian' or 'jacobian'`, {
      plugin: (weighting as Weighting | undefined)?.name,
    });
  }
  if (weighting.level === 'loss') {
    if (requested !== undefined) {
      throw new MtlError('UNSUPPORTED_SITE', `weighting '${weighting.name}' works on losses; it takes no gradient site (got '${requested}')`, {
        plugin: weighting.name,
      });
    }
    return null;
  }
  const sites = weighting.sites as readonly GradientSite[];
  if (weighting.level === 'jacobian' && sites.includes('last-shared')) {
    throw new MtlError('BAD_CONFIG', `Jacobian weighting '${weighting.name}' declares site 'last-shared', which Jacobian rules cannot use`, {
      plugin: weighting.name,
    });
  }
  const site = requested ?? sites[0];
  if (!site || !sites.includes(site)) {
    throw new MtlError(
      'UNSUPPORTED_SITE',
      `weighting '${weighting.name}' does not support site '${String(site)}'; it supports: ${sites.join(', ')}`,
      { plugin: weighting.name, available: sites, received: site },
    );
  }
  return site;
}

