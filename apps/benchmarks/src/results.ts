import { deltaM, type GradientSite, type WeightingLevel } from '@mtljs/core';

/** What one training run (one method, one seed) gave. */
export interface RunResult {
  /** The method's id: a weighting name, or `single-<task>`. */
  id: string;
  seed: number;
  role: 'multi-task' | 'single-task';
  weighting: string;
  level: WeightingLevel;
  site: GradientSite | null;
  tasks: string[];
  status: 'completed' | 'failed';
  /** The error of a failed run (its MtlError code first, when it has one). */
  error?: string;
  /** Test accuracy of each trained task (absent for a failed run). */
  accuracy: Record<string, number>;
  /** Wall-clock seconds of the whole run: building the model, training, the test evaluation. */
  seconds: number;
  steps: number;
  /** The run log, relative to the results folder. */
  log: string;
}

/** One line of the table: a method over all seeds (means), or the single-task baselines together. */
export interface ResultRow {
  /** A weighting name, or 'single-task' for the baselines' row. */
  method: string;
  role: 'multi-task' | 'single-task';
  level: WeightingLevel;
  site: GradientSite | null;
  /** Mean test accuracy over the seeds whose run completed; null when none did. */
  accuracy: Record<string, number | null>;
  /** Mean of the tasks' accuracies. */
  meanAccuracy: number | null;
  /** Mean Δm% over the seeds (0 for the baselines' row); null without baselines. */
  deltaM: number | null;
  /** Sample standard deviation of Δm% over the seeds; null with fewer than two. */
  deltaMStd: number | null;
  /** Mean wall-clock seconds per seed (the baselines' row: both single-task runs together). */
  seconds: number;
  /** Seeds whose runs completed. */
  seeds: number[];
  /** Errors of failed runs, by seed. */
  failures: { seed: number; error: string }[];
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const m = mean(values)!;
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
}

/** The single-task baselines of a seed, when every task has a completed one. */
export function baselinesOf(results: readonly RunResult[], seed: number, tasks: readonly string[]): Record<string, Record<string, number>> | null {
  const baselines: Record<string, Record<string, number>> = {};
  for (const task of tasks) {
    const run = results.find((r) => r.role === 'single-task' && r.seed === seed && r.status === 'completed' && r.tasks.length === 1 && r.tasks[0] === task);
    if (!run) return null;
    baselines[task] = { accuracy: run.accuracy[task]! };
  }
  return baselines;
}

/**
 * The table rows: the baselines' row first (when there are baselines), then one per multi-task
 * method in the order of `results`. Δm% is core's `deltaM` on test accuracy (Maninis et al. 2019;
 * Vandenhende et al. 2021): (100/T) Σ_t (A_t − B_t)/B_t against the same seed's single-task run of
 * task t, then averaged over seeds.
 */
export function summarise(results: readonly RunResult[], tasks: readonly string[]): ResultRow[] {
  const rows: ResultRow[] = [];
  const seeds = [...new Set(results.map((r) => r.seed))];
  const single = results.filter((r) => r.role === 'single-task');
  if (single.length > 0) {
    const completed = seeds.filter((seed) => baselinesOf(results, seed, tasks) !== null);
    const accuracy = Object.fromEntries(
      tasks.map((task) => [task, mean(single.filter((r) => r.status === 'completed' && r.tasks[0] === task).map((r) => r.accuracy[task]!))]),
    );
    rows.push({
      method: 'single-task',
      role: 'single-task',
      level: 'loss',
      site: null,
      accuracy,
      meanAccuracy: tasks.every((t) => accuracy[t] !== null) ? mean(tasks.map((t) => accuracy[t]!)) : null,
      deltaM: completed.length > 0 ? 0 : null,
      deltaMStd: null,
      seconds: mean(seeds.map((seed) => single.filter((r) => r.seed === seed).reduce((s, r) => s + r.seconds, 0))) ?? 0,
      seeds: completed,
      failures: single.filter((r) => r.status === 'failed').map((r) => ({ seed: r.seed, error: `${r.id}: ${r.error ?? 'failed'}` })),
    });
  }
  const methods = [...new Set(results.filter((r) => r.role === 'multi-task').map((r) => r.id))];
  for (const method of methods) {
    const runs = results.filter((r) => r.role === 'multi-task' && r.id === method);
    const completed = runs.filter((r) => r.status === 'completed');
    const accuracy = Object.fromEntries(tasks.map((task) => [task, mean(completed.map((r) => r.accuracy[task]!))]));
    const deltas: number[] = [];
    for (const run of completed) {
      const baselines = baselinesOf(results, run.seed, tasks);
      if (baselines) deltas.push(deltaM(Object.fromEntries(tasks.map((t) => [t, { accuracy: run.accuracy[t]! }])), baselines));
    }
    rows.push({
      method,
      role: 'multi-task',
      level: runs[0]!.level,
      site: runs[0]!.site,
      accuracy,
      meanAccuracy: completed.length > 0 ? mean(tasks.map((t) => accuracy[t]!)) : null,
      deltaM: mean(deltas),
      deltaMStd: sampleStd(deltas),
      seconds: mean(runs.map((r) => r.seconds)) ?? 0,
      seeds: completed.map((r) => r.seed),
      failures: runs.filter((r) => r.status === 'failed').map((r) => ({ seed: r.seed, error: r.error ?? 'failed' })),
    });
  }
  return rows;
}

/** Rows for reading: the baselines first, then by Δm% (best first; rows without one last), ties in their given order. */
export function rankRows(rows: readonly ResultRow[]): ResultRow[] {
  const key = (row: ResultRow) => (row.role === 'single-task' ? Number.POSITIVE_INFINITY : (row.deltaM ?? Number.NEGATIVE_INFINITY));
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => key(b.row) - key(a.row) || a.index - b.index)
    .map(({ row }) => row);
}

const percent = (value: number | null): string => (value === null ? '—' : `${(100 * value).toFixed(2)}`);

function signed(value: number | null, std: number | null): string {
  if (value === null) return '—';
  const text = `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(2)}`;
  return std === null ? text : `${text} ± ${std.toFixed(2)}`;
}

/** The results table in Markdown, rows ranked by Δm%. */
export function markdownTable(rows: readonly ResultRow[], tasks: readonly string[]): string {
  const header = ['method', 'level', 'site', ...tasks.map((t) => `${t} acc. %`), 'mean acc. %', 'Δm%', 'wall s'];
  const align = ['---', '---', '---', ...tasks.map(() => '---:'), '---:', '---:', '---:'];
  const lines = [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const row of rankRows(rows)) {
    const name = row.role === 'single-task' ? 'single-task models' : row.failures.length > 0 && row.seeds.length === 0 ? `${row.method} (failed)` : row.method;
    const cells = [
      name,
      row.role === 'single-task' ? '—' : row.level,
      row.site ?? '—',
      ...tasks.map((t) => percent(row.accuracy[t] ?? null)),
      percent(row.meanAccuracy),
      row.role === 'single-task' ? (row.deltaM === null ? '—' : '0 (reference)') : signed(row.deltaM, row.deltaMStd),
      row.seconds.toFixed(0),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces the text between `<!-- results:<key> -->` and `<!-- /results:<key> -->` (the markers
 * stay); returns null when the markers are not both there, in that order.
 */
export function replaceBetweenMarkers(text: string, key: string, content: string): string | null {
  const open = `<!-- results:${key} -->`;
  const close = `<!-- /results:${key} -->`;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start < 0 || end < start) return null;
  return `${text.slice(0, start + open.length)}\n${content.trimEnd()}\n${text.slice(end)}`;
}
