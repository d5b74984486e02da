import { MtlError } from '@mtljs/core';
import { ChunkReader, describeInput, openBytes } from './bytes';
import type { ByteInput, Decompressor } from './bytes';
import { allocate, decodeInto } from './format';
import type { IdxDtype, IdxHeader, IdxTypedArray } from './format';
import { DEFAULT_MAX_RECORD_BYTES, readHeader, trailingBytes } from './read';

/** One record: the slice of the file at index `index` along its first dimension. */
export interface IdxRecord {
  /** Position of the record along the file's first dimension, from 0. */
  index: number;
  /** Element type of the file. */
  dtype: IdxDtype;
  /** The record's shape: the file's shape without its first dimension ([] for rank-1 files). */
  shape: number[];
  /** A fresh array the consumer may keep. */
  data: IdxTypedArray;
}

/** Options of `idxRecords`. */
export interface IdxRecordsOptions {
  /** Name used in error messages (default: the path, or `<N bytes>` / `<stream>`). */
  file?: string;
  /** Largest record accepted, in bytes (default 256 MiB); a header promising more is BAD_DATA. */
  maxRecordBytes?: number;
  /** Records to yield at most (default all). Reading stops there; the rest of the file is not checked. */
  limit?: number;
  /** @internal Which gunzip to use (see ReadIdxOptions). */
  decompressor?: Decompressor;
}

/** The async iterable returned by {@link idxRecords}. */
export interface IdxRecordStream extends AsyncIterable<IdxRecord> {
  /** The header, read on its own (opens the input once more). */
  header(): Promise<IdxHeader>;
}

/**
 * Streams the records of an IDX file (gzipped or not) one at a time: memory holds one record and
 * one read chunk (64 KiB for files), whatever the file's size. Each `[Symbol.asyncIterator]()`
 * call opens the input again, so a path (or a function returning a fresh stream) can be read
 * any number of times; a single ReadableStream or async iterable can be read once.
 *
 * Errors are BAD_DATA naming the file: a wrong magic number or type code; a record cut short
 * (the message gives the record, the byte offset and the byte counts); bytes after the last record;
 * a corrupt or truncated gzip stream (with the compressed byte offset).
 */
export function idxRecords(input: ByteInput, options: IdxRecordsOptions = {}): IdxRecordStream {
  const file = options.file ?? describeInput(input);
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes <= 0) {
    throw new MtlError('BAD_CONFIG', `idxRecords: maxRecordBytes must be a positive integer, got ${options.maxRecordBytes}`);
  }
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 0))) {
    throw new MtlError('BAD_CONFIG', `idxRecords: limit must be a non-negative integer, got ${options.limit}`);
  }
  const open = async () => {
    const opened = await openBytes(input, file, { decompressor: options.decompressor });
    return { opened, reader: new ChunkReader(opened.chunks) };
  };
  return {
    async header() {
      const { reader } = await open();
      try {
        return await readHeader(reader, file, maxRecordBytes);
      } finally {
        await reader.close();
      }
    },
    async *[Symbol.asyncIterator]() {
      const { opened, reader } = await open();
      try {
        const header = await readHeader(reader, file, maxRecordBytes);
        const count = header.shape[0]!;
        const shape = header.shape.slice(1);
        const recordBytes = header.payloadBytes / Math.max(count, 1);
        const recordLength = recordBytes / header.elementBytes;
        if (count > 0 && recordBytes === 0) {
          // Zero-sized records would make the loop below spin through up to 2^32 empty records.
          throw new MtlError('BAD_DATA', `${file}: the header declares ${count} records of shape [${shape.join(', ')}], which hold no values; a dimension at byte offsets 8..${header.headerBytes - 1} is probably corrupt`, {
            file,
            offset: 8,
            received: header.shape,
          });
        }
        const where = opened.gzipped ? 'decompressed byte offset' : 'byte offset';
        if (opened.size !== null && opened.size !== header.headerBytes + header.payloadBytes) {
          // A plain input of known size: report a short or long file before the first record,
          // as readIdx does, rather than after streaming most of it.
          const available = opened.size - header.headerBytes;
          if (available > header.payloadBytes) throw trailingBytes(file, header, available - header.payloadBytes, false);
          const index = Math.floor(available / Math.max(recordBytes, 1));
          throw new MtlError(
            'BAD_DATA',
            `${file}: short payload: the header declares ${count} records of ${recordBytes} bytes (${header.payloadBytes} bytes), but only ${available} follow the ${header.headerBytes}-byte header; record ${index} would be cut at byte offset ${opened.size}`,
            { file, offset: opened.size, expected: header.payloadBytes, received: available, record: index },
          );
        }
        const stop = Math.min(count, limit);
        for (let index = 0; index < stop; index++) {
          const start = reader.offset;
          const bytes = await reader.read(recordBytes);
          if (bytes.length < recordBytes) {
            const received = index * recordBytes + bytes.length;
            throw new MtlError(
              'BAD_DATA',
              `${file}: short payload: record ${index} of ${count} starts at ${where} ${start} and needs ${recordBytes} bytes, but the data ends at ${where} ${start + bytes.length} (payload: ${received} of ${header.payloadBytes} bytes)`,
              { file, offset: start + bytes.length, expected: header.payloadBytes, received, record: index },
            );
          }
          const data = allocate(header.dtype, recordLength);
          decodeInto(header.dtype, bytes, data, 0);
          yield { index, dtype: header.dtype, shape, data };
        }
        if (stop === count && !(await reader.atEnd())) {
          // Count at most a few MiB of the excess: the message needs a number, not a full read.
          const extra = await reader.drain(1 << 22);
          throw trailingBytes(file, header, extra, opened.gzipped, extra >= 1 << 22);
        }
      } finally {
        await reader.close();
      }
    },
  };
}
