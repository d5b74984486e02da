import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { MtlError } from '../errors';
import type { ActivationName } from '../contracts';

/**
 * Applies an activation: relu, tanh, sigmoid, elu, leaky-relu (slope 0.01 below zero) or linear
 * (returns `x` itself).
 *
 * @throws MtlError BAD_CONFIG for an unknown name.
 */
export function activate(x: Tensor, name: ActivationName): Tensor {
  switch (name) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'elu':
      return tf.elu(x);
    case 'leaky-relu':
      return tf.leakyRelu(x, 0.01);
    case 'linear':
      return x;
    default:
      throw new MtlError('BAD_CONFIG', `unknown activation '${String(name)}'; use relu, tanh, sigmoid, elu, leaky-relu or linear`, {
        received: name,
        available: ['relu', 'tanh', 'sigmoid', 'elu', 'leaky-relu', 'linear'],
      });
  }
}
