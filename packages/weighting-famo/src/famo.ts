import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type LossWeighting, type WeightingContext } from '@mtljs/core';

/** Options of `famo`; bad values are BAD_CONFIG naming the option. */
export interface FamoOptions {
  /** Learning rate β of the task logits' own Adam (default 0.025, the authors' value). */
  logitLearningRate?: number;
  /** Decay γ of the task logits, added to their gradient as γ·ξ (default 1e-3, LibMTL's value). */
  gamma?: number;
  /**
   * Lower bounds ℓ*_t of the losses FAMO receives (default 0): one number for every task, or one
   * per task in the model's order. FAMO works on log(L_t − ℓ*_t + ε), so every loss must stay above
   * its bound; set it below the minimum of a loss that can be negative.
   */
  minLosses?: number | readonly number[];
  /** ε in log(L_t − ℓ*_t + ε) (default 1e-8, the authors' value). */
  epsilon?: number;
}

/** The state `famo` carries from step to step (and into checkpoints). */
export interface FamoState {
  /** Task logits ξ, one per task of the model (all tasks, in the model's order). */
  logits: number[];
  /** Adam's first moment (moving average of the gradient) of each logit. */
  firstMoment: number[];
  /** Adam's second moment (moving average of the squared gradient) of each logit. */
  secondMoment: number[];
  /** Adam steps each logit has taken (its bias-correction counter). */
  adamSteps: number[];
  /** log(L_t − ℓ*_t + ε) at the previous call; null for a task that was inactive then (or before the first call). */
  previousLogLosses: (number | null)[];
}

const NAME = 'famo';
// torch.optim.Adam's defaults, which the authors' code uses for the logits.
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;

function positiveNumber(option: string, value: unknown, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new MtlError('BAD_CONFIG', `weighting '${NAME}': option '${option}' must be a finite number ${allowZero ? '≥ 0' : '> 0'}, got ${JSON.stringify(value)}`, {
      plugin: NAME,
      option,
    });
  }
  return value;
}

/** softmax over the given logits, shifted by their maximum. */
function softmax(logits: readonly number[]): number[] {
  const top = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - top));
  const total = exps.reduce((sum, v) => sum + v, 0);
  return exps.map((v) => v / total);
}

/**
 * FAMO, Fast Adaptive Multitask Optimization (Liu, Feng, Stone & Liu, NeurIPS 2023). With
 * D_t = L_t − ℓ*_t + ε, z = softmax(ξ) over the active tasks and c = (Σ_t z_t / D_t)^{-1}
 * (a constant for the gradient), the objective is
 *   c · Σ_t z_t log D_t,   whose gradient is Σ_t (c z_t / D_t) ∇L_t  (the weights sum to 1).
 * The logits follow their own Adam on the loss decrease δ_t = log D_t(previous step) − log D_t(now):
 *   gradient_ξ = J_softmax(ξ)ᵀ δ + γ ξ,  i.e. z_t (δ_t − Σ_s z_s δ_s) + γ ξ_t  (paper, Alg. 1).
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { famo } from '@mtljs/weighting-famo';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: famo() });
 * ```
 */
