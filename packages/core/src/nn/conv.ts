import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { ActivationName, ApplyOptions, ConvBlockSpec, ConvSpec, LayerModule } from '../contracts';
import { MtlError } from '../errors';
import { Rng } from '../rng';
import { activate } from './activations';
import { constantLike, isConstant } from './dense';
import { DenseStack } from './mlp';
import { heUniform, variableFrom } from './init';

/** What a {@link ConvStack} is built from. */
export interface ConvStackOptions {
  /** The blocks and optional dense layers. */
  spec: ConvSpec;
  /** One example's shape: [height, width, channels] or [height, width]. */
  inputShape: readonly number[];
  /** Variable-name prefix; must be unique among live variables. */
  scope: string;
  /** Source of the initial values; advanced by the build. */
  rng: Rng;
}

interface ConvBlock {
  spec: Required<ConvBlockSpec>;
  kernel: Variable;
  bias: Variable;
  gamma?: Variable;
  beta?: Variable;
}

const LAYER_NORM_EPSILON = 1e-5;

/**
 * 2-D convolution, NHWC. tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel (and its
 * Conv3D backprop kernels are wrong for strides > 1: measured), so where the backend lacks the
 * filter kernel the forward pass and the input gradient stay conv2d / Conv2DBackpropInput and the
 * kernel gradient is computed directly (see kernelGradient).
 */
export function conv2d(x: Tensor4D, kernel: Tensor4D, stride: number, padding: 'same' | 'valid'): Tensor4D {
  if (tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) !== undefined) return tf.conv2d(x, kernel, stride, padding);
  return conv2dWithDirectKernelGradient(x, kernel, stride, padding);
}

/** tfjs's 'same' padding: total = max((out − 1)·stride + k − in, 0), the smaller half before. */
function samePadding(size: number, window: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + window - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * ∂L/∂K[i, j, c, f] = Σ_{n,p,q} x_pad[n, p·s + i, q·s + j, c] · dy[n, p, q, f]: a convolution of the
 * padded input, read as [c, H, W, n] (channels as the batch, examples as the channels), with dy
 * read as a [P, Q, n, f] filter dilated by the stride; the [c, ≥kh, ≥kw, f] result, cut to the
 * kernel's size, is transposed to [kh, kw, c, f]. One Conv2D on wasm instead of kh·kw strided
 * slices and matMuls (5 × 5 kernels at batch 256: 25 ms against 630 ms for a 28 × 28 × 1 input,
 * 42 ms against 163 ms for 14 × 14 × 8; tfjs-backend-wasm's StridedSlice runs in JS).
 */
function kernelGradient(x: Tensor4D, dy: Tensor4D, kernelShape: number[], stride: number, padding: 'same' | 'valid'): Tensor {
  const [kh, kw] = kernelShape as [number, number, number, number];
  const [, h, w] = x.shape;
  const padded =
    padding === 'same' ? (tf.pad(x, [[0, 0], samePadding(h, kh, stride), samePadding(w, kw, stride), [0, 0]]) as Tensor4D) : x;
  const byChannel = tf.transpose(padded, [3, 1, 2, 0]) as Tensor4D;
  const filter = tf.transpose(dy, [1, 2, 0, 3]) as Tensor4D;
  let grad = tf.conv2d(byChannel, filter, 1, 'valid', 'NHWC', stride);
  if (grad.shape[1] !== kh || grad.shape[2] !== kw) grad = tf.slice(grad, [0, 0, 0, 0], [-1, kh, kw, -1]);
  return tf.transpose(grad, [1, 2, 0, 3]);
}

/**
 * ∂L/∂x for stride 1 as a forward convolution (fast on wasm, whose Conv2DBackpropInput is not):
 * dx = conv_valid(pad(dy, k − 1 − p_before, k − 1 − p_after), K'), K'[i, j, f, c] = K[k−1−i, k−1−j, c, f],
 * where p_before / p_after are the forward pass's padding. Other strides use conv2dTranspose.
 */
function inputGradient(x: Tensor4D, dy: Tensor4D, kernel: Tensor4D, stride: number, padding: 'same' | 'valid'): Tensor {
  if (stride !== 1) return tf.conv2dTranspose(dy, kernel, x.shape, stride, padding);
  const [kh, kw] = kernel.shape;
  const [top, bottom] = padding === 'same' ? samePadding(x.shape[1], kh, 1) : [0, 0];
  const [left, right] = padding === 'same' ? samePadding(x.shape[2], kw, 1) : [0, 0];
  const flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as Tensor4D;
  const padded = tf.pad(dy, [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]]) as Tensor4D;
  return tf.conv2d(padded, flipped, 1, 'valid');
}

/**
 * tf.conv2d with the backward pass written here (the input gradient as a forward convolution for
 * stride 1, the kernel gradient by `kernelGradient`); `conv2d` uses it where the backend has no
 * Conv2DBackpropFilter kernel (wasm). Exported for tests.
 */
export function conv2dWithDirectKernelGradient(x: Tensor4D, kernel: Tensor4D, stride: number, padding: 'same' | 'valid'): Tensor4D {
  const op = tf.customGrad(((input: Tensor4D, filter: Tensor4D, save: tf.GradSaveFunc) => {
    save([input, filter]);
    // A batch's inputs (marked by withConstants) get zeros: nobody reads their gradient, and for a
    // first layer it is a convolution as large as the forward one (50 ms of a step at batch 256).
    const constant = isConstant(input);
    const gradFunc = (dy: Tensor, saved: Tensor[]) => {
      const [a, k] = saved as [Tensor4D, Tensor4D];
      return [constant ? tf.zerosLike(a) : inputGradient(a, dy as Tensor4D, k, stride, padding), kernelGradient(a, dy as Tensor4D, k.shape, stride, padding)];
    };
    return { value: tf.conv2d(input, filter, stride, padding), gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, kernel) as Tensor4D;
}

/**
 * Layer normalisation (Ba, Kiros & Hinton 2016) of each example over all of its (height, width,
 * channel) values, then a per-channel scale γ and shift β: y = γ·(x − μ)/√(σ² + 1e-5) + β.
 */
export function layerNorm(x: Tensor4D, gamma: Tensor, beta: Tensor): Tensor4D {
  const { mean, variance } = tf.moments(x, [1, 2, 3], true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, LAYER_NORM_EPSILON))), gamma), beta) as Tensor4D;
}

