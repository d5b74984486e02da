import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isMtlError, metricDirection, metricNamesFor, MtlError, Rng, type Registry } from '@mtljs/core';
import { z } from 'zod';
import { describeValue, formatPath, fromRaw, readJsonFile, type ConfigOverrides, type LoadedConfig } from './config';
import { openData } from './data';
import { isInterrupted } from './exit-codes';
import { checkConfigPlugins } from './plugins';
import { formatNumber, type ProgressStream } from './progress';
import { folderName, prepare, RUN_FILES, timestamp, trainRun, type RunContext, type RunResult } from './run';
import { markdownTable } from './table';
import { commandRegistry, runName, withOverrides, writeReport } from './train';

// A search space maps config paths to the values to try:
//   "optimizer.learningRate": { "min": 1e-4, "max": 1e-2, "log": true }   a range
//   "weighting.options.alpha": [0.5, 1.5]                                  choices (any JSON values)
//   "model.encoder.units": [[64, 32], [128, 64]]

const range = z
  .strictObject({
    min: z.number({ error: 'expected a number' }),
    max: z.number({ error: 'expected a number' }),
    log: z.boolean({ error: 'expected true or false' }).optional(),
    integer: z.boolean({ error: 'expected true or false' }).optional(),
    steps: z.int({ error: 'expected an integer ≥ 2' }).min(2, { error: 'expected an integer ≥ 2' }).optional(),
  })
  .superRefine((r, context) => {
    if (!(r.min < r.max)) context.addIssue({ code: 'custom', path: ['max'], message: `expected max > min (${r.min}), got ${r.max}` });
    if (r.log && !(r.min > 0)) context.addIssue({ code: 'custom', path: ['min'], message: `a log range needs min > 0, got ${r.min}` });
  });

const dimension = z.union([z.array(z.unknown()).min(1, { error: 'expected at least one choice' }), range], {
  error: 'expected an array of choices or a range { "min", "max", "log"?, "integer"?, "steps"? }',
});

const spaceSchema = z.record(z.string().regex(/^[A-Za-z_$][\w$]*(\.[\w$]+)*$/, { error: 'expected a config path such as "optimizer.learningRate"' }), dimension);

/**
 * A numeric range of a search space: `{ min, max, log?, integer?, steps? }` with `min < max`
 * (`min > 0` with `log`). `log` samples or spaces values log-uniformly, `integer` rounds them, and
 * `steps` (integer ≥ 2, required by a grid search) is how many evenly spaced values a grid tries.
 */
export type SearchRange = z.output<typeof range>;
/**
 * A search space: config paths (`"optimizer.learningRate"`) mapped to choices (a non-empty array
 * of any JSON values) or a {@link SearchRange}.
 */
export type SearchSpace = Record<string, unknown[] | SearchRange>;

/** Options of {@link tune} (`mtl tune`); `epochs` and `backend` replace the config's. */
export interface TuneOptions extends Pick<ConfigOverrides, 'epochs' | 'backend'> {
  /** A config file path, or a config already loaded. */
  config: string | LoadedConfig;
  /** A space file path, or the space itself. */
  space: string | SearchSpace;
  /** Default 'random'. */
  method?: 'random' | 'grid';
  /** Random: trials to sample (default 10). Grid: at most this many combinations (default all). */
  trials?: number;
  /** Seeds the sampling of trials (default 0); every trial trains with the config's seed. */
  seed?: number;
  /**
   * The objective: 'task:metric' (e.g. 'left:accuracy', 'price:rmse', 'price:loss'), in its
   * direction; default: the mean over tasks of the validation loss, lower is better.
   */
  metric?: string;
  /** Default: `runs/<name>-tune-<yyyymmdd-hhmmss>`. */
  out?: string;
  /** Where progress and the result table are written; nothing is printed without it. */
  stream?: ProgressStream;
  /** Aborting it stops the current trial after its current step (an interrupted error). */
  signal?: AbortSignal;
  /** Registry that plugin names resolve from (default: core's default registry); mtljs's standard plugins and the config's `plugins` are registered in it. */
  registry?: Registry;
}

