import type { Transform } from 'node:stream';
import { isMtlError, MtlError } from '../errors';

// Node-only byte plumbing: reading a file and gunzipping. The modules are imported on use, so
// importing @mtljs/core in a browser bundle does not pull in fs or zlib. Used by the CSV and JSONL
// adapters.

/** Resolves when the writable side can take more, or is finished either way. */
function drained(stream: Transform): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** Records queued before the transform is paused, so a slow consumer bounds memory. */
const QUEUE_LIMIT = 1024;

/**
 * Feeds `chunks` into a Node Transform with backpressure and yields what it outputs. Only the
 * classic stream API is used (write/end, 'data'/'end'/'error', pause/resume), which browser
 * stream polyfills implement too. Outputs produced before an error are yielded first; an error of
 * the input destroys the transform with that error, so it surfaces here unchanged. Stopping early
 * destroys the transform; the input is closed as soon as its pending read returns.
 */
export async function* pipeThrough<T>(chunks: AsyncIterable<Uint8Array | string>, transform: Transform): AsyncGenerator<T> {
  let queue: T[] = [];
  let head = 0;
  let ended = false;
  let failed = false;
  let failure: unknown;
  let wake: (() => void) | null = null;
  const signal = () => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  transform.on('data', (item: T) => {
    queue.push(item);
    if (queue.length - head >= QUEUE_LIMIT) transform.pause();
    signal();
  });
  transform.on('end', () => {
    ended = true;
    signal();
  });
  transform.on('close', () => {
    ended = true;
    signal();
  });
  transform.on('error', (error: unknown) => {
    if (!failed) {
      failed = true;
      failure = error;
    }
    signal();
  });
  const pump = (async () => {
    try {
      for await (const chunk of chunks) {
        if (transform.destroyed) return;
        if (!transform.write(chunk)) await drained(transform);
      }
      if (!transform.destroyed) transform.end();
    } catch (error) {
      transform.destroy(error as Error);
    }
  })();
  try {
    for (;;) {
      if (head < queue.length) {
        yield queue[head++]!;
        continue;
      }
      queue = [];
      head = 0;
      if (failed) throw failure;
      if (ended) return;
      if (transform.isPaused()) transform.resume();
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    // Not awaited: a stalled input would hold up the consumer's `break`. The pump sees the
    // transform destroyed when its pending read returns, and then closes the input.
    transform.destroy();
    void pump;
  }
}

/**
 * Node built-ins by a variable specifier: bundlers for the browser leave such an import alone
 * (tsup would otherwise turn 'node:fs' into a bare 'fs' that esbuild cannot bundle for a page).
 */
function nodeBuiltin<T>(name: 'fs' | 'zlib'): Promise<T> {
  const specifier = `node:${name}`;
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier) as Promise<T>;
}

const CONFIG_CODES = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM', 'ENAMETOOLONG']);

/** The bytes of a file, in chunks; a file that cannot be opened is BAD_CONFIG, a read failure BAD_DATA. */
export async function* fileChunks(path: string, name: string): AsyncGenerator<Uint8Array> {
  const { createReadStream } = await nodeBuiltin<typeof import('node:fs')>('fs');
  const stream = createReadStream(path, { highWaterMark: 1 << 18 });
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    throw new MtlError(CONFIG_CODES.has(code) ? 'BAD_CONFIG' : 'BAD_DATA', `${name}: cannot read the file (${(error as Error).message})`, { file: name }, { cause: error });
  } finally {
    stream.destroy();
  }
}

/**
 * Gunzips a byte stream. A truncated or corrupt gzip stream is BAD_DATA naming the compressed
 * byte offset where decompression stopped (for a truncated file: its length).
 */
export async function* gunzipChunks(chunks: AsyncIterable<Uint8Array | string>, name: string): AsyncGenerator<Uint8Array> {
  const { createGunzip } = await nodeBuiltin<typeof import('node:zlib')>('zlib');
  const gunzip = createGunzip();
  try {
    yield* pipeThrough<Uint8Array>(chunks, gunzip);
  } catch (error) {
    if (isMtlError(error)) throw error;
    const offset = gunzip.bytesWritten;
    const code = (error as { code?: string }).code;
    const problem = code === 'Z_BUF_ERROR' ? 'the gzip data ends early (truncated file?)' : 'the gzip data is corrupt';
    throw new MtlError('BAD_DATA', `${name}: ${problem} at byte offset ${offset} (zlib: ${(error as Error).message})`, { file: name, offset }, { cause: error });
  }
}
