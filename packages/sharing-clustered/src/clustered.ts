import { API_VERSION, checkOptions, MtlError, type Batch, type BuildOptions, type ModelSpec, type SharingStrategy } from '@mtljs/core';
import { AffinityWarmup, checkPositive, checkTrainingOptions, DEFAULT_GROUP_COUNT, type AffinityTrainingOptions } from './affinity';
import { checkGroups, checkTasks, ClusteredModel, type ClusteredMultiTaskModel } from './model';

const NAME = 'clustered';
const WHERE = `sharing '${NAME}'`;

/** A warm-up run synchronously inside build(). */
export interface WarmupOptions extends AffinityTrainingOptions {
  /** Batches of the warm-up; they stay the caller's to dispose. */
  batches: Batch[];
  /** Warm-up steps, cycling through `batches` (default batches.length: one pass). */
  steps?: number;
}

/** Options of `clustered`: explicit groups, or a warm-up that measures task affinity and groups by it. */
export interface ClusteredOptions {
  /**
   * Explicit groups of task names (`[['a', 'b'], ['c']]`: no warm-up), or, with `warmup`, the
   * maximum number of groups k (default 2).
   */
  groups?: number | string[][];
  /** Measure the affinity in build() on these batches, then group the tasks. */
  warmup?: WarmupOptions;
}

function checkClusteredOptions(options: ClusteredOptions): void {
  checkOptions(WHERE, options, ['groups', 'warmup']);
  const { groups, warmup } = options;
  if (groups !== undefined && typeof groups !== 'number') {
    const shapeOk = Array.isArray(groups) && groups.every((members) => Array.isArray(members) && members.every((task) => typeof task === 'string'));
    if (!shapeOk) {
      throw new MtlError('BAD_CONFIG', `${WHERE}: option 'groups' must be a number of groups or an array of task-name arrays, got ${JSON.stringify(groups)}`, {
        option: 'groups',
      });
    }
  }
  if (typeof groups === 'number') checkPositive(WHERE, 'groups', groups, true);
  if (warmup !== undefined) {
    const where = `${WHERE}: option 'warmup'`;
    if (typeof warmup !== 'object' || warmup === null || Array.isArray(warmup)) {
      throw new MtlError('BAD_CONFIG', `${where} must be an object { batches, steps?, optimizer?, learningRate?, lookaheadRate? }`, { option: 'warmup' });
    }
    checkOptions(where, warmup, ['batches', 'steps', 'optimizer', 'learningRate', 'lookaheadRate']);
    if (!Array.isArray(warmup.batches) || warmup.batches.length === 0) {
      throw new MtlError('BAD_CONFIG', `${where}: 'batches' must be a non-empty array of batches`, { option: 'warmup.batches' });
    }
    checkPositive(where, 'steps', warmup.steps, true);
    checkTrainingOptions(where, warmup);
    if (Array.isArray(groups)) {
      throw new MtlError('BAD_CONFIG', `${WHERE}: give either explicit 'groups' (task-name arrays) or a 'warmup' that finds them, not both`, { option: 'groups' });
    }
  }
}

/**
 * Task clustering (Fifty et al. 2021, "Efficiently Identifying Task Groupings for Multi-Task
 * Learning"): tasks are grouped by their lookahead inter-task affinity, measured during a short
 * warm-up of a one-group model, then each group gets hard sharing: one encoder per group, one
 * head per task on its group's encoder. Shared variables: every group's encoder; last shared
 * layer: each encoder's last layer; features: `{ group0, group1, … }`; task variables: the head.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from '@mtljs/core';
 * import { clustered } from '@mtljs/sharing-clustered';
 *
 * declare const spec: ModelSpec; // the tasks, input shape, encoder and heads
 * const model = clustered().build(spec, { seed: 1 });
 * ```
 */
export function clustered(options: ClusteredOptions = {}): SharingStrategy {
  checkClusteredOptions(options);
  return {
    kind: 'sharing',
    name: NAME,
    apiVersion: API_VERSION,
    configure: (next: Record<string, unknown>) => clustered(next as ClusteredOptions),
    build(spec: ModelSpec, buildOptions: BuildOptions): ClusteredMultiTaskModel {
      checkTasks(spec?.tasks);
      const seed = buildOptions?.seed ?? 0;
      const taskNames = spec.tasks.map((task) => task.name);
      if (Array.isArray(options.groups)) {
        checkGroups(options.groups, taskNames);
        return new ClusteredModel(spec, options.groups, seed);
      }
      const warmupOptions = options.warmup;
      if (!warmupOptions) {
        throw new MtlError(
          'BAD_CONFIG',
          `${WHERE} needs 'groups' as task-name arrays, or a 'warmup' ({ batches }) to find them; measureTaskAffinity(spec, source) finds them from a DataSource`,
          { option: 'groups' },
        );
      }
      const warmup = new AffinityWarmup(spec, seed, warmupOptions);
      let report;
      try {
        const steps = warmupOptions.steps ?? warmupOptions.batches.length;
        for (let step = 0; step < steps; step++) warmup.observe(warmupOptions.batches[step % warmupOptions.batches.length]!);
        report = warmup.result(typeof options.groups === 'number' ? options.groups : DEFAULT_GROUP_COUNT);
      } finally {
        warmup.dispose();
      }
      return new ClusteredModel(spec, report.groups, seed, report);
    },
  };
}
