import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type LossWeighting, type WeightingContext } from '@mtljs/core';

/**
 * How a task's term is written, with s = log σ² (Kendall, Gal & Cipolla 2018):
 * - 'regression': 1/(2σ²) L + log σ = (e^{−s} L + s) / 2 (Gaussian likelihood);
 * - 'classification': 1/σ² L + log σ = e^{−s} L + s / 2 (softmax likelihood scaled by 1/σ²).
 */
export type UncertaintyForm = 'regression' | 'classification';

/** Options of `uncertainty`; bad values are BAD_CONFIG naming the option. */
export interface UncertaintyOptions {
  /**
   * 'regression' (default): every task uses the regression form; 'classification': every task
   * uses the classification form; 'by-task': regression tasks the regression form, the others
   * (multiclass, binary, multilabel) the classification form. 'by-task' needs the task kinds,
   * which a Trainer gives in the weighting context.
   */
  form?: UncertaintyForm | 'by-task';
  /** Initial s_t = log σ_t²: one number for every task, or one per task (default 0, σ² = 1). */
  initialLogVariance?: number | readonly number[];
}

/** The state `uncertainty` carries; the log-variances s_t are not in it but in the trainable parameter `logVariance` the engine creates from `parameters(context)`. */
export interface UncertaintyState {
  /** The form of each task's term, in the model's task order. */
  forms: UncertaintyForm[];
}

const NAME = 'uncertainty';
const FORMS = ['regression', 'classification', 'by-task'] as const;

/**
 * Coefficient a_t of e^{−s_t} L_t in a task's term: 1/2 in the regression form, 1 in the
 * classification form. Both forms add s_t / 2, so every term is a_t e^{−s_t} L_t + s_t / 2.
 */
function precisionFactor(form: UncertaintyForm): number {
  return form === 'regression' ? 0.5 : 1;
}

/**
 * Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018): one learnable s_t = log σ_t² per
 * task, trained by the optimiser with the model. Objective over the active tasks
 *   Σ_t a_t e^{−s_t} L_t + s_t / 2,   a_t = 1/2 (regression form) or 1 (classification form);
 * the reported weight of task t is a_t e^{−s_t}.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { uncertainty } from '@mtljs/weighting-uncertainty';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: uncertainty() });
 * ```
 */
export function uncertainty(options: UncertaintyOptions = {}): LossWeighting<UncertaintyState> {
  checkOptions(`weighting '${NAME}'`, options, ['form', 'initialLogVariance']);
  const form = options.form ?? 'regression';
  if (!(FORMS as readonly string[]).includes(form)) {
    throw new MtlError('BAD_CONFIG', `weighting '${NAME}': option 'form' must be one of ${FORMS.join(', ')}, got ${JSON.stringify(form)}`, {
      plugin: NAME,
      option: 'form',
      available: FORMS,
    });
  }
  const initial = options.initialLogVariance ?? 0;
  const initialValues = typeof initial === 'number' ? [initial] : initial;
  if (!Array.isArray(initialValues) || initialValues.length === 0 || initialValues.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new MtlError(
      'BAD_CONFIG',
      `weighting '${NAME}': option 'initialLogVariance' must be a finite number or a non-empty array of finite numbers (one per task), got ${JSON.stringify(initial)}`,
      { plugin: NAME, option: 'initialLogVariance' },
    );
  }

  const formsFor = (context: WeightingContext): UncertaintyForm[] => {
    if (form !== 'by-task') return context.taskNames.map(() => form);
    const tasks = context.tasks;
    if (!tasks || tasks.length !== context.taskNames.length) {
      throw new MtlError(
        'BAD_CONFIG',
        `weighting '${NAME}': option form 'by-task' needs the task kinds (context.tasks, given by a Trainer); ` +
          `this context has ${tasks ? `${tasks.length} task specs for ${context.taskNames.length} tasks` : 'none'}`,
        { plugin: NAME, option: 'form' },
      );
    }
    return tasks.map((task) => (task.kind === 'regression' ? 'regression' : 'classification'));
  };

  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'loss',
    configure: (next) => uncertainty(next as UncertaintyOptions),
    init: (context) => ({ forms: formsFor(context) }),
    parameters(context) {
      const count = context.taskNames.length;
      if (typeof initial !== 'number' && initialValues.length !== count) {
        throw new MtlError(
          'BAD_CONFIG',
          `weighting '${NAME}': option 'initialLogVariance' has ${initialValues.length} values for ${count} tasks (${context.taskNames.join(', ')})`,
          { plugin: NAME, option: 'initialLogVariance', expected: count, received: initialValues.length },
        );
      }
      return { logVariance: context.taskNames.map((_, i) => (typeof initial === 'number' ? initial : initialValues[i]!)) };
    },
    combine(losses, state, info) {
      const logVariance = info.params?.logVariance;
      if (!logVariance || logVariance.size !== info.taskNames.length) {
        throw new MtlError(
          'BAD_CONFIG',
          `weighting '${NAME}': combine() needs info.params.logVariance, a variable with one entry per task (${info.taskNames.length}); ` +
            `got ${logVariance ? `[${logVariance.shape.join(', ')}]` : 'none'}. Create it from parameters(context), as the engine does`,
          { plugin: NAME },
        );
      }
      if (state?.forms?.length !== info.taskNames.length) {
        throw new MtlError('BAD_CONFIG', `weighting '${NAME}': its state holds ${state?.forms?.length ?? 0} tasks, the model has ${info.taskNames.length}; start from init()`, {
          plugin: NAME,
        });
      }
      // Inactive tasks' s_t stay out of the objective, so they get a zero gradient.
      // The active entries as (one-hot selection) · s rather than tf.gather: gather's gradient needs
      // UnsortedSegmentSum, which tfjs-backend-wasm does not implement; matMul's works everywhere.
      const count = logVariance.shape[0];
      const selection = tf.tensor2d(
        info.activeIndices.flatMap((index) => Array.from({ length: count }, (_, k) => (k === index ? 1 : 0))),
        [info.activeIndices.length, count],
      );
      const s = tf.reshape(tf.matMul(selection, tf.reshape(logVariance, [count, 1])), [-1]) as Tensor1D;
      const factors = tf.tensor1d(info.activeIndices.map((i) => precisionFactor(state.forms[i]!)));
      const weights = tf.mul(factors, tf.exp(tf.neg(s))) as Tensor1D;
      const loss = tf.sum(tf.add(tf.mul(weights, losses), tf.mul(s, 0.5))) as Scalar;
      return { loss, weights, state };
    },
  };
}
