import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx } from './format';
import { readIdx } from './read';
import { idxRecords } from './records';
import { MNIST, chunked, collect, mtlErrorOf, tempDir } from './test-helpers';

const temp = tempDir();
afterAll(() => temp.remove());

describe('idxRecords', () => {
  it('streams the same records readIdx holds, gzipped or not, and reads again on each iteration', async () => {
    const whole = await readIdx(MNIST.testImages);
    const gzPath = join(temp.dir, 't10k-images.gz');
    await pipeline(createReadStream(MNIST.testImages), createGzip(), (await import('node:fs')).createWriteStream(gzPath));
    for (const path of [MNIST.testImages, gzPath]) {
      const stream = idxRecords(path);
      expect(await stream.header()).toMatchObject({ shape: [10000, 28, 28], dtype: 'uint8' });
      let count = 0;
      let mismatches = 0;
      for await (const record of stream) {
        expect(record.index).toBe(count);
        if (count === 0) expect(record.shape).toEqual([28, 28]);
        const expected = whole.data.subarray(count * 784, (count + 1) * 784);
        for (let j = 0; j < 784; j += 97) if (record.data[j] !== expected[j]) mismatches += 1;
        count += 1;
      }
      expect(count).toBe(10000);
      expect(mismatches).toBe(0);
      // A second pass opens the file again.
      const firstThree = [];
      for await (const record of stream) {
        firstThree.push(record.index);
        if (firstThree.length === 3) break;
      }
      expect(firstThree).toEqual([0, 1, 2]);
    }
  });

  it('decodes multi-byte types across chunk boundaries', async () => {
    const values = Array.from({ length: 3 * 5 }, (_, i) => (i - 7) * 1000.25);
    const bytes = encodeIdx({ dtype: 'float64', shape: [3, 5], data: values });
    const records = await collect(idxRecords(() => chunked(bytes, 3)));
    expect(records.map((r) => Array.from(r.data))).toEqual([values.slice(0, 5), values.slice(5, 10), values.slice(10)]);
    expect(records[0]!.shape).toEqual([5]);
  });

  it('stops at `limit` and gives scalar records for rank-1 files', async () => {
    const records = await collect(idxRecords(MNIST.testLabels, { limit: 4 }));
    expect(records.map((r) => [r.shape, r.data[0]])).toEqual([
      [[], 7],
      [[], 2],
      [[], 1],
      [[], 0],
    ]);
  });

  it('keeps memory bounded: 64 MB of (gzipped) records stream with a few MB of buffers', async () => {
    const rows = 65536;
    const width = 1024;
    // A compressible payload written without holding it: the header, then zeros with a pattern.
    const path = join(temp.dir, 'big.idx.gz');
    const headerBytes = new Uint8Array([0, 0, 8, 2, 0, 1, 0, 0, 0, 0, 4, 0]);
    async function* body() {
      yield headerBytes;
      const row = new Uint8Array(width * 256);
      for (let i = 64; i < row.length; i += width) row[i] = 1;
      for (let r = 0; r < rows; r += 256) yield row;
    }
    const { Readable } = await import('node:stream');
    await pipeline(Readable.from(body()), createGzip(), (await import('node:fs')).createWriteStream(path));
    global.gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    let count = 0;
    const started = performance.now();
    for await (const record of idxRecords(path)) {
      if (record.data[64] !== 1) throw new Error('bad value');
      count += 1;
      if (count % 4096 === 0) {
        const now = process.memoryUsage();
        peak = Math.max(peak, now.arrayBuffers - before.arrayBuffers, now.rss - before.rss);
      }
    }
    const ms = performance.now() - started;
    expect(count).toBe(rows);
    console.log(`idxRecords: 64 MiB gzipped file, ${rows} records in ${ms.toFixed(0)} ms; peak growth of rss/arrayBuffers ${(peak / 2 ** 20).toFixed(1)} MiB`);
    expect(peak).toBeLessThan(48 * 2 ** 20);
  });

  it('reports a record cut short with its index, byte offset and the byte counts', async () => {
    const bytes = encodeIdx({ dtype: 'int32', shape: [4, 3], data: Array.from({ length: 12 }, (_, i) => i) });
    const cut = bytes.subarray(0, bytes.length - 5);
    const path = temp.write('cut.idx', cut);
    // A plain file: its size gives the error before the first record.
    const early = await mtlErrorOf(() => collect(idxRecords(path)));
    expect(early.message).toContain(path);
    expect(early.details).toMatchObject({ file: path, expected: 48, received: 43, record: 3, offset: 55 });
    // A stream of unknown length: the records before the cut arrive, then the error.
    const seen: number[] = [];
    const streamed = await mtlErrorOf(async () => {
      for await (const record of idxRecords(() => chunked(cut, 5), { file: 'cut-stream' })) seen.push(record.index);
    });
    expect(seen).toEqual([0, 1, 2]);
    expect(streamed.message).toMatch(/cut-stream: short payload: record 3 of 4 starts at byte offset 48 and needs 12 bytes, but the data ends at byte offset 55/);
    // Gzipped: offsets are in the decompressed data, and a cut in the gzip itself names the compressed offset.
    const gz = gzipSync(cut);
    expect((await mtlErrorOf(() => collect(idxRecords(gz, { file: 'g' })))).message).toMatch(/record 3 of 4 starts at decompressed byte offset 48/);
    const gzCut = gzipSync(bytes).subarray(0, 30);
    const truncated = await mtlErrorOf(() => collect(idxRecords(gzCut, { file: 'gz-cut' })));
    expect(truncated.message).toMatch(/gz-cut: the gzip data is truncated .* at compressed byte offset 30/);
  });

  it('rejects trailing bytes, zero-sized records and oversized records', async () => {
    const bytes = encodeIdx({ dtype: 'uint8', shape: [2, 2], data: [1, 2, 3, 4] });
    expect((await mtlErrorOf(() => collect(idxRecords(() => chunked(new Uint8Array([...bytes, 0]), 2), { file: 't' })))).message).toMatch(
      /t: 1 unexpected bytes after the payload at byte offset 16/,
    );
    const zero = new Uint8Array([0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    expect((await mtlErrorOf(() => collect(idxRecords(() => chunked(zero, 100), { file: 'z' })))).message).toMatch(/hold no values/);
    const wide = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 1, 0x10, 0, 0, 0]);
    expect((await mtlErrorOf(() => collect(idxRecords(wide, { file: 'w', maxRecordBytes: 1 << 20 })))).message).toMatch(/w: the header declares records of shape \[268435456\]/);
    expect(() => idxRecords(wide, { limit: -1 })).toThrow(/limit/);
  });

  it('closes the file when the consumer stops early', async () => {
    const path = temp.write('labels.idx', readFileSync(MNIST.testLabels));
    const gzPath = temp.write('labels.idx.gz', gzipSync(readFileSync(MNIST.testLabels)));
    // Linux lists a process's open descriptors in /proc/self/fd.
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      for await (const record of idxRecords(i % 2 ? path : gzPath)) if (record.index === 2) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openFiles()).toBeLessThanOrEqual(before);
  });
});
