import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import {
  MtlError,
  Rng,
  Trainer,
  type Batch,
  type GradientSite,
  type ModelSpec,
  type SharingStrategy,
  type StepReport,
  type TaskSpec,
  type Weighting,
} from '@mtljs/core';
import { ConformanceError, messageOf } from './errors';
import { jsonRoundTripProblem } from './json';
import { checkNoLeak } from './leak';
import { defaultSharingSpec } from './spec';

/** Options of `trainerSmokeCheck`. */
export interface TrainerSmokeOptions<Spec extends ModelSpec = ModelSpec> {
  /** Sites to train at (gradient-level weightings; default: every site the weighting declares). */
  sites?: GradientSite[];
  /** The model (default: the sharing check's default spec). */
  spec?: Spec;
  /** Counted steps after the warm-up step (default 20). */
  steps?: number;
  /** SGD learning rate (default 0.05). */
  learningRate?: number;
  /** Seed of the model, the batch and the trainer (default 0). */
  seed?: number;
  /** Examples in the fixed batch (default 16). */
  batchSize?: number;
}

/** One training run of `trainerSmokeCheck`, at one site. */
export interface TrainerSmokeRun {
  /** null for a loss-level weighting. */
  site: GradientSite | null;
  /** Counted steps after the warm-up step (`options.steps`). */
  steps: number;
  /** Σ_t L_t (raw task losses) at the warm-up step and at the last step. */
  firstLoss: number;
  /** Σ_t L_t (raw task losses) at the last step; below `firstLoss`. */
  lastLoss: number;
}

/** What `trainerSmokeCheck` checked when every assertion held. */
export interface TrainerSmokeReport {
  /** The sharing strategy's name. */
  sharing: string;
  /** The weighting's name. */
  weighting: string;
  /** One run per site trained (one with `site: null` for a loss-level weighting). */
  runs: TrainerSmokeRun[];
  /** One sentence per assertion made, for a test's log. */
  checks: string[];
}

/**
 * Trains `strategy` × `weighting` with the core Trainer and plain SGD on one fixed batch, at each
 * requested site: every loss stays finite, the summed task loss goes down, nothing leaks after
 * the warm-up step, the weighting state stays JSON, and disposing the trainer and the model frees
 * everything. A smoke test of the plugin inside the real engine, not a convergence benchmark.
 *
 * @throws `ConformanceError` (check `'build'`, `'trainer'`, `'step'`, `'leak'`, `'finite'`,
 * `'state-json'`, `'dispose'` or `'decrease'`) at the first failure; MtlError `BAD_CONFIG` when
 * `sites` is given for a loss-level weighting or names a site the weighting does not declare.
 */
