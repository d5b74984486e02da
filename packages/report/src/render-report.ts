import { MtlError } from '@mtljs/core';
import { barChart } from './bar-chart';
import { heatmap } from './heatmap';
import { lineChart, type LineSeries } from './line-chart';
import {
  collectBaselines,
  definedMetrics,
  deltaMRow,
  finalEvaluation,
  meanCosines,
  stepsTaken,
  type Baseline,
  type DeltaMRow,
  type FinalEvaluation,
  type MeanCosines,
} from './report-data';
import type { RunLog, TaskValues } from './run-log';
import { smooth, smoothingSpan, type Point } from './series';
import { escapeHtml, extent, formatValue } from './svg';

/** Options of `renderReport`. */
export interface RenderReportOptions {
  /** Page title (default 'mtljs training report'). */
  title?: string;
  /**
   * The runs, from `parseRunLog` / `readRunLog`, in page order; names must be unique. Single-task
   * runs (`role: 'single-task'`, one task) are the Δm% baselines of their task.
   */
  runs: RunLog[];
  /**
   * Single-task metric values per task (`{ task: { accuracy: 0.91 } }`) for Δm%, e.g. from a
   * paper or an earlier study; a task given here takes this baseline instead of its single-task run.
   */
  baselines?: Record<string, Record<string, number>>;
}

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2937; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 20px 0 8px; color: #374151; }
.sub { color: #4b5563; margin: 0 0 12px; }
nav { margin: 8px 0 20px; display: flex; flex-wrap: wrap; gap: 6px 14px; }
nav a { color: #0f5c99; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 18px 22px; margin: 18px 0; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.meta { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 10px; }
.tag { background: #eef2f7; border-radius: 999px; padding: 1px 10px; font-size: 12.5px; color: #374151; }
.tag b { font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 14px; align-items: start; }
.charts figure { margin: 0; }
svg.mtl-chart { max-width: 100%; height: auto; background: #fff; }
figcaption { color: #4b5563; font-size: 12.5px; margin-top: 2px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.metric { white-space: nowrap; font-variant-numeric: tabular-nums; }
.metric span { color: #6b7280; }
.status-completed { color: #047857; font-weight: 600; }
.status-failed { color: #b91c1c; font-weight: 600; }
.status-interrupted, .status-unfinished { color: #b45309; font-weight: 600; }
.delta-positive { color: #0f5c99; font-weight: 700; }
.delta-negative { color: #b2182b; font-weight: 700; }
.error { background: #fef2f2; border: 1px solid #fecaca; color: #991b1b; border-radius: 6px; padding: 8px 12px; white-space: pre-wrap; }
.flag { background: #fff7ed; border-left: 4px solid #b2182b; padding: 8px 12px; margin: 8px 0; }
.ok { background: #f0f9ff; border-left: 4px solid #2166ac; padding: 8px 12px; margin: 8px 0; }
.note { color: #4b5563; font-size: 12.5px; }
ul.warnings { margin: 4px 0; padding-left: 20px; }
footer { color: #6b7280; font-size: 12px; margin-top: 28px; }
`;

function tag(name: string, value: unknown): string {
  return `<span class="tag">${escapeHtml(name)} <b>${escapeHtml(value)}</b></span>`;
}

function statusOf(log: RunLog): { text: string; className: string } {
  if (!log.end) return { text: 'unfinished (no end record)', className: 'status-unfinished' };
  return { text: log.end.status, className: `status-${log.end.status}` };
}

function duration(log: RunLog): string {
  if (!log.end) return '–';
  const ms = Date.parse(log.end.finishedAt) - Date.parse(log.run.startedAt);
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds - 60 * minutes)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A task's metrics, one per line: 'accuracy 0.912'. */
function metricLines(metrics: Record<string, number | null>, loss?: number | null): string {
  const entries = Object.entries(metrics);
  const lines = entries.map(([name, value]) => `<div class="metric"><span>${escapeHtml(name)}</span> ${escapeHtml(formatValue(value))}</div>`);
  if (loss !== undefined && entries.length === 0) lines.push(`<div class="metric"><span>loss</span> ${escapeHtml(formatValue(loss))}</div>`);
  return lines.join('') || '–';
}

function signedPercent(value: number): string {
  const text = Math.abs(value).toFixed(2);
  return `${value < 0 ? '\u2212' : value > 0 ? '+' : ''}${text}%`;
}

function allTasks(runs: RunLog[]): string[] {
  const names: string[] = [];
  for (const log of runs) for (const task of log.run.tasks) if (!names.includes(task.name)) names.push(task.name);
  return names;
}

function summaryTable(runs: RunLog[], finals: (FinalEvaluation | undefined)[]): string {
  const tasks = allTasks(runs);
  const head = ['run', 'role', 'sharing', 'weighting', 'site', 'backend', 'seed', 'steps', 'time', 'status', 'final metrics on']
    .map((name) => `<th${name === 'seed' || name === 'steps' ? ' class="num"' : ''}>${escapeHtml(name)}</th>`)
    .concat(tasks.map((task) => `<th>${escapeHtml(task)}</th>`))
    .join('');
  const rows = runs.map((log, index) => {
    const final = finals[index];
    const status = statusOf(log);
    const cells = [
      `<td><a href="#run-${index + 1}">${escapeHtml(log.run.name)}</a></td>`,
      `<td>${escapeHtml(log.run.role ?? 'multi-task')}</td>`,
      `<td>${escapeHtml(log.run.sharing)}</td>`,
      `<td>${escapeHtml(log.run.weighting)}</td>`,
      `<td>${escapeHtml(log.run.site ?? '–')}</td>`,
      `<td>${escapeHtml(log.run.backend)}</td>`,
      `<td class="num">${escapeHtml(log.run.seed)}</td>`,
      `<td class="num">${escapeHtml(stepsTaken(log))}</td>`,
      `<td>${escapeHtml(duration(log))}</td>`,
      `<td class="${status.className}">${escapeHtml(status.text)}</td>`,
      `<td>${escapeHtml(final?.split ?? '–')}</td>`,
      ...tasks.map((task) => {
        const evaluation = final?.tasks[task];
        return `<td>${evaluation ? metricLines(evaluation.metrics, evaluation.loss) : '–'}</td>`;
      }),
    ];
    return `<tr data-run="${escapeHtml(log.run.name)}">${cells.join('')}</tr>`;
  });
  return `<div class="table-wrap"><table class="mtl-summary"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

/** One series per task of a per-step quantity, smoothed, with the raw values drawn faintly behind. */
function stepSeries(log: RunLog, pick: (step: RunLog['steps'][number]) => TaskValues): { series: LineSeries[]; span: number } {
  const span = smoothingSpan(log.steps.length);
  const series: LineSeries[] = [];
  const raw: LineSeries[] = [];
  for (const task of log.run.tasks) {
    const points: Point[] = log.steps.map((step) => [step.step, pick(step)[task.name] ?? null]);
    series.push({ name: task.name, points: smooth(points, span) });
    if (span > 1) raw.push({ name: task.name, points, faint: true });
  }
  return { series: [...raw, ...series], span };
}

/** A log y axis when every value is positive and they span more than a factor of 20. */
function wantsLogAxis(series: LineSeries[]): boolean {
  const values = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y): y is number => y !== null);
  if (values.length === 0 || values.some((y) => y <= 0)) return false;
  const [low, high] = extent(values);
  return high / low > 20;
}

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${caption}</figcaption></figure>`;
}

function smoothingCaption(span: number, count: number): string {
  return span > 1
    ? `${count} logged steps; lines: exponential moving average over a span of ${span} logged steps (bias-corrected); faint: raw values.`
    : `${count} logged steps, raw values (no smoothing below 75 logged steps).`;
}

function validationCharts(log: RunLog): string[] {
  const epochs = log.epochs.filter((epoch) => epoch.validation);
  if (epochs.length === 0) return [];
  const tasks = log.run.tasks.map((task) => task.name);
  const metricNames: string[] = ['loss'];
  for (const epoch of epochs) {
    for (const task of tasks) for (const name of Object.keys(epoch.validation![task]?.metrics ?? {})) if (!metricNames.includes(name)) metricNames.push(name);
  }
  return metricNames.map((metric) => {
    const series: LineSeries[] = tasks
      .filter((task) => metric === 'loss' || epochs.some((epoch) => epoch.validation![task]?.metrics[metric] !== undefined))
      .map((task) => ({
        name: task,
        points: epochs.map((epoch): Point => {
          const evaluation = epoch.validation![task];
          return [epoch.epoch + 1, (metric === 'loss' ? evaluation?.loss : evaluation?.metrics[metric]) ?? null];
        }),
      }));
    return figure(
      lineChart({ title: `Validation ${metric} per epoch`, xLabel: 'epoch', yLabel: metric, series, width: 560, height: 300 }),
      `After each of ${epochs.length} epoch${epochs.length === 1 ? '' : 's'}.`,
    );
  });
}

function cosineCaption(log: RunLog, cosines: MeanCosines): string {
  const where = `steps ${cosines.firstStep}–${cosines.lastStep}`;
  const { gramian, probe } = cosines.bySource;
  const from =
    probe === 0
      ? `from the Gramian the weighting '${escapeHtml(log.run.weighting)}' computed at the '${escapeHtml(log.run.site ?? 'default')}' site`
      : gramian === 0
        ? 'from probes of the Gramian at the features site (the weighting computes none)'
        : `${gramian} from the weighting's Gramian, ${probe} from probes at the features site`;
  return `Mean cosine similarity between the tasks' gradients over ${cosines.records} step${cosines.records === 1 ? '' : 's'} (${where}), ${from}. Cells below zero (red, dashed outline) are pairs whose gradients conflict on average.`;
}

function negativeTransferNote(cosines: MeanCosines): string {
  const pairs: string[] = [];
  for (let i = 0; i < cosines.tasks.length; i++) {
    for (let j = i + 1; j < cosines.tasks.length; j++) {
      const mean = cosines.mean[i]![j];
      if (mean === null || mean === undefined || mean >= 0) continue;
      pairs.push(
        `<b>${escapeHtml(cosines.tasks[i])} ↔ ${escapeHtml(cosines.tasks[j])}</b> (mean ${escapeHtml(formatValue(mean, 3))}, negative at ${cosines.negative[i]![j]} of ${cosines.counts[i]![j]} steps)`,
      );
    }
  }
  if (pairs.length === 0) {
    return `<p class="ok mtl-transfer" data-negative-pairs="0">No pair of tasks has a negative mean gradient cosine: on average their gradients do not conflict at this site, so no sign of negative transfer.</p>`;
  }
  return `<p class="flag mtl-transfer" data-negative-pairs="${pairs.length}">Negative mean gradient cosine — these tasks pull the shared parameters in conflicting directions on average, where negative transfer shows itself: ${pairs.join('; ')}.</p>`;
}

function warningsList(log: RunLog): string {
  if (log.warnings.length === 0) return '';
  const distinct = new Map<string, { first: number; count: number }>();
  for (const warning of log.warnings) {
    const seen = distinct.get(warning.message);
    if (seen) seen.count += 1;
    else distinct.set(warning.message, { first: warning.step, count: 1 });
  }
  const items = [...distinct.entries()].map(
    ([message, { first, count }]) => `<li>${escapeHtml(message)} <span class="note">(step ${first}${count > 1 ? `, ${count} times` : ''})</span></li>`,
  );
  return `<h3>Warnings</h3><ul class="warnings">${items.join('')}</ul>`;
}

function runSection(log: RunLog, index: number): string {
  const run = log.run;
  const tasks = run.tasks;
  const parts: string[] = [];
  parts.push(`<section class="card mtl-run" id="run-${index + 1}" data-run="${escapeHtml(run.name)}"><h2>${escapeHtml(run.name)}</h2>`);
  parts.push(
    `<div class="meta">${[
      tag('role', run.role ?? 'multi-task'),
      tag('sharing', run.sharing),
      tag('weighting', run.weighting),
      tag('site', run.site ?? '–'),
      tag('backend', run.backend),
      tag('seed', run.seed),
      tag('started', run.startedAt),
      tag('status', statusOf(log).text),
    ].join('')}</div>`,
  );
  parts.push(
    `<p class="sub">Tasks: ${tasks.map((task) => `${escapeHtml(task.name)} <span class="note">(${escapeHtml(task.kind)}, ${escapeHtml(task.units)} unit${task.units === 1 ? '' : 's'})</span>`).join(', ')}.</p>`,
  );
  if (log.end?.error) parts.push(`<div class="error">${escapeHtml(log.end.error)}</div>`);

  const charts: string[] = [];
  if (log.steps.length > 0) {
    const losses = stepSeries(log, (step) => step.losses);
    charts.push(
      figure(
        lineChart({ title: 'Training loss per task', xLabel: 'step', yLabel: 'loss', series: losses.series, logY: wantsLogAxis(losses.series), width: 560, height: 300 }),
        `Raw (unweighted) task losses. ${smoothingCaption(losses.span, log.steps.length)}`,
      ),
    );
    if (tasks.length > 1) {
      const weights = stepSeries(log, (step) => step.weights);
      charts.push(
        figure(
          lineChart({ title: 'Task weights', xLabel: 'step', yLabel: 'weight', series: weights.series, width: 560, height: 300 }),
          `Weights the weighting '${escapeHtml(run.weighting)}' gave each task (0 while a task is inactive). ${smoothingCaption(weights.span, log.steps.length)}`,
        ),
      );
    }
  }
  charts.push(...validationCharts(log));
  parts.push(`<h3>Training</h3>`);
  parts.push(charts.length ? `<div class="charts">${charts.join('')}</div>` : `<p class="note">No step or epoch records in this log.</p>`);

  const cosines = tasks.length > 1 ? meanCosines(log) : undefined;
  parts.push(`<h3>Task relationships</h3>`);
  if (cosines) {
    parts.push(
      `<div class="charts"><figure>${heatmap({ title: 'Mean cosine similarity of task gradients', labels: cosines.tasks, values: cosines.mean })}<figcaption>${cosineCaption(log, cosines)}</figcaption></figure></div>`,
      negativeTransferNote(cosines),
    );
  } else {
    parts.push(
      `<p class="note">${
        tasks.length > 1
          ? 'No cosine records: the weighting computed no Gramian and no probe was configured (RunLogWriter.callbacks({ probe })).'
          : 'One task: no task pairs to compare.'
      }</p>`,
    );
  }
  parts.push(warningsList(log));
  if (log.checkpoints.length) {
    const last = log.checkpoints[log.checkpoints.length - 1]!;
    parts.push(`<p class="note">${log.checkpoints.length} checkpoint${log.checkpoints.length === 1 ? '' : 's'}; last: ${escapeHtml(last.path)} (epoch ${last.epoch + 1}, step ${last.step}).</p>`);
  }
  parts.push('</section>');
  return parts.join('');
}

function comparisonSection(runs: RunLog[], given: Record<string, Record<string, number>> | undefined): string {
  const { baselines, notes } = collectBaselines(runs, given);
  const multi = runs.filter((log) => log.run.role !== 'single-task');
  if (Object.keys(baselines).length === 0) {
    return `<section class="card" id="comparison"><h2>Comparison with single-task models</h2><p class="note">No single-task runs (role 'single-task', one per task) and no given baselines in this report, so there is no Δm%.</p></section>`;
  }
  const rows: DeltaMRow[] = multi.map((log) => deltaMRow(log, baselines));
  const tasks = allTasks(multi).filter((task) => baselines[task]) as string[];
  for (const task of Object.keys(baselines)) if (!tasks.includes(task)) tasks.push(task);
  const head = `<tr><th>run</th><th>metrics on</th>${tasks.map((task) => `<th>${escapeHtml(task)}</th>`).join('')}<th class="num">Δm%</th></tr>`;
  const baselineCell = (baseline: Baseline | undefined) =>
    baseline ? `${metricLines(baseline.metrics)}<div class="note">${baseline.source === 'given' ? 'given' : `from ${escapeHtml(baseline.source)}`}</div>` : '–';
  const baselineRow = `<tr class="mtl-baseline"><td><b>single-task baselines</b></td><td>${escapeHtml(
    [...new Set(Object.values(baselines).map((b) => b.split ?? 'given'))].join(', '),
  )}</td>${tasks.map((task) => `<td>${baselineCell(baselines[task])}</td>`).join('')}<td class="num">0.00%</td></tr>`;
  const splitNotes: string[] = [];
  const body = rows.map((row) => {
    const name = row.log.run.name;
    const cells = tasks.map((task) => {
      const evaluation = row.evaluation?.tasks[task];
      return `<td>${evaluation ? metricLines(definedMetrics(evaluation)) : '–'}</td>`;
    });
    const split = row.evaluation?.split;
    for (const task of row.log.run.tasks) {
      const baseline = baselines[task.name];
      if (split && baseline?.split && baseline.split !== split) {
        splitNotes.push(`'${name}' is measured on ${split} but the baseline of '${task.name}' on ${baseline.split}`);
      }
    }
    const delta =
      row.value === null
        ? `<td class="num mtl-delta-m" data-run="${escapeHtml(name)}" data-value="">n/a<div class="note">${escapeHtml(row.problem ?? '')}</div></td>`
        : `<td class="num mtl-delta-m ${row.value >= 0 ? 'delta-positive' : 'delta-negative'}" data-run="${escapeHtml(name)}" data-value="${row.value}">${signedPercent(row.value)}</td>`;
    return `<tr data-run="${escapeHtml(name)}"><td><a href="#run-${runs.indexOf(row.log) + 1}">${escapeHtml(name)}</a></td><td>${escapeHtml(split ?? '–')}</td>${cells.join('')}${delta}</tr>`;
  });
  const parts = [
    `<section class="card" id="comparison"><h2>Comparison with single-task models</h2>`,
    `<p class="sub">Δm% = (100/T) Σ<sub>t</sub> (1/K<sub>t</sub>) Σ<sub>k</sub> s<sub>k</sub> (M<sub>t,k</sub> − B<sub>t,k</sub>) / |B<sub>t,k</sub>| over the T tasks and, per task, the K<sub>t</sub> metrics in both the run and its baseline; s = +1 where higher is better (accuracy, f1, r2), −1 where lower is (rmse, mae). Positive: the multi-task model is better on average (Maninis et al. 2019; Vandenhende et al. 2021). Each run's final metrics: its last evaluation, else its last epoch's validation.</p>`,
    `<div class="table-wrap"><table class="mtl-delta-table"><thead>${head}</thead><tbody>${baselineRow}${body.join('')}</tbody></table></div>`,
  ];
  const bars = rows.map((row) => ({ label: row.log.run.name, value: row.value }));
  if (bars.some((bar) => bar.value !== null)) {
    parts.push(`<div class="charts"><figure>${barChart({ title: 'Δm% against the single-task models', bars, xLabel: 'Δm (%)', unit: '%' })}</figure></div>`);
  }
  for (const note of [...notes, ...splitNotes]) parts.push(`<p class="note">${escapeHtml(note)}.</p>`);
  parts.push('</section>');
  return parts.join('');
}

/**
 * One self-contained HTML page for a set of runs: inline CSS and SVG only, no script and no
 * network request (a Content-Security-Policy forbids them), so the file shows everything offline.
 * Every string from the logs is escaped. Sections: a summary table, one section per run (losses,
 * weights, validation per epoch, the heatmap of mean gradient cosines, warnings, checkpoints) and,
 * when there are single-task runs or `baselines`, the comparison by Δm%. The same logs give the
 * same bytes (the page holds no "generated at" time).
 *
 * @throws MtlError `BAD_CONFIG` when `runs` is not an array, an entry is not a run log, or two runs
 * share a name.
 */
export function renderReport(options: RenderReportOptions): string {
  if (!options || !Array.isArray(options.runs)) throw new MtlError('BAD_CONFIG', "renderReport: 'runs' must be an array of run logs (parseRunLog / readRunLog)", { field: 'runs' });
  const title = options.title ?? 'mtljs training report';
  const runs = options.runs;
  runs.forEach((log, index) => {
    const ok = log && typeof log.run?.name === 'string' && Array.isArray(log.run.tasks) && ['steps', 'cosines', 'epochs', 'evals', 'checkpoints', 'warnings'].every((key) => Array.isArray((log as unknown as Record<string, unknown>)[key]));
    if (!ok) throw new MtlError('BAD_CONFIG', `renderReport: runs[${index}] is not a run log (read one with parseRunLog or readRunLog)`, { field: `runs[${index}]` });
  });
  const names = new Set<string>();
  for (const log of runs) {
    if (names.has(log.run.name)) throw new MtlError('BAD_CONFIG', `renderReport: two runs are named '${log.run.name}'; run names must be unique within a report`, { field: 'runs' });
    names.add(log.run.name);
  }
  const finals = runs.map(finalEvaluation);
  const hasSingleTask = runs.some((log) => log.run.role === 'single-task') || Object.keys(options.baselines ?? {}).length > 0;
  const nav = [
    `<a href="#summary">Summary</a>`,
    ...runs.map((log, index) => `<a href="#run-${index + 1}">${escapeHtml(log.run.name)}</a>`),
    ...(hasSingleTask ? [`<a href="#comparison">Δm%</a>`] : []),
  ].join('');
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="sub">${runs.length} run${runs.length === 1 ? '' : 's'}: ${[...new Set(runs.flatMap((log) => log.run.tasks.map((t) => t.name)))].map(escapeHtml).join(', ') || 'no tasks'}.</p>`,
    `<nav>${nav}</nav>`,
    `<section class="card" id="summary"><h2>Summary</h2>${runs.length ? summaryTable(runs, finals) : '<p class="note">No runs.</p>'}</section>`,
    ...runs.map(runSection),
    ...(hasSingleTask ? [comparisonSection(runs, options.baselines)] : []),
    `<footer>Written by @mtljs/report from run logs (format version ${escapeHtml([...new Set(runs.map((log) => log.run.version))].join(', ') || '–')}). Series longer than 1000 points are downsampled: each bucket of consecutive points keeps its lowest and highest value.</footer>`,
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
