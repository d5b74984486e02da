import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';

// Numerical pieces shared by the engine and the gradient-level weightings.

/** Identity on the way forward; multiplies the incoming gradient by `factor` on the way back. */
export function scaleGradient<T extends Tensor>(x: T, factor: number): T {
  const op = tf.customGrad(((input: Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return {
      value: tf.clone(input),
      gradFunc: (dy: Tensor) => [tf.mul(dy, factor)],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as T;
}

/**
 * G = J Jᵀ for a Jacobian whose rows are the tasks' flattened gradients. Measured on
 * tfjs-backend-wasm (J of 2 × 235k: 1.1 ms with matMul's transposeB, 10 ms transposing J first;
 * 40 × 33k: 70 ms against 31 ms), so a few rows use transposeB and many rows an explicit transpose.
 */
export function gramian(jacobian: Tensor2D): Tensor2D {
  return tf.tidy(() => (jacobian.shape[0] <= 16 ? tf.matMul(jacobian, jacobian, false, true) : tf.matMul(jacobian, tf.transpose(jacobian))) as Tensor2D);
}

/** A T×T matrix as nested arrays (small; for pure-JS solvers). */
export function toMatrix(matrix: Tensor2D): number[][] {
  return matrix.arraySync();
}

/**
 * Pairwise cosine similarities of task gradients from their Gramian: cos_ij = G_ij / √(G_ii G_jj),
 * null where either gradient is zero (or a value is not finite). Clamped to [−1, 1] against
 * rounding.
 */
export function cosineFromGramian(values: readonly (readonly number[])[]): (number | null)[][] {
  return values.map((row, i) =>
    row.map((g, j) => {
      const norm = Math.sqrt(values[i]![i]! * values[j]![j]!);
      if (!(norm > 0) || !Number.isFinite(norm) || !Number.isFinite(g)) return null;
      return Math.max(-1, Math.min(1, g / norm));
    }),
  );
}
