import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  MtlError,
  Rng,
  checkOptions,
  isHostBackend,
  sliceEqual,
  type JacobianWeighting,
  type RngState,
  type StepInfo,
  type WeightingContext,
  checkOptionTaskNames,
} from '@mtljs/core';

/** Options of `graddrop`; bad values are BAD_CONFIG naming the option. */
export interface GradDropOptions {
  /**
   * Leak ℓ ∈ [0, 1]: the fraction of a task's gradient that passes unmasked, update =
   * Σ_i (ℓ_i + (1 − ℓ_i) M_i) ⊙ g_i. One number for every task, or an object of task name → ℓ
   * (tasks not listed: 0). Default 0 (pure GradDrop).
   */
  leakage?: number | Record<string, number>;
}

/** The RNG that draws each step's uniforms U. */
export interface GradDropState {
  /** The seeded RNG's state (seeded from the trainer's seed by `init`). */
  rng: RngState;
}

/** 2²⁴: uniforms are k/2²⁴ for an integer k, exact in float32 and strictly below 1. */
const UNIFORM_STEPS = 16777216;

/** The next uniform in [0, 1) from one 32-bit draw: U = ⌊x / 2⁸⌋ / 2²⁴ (both paths draw with this). */
function nextUniform(rng: Rng): number {
  return (rng.nextUint32() >>> 8) / UNIFORM_STEPS;
}

/**
 * P uniforms in [0, 1) from the RNG, one 32-bit draw each (`nextUniform`). Exported so a test can
 * reproduce a step's draws from the state.
 */
export function drawUniforms(rng: Rng, count: number): Float32Array {
  const uniforms = new Float32Array(count);
  for (let k = 0; k < count; k++) uniforms[k] = nextUniform(rng);
  return uniforms;
}

function leakValue(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new MtlError('BAD_CONFIG', `weighting 'graddrop': option 'leakage' must be a number in [0, 1]${option ? ` for task '${option}'` : ''}, got ${JSON.stringify(value)}`, {
      plugin: 'graddrop',
      option: 'leakage',
    });
  }
  return value;
}

/**
 * GradDrop's update from J ([T, P] values, row-major) in one pass over the columns, drawing U_k
 * from `rng` in column order (the draws of `drawUniforms`). For wasm and cpu, where J is host
 * memory: the device path's dozen [P] kernels and the P uniforms it uploads cost about twice this
 * loop. Branch-free per entry: with S = Σ_i J_ik and A = Σ_i |J_ik| (float64), Σ⁺ = (S + A)/2,
 * Σ⁻ = (S − A)/2 and P_k = Σ⁺/A; the same sums weighted by 1 − ℓ_i give the masked parts. A NaN
 * entry makes its coordinate NaN (as on the device); an infinite one too (the device keeps Σ⁻).
 */
export function dropOnHost(values: Float32Array, tasks: number, rng: Rng, leaks: readonly number[]): Float32Array {
  const columns = (values.length / tasks) | 0;
  const update = new Float32Array(columns);
  const kept = Float64Array.from(leaks, (l) => 1 - l);
  const leak = Float64Array.from(leaks);
  for (let k = 0; k < columns; k++) {
    let sum = 0;
    let size = 0;
    let keptSum = 0;
    let keptSize = 0;
    let leaked = 0;
    for (let t = 0, at = k; t < tasks; t++, at += columns) {
      const v = values[at]!;
      const magnitude = Math.abs(v);
      sum += v;
      size += magnitude;
      keptSum += kept[t]! * v;
      keptSize += kept[t]! * magnitude;
      leaked += leak[t]! * v;
    }
    const purity = size > 0 ? (sum + size) / (2 * size) : 0.5;
    const keepPositive = +(nextUniform(rng) < Math.fround(purity));
    update[k] = (keptSum - keptSize) * 0.5 + keepPositive * keptSize + leaked;
  }
  return update;
}

/**
 * GradDrop's update as tfjs kernels, for backends whose reads wait on a device (WebGL, WebGPU).
 * Σ_i M_ik J_ik is Σ⁺_k (the column's positive entries) where the positives are kept and Σ⁻_k
 * (its negative entries) elsewhere, so no [T, P] mask is built. Rows are handled one by one:
 * reductions over axis 0 of a [T, P] tensor transpose it first. The rows are cut with core's
 * sliceEqual, not tf.unstack (on wasm every slice of tf.unstack copies all of J).
 */
