import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { columnSums } from './slices';

const constantTensors = new WeakSet<Tensor>();

/**
 * Runs `fn` with `tensors` marked as constants: no gradient with respect to them is wanted (a
 * batch's inputs in a training step). A dense layer reading one directly then skips dy·Wᵀ in its
 * backward pass and gives zeros for it: tfjs's custom gradients compute every input's gradient,
 * and for an encoder's first layer on 784 inputs that product is a fifth of a step. The marks are
 * removed when `fn` returns or throws.
 */
export function withConstants<T>(tensors: readonly Tensor[], fn: () => T): T {
  const added: Tensor[] = [];
  scopes.push(added);
  tensors.forEach((t) => markConstant(t));
  try {
    return fn();
  } finally {
    scopes.pop();
    added.forEach((t) => constantTensors.delete(t));
  }
}

const scopes: Tensor[][] = [];

function markConstant(tensor: Tensor): void {
  const scope = scopes[scopes.length - 1];
  if (!scope || constantTensors.has(tensor)) return;
  constantTensors.add(tensor);
  scope.push(tensor);
}

/** Whether `tensor` is marked constant by the enclosing {@link withConstants}. */
export function isConstant(tensor: Tensor): boolean {
  return constantTensors.has(tensor);
}

/**
 * Marks `derived` (a reshape of `source`, say) constant when `source` is, for the rest of the
 * enclosing {@link withConstants}; returns `derived`.
 */
export function constantLike<T extends Tensor>(source: Tensor, derived: T): T {
  if (constantTensors.has(source)) markConstant(derived);
  return derived;
}

/**
 * y = x·W + b, with a backward pass written with explicit transposes:
 *   dx = dy · Wᵀ,  dW = xᵀ · dy,  db = Σ_rows dy.
 * The autodiff of tf.matMul uses matMul(..., transposeA/B), which tfjs-backend-wasm runs about ten
 * times slower than a transpose followed by a plain matMul (ARCHITECTURE.md, measured facts).
 */
const denseOp = tf.customGrad(((x: Tensor2D, kernel: Tensor2D, bias: Tensor, save: tf.GradSaveFunc) => {
  save([x, kernel]);
  const value = tf.add(tf.matMul(x, kernel), bias);
  // A custom gradient computes every input's gradient; skip the one nobody reads.
  const constant = constantTensors.has(x);
  const gradFunc = (dy: Tensor, saved: Tensor[]) => {
    const [savedX, savedKernel] = saved as [Tensor2D, Tensor2D];
    const dy2 = dy as Tensor2D;
    return [
      constant ? tf.zerosLike(savedX) : tf.matMul(dy2, tf.transpose(savedKernel)),
      tf.matMul(tf.transpose(savedX), dy2),
      columnSums(dy2),
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