/** One trial of a {@link TuneResult}. */
export interface TuneTrial {
  /** 1-based rank by the objective, best first; failed trials rank last. */
  rank: number;
  /** 1-based index of the trial in sampling order (its folder is `trial-<trial>`). */
  trial: number;
  /** The value tried for each path of the space. */
  params: Record<string, unknown>;
  /** The objective's value; null when it is not finite or the trial failed. */
  objective: number | null;
  /** Per task: its `loss` and every metric it reports, on the objective's split (empty for a failed trial). */
  metrics: Record<string, Record<string, number>>;
  /** Wall time of the trial's run (0 for a failed trial). */
  seconds: number;
  /** Absolute path of the trial's run folder. */
  dir: string;
  /** `<MtlError code>: <message>` of a trial that failed at run time. */
  error?: string;
}

/** What {@link tune} returns; `tune.json` holds the same objective and trials. */
export interface TuneResult {
  /** Absolute path of the tune folder. */
  out: string;
  /** What the trials are ranked by. */
  objective: {
    /** Human-readable objective, e.g. `mean validation loss over tasks` or `validation accuracy of task 'left'`. */
    description: string;
    /** The split it is measured on: `validation`, else `test`, else `train`. */
    split: string;
    /** Which way is better. */
    direction: 'lower' | 'higher';
  };
  /** Every trial, best first. */
  trials: TuneTrial[];
  /** The result table as Markdown (the content of `tune.md`). */
  markdown: string;
  /** Absolute paths of the files written (`report` only exists when a trial succeeded). */
  files: {
    /** `tune.md`. */
    markdown: string;
    /** `tune.json`. */
    json: string;
    /** `report.html` of all successful trials. */
    report: string;
  };
}

/** Validates a space; BAD_CONFIG naming the file and the entry. */
export function parseSpace(raw: unknown, label: string): SearchSpace {
  const result = spaceSchema.safeParse(raw, { reportInput: true });
  if (result.success) {
    if (Object.keys(result.data).length === 0) throw new MtlError('BAD_CONFIG', `${label}: the space is empty; map config paths to choices or ranges`, { file: label });
    return result.data as SearchSpace;
  }
  const lines = result.error.issues.map((issue) => {
    const got = 'input' in issue && issue.input !== undefined && issue.code !== 'custom' ? `, got ${describeValue(issue.input)}` : '';
    const where = issue.path.length ? formatPath(issue.path.map((p) => (typeof p === 'number' ? p : String(p)))) : '(top level)';
    return `${label}: ${where}: ${issue.message}${issue.message.startsWith('expected') ? got : ''}`;
  });
  throw new MtlError('BAD_CONFIG', lines.join('\n'), { file: label, issues: lines });
}

function isRange(value: unknown[] | SearchRange): value is SearchRange {
  return !Array.isArray(value);
}

function rangeValue(r: SearchRange, fraction: number): number {
  const value = r.log ? Math.exp(Math.log(r.min) + fraction * (Math.log(r.max) - Math.log(r.min))) : r.min + fraction * (r.max - r.min);
  return r.integer ? Math.round(value) : value;
}

/**
 * The trials' parameter sets. Random: each dimension drawn independently (a choice uniformly, a
 * range uniformly or, with `log`, log-uniformly), from an Rng seeded with `seed`. Grid: every
 * combination, a range taking `steps` evenly spaced values (log-spaced with `log`), first
 * dimension slowest; `trials` keeps the first so many.
 */
export function sampleTrials(space: SearchSpace, method: 'random' | 'grid', trials: number | undefined, seed: number, label: string): Record<string, unknown>[] {
  const paths = Object.keys(space);
  if (method === 'random') {
    const rng = Rng.fromSeed(seed);
    return Array.from({ length: trials ?? 10 }, () =>
      Object.fromEntries(paths.map((path) => {
        const dim = space[path]!;
        return [path, isRange(dim) ? rangeValue(dim, rng.next()) : dim[rng.int(dim.length)]];
      })),
    );
  }
  const values = paths.map((path) => {
    const dim = space[path]!;
    if (!isRange(dim)) return dim;
    if (dim.steps === undefined) throw new MtlError('BAD_CONFIG', `${label}: ${path}: a range in a grid search needs "steps" (how many values to try)`, { field: path });
    return Array.from({ length: dim.steps }, (_, i) => rangeValue(dim, i / (dim.steps! - 1)));
  });
  let combos: unknown[][] = [[]];
  for (const choices of values) combos = combos.flatMap((combo) => choices.map((choice) => [...combo, choice]));
  const all = combos.map((combo) => Object.fromEntries(paths.map((path, i) => [path, combo[i]])));
  return trials === undefined ? all : all.slice(0, trials);
}