function positiveInteger(value: unknown, what: string, scope: string): number {
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new MtlError('BAD_CONFIG', `conv stack '${scope}': ${what} must be a positive integer, got ${String(value)}`, { received: value });
  }
  return value as number;
}

function outputSide(side: number, window: number, stride: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(side / stride) : Math.floor((side - window) / stride) + 1;
}

/**
 * A stack of convolutional blocks (conv2d → activation → layer norm → pooling), flattened, then
 * optional dense layers. Initialised from the seeded RNG (He uniform; zero biases; γ = 1, β = 0).
 * `applyBlocks` returns every block's output, for attention models (MTAN) that read them.
 */
export class ConvStack implements LayerModule {
  private readonly blocks: ConvBlock[] = [];
  private readonly dense: DenseStack | null;
  private readonly activation: ActivationName;
  private readonly inputShape: [number, number, number];
  private readonly shapes: [number, number, number][] = [];
  /** The variable-name prefix it was built with (named in its error messages). */
  readonly scope: string;

  /**
   * Creates the variables of every block (and the dense layers).
   *
   * @throws MtlError BAD_CONFIG for an invalid spec or input shape, or blocks that shrink the input
   *   to nothing.
   */
  constructor(options: ConvStackOptions) {
    const { spec, scope, rng } = options;
    this.scope = scope;
    if (!spec || spec.type !== 'conv' || !Array.isArray(spec.blocks) || spec.blocks.length === 0) {
      throw new MtlError('BAD_CONFIG', `conv stack '${scope}': the spec needs { type: 'conv', blocks: [{ filters }, ...] } with at least one block`);
    }
    const shape = options.inputShape;
    if (!(shape.length === 2 || shape.length === 3) || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new MtlError('BAD_CONFIG', `conv stack '${scope}': the input shape must be [height, width] or [height, width, channels], got [${shape.join(', ')}]`, {
        received: shape,
      });
    }
    this.inputShape = [shape[0]!, shape[1]!, shape[2] ?? 1];
    this.activation = spec.activation ?? 'relu';
    let [h, w, c] = this.inputShape;
    spec.blocks.forEach((block, index) => {
      const full: Required<ConvBlockSpec> = {
        filters: positiveInteger(block?.filters, `block ${index} filters`, scope),
        kernelSize: positiveInteger(block.kernelSize ?? 3, `block ${index} kernelSize`, scope),
        stride: positiveInteger(block.stride ?? 1, `block ${index} stride`, scope),
        padding: block.padding ?? 'same',
        norm: block.norm ?? 'none',
        pool: block.pool ?? 'max',
        poolSize: positiveInteger(block.poolSize ?? 2, `block ${index} poolSize`, scope),
      };
      if (full.padding !== 'same' && full.padding !== 'valid') throw new MtlError('BAD_CONFIG', `conv stack '${scope}': block ${index} padding must be 'same' or 'valid'`);
      if (!['layer', 'none'].includes(full.norm)) throw new MtlError('BAD_CONFIG', `conv stack '${scope}': block ${index} norm must be 'layer' or 'none'`);
      if (!['max', 'avg', 'none'].includes(full.pool)) throw new MtlError('BAD_CONFIG', `conv stack '${scope}': block ${index} pool must be 'max', 'avg' or 'none'`);
      const k = full.kernelSize;
      const name = `${scope}/conv${index}`;
      const layer: ConvBlock = {
        spec: full,
        kernel: variableFrom(heUniform(rng, k * k * c, full.filters), [k, k, c, full.filters], `${name}/kernel`),
        bias: variableFrom(new Float32Array(full.filters), [full.filters], `${name}/bias`),
      };
      if (full.norm === 'layer') {
        layer.gamma = variableFrom(new Float32Array(full.filters).fill(1), [full.filters], `${name}/gamma`);
        layer.beta = variableFrom(new Float32Array(full.filters), [full.filters], `${name}/beta`);
      }
      h = outputSide(h, k, full.stride, full.padding);
      w = outputSide(w, k, full.stride, full.padding);
      if (full.pool !== 'none') {
        h = Math.floor(h / full.poolSize);
        w = Math.floor(w / full.poolSize);
      }
      if (h <= 0 || w <= 0) {
        for (const made of [...this.blocks, layer]) [made.kernel, made.bias, made.gamma, made.beta].forEach((v) => v?.dispose());
        throw new MtlError('BAD_CONFIG', `conv stack '${scope}': block ${index} shrinks the [${this.inputShape.join(', ')}] input to nothing; use fewer blocks, 'same' padding or no pooling`);
      }
      c = full.filters;
      this.blocks.push(layer);
      this.shapes.push([h, w, c]);
    });
    this.dense =
      spec.dense && spec.dense.length
        ? new DenseStack({ inputSize: h * w * c, units: spec.dense, activation: this.activation, outputActivation: this.activation, scope: `${scope}/dense`, rng })
        : null;
  }

