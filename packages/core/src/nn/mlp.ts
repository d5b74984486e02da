import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import type { ActivationName, ApplyOptions, LayerModule, RecordedPass } from '../contracts';
import { MtlError } from '../errors';
import { Rng } from '../rng';
import { activate, activationSlope } from './activations';
import { constantLike, dense } from './dense';
import { glorotUniform, heUniform, variableFrom } from './init';
import { columnSums, joinColumns, sliceEqual, sliceParts } from './slices';

/** What a {@link DenseStack} is built from. */
export interface DenseStackOptions {
  /** Width of the input (flattened example). */
  inputSize: number;
  /** Width of each layer, in order. */
  units: readonly number[];
  /** Activation after every layer but the last. */
  activation: ActivationName;
  /** Activation after the last layer. */
  outputActivation: ActivationName;
  /** Variable-name prefix; must be unique among live variables. */
  scope: string;
  /** Source of the initial kernels; advanced by the build. */
  rng: Rng;
}

interface DenseLayer {
  kernel: Variable;
  bias: Variable;
}

/**
 * tf.concat along `axis`, whose backward cuts the gradient with `sliceParts` (one host read on wasm and cpu): tf.concat's
 * own backward is tf.split, which tfjs-backend-wasm runs with a copy of the whole gradient per
 * part (40 parts of a [128, 400] kernel: 8–11 ms).
 */
