import type { EpochReport, EvaluationReport, StepReport } from '@mtljs/core';

/** Where progress goes: process.stdout, or any object with `write` (tests pass a fake TTY). */
export interface ProgressStream {
  /** Writes text as given; lines end with their own newline. */
  write(text: string): unknown;
  /** A terminal: progress is one line redrawn in place (else plain lines only). */
  isTTY?: boolean;
  /** Terminal width in characters (TTY only; 80 when unknown or 0). */
  columns?: number;
}

/** Options of a {@link ProgressRenderer}. */
export interface ProgressOptions {
  /** Epochs in the run (for "epoch 2/5"). */
  epochs: number;
  /** Task names in display order. */
  tasks: readonly string[];
  /** Training steps per epoch when known before the first epoch ends (e.g. from size and batch size). */
  stepsPerEpoch?: number;
  /** Not a TTY: also print a plain line every N steps (0 = epoch lines only; default 0). */
  logEvery?: number;
  /** TTY: the least time between redraws in milliseconds (default 80). */
  minRedrawMs?: number;
  /** Force TTY mode on or off (default: `stream.isTTY`). */
  tty?: boolean;
  /** A clock in milliseconds (tests pass a fake one). */
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[2K';

/** Short number: 4 significant digits, exponent form for very small or large values, '–' when not finite. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

function formatEvaluation(report: EvaluationReport): string {
  return Object.entries(report.tasks)
    .map(([task, evaluation]) => {
      const metrics = Object.entries(evaluation.metrics).map(([metric, value]) => `${metric} ${formatNumber(value)}`);
      return `${task}: loss ${formatNumber(evaluation.loss)}${metrics.length ? `, ${metrics.join(', ')}` : ''}`;
    })
    .join('; ');
}

function pairs(tasks: readonly string[], values: Record<string, number>): string {
  return tasks.map((task) => `${task} ${formatNumber(values[task])}`).join(' ');
}

/**
 * Training progress. On a TTY: one line redrawn in place (carriage return and clear-line) with
 * the epoch, a bar, steps done/total when known, each task's running-mean loss over the epoch,
 * the current weights and steps per second, never wider than the terminal; a plain summary line
 * at each epoch end. Otherwise: plain lines only (one per epoch, plus one every `logEvery`
 * steps), with no carriage return or escape code.
 */
export class ProgressRenderer {
  /** Whether it redraws one line in place: `options.tty`, else `stream.isTTY`. */
  readonly tty: boolean;
  private readonly stream: ProgressStream;
  private readonly options: ProgressOptions;
  private readonly now: () => number;
  private stepsPerEpoch: number | undefined;
  private epochStart: number;
  private firstStepTime = 0;
  private epochSteps = 0;
  private lastRedraw = Number.NEGATIVE_INFINITY;
  private live = false;
  private sums: Record<string, { total: number; count: number }> = {};
  private lastReport: StepReport | undefined;

  constructor(stream: ProgressStream, options: ProgressOptions) {
    this.stream = stream;
    this.options = options;
    this.tty = options.tty ?? stream.isTTY === true;
    this.now = options.now ?? (() => performance.now());
    this.stepsPerEpoch = options.stepsPerEpoch;
    this.epochStart = this.now();
    this.resetSums();
  }

  private resetSums(): void {
    this.sums = Object.fromEntries(this.options.tasks.map((task) => [task, { total: 0, count: 0 }]));
  }

  private width(): number {
    // A pseudo-terminal without a size (e.g. under `script`) reports 0 columns.
    const columns = this.stream.columns;
    return columns !== undefined && columns > 0 ? Math.max(20, columns) : 80;
  }

  private runningLosses(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.sums).map(([task, s]) => [task, s.count ? s.total / s.count : Number.NaN]));
  }