  /** Each block's output [N, h, w, filters], in order (the dense layers are not applied). */
  applyBlocks(input: Tensor, _options: ApplyOptions): Tensor4D[] {
    const outputs: Tensor4D[] = [];
    let x = this.reshapeInput(input);
    for (const block of this.blocks) {
      x = tf.tidy(() => {
        const { spec } = block;
        let y = tf.add(conv2d(x, block.kernel as unknown as Tensor4D, spec.stride, spec.padding), block.bias) as Tensor4D;
        y = activate(y, this.activation) as Tensor4D;
        if (block.gamma && block.beta) y = layerNorm(y, block.gamma, block.beta);
        if (spec.pool === 'max') y = tf.maxPool(y, spec.poolSize, spec.poolSize, 'valid');
        else if (spec.pool === 'avg') y = tf.avgPool(y, spec.poolSize, spec.poolSize, 'valid');
        return y;
      });
      outputs.push(x);
    }
    return outputs;
  }

  /**
   * The last block's map flattened, through the dense layers if any: [N, features].
   *
   * @throws MtlError SHAPE_MISMATCH when an example does not have the stack's input shape.
   */
  apply(input: Tensor, options: ApplyOptions): Tensor {
    return tf.tidy(() => {
      const maps = this.applyBlocks(input, options);
      const last = maps[maps.length - 1]!;
      const flat = tf.reshape(last, [last.shape[0], -1]);
      return this.dense ? this.dense.apply(flat, options) : flat;
    });
  }

  /** Shapes of the blocks' outputs, one example each. */
  blockShapes(): [number, number, number][] {
    return this.shapes.map((s) => [...s] as [number, number, number]);
  }

  /** Every block's kernel, bias and (with layer norm) γ and β, then the dense layers' variables. */
  variables(): Variable[] {
    return [...this.blocks.flatMap((b) => [b.kernel, b.bias, ...(b.gamma ? [b.gamma, b.beta!] : [])]), ...(this.dense?.variables() ?? [])];
  }

  lastLayerVariables(): Variable[] {
    if (this.dense) return this.dense.lastLayerVariables();
    const last = this.blocks[this.blocks.length - 1]!;
    return [last.kernel, last.bias, ...(last.gamma ? [last.gamma, last.beta!] : [])];
  }

  outputShape(_inputShape: readonly number[]): number[] {
    if (this.dense) return this.dense.outputShape([]);
    const [h, w, c] = this.shapes[this.shapes.length - 1]!;
    return [h * w * c];
  }

  dispose(): void {
    for (const block of this.blocks) [block.kernel, block.bias, block.gamma, block.beta].forEach((v) => v?.dispose());
    this.blocks.length = 0;
    this.dense?.dispose();
  }

  private reshapeInput(input: Tensor): Tensor4D {
    const [h, w, c] = this.inputShape;
    if (input.size !== input.shape[0]! * h * w * c) {
      throw new MtlError('SHAPE_MISMATCH', `conv stack '${this.scope}' expects examples of shape [${h}, ${w}, ${c}], got input [${input.shape.join(', ')}]`, {
        expected: [h, w, c],
        received: input.shape,
      });
    }
    return (input.rank === 4 && input.shape[3] === c ? input : constantLike(input, tf.reshape(input, [input.shape[0]!, h, w, c]))) as Tensor4D;
  }
}
