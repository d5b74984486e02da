import type { MetricName, TaskKind, TaskSpec } from '../contracts';
import { MtlError } from '../errors';

/**
 * Streaming metrics over labelled examples. `update` takes a batch's predictions (model outputs:
 * logits for classification), canonical targets (see canonicalTarget) and mask as flat arrays.
 */
export interface MetricAccumulator {
  /** The metric it computes. */
  readonly name: MetricName;
  /**
   * Adds a batch. The arrays are row-major [rows, units]; `mask` is [rows] (> 0: labelled; null: all
   * labelled), and unlabelled rows are skipped.
   */
  update(prediction: Float32Array, target: Float32Array, mask: Float32Array | null, rows: number, units: number): void;
  /** The metric over every labelled example seen so far; NaN when there was none. */
  result(): number;
}

const DEFAULT_METRICS: Record<TaskKind, MetricName[]> = {
  multiclass: ['accuracy'],
  binary: ['accuracy', 'f1'],
  regression: ['rmse', 'mae', 'r2'],
  multilabel: ['accuracy'],
};

/**
 * The metrics a task is evaluated with: its `metrics`, or the defaults for its kind ([accuracy] for
 * multiclass and multilabel, [accuracy, f1] for binary, [rmse, mae, r2] for regression).
 */
export function metricNamesFor(task: TaskSpec): MetricName[] {
  return task.metrics ?? DEFAULT_METRICS[task.kind];
}

function labelled(mask: Float32Array | null, row: number): boolean {
  return mask === null || mask[row]! > 0;
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let j = 1; j < length; j++) if (values[offset + j]! > values[offset + best]!) best = j;
  return best;
}

class Accuracy implements MetricAccumulator {
  readonly name = 'accuracy' as const;
  private correct = 0;
  private total = 0;
  constructor(private readonly kind: TaskKind) {}
  update(prediction: Float32Array, target: Float32Array, mask: Float32Array | null, rows: number, units: number): void {
    for (let i = 0; i < rows; i++) {
      if (!labelled(mask, i)) continue;
      if (this.kind === 'multiclass') {
        this.total += 1;
        if (argmax(prediction, i * units, units) === argmax(target, i * units, units)) this.correct += 1;
      } else {
        // binary and multilabel: logit > 0 ⇔ p > 0.5, each label counted
        for (let j = 0; j < units; j++) {
          this.total += 1;
          if (prediction[i * units + j]! > 0 === target[i * units + j]! > 0.5) this.correct += 1;
        }
      }
    }
  }
  result(): number {
    return this.total ? this.correct / this.total : Number.NaN;
  }
}

/** F1 of the positive class: 2TP / (2TP + FP + FN); 0 when there is no positive at all. */
class F1 implements MetricAccumulator {
  readonly name = 'f1' as const;
  private tp = 0;
  private fp = 0;
  private fn = 0;
  private seen = 0;
  update(prediction: Float32Array, target: Float32Array, mask: Float32Array | null, rows: number, units: number): void {
    for (let i = 0; i < rows; i++) {
      if (!labelled(mask, i)) continue;
      for (let j = 0; j < units; j++) {
        this.seen += 1;
        const predicted = prediction[i * units + j]! > 0;
        const actual = target[i * units + j]! > 0.5;
        if (predicted && actual) this.tp += 1;
        else if (predicted) this.fp += 1;
        else if (actual) this.fn += 1;
      }
    }
  }
  result(): number {
    if (!this.seen) return Number.NaN;
    const denominator = 2 * this.tp + this.fp + this.fn;
    return denominator ? (2 * this.tp) / denominator : 0;
  }
}

/** RMSE, MAE and R² share per-unit sums: n, Σy, Σy², Σ(y−p)², Σ|y−p|. */
class RegressionMetric implements MetricAccumulator {
  private n: number[] = [];
  private sumY: number[] = [];
  private sumY2: number[] = [];
  private sse: number[] = [];
  private sae: number[] = [];
  constructor(readonly name: 'rmse' | 'mae' | 'r2') {}
  update(prediction: Float32Array, target: Float32Array, mask: Float32Array | null, rows: number, units: number): void {
    if (this.n.length === 0) {
      for (const a of [this.n, this.sumY, this.sumY2, this.sse, this.sae]) a.push(...new Array(units).fill(0));
    }
    for (let i = 0; i < rows; i++) {
      if (!labelled(mask, i)) continue;
      for (let j = 0; j < units; j++) {
        const y = target[i * units + j]!;
        const d = y - prediction[i * units + j]!;
        this.n[j]! += 1;
        this.sumY[j]! += y;
        this.sumY2[j]! += y * y;
        this.sse[j]! += d * d;
        this.sae[j]! += Math.abs(d);
      }
    }
  }
  result(): number {
    const units = this.n.length;
    const count = this.n.reduce((a, b) => a + b, 0);
    if (!count) return Number.NaN;
    if (this.name === 'rmse') return Math.sqrt(this.sse.reduce((a, b) => a + b, 0) / count);
    if (this.name === 'mae') return this.sae.reduce((a, b) => a + b, 0) / count;
    // R², averaged uniformly over output units: 1 − SS_res / SS_tot, SS_tot = Σy² − (Σy)²/n
    let total = 0;
    for (let j = 0; j < units; j++) {
      const ssTot = this.sumY2[j]! - (this.sumY[j]! * this.sumY[j]!) / this.n[j]!;
      total += ssTot > 0 ? 1 - this.sse[j]! / ssTot : Number.NaN;
    }
    return total / units;
  }
}

/**
 * A fresh accumulator for one metric of one task. Accuracy: argmax match (multiclass) or
 * logit > 0 ⇔ label > 0.5, per label (binary, multilabel). F1 of the positive class,
 * 2TP / (2TP + FP + FN), over every label (0 when there is no positive). RMSE and MAE over every
 * output value; R² = 1 − SS_res / SS_tot per output unit, averaged over units.
 *
 * @throws MtlError BAD_CONFIG for an unknown metric, or one that does not apply to the task's kind
 *   (accuracy: classification kinds; f1: binary, multilabel; rmse, mae, r2: regression).
 */
export function createMetric(name: MetricName, task: TaskSpec): MetricAccumulator {
  const classification = task.kind !== 'regression';
  switch (name) {
    case 'accuracy':
      if (classification) return new Accuracy(task.kind);
      break;
    case 'f1':
      if (task.kind === 'binary' || task.kind === 'multilabel') return new F1();
      break;
    case 'rmse':
    case 'mae':
    case 'r2':
      if (!classification) return new RegressionMetric(name);
      break;
    default:
      throw new MtlError('BAD_CONFIG', `task '${task.name}': unknown metric '${String(name)}'; available: accuracy, f1, rmse, mae, r2`, {
        task: task.name,
      });
  }
  throw new MtlError('BAD_CONFIG', `task '${task.name}': metric '${name}' does not apply to a ${task.kind} task`, { task: task.name });
}
