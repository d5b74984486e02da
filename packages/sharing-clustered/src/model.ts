import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs-core';
import {
  buildHead,
  buildModule,
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
  type TaskSpec, checkTaskSpecs, singleInput
} from '@mtljs/core';

/** What the warm-up measured, when the grouping came from one. */
export interface ClusteringReport {
  /** Tasks in the order of the affinity's rows and columns (the spec's order). */
  taskNames: string[];
  /** affinity[i][j] = Ẑ_{i→j}: mean over warm-up steps of 1 − L_j(θ′_{s|i}) / L_j(θ_s). */
  affinity: number[][];
  /** Steps at which both i and j were active (the denominators of the means). */
  pairSteps: number[][];
  /** The chosen groups (task names). */
  groups: string[][];
  /** Fifty et al.'s criterion of the chosen groups: Σ_i mean_{j ∈ group(i), j ≠ i} Ẑ_{j→i}. */
  score: number;
  /** Warm-up optimiser steps taken. */
  steps: number;
  /** How the groups were chosen: over every partition ('exhaustive', T ≤ 10 tasks) or by local search (more tasks). */
  search: 'exhaustive' | 'local-search';
}

/** A task-clustered model: hard sharing within each group of tasks. */
export interface ClusteredMultiTaskModel extends MultiTaskModel {
  /** Task names per group; group g's id (its features key) is `group${g}`. */
  readonly groups: readonly (readonly string[])[];
  /** The groups' ids in the order of `groups`: 'group0', 'group1', …; each keys the group's features. */
  readonly groupIds: readonly string[];
  /** The warm-up's affinity matrix (see {@link ClusteringReport}), or null for explicit groups. */
  readonly affinity: number[][] | null;
  /** Everything the warm-up measured, or null for explicit groups. */
  readonly clustering: ClusteringReport | null;
  /** The id of a task's group. */
  groupOf(task: string): string;
  /** A new head on the encoder of `options.group` (required when there are several groups). */
  addTask(task: TaskSpec, options: AddTaskOptions): void;
}

/** Options of `ClusteredMultiTaskModel.addTask`: the build options (`seed` of the new head, default 0) and the group. */
export interface AddTaskOptions extends BuildOptions {
  /** The group id ('group0', …) whose encoder the new task's head reads. */
  group?: string;
}

export function checkTasks(tasks: readonly TaskSpec[]): void {
  checkTaskSpecs("sharing 'clustered'", tasks);
}

/** Explicit groups must cover the spec's tasks exactly once each, with no empty group. */
export function checkGroups(groups: readonly (readonly string[])[], taskNames: readonly string[]): void {
  const where = "sharing 'clustered': option 'groups'";
  if (!Array.isArray(groups) || groups.length === 0) throw new MtlError('BAD_CONFIG', `${where} must be a non-empty array of task-name arrays`, { option: 'groups' });
  const placed = new Map<string, number>();
  groups.forEach((members, g) => {
    if (!Array.isArray(members) || members.length === 0) {
      throw new MtlError('BAD_CONFIG', `${where}: group ${g} is empty; every group needs at least one task`, { option: 'groups' });
    }
    for (const task of members) {
      if (typeof task !== 'string' || !taskNames.includes(task)) {
        throw new MtlError('BAD_CONFIG', `${where} names task '${String(task)}', which the spec does not have; its tasks: ${taskNames.join(', ')}`, {
          option: 'groups',
          task: String(task),
          available: [...taskNames],
        });
      }
      if (placed.has(task)) {
        throw new MtlError('BAD_CONFIG', `${where} puts task '${task}' in groups ${placed.get(task)} and ${g}; each task belongs to one group`, { option: 'groups', task });
      }
      placed.set(task, g);
    }
  });
  const missing = taskNames.filter((task) => !placed.has(task));
  if (missing.length) {
    throw new MtlError('BAD_CONFIG', `${where} leaves task${missing.length > 1 ? 's' : ''} ${missing.map((t) => `'${t}'`).join(', ')} in no group`, {
      option: 'groups',
      task: missing[0],
    });
  }
}

/**
 * Hard sharing within each group: group g has its own encoder (built from `spec.encoder`), and
 * each task a head on its group's encoder. Features: `{ group0: [N, …], group1: … }`.
 */
export class ClusteredModel implements ClusteredMultiTaskModel {
  tasks: readonly TaskSpec[];
  taskNames: readonly string[];
  groups: string[][];
  readonly groupIds: readonly string[];
  readonly affinity: number[][] | null;
  readonly clustering: ClusteringReport | null;
  private readonly encoders: LayerModule[];
  private readonly heads = new Map<string, LayerModule>();
  private readonly groupIndex = new Map<string, number>();
  private readonly inputShape: readonly number[];
  private readonly featureShape: number[];
  private readonly head: ModelSpec['head'];
  private readonly scope: string;

