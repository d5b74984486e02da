import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  equalWeighting,
  MtlError,
  Trainer,
  type Backend,
  type Batch,
  type GradientSite,
  type GramianWeighting,
  type JacobianWeighting,
  type ModelSpec,
  type MultiTaskModel,
  type OptimizerSpec,
  type SharingStrategy,
  type StepReport,
  type TaskSpec,
  type Weighting,
} from '@mtljs/core';
import { ConformanceError, messageOf } from './errors';
import { tinySharing } from './test-fixtures';

/** One training configuration run on every backend. */
export interface BackendConformanceCase {
  /** The weighting to train with, of any level. */
  weighting: Weighting<any>;
  /** Gradient site (gradient-level weightings; default: the weighting's first site). */
  site?: GradientSite;
  /** Names the case in reports and errors (default: the weighting's name and the site). */
  label?: string;
}

/** Options of `checkBackendConformance`; only `backends` is required. */
export interface BackendConformanceOptions {
  /** The backends to compare, the reference among them. Unavailable ones are skipped, with the reason. */
  backends: readonly Backend[];
  /** Name of the backend the others are compared with (default 'cpu'). */
  reference?: string;
  /** Backends that must run: a ConformanceError instead of a skip when one is unavailable (e.g. under CI). */
  required?: readonly string[];
  /** What to train (default {@link defaultBackendCases}). */
  weightings?: readonly (BackendConformanceCase | Weighting<any>)[];
  /** Optimiser steps per case and backend (default 3). */
  steps?: number;
  /** Largest absolute difference allowed on any compared number (default 1e-4). */
  tolerance?: number;
  /**
   * The sharing strategy to build the model with (default: testkit's `'tiny'` hard-sharing model:
   * the spec's MLP encoder and one linear head per task).
   */
  strategy?: SharingStrategy<any>;
  /** The model spec (default {@link defaultBackendSpec}: a regression, a multiclass and a binary task); any task kind is accepted. */
  spec?: ModelSpec;
  /** Examples in the fixed batch (default 12). */
  batchSize?: number;
  /** By name, since every run needs a fresh one (default SGD with learning rate 0.1). */
  optimizer?: Exclude<OptimizerSpec, tf.Optimizer>;
  /** Seed of the model and the trainer (default 3). */
  seed?: number;
}

/** Largest |backend − reference| over all steps, per quantity. */
export interface BackendDifferences {
  /** The objective the step reports. */
  objective: number;
  /** Per-task losses. */
  losses: number;
  /** Per-task weights the weighting reported. */
  weights: number;
  /** Every model variable and weighting parameter, after each step. */
  variables: number;
}

/** One backend and case compared with the reference, all within `tolerance`. */
export interface BackendConformanceRun {
  /** Name of the backend compared. */
  backend: string;
  /** Label of the case (`BackendConformanceCase.label` or its default). */
  case: string;
  /** Largest |backend − reference| over all steps, per quantity. */
  maxAbsDifference: BackendDifferences;
}

/** What `checkBackendConformance` compared when every backend that ran agreed with the reference. */
export interface BackendConformanceReport {
  /** Name of the reference backend. */
  reference: string;
  /** Backends that ran, the reference first. */
  ran: string[];
  /** Backends not available here (and not `required`), with the reason their `isAvailable()` gave. */
  skipped: {
    /** Name of the backend skipped. */
    backend: string;
    /** Why it is not available (or why its availability check threw). */
    reason: string;
  }[];
  /** Largest absolute difference that was allowed. */
  tolerance: number;
  /** Optimiser steps per case and backend. */
  steps: number;
  /** Labels of the cases trained, in order. */
  cases: string[];
  /** One entry per compared backend and case (the reference has none). */
  runs: BackendConformanceRun[];
  /** One sentence per assertion made, for a test's log. */
  checks: string[];
}

/**
 * Three tasks (`a` regression with 1 unit, `b` multiclass with 3 classes, `c` binary) on an
 * 8-feature input and a 16→8 MLP encoder.
 */
export function defaultBackendSpec(): ModelSpec {
  return {
    tasks: [
      { name: 'a', kind: 'regression', units: 1 },
      { name: 'b', kind: 'multiclass', units: 3 },
      { name: 'c', kind: 'binary', units: 1 },
    ],
    inputShape: [8],
    encoder: { type: 'mlp', units: [16, 8] },
  };
}

/**
 * w_t = 1 / √G_tt: every task's gradient scaled to unit norm. Its weights are a smooth function
 * of G's diagonal, so a backend whose Gramian differs shows it in the reported weights.
 */