export async function trainerSmokeCheck<Spec extends ModelSpec = ModelSpec>(
  strategy: SharingStrategy<Spec>,
  weighting: Weighting<any>,
  options: TrainerSmokeOptions<Spec> = {},
): Promise<TrainerSmokeReport> {
  const subject = `trainer smoke (sharing '${strategy?.name}', weighting '${weighting?.name}')`;
  const fail = (check: string, message: string, cause?: unknown): never => {
    throw new ConformanceError(subject, check, message, cause === undefined ? undefined : { cause });
  };
  const spec = options.spec ?? (defaultSharingSpec() as Spec);
  const steps = options.steps ?? 20;
  const learningRate = options.learningRate ?? 0.05;
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize ?? 16;

  let sites: (GradientSite | null)[];
  if (weighting.level === 'loss') {
    if (options.sites?.length) throw new MtlError('BAD_CONFIG', `trainerSmokeCheck: weighting '${weighting.name}' works on losses; it takes no sites`);
    sites = [null];
  } else {
    const declared = weighting.sites as readonly GradientSite[];
    const unsupported = (options.sites ?? []).filter((site) => !declared.includes(site));
    if (unsupported.length) {
      throw new MtlError('BAD_CONFIG', `trainerSmokeCheck: weighting '${weighting.name}' does not declare site ${unsupported.join(', ')}; it supports ${declared.join(', ')}`);
    }
    sites = [...(options.sites ?? declared)];
  }

  const runs: TrainerSmokeRun[] = [];
  const batch = fixedBatch(spec, batchSize, Rng.fromSeed(seed));
  try {
    for (const site of sites) {
      const at = site === null ? '' : ` at site '${site}'`;
      const before = tf.memory().numTensors;
      let model;
      try {
        model = strategy.build(spec, { seed });
      } catch (error) {
        return fail('build', `build() threw: ${messageOf(error)}`, error);
      }
      const reports: StepReport[] = [];
      let trainer: Trainer | undefined;
      try {
        try {
          trainer = new Trainer({ model, weighting, site: site ?? undefined, optimizer: { name: 'sgd', learningRate }, seed });
        } catch (error) {
          fail('trainer', `the Trainer refused the pair${at}: ${messageOf(error)}`, error);
        }
        try {
          await checkNoLeak(() => void reports.push(trainer!.step(batch)), { steps, warmup: 1, label: `${subject}${at}` });
        } catch (error) {
          // checkNoLeak reports a leak itself; a step that threw arrives wrapped, with the cause.
          if (error instanceof ConformanceError && error.cause === undefined) throw error;
          const cause = error instanceof ConformanceError ? error.cause : error;
          fail('step', `training${at} failed at step ${reports.length}: ${messageOf(cause)}`, cause);
        }
        for (const report of reports) {
          const bad = Object.entries(report.losses).filter(([task, loss]) => report.active[task] && !Number.isFinite(loss));
          if (bad.length || !Number.isFinite(report.loss)) {
            fail('finite', `step ${report.step}${at}: non-finite loss (objective ${report.loss}; ${bad.map(([t, l]) => `${t}: ${l}`).join(', ')})`);
          }
        }
        const issue = jsonRoundTripProblem(trainer!.engine.weightingState, 'state');
        if (issue) fail('state-json', `after training${at} the weighting state is not JSON: ${issue}`);
      } finally {
        trainer?.dispose();
        model.dispose();
      }
      const left = tf.memory().numTensors - before;
      if (left !== 0) {
        fail('dispose', `${left} tensor${left === 1 ? '' : 's'} still alive after disposing the trainer and the model${at} (weighting parameters or optimiser state not freed?)`);
      }
      const total = (report: StepReport) => Object.values(report.losses).reduce((sum, loss) => sum + loss, 0);
      const firstLoss = total(reports[0]!);
      const lastLoss = total(reports[reports.length - 1]!);
      if (!(lastLoss < firstLoss)) {
        fail(
          'decrease',
          `the summed task loss did not decrease over ${steps} SGD steps${at} (lr ${learningRate}): ${firstLoss.toPrecision(5)} → ${lastLoss.toPrecision(5)}; ` +
            `weights at the last step: ${JSON.stringify(reports[reports.length - 1]!.weights)}`,
        );
      }
      runs.push({ site, steps, firstLoss, lastLoss });
    }
  } finally {
    disposeBatch(batch);
  }
  const where = sites[0] === null ? 'the loss level' : `site${sites.length === 1 ? '' : 's'} ${sites.join(', ')}`;
  return {
    sharing: strategy.name,
    weighting: weighting.name,
    runs,
    checks: [
      `Trainer with SGD (lr ${learningRate}) for 1 + ${steps} steps on a fixed batch of ${batchSize}, at ${where}`,
      'every step: finite task losses and objective',
      'the summed task loss at the last step is below the one at the first step',
      `no tensor leak over ${steps} steps after 1 warm-up step`,
      'the weighting state after training survives a JSON round trip',
      'trainer.dispose() and model.dispose() return tf.memory().numTensors to its count before build()',
    ],
  };
}

/**
 * Inputs from N(0, 1) and targets from a random linear teacher per task, so every task can be
 * learnt: regression values, the argmax class, the sign (binary) or the signs (multilabel).
 */
export function fixedBatch(spec: ModelSpec, batchSize: number, rng: Rng): Batch {
  const inputSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const x = Array.from({ length: batchSize }, () => Array.from({ length: inputSize }, () => rng.normal()));
  const targets: Record<string, Tensor> = {};
  for (const task of spec.tasks) targets[task.name] = teacherTargets(task, x, rng);
  return { inputs: tf.tensor(x.flat(), [batchSize, ...spec.inputShape]), targets };
}

function teacherTargets(task: TaskSpec, x: number[][], rng: Rng): Tensor {
  const width = task.kind === 'binary' ? 1 : task.units;
  const teacher = Array.from({ length: x[0]!.length }, () => Array.from({ length: width }, () => rng.normal() / Math.sqrt(x[0]!.length)));
  const scores = x.map((row) => teacher[0]!.map((_, j) => row.reduce((sum, value, k) => sum + value * teacher[k]![j]!, 0)));
  switch (task.kind) {
    case 'regression':
      return tf.tensor2d(scores);
    case 'multiclass':
      return tf.tensor1d(scores.map((s) => s.indexOf(Math.max(...s))));
    case 'binary':
      return tf.tensor1d(scores.map((s) => (s[0]! > 0 ? 1 : 0)));
    case 'multilabel':
      return tf.tensor2d(scores.map((s) => s.map((v) => (v > 0 ? 1 : 0))));
    default:
      throw new MtlError('BAD_CONFIG', `trainerSmokeCheck: unknown task kind '${String(task.kind)}' for task '${task.name}'`);
  }
}

export function disposeBatch(batch: Batch): void {
  (batch.inputs as Tensor).dispose();
  Object.values(batch.targets).forEach((t) => t?.dispose());
}
