import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';

/** Backends whose synchronous reads are a cheap copy of host memory. */
const HOST_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * Whether the active tfjs backend keeps tensors in host memory (wasm, cpu), so that a
 * synchronous read is a plain copy and a loop in JS over the values can beat a chain of kernels.
 * False on WebGL and WebGPU, where a read waits for the device.
 */
export function isHostBackend(): boolean {
  return HOST_BACKENDS.has(tf.getBackend());
}

/**
 * `x` cut along `axis` into consecutive parts of the given sizes (which add up to x's extent), as
 * tf.split does. tfjs-backend-wasm 4.22 copies a slice's whole input to JS for every tf.slice
 * (and its SplitV and Unpack are slices): 40 slices of a [10240, 256] tensor took 193 ms, 40 of a
 * [128, 400] kernel gradient 7.6 ms. On wasm and cpu, whose reads are a copy of host memory, the
 * values are read once and each part is made from its own range (the same 40 parts: 4 ms and
 * 0.4 ms). Elsewhere (WebGL, WebGPU: a read would wait on the device) each part is a tf.slice.
 * On wasm and cpu the parts are new tensors without a gradient path to `x`: use it where no
 * gradient flows (inside a backward pass, on an update), never on a taped forward pass. New
 * tensors; the caller disposes them.
 */
export function sliceParts(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  if (sizes.length === 1) return [tf.clone(x)];
  if (!HOST_BACKENDS.has(tf.getBackend())) {
    let offset = 0;
    return sizes.map((size) => {
      const begin = x.shape.map(() => 0);
      const extent = [...x.shape];
      begin[axis] = offset;
      extent[axis] = size;
      offset += size;
      return tf.slice(x, begin, extent);
    });
  }
  const values = x.dataSync();
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const length = x.shape[axis]! * inner;
  let offset = 0;
  return sizes.map((size) => {
    const shape = [...x.shape];
    shape[axis] = size;
    const width = size * inner;
    const start = offset * inner;
    offset += size;
    // A copy even where a subarray would do: the cpu backend may keep the array it is given.
    if (outer === 1) return tf.tensor(values.slice(start, start + width), shape, x.dtype);
    const part = new (values.constructor as Float32ArrayConstructor)(outer * width);
    if (width >= 64) {
      for (let row = 0; row < outer; row++) part.set(values.subarray(row * length + start, row * length + start + width) as Float32Array, row * width);
    } else {
      // Narrow parts (a head's 10 columns): an element loop, as a subarray per row costs more than
      // its copy (40 parts of a [128, 400] kernel gradient: 0.4 → 0.1 ms).
      for (let row = 0, dst = 0; row < outer; row++) {
        for (let src = row * length + start, end = src + width; src < end; ) part[dst++] = values[src++] as number;
      }
    }
    return tf.tensor(part, shape, x.dtype);
  });
}

/** {@link sliceParts} into `count` equal parts. */
export function sliceEqual(x: Tensor, count: number, axis: number): Tensor[] {
  return sliceParts(x, new Array<number>(count).fill(x.shape[axis]! / count), axis);
}

/**
 * tf.stack(parts, axis) for tensors no gradient flows through (a batch's targets). On wasm and cpu
 * the parts are joined end to end along their first axis, one contiguous copy each, and the new
 * axis is then moved into place by one transpose: tfjs-backend-wasm's Pack of 40 [256, 10] targets
 * took 0.7–1.2 ms, reading them and interleaving on the host 0.5 ms, this 0.25 ms. Elsewhere
 * tf.stack.
 */
