import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { IDBDatabase, IDBFactory } from 'fake-indexeddb';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointFromBlob,
  checkpointToBlob,
  deleteCheckpointIndexedDB,
  encodeCheckpoint,
  isMtlError,
  listCheckpointsIndexedDB,
  readCheckpointIndexedDB,
  Trainer,
  writeCheckpointIndexedDB,
  type Checkpoint,
} from '../src/index';
import { fixedBatch, TASKS, tinyModel } from './fixtures';

// The browser's storage for checkpoints. Blob and File exist in Node 20 as in browsers; IndexedDB
// is the fake-indexeddb implementation of the W3C spec (the same API a page gets).

let checkpoint: Checkpoint;
beforeAll(async () => {
  await tf.setBackend('cpu');
  const model = tinyModel(TASKS, { seed: 2 });
  const trainer = new Trainer({ model, seed: 1 });
  const batch = fixedBatch(12, 3);
  trainer.step(batch);
  checkpoint = await trainer.saveCheckpoint({ page: 'playground' });
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
  trainer.dispose();
  model.dispose();
});

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'no error',
    (error: unknown) => (isMtlError(error) ? `${error.code}: ${error.message}` : `not an MtlError: ${String(error)}`),
  );
}

describe('checkpoints as Blobs (download and upload)', () => {
  it('round-trips through a Blob and a File; a foreign file is BAD_CHECKPOINT naming it', async () => {
    const blob = checkpointToBlob(checkpoint);
    expect(blob.type).toBe('application/octet-stream');
    expect(blob.size).toBe(encodeCheckpoint(checkpoint).byteLength);
    const back = await checkpointFromBlob(new File([blob], 'run-7.mtlckpt'));
    expect(back.manifest.meta).toEqual({ page: 'playground' });
    expect(Buffer.from(back.data).equals(Buffer.from(checkpoint.data))).toBe(true);
    expect(await code(checkpointFromBlob(new File(['{"not": "a checkpoint"}'], 'notes.json')))).toMatch(/^BAD_CHECKPOINT: notes\.json: not an mtljs checkpoint/);
    expect(await code(checkpointFromBlob('bytes' as never))).toMatch(/^BAD_CHECKPOINT: checkpoint blob: expected a Blob or File/);
  });
});

describe('checkpoints in IndexedDB', () => {
  it('writes, lists, reads back bit for bit, replaces, and deletes', async () => {
    const options = { indexedDB: new IDBFactory(), database: 'runs' };
    await writeCheckpointIndexedDB('epoch-1', checkpoint, options);
    await writeCheckpointIndexedDB('epoch-2', { ...checkpoint, manifest: { ...checkpoint.manifest, epoch: 2 } }, options);
    expect(await listCheckpointsIndexedDB(options)).toEqual(['epoch-1', 'epoch-2']);
    const back = await readCheckpointIndexedDB('epoch-1', options);
    expect(Buffer.from(back.data).equals(Buffer.from(checkpoint.data))).toBe(true);
    expect((await readCheckpointIndexedDB('epoch-2', options)).manifest.epoch).toBe(2);
    await writeCheckpointIndexedDB('epoch-1', { ...checkpoint, manifest: { ...checkpoint.manifest, step: 99 } }, options);
    expect((await readCheckpointIndexedDB('epoch-1', options)).manifest.step).toBe(99);
    await deleteCheckpointIndexedDB('epoch-2', options);
    expect(await listCheckpointsIndexedDB(options)).toEqual(['epoch-1']);
    expect(await code(readCheckpointIndexedDB('epoch-2', options))).toBe('BAD_CHECKPOINT: indexeddb:runs/epoch-2: no checkpoint is stored under this key');
  });

  it('a write whose transaction aborts leaves the previous checkpoint under that key', async () => {
    const factory = new IDBFactory();
    const options = { indexedDB: factory, database: 'abort' };
    await writeCheckpointIndexedDB('latest', checkpoint, options);
    // Abort every readwrite transaction as it starts (what a quota error or a closed tab does).
    const original = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      const transaction = original.apply(this, args);
      if (args[1] === 'readwrite') queueMicrotask(() => transaction.abort());
      return transaction;
    } as IDBDatabase['transaction'];
    let outcome: string;
    try {
      outcome = await code(writeCheckpointIndexedDB('latest', { ...checkpoint, manifest: { ...checkpoint.manifest, step: 1234 } }, options));
    } finally {
      IDBDatabase.prototype.transaction = original;
    }
    expect(outcome).toMatch(/^BAD_CHECKPOINT: cannot write checkpoint 'latest': /);
    expect((await readCheckpointIndexedDB('latest', options)).manifest.step).toBe(checkpoint.manifest.step);
  });

  it('without IndexedDB (plain Node) every call is BAD_CHECKPOINT saying so', async () => {
    expect(await code(readCheckpointIndexedDB('x'))).toMatch(/IndexedDB is not available here/);
  });
});
