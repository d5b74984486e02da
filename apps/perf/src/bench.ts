import * as tf from '@tensorflow/tfjs-core';
import { defaultRegistry, hardSharing, Trainer, type Batch, type GradientSite, type ModelSpec, type Weighting } from 'mtljs';
import { rawModel } from './raw';
import { interleave, ratio, summarise, type Summary } from './stats';

export type Trunk = 'mlp' | 'conv';

export interface BenchOptions {
  /** Measured steps per configuration, after the warm-up (≥ 20 for the acceptance table). */
  steps: number;
  /** Unmeasured steps first (optimiser slots, kernel compilation). */
  warmup: number;
  /** Task counts T. */
  tasks: number[];
  trunks: Trunk[];
  /** Registered weighting names to compare with EW (default: all). */
  weightings?: string[];
  /** Sites of the gradient-level rows (default: every site each weighting supports); loss-level rows are kept. */
  sites?: GradientSite[];
  batchSize: number;
  /** Steps over which each configuration's tensor count must stay flat (the timed ones included). */
  leakSteps: number;
  /**
   * Batch size of the leak steps after the timed ones (default: `batchSize`). The tensor count of
   * a step does not depend on the batch size, and a small batch makes 500 steps of every
   * configuration affordable; one step on the new batch runs before the count is taken.
   */
  leakBatch?: number;
  log?: (line: string) => void;
}

/** One measured configuration and its baseline, run interleaved in this process. */
export interface Row {
  /**
   * 'overhead': mtljs EW vs the tuned raw tfjs step; 'overhead-naive': vs the naive one (see
   * raw.ts); 'scaling': EW at the largest T (`tasks`) vs EW at the smallest T (point 2);
   * 'weighting': a weighting vs EW.
   */
  kind: 'overhead' | 'overhead-naive' | 'scaling' | 'weighting';
  trunk: Trunk;
  tasks: number;
  /** The measured method: 'ew' for the overhead rows. */
  weighting: string;
  level: string;
  site: GradientSite | null;
  /** ms per step. */
  method: Summary;
  /** ms per step of the baseline (raw tfjs, or EW). */
  baseline: Summary;
  /** method median / baseline median. */
  ratio: number;
  /** Largest change of tf.memory().numTensors over one step, and over the leak run (both 0 when flat). */
  tensorsPerStep: number;
  bytesPerStep: number;
  /** Steps the tensor count was watched over, and its change across them. */
  leakSteps: number;
  leaked: number;
}

const CLASSES = 10;
const MLP_UNITS = [256, 128];

function specFor(trunk: Trunk, tasks: number): ModelSpec {
  return {
    tasks: Array.from({ length: tasks }, (_, t) => ({ name: `t${t}`, kind: 'multiclass' as const, units: CLASSES })),
    inputShape: trunk === 'mlp' ? [784] : [28, 28, 1],
    encoder:
      trunk === 'mlp'
        ? { type: 'mlp', units: MLP_UNITS }
        : { type: 'conv', blocks: [{ filters: 8, kernelSize: 5, pool: 'max' }, { filters: 16, kernelSize: 5, pool: 'max' }], dense: [128] },
  };
}

function batchFor(trunk: Trunk, tasks: number, size: number): Batch {
  const inputs = tf.randomNormal(trunk === 'mlp' ? [size, 784] : [size, 28, 28, 1], 0, 1, 'float32', 7);
  const targets: Batch['targets'] = {};
  for (let t = 0; t < tasks; t++) targets[`t${t}`] = tf.randomUniformInt([size], 0, CLASSES, 100 + t) as tf.Tensor1D;
  return { inputs, targets };
}

function disposeBatch(batch: Batch): void {
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
}

/** Wraps a step so the largest per-step change of the tensor count and of bytes is recorded. */
function watched(step: () => void, record: { tensors: number; bytes: number }): () => void {
  return () => {
    const before = tf.memory();
    step();
    const after = tf.memory();
    record.tensors = Math.max(record.tensors, Math.abs(after.numTensors - before.numTensors));
    record.bytes = Math.max(record.bytes, Math.abs(after.numBytes - before.numBytes));
  };
}

