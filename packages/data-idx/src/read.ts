import { MtlError } from '@mtljs/core';
import { ChunkReader, describeInput, openBytes } from './bytes';
import type { ByteInput, Decompressor } from './bytes';
import { MAGIC_BYTES, allocate, decodeInto, parseIdxHeader } from './format';
import type { IdxDtype, IdxHeader, IdxTypedArray } from './format';

/** A whole IDX file in memory. `data` is row-major: record i is data[i·R … (i+1)·R) with R = product(shape[1:]). */
export interface IdxArray {
  /** Element type, from the header's type code. */
  dtype: IdxDtype;
  /** Dimension sizes, outermost first; `shape[0]` is the number of records. */
  shape: number[];
  /** All product(shape) elements, in the typed array of `dtype` (decoded from the file's big-endian bytes). */
  data: IdxTypedArray;
}

/** Default cap on a whole file read into memory: 2 GiB. */
export const DEFAULT_MAX_BYTES = 2 ** 31;
/** Default cap on one record of the streaming reader: 256 MiB. */
export const DEFAULT_MAX_RECORD_BYTES = 2 ** 28;

/** Options of `readIdx` and `parseIdx`. */
export interface ReadIdxOptions {
  /** Name used in error messages (default: the path, or `<N bytes>` / `<stream>`). */
  file?: string;
  /**
   * Largest payload accepted, in bytes (default 2 GiB). A header promising more is BAD_DATA
   * before anything is allocated; read bigger files with `idxRecords`.
   */
  maxBytes?: number;
  /** @internal Which gunzip to use: zlib in Node (default there), the web DecompressionStream elsewhere. */
  decompressor?: Decompressor;
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new MtlError('BAD_CONFIG', `${name} must be a positive integer, got ${value}`);
  return value;
}

export function shortPayload(file: string, header: IdxHeader, available: number, gzipped: boolean): MtlError {
  const end = header.headerBytes + available;
  return new MtlError(
    'BAD_DATA',
    `${file}: short payload: the header declares [${header.shape.join(', ')}] ${header.dtype} = ${header.payloadBytes} bytes after the ${header.headerBytes}-byte header, but only ${available} follow (the ${gzipped ? 'decompressed ' : ''}data ends at byte offset ${end})`,
    { file, offset: end, expected: header.payloadBytes, received: available },
  );
}

export function trailingBytes(file: string, header: IdxHeader, extra: number, gzipped: boolean, atLeast = false): MtlError {
  const at = header.headerBytes + header.payloadBytes;
  return new MtlError(
    'BAD_DATA',
    `${file}: ${atLeast ? 'at least ' : ''}${extra} unexpected bytes after the payload at ${gzipped ? 'decompressed ' : ''}byte offset ${at}: the header declares [${header.shape.join(', ')}] ${header.dtype} (${header.payloadBytes} bytes); the dimensions or the file are wrong`,
    { file, offset: at, expected: header.headerBytes + header.payloadBytes, received: header.headerBytes + header.payloadBytes + extra },
  );
}

/** Reads the header from a ChunkReader; BAD_DATA when the data ends inside it. */
export async function readHeader(reader: ChunkReader, file: string, maxRecordBytes: number): Promise<IdxHeader> {
  let available = await reader.fill(MAGIC_BYTES);
  let header = parseIdxHeader(reader.peek(MAGIC_BYTES), file, { maxRecordBytes });
  if (header === null) {
    const rank = reader.peek(MAGIC_BYTES)[3]!;
    const headerBytes = 4 + 4 * rank;
    available = await reader.fill(headerBytes);
    header = parseIdxHeader(reader.peek(headerBytes), file, { maxRecordBytes });
    if (header === null) {
      throw new MtlError('BAD_DATA', `${file}: the header ends early: rank ${rank} needs ${headerBytes} header bytes, the data has ${available}`, {
        file,
        offset: available,
        expected: headerBytes,
        received: available,
      });
    }
  }
  await reader.read(header.headerBytes);
  return header;
}

/**
 * Parses an uncompressed IDX file held in memory, synchronously. Works anywhere (no Node API).
 * Gzipped bytes need {@link readIdx}.
 */