export function dropOnDevice(jacobian: Tensor2D, uniforms: Float32Array, leaks: readonly number[]): Tensor1D {
  const columns = jacobian.shape[1];
  return tf.tidy(() => {
    const rows = sliceEqual(jacobian, jacobian.shape[0], 0).map((row) => tf.reshape(row, [columns]) as Tensor1D);
    const positives = rows.map((row) => tf.relu(row));
    // row − relu(row) is exactly min(row, 0).
    const negatives = rows.map((row, i) => tf.sub(row, positives[i]!));
    const total = (parts: tf.Tensor[], scales?: readonly number[]) => {
      const scaled = scales ? parts.map((part, i) => tf.mul(part, scales[i]!)) : parts;
      return (scaled.length === 1 ? scaled[0]! : tf.addN(scaled)) as Tensor1D;
    };
    const positiveSum = total(positives);
    const negativeSum = total(negatives);
    // P_k = ½(1 + Σ_i J_ik / Σ_i |J_ik|) = Σ⁺_k / (Σ⁺_k − Σ⁻_k); ½ for an all-zero column.
    const magnitude = tf.sub(positiveSum, negativeSum);
    const purity = tf.where(tf.greater(magnitude, 0), tf.div(positiveSum, magnitude), tf.fill([columns], 0.5));
    const keepPositive = tf.less(tf.tensor1d(uniforms), purity);
    if (leaks.every((l) => l === 0)) return tf.where(keepPositive, positiveSum, negativeSum) as Tensor1D;
    // Leaks: row i's masked part has weight 1 − ℓ_i, and Σ_i ℓ_i J_i passes whole.
    const kept = leaks.map((l) => 1 - l);
    const masked = tf.where(keepPositive, total(positives, kept), total(negatives, kept));
    return tf.add(masked, total(rows, leaks)) as Tensor1D;
  });
}

/**
 * GradDrop (Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov, "Just Pick a Sign: Optimizing
 * Deep Multitask Models with Gradient Sign Dropout", NeurIPS 2020) as a Jacobian aggregator. For each
 * column k of J (one coordinate of the site):
 *   P_k = ½ (1 + Σ_i J_ik / Σ_i |J_ik|)      (positive sign purity; ½ for an all-zero column)
 *   U_k ~ Uniform[0, 1) from the seeded RNG in the state
 *   M_ik = [U_k < P_k]·[J_ik > 0] + [U_k ≥ P_k]·[J_ik < 0]
 *   update_k = Σ_i (ℓ_i + (1 − ℓ_i) M_ik) J_ik.
 * Sites 'features' (default, the paper's activation layer) and 'shared'. There are no task weights.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { graddrop } from '@mtljs/weighting-graddrop';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: graddrop() });
 * ```
 */
export function graddrop(options: GradDropOptions = {}): JacobianWeighting<GradDropState> {
  checkOptions("weighting 'graddrop'", options, ['leakage']);
  const leakage = options.leakage ?? 0;
  const perTask: Record<string, number> = {};
  let everyTask = 0;
  if (typeof leakage === 'number') everyTask = leakValue('', leakage);
  else if (typeof leakage === 'object' && leakage !== null && !Array.isArray(leakage)) {
    for (const [task, value] of Object.entries(leakage)) perTask[task] = leakValue(task, value);
  } else {
    throw new MtlError('BAD_CONFIG', `weighting 'graddrop': option 'leakage' must be a number in [0, 1] or an object of task name → number, got ${JSON.stringify(leakage)}`, {
      plugin: 'graddrop',
      option: 'leakage',
    });
  }
  const leakOf = (task: string) => perTask[task] ?? everyTask;
  return {
    kind: 'weighting',
    name: 'graddrop',
    apiVersion: API_VERSION,
    level: 'jacobian',
    sites: ['features', 'shared'],
    configure: (next) => graddrop(next as GradDropOptions),
    init(context: WeightingContext): GradDropState {
      checkOptionTaskNames('graddrop', 'leakage', Object.keys(perTask), context.taskNames);
      return { rng: Rng.fromSeed(context.seed).state() };
    },
    aggregate(jacobian: Tensor2D, _losses: Tensor1D, state: GradDropState, info: StepInfo) {
      const rng = Rng.fromState(state.rng);
      const leaks = info.activeTasks.map(leakOf);
      const update = isHostBackend()
        ? tf.tensor1d(dropOnHost(jacobian.dataSync() as Float32Array, jacobian.shape[0], rng, leaks))
        : dropOnDevice(jacobian, drawUniforms(rng, jacobian.shape[1]), leaks);
      return { update, state: { rng: rng.state() } };
    },
  };
}
