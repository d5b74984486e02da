import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';

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
 * G = J Jᵀ for a Jacobian whose rows are the tasks' flattened gradients (see {@link gramianParts}).
 */
export function gramian(jacobian: Tensor2D): Tensor2D {
  const { gramian: matrix, transposed } = gramianParts(jacobian);
  transposed?.dispose();
  return matrix;
}

/** Rows up to which the Gramian uses matMul's transposeB rather than an explicit Jᵀ. */
const TRANSPOSE_B_ROWS = 4;

/**
 * G = J Jᵀ, and Jᵀ when it was made on the way (new tensors; the caller disposes both), to be
 * handed to {@link combineRows}. Measured on tfjs-backend-wasm with a new J each time (matMul
 * packs its second operand anew for every new tensor), median ms:
 *
 * | J | transposeB | Jᵀ then matMul |
 * |---|---|---|
 * | 2 × 234k | 1.8 | 9.3 |
 * | 8 × 234k | 32.8 | 26.0 |
 * | 8 × 33k | 4.9 | 3.4 |
 * | 40 × 33k | 107 | 29.7 |
 *
 * so up to 4 rows use transposeB, more rows an explicit transpose.
 */
export function gramianParts(jacobian: Tensor2D): { gramian: Tensor2D; transposed: Tensor2D | null } {
  if (jacobian.shape[0] <= TRANSPOSE_B_ROWS) return { gramian: tf.matMul(jacobian, jacobian, false, true), transposed: null };
  const transposed = tf.transpose(jacobian);
  return { gramian: tf.matMul(jacobian, transposed), transposed };
}

/**
 * G = J Jᵀ from Jᵀ ([D, T], the task gradients as columns), a new tensor. With few tasks one
 * matMul with transposeA; from TRANSPOSE_B_ROWS + 1 tasks on, J·Jᵀ with `jacobian()` (J, which
 * the caller makes once and keeps).
 */
export function gramianOfColumns(columns: Tensor2D, jacobian: () => Tensor2D): Tensor2D {
  return columns.shape[1] <= TRANSPOSE_B_ROWS ? tf.matMul(columns, columns, true, false) : tf.matMul(jacobian(), columns);
}

/**
 * Σ_t w_t J_t from Jᵀ ([D, T]) and weights w ([T]), as a [D] vector (a new tensor): Jᵀ·w. With
 * T ≤ 4 and D a multiple of 8 it is the same product with Jᵀ read as [D/8, 8T] rows and w
 * spread over an [8T, 8] block diagonal (I₈ ⊗ w): the one-column matMul runs at a fraction of
 * the speed of an eight-column one on wasm (D = 233 856, T = 2: 1.1 ms against 1.8 ms).
 */
export function combineColumns(columns: Tensor2D, weights: Tensor): Tensor1D {
  const [size, tasks] = columns.shape;
  const spread = tasks <= TRANSPOSE_B_ROWS && size % 8 === 0 ? 8 : 1;
  return tf.tidy(() => {
    const column = tf.reshape(weights, [-1, 1]);
    if (spread === 1) return tf.reshape(tf.matMul(columns, column), [-1]) as Tensor1D;
    const blocks = tf.reshape(tf.mul(tf.reshape(tf.eye(spread), [spread, 1, spread]), tf.reshape(column, [1, tasks, 1])), [spread * tasks, spread]);
    return tf.reshape(tf.matMul(tf.reshape(columns, [size / spread, spread * tasks]), blocks as Tensor2D), [-1]) as Tensor1D;
  });
}

/**
 * Σ_t w_t J_t, the rows of J combined with weights w ([T]), as a [D] vector (a new tensor). With
 * Jᵀ at hand (from {@link gramianParts}) it is Jᵀ·w, which reads Jᵀ once; without, Σ over rows of
 * J ⊙ w. Both avoid w·J, whose matMul packs all of J as its second operand (13.8 ms for a new
 * 40 × 33k J on wasm, against 2.2 ms for Jᵀ·w).
 */
export function combineRows(jacobian: Tensor2D, transposed: Tensor2D | null, weights: Tensor): Tensor1D {
  return tf.tidy(() => {
    const column = tf.reshape(weights, [-1, 1]);
    return (transposed ? tf.reshape(tf.matMul(transposed, column), [-1]) : tf.sum(tf.mul(jacobian, column), 0)) as Tensor1D;
  });
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