export function parseIdx(bytes: Uint8Array, options: Pick<ReadIdxOptions, 'file' | 'maxBytes'> = {}): IdxArray {
  const file = options.file ?? describeInput(bytes);
  const maxBytes = checkLimit('maxBytes', options.maxBytes, DEFAULT_MAX_BYTES);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new MtlError('BAD_CONFIG', `${file}: the bytes are gzipped; use readIdx (async), which decompresses them`, { file });
  }
  let header = parseIdxHeader(bytes, file, { maxRecordBytes: maxBytes });
  if (header === null) {
    const headerBytes = 4 + 4 * bytes[3]!;
    throw new MtlError('BAD_DATA', `${file}: the header ends early: rank ${bytes[3]} needs ${headerBytes} header bytes, the data has ${bytes.length}`, {
      file,
      offset: bytes.length,
      expected: headerBytes,
      received: bytes.length,
    });
  }
  header = checkTotal(header, file, maxBytes);
  const available = bytes.length - header.headerBytes;
  if (available < header.payloadBytes) throw shortPayload(file, header, available, false);
  if (available > header.payloadBytes) throw trailingBytes(file, header, available - header.payloadBytes, false);
  const data = allocate(header.dtype, header.payloadBytes / header.elementBytes);
  decodeInto(header.dtype, bytes.subarray(header.headerBytes), data, 0);
  return { dtype: header.dtype, shape: header.shape, data };
}

function checkTotal(header: IdxHeader, file: string, maxBytes: number): IdxHeader {
  if (header.payloadBytes > maxBytes) {
    throw new MtlError(
      'BAD_DATA',
      `${file}: the header declares [${header.shape.join(', ')}] ${header.dtype} = ${header.payloadBytes} bytes, more than the ${maxBytes}-byte limit (option maxBytes); the dimensions are probably corrupt, or stream the file with idxRecords`,
      { file, offset: 4, expected: `≤ ${maxBytes} bytes`, received: header.payloadBytes },
    );
  }
  return header;
}

/**
 * Reads a whole IDX file, gzipped (detected from its first bytes, 1f 8b) or not, into a typed
 * array. Plain inputs of known size are checked against the header before anything is
 * allocated; gzipped or streamed inputs are collected chunk by chunk and allocated once their
 * size is confirmed, so a corrupt header never triggers a large allocation.
 */
export async function readIdx(input: ByteInput, options: ReadIdxOptions = {}): Promise<IdxArray> {
  const file = options.file ?? describeInput(input);
  const maxBytes = checkLimit('maxBytes', options.maxBytes, DEFAULT_MAX_BYTES);
  const opened = await openBytes(input, file, { decompressor: options.decompressor });
  const reader = new ChunkReader(opened.chunks);
  try {
    const header = checkTotal(await readHeader(reader, file, maxBytes), file, maxBytes);
    if (opened.size !== null) {
      const available = opened.size - header.headerBytes;
      if (available < header.payloadBytes) throw shortPayload(file, header, available, false);
      if (available > header.payloadBytes) throw trailingBytes(file, header, available - header.payloadBytes, false);
    }
    const { dtype, elementBytes, payloadBytes } = header;
    // Collect the payload in its own chunks first, so the allocation below is sized by bytes that
    // exist, not by what the header claims.
    const parts: Uint8Array[] = [];
    let received = 0;
    const step = 1 << 20;
    while (received < payloadBytes) {
      const part = await reader.read(Math.min(step, payloadBytes - received));
      if (part.length === 0) break;
      parts.push(part.byteOffset === 0 && part.length === part.buffer.byteLength ? part : part.slice());
      received += part.length;
    }
    if (received < payloadBytes) throw shortPayload(file, header, received, opened.gzipped);
    if (!(await reader.atEnd())) {
      throw trailingBytes(file, header, await reader.drain(), opened.gzipped);
    }
    const data = allocate(dtype, payloadBytes / elementBytes);
    let at = 0;
    let carry: Uint8Array | null = null;
    for (const part of parts) {
      // Parts are whole elements except where a chunk boundary split one; carry the split bytes.
      let bytes = part;
      if (carry) {
        const joined = new Uint8Array(carry.length + part.length);
        joined.set(carry);
        joined.set(part, carry.length);
        bytes = joined;
        carry = null;
      }
      const whole = bytes.length - (bytes.length % elementBytes);
      decodeInto(dtype, bytes.subarray(0, whole), data, at);
      at += whole / elementBytes;
      if (whole < bytes.length) carry = bytes.slice(whole);
    }
    return { dtype, shape: header.shape, data };
  } finally {
    await reader.close();
  }
}

/** Reads only the header (dtype, shape, sizes) of an IDX file, gzipped or not. */
export async function readIdxHeader(input: ByteInput, options: ReadIdxOptions = {}): Promise<IdxHeader> {
  const file = options.file ?? describeInput(input);
  const opened = await openBytes(input, file, { decompressor: options.decompressor });
  const reader = new ChunkReader(opened.chunks);
  try {
    return await readHeader(reader, file, checkLimit('maxBytes', options.maxBytes, Number.MAX_SAFE_INTEGER));
  } finally {
    await reader.close();
  }
}