export function famo(options: FamoOptions = {}): LossWeighting<FamoState> {
  checkOptions(`weighting '${NAME}'`, options, ['logitLearningRate', 'gamma', 'minLosses', 'epsilon']);
  const learningRate = positiveNumber('logitLearningRate', options.logitLearningRate ?? 0.025, false);
  const gamma = positiveNumber('gamma', options.gamma ?? 1e-3, true);
  const epsilon = positiveNumber('epsilon', options.epsilon ?? 1e-8, false);
  const minLossesOption = options.minLosses ?? 0;
  const minLossValues = typeof minLossesOption === 'number' ? [minLossesOption] : minLossesOption;
  if (!Array.isArray(minLossValues) || minLossValues.length === 0 || minLossValues.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new MtlError(
      'BAD_CONFIG',
      `weighting '${NAME}': option 'minLosses' must be a finite number or a non-empty array of finite numbers (one per task), got ${JSON.stringify(minLossesOption)}`,
      { plugin: NAME, option: 'minLosses' },
    );
  }

  const boundsFor = (taskNames: readonly string[]): number[] => {
    if (typeof minLossesOption === 'number') return taskNames.map(() => minLossesOption);
    if (minLossValues.length !== taskNames.length) {
      throw new MtlError(
        'BAD_CONFIG',
        `weighting '${NAME}': option 'minLosses' has ${minLossValues.length} values for ${taskNames.length} tasks (${taskNames.join(', ')})`,
        { plugin: NAME, option: 'minLosses', expected: taskNames.length, received: minLossValues.length },
      );
    }
    return [...minLossValues];
  };

  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => famo(next as FamoOptions),
    init(context: WeightingContext) {
      boundsFor(context.taskNames);
      const zeros = () => context.taskNames.map(() => 0);
      return {
        logits: zeros(),
        firstMoment: zeros(),
        secondMoment: zeros(),
        adamSteps: zeros(),
        previousLogLosses: context.taskNames.map(() => null),
      };
    },
    combine(losses, state, info) {
      const taskCount = info.taskNames.length;
      if (state?.logits?.length !== taskCount) {
        throw new MtlError('BAD_CONFIG', `weighting '${NAME}': its state holds ${state?.logits?.length ?? 0} tasks, the model has ${taskCount}; start from init()`, {
          plugin: NAME,
          expected: taskCount,
          received: state?.logits?.length,
        });
      }
      const bounds = boundsFor(info.taskNames);
      const values = Array.from(losses.dataSync());
      const active = info.activeIndices;
      const shifted = active.map((t, k) => values[k]! - bounds[t]! + epsilon);
      active.forEach((t, k) => {
        if (!Number.isFinite(values[k]!)) {
          throw new MtlError('NON_FINITE_LOSS', `weighting '${NAME}': the loss of task '${info.taskNames[t]}' is ${values[k]} at step ${info.step}`, {
            plugin: NAME,
            task: info.taskNames[t],
            step: info.step,
          });
        }
        if (!(shifted[k]! > 0)) {
          throw new MtlError(
            'NON_FINITE_LOSS',
            `weighting '${NAME}': the loss of task '${info.taskNames[t]}' is ${values[k]} at step ${info.step}, not above its lower bound minLosses = ${bounds[t]}; ` +
              `FAMO takes log(loss − minLosses + ε), so set 'minLosses' below the smallest value this loss can take`,
            { plugin: NAME, task: info.taskNames[t], step: info.step, received: values[k], expected: `> ${bounds[t]! - epsilon}` },
          );
        }
      });
      const logLosses = shifted.map(Math.log);

      // Logit update from the decrease since the previous step, over the tasks active at both:
      // our stand-in for the authors' second forward on the same batch after the model's update.
      const logits = [...state.logits];
      const firstMoment = [...state.firstMoment];
      const secondMoment = [...state.secondMoment];
      const adamSteps = [...state.adamSteps];
      const both = active.flatMap((t, k) => (state.previousLogLosses[t] === null || state.previousLogLosses[t] === undefined ? [] : [{ t, k }]));
      if (both.length > 0) {
        const z = softmax(both.map(({ t }) => logits[t]!));
        const delta = both.map(({ t, k }) => state.previousLogLosses[t]! - logLosses[k]!);
        const mean = z.reduce((sum, zi, i) => sum + zi * delta[i]!, 0);
        both.forEach(({ t }, i) => {
          // ∂(Σ_s z_s δ_s)/∂ξ_t = z_t (δ_t − Σ_s z_s δ_s), plus torch Adam's coupled weight decay γ ξ_t.
          const gradient = z[i]! * (delta[i]! - mean) + gamma * logits[t]!;
          const count = adamSteps[t]! + 1;
          firstMoment[t] = ADAM_BETA1 * firstMoment[t]! + (1 - ADAM_BETA1) * gradient;
          secondMoment[t] = ADAM_BETA2 * secondMoment[t]! + (1 - ADAM_BETA2) * gradient * gradient;
          const correctedFirst = firstMoment[t]! / (1 - ADAM_BETA1 ** count);
          const correctedSecond = secondMoment[t]! / (1 - ADAM_BETA2 ** count);
          logits[t] = logits[t]! - (learningRate * correctedFirst) / (Math.sqrt(correctedSecond) + ADAM_EPSILON);
          adamSteps[t] = count;
        });
      }

      const z = softmax(active.map((t) => logits[t]!));
      const normaliser = 1 / z.reduce((sum, zi, k) => sum + zi / shifted[k]!, 0);
      const weights = z.map((zi, k) => (normaliser * zi) / shifted[k]!);
      const coefficients = z.map((zi) => normaliser * zi);
      const offsets = tf.tensor1d(active.map((t) => epsilon - bounds[t]!));
      const loss = tf.sum(tf.mul(tf.log(tf.add(losses, offsets)), tf.tensor1d(coefficients))) as Scalar;

      const previousLogLosses: (number | null)[] = info.taskNames.map(() => null);
      active.forEach((t, k) => (previousLogLosses[t] = logLosses[k]!));
      return {
        loss,
        weights,
        state: { logits, firstMoment, secondMoment, adamSteps, previousLogLosses },
        diagnostics: { values: Object.fromEntries(active.map((t, k) => [`z/${info.taskNames[t]}`, z[k]!])) },
      };
    },
  };
}
