import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint';
import { MtlError } from './errors';

// Checkpoints in the browser: as a Blob (a download link, an uploaded File) or in IndexedDB.
// Both hold the same bytes as a checkpoint file (`encodeCheckpoint`).

/** The checkpoint as a Blob of its file bytes (`application/octet-stream`), e.g. for a download link. */
export function checkpointToBlob(checkpoint: Checkpoint): Blob {
  return new Blob([encodeCheckpoint(checkpoint) as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
}

/**
 * Reads a checkpoint from a Blob or an uploaded File. `source` names it in errors (default: the
 * File's name, else 'checkpoint blob').
 *
 * @throws MtlError `BAD_CHECKPOINT` when it is not a Blob or not a well-formed checkpoint.
 */
export async function checkpointFromBlob(blob: Blob, source?: string): Promise<Checkpoint> {
  const name = source ?? (typeof (blob as File | undefined)?.name === 'string' ? (blob as File).name : 'checkpoint blob');
  if (typeof Blob === 'undefined' || !(blob instanceof Blob)) throw new MtlError('BAD_CHECKPOINT', `${name}: expected a Blob or File`, { file: name });
  return decodeCheckpoint(new Uint8Array(await blob.arrayBuffer()), name);
}

/** Where IndexedDB checkpoints are kept. */
export interface IndexedDbCheckpointOptions {
  /** Database name. Default: 'mtljs-checkpoints' (one object store, 'checkpoints', keyed by name). */
  database?: string;
  /** The IndexedDB factory. Default: `globalThis.indexedDB` (a browser, or a polyfill in Node). */
  indexedDB?: IDBFactory;
}

const STORE = 'checkpoints';

function open(options: IndexedDbCheckpointOptions, action: string): Promise<IDBDatabase> {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  const database = options.database ?? 'mtljs-checkpoints';
  if (!factory) throw new MtlError('BAD_CHECKPOINT', `cannot ${action}: IndexedDB is not available here (in Node, pass options.indexedDB or use writeCheckpointFile)`);
  return new Promise((resolve, reject) => {
    const request = factory.open(database, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new MtlError('BAD_CHECKPOINT', `cannot ${action}: opening IndexedDB database '${database}' failed (${request.error?.message ?? 'unknown error'})`));
    request.onblocked = () => reject(new MtlError('BAD_CHECKPOINT', `cannot ${action}: IndexedDB database '${database}' is blocked by another open connection`));
  });
}

async function transact<T>(options: IndexedDbCheckpointOptions, action: string, mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open(options, action);
  try {
    return await new Promise<T>((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = work(transaction.objectStore(STORE));
      // Resolve on commit, not on the request's success: only then is a write durable.
      transaction.oncomplete = () => resolve(request.result);
      const fail = () => reject(new MtlError('BAD_CHECKPOINT', `cannot ${action}: ${transaction.error?.message ?? request.error?.message ?? 'the transaction was aborted'}`));
      transaction.onerror = fail;
      transaction.onabort = fail;
    });
  } finally {
    db.close();
  }
}

/**
 * Stores a checkpoint under `key` in IndexedDB. The write is one transaction: either it commits
 * whole or the previous checkpoint under that key stays (the browser's counterpart of the atomic
 * `writeCheckpointFile`).
 *
 * @throws MtlError `BAD_CHECKPOINT` when IndexedDB is missing or the transaction fails (e.g. quota).
 */
export async function writeCheckpointIndexedDB(key: string, checkpoint: Checkpoint, options: IndexedDbCheckpointOptions = {}): Promise<void> {
  const bytes = encodeCheckpoint(checkpoint);
  await transact(options, `write checkpoint '${key}'`, 'readwrite', (store) => store.put(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), key));
}

/**
 * Reads the checkpoint stored under `key`.
 *
 * @throws MtlError `BAD_CHECKPOINT` naming the key when there is none, or when it is malformed.
 */
export async function readCheckpointIndexedDB(key: string, options: IndexedDbCheckpointOptions = {}): Promise<Checkpoint> {
  const value = await transact<unknown>(options, `read checkpoint '${key}'`, 'readonly', (store) => store.get(key));
  const source = `indexeddb:${options.database ?? 'mtljs-checkpoints'}/${key}`;
  if (value === undefined) throw new MtlError('BAD_CHECKPOINT', `${source}: no checkpoint is stored under this key`, { file: source });
  if (!(value instanceof ArrayBuffer)) throw new MtlError('BAD_CHECKPOINT', `${source}: the stored value is not checkpoint bytes`, { file: source });
  return decodeCheckpoint(new Uint8Array(value), source);
}

/** The keys of the stored checkpoints, sorted. */
export async function listCheckpointsIndexedDB(options: IndexedDbCheckpointOptions = {}): Promise<string[]> {
  const keys = await transact(options, 'list checkpoints', 'readonly', (store) => store.getAllKeys());
  return keys.map(String).sort();
}

/** Removes the checkpoint stored under `key` (nothing happens when there is none). */
export async function deleteCheckpointIndexedDB(key: string, options: IndexedDbCheckpointOptions = {}): Promise<void> {
  await transact(options, `delete checkpoint '${key}'`, 'readwrite', (store) => store.delete(key));
}
