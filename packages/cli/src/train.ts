import { writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { defaultRegistry, deltaM, type Registry } from '@mtljs/core';
import { readRunLog, renderReport } from '@mtljs/report';
import { registerStandardPlugins } from 'mtljs';
import { fromRaw, loadConfig, type CliConfig, type ConfigOverrides, type LoadedConfig } from './config';
import { openData, restrictData, type RunData } from './data';
import { evaluationLines, formatNumber, type ProgressStream } from './progress';
import { folderName, prepare, RUN_FILES, timestamp, trainRun, type RunContext, type RunResult } from './run';

/** Options of {@link train} (`mtl train`); the {@link ConfigOverrides} replace the config's values. */
export interface TrainOptions extends ConfigOverrides {
  /** A config file path, or a config already loaded (overrides still apply). */
  config: string | LoadedConfig;
  /** Progress and messages (the CLI passes process.stdout unless --quiet); nothing when absent. */
  stream?: ProgressStream;
  /** Plain progress lines every N steps when the stream is not a TTY. */
  logEvery?: number;
  /** Aborting stops training after the current step; the log ends 'interrupted'. */
  signal?: AbortSignal;
  /** Default: the default registry, with the standard plugins registered. */
  registry?: Registry;
  /** Write `report.html` in the run folder (default true). */
  report?: boolean;
  /** Activate the config's backend (default true; bench and tune activate it once). */
  activateBackend?: boolean;
}

/** What {@link train} returns: the multi-task run, its config and its baselines. */
export interface TrainResult extends RunResult {
  /** The config the run trained with (validated, overrides applied, paths absolute). */
  config: CliConfig;
  /** The single-task runs, when the config asks for baselines. */
  baselines: RunResult[];
  /** Δm% of the multi-task run against the baselines (final evaluation metrics). */
  deltaM?: number;
  /** The HTML report, when written. */
  report?: string;
}

/** The run's name: the config's `name`, else the config file's name without its extension. */
export function runName(loaded: LoadedConfig): string {
  if (loaded.config.name !== undefined) return loaded.config.name;
  return loaded.file ? basename(loaded.file, extname(loaded.file)) : 'run';
}

/** The registry a command uses, with the standard plugins registered in it. */
export function commandRegistry(registry?: Registry): Registry {
  const chosen = registry ?? defaultRegistry();
  registerStandardPlugins(chosen);
  return chosen;
}

/** Applies overrides to a loaded config (re-validated like a file). */
export function withOverrides(config: string | LoadedConfig, overrides: ConfigOverrides): LoadedConfig {
  if (typeof config === 'string') return loadConfig(config, overrides);
  const none = overrides.epochs === undefined && overrides.seed === undefined && overrides.backend === undefined && overrides.out === undefined;
  if (none) return config;
  const loaded = fromRaw(config.config, { label: config.label, dir: config.dir, ...(config.file ? { file: config.file } : {}) }, overrides);
  return { ...loaded, raw: config.raw };
}

/**
 * The config of the single-task baseline of one task: hard sharing with the same encoder and
 * head, equal weighting (one task: its own loss), the same optimiser, seed and epochs.
 */
export function baselineConfig(loaded: LoadedConfig, task: string): LoadedConfig {
  const config = structuredClone(loaded.config);
  config.model.sharing = 'hard';
  config.weighting = 'ew';
  delete config.site;
  config.baselines = false;
  config.tasks = [loaded.config.tasks?.find((t) => t.name === task) ?? { name: task }];
  config.name = `${runName(loaded)} single-task ${task}`;
  return { ...loaded, config, label: `${loaded.label} (single-task '${task}')` };
}

/** Δm% of a run's final metrics against single-task runs' final metrics for their own task. */
export function deltaMOf(run: RunResult, baselines: readonly RunResult[]): number {
  const results = Object.fromEntries(Object.entries(run.evaluation.report.tasks).map(([task, e]) => [task, e.metrics]));
  const reference = Object.fromEntries(
    baselines.map((baseline) => {
      const [task, evaluation] = Object.entries(baseline.evaluation.report.tasks)[0]!;
      return [task, evaluation.metrics];
    }),
  );
  return deltaM(results, reference);
}

/** Writes one HTML report of the given run logs. */
export async function writeReport(logs: readonly string[], out: string, title: string): Promise<string> {
  const runs = await Promise.all(logs.map((log) => readRunLog(log)));
  writeFileSync(out, renderReport({ title, runs }));
  return out;
}

/** Single-task runs of every task of the data, in `<dir>/single-<task>` (see {@link baselineConfig}). */
export async function trainBaselines(loaded: LoadedConfig, data: RunData, dir: string, context: RunContext): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const [i, task] of data.tasks.entries()) {
    context.stream?.write(`single-task baseline ${i + 1}/${data.tasks.length}: task '${task.name}'\n`);
    const single = baselineConfig(loaded, task.name);
    const result = await trainRun(
      { loaded: single, data: restrictData(data, [task.name]), dir: join(dir, `single-${folderName(task.name)}`), name: single.config.name!, role: 'single-task' },
      context,
    );
    context.stream?.write(`${evaluationLines(result.evaluation.report).join('\n')}\n`);
    results.push(result);
  }
  return results;
}

/** Trains the multi-task run and, with `baselines`, the single-task runs, all in one folder. */
export async function trainWithBaselines(loaded: LoadedConfig, data: RunData, out: string, context: RunContext): Promise<{ main: RunResult; baselines: RunResult[] }> {
  const main = await trainRun({ loaded, data, dir: out, name: runName(loaded), role: 'multi-task' }, context);
  context.stream?.write(`final ${main.evaluation.split} evaluation (${main.steps} steps, ${main.seconds.toFixed(1)} s):\n${evaluationLines(main.evaluation.report).join('\n')}\n`);
  const baselines = loaded.config.baselines ? await trainBaselines(loaded, data, out, context) : [];
  return { main, baselines };
}

/**
 * `mtl train`: trains the config's model, writing the run folder (`log.jsonl`, `config.json`,
 * `checkpoints/`, `report.html`), and single-task baselines in `single-<task>/` when asked.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const registry = commandRegistry(options.registry);
  const loaded = withOverrides(options.config, options);
  const { config } = loaded;
  const name = runName(loaded);
  const out = resolve(options.out ?? config.out ?? join('runs', `${folderName(name)}-${timestamp()}`));
  const stream = options.stream;
  const context: RunContext = { registry, ...(stream ? { stream } : {}), ...(options.signal ? { signal: options.signal } : {}), logEvery: options.logEvery ?? 0 };
  await prepare(loaded, context, { backend: options.activateBackend !== false });
  const data = await openData(loaded, registry);
  stream?.write(
    `mtl train '${name}': ${data.description ?? 'data'}; tasks ${data.tasks.map((t) => `${t.name} (${t.kind})`).join(', ')}; ` +
      `input [${data.inputShape.join(', ')}]; ${config.epochs} epoch(s); writing to ${out}\n`,
  );
  const { main, baselines } = await trainWithBaselines(loaded, data, out, context);
  const result: TrainResult = { ...main, config, baselines };
  if (baselines.length > 0) {
    result.deltaM = deltaMOf(main, baselines);
    stream?.write(`Δm% against the single-task runs: ${result.deltaM >= 0 ? '+' : ''}${formatNumber(result.deltaM)} (positive: multi-task is better)\n`);
  }
  if (options.report !== false) {
    result.report = await writeReport([main.log, ...baselines.map((b) => b.log)], join(out, RUN_FILES.report), name);
    stream?.write(`report: ${result.report}\n`);
  }
  return result;
}