  /** `groups` must already be checked against the spec (checkGroups). */
  constructor(spec: ModelSpec, groups: readonly (readonly string[])[], seed: number, clustering: ClusteringReport | null = null) {
    checkTasks(spec.tasks);
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.groups = groups.map((members) => [...members]);
    this.groupIds = this.groups.map((_, g) => `group${g}`);
    this.groups.forEach((members, g) => members.forEach((task) => this.groupIndex.set(task, g)));
    this.affinity = clustering ? clustering.affinity.map((row) => [...row]) : null;
    this.clustering = clustering;
    this.inputShape = [...spec.inputShape];
    this.head = spec.head;
    this.scope = uniqueScope('clustered');
    const rng = Rng.fromSeed(seed);
    this.encoders = [];
    try {
      for (const id of this.groupIds) {
        this.encoders.push(
          buildModule(spec.encoder, {
            inputShape: this.inputShape,
            rng,
            scope: `${this.scope}/${id}/encoder`,
            what: `sharing 'clustered': encoder of ${id}`,
            allowInstance: false,
          }),
        );
      }
      this.featureShape = this.encoders[0]!.outputShape(this.inputShape);
      for (const task of this.tasks) this.heads.set(task.name, this.buildHead(task, rng));
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  private buildHead(task: TaskSpec, rng: Rng): LayerModule {
    return buildHead(this.head, {
      featureShape: this.featureShape,
      units: task.units,
      rng,
      scope: `${this.scope}/head/${task.name}`,
      what: `sharing 'clustered': head of task '${task.name}'`,
    });
  }

  groupOf(task: string): string {
    const g = this.groupIndex.get(task);
    if (g === undefined) throw new MtlError('BAD_CONFIG', `sharing 'clustered': no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return this.groupIds[g]!;
  }

  /**
   * A new task in an existing group: a fresh head (seeded by `options.seed`) on that group's
   * encoder; no other variable changes. The affinity and clustering reports stay as measured.
   */
  addTask(task: TaskSpec, options: AddTaskOptions): void {
    checkTasks([...this.tasks, task]);
    let group = options?.group;
    if (group === undefined) {
      if (this.groupIds.length !== 1) {
        throw new MtlError('BAD_CONFIG', `sharing 'clustered': addTask('${task.name}') needs options.group, one of ${this.groupIds.join(', ')}`, {
          task: task.name,
          option: 'group',
          available: [...this.groupIds],
        });
      }
      group = this.groupIds[0]!;
    }
    const g = this.groupIds.indexOf(group);
    if (g < 0) {
      throw new MtlError('BAD_CONFIG', `sharing 'clustered': addTask('${task.name}'): no group '${group}'; groups: ${this.groupIds.join(', ')}`, {
        task: task.name,
        option: 'group',
        available: [...this.groupIds],
      });
    }
    const head = this.buildHead(task, Rng.fromSeed(options?.seed ?? 0));
    this.heads.set(task.name, head);
    this.groupIndex.set(task.name, g);
    this.groups[g]!.push(task.name);
    this.tasks = [...this.tasks, { ...task }];
    this.taskNames = this.tasks.map((t) => t.name);
  }

  encode(inputs: Inputs, options: ApplyOptions): Features {
    const x = singleInput(inputs, "sharing 'clustered' takes one input tensor");
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `sharing 'clustered': inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    return Object.fromEntries(this.encoders.map((encoder, g) => [this.groupIds[g]!, encoder.apply(x, options)]));
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (features instanceof tf.Tensor || typeof features !== 'object' || features === null) {
      throw new MtlError('BAD_DATA', `sharing 'clustered': features must be a record keyed by group id (${this.groupIds.join(', ')})`);
    }
    const outputs: Record<string, Tensor> = {};
    for (const name of tasks ?? this.taskNames) {
      const head = this.heads.get(name);
      if (!head) throw new MtlError('BAD_CONFIG', `sharing 'clustered': no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
      const id = this.groupIds[this.groupIndex.get(name)!]!;
      const groupFeatures = features[id];
      if (!(groupFeatures instanceof tf.Tensor)) {
        throw new MtlError('BAD_DATA', `sharing 'clustered': features have no tensor '${id}' for task '${name}'`, { task: name });
      }
      outputs[name] = head.apply(groupFeatures, options);
    }
    return outputs;
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  sharedVariables(): Variable[] {
    return this.encoders.flatMap((encoder) => encoder.variables());
  }

  lastSharedVariables(): Variable[] {
    return this.encoders.flatMap((encoder) => encoder.lastLayerVariables());
  }

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `sharing 'clustered': no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return head.variables();
  }

  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      ...Object.fromEntries(this.encoders.map((encoder, g) => [`${this.groupIds[g]}/encoder`, encoder.variables()])),
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
    for (const encoder of this.encoders) encoder.dispose?.();
    for (const head of this.heads.values()) head.dispose?.();
  }
}