/**
 * Sets a dotted path in a config object (a copy). A plugin given by name (`"weighting": "pcgrad"`)
 * becomes `{ "name": "pcgrad" }` when the path goes into it (`weighting.options.alpha`).
 */
export function setPath(config: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(config);
  const keys = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const [i, key] of keys.slice(0, -1).entries()) {
    let next = node[key];
    if (typeof next === 'string') next = node[key] = { name: next };
    if (next === undefined || next === null) next = node[key] = {};
    if (typeof next !== 'object' || Array.isArray(next)) {
      throw new MtlError('BAD_CONFIG', `space: ${path}: '${keys.slice(0, i + 1).join('.')}' is ${describeValue(next)} in the config, not an object`, { field: path });
    }
    node = next as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
  return copy;
}

function formatParam(value: unknown): string {
  return typeof value === 'number' ? formatNumber(value) : JSON.stringify(value);
}

/**
 * `mtl tune`: trains one run per trial (same data, the config's seed) and ranks the trials by
 * the objective, best first; failed trials (e.g. a learning rate that diverges) rank last with
 * their error. Writes `tune.md`, `tune.json` and a report of all trials.
 */
export async function tune(options: TuneOptions): Promise<TuneResult> {
  const registry = commandRegistry(options.registry);
  const base = withOverrides(options.config, { ...(options.epochs !== undefined ? { epochs: options.epochs } : {}), ...(options.backend !== undefined ? { backend: options.backend } : {}) });
  const name = runName(base);
  const spaceLabel = typeof options.space === 'string' ? options.space : 'space';
  const space = parseSpace(typeof options.space === 'string' ? readJsonFile(resolve(options.space), options.space, 'space') : options.space, spaceLabel);
  const method = options.method ?? 'random';
  const paramSets = sampleTrials(space, method, options.trials, options.seed ?? 0, spaceLabel);
  const out = resolve(options.out ?? join('runs', `${folderName(name)}-tune-${timestamp()}`));
  const stream = options.stream;
  const context: RunContext = { registry, ...(stream ? { stream } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  await prepare(base, context);

  // Every trial's config is validated before any trains.
  const rawBase = structuredClone(base.config) as unknown as Record<string, unknown>;
  rawBase.baselines = false;
  const trials = paramSets.map((params, i) => {
    let raw = rawBase;
    for (const [path, value] of Object.entries(params)) raw = setPath(raw, path, value);
    raw.name = `${name} trial ${i + 1}`;
    const loaded = fromRaw(raw, { label: `${spaceLabel} trial ${i + 1}`, dir: base.dir });
    checkConfigPlugins(loaded, registry);
    return { trial: i + 1, params, loaded };
  });

  const data = await openData(base, registry);
  const [objectiveTask, objectiveMetric] = options.metric === undefined ? [undefined, undefined] : options.metric.split(':');
  if (options.metric !== undefined) {
    const task = data.tasks.find((t) => t.name === objectiveTask);
    if (!task || !objectiveMetric) {
      throw new MtlError('BAD_CONFIG', `--metric ${options.metric}: expected task:metric with a task of the data (${data.tasks.map((t) => t.name).join(', ')})`, { field: 'metric' });
    }
    const known = [...metricNamesFor(task), 'loss'];
    if (!known.includes(objectiveMetric)) {
      throw new MtlError('BAD_CONFIG', `--metric ${options.metric}: task '${task.name}' reports ${known.join(', ')}`, { field: 'metric', available: known });
    }
  }
  const direction = objectiveMetric === undefined ? 'lower' : metricDirection(objectiveMetric);
  const split = data.validation ? 'validation' : data.test ? 'test' : 'train';
  const description = objectiveMetric === undefined ? `mean ${split} loss over tasks` : `${split} ${objectiveMetric} of task '${objectiveTask}'`;
  stream?.write(`mtl tune '${name}': ${trials.length} ${method} trial(s); objective: ${description} (${direction} is better)\n`);

  mkdirSync(out, { recursive: true });
  const results: (TuneTrial & { log?: string })[] = [];
  for (const { trial, params, loaded } of trials) {
    stream?.write(`trial ${trial}/${trials.length}: ${Object.entries(params).map(([p, v]) => `${p}=${formatParam(v)}`).join(', ')}\n`);
    const dir = join(out, `trial-${trial}`);
    try {
      const run: RunResult = await trainRun({ loaded, data, dir, name: loaded.config.name!, role: 'multi-task' }, context);
      const evaluation = split === 'validation' && run.validation ? run.validation : run.evaluation.report;
      const objective =
        objectiveMetric === undefined
          ? Object.values(evaluation.tasks).reduce((a, t) => a + t.loss, 0) / Object.keys(evaluation.tasks).length
          : objectiveMetric === 'loss'
            ? evaluation.tasks[objectiveTask!]!.loss
            : evaluation.tasks[objectiveTask!]!.metrics[objectiveMetric]!;
      stream?.write(`  objective ${formatNumber(objective)}\n`);
      results.push({
        rank: 0,
        trial,
        params,
        objective: Number.isFinite(objective) ? objective : null,
        metrics: Object.fromEntries(Object.entries(evaluation.tasks).map(([task, e]) => [task, { loss: e.loss, ...e.metrics }])),
        seconds: run.seconds,
        dir,
        log: run.log,
      });
    } catch (error) {
      if (isInterrupted(error) || !isMtlError(error) || ['BAD_CONFIG', 'UNKNOWN_PLUGIN', 'BAD_DATA'].includes(error.code)) throw error;
      stream?.write(`  failed: ${error.code}: ${error.message}\n`);
      results.push({ rank: 0, trial, params, objective: null, metrics: {}, seconds: 0, dir, error: `${error.code}: ${error.message}`, log: join(dir, RUN_FILES.log) });
    }
  }
  const sign = direction === 'lower' ? 1 : -1;
  results.sort((a, b) => (a.objective === null ? 1 : 0) - (b.objective === null ? 1 : 0) || sign * ((a.objective ?? 0) - (b.objective ?? 0)) || a.trial - b.trial);
  results.forEach((r, i) => (r.rank = i + 1));

  const paths = Object.keys(space);
  const tasks = data.tasks.map((t) => t.name);
  const primary = (task: string) => metricNamesFor(data.tasks.find((t) => t.name === task)!)[0] ?? 'loss';
  const header = ['rank', 'trial', ...paths, 'objective', ...tasks.map((task) => `${task} ${primary(task)}`), 's'];
  const rows = results.map((r) => [
    String(r.rank),
    String(r.trial),
    ...paths.map((path) => formatParam(r.params[path])),
    r.objective === null ? (r.error ? 'failed' : '–') : formatNumber(r.objective),
    ...tasks.map((task) => formatNumber(r.metrics[task]?.[primary(task)])),
    r.seconds.toFixed(1),
  ]);
  const markdown =
    `# ${name}: tune (${method}, ${results.length} trial(s), sampling seed ${options.seed ?? 0})\n\n` +
    `Objective: ${description} (${direction} is better); every trial trains with seed ${base.config.seed}.\n\n` +
    markdownTable(header, rows);
  const files = { markdown: join(out, 'tune.md'), json: join(out, 'tune.json'), report: join(out, RUN_FILES.report) };
  const trialsOut: TuneTrial[] = results.map(({ log: _log, ...rest }) => rest);
  writeFileSync(files.markdown, markdown);
  writeFileSync(files.json, `${JSON.stringify({ name, method, seed: options.seed ?? 0, objective: { description, split, direction }, space, trials: trialsOut }, null, 2)}\n`);
  const logs = results.filter((r) => r.error === undefined && r.log).map((r) => r.log!);
  if (logs.length) await writeReport(logs, files.report, `${name}: tune`);
  stream?.write(`\n${markdown}\ntable: ${files.markdown}\njson: ${files.json}\n${logs.length ? `report: ${files.report}\n` : ''}`);
  return { out, objective: { description, split, direction }, trials: trialsOut, markdown, files };
}
