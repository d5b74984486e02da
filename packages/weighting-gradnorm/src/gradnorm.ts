import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type GramianWeighting, type StepInfo, type WeightingContext } from '@mtljs/core';

/** Which loss is a task's reference L_t(0): see `GradNormOptions.initialLoss`. */
export type GradNormInitialLoss = 'first-step' | 'first-epoch-mean';

/** Options of `gradnorm`; bad values are BAD_CONFIG naming the option. */
export interface GradNormOptions {
  /** Restoring-force exponent α of the targets Ḡ·r_t^α (default 1.5; 0 asks for equal gradient norms). */
  alpha?: number;
  /** GradNorm's own step size for the task weights, separate from the trainer's optimiser (default 0.025). */
  learningRate?: number;
  /**
   * The reference loss L_t(0) of the loss ratios L_t / L_t(0): the task's loss at the first step it
   * was active ('first-step', default), or the mean of its losses over the epoch in which it was
   * first active ('first-epoch-mean'; the running mean until that epoch ends).
   */
  initialLoss?: GradNormInitialLoss;
}

/** GradNorm's whole state: plain numbers, one entry per task of the model (active or not). */
export interface GradNormState {
  /** Current task weights w_t > 0, Σ_t w_t = T. */
  weights: number[];
  /** Sum and count of the losses that make up the reference L_t(0) = sum / count (count 0: not seen yet). */
  referenceLossSums: number[];
  /** Losses summed into `referenceLossSums`, per task. */
  referenceLossCounts: number[];
  /** The epoch of each task's reference losses; null until the task is first active. */
  referenceEpochs: (number | null)[];
  /** The GradNorm loss ℒ = Σ_{t∈A} |G_t − target_t| of the last step; null before the first step. */
  lastGradNormLoss: number | null;
}

/**
 * Lower bound of a weight before the renormalisation to Σ_t w_t = T; the mean weight is 1, so a
 * task can lose at most a factor 1e6 against the average before it is floored.
 */
export const GRADNORM_MIN_WEIGHT = 1e-6;

/** |G_t − target_t| below this fraction of Ḡ is a tie (sign 0): a rounding error, not a direction. */
const TIE_TOLERANCE = 1e-9;

const NAME = 'gradnorm';
const SUBJECT = "weighting 'gradnorm'";

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `${SUBJECT}: option '${option}' ${message}`, { plugin: NAME, option });
}

function allFinite(values: readonly number[]): boolean {
  return values.every((v) => Number.isFinite(v));
}

/**
 * GradNorm (Chen et al. 2018, "GradNorm: Gradient Normalization for Adaptive Loss Balancing in
 * Deep Multitask Networks", Algorithm 1) as a weighting of the Gramian G = J Jᵀ, J the gradients
 * of the active tasks' importance-scaled losses at the site (by default the last shared layer).
 *
 * At each step, with active tasks A and current weights w:
 *   n_t = √G_tt,  G_t = w_t n_t,  Ḡ = mean_{t∈A} G_t,
 *   r_t = L̃_t / mean_{s∈A} L̃_s  with L̃_t = L_t / L_t(0),
 *   ℒ = Σ_{t∈A} |G_t − Ḡ r_t^α|  (the targets held constant, eq. 6 of the paper),
 *   ∂ℒ/∂w_t = sign(G_t − Ḡ r_t^α) · n_t,
 *   w ← w − learningRate · ∂ℒ/∂w, floored at GRADNORM_MIN_WEIGHT, then rescaled so Σ_t w_t = T
 *   over all tasks.
 * The weights returned (and applied to this step's update) are those before the update, as in
 * the paper, where the network steps with w(t) and then w(t+1) is computed.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { gradnorm } from '@mtljs/weighting-gradnorm';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: gradnorm() });
 * ```
 */
