import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Registry } from '@mtljs/core';
import { fromRaw, referenceName, type ConfigOverrides, type LoadedConfig } from './config';
import { openData } from './data';
import { checkConfigPlugins, checkRegistered } from './plugins';
import type { ProgressStream } from './progress';
import { folderName, prepare, RUN_FILES, timestamp, type RunContext, type RunResult } from './run';
import { formatMeanStd, markdownTable, meanStd } from './table';
import { commandRegistry, deltaMOf, runName, trainBaselines, trainWithBaselines, withOverrides, writeReport } from './train';

/** Options of {@link bench} (`mtl bench`); `epochs` and `backend` replace the config's. */
export interface BenchOptions extends Pick<ConfigOverrides, 'epochs' | 'backend'> {
  /** A config file path, or a config already loaded. */
  config: string | LoadedConfig;
  /** Weighting names to compare (registered names). */
  weightings: readonly string[];
  /** Sharing strategies (default: the config's). */
  sharings?: readonly string[];
  /** Seeds; every combination runs once per seed (default: the config's seed). */
  seeds?: readonly number[];
  /** Default: `runs/<name>-bench-<yyyymmdd-hhmmss>`. */
  out?: string;
  /** Where progress and the result table are written; nothing is printed without it. */
  stream?: ProgressStream;
  /** Aborting it stops the current run after its current step (an interrupted error). */
  signal?: AbortSignal;
  /** Registry that plugin names resolve from (default: core's default registry); mtljs's standard plugins and the config's `plugins` are registered in it. */
  registry?: Registry;
}

/** One combination's results over the seeds. */
export interface BenchRow {
  /** 1-based rank: by Δm% (highest first) with baselines, else by mean loss (lowest first); rows without a value last. */
  rank: number;
  /** Registry name of the sharing strategy. */
  sharing: string;
  /** Registry name of the weighting. */
  weighting: string;
  /** Gradient site of a gradient-level weighting; null for loss-level ones. */
  site: string | null;
  /** The seeds the combination ran with, in run order. */
  seeds: number[];
  /** Per task: its primary metric (the first the task reports) as mean and std over seeds. */
  metrics: Record<string, {
    /** The metric's name; `loss` when the task reports no metric (mean and std are then null). */
    metric: string;
    /** Mean over the seeds with a finite value; null when none has one. */
    mean: number | null;
    /** Sample standard deviation (n − 1) over those seeds, 0 for one; null when none. */
    std: number | null;
  }>;
  /** Mean over tasks of the final evaluation loss, then mean and std over seeds. */
  loss: {
    /** Mean over the seeds with a finite value; null when none has one. */
    mean: number | null;
    /** Sample standard deviation (n − 1) over those seeds, 0 for one; null when none. */
    std: number | null;
  };
  /** Δm% against the same seed's single-task runs, mean and std over seeds (with baselines). */
  deltaM?: {
    /** Mean over the seeds with a finite value; null when none has one. */
    mean: number | null;
    /** Sample standard deviation (n − 1) over those seeds, 0 for one; null when none. */
    std: number | null;
  };
  /** Mean wall time of one run in seconds. */
  seconds: number;
}

/** What {@link bench} returns; `bench.json` holds the same rows. */
export interface BenchResult {
  /** Absolute path of the bench folder. */
  out: string;
  /** The split of the final evaluations the table reports (`test`, else `validation`, else `train`). */
  split: string;
  /** One row per sharing × weighting combination, best first. */
  rows: BenchRow[];
  /** Every multi-task run, in training order (by seed, then sharing, then weighting). */
  runs: RunResult[];
  /** The single-task runs of every seed (empty without `"baselines": true`). */
  baselines: RunResult[];
  /** The result table as Markdown (the content of `bench.md`). */
  markdown: string;
  /** Absolute paths of the files written. */
  files: {
    /** `bench.md`. */
    markdown: string;
    /** `bench.json`. */
    json: string;
    /** `report.html` of all runs. */
    report: string;
  };
}

