import * as tf from '@tensorflow/tfjs-core';

// The hand-written tfjs baseline of library-overhead measurement (a): the same network as
// mtljs's hard sharing with an MLP encoder and linear heads (ReLU trunk, one dense head of
// `classes` logits per task, softmax cross-entropy averaged over the batch, the task losses
// summed), trained with plain SGD; each step reads its loss, as a training loop that logs would.
//
// Two flavours:
// - 'tuned' (the baseline of acceptance point 1): what someone who knows tfjs on wasm writes.
//   Dense layers get a custom gradient with explicit transposes (dx = dy·Wᵀ, dW = xᵀ·dy), since
//   tfjs-backend-wasm runs matMul with transposeA/B about ten times slower than a transpose and a
//   plain matMul (ARCHITECTURE.md); the loss is −mean Σ_c y_c log softmax(z)_c.
// - 'naive': tf.matMul's own gradient and tf.losses.softmaxCrossEntropy, for reference.

export interface RawModel {
  /** One SGD step on the batch; returns the summed loss. */
  step(): number;
  dispose(): void;
}

export interface RawModelOptions {
  inputSize: number;
  /** Hidden widths of the trunk. */
  units: number[];
  tasks: number;
  classes: number;
  /** The batch: inputs [N, inputSize] and one label vector [N] per task. */
  inputs: tf.Tensor2D;
  labels: tf.Tensor1D[];
  learningRate: number;
  /** 'tuned' (default) or 'naive' (see above). */
  flavour?: 'tuned' | 'naive';
}

/** x·W + b whose backward pass multiplies by explicit transposes. */
const tunedDense = tf.customGrad(((x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, kernel]);
  return {
    value: tf.add(tf.matMul(x, kernel), bias),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ks] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(ks)), tf.matMul(tf.transpose(xs), dy as tf.Tensor2D), tf.sum(dy, 0)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor2D;

export function rawModel(options: RawModelOptions): RawModel {
  // tidy frees the initial values; the variables survive it.
  const glorot = (fanIn: number, fanOut: number) =>
    tf.tidy(() => tf.variable(tf.randomUniform([fanIn, fanOut], -Math.sqrt(6 / (fanIn + fanOut)), Math.sqrt(6 / (fanIn + fanOut)), 'float32', 1)));
  const zeros = (size: number) => tf.tidy(() => tf.variable(tf.zeros([size])));
  const widths = [options.inputSize, ...options.units];
  const trunk = widths.slice(1).map((width, i) => ({ kernel: glorot(widths[i]!, width), bias: zeros(width) }));
  const last = widths[widths.length - 1]!;
  const heads = Array.from({ length: options.tasks }, () => ({ kernel: glorot(last, options.classes), bias: zeros(options.classes) }));
  const oneHot = options.labels.map((labels) => tf.tidy(() => tf.cast(tf.oneHot(tf.cast(labels, 'int32'), options.classes), 'float32')));
  const optimizer = tf.train.sgd(options.learningRate);
  const tuned = (options.flavour ?? 'tuned') === 'tuned';
  const variables = [...trunk, ...heads].flatMap((layer) => [layer.kernel, layer.bias]);
  return {
    step() {
      const loss = optimizer.minimize(
        () => {
          const dense = (x: tf.Tensor2D, layer: { kernel: tf.Variable; bias: tf.Variable }) =>
            tuned ? tunedDense(x, layer.kernel as tf.Tensor2D, layer.bias as tf.Tensor1D) : (tf.add(tf.matMul(x, layer.kernel as tf.Tensor2D), layer.bias) as tf.Tensor2D);
          let x: tf.Tensor2D = options.inputs;
          for (const layer of trunk) x = tf.relu(dense(x, layer));
          const losses = heads.map((head, t) =>
            tuned ? tf.neg(tf.mean(tf.sum(tf.mul(oneHot[t]!, tf.logSoftmax(dense(x, head))), -1))) : tf.losses.softmaxCrossEntropy(oneHot[t]!, dense(x, head)),
          );
          return tf.addN(losses) as tf.Scalar;
        },
        true,
        variables,
      )!;
      const value = loss.dataSync()[0]!;
      loss.dispose();
      return value;
    },
    dispose() {
      tf.dispose([...variables, ...oneHot]);
      optimizer.dispose();
    },
  };
}