/** Steps `step` until it has run `total` times in all (counting `done`), returning the tensor-count change. */
function leakRun(step: () => void, done: number, total: number): number {
  const before = tf.memory().numTensors;
  for (let i = done; i < total; i++) step();
  return tf.memory().numTensors - before;
}

/**
 * The leak steps of a configuration on a batch of `options.leakBatch` rows (when it differs from
 * the timed batch): `makeStep` gets that batch; one step runs before the count is taken.
 */
function leakRunOn(trunk: Trunk, tasks: number, options: BenchOptions, done: number, makeStep: (batch: Batch) => { step: () => void; dispose?: () => void }): number {
  if (done >= options.leakSteps) return 0;
  const size = options.leakBatch ?? options.batchSize;
  const batch = batchFor(trunk, tasks, size);
  const { step, dispose } = makeStep(batch);
  try {
    step();
    return leakRun(step, done + 1, options.leakSteps);
  } finally {
    dispose?.();
    disposeBatch(batch);
  }
}

function trainerFor(spec: ModelSpec, weighting: Weighting<unknown> | string, site: GradientSite | null): { trainer: Trainer; dispose(): void } {
  const model = hardSharing().build(spec, { seed: 3 });
  const trainer = new Trainer({ model, weighting, ...(site ? { site } : {}), optimizer: { name: 'sgd', learningRate: 0.01 }, seed: 3 });
  return {
    trainer,
    dispose() {
      trainer.dispose();
      model.dispose();
    },
  };
}

/** (a): mtljs's EW step against the raw tfjs step of the same model, interleaved. */
export async function overheadRow(tasks: number, options: BenchOptions, flavour: 'tuned' | 'naive' = 'tuned'): Promise<Row> {
  const spec = specFor('mlp', tasks);
  const batch = batchFor('mlp', tasks, options.batchSize);
  const raw = rawModel({
    inputSize: 784,
    units: MLP_UNITS,
    tasks,
    classes: CLASSES,
    inputs: batch.inputs as tf.Tensor2D,
    labels: Object.values(batch.targets) as tf.Tensor1D[],
    learningRate: 0.01,
    flavour,
  });
  const ew = trainerFor(spec, 'ew', null);
  const record = { tensors: 0, bytes: 0 };
  try {
    const method = watched(() => void ew.trainer.step(batch), record);
    const baseline = watched(() => void raw.step(), record);
    const times = await interleave(method, baseline, options);
    const done = options.warmup + options.steps;
    const leaked =
      leakRunOn('mlp', tasks, options, done, (small) => ({ step: () => void ew.trainer.step(small) })) +
      leakRunOn('mlp', tasks, options, done, (small) => {
        const smallRaw = rawModel({ inputSize: 784, units: MLP_UNITS, tasks, classes: CLASSES, inputs: small.inputs as tf.Tensor2D, labels: Object.values(small.targets) as tf.Tensor1D[], learningRate: 0.01, flavour });
        return { step: () => void smallRaw.step(), dispose: () => smallRaw.dispose() };
      });
    const [m, b] = [summarise(times.a), summarise(times.b)];
    return { kind: flavour === 'tuned' ? 'overhead' : 'overhead-naive', trunk: 'mlp', tasks, weighting: 'ew', level: 'loss', site: null, method: m, baseline: b, ratio: ratio(m, b), tensorsPerStep: record.tensors, bytesPerStep: record.bytes, leakSteps: Math.max(options.leakSteps, done), leaked };
  } finally {
    ew.dispose();
    raw.dispose();
    disposeBatch(batch);
  }
}

/**
 * Point 2: EW with `large` tasks against EW with `small` tasks, interleaved in one pair, so that
 * the ratio does not compare two pairs measured minutes apart. Both configurations' leak runs are
 * in their overhead rows, so this row adds none (`leakSteps` counts its timed steps).
 */