/** The raw config of one combination: the sharing, weighting and seed replaced (options kept only for the config's own plugin). */
function variant(loaded: LoadedConfig, sharing: string, weighting: string, seed: number): LoadedConfig {
  const config = structuredClone(loaded.config);
  if (referenceName(config.model.sharing) !== sharing) config.model.sharing = sharing;
  if (referenceName(config.weighting) !== weighting) {
    config.weighting = weighting;
    delete config.site;
  }
  config.seed = seed;
  config.baselines = false;
  config.name = `${sharing}+${weighting} seed ${seed}`;
  const label = `${loaded.label} (${config.name})`;
  return { ...fromRaw(config, { label, dir: loaded.dir, ...(loaded.file ? { file: loaded.file } : {}) }), raw: loaded.raw };
}

function primaryMetric(run: RunResult, task: string): { metric: string; value: number } | undefined {
  const entries = Object.entries(run.evaluation.report.tasks[task]?.metrics ?? {});
  return entries.length ? { metric: entries[0]![0], value: entries[0]![1] } : undefined;
}

function meanLoss(run: RunResult): number {
  const losses = Object.values(run.evaluation.report.tasks).map((t) => t.loss);
  return losses.reduce((a, b) => a + b, 0) / losses.length;
}

/**
 * `mtl bench`: every sharing × weighting combination, once per seed, on the same data (opened
 * once), with single-task baselines per seed when the config asks for them; a ranked table
 * (Δm% when there are baselines, else mean loss) as Markdown and JSON, and one report.
 */