function unitNormWeighting(): GramianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'testkit-unit-norm',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features', 'last-shared'],
    init: () => null,
    weigh(gramian, _losses, state) {
      return { weights: gramian.arraySync().map((row, t) => 1 / Math.sqrt(Math.max(row[t]!, 1e-12))), state };
    },
  };
}

/** The mean of J's rows, update = Σ_t J_t / T (weights 1/T): a Jacobian rule that is linear. */
function rowMeanWeighting(): JacobianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'testkit-row-mean',
    apiVersion: API_VERSION,
    level: 'jacobian',
    sites: ['shared', 'features'],
    init: () => null,
    aggregate(jacobian, _losses, state) {
      const tasks = jacobian.shape[0];
      return { update: tf.mean(jacobian, 0) as Tensor1D, weights: new Array<number>(tasks).fill(1 / tasks), state };
    },
  };
}

/**
 * One weighting per level: equal weighting (loss level), unit-norm Gramian weights at 'shared',
 * and the Jacobian row mean at 'shared' and at 'features'.
 */
export function defaultBackendCases(): BackendConformanceCase[] {
  return [
    { weighting: equalWeighting(), label: 'equal weighting (loss level)' },
    { weighting: unitNormWeighting(), site: 'shared', label: "Gramian w_t = 1/√G_tt at 'shared'" },
    { weighting: rowMeanWeighting(), site: 'shared', label: "Jacobian row mean at 'shared'" },
    { weighting: rowMeanWeighting(), site: 'features', label: "Jacobian row mean at 'features'" },
  ];
}

interface Trace {
  /** Per step. */
  objective: number[];
  losses: number[][];
  weights: number[][];
  /** Per step, per variable (in getWeights() order, then the weighting's parameters). */
  variables: Float32Array[][];
  variableNames: string[];
}

/**
 * Trains the same seeded model, on the same batch, with the same weightings on every available
 * backend, and compares each with the reference (cpu by default): the objective, the per-task
 * losses and weights the trainer reports, and every variable it updates (model and weighting
 * parameters), after each step. Throws a ConformanceError naming the backend, the case, the step
 * and the quantity at the first difference above `tolerance`; returns the largest differences
 * otherwise. The backend current before the call is current again after it.
 *
 * @throws `ConformanceError` at the first difference above `tolerance` (check `'objective'`,
 * `'losses'`, `'weights'` or `'variables'`), when the reference or a `required` backend is not
 * available (`'reference'`, `'required'`), or when a backend fails to activate or train
 * (`'activate'`, `'run'`); MtlError `BAD_CONFIG` for `steps` that is not a positive integer, a
 * negative `tolerance`, a backend given twice, or a reference or required backend not among
 * `backends`.
 */
