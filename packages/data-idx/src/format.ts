import { MtlError } from '@mtljs/core';

/** Element types of the IDX format, by the name of the typed array that holds them. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array that holds an IDX payload, one per `IdxDtype` (e.g. Uint8Array for 'uint8'). */
export type IdxTypedArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** What the header of an IDX file says. */
export interface IdxHeader {
  /** Element type, from the type code. */
  dtype: IdxDtype;
  /** The type code byte (0x08 … 0x0E). */
  typeCode: number;
  /** Dimension sizes, outermost first; `shape[0]` is the number of records. */
  shape: number[];
  /** Bytes of one element. */
  elementBytes: number;
  /** Bytes of the header: 4 + 4 × rank. */
  headerBytes: number;
  /** Bytes the payload must have: product(shape) × elementBytes. */
  payloadBytes: number;
}

interface TypeInfo {
  dtype: IdxDtype;
  bytes: number;
  label: string;
}

const TYPES: ReadonlyMap<number, TypeInfo> = new Map([
  [0x08, { dtype: 'uint8', bytes: 1, label: 'unsigned byte' }],
  [0x09, { dtype: 'int8', bytes: 1, label: 'signed byte' }],
  [0x0b, { dtype: 'int16', bytes: 2, label: 'short' }],
  [0x0c, { dtype: 'int32', bytes: 4, label: 'int' }],
  [0x0d, { dtype: 'float32', bytes: 4, label: 'float' }],
  [0x0e, { dtype: 'float64', bytes: 8, label: 'double' }],
]);

/** Type codes by dtype, for writers. */
export const IDX_TYPE_CODES: Readonly<Record<IdxDtype, number>> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

export function hex(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function knownCodes(): string {
  return [...TYPES].map(([code, info]) => `0x${code.toString(16).padStart(2, '0')} ${info.label}`).join(', ');
}

/** Bytes needed before the header's length is known: the magic number. */
export const MAGIC_BYTES = 4;

/**
 * Reads the header from the first bytes of a (decompressed) IDX stream. `bytes` must hold at least
 * the magic number; returns `null` when the dimensions are not all there yet, so a streaming caller
 * can read more. `maxRecordBytes` guards against absurd dimensions before anything is allocated.
 */
export function parseIdxHeader(bytes: Uint8Array, file: string, limits: { maxRecordBytes: number }): IdxHeader | null {
  if (bytes.length < MAGIC_BYTES) {
    throw new MtlError('BAD_DATA', `${file}: not an IDX file: it has ${bytes.length} bytes, fewer than the 4-byte magic number (found ${hex(bytes) || 'nothing'})`, {
      file,
      offset: bytes.length,
    });
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new MtlError(
      'BAD_DATA',
      `${file}: not an IDX file: the magic number must start with bytes 00 00, found ${hex(bytes.subarray(0, 4))} at byte offset 0`,
      { file, offset: 0, expected: '00 00 <type> <rank>', received: hex(bytes.subarray(0, 4)) },
    );
  }
  const typeCode = bytes[2]!;
  const type = TYPES.get(typeCode);
  if (!type) {
    throw new MtlError(
      'BAD_DATA',
      `${file}: unknown IDX type code 0x${typeCode.toString(16).padStart(2, '0')} at byte offset 2 (known: ${knownCodes()})`,
      { file, offset: 2, received: typeCode },
    );
  }
  const rank = bytes[3]!;
  if (rank === 0) {
    throw new MtlError('BAD_DATA', `${file}: IDX rank 0 at byte offset 3: a data file needs at least one dimension (the record count)`, { file, offset: 3 });
  }
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) shape.push(view.getUint32(4 + 4 * d, false));
  // One record's size is checked against the limit before the total, so that a [huge, huge]
  // header cannot overflow the multiplication: each partial product stays ≤ maxRecordBytes,
  // and the total is at most 2^32 × maxRecordBytes, well inside a double's exact integers.
  let recordBytes = type.bytes;
  for (let d = 1; d < rank; d++) {
    recordBytes *= shape[d]!;
    if (recordBytes > limits.maxRecordBytes) {
      throw new MtlError(
        'BAD_DATA',
        `${file}: the header declares records of shape [${shape.slice(1).join(', ')}] (${type.dtype}), more than the limit of ${limits.maxRecordBytes} bytes a record (option maxRecordBytes); the dimensions at byte offsets 8..${headerBytes - 1} are probably corrupt`,
        { file, offset: 4, received: shape },
      );
    }
  }
  const payloadBytes = recordBytes * shape[0]!;
  if (!Number.isSafeInteger(payloadBytes)) {
    throw new MtlError('BAD_DATA', `${file}: the header's dimensions [${shape.join(', ')}] overflow`, { file, offset: 4, received: shape });
  }
  return { dtype: type.dtype, typeCode, shape, elementBytes: type.bytes, headerBytes, payloadBytes };
}

