// Run logs for the report's tests, written through RunLogWriter from made-up step reports (fast
// and exact, so the Δm% values can be worked out by hand). Not part of the package's API.
import type { EvaluationReport, StepReport, TaskGramian } from '@mtljs/core';
import { parseRunLog } from '../run-log-reader';
import { RunLogWriter } from '../run-log-writer';
import type { RunLog, RunTask } from '../run-log';

export interface SampleRunOptions {
  name: string;
  tasks: RunTask[];
  weighting: string;
  site: string | null;
  role?: 'multi-task' | 'single-task';
  /** Where cosine records come from: the weighting's Gramian at each logged step, or a probe every 10 steps. */
  cosines?: 'gramian' | 'probe';
  /** The mean cosine between the first two tasks' gradients. */
  conflict?: number;
  steps?: number;
  epochs?: number;
  /** Final test metrics per task. */
  final: Record<string, Record<string, number>>;
  seed?: number;
  warning?: string;
  /** Stop before the end record, as a crashed run. */
  crash?: boolean;
}

/** A tiny deterministic generator (an LCG, Numerical Recipes constants), values in [−1, 1). */
function noise(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  };
}

function startValue(metric: string, final: number): number {
  if (metric === 'accuracy' || metric === 'f1') return 0.1;
  if (metric === 'r2') return final - 0.5;
  return final * 2;
}

/** Two tasks' gradients g1 = n1·e1 and g2 = n2·(cos θ, sin θ): their Gramian. */
function gramianOf(tasks: string[], cosine: number, n1: number, n2: number): TaskGramian {
  const c = Math.max(-1, Math.min(1, cosine));
  return { tasks, values: [[n1 * n1, n1 * n2 * c], [n1 * n2 * c, n2 * n2]] };
}

export async function sampleRun(options: SampleRunOptions): Promise<RunLog> {
  const lines: string[] = [];
  const writer = new RunLogWriter((line) => void lines.push(line));
  const steps = options.steps ?? 120;
  const epochs = options.epochs ?? 4;
  const perEpoch = steps / epochs;
  const random = noise(options.seed ?? 1);
  const names = options.tasks.map((task) => task.name);
  const conflict = options.conflict ?? 0.3;
  await writer.start({
    name: options.name,
    tasks: options.tasks,
    sharing: 'hard',
    weighting: options.weighting,
    site: options.site,
    backend: 'cpu',
    seed: options.seed ?? 1,
    role: options.role ?? 'multi-task',
  });
  const multi = names.length > 1;
  const callbacks = writer.callbacks({
    every: 2,
    probe: multi && options.cosines === 'probe' ? { every: 10, gramian: () => gramianOf(names, conflict + 0.3 * random(), 1, 0.5) } : undefined,
  });
  for (let epoch = 0; epoch < epochs; epoch++) {
    const sums = Object.fromEntries(names.map((task) => [task, 0]));
    for (let k = 0; k < perEpoch; k++) {
      const step = epoch * perEpoch + k;
      const losses = Object.fromEntries(names.map((task, t) => [task, (2 - 0.5 * t) * Math.exp(-step / 40) + 0.1 + 0.05 * random()]));
      const weights = Object.fromEntries(names.map((task) => [task, options.weighting === 'ew' ? 1 : 1 + 0.3 * random()]));
      for (const task of names) sums[task] += losses[task]!;
      const report: StepReport = {
        step,
        epoch,
        loss: names.reduce((sum, task) => sum + weights[task]! * losses[task]!, 0),
        losses,
        weights,
        active: Object.fromEntries(names.map((task) => [task, true])),
        warnings: [],
        skipped: false,
        skips: 0,
      };
      if (multi && options.cosines === 'gramian') report.gramian = gramianOf(names, conflict + 0.3 * random(), 1 + 0.1 * random(), 0.8);
      await callbacks.onStep!(report);
      if (options.warning && step === 7) await callbacks.onWarning!({ step, message: options.warning });
    }
    const progress = (epoch + 1) / epochs;
    const validation: EvaluationReport = {
      tasks: Object.fromEntries(
        names.map((task) => [
          task,
          {
            loss: (1 + 0.5 * names.indexOf(task)) / (epoch + 1) + 0.1,
            count: 500,
            metrics: Object.fromEntries(Object.entries(options.final[task] ?? {}).map(([metric, value]) => [metric, startValue(metric, value) + (value - startValue(metric, value)) * progress])),
          },
        ]),
      ),
    };
    await callbacks.onEpochEnd!({
      epoch,
      steps: perEpoch,
      skipped: 0,
      trainLosses: Object.fromEntries(names.map((task) => [task, sums[task]! / perEpoch])),
      meanWeights: Object.fromEntries(names.map((task) => [task, 1])),
      validation,
    });
    if (options.crash && epoch === 0) return parseRunLog(lines.join(''), `${options.name}.jsonl`);
    await writer.checkpoint({ epoch, step: (epoch + 1) * perEpoch, path: `runs/${options.name}/epoch-${epoch + 1}.mtlckpt` });
  }
  await writer.eval('test', {
    tasks: Object.fromEntries(names.map((task) => [task, { loss: 0.2, count: 1000, metrics: options.final[task] ?? {} }])),
  });
  await writer.end('completed');
  return parseRunLog(lines.join(''), `${options.name}.jsonl`);
}

export const DIGIT: RunTask = { name: 'digit', kind: 'multiclass', units: 10 };
export const SIZE: RunTask = { name: 'size', kind: 'regression', units: 1 };

/**
 * Two multi-task runs and the two single-task baselines, with final metrics chosen so Δm% is
 * exact in binary floating point:
 *
 * - 'hard+pcgrad': digit accuracy 0.625 vs 0.5 → +0.25; size rmse 2.25 vs 2 → −0.125 and mae 0.75
 *   vs 1 → +0.25, mean +0.0625 (r2 has no baseline, so it is left out);
 *   Δm = 100/2 · (0.25 + 0.0625) = 15.625.
 * - 'hard+ew': digit 0.5 vs 0.5 → 0; size rmse 1.5 vs 2 → +0.25, mae 1 vs 1 → 0, mean 0.125;
 *   Δm = 100/2 · 0.125 = 6.25.
 */
export async function sampleStudy(): Promise<RunLog[]> {
  return Promise.all([
    sampleRun({
      name: 'hard+pcgrad',
      tasks: [DIGIT, SIZE],
      weighting: 'pcgrad',
      site: 'shared',
      cosines: 'gramian',
      conflict: -0.3,
      final: { digit: { accuracy: 0.625 }, size: { rmse: 2.25, mae: 0.75, r2: 0.5 } },
      warning: "weighting 'pcgrad': <b>not</b> a real warning",
      seed: 2,
    }),
    sampleRun({
      name: 'hard+ew',
      tasks: [DIGIT, SIZE],
      weighting: 'ew',
      site: null,
      cosines: 'probe',
      conflict: 0.4,
      final: { digit: { accuracy: 0.5 }, size: { rmse: 1.5, mae: 1 } },
      seed: 3,
    }),
    sampleRun({ name: 'single digit', tasks: [DIGIT], weighting: 'ew', site: null, role: 'single-task', final: { digit: { accuracy: 0.5 } }, seed: 4 }),
    sampleRun({ name: 'single size', tasks: [SIZE], weighting: 'ew', site: null, role: 'single-task', final: { size: { rmse: 2, mae: 1 } }, seed: 5 }),
  ]);
}
