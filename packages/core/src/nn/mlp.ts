import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import type { ActivationName, ApplyOptions, LayerModule } from '../contracts';
import { MtlError } from '../errors';
import { Rng } from '../rng';
import { activate } from './activations';
import { dense } from './dense';
import { glorotUniform, heUniform, variableFrom } from './init';

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
      let x = (input.rank === 2 ? input : tf.reshape(input, [input.shape[0]!, -1])) as Tensor2D;
      if (x.shape[1] !== this.options.inputSize) {
        throw new MtlError(
          'SHAPE_MISMATCH',
          `dense stack '${this.options.scope}' expects ${this.options.inputSize} input features, got ${x.shape[1]} (input shape [${input.shape.join(', ')}])`,
          { expected: this.options.inputSize, received: input.shape },
        );
      }
      this.layers.forEach((layer, index) => {
        const last = index === this.layers.length - 1;
        x = activate(dense(x, layer.kernel as unknown as Tensor2D, layer.bias), last ? this.options.outputActivation : this.options.activation) as Tensor2D;
      });
      return x;
    });
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

  dispose(): void {
    for (const layer of this.layers) {
      layer.kernel.dispose();
      layer.bias.dispose();
    }
    this.layers.length = 0;
  }
}