export async function bench(options: BenchOptions): Promise<BenchResult> {
  const registry = commandRegistry(options.registry);
  const loaded = withOverrides(options.config, { ...(options.epochs !== undefined ? { epochs: options.epochs } : {}), ...(options.backend !== undefined ? { backend: options.backend } : {}) });
  const name = runName(loaded);
  const sharings = options.sharings?.length ? [...options.sharings] : [referenceName(loaded.config.model.sharing)];
  const seeds = options.seeds?.length ? [...options.seeds] : [loaded.config.seed];
  const out = resolve(options.out ?? join('runs', `${folderName(name)}-bench-${timestamp()}`));
  const stream = options.stream;
  const context: RunContext = { registry, ...(stream ? { stream } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  await prepare(loaded, context);
  for (const weighting of options.weightings) checkRegistered(registry, 'weighting', weighting, 'mtl bench', '--weightings');
  for (const sharing of sharings) checkRegistered(registry, 'sharing', sharing, 'mtl bench', '--sharings');
  const variants = seeds.flatMap((seed) => sharings.flatMap((sharing) => options.weightings.map((weighting) => ({ seed, sharing, weighting, loaded: variant(loaded, sharing, weighting, seed) }))));
  for (const v of variants) checkConfigPlugins(v.loaded, registry);
  mkdirSync(out, { recursive: true });
  const data = await openData(loaded, registry);
  const tasks = data.tasks.map((task) => task.name);

  const runs: { seed: number; sharing: string; weighting: string; result: RunResult }[] = [];
  const baselines = new Map<number, RunResult[]>();
  for (const seed of seeds) {
    if (loaded.config.baselines) {
      const withSeed = fromRaw({ ...structuredClone(loaded.config), seed, name: `${name} seed ${seed}` }, { label: loaded.label, dir: loaded.dir });
      stream?.write(`seed ${seed}: single-task baselines\n`);
      baselines.set(seed, await trainBaselines(withSeed, data, join(out, `baselines-seed${seed}`), context));
    }
    for (const v of variants.filter((candidate) => candidate.seed === seed)) {
      stream?.write(`run ${runs.length + 1}/${variants.length}: ${v.loaded.config.name}\n`);
      const { main } = await trainWithBaselines(v.loaded, data, join(out, folderName(`${v.sharing}+${v.weighting}-seed${seed}`)), context);
      runs.push({ seed, sharing: v.sharing, weighting: v.weighting, result: main });
    }
  }

  const hasBaselines = baselines.size > 0;
  const rows: BenchRow[] = [];
  for (const sharing of sharings) {
    for (const weighting of options.weightings) {
      const group = runs.filter((r) => r.sharing === sharing && r.weighting === weighting);
      const metrics: BenchRow['metrics'] = {};
      for (const task of tasks) {
        const values = group.map((r) => primaryMetric(r.result, task)).filter((m) => m !== undefined);
        const summary = meanStd(values.map((m) => m.value));
        metrics[task] = { metric: values[0]?.metric ?? 'loss', mean: summary?.mean ?? null, std: summary?.std ?? null };
      }
      const loss = meanStd(group.map((r) => meanLoss(r.result)));
      const row: BenchRow = {
        rank: 0,
        sharing,
        weighting,
        site: group[0]?.result.site ?? null,
        seeds: group.map((r) => r.seed),
        metrics,
        loss: { mean: loss?.mean ?? null, std: loss?.std ?? null },
        seconds: group.reduce((a, r) => a + r.result.seconds, 0) / Math.max(1, group.length),
      };
      if (hasBaselines) {
        const delta = meanStd(group.map((r) => deltaMOf(r.result, baselines.get(r.seed)!)));
        row.deltaM = { mean: delta?.mean ?? null, std: delta?.std ?? null };
      }
      rows.push(row);
    }
  }
  // Best first: the highest Δm% with baselines, else the lowest mean loss; runs without a value last.
  const key = (row: BenchRow) => (hasBaselines ? -(row.deltaM?.mean ?? Number.NEGATIVE_INFINITY) : (row.loss.mean ?? Number.POSITIVE_INFINITY));
  rows.sort((a, b) => key(a) - key(b));
  rows.forEach((row, i) => (row.rank = i + 1));

  const split = runs[0]?.result.evaluation.split ?? 'test';
  const summary = (s: { mean: number | null; std: number | null }) => (s.mean === null ? null : { mean: s.mean, std: s.std ?? 0, n: seeds.length });
  const header = ['rank', 'sharing', 'weighting', 'site', ...tasks.map((task) => `${task} ${rows[0]?.metrics[task]?.metric ?? ''}`.trim()), 'mean loss', ...(hasBaselines ? ['Δm%'] : []), 's/run'];
  const table = rows.map((row) => [
    String(row.rank),
    row.sharing,
    row.weighting,
    row.site ?? '–',
    ...tasks.map((task) => formatMeanStd(summary(row.metrics[task]!))),
    formatMeanStd(summary(row.loss)),
    ...(hasBaselines ? [formatMeanStd(summary(row.deltaM!), 3)] : []),
    row.seconds.toFixed(1),
  ]);
  const markdown =
    `# ${name}: bench\n\n` +
    `Final ${split} metrics, mean${seeds.length > 1 ? ' ± std' : ''} over seeds ${seeds.join(', ')}; ` +
    `ranked by ${hasBaselines ? 'Δm% against single-task runs (higher is better)' : 'mean task loss (lower is better)'}.\n\n` +
    markdownTable(header, table);
  const files = { markdown: join(out, 'bench.md'), json: join(out, 'bench.json'), report: join(out, RUN_FILES.report) };
  writeFileSync(files.markdown, markdown);
  const allBaselines = [...baselines.values()].flat();
  writeFileSync(
    files.json,
    `${JSON.stringify({ name, split, seeds, sharings, weightings: options.weightings, rows, runs: runs.map((r) => ({ seed: r.seed, sharing: r.sharing, weighting: r.weighting, dir: r.result.dir, evaluation: r.result.evaluation.report, seconds: r.result.seconds })) }, null, 2)}\n`,
  );
  await writeReport([...runs.map((r) => r.result.log), ...allBaselines.map((b) => b.log)], files.report, `${name}: bench`);
  stream?.write(`\n${markdown}\ntable: ${files.markdown}\njson: ${files.json}\nreport: ${files.report}\n`);
  return { out, split, rows, runs: runs.map((r) => r.result), baselines: allBaselines, markdown, files };
}