export function stackConstant(parts: readonly Tensor[], axis: number): Tensor {
  const first = parts[0]!;
  if (parts.length === 1 || first.rank === 0 || !HOST_BACKENDS.has(tf.getBackend())) return tf.stack(parts as Tensor[], axis);
  // As a custom op so that under a gradient tape tfjs does not save a copy of every part for a
  // backward pass that never reaches them (40 Identity kernels a step at 40 tasks).
  const op = tf.customGrad(((...args: unknown[]) => {
    const inputs = args.slice(0, -1) as Tensor[];
    return { value: stackByRows(inputs, axis), gradFunc: () => inputs.map((input) => tf.zerosLike(input)) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (...xs: Tensor[]) => Tensor)(...parts);
}

/**
 * tf.stack(parts, axis) for equal parts of rank ≥ 1 as one concat along their first axis (the
 * parts end to end, one contiguous copy each) and, unless `axis` is 0, one transpose that moves the
 * new axis into place. Any backend; tfjs's own gradients. Call in a tidy scope.
 */
function stackByRows(parts: readonly Tensor[], axis: number): Tensor {
  const first = parts[0]!;
  const joined = tf.reshape(tf.concat(parts as Tensor[], 0), [parts.length, ...first.shape]);
  if (axis === 0) return joined;
  // Axes 1..axis move one place forward and the parts' axis (0) goes to `axis`.
  return tf.transpose(joined, Array.from({ length: first.rank + 1 }, (_, i) => (i < axis ? i + 1 : i === axis ? 0 : i)));
}

/**
 * k equal [r, c] matrices side by side, [r, k·c] (stacked heads' kernels): stacked on axis 1 by
 * {@link stackByRows}, [r, k, c]. tfjs-backend-wasm concatenates along axis 1 row by row (40
 * kernels of [128, 10]: 1.1 ms); this is one contiguous copy per part and a transpose (0.6 ms).
 * Any backend; tfjs's own gradients.
 */
export function joinColumns(parts: readonly Tensor2D[]): Tensor2D {
  const [rows, columns] = parts[0]!.shape;
  if (parts.length === 1) return tf.clone(parts[0]!);
  return tf.tidy(() => tf.reshape(stackByRows(parts, 1), [rows, parts.length * columns]));
}

/**
 * Σ over the rows of an [r, c] matrix, [c] (a dense layer's bias gradient Σ_rows dy), as the
 * matMul 1ᵀ·x. tfjs-backend-wasm reduces along the first axis by transposing first (tf.sum(x, 0)
 * of a [256, 400] gradient: 0.26 ms). Its matMul packs the right operand once per tensor and
 * reuses the packing for later products with it, so called after another product with x on the
 * right (the kernel gradient xᵀ·dy) this adds about nothing; before any, it pays the packing
 * (0.29 ms for a fresh [256, 256]). Any backend.
 */
export function columnSums(x: Tensor2D): Tensor {
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]));
}

/**
 * The one-hot [N, depth] float32 of class indices ([N] or [N, 1]) for targets no gradient flows
 * through, made on the host on wasm and cpu, where a read is a copy of host memory: one tensor
 * rather than tfjs's cast, oneHot and cast per task (160 kernels a step at 40 tasks). Rows whose
 * `mask` entry is ≤ 0 are class 0, as the device path's zeroed index gives; an index outside
 * [0, depth) gives a zero row, as tf.oneHot does. Null elsewhere (WebGL, WebGPU: the read would
 * wait on the device) and when an unmasked index is not a finite integer: the caller then takes
 * tfjs's path, which truncates.
 */
export function oneHotConstant(indices: Tensor, depth: number, mask: Tensor | null): Tensor | null {
  if (!HOST_BACKENDS.has(tf.getBackend())) return null;
  const rows = indices.shape[0]!;
  const values = indices.dataSync();
  const keep = mask?.dataSync() ?? null;
  const out = new Float32Array(rows * depth);
  for (let row = 0; row < rows; row++) {
    const index = keep && !(keep[row]! > 0) ? 0 : Number(values[row]);
    if (!Number.isInteger(index)) return null;
    if (index >= 0 && index < depth) out[row * depth + index] = 1;
  }
  return tf.tensor2d(out, [rows, depth]);
}