export async function scalingRow(small: number, large: number, options: BenchOptions): Promise<Row> {
  const batches = [batchFor('mlp', large, options.batchSize), batchFor('mlp', small, options.batchSize)] as const;
  const trainers = [trainerFor(specFor('mlp', large), 'ew', null), trainerFor(specFor('mlp', small), 'ew', null)] as const;
  const record = { tensors: 0, bytes: 0 };
  try {
    const method = watched(() => void trainers[0].trainer.step(batches[0]), record);
    const baseline = watched(() => void trainers[1].trainer.step(batches[1]), record);
    const times = await interleave(method, baseline, options);
    const [m, b] = [summarise(times.a), summarise(times.b)];
    return { kind: 'scaling', trunk: 'mlp', tasks: large, weighting: 'ew', level: 'loss', site: null, method: m, baseline: b, ratio: ratio(m, b), tensorsPerStep: record.tensors, bytesPerStep: record.bytes, leakSteps: options.warmup + options.steps, leaked: 0 };
  } finally {
    trainers.forEach((t) => t.dispose());
    batches.forEach(disposeBatch);
  }
}

/** (b): one weighting at one site against EW, same model and batch, interleaved. */
export async function weightingRow(trunk: Trunk, tasks: number, name: string, site: GradientSite | null, options: BenchOptions): Promise<Row> {
  const spec = specFor(trunk, tasks);
  const batch = batchFor(trunk, tasks, options.batchSize);
  const weighting = defaultRegistry().get('weighting', name) as Weighting<unknown>;
  const ew = trainerFor(spec, 'ew', null);
  const other = trainerFor(spec, weighting, site);
  const record = { tensors: 0, bytes: 0 };
  try {
    const method = watched(() => void other.trainer.step(batch), record);
    const baseline = () => void ew.trainer.step(batch);
    const times = await interleave(method, baseline, options);
    const done = options.warmup + options.steps;
    const leaked = leakRunOn(trunk, tasks, options, done, (small) => ({ step: () => void other.trainer.step(small) }));
    const [m, b] = [summarise(times.a), summarise(times.b)];
    return { kind: 'weighting', trunk, tasks, weighting: name, level: weighting.level, site, method: m, baseline: b, ratio: ratio(m, b), tensorsPerStep: record.tensors, bytesPerStep: record.bytes, leakSteps: Math.max(options.leakSteps, done), leaked };
  } finally {
    ew.dispose();
    other.dispose();
    disposeBatch(batch);
  }
}

/** Every (weighting, site) of the registry, loss-level ones once with no site; `sites` keeps only those sites. */
export function weightingCases(names?: string[], sites?: readonly GradientSite[]): { name: string; site: GradientSite | null }[] {
  const registry = defaultRegistry();
  return (names ?? registry.list('weighting'))
    .filter((name) => name !== 'ew' && name !== 'none')
    .flatMap((name): { name: string; site: GradientSite | null }[] => {
      const weighting = registry.get('weighting', name) as Weighting<unknown>;
      if (weighting.level === 'loss') return [{ name, site: null }];
      return (weighting.sites as readonly GradientSite[]).filter((site) => !sites || sites.includes(site)).map((site) => ({ name, site }));
    });
}

/** Runs (a) for the MLP trunk at every T, then (b) for every trunk, T, weighting and site. */
export async function runBench(options: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const log = options.log ?? (() => {});
  const show = (row: Row) =>
    log(
      `${row.kind === 'weighting' ? `${row.weighting}${row.site ? ` @${row.site}` : ''} vs EW` : row.kind === 'scaling' ? `EW T=${row.tasks} vs EW T=${Math.min(...options.tasks)}` : `mtljs EW vs ${row.kind === 'overhead' ? 'tuned' : 'naive'} raw tfjs`} (${row.trunk}, T=${row.tasks}): ` +
        `${row.method.median.toFixed(2)} vs ${row.baseline.median.toFixed(2)} ms → ${row.ratio.toFixed(3)}×; tensors/step ${row.tensorsPerStep}, leaked ${row.leaked} over ${row.leakSteps}`,
    );
  for (const tasks of options.tasks) {
    for (const flavour of ['tuned', 'naive'] as const) {
      const row = await overheadRow(tasks, options, flavour);
      rows.push(row);
      show(row);
    }
  }
  const [small, large] = [Math.min(...options.tasks), Math.max(...options.tasks)];
  if (large > small) {
    const row = await scalingRow(small, large, options);
    rows.push(row);
    show(row);
  }
  for (const trunk of options.trunks) {
    for (const tasks of options.tasks) {
      for (const { name, site } of weightingCases(options.weightings, options.sites)) {
        const row = await weightingRow(trunk, tasks, name, site, options);
        rows.push(row);
        show(row);
      }
    }
  }
  return rows;
}
