import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MtlError, useBackend, type Registry } from '@mtljs/core';
import { multiFashion, multiMnist } from '@mtljs/datasets';
import { readRunLog, renderReport, type RunLog } from '@mtljs/report';
import { planMethods, type MethodPlan } from './methods';
import type { BenchmarkOptions } from './options';
import { markdownTable, rankRows, replaceBetweenMarkers, summarise, type ResultRow, type RunResult } from './results';
import { completedRun, runMethod, type RunContext } from './run';

/** MultiMNIST's and MultiFashion's tasks: the top-left and the bottom-right item's class. */
const TASKS = ['left', 'right'];

export const DATASET_TITLES = { 'multi-mnist': 'MultiMNIST', 'multi-fashion': 'MultiFashion' } as const;

export interface BenchmarkOutcome {
  rows: ResultRow[];
  results: RunResult[];
  /** The table in Markdown. */
  markdown: string;
  /** Paths written (absolute, or relative to the working folder when `out` is). */
  files: { json: string; markdown: string; report: string; logs: string[]; readme?: string };
}

/** The results JSON: the setup, the table's rows and every run. */
export interface ResultsFile {
  dataset: BenchmarkOptions['dataset'];
  setup: {
    model: string;
    sharing: 'hard';
    trainSize: number;
    testSize: number;
    epochs: number;
    batchSize: number;
    optimizer: { name: 'adam'; learningRate: number };
    seeds: number[];
    dataSeed: number;
    backend: string;
    siteOption: BenchmarkOptions['site'];
    command: string;
    node: string;
    startedAt: string;
    finishedAt: string;
  };
  tasks: string[];
  /** Ranked as in the Markdown table. */
  rows: ResultRow[];
  runs: RunResult[];
}

/**
 * Runs the benchmark: single-task baselines and every planned weighting for each seed, then the
 * table (Markdown and JSON), the HTML report of every run, and the README's table between its
 * `<!-- results:<dataset> -->` markers when `<out>/README.md` has them.
 */
export async function runBenchmark(options: BenchmarkOptions, registry: Registry, log: (line: string) => void, argv: readonly string[] = []): Promise<BenchmarkOutcome> {
  const startedAt = new Date().toISOString();
  // Planned first, so an unknown weighting fails before any data is read.
  const plans: MethodPlan[] = planMethods(options, TASKS, registry);
  const choice = await useBackend(options.backend, { registry, log });
  const load = options.dataset === 'multi-mnist' ? multiMnist : multiFashion;
  const dataset = await load({ seed: options.dataSeed, trainSize: options.trainSize, testSize: options.testSize, batchSize: options.batchSize });
  const tasks = dataset.tasks.map((t) => t.name);
  if (tasks.join() !== TASKS.join()) throw new MtlError('BAD_DATA', `${options.dataset}: expected the tasks ${TASKS.join(', ')}, got ${tasks.join(', ')}`);
  const logFolder = join('results', options.dataset);
  await mkdir(join(options.out, logFolder), { recursive: true });
  const context: RunContext = {
    dataset,
    datasetName: options.dataset,
    epochs: options.epochs,
    batchSize: options.batchSize,
    learningRate: options.learningRate,
    backend: choice.name,
    logEvery: options.logEvery,
    probeEvery: options.probeEvery,
    out: options.out,
    logFolder,
    registry,
    log,
  };
  log(
    `${DATASET_TITLES[options.dataset]}: ${dataset.arrays.train.count} training and ${dataset.arrays.test.count} test images, ` +
      `${options.epochs} epoch(s), batch ${options.batchSize}, Adam ${options.learningRate}, seeds ${options.seeds.join(',')}, backend ${choice.name}; ` +
      `${plans.length} runs per seed: ${plans.map((p) => (p.site ? `${p.id}@${p.site}` : p.id)).join(', ')}`,
  );

  const results: RunResult[] = [];
  for (const seed of options.seeds) {
    for (const plan of plans) {
      const earlier = options.resume ? await completedRun(plan, seed, context) : null;
      const result = earlier ?? (await runMethod(plan, seed, context));
      results.push(result);
      if (earlier) log(`${plan.id} seed ${seed}: completed earlier (${earlier.log}), not run again`);
      const accuracy = Object.entries(result.accuracy).map(([t, a]) => `${t} ${(100 * a).toFixed(2)}%`).join(', ');
      log(`${plan.id} seed ${seed}: ${result.status === 'completed' ? accuracy : `FAILED (${result.error})`} in ${result.seconds.toFixed(1)} s`);
    }
  }

  const rows = rankRows(summarise(results, tasks));
  const markdown = markdownTable(rows, tasks);
  const files: BenchmarkOutcome['files'] = {
    json: join(options.out, `results-${options.dataset}.json`),
    markdown: join(options.out, `results-${options.dataset}.md`),
    report: join(options.out, logFolder, 'report.html'),
    logs: results.map((r) => join(options.out, r.log)),
  };
  const file: ResultsFile = {
    dataset: options.dataset,
    setup: {
      model: 'multi-LeNet (Sener & Koltun 2018): conv 5×5×10, max-pool, conv 5×5×20, max-pool, dense 50 shared; heads dense 50 → 10',
      sharing: 'hard',
      trainSize: dataset.arrays.train.count,
      testSize: dataset.arrays.test.count,
      epochs: options.epochs,
      batchSize: options.batchSize,
      optimizer: { name: 'adam', learningRate: options.learningRate },
      seeds: options.seeds,
      dataSeed: options.dataSeed,
      backend: choice.name,
      siteOption: options.site,
      command: ['node dist/main.js', ...argv].join(' '),
      node: process.version,
      startedAt,
      finishedAt: new Date().toISOString(),
    },
    tasks,
    rows,
    runs: results,
  };
  await writeFile(files.json, `${JSON.stringify(file, null, 2)}\n`);
  await writeFile(files.markdown, markdown);

  const logs: RunLog[] = [];
  for (const path of files.logs) logs.push(await readRunLog(path));
  const title = `${DATASET_TITLES[options.dataset]}: weightings with hard sharing (${dataset.arrays.train.count} training images, ${options.epochs} epoch${options.epochs === 1 ? '' : 's'}, seed${options.seeds.length === 1 ? '' : 's'} ${options.seeds.join(', ')})`;
  await writeFile(files.report, renderReport({ title, runs: logs }));

  const readme = join(options.out, 'README.md');
  if (existsSync(readme)) {
    const updated = replaceBetweenMarkers(await readFile(readme, 'utf8'), options.dataset, markdown);
    if (updated !== null) {
      await writeFile(readme, updated);
      files.readme = readme;
    }
  }
  return { rows, results, markdown, files };
}
