import * as tf from '@tensorflow/tfjs-core';
import { MtlError, Rng, Trainer, defaultRegistry, type GradientSite, type ModelSpec, type Registry, type SharingStrategy, type Weighting } from '@mtljs/core';
import { messageOf } from './errors';
import { defaultSharingSpec } from './spec';
import { disposeBatch, fixedBatch } from './trainer-smoke';

const ALL_SITES: readonly GradientSite[] = ['shared', 'last-shared', 'features'];

/** Options of `leakMatrix`. */
export interface LeakMatrixOptions {
  /** Where the sharing strategies and weightings are looked up (default: `defaultRegistry()`). */
  registry?: Registry;
  /** Registered sharing names to include (default: every registered sharing strategy). */
  sharings?: string[];
  /** Registered weighting names to include (default: every registered weighting). */
  weightings?: string[];
  /** Counted training steps per cell, after one warm-up step (default 100). */
  steps?: number;
  /** The model every cell builds (default: the testkit's three-task `defaultSharingSpec()`). */
  spec?: ModelSpec;
  /**
   * Per sharing strategy (by registered name): the options it is configured with and the model
   * spec it builds instead of `spec`, for strategies that need them (e.g. clustered's `groups`,
   * MTAN's conv encoder).
   */
  sharingSettings?: Record<
    string,
    {
      /** Options the strategy is configured with (`registry.resolve('sharing', { name, options })`). */
      options?: Record<string, unknown>;
      /** The spec its models are built from, instead of `spec`. */
      spec?: ModelSpec;
    }
  >;
  /** Examples in the fixed training batch (default 8). */
  batchSize?: number;
  /** Seed of the batch, the models and the trainers (default 1). */
  seed?: number;
  /** Called after each cell, e.g. to print progress. */
  onCell?(cell: LeakMatrixCell): void;
}

/** One (sharing, weighting, site) combination of the matrix. */
export interface LeakMatrixCell {
  /** Registered name of the sharing strategy. */
  sharing: string;
  /** Registered name of the weighting. */
  weighting: string;
  /** The gradient site, or null for a loss-level weighting (which has none). */
  site: GradientSite | null;
  /** `tf.memory().numTensors` change over the counted steps (0 when nothing leaked). */
  leaked: number;
  /** Tensors still alive after `trainer.dispose()` and `model.dispose()`, against the count before `build()`. */
  leftAfterDispose: number;
  /** Why the cell failed (a leak, or the error a step threw); absent when it passed. */
  error?: string;
  /** Wall time of the cell in milliseconds (for the printout, not asserted). */
  ms: number;
}

/** What {@link leakMatrix} found. */
export interface LeakMatrixReport {
  /** (sharing, weighting) pairs that share at least one site (or pair with a loss-level weighting). */
  pairs: number;
  /** Every cell run, in order: sharing-major, then weighting, then site. */
  cells: LeakMatrixCell[];
  /** The cells that failed. */
  failures: LeakMatrixCell[];
  /** Counted steps per cell. */
  steps: number;
  /** `"<pairs> pairs × sites = <cells> cells, <steps> steps each"`, for the log. */
  size: string;
}

/**
 * Trains every registered sharing strategy with every registered weighting, at each gradient site
 * both support (a loss-level weighting: once, without a site), for `steps` SGD steps on one fixed
 * batch, and checks that `tf.memory().numTensors` does not move over those steps and returns to
 * its count before `build()` once the trainer and model are disposed. It does not stop at the
 * first failing cell: the report lists them all. A strategy's sites are its `sites` (default: all
 * three); a weighting's are its `sites`.
 *
 * @example
 * ```ts
 * import 'mtljs'; // registers every first-party plugin in the default registry
 * import { leakMatrix } from '@mtljs/testkit';
 *
 * const report = await leakMatrix({ steps: 100 });
 * console.log(report.size); // e.g. "160 pairs × sites = 328 cells, 100 steps each"
 * if (report.failures.length) throw new Error(report.failures.map((c) => c.error).join('\n'));
 * ```
 */