export async function checkBackendConformance(options: BackendConformanceOptions): Promise<BackendConformanceReport> {
  const backends = options?.backends ?? [];
  const referenceName = options.reference ?? 'cpu';
  const steps = options.steps ?? 3;
  const tolerance = options.tolerance ?? 1e-4;
  const spec = options.spec ?? defaultBackendSpec();
  const strategy = options.strategy ?? tinySharing();
  const batchSize = options.batchSize ?? 12;
  const optimizer: Exclude<OptimizerSpec, tf.Optimizer> = options.optimizer ?? { name: 'sgd', learningRate: 0.1 };
  const seed = options.seed ?? 3;
  const cases = (options.weightings ?? defaultBackendCases()).map(toCase);

  if (!Number.isInteger(steps) || steps < 1) throw new MtlError('BAD_CONFIG', `checkBackendConformance: steps must be a positive integer, got ${steps}`);
  if (!(tolerance >= 0)) throw new MtlError('BAD_CONFIG', `checkBackendConformance: tolerance must be a number ≥ 0, got ${tolerance}`);
  const names = backends.map((backend) => backend.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new MtlError('BAD_CONFIG', `checkBackendConformance: backend '${duplicate}' is given twice`);
  const reference = backends.find((backend) => backend.name === referenceName);
  if (!reference) {
    throw new MtlError(
      'BAD_CONFIG',
      `checkBackendConformance: the reference backend '${referenceName}' is not among the backends given (${names.join(', ') || 'none'}); add it (e.g. cpuBackend() from @mtljs/backend-cpu) or pass { reference }`,
      { available: names },
    );
  }
  const unknownRequired = (options.required ?? []).filter((name) => !names.includes(name));
  if (unknownRequired.length) throw new MtlError('BAD_CONFIG', `checkBackendConformance: required backend ${unknownRequired.join(', ')} is not among the backends given (${names.join(', ')})`);

  const ran: Backend[] = [];
  const skipped: { backend: string; reason: string }[] = [];
  for (const backend of [reference, ...backends.filter((b) => b !== reference)]) {
    let status: { available: boolean; reason: string };
    try {
      status = await backend.isAvailable();
    } catch (error) {
      status = { available: false, reason: `availability check failed: ${messageOf(error)}` };
    }
    if (status.available) {
      ran.push(backend);
      continue;
    }
    const subject = `backend '${backend.name}'`;
    if (backend === reference) throw new ConformanceError(subject, 'reference', `the reference backend is not available here: ${status.reason}`);
    if (options.required?.includes(backend.name)) throw new ConformanceError(subject, 'required', `required, but not available here: ${status.reason}`);
    skipped.push({ backend: backend.name, reason: status.reason });
  }

  // Unset (undefined) until a backend is first chosen.
  const previous = (tf.engine() as unknown as { backendName?: string | null }).backendName;
  const runs: BackendConformanceRun[] = [];
  try {
    for (const testCase of cases) {
      const label = testCase.label ?? `${testCase.weighting.name}${testCase.site ? ` at '${testCase.site}'` : ''}`;
      const config = { testCase, label, spec, strategy, batchSize, optimizer, seed, steps };
      const expected = await trace(reference, config);
      for (const backend of ran.slice(1)) {
        const actual = await trace(backend, config);
        runs.push({ backend: backend.name, case: label, maxAbsDifference: compare(backend.name, referenceName, label, expected, actual, spec.tasks, tolerance) });
      }
    }
  } finally {
    if (previous) await tf.setBackend(previous);
  }
  return {
    reference: referenceName,
    ran: ran.map((backend) => backend.name),
    skipped,
    tolerance,
    steps,
    cases: cases.map((c) => c.label ?? c.weighting.name),
    runs,
    checks: [
      `for each case, ${steps} steps of ${optimizer.name} on a fixed batch of ${batchSize}, model '${strategy.name}' built with seed ${seed}, on each backend`,
      `after every step: the objective, per-task losses and weights within ${tolerance} of '${referenceName}'`,
      `after every step: every model variable and weighting parameter within ${tolerance} of '${referenceName}'`,
    ],
  };
}

function toCase(entry: BackendConformanceCase | Weighting<any>): BackendConformanceCase {
  return 'kind' in entry && entry.kind === 'weighting' ? { weighting: entry } : (entry as BackendConformanceCase);
}

interface TraceConfig {
  testCase: BackendConformanceCase;
  label: string;
  spec: ModelSpec;
  strategy: SharingStrategy<any>;
  batchSize: number;
  optimizer: Exclude<OptimizerSpec, tf.Optimizer>;
  seed: number;
  steps: number;
}

/** Activates `backend` and trains the case on it, reading everything back after each step. */
async function trace(backend: Backend, config: TraceConfig): Promise<Trace> {
  const subject = `backend '${backend.name}'`;
  try {
    await backend.activate();
  } catch (error) {
    throw new ConformanceError(subject, 'activate', `it said it was available, but activate() threw: ${messageOf(error)}`, { cause: error });
  }
  const result: Trace = { objective: [], losses: [], weights: [], variables: [], variableNames: [] };
  let model: MultiTaskModel;
  try {
    model = config.strategy.build(config.spec, { seed: config.seed });
  } catch (error) {
    throw new ConformanceError(subject, 'run', `${config.label}: building the model threw: ${messageOf(error)}`, { cause: error });
  }
  const batch = fixedBatch(config.spec, config.batchSize);
  let trainer: Trainer | undefined;
  let step = 0;
  try {
    trainer = new Trainer({ model, weighting: config.testCase.weighting, site: config.testCase.site, optimizer: config.optimizer, seed: config.seed });
    for (; step < config.steps; step++) {
      // stepAsync: the same step with awaited reads, so backends without synchronous reads (WebGPU in Node) run too.
      const report: StepReport = await trainer.stepAsync(batch);
      const taskNames = config.spec.tasks.map((task) => task.name);
      result.objective.push(report.loss);
      result.losses.push(taskNames.map((task) => report.losses[task]!));
      result.weights.push(taskNames.map((task) => report.weights[task]!));
      const named = model.getWeights();
      const params = trainer.engine.weightingParams;
      result.variableNames = [...Object.keys(named), ...Object.keys(params).map((key) => `weighting parameter '${key}'`)];
      const tensors = [...Object.values(named), ...Object.values(params)] as Tensor[];
      result.variables.push((await Promise.all(tensors.map((tensor) => tensor.data()))) as Float32Array[]);
      tf.dispose(Object.values(named) as Tensor[]);
    }
  } catch (error) {
    if (error instanceof ConformanceError) throw error;
    throw new ConformanceError(subject, 'run', `${config.label}, step ${step}: training threw: ${messageOf(error)}`, { cause: error });
  } finally {
    trainer?.dispose();
    model.dispose();
    tf.dispose([batch.inputs as Tensor, ...(Object.values(batch.targets) as Tensor[])]);
  }
  return result;
}

/** Throws at the first difference above tolerance; returns the largest difference per quantity. */
function compare(
  backend: string,
  referenceName: string,
  label: string,
  expected: Trace,
  actual: Trace,
  tasks: readonly TaskSpec[],
  tolerance: number,
): BackendDifferences {
  const worst: BackendDifferences = { objective: 0, losses: 0, weights: 0, variables: 0 };
  const subject = `backend '${backend}'`;
  const check = (quantity: keyof BackendDifferences, step: number, what: string, want: ArrayLike<number>, got: ArrayLike<number>): void => {
    if (want.length !== got.length) {
      throw new ConformanceError(subject, quantity, `${label}, step ${step}: ${what} has ${got.length} values, '${referenceName}' gives ${want.length}`);
    }
    for (let i = 0; i < want.length; i++) {
      const difference = distance(want[i]!, got[i]!);
      worst[quantity] = Math.max(worst[quantity], difference);
      if (difference > tolerance) {
        const at = want.length > 1 ? ` at index ${i}` : '';
        throw new ConformanceError(
          subject,
          quantity,
          `${label}, step ${step}: ${what}${at} is ${got[i]}, '${referenceName}' gives ${want[i]} (difference ${difference.toExponential(2)} > tolerance ${tolerance})`,
        );
      }
    }
  };
  for (let step = 0; step < expected.objective.length; step++) {
    // Losses and weights before the objective, which is made of them: the error names the cause.
    tasks.forEach((task, t) => check('losses', step, `the loss of task '${task.name}'`, [expected.losses[step]![t]!], [actual.losses[step]![t]!]));
    tasks.forEach((task, t) => check('weights', step, `the weight of task '${task.name}'`, [expected.weights[step]![t]!], [actual.weights[step]![t]!]));
    check('objective', step, 'the objective', [expected.objective[step]!], [actual.objective[step]!]);
    if (actual.variables[step]!.length !== expected.variables[step]!.length) {
      throw new ConformanceError(subject, 'variables', `${label}: the model has ${actual.variables[step]!.length} variables, '${referenceName}' ${expected.variables[step]!.length}`);
    }
    expected.variables[step]!.forEach((want, v) => {
      check('variables', step, `variable '${expected.variableNames[v]}' (after the update)`, want, actual.variables[step]![v]!);
    });
  }
  return worst;
}

/** |a − b|, with NaN equal to NaN (a Jacobian rule may report no weights) and to nothing else. */
function distance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  return Math.abs(a - b);
}