export function gradnorm(options: GradNormOptions = {}): GramianWeighting<GradNormState> {
  checkOptions(SUBJECT, options, ['alpha', 'learningRate', 'initialLoss']);
  const alpha = options.alpha ?? 1.5;
  const learningRate = options.learningRate ?? 0.025;
  const initialLoss = options.initialLoss ?? 'first-step';
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) {
    throw badOption('alpha', `must be a finite number ≥ 0, got ${String(alpha)}`);
  }
  if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0) {
    throw badOption('learningRate', `must be a finite number > 0, got ${String(learningRate)}`);
  }
  if (initialLoss !== 'first-step' && initialLoss !== 'first-epoch-mean') {
    throw badOption('initialLoss', `must be 'first-step' or 'first-epoch-mean', got '${String(initialLoss)}'`);
  }

  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['last-shared', 'shared', 'features'],
    configure: (next) => gradnorm(next as GradNormOptions),

    init(context: WeightingContext): GradNormState {
      const count = context.taskNames.length;
      return {
        weights: new Array<number>(count).fill(1),
        referenceLossSums: new Array<number>(count).fill(0),
        referenceLossCounts: new Array<number>(count).fill(0),
        referenceEpochs: new Array<number | null>(count).fill(null),
        lastGradNormLoss: null,
      };
    },

    weigh(gramianMatrix: Tensor2D, lossesTensor: Tensor1D, state: GradNormState, info: StepInfo) {
      const taskCount = info.taskNames.length;
      if (state.weights.length !== taskCount) {
        throw new MtlError(
          'BAD_CONFIG',
          `${SUBJECT}: the state holds ${state.weights.length} weights but the model has ${taskCount} tasks (${info.taskNames.join(', ')})`,
          { plugin: NAME },
        );
      }
      const active = info.activeIndices;
      const current = active.map((i) => state.weights[i]!);
      const gram = gramianMatrix.arraySync();
      const losses = lossesTensor.arraySync();
      const norms = active.map((_, k) => Math.sqrt(Math.max(gram[k]![k]!, 0)));
      // A non-finite input makes no update; the engine refuses such a step anyway.
      if (!allFinite(losses) || !allFinite(norms)) return { weights: current, state };

      // Reference losses L_t(0).
      const referenceLossSums = [...state.referenceLossSums];
      const referenceLossCounts = [...state.referenceLossCounts];
      const referenceEpochs = [...state.referenceEpochs];
      active.forEach((i, k) => {
        if (referenceEpochs[i] === null) referenceEpochs[i] = info.epoch;
        const collecting = initialLoss === 'first-step' ? referenceLossCounts[i] === 0 : referenceEpochs[i] === info.epoch;
        if (collecting) {
          referenceLossSums[i]! += losses[k]!;
          referenceLossCounts[i]! += 1;
        }
      });

      // Inverse training rates r_t. A reference ≤ 0 carries no rate (L̃ = 1); a negative loss
      // counts as 0; when every L̃ is 0 all rates are equal.
      const relative = active.map((i, k) => {
        const reference = referenceLossSums[i]! / referenceLossCounts[i]!;
        return reference > 0 ? Math.max(losses[k]!, 0) / reference : 1;
      });
      const meanRelative = relative.reduce((sum, v) => sum + v, 0) / relative.length;
      const rates = relative.map((v) => (meanRelative > 0 ? v / meanRelative : 1));

      const gradientNorms = current.map((w, k) => w * norms[k]!);
      const meanNorm = gradientNorms.reduce((sum, v) => sum + v, 0) / gradientNorms.length;
      const targets = rates.map((r) => meanNorm * Math.pow(r, alpha));
      const gaps = gradientNorms.map((g, k) => g - targets[k]!);
      const gradNormLoss = gaps.reduce((sum, gap) => sum + Math.abs(gap), 0);
      const tie = TIE_TOLERANCE * meanNorm;
      const gradient = gaps.map((gap, k) => (Math.abs(gap) <= tie ? 0 : Math.sign(gap)) * norms[k]!);

      const stepped = [...state.weights];
      active.forEach((i, k) => {
        stepped[i] = Math.max(stepped[i]! - learningRate * gradient[k]!, GRADNORM_MIN_WEIGHT);
      });
      const total = stepped.reduce((sum, w) => sum + w, 0);
      const weights = stepped.map((w) => (w * taskCount) / total);
      if (!allFinite(weights) || !Number.isFinite(gradNormLoss)) return { weights: current, state };

      return {
        weights: current,
        state: { weights, referenceLossSums, referenceLossCounts, referenceEpochs, lastGradNormLoss: gradNormLoss },
        diagnostics: { values: { gradNormLoss } },
      };
    },
  };
}
