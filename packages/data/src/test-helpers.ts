// Shared by this package's tests only (not exported from the index).
import * as tf from '@tensorflow/tfjs-core';
import { disposeBatch, fromArrays, isMtlError } from '@mtljs/core';
import type { Batch, DataSource, MtlError, MtlErrorCode } from '@mtljs/core';

/**
 * An in-memory source whose example with id k has inputs [k, k + 0.5, -k] and target `k % 10`
 * for `task`, so any example can be traced back from its inputs.
 */
export function idSource(ids: readonly number[], task: string | readonly string[], batchSize: number): DataSource {
  const tasks = typeof task === 'string' ? [task] : task;
  return fromArrays(
    {
      inputs: ids.map((k) => [k, k + 0.5, -k]),
      targets: Object.fromEntries(tasks.map((t, i) => [t, ids.map((k) => (k + i) % 10)])),
    },
    { batchSize },
  );
}

export function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/** A source without `size` or `shuffled`, as a stream of unknown length would be. */
export function streamOf(source: DataSource): DataSource {
  return { [Symbol.asyncIterator]: () => source[Symbol.asyncIterator]() };
}

export interface Example {
  id: number;
  targets: Record<string, number>;
  masks: Record<string, number>;
}

/** Reads (and disposes) every batch: one entry per example, in order; ids come from the first input column. */
export async function examplesOf(source: DataSource, batchSizes?: number[]): Promise<Example[]> {
  const out: Example[] = [];
  for await (const batch of source) {
    out.push(...examplesOfBatch(batch));
    batchSizes?.push((batch.inputs as tf.Tensor).shape[0]!);
    disposeBatch(batch);
  }
  return out;
}

export function examplesOfBatch(batch: Batch): Example[] {
  const inputs = batch.inputs as tf.Tensor;
  const n = inputs.shape[0]!;
  const x = inputs.dataSync();
  const width = inputs.size / n;
  const targets = Object.entries(batch.targets).map(([task, t]) => [task, t ? t.dataSync() : null] as const);
  const masks = Object.fromEntries(Object.entries(batch.masks ?? {}).map(([task, m]) => [task, m!.dataSync()]));
  return Array.from({ length: n }, (_, i) => ({
    id: x[i * width]!,
    targets: Object.fromEntries(targets.map(([task, values]) => [task, values ? values[i]! : Number.NaN])),
    masks: Object.fromEntries(targets.map(([task]) => [task, masks[task] ? masks[task]![i]! : 1])),
  }));
}

export async function mtlErrorOf(run: () => unknown, code: MtlErrorCode = 'BAD_DATA'): Promise<MtlError> {
  try {
    await run();
  } catch (error) {
    if (isMtlError(error, code)) return error;
    throw new Error(`expected an MtlError ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, { cause: error });
  }
  throw new Error(`expected an MtlError ${code}, but the call succeeded`);
}

/** Iterates a source and disposes its batches. */
export async function drain(source: DataSource): Promise<number> {
  let batches = 0;
  for await (const batch of source) {
    disposeBatch(batch);
    batches += 1;
  }
  return batches;
}
