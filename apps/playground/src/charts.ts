import { heatmap, lineChart } from '@mtljs/report';
import type { CosineSummary, EpochPoint, StepPoint, TaskNumbers } from './session';

type Point = [number, number | null];

/** Most points a step chart draws per series; longer histories are averaged in buckets. */
export const MAX_POINTS = 400;

/**
 * At most `maxPoints` points: consecutive runs of b = ⌈n / maxPoints⌉ points become one, at the
 * mean of their x and the mean of their non-null y (null when all are null). Below the limit the
 * points are returned as they are.
 */
export function downsample(points: readonly Point[], maxPoints = MAX_POINTS): Point[] {
  if (points.length <= maxPoints) return [...points];
  const size = Math.ceil(points.length / maxPoints);
  const out: Point[] = [];
  for (let start = 0; start < points.length; start += size) {
    const bucket = points.slice(start, start + size);
    const xs = bucket.reduce((sum, [x]) => sum + x, 0) / bucket.length;
    const ys = bucket.map(([, y]) => y).filter((y): y is number => y !== null);
    out.push([xs, ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : null]);
  }
  return out;
}

function stepSeries(tasks: readonly string[], steps: readonly StepPoint[], pick: (point: StepPoint) => TaskNumbers) {
  return tasks.map((task) => ({
    name: task,
    points: downsample(steps.map((point): Point => [point.step, pick(point)[task] ?? null])),
  }));
}

function allPositive(series: { points: Point[] }[]): boolean {
  return series.every((s) => s.points.every(([, y]) => y === null || y > 0));
}

/** Per-task training loss against the step (log scale while every loss is positive). */
export function lossChart(tasks: readonly string[], steps: readonly StepPoint[]): string {
  const series = stepSeries(tasks, steps, (point) => point.losses);
  return lineChart({ title: 'Training loss per task', xLabel: 'step', yLabel: 'loss', series, logY: steps.length > 0 && allPositive(series), width: 560, height: 280 });
}

/** Per-task weight the weighting gave at each step. */
export function weightChart(tasks: readonly string[], steps: readonly StepPoint[]): string {
  return lineChart({ title: 'Task weights', xLabel: 'step', yLabel: 'weight', series: stepSeries(tasks, steps, (point) => point.weights), width: 560, height: 280 });
}

/** Per-task validation loss after each epoch (epochs counted from 1). */
export function validationChart(tasks: readonly string[], epochs: readonly EpochPoint[]): string {
  const series = tasks.map((task) => ({
    name: task,
    points: epochs.map((point): Point => [point.epoch + 1, point.validation[task]?.loss ?? null]),
  }));
  return lineChart({ title: 'Validation loss per task', xLabel: 'epoch', yLabel: 'loss', series, width: 560, height: 280 });
}

/** Mean cosine similarity of the tasks' gradients, −1 (conflict) to 1 (aligned). */
export function cosineChart(cosine: CosineSummary): string {
  const how = cosine.source === 'gramian' ? "from the weighting's Gramian" : 'probed at the features site';
  return heatmap({ title: `Mean gradient cosine (${how}, ${cosine.samples} samples)`, labels: cosine.tasks, values: cosine.mean, min: -1, max: 1 });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function format(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(2) : value.toFixed(4);
}

/**
 * A table of the validation results: one row per epoch (newest first), per task its loss and
 * every metric the task reports.
 */
export function validationTable(tasks: readonly string[], epochs: readonly EpochPoint[]): string {
  const first = epochs[0];
  const metrics = tasks.map((task) => Object.keys(first?.validation[task]?.metrics ?? {}));
  const head = tasks.map((task, t) => `<th colspan="${1 + metrics[t]!.length}">${escapeHtml(task)}</th>`).join('');
  const sub = tasks.map((_, t) => ['loss', ...metrics[t]!].map((m) => `<th>${escapeHtml(m)}</th>`).join('')).join('');
  const rows = [...epochs]
    .reverse()
    .map((point) => {
      const cells = tasks
        .map((task, t) => {
          const result = point.validation[task];
          return [result?.loss, ...metrics[t]!.map((m) => result?.metrics[m])].map((v) => `<td>${format(v)}</td>`).join('');
        })
        .join('');
      return `<tr data-epoch="${point.epoch + 1}"><th>${point.epoch + 1}</th>${cells}</tr>`;
    })
    .join('');
  return `<table class="validation"><thead><tr><th rowspan="2">epoch</th>${head}</tr><tr>${sub}</tr></thead><tbody>${rows}</tbody></table>`;
}