export async function leakMatrix(options: LeakMatrixOptions = {}): Promise<LeakMatrixReport> {
  const registry = options.registry ?? defaultRegistry();
  const steps = options.steps ?? 100;
  if (!Number.isInteger(steps) || steps < 1) throw new MtlError('BAD_CONFIG', `leakMatrix: steps must be a positive integer, got ${steps}`);
  const spec = options.spec ?? defaultSharingSpec();
  const seed = options.seed ?? 1;
  const sharingNames = options.sharings ?? registry.list('sharing');
  const weightingNames = options.weightings ?? registry.list('weighting');
  const settings = options.sharingSettings ?? {};
  const sharings = sharingNames.map((name) => registry.resolve('sharing', { name, options: settings[name]?.options }) as SharingStrategy);
  const weightings = weightingNames.map((name) => registry.get('weighting', name) as Weighting<unknown>);

  const cells: LeakMatrixCell[] = [];
  let pairs = 0;
  const batchSize = options.batchSize ?? 8;
  const batches = new Map<ModelSpec, ReturnType<typeof fixedBatch>>();
  const batchFor = (modelSpec: ModelSpec) => {
    if (!batches.has(modelSpec)) batches.set(modelSpec, fixedBatch(modelSpec, batchSize, Rng.fromSeed(seed)));
    return batches.get(modelSpec)!;
  };
  try {
    for (const [i, strategy] of sharings.entries()) {
      const modelSpec = settings[sharingNames[i]!]?.spec ?? spec;
      const batch = batchFor(modelSpec);
      const strategySites = strategy.sites ?? ALL_SITES;
      for (const weighting of weightings) {
        const sites: (GradientSite | null)[] =
          weighting.level === 'loss' ? [null] : (weighting.sites as readonly GradientSite[]).filter((site) => strategySites.includes(site));
        if (sites.length) pairs += 1;
        for (const site of sites) {
          const cell = await runCell(strategy, weighting, site, modelSpec, batch, steps, seed);
          cells.push(cell);
          options.onCell?.(cell);
        }
      }
    }
  } finally {
    batches.forEach((batch) => disposeBatch(batch));
  }
  const failures = cells.filter((cell) => cell.error !== undefined);
  return { pairs, cells, failures, steps, size: `${pairs} pairs × sites = ${cells.length} cells, ${steps} steps each` };
}

async function runCell(
  strategy: SharingStrategy,
  weighting: Weighting<unknown>,
  site: GradientSite | null,
  spec: ModelSpec,
  batch: ReturnType<typeof fixedBatch>,
  steps: number,
  seed: number,
): Promise<LeakMatrixCell> {
  const started = Date.now();
  const cell: LeakMatrixCell = { sharing: strategy.name, weighting: weighting.name, site, leaked: 0, leftAfterDispose: 0, ms: 0 };
  const label = `sharing '${strategy.name}' × weighting '${weighting.name}'${site === null ? '' : ` at site '${site}'`}`;
  const before = tf.memory().numTensors;
  let model: ReturnType<SharingStrategy['build']> | undefined;
  let trainer: Trainer | undefined;
  try {
    model = strategy.build(spec, { seed });
    trainer = new Trainer({ model, weighting, site: site ?? undefined, optimizer: { name: 'sgd', learningRate: 0.01 }, seed });
    // One warm-up step first: the optimiser creates its slots, plugins their lazy constants.
    trainer.step(batch);
    const counted = tf.memory().numTensors;
    for (let i = 0; i < steps; i++) trainer.step(batch);
    cell.leaked = tf.memory().numTensors - counted;
    if (cell.leaked !== 0) cell.error = `${label}: tf.memory().numTensors moved by ${cell.leaked} over ${steps} steps`;
  } catch (error) {
    cell.error = `${label}: ${messageOf(error)}`;
  } finally {
    trainer?.dispose();
    model?.dispose();
  }
  cell.leftAfterDispose = tf.memory().numTensors - before;
  if (cell.error === undefined && cell.leftAfterDispose !== 0) {
    cell.error = `${label}: ${cell.leftAfterDispose} tensor(s) still alive after disposing the trainer and the model`;
  }
  cell.ms = Date.now() - started;
  return cell;
}