export function allocate(dtype: IdxDtype, length: number): IdxTypedArray {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(length);
    case 'int8':
      return new Int8Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
  }
}

/**
 * Copies big-endian elements from `bytes` into `target` starting at element `at`. `bytes` must
 * hold whole elements.
 */
export function decodeInto(dtype: IdxDtype, bytes: Uint8Array, target: IdxTypedArray, at: number): void {
  switch (dtype) {
    case 'uint8':
      target.set(bytes, at);
      return;
    case 'int8':
      target.set(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length), at);
      return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = target as Int16Array | Int32Array | Float32Array | Float64Array;
  switch (dtype) {
    case 'int16':
      for (let i = 0, n = bytes.length >> 1; i < n; i++) out[at + i] = view.getInt16(i << 1, false);
      return;
    case 'int32':
      for (let i = 0, n = bytes.length >> 2; i < n; i++) out[at + i] = view.getInt32(i << 2, false);
      return;
    case 'float32':
      for (let i = 0, n = bytes.length >> 2; i < n; i++) out[at + i] = view.getFloat32(i << 2, false);
      return;
    case 'float64':
      for (let i = 0, n = bytes.length >> 3; i < n; i++) out[at + i] = view.getFloat64(i << 3, false);
      return;
  }
}

/**
 * Encodes an array as an (uncompressed) IDX file: useful for fixtures, tests and derived label
 * files (e.g. a parity task computed from MNIST digits).
 */
export function encodeIdx(array: { dtype: IdxDtype; shape: readonly number[]; data: ArrayLike<number> }): Uint8Array {
  const code = IDX_TYPE_CODES[array.dtype];
  if (code === undefined) throw new MtlError('BAD_CONFIG', `encodeIdx: unknown dtype '${String(array.dtype)}'; use ${Object.keys(IDX_TYPE_CODES).join(', ')}`);
  const shape = array.shape;
  if (shape.length === 0 || shape.length > 255 || shape.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) {
    throw new MtlError('BAD_CONFIG', `encodeIdx: shape [${shape.join(', ')}] must have 1 to 255 dimensions, each an integer in [0, 2^32)`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== array.data.length) {
    throw new MtlError('BAD_CONFIG', `encodeIdx: shape [${shape.join(', ')}] needs ${count} values, got ${array.data.length}`);
  }
  const type = TYPES.get(code)!;
  const headerBytes = 4 + 4 * shape.length;
  const out = new Uint8Array(headerBytes + count * type.bytes);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const at = headerBytes + i * type.bytes;
    const v = array.data[i]!;
    switch (array.dtype) {
      case 'uint8':
        view.setUint8(at, v);
        break;
      case 'int8':
        view.setInt8(at, v);
        break;
      case 'int16':
        view.setInt16(at, v, false);
        break;
      case 'int32':
        view.setInt32(at, v, false);
        break;
      case 'float32':
        view.setFloat32(at, v, false);
        break;
      case 'float64':
        view.setFloat64(at, v, false);
        break;
    }
  }
  return out;
}
