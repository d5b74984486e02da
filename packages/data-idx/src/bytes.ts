import { MtlError, isMtlError } from '@mtljs/core';

/**
 * Where IDX bytes come from: a file path (Node only), the bytes themselves, an async iterable of
 * chunks (a Node stream, a fetch body in browsers that iterate streams), a web ReadableStream, or
 * a function returning any of these (so a one-shot stream can be opened again for each pass).
 */
export type ByteInput =
  | string
  | Uint8Array
  | ArrayBuffer
  | AsyncIterable<Uint8Array>
  | ReadableStream<Uint8Array>
  | (() => ByteSource | Promise<ByteSource>);

/** A ByteInput other than a function. */
export type ByteSource = Exclude<ByteInput, (...args: never[]) => unknown>;

/** How the bytes reached the parser, so messages can say which offsets are meant. */
export interface OpenedBytes {
  /** Decompressed chunks. */
  chunks: AsyncIterable<Uint8Array>;
  /** True when the input started with the gzip magic number 1f 8b. */
  gzipped: boolean;
  /** Total (decompressed) size when known without reading it all: plain bytes or a plain file. */
  size: number | null;
}

export type Decompressor = 'zlib' | 'web';

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
/** Chunk size of file reads: large enough for throughput, small enough to keep memory flat. */
const READ_CHUNK = 1 << 16;

export function describeInput(input: unknown, file?: string): string {
  if (file) return file;
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return `<${input.byteLength} bytes>`;
  return '<stream>';
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Wraps a failure of the byte source (an fs error, a stream error) as BAD_DATA naming the file. */
function sourceError(file: string, error: unknown, offset: number): MtlError {
  if (isMtlError(error)) return error;
  const code = (error as { code?: unknown })?.code;
  return new MtlError('BAD_DATA', `${file}: cannot read${offset > 0 ? ` past byte offset ${offset}` : ''}: ${errorText(error)}`, {
    file,
    offset,
    ...(typeof code === 'string' ? { cause: code } : {}),
  }, { cause: error });
}

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof (value as ReadableStream | null)?.getReader === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof (value as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === 'function';
}

async function* readStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  // getReader rather than async iteration: Safari's ReadableStream is not async-iterable.
  const reader = stream.getReader();
  let finished = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function asBytes(chunk: unknown, file: string, offset: number): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new MtlError('BAD_DATA', `${file}: the byte stream gave a ${typeof chunk === 'string' ? 'string' : typeof chunk} chunk at byte offset ${offset}; IDX is binary, give Uint8Array chunks`, {
    file,
    offset,
  });
}

/** Counts bytes as they pass and turns source failures into MtlErrors. */
async function* counted(source: AsyncIterable<unknown>, file: string, counter: { bytes: number }): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    while (true) {
      let step: IteratorResult<unknown>;
      try {
        step = await iterator.next();
      } catch (error) {
        finished = true;
        throw sourceError(file, error, counter.bytes);
      }
      if (step.done) {
        finished = true;
        return;
      }
      const bytes = asBytes(step.value, file, counter.bytes);
      if (bytes.length === 0) continue;
      counter.bytes += bytes.length;
      yield bytes;
    }
  } finally {
    if (!finished) await iterator.return?.();
  }
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const fs = await import('node:fs');
  const stream = fs.createReadStream(path, { highWaterMark: READ_CHUNK });
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } finally {
    stream.destroy();
  }
}

async function resolveInput(input: ByteInput, file: string): Promise<{ raw: AsyncIterable<unknown>; size: number | null }> {
  let source: ByteSource;
  try {
    source = typeof input === 'function' ? await input() : input;
  } catch (error) {
    throw sourceError(file, error, 0);
  }
  if (typeof source === 'string') {
    if (!isNode()) {
      throw new MtlError('BAD_CONFIG', `${file}: a file path works in Node only; in a browser give the bytes, a ReadableStream (fetch body, File.stream()) or an async iterable of Uint8Array`, { file });
    }
    const fs = await import('node:fs');
    let size: number;
    try {
      const stat = await fs.promises.stat(source);
      if (!stat.isFile()) throw new Error('not a regular file');
      size = stat.size;
    } catch (error) {
      throw sourceError(file, error, 0);
    }
    return { raw: fileChunks(source), size };
  }
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
    return { raw: (async function* () { yield bytes; })(), size: bytes.length };
  }
  if (isReadableStream(source)) return { raw: readStream(source), size: null };
  if (isAsyncIterable(source)) return { raw: source, size: null };
  throw new MtlError('BAD_CONFIG', `${file}: expected a file path, bytes (Uint8Array/ArrayBuffer), a ReadableStream or an async iterable of Uint8Array, got ${source === null ? 'null' : typeof source}`, {
    file,
  });
}

/** Yields `first` then the rest of `iterator`, closing it when the consumer stops early. */
async function* prepend(first: Uint8Array[], iterator: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    yield* first;
    while (true) {
      const step = await iterator.next();
      if (step.done) {
        finished = true;
        return;
      }
      yield step.value;
    }
  } finally {
    if (!finished) await iterator.return?.();
  }
}

function gunzipError(file: string, error: unknown, compressedOffset: number, end: boolean): MtlError {
  if (isMtlError(error)) return error;
  const message = errorText(error);
  const truncated = /unexpected end|truncat|premature/i.test(message);
  const what = truncated ? 'the gzip data is truncated' : 'the gzip data is corrupt';
  return new MtlError(
    'BAD_DATA',
    `${file}: ${what} (${message}) at compressed byte offset ${compressedOffset}${end && truncated ? ', the end of the file' : ''}`,
    { file, offset: compressedOffset, compressed: true },
    { cause: error },
  );
}