/**
 * The same batch on every backend, from plain numbers (no RNG, no backend kernel): inputs
 * x_ij = sin(0.7 i + 1.3 j); regression targets a smooth function of the row; class i mod units;
 * binary i mod 2; multilabel labels (i + k) mod 2.
 */
function fixedBatch(spec: ModelSpec, batchSize: number): Batch {
  const width = spec.inputShape.reduce((a, b) => a * b, 1);
  const rows = Array.from({ length: batchSize }, (_, i) => Array.from({ length: width }, (_, j) => Math.sin(0.7 * i + 1.3 * j)));
  const targets: Record<string, Tensor> = {};
  for (const task of spec.tasks) {
    switch (task.kind) {
      case 'regression':
        targets[task.name] = tf.tensor2d(rows.map((row) => Array.from({ length: task.units }, (_, k) => row.reduce((sum, x, j) => sum + ((j + k) % 2 ? x : -0.5 * x), 0))));
        break;
      case 'multiclass':
        targets[task.name] = tf.tensor1d(rows.map((_, i) => i % task.units));
        break;
      case 'binary':
        targets[task.name] = tf.tensor1d(rows.map((_, i) => i % 2));
        break;
      case 'multilabel':
        targets[task.name] = tf.tensor2d(rows.map((_, i) => Array.from({ length: task.units }, (_, k) => (i + k) % 2)));
        break;
      default:
        throw new MtlError('BAD_CONFIG', `checkBackendConformance: unknown task kind '${String((task as TaskSpec).kind)}' for task '${(task as TaskSpec).name}'`);
    }
  }
  return { inputs: tf.tensor(rows.flat(), [batchSize, ...spec.inputShape]), targets };
}
