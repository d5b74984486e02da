import * as tf from '@tensorflow/tfjs-core';
import type { Variable } from '@tensorflow/tfjs-core';
import { assertBackend } from '../backend';
import { Rng } from '../rng';

let nextModelId = 0;

/**
 * tfjs keeps variables in one global table keyed by name, so two models may not reuse a name.
 * Each built model takes a fresh prefix.
 */
export function uniqueScope(base: string): string {
  nextModelId += 1;
  return `mtl${nextModelId}/${base}`;
}

/** Glorot (Xavier) uniform: U(−a, a), a = √(6 / (fanIn + fanOut)), drawn from the seeded RNG. */
export function glorotUniform(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-limit, limit);
  return values;
}

/** He (Kaiming) uniform for ReLU layers: U(−a, a), a = √(6 / fanIn). */
export function heUniform(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / fanIn);
  const values = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-limit, limit);
  return values;
}

/**
 * A trainable float32 variable named `name` holding `values` in `shape`.
 *
 * @throws MtlError BACKEND_UNAVAILABLE when no tfjs backend is registered.
 */
export function variableFrom(values: Float32Array | number[], shape: number[], name: string): Variable {
  assertBackend(`creating variable '${name}'`);
  return tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, name));
}