/** gunzip with Node's zlib: exact messages ("unexpected end of file") and no copies into web streams. */
async function* gunzipWithZlib(raw: AsyncIterable<Uint8Array>, file: string, counter: { bytes: number; ended: boolean }): AsyncGenerator<Uint8Array> {
  const zlib = await import('node:zlib');
  const { Readable, pipeline } = await import('node:stream');
  const gunzip = zlib.createGunzip();
  // pipeline destroys both ends when the consumer stops early, which closes the file; its
  // callback only swallows the error that the iteration below already reports.
  pipeline(Readable.from(raw, { objectMode: false }), gunzip, () => undefined);
  try {
    for await (const chunk of gunzip) yield chunk as Uint8Array;
  } catch (error) {
    throw gunzipError(file, error, counter.bytes, counter.ended);
  } finally {
    gunzip.destroy();
  }
}

/** gunzip with the web DecompressionStream (browsers; Node ≥ 18 has it too). */
async function* gunzipWithWeb(raw: AsyncIterable<Uint8Array>, file: string, counter: { bytes: number; ended: boolean }): AsyncGenerator<Uint8Array> {
  const Decompression = (globalThis as { DecompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  if (!Decompression) {
    throw new MtlError('BAD_CONFIG', `${file}: the data is gzipped, and this runtime has neither node:zlib nor DecompressionStream; decompress it first`, { file });
  }
  const iterator = raw[Symbol.asyncIterator]();
  const input = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const step = await iterator.next();
        if (step.done) controller.close();
        else controller.enqueue(step.value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  try {
    for await (const chunk of readStream(input.pipeThrough(new Decompression('gzip')))) yield chunk;
  } catch (error) {
    throw gunzipError(file, error, counter.bytes, counter.ended);
  }
}

async function* markEnd(raw: AsyncIterable<Uint8Array>, counter: { ended: boolean }): AsyncGenerator<Uint8Array> {
  yield* raw;
  counter.ended = true;
}

/**
 * Opens a ByteInput: reads its first bytes to detect gzip (1f 8b), and returns the decompressed
 * chunks. Nothing is read beyond what the consumer pulls, so memory stays bounded.
 */
export async function openBytes(input: ByteInput, file: string, options: { decompressor?: Decompressor } = {}): Promise<OpenedBytes> {
  const { raw, size } = await resolveInput(input, file);
  const counter = { bytes: 0, ended: false };
  const iterator = counted(raw, file, counter)[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  while (headBytes < 2) {
    const step = await iterator.next();
    if (step.done) break;
    head.push(step.value);
    headBytes += step.value.length;
  }
  const first = head[0];
  const second = first && first.length > 1 ? first[1] : head[1]?.[0];
  const gzipped = first?.[0] === GZIP_MAGIC_0 && second === GZIP_MAGIC_1;
  const chunks = prepend(head, iterator);
  if (!gzipped) return { chunks, gzipped, size };
  const decompressor = options.decompressor ?? (isNode() ? 'zlib' : 'web');
  const tracked = markEnd(chunks, counter);
  return {
    chunks: decompressor === 'zlib' ? gunzipWithZlib(tracked, file, counter) : gunzipWithWeb(tracked, file, counter),
    gzipped,
    size: null,
  };
}

/**
 * Reads exact byte counts from a chunk stream, keeping only the chunks not yet consumed, and
 * tracks the (decompressed) offset for error messages.
 */
export class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private exhausted = false;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  /** Pulls chunks until `bytes` are buffered or the stream ends; returns the bytes buffered. */
  async fill(bytes: number): Promise<number> {
    while (this.pendingBytes < bytes && !this.exhausted) {
      const step = await this.iterator.next();
      if (step.done) {
        this.exhausted = true;
        break;
      }
      if (step.value.length === 0) continue;
      this.pending.push(step.value);
      this.pendingBytes += step.value.length;
    }
    return this.pendingBytes;
  }

  /** Up to `bytes` buffered bytes without consuming them (call fill first). */
  peek(bytes: number): Uint8Array {
    return this.copyOut(Math.min(bytes, this.pendingBytes), false);
  }

  /** Reads exactly `bytes`, or fewer when the stream ends first. */
  async read(bytes: number): Promise<Uint8Array> {
    await this.fill(bytes);
    const out = this.copyOut(Math.min(bytes, this.pendingBytes), true);
    this.offset += out.length;
    return out;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return (await this.fill(1)) === 0;
  }

  /** Counts what is left, reading to the end without keeping it (for error messages). */
  async drain(limit = Number.POSITIVE_INFINITY): Promise<number> {
    let total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    while (!this.exhausted && total < limit) {
      const step = await this.iterator.next();
      if (step.done) this.exhausted = true;
      else total += step.value.length;
    }
    return total;
  }

  async close(): Promise<void> {
    if (!this.exhausted) {
      this.exhausted = true;
      await this.iterator.return?.();
    }
  }

  private copyOut(bytes: number, consume: boolean): Uint8Array {
    if (bytes === 0) return new Uint8Array(0);
    const firstChunk = this.pending[0]!;
    if (firstChunk.length >= bytes) {
      const out = firstChunk.subarray(0, bytes);
      if (consume) {
        if (firstChunk.length === bytes) this.pending.shift();
        else this.pending[0] = firstChunk.subarray(bytes);
        this.pendingBytes -= bytes;
      }
      return out;
    }
    const out = new Uint8Array(bytes);
    let filled = 0;
    let index = 0;
    while (filled < bytes) {
      const chunk = this.pending[index]!;
      const take = Math.min(chunk.length, bytes - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (consume) {
        if (take === chunk.length) {
          this.pending.shift();
        } else {
          this.pending[0] = chunk.subarray(take);
        }
      } else {
        index += 1;
      }
    }
    if (consume) this.pendingBytes -= bytes;
    return out;
  }
}
