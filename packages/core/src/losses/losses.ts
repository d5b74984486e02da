import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import type { LossName, PerExampleLoss, TaskKind, TaskSpec } from '../contracts';
import { MtlError } from '../errors';
import { oneHotConstant } from '../nn/slices';

// Every loss here takes a prediction and a target in canonical form (see `canonicalTarget`) and
// returns one value per example, averaged over the output units. The engine then averages over
// the labelled examples only (`maskedMean`).

/**
 * −Σ_c y_c log softmax(z)_c over the last axis (y one-hot, class probabilities, or all zeros for a
 * masked row), written as (Σ_c y_c)·lse(z) − Σ_c y_c z_c with lse(z) = max z − log max softmax(z)
 * (exact: the largest probability is at least 1/C, so its log never underflows), and a
 * hand-written backward, dz = dy·(softmax(z)·Σ_c y_c − y). On tfjs-backend-wasm this is one native
 * softmax and no exp of our own: tf.logSoftmax's forward and backward take two exps and several
 * broadcasting ops, which wasm runs about 8× slower than plain elementwise ones (40 tasks ×
 * 10 classes × 256 examples: 3.6 ms for tf.logSoftmax alone, 1.0 ms for tf.softmax). The targets
 * are data: no gradient flows into them.
 */
export const softmaxCrossEntropy: PerExampleLoss = (logits, target) => {
  const op = tf.customGrad(((z: Tensor, save: tf.GradSaveFunc) => {
    const probabilities = tf.softmax(z);
    const mass = tf.sum(target, -1);
    const lse = tf.sub(tf.max(z, -1), tf.log(tf.max(probabilities, -1)));
    const value = tf.sub(tf.mul(mass, lse), tf.sum(tf.mul(target, z), -1));
    save([probabilities, mass, target]); // the target too: it may be an intermediate the tape frees
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [p, m, y] = saved as [Tensor, Tensor, Tensor];
        return [tf.sub(tf.mul(p, tf.expandDims(tf.mul(m, dy), -1)), tf.mul(y, tf.expandDims(dy, -1)))];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (z: Tensor) => Tensor1D)(logits);
};

/** Mean over units of max(z, 0) − z·y + log(1 + e^{−|z|}), the stable form of BCE on logits. */
export const binaryCrossEntropy: PerExampleLoss = (logits, labels) =>
  tf.tidy(
    () =>
      tf.mean(
        tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
        -1,
      ) as Tensor1D,
  );

/** Mean over units of (p − y)²: the default loss of regression tasks. */
export const meanSquaredError: PerExampleLoss = (prediction, target) =>
  tf.tidy(() => tf.mean(tf.squaredDifference(prediction, target), -1) as Tensor1D);

/** Mean over units of |p − y|. */
export const meanAbsoluteError: PerExampleLoss = (prediction, target) =>
  tf.tidy(() => tf.mean(tf.abs(tf.sub(prediction, target)), -1) as Tensor1D);

/** Huber with δ: ½d² where |d| ≤ δ, else δ(|d| − ½δ); mean over units. */
export function huber(delta = 1): PerExampleLoss {
  return (prediction, target) =>
    tf.tidy(() => {
      const absDiff = tf.abs(tf.sub(prediction, target));
      const quadratic = tf.minimum(absDiff, delta);
      const linear = tf.sub(absDiff, quadratic);
      return tf.mean(tf.add(tf.mul(0.5, tf.square(quadratic)), tf.mul(delta, linear)), -1) as Tensor1D;
    });
}

const NAMED: Record<LossName, PerExampleLoss> = {
  'softmax-cross-entropy': softmaxCrossEntropy,
  'binary-cross-entropy': binaryCrossEntropy,
  mse: meanSquaredError,
  mae: meanAbsoluteError,
  huber: huber(1),
};

const DEFAULT_LOSS: Record<TaskKind, LossName> = {
  multiclass: 'softmax-cross-entropy',
  binary: 'binary-cross-entropy',
  regression: 'mse',
  multilabel: 'binary-cross-entropy',
};

/**
 * The per-example loss of a task: its custom `fn`, its named loss, or the default for its kind
 * (softmax cross-entropy for multiclass, binary cross-entropy for binary and multilabel, MSE for
 * regression).
 *
 * @throws MtlError BAD_CONFIG for an unknown loss name.
 */
export function lossFor(task: TaskSpec): PerExampleLoss {
  const spec = task.loss ?? DEFAULT_LOSS[task.kind];
  if (typeof spec === 'object') return spec.fn;
  const fn = NAMED[spec];
  if (!fn) {
    throw new MtlError('BAD_CONFIG', `task '${task.name}': unknown loss '${String(spec)}'; available: ${Object.keys(NAMED).join(', ')}`, {
      task: task.name,
      available: Object.keys(NAMED),
    });
  }
  return fn;
}

/**
 * Mean of per-example values over the labelled examples: Σ_i m_i l_i / max(Σ_i m_i, 1).
 * Unlabelled entries are selected away (not multiplied by 0), so a NaN there cannot leak.
 */
export function maskedMean(perExample: Tensor1D, mask: Tensor1D | null): Scalar {
  return tf.tidy(() => {
    if (!mask) return tf.mean(perExample) as Scalar;
    const selected = tf.where(tf.greater(mask, 0), perExample, tf.zerosLike(perExample));
    return tf.div(tf.sum(selected), tf.maximum(tf.sum(mask), 1)) as Scalar;
  });
}

/**
 * Task targets in canonical float form: one-hot [N, C] (multiclass), [N, 1] (binary),
 * [N, units] (regression, multilabel). Rows the mask marks unlabelled are zeroed first, so
 * placeholders (NaN, -1) there never reach a loss or a gradient.
 */
export function canonicalTarget(task: TaskSpec, target: Tensor, batchSize: number, mask: Tensor1D | null): Tensor {
  const where = `task '${task.name}'`;
  if (target.shape[0] !== batchSize) {
    throw new MtlError('SHAPE_MISMATCH', `${where}: targets have ${target.shape[0]} rows but the batch has ${batchSize} examples`, {
      task: task.name,
      expected: [batchSize],
      received: target.shape,
    });
  }
  const bad = (expected: string): never => {
    throw new MtlError(
      'SHAPE_MISMATCH',
      `${where} (${task.kind}, units ${task.units}): targets of shape [${target.shape.join(', ')}] do not match; expected ${expected}`,
      { task: task.name, expected, received: target.shape },
    );
  };
  if (task.kind === 'multiclass' && task.units > 1 && (target.rank === 1 || (target.rank === 2 && target.shape[1] === 1))) {
    const host = oneHotConstant(target, task.units, mask);
    if (host) return host;
  }
  return tf.tidy(() => {
    let t = tf.cast(target, 'float32');
    if (mask) {
      const keep = t.rank === 1 ? mask : tf.reshape(mask, [batchSize, ...new Array(t.rank - 1).fill(1)]);
      t = tf.where(tf.greater(tf.broadcastTo(keep, t.shape), 0), t, tf.zerosLike(t));
    }
    switch (task.kind) {
      case 'multiclass': {
        if (t.rank === 1 || (t.rank === 2 && t.shape[1] === 1 && task.units !== 1)) {
          return tf.cast(tf.oneHot(tf.cast(tf.reshape(t, [batchSize]), 'int32'), task.units), 'float32');
        }
        if (t.rank === 2 && t.shape[1] === task.units) return t;
        return bad(`class indices [${batchSize}] or one-hot [${batchSize}, ${task.units}]`);
      }
      case 'binary': {
        if (task.units !== 1) bad('a binary task to have units 1');
        if (t.rank === 1 || (t.rank === 2 && t.shape[1] === 1)) return tf.reshape(t, [batchSize, 1]);
        return bad(`[${batchSize}] or [${batchSize}, 1] of 0/1 labels`);
      }
      case 'regression': {
        if (t.rank === 1 && task.units === 1) return tf.reshape(t, [batchSize, 1]);
        if (t.rank === 2 && t.shape[1] === task.units) return t;
        return bad(task.units === 1 ? `[${batchSize}] or [${batchSize}, 1]` : `[${batchSize}, ${task.units}]`);
      }
      case 'multilabel': {
        if (t.rank === 2 && t.shape[1] === task.units) return t;
        return bad(`[${batchSize}, ${task.units}] of 0/1 labels`);
      }
      default:
        throw new MtlError('BAD_CONFIG', `${where}: unknown task kind '${String(task.kind)}'`, { task: task.name });
    }
  });
}