  /** Call after each optimiser step. */
  step(report: StepReport): void {
    if (this.epochSteps === 0) this.firstStepTime = this.now();
    this.epochSteps += 1;
    this.lastReport = report;
    for (const task of this.options.tasks) {
      const loss = report.losses[task];
      if (report.active[task] && loss !== undefined && Number.isFinite(loss)) {
        this.sums[task]!.total += loss;
        this.sums[task]!.count += 1;
      }
    }
    if (this.tty) {
      const time = this.now();
      const last = this.stepsPerEpoch !== undefined && this.epochSteps >= this.stepsPerEpoch;
      if (last || time - this.lastRedraw >= (this.options.minRedrawMs ?? 80)) {
        this.lastRedraw = time;
        this.redraw();
      }
    } else if (this.options.logEvery && (report.step + 1) % this.options.logEvery === 0) {
      this.stream.write(`step ${report.step + 1} (epoch ${report.epoch + 1}/${this.options.epochs}): loss ${pairs(this.options.tasks, this.runningLosses())}; weights ${pairs(this.options.tasks, report.weights)}\n`);
    }
  }

  /** The live line, fitted to the terminal width. */
  liveLine(): string {
    const report = this.lastReport;
    const rate = this.epochSteps > 1 ? `${((this.epochSteps - 1) / Math.max(1e-9, (this.now() - this.firstStepTime) / 1000)).toFixed(1)} step/s` : '– step/s';
    const epoch = `epoch ${(report?.epoch ?? 0) + 1}/${this.options.epochs}`;
    const total = this.stepsPerEpoch;
    const count = total !== undefined ? `${this.epochSteps}/${total}` : `step ${this.epochSteps}`;
    const tail = ` | loss ${pairs(this.options.tasks, this.runningLosses())} | w ${report ? pairs(this.options.tasks, report.weights) : ''}`;
    const width = this.width() - 1; // writing the last column makes some terminals wrap
    const head = `${epoch} ${count} ${rate}`;
    // The bar's width depends on the terminal's only, so it does not jump as numbers change
    // length; the per-task numbers at the end are cut instead when space is short.
    let bar = '';
    const barWidth = Math.min(20, Math.floor((width - 50) / 3));
    if (total !== undefined && barWidth >= 8 && width >= head.length + barWidth + 3) {
      const filled = Math.min(barWidth, Math.round((this.epochSteps / total) * barWidth));
      bar = ` [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    }
    const line = `${epoch}${bar} ${count} ${rate}${tail}`;
    return line.length > width ? `${line.slice(0, width - 1)}…` : line;
  }

  private redraw(): void {
    this.stream.write(`${CLEAR_LINE}${this.liveLine()}`);
    this.live = true;
  }

  private clear(): void {
    if (this.live) {
      this.stream.write(CLEAR_LINE);
      this.live = false;
    }
  }

  /** Call at each epoch end: a plain summary line with train losses, mean weights and validation metrics. */
  epochEnd(report: EpochReport): void {
    const seconds = (this.now() - this.epochStart) / 1000;
    if (this.stepsPerEpoch === undefined) this.stepsPerEpoch = report.steps;
    this.clear();
    const validation = report.validation ? `; validation ${formatEvaluation(report.validation)}` : '';
    this.stream.write(
      `epoch ${report.epoch + 1}/${this.options.epochs}: ${report.steps} steps in ${seconds.toFixed(1)} s; ` +
        `train loss ${pairs(this.options.tasks, report.trainLosses)}; mean weights ${pairs(this.options.tasks, report.meanWeights)}${validation}\n`,
    );
    this.epochSteps = 0;
    this.epochStart = this.now();
    this.resetSums();
  }

  /** A plain line (clears the live line first on a TTY). */
  message(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  /** Leaves the terminal on a fresh line. */
  finish(): void {
    this.clear();
  }
}

/** Evaluation results as plain text lines, one per task. */
export function evaluationLines(report: EvaluationReport): string[] {
  return Object.entries(report.tasks).map(([task, evaluation]) => {
    const metrics = Object.entries(evaluation.metrics).map(([metric, value]) => `${metric} ${formatNumber(value)}`);
    return `  ${task}: loss ${formatNumber(evaluation.loss)}${metrics.length ? `  ${metrics.join('  ')}` : ''}  (${evaluation.count} examples)`;
  });
}
