import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';

/**
 * y = x·W + b, with a backward pass written with explicit transposes:
 *   dx = dy · Wᵀ,  dW = xᵀ · dy,  db = Σ_rows dy.
 * The autodiff of tf.matMul uses matMul(..., transposeA/B), which tfjs-backend-wasm runs about ten
 * times slower than a transpose followed by a plain matMul (ARCHITECTURE.md, measured facts).
 */
const denseOp = tf.customGrad(((x: Tensor2D, kernel: Tensor2D, bias: Tensor, save: tf.GradSaveFunc) => {
  save([x, kernel]);
  const value = tf.add(tf.matMul(x, kernel), bias);
  const gradFunc = (dy: Tensor, saved: Tensor[]) => {
    const [savedX, savedKernel] = saved as [Tensor2D, Tensor2D];
    const dy2 = dy as Tensor2D;
    return [
      tf.matMul(dy2, tf.transpose(savedKernel)),
      tf.matMul(tf.transpose(savedX), dy2),
      tf.sum(dy2, 0),
    ];
  };
  return { value, gradFunc };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * A dense layer, x·W + b, for x [N, in], W [in, out], b [out]. Its backward pass multiplies by
 * explicit transposes (dy·Wᵀ, xᵀ·dy), which tfjs-backend-wasm runs about ten times faster than
 * matMul with transposeA/B.
 */
export function dense(x: Tensor2D, kernel: Tensor2D, bias: Tensor): Tensor2D {
  return denseOp(x, kernel, bias) as Tensor2D;
}