function concatSliced(parts: readonly Tensor[], axis: number): Tensor {
  if (parts.length === 1) return tf.clone(parts[0]!);
  const first = parts[0]!;
  if (axis === 1 && first.rank === 2 && parts.every((part) => part.shape[0] === first.shape[0] && part.shape[1] === first.shape[1])) return concatColumns(parts as Tensor2D[]);
  const op = tf.customGrad(((...args: unknown[]) => {
    const inputs = args.slice(0, -1) as Tensor[];
    return {
      value: tf.concat(inputs, axis),
      gradFunc: (dy: Tensor) => sliceParts(dy, inputs.map((input) => input.shape[axis]!), axis),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (...xs: Tensor[]) => Tensor)(...parts);
}

/**
 * {@link joinColumns} of k equal [r, c] kernels, [r, k·c], with a backward that transposes back to
 * [k·r, c] and cuts along the rows (`sliceEqual`; tf.concat's own backward is a split).
 */
function concatColumns(parts: readonly Tensor2D[]): Tensor2D {
  const [rows, columns] = parts[0]!.shape;
  const k = parts.length;
  const op = tf.customGrad(((...args: unknown[]) => {
    const inputs = args.slice(0, -1) as Tensor2D[];
    return {
      value: joinColumns(inputs),
      gradFunc: (dy: Tensor) => {
        const byPart = tf.reshape(tf.transpose(tf.reshape(dy, [rows, k, columns]), [1, 0, 2]), [k * rows, columns]);
        try {
          return sliceEqual(byPart, k, 0);
        } finally {
          byPart.dispose();
        }
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (...xs: Tensor[]) => Tensor2D)(...parts);
}

/**
 * Linear layers of k stacks whose inputs are copies of one tensor (equal values, [N, in]), as one
 * matMul: x·[K_1 | … | K_k] + [b_1 | … | b_k], read from the first copy. The backward pass gives
 * copy i the gradient of its own block only (dy_i·K_iᵀ), so the gradient with respect to copy i
 * is what stack i alone sends back; kernels get their blocks of xᵀ·dy (one matMul), biases their
 * blocks of Σ_rows dy.
 */
function denseCopies(copies: readonly Tensor2D[], kernels: readonly Tensor2D[], biases: readonly Tensor[]): Tensor2D {
  const k = copies.length;
  const op = tf.customGrad(((...args: unknown[]) => {
    const inputs = args.slice(0, -1) as Tensor[];
    const xs = inputs.slice(0, k) as Tensor2D[];
    const ks = inputs.slice(k, 2 * k) as Tensor2D[];
    const bs = inputs.slice(2 * k);
    const x = xs[0]!;
    const value = tf.add(tf.matMul(x, tf.concat(ks, 1) as Tensor2D), tf.concat(bs, 0));
    return {
      value,
      gradFunc: (dy: Tensor) => {
        const dy2 = dy as Tensor2D;
        const kernelAll = tf.matMul(tf.transpose(x), dy2);
        const biasAll = columnSums(dy2);
        const dxs = sliceEqual(dy2, k, 1).map((part, i) => tf.matMul(part as Tensor2D, tf.transpose(ks[i]!)));
        return [...dxs, ...sliceEqual(kernelAll, k, 1), ...sliceEqual(biasAll, k, 0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (...xs: Tensor[]) => Tensor2D)(...copies, ...kernels, ...biases);
}

/** [N, …] → [N, rest], keeping a constant mark (see `withConstants`) on the flattened copy. */
function flatten(input: Tensor): Tensor2D {
  return constantLike(input, tf.reshape(input, [input.shape[0]!, -1]) as Tensor2D);
}

/**
 * A stack of dense layers, initialised from the seeded RNG (He uniform before ReLU-like
 * activations, Glorot uniform otherwise; zero biases). Inputs of rank > 2 are flattened.
 */
export class DenseStack implements LayerModule {
  private readonly layers: DenseLayer[] = [];
  private readonly options: DenseStackOptions;

  constructor(options: DenseStackOptions) {
    this.options = options;
    if (!Number.isInteger(options.inputSize) || options.inputSize <= 0) {
      throw new MtlError('BAD_CONFIG', `dense stack '${options.scope}': input size must be a positive integer, got ${options.inputSize}`);
    }
    let fanIn = options.inputSize;
    options.units.forEach((units, index) => {
      if (!Number.isInteger(units) || units <= 0) {
        throw new MtlError('BAD_CONFIG', `dense stack '${options.scope}': layer ${index} width must be a positive integer, got ${units}`);
      }
      const last = index === options.units.length - 1;
      const act = last ? options.outputActivation : options.activation;
      const init = act === 'relu' || act === 'leaky-relu' || act === 'elu' ? heUniform : glorotUniform;
      this.layers.push({
        kernel: variableFrom(init(options.rng, fanIn, units), [fanIn, units], `${options.scope}/dense${index}/kernel`),
        bias: variableFrom(new Float32Array(units), [units], `${options.scope}/dense${index}/bias`),
      });
      fanIn = units;
    });
  }

  /**
   * The stack's output [N, last width] for an input [N, inputSize] (or [N, …] flattening to it).
   *
   * @throws MtlError SHAPE_MISMATCH when an example does not have `inputSize` values.
   */
  apply(input: Tensor, _options: ApplyOptions): Tensor {
    return tf.tidy(() => {
      let x = this.flatInput(input);
      this.layers.forEach((layer, index) => {
        const last = index === this.layers.length - 1;
        x = activate(dense(x, layer.kernel as unknown as Tensor2D, layer.bias), last ? this.options.outputActivation : this.options.activation) as Tensor2D;
      });
      return x;
    });
  }

  /**
   * The forward pass of `apply`, keeping each layer's input and output, with a backward pass for
   * T cotangents at once ([T, N, last width]): per layer, dz = dy ⊙ act'(y) (act' from the output,
   * see `activationSlope`); db_t = Σ_rows dz_t; dW_t = xᵀ·dz_t (one 2-D matMul per task, with xᵀ
   * transposed once); dx = dz·Wᵀ as one matMul over the T·N stacked rows. Nothing flows into the
   * input. Backward gives [T, fanIn, units] and [T, units] per layer, in `variables()` order.
   * `backwardColumns` gives the same gradients as [fanIn·units, T] and [units, T], with one matMul
   * per layer for all tasks: xᵀ times the T cotangents interleaved column by column, [N, units·T]
   * (on wasm, with a 784 → 256 → 128 stack, batch 256: 22 ms against 29 ms for T = 2 with the
   * Gramian and the combination, 420 ms against 940 ms for T = 40).
   *
   * @throws MtlError SHAPE_MISMATCH when an example does not have `inputSize` values.
   */
  record(input: Tensor, _options: ApplyOptions): RecordedPass {
    const flat = this.flatInput(input);
    const owned = flat !== input;
    const layers = this.layers.map((layer, index) => ({
      layer,
      act: index === this.layers.length - 1 ? this.options.outputActivation : this.options.activation,
    }));
    const outputs: Tensor2D[] = [];
    try {
      let x = flat;
      for (const { layer, act } of layers) {
        const current = x;
        x = tf.tidy(() => activate(tf.add(tf.matMul(current, layer.kernel as unknown as Tensor2D), layer.bias), act) as Tensor2D);
        outputs.push(x);
      }
    } catch (error) {
      outputs.forEach((t) => t.dispose());
      if (owned) flat.dispose();
      throw error;
    }
    const output = outputs.length ? outputs[outputs.length - 1]! : flat;
    const rows = flat.shape[0];
    let disposed = false;
    // Both layouts of the backward pass: per layer, dz = dy ⊙ act'(y), the weight gradients from
    // dz, then dx = dz·Wᵀ as one matMul over the T·N stacked rows.
    const gradients = (cotangents: Tensor, columns: boolean): Tensor[] => {
      if (disposed) throw new MtlError('BAD_CONFIG', `dense stack '${this.options.scope}': backward() after dispose()`);
      const width = output.shape[1];
      if (cotangents.rank < 2 || cotangents.shape[1] !== rows || cotangents.size !== cotangents.shape[0] * rows * width) {
        throw new MtlError('SHAPE_MISMATCH', `dense stack '${this.options.scope}': cotangents [${cotangents.shape.join(', ')}] do not match [T, ${rows}, ${width}]`, {
          expected: [rows, width],
          received: cotangents.shape,
        });
      }
      const tasks = cotangents.shape[0]!;
      return tf.tidy(() => {
        const grads: Tensor[] = new Array(layers.length * 2);
        let dy = tf.reshape(cotangents, [tasks * rows, width]) as Tensor2D;
        for (let index = layers.length - 1; index >= 0; index--) {
          const { layer, act } = layers[index]!;
          const y = outputs[index]!;
          const x = index === 0 ? flat : outputs[index - 1]!;
          const units = y.shape[1];
          const slope = activationSlope(y, act);
          const dz = (slope ? tf.reshape(tf.mul(tf.reshape(dy, [tasks, rows, units]), slope), [tasks * rows, units]) : dy) as Tensor2D;
          const xT = tf.transpose(x);
          if (columns) {
            // [N, units·T] with column j·T + t = dz_t[:, j]: xᵀ times it is every task's dW at
            // once, laid out [fanIn·units, T], and its column sums every task's db as [units, T].
            const interleaved = (tasks === 1 ? dz : tf.reshape(tf.transpose(tf.reshape(dz, [tasks, rows, units]), [1, 2, 0]), [rows, units * tasks])) as Tensor2D;
            grads[2 * index] = tf.reshape(tf.matMul(xT, interleaved), [-1, tasks]);
            grads[2 * index + 1] = tf.reshape(columnSums(interleaved), [units, tasks]);
          } else {
            const kernelGrads = (tasks === 1 ? [dz] : sliceEqual(dz, tasks, 0)).map((part) => tf.matMul(xT, part as Tensor2D));
            // One task: 1ᵀ·dz after xᵀ·dz, whose packed copy of dz tfjs-backend-wasm reuses (see columnSums).
            grads[2 * index + 1] = tasks === 1 ? tf.reshape(columnSums(dz), [1, units]) : tf.sum(tf.reshape(dz, [tasks, rows, units]), 1);
            grads[2 * index] = tasks === 1 ? tf.reshape(kernelGrads[0]!, [1, ...layer.kernel.shape]) : tf.stack(kernelGrads);
          }
          if (index > 0) dy = tf.matMul(dz, tf.transpose(layer.kernel as unknown as Tensor2D));
        }
        return grads;
      });
    };
    return {
      output,
      backward: (cotangents: Tensor): Tensor[] => gradients(cotangents, false),
      backwardColumns: (cotangents: Tensor): Tensor[] => gradients(cotangents, true),
      dispose: () => {
        if (disposed) return;
        disposed = true;
        outputs.forEach((t) => t.dispose());
        if (owned) flat.dispose();
      },
    };
  }

  /** Each layer's kernel [fanIn, units] and bias [units], in layer order. */
  variables(): Variable[] {
    return this.layers.flatMap((layer) => [layer.kernel, layer.bias]);
  }

  lastLayerVariables(): Variable[] {
    const last = this.layers[this.layers.length - 1];
    return last ? [last.kernel, last.bias] : [];
  }

  outputShape(_inputShape: readonly number[]): number[] {
    const units = this.options.units;
    return [units.length ? units[units.length - 1]! : this.options.inputSize];
  }

  /** The input as [N, inputSize] (flattened when its rank is above 2), or SHAPE_MISMATCH. */
  private flatInput(input: Tensor): Tensor2D {
    const x = (input.rank === 2 ? input : flatten(input)) as Tensor2D;
    if (x.shape[1] !== this.options.inputSize) {
      throw new MtlError(
        'SHAPE_MISMATCH',
        `dense stack '${this.options.scope}' expects ${this.options.inputSize} input features, got ${x.shape[1]} (input shape [${input.shape.join(', ')}])`,
        { expected: this.options.inputSize, received: input.shape },
      );
    }
    return x;
  }

  /**
   * Several stacks of the same structure (input size, widths, activations) reading the same input,
   * applied together: their first layers are one matMul with the kernels side by side
   * ([N, in] · [in, k·width]), so k linear heads cost one matMul; deeper layers run per stack
   * (tfjs-backend-wasm runs batched matMuls several times slower than the same work as 2-D ones).
   * The heads of tasks that share a spec are such stacks (`MultiTaskModel.decodeStacked`).
   *
   * `input` may instead be one copy of the input per stack (equal values; the engine's gradient
   * sites give each task its own copy of the features): the first layers are still one matMul,
   * and stack i's gradient flows into copy i only.
   *
   * @returns [N, k, last width], or null when the stacks differ in structure or there are none.
   * @throws MtlError SHAPE_MISMATCH when an example does not have `inputSize` values, or the
   *   copies are not one per stack.
   */
  static applyStacked(stacks: readonly DenseStack[], input: Tensor | readonly Tensor[]): Tensor3D | null {
    const first = stacks[0];
    if (!first || first.layers.length === 0) return null;
    const shape = first.signature();
    if (!stacks.every((stack) => stack.signature() === shape)) return null;
    const k = stacks.length;
    const copies = Array.isArray(input) ? (input as readonly Tensor[]) : null;
    if (copies && copies.length !== k) {
      throw new MtlError('SHAPE_MISMATCH', `dense stack '${first.options.scope}': ${copies.length} input copies for ${k} stacks`, { expected: k, received: copies.length });
    }
    return tf.tidy(() => {
      const { activation, outputActivation } = first.options;
      const xs = copies ? copies.map((c) => first.flatInput(c)) : [first.flatInput(input as Tensor)];
      const x = xs[0]!;
      const rows = x.shape[0];
      const depth = first.layers.length;
      const width = first.layers[0]!.kernel.shape[1]!;
      const linear = copies
        ? denseCopies(
            xs,
            stacks.map((s) => s.layers[0]!.kernel as unknown as Tensor2D),
            stacks.map((s) => s.layers[0]!.bias),
          )
        : dense(x, concatSliced(stacks.map((s) => s.layers[0]!.kernel), 1) as Tensor2D, concatSliced(stacks.map((s) => s.layers[0]!.bias), 0));
      const y = activate(linear, depth === 1 ? outputActivation : activation);
      if (depth === 1) return tf.reshape(y, [rows, k, width]) as Tensor3D;
      const parts = tf.split(y, k, 1);
      const outputs = stacks.map((stack, i) => {
        let x = parts[i] as Tensor2D;
        for (let index = 1; index < depth; index++) {
          const layer = stack.layers[index]!;
          x = activate(dense(x, layer.kernel as unknown as Tensor2D, layer.bias), index === depth - 1 ? outputActivation : activation) as Tensor2D;
        }
        return x;
      });
      return tf.stack(outputs, 1) as Tensor3D;
    });
  }

  /**
   * This stack's one layer when it is a single dense layer with a 'linear' output activation
   * (output = x·kernel + bias on an [N, inputSize] input), else null. The engine's 'features' site
   * uses it to form the Gramian of the tasks' feature gradients without the Jacobian
   * (`MultiTaskModel.linearHeads`).
   */
  linearLayer(): { kernel: Variable; bias: Variable } | null {
    if (this.layers.length !== 1 || this.options.outputActivation !== 'linear') return null;
    return { kernel: this.layers[0]!.kernel, bias: this.layers[0]!.bias };
  }

  private signature(): string {
    const { inputSize, activation, outputActivation } = this.options;
    return JSON.stringify([inputSize, activation, outputActivation, this.layers.map((layer) => layer.kernel.shape)]);
  }

  dispose(): void {
    for (const layer of this.layers) {
      layer.kernel.dispose();
      layer.bias.dispose();
    }
    this.layers.length = 0;
  }
}
