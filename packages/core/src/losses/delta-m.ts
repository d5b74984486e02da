import { MtlError } from '../errors';

const HIGHER_IS_BETTER = new Set(['accuracy', 'f1', 'r2', 'auc', 'precision', 'recall']);
const LOWER_IS_BETTER = new Set(['rmse', 'mae', 'mse', 'loss']);

/** Whether a larger value of a metric is better ('higher': accuracy, f1, r2, auc) or worse ('lower': rmse, mae, loss). */
export function metricDirection(metric: string): 'higher' | 'lower' {
  if (HIGHER_IS_BETTER.has(metric)) return 'higher';
  if (LOWER_IS_BETTER.has(metric)) return 'lower';
  throw new MtlError('BAD_CONFIG', `metricDirection: unknown metric '${metric}'; known: ${[...HIGHER_IS_BETTER, ...LOWER_IS_BETTER].join(', ')}`, {
    received: metric,
    available: [...HIGHER_IS_BETTER, ...LOWER_IS_BETTER],
  });
}

/**
 * Δm%, the average relative change of a multi-task model's metrics against single-task baselines
 * (Maninis et al. 2019; Vandenhende et al. 2021, eq. 8):
 *
 *   Δm = (100 / T) Σ_t (1 / K_t) Σ_k s_k (M_tk − B_tk) / |B_tk|,   s_k = +1 if higher is better, −1 if lower,
 *
 * over the T tasks of `results` and, per task, the K_t metrics present in both the result and its
 * baseline. Positive means the multi-task model is better. Each metric counts 1/K_t so a task
 * with more metrics does not outweigh the others (LibMTL instead averages all metrics of all tasks
 * with equal weight; the two agree when every task has one metric). Dividing by |B| rather than B
 * keeps the sign meaningful for a metric whose baseline is negative (an r2 below 0).
 */
export function deltaM(
  results: Readonly<Record<string, Readonly<Record<string, number>>>>,
  baselines: Readonly<Record<string, Readonly<Record<string, number>>>>,
): number {
  const tasks = Object.keys(results);
  if (tasks.length === 0) throw new MtlError('BAD_CONFIG', 'deltaM: no task results');
  let total = 0;
  for (const task of tasks) {
    const baseline = baselines[task];
    if (!baseline) {
      throw new MtlError('BAD_CONFIG', `deltaM: task '${task}' has no single-task baseline; baselines: ${Object.keys(baselines).join(', ') || '(none)'}`, {
        task,
        available: Object.keys(baselines),
      });
    }
    const metrics = Object.keys(results[task]!).filter((metric) => metric in baseline);
    if (metrics.length === 0) {
      throw new MtlError('BAD_CONFIG', `deltaM: task '${task}' shares no metric with its baseline (result: ${Object.keys(results[task]!).join(', ')}; baseline: ${Object.keys(baseline).join(', ')})`, {
        task,
      });
    }
    let sum = 0;
    for (const metric of metrics) {
      const m = results[task]![metric]!;
      const b = baseline[metric]!;
      if (!Number.isFinite(m) || !Number.isFinite(b) || b === 0) {
        throw new MtlError('BAD_CONFIG', `deltaM: task '${task}' metric '${metric}': result ${m} and baseline ${b} must be finite and the baseline non-zero`, {
          task,
        });
      }
      sum += (metricDirection(metric) === 'higher' ? 1 : -1) * ((m - b) / Math.abs(b));
    }
    total += sum / metrics.length;
  }
  return (100 * total) / tasks.length;
}
