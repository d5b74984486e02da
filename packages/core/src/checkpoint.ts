import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';
import type { GradientSite, TaskKind } from './contracts';
import { MtlError } from './errors';
import type { RngState } from './rng';

/**
 * The checkpoint format, version 1: one file (or blob) holding
 *
 *   bytes 0–7    the magic 'MTLCKPT1'
 *   bytes 8–11   the manifest's byte length M (uint32, little-endian)
 *   bytes 12…    the manifest, UTF-8 JSON (CheckpointManifest), then zero padding to a multiple of 8
 *   then         the tensor data: each tensor's values (float32 or int32, little-endian) at the
 *                offset its manifest entry gives, relative to the start of this section
 *
 * One file, so that writing a temporary file and renaming it replaces a checkpoint atomically.
 */
export const CHECKPOINT_FORMAT = 'mtljs-checkpoint';
/** The format version this package writes and reads; `decodeCheckpoint` refuses any other. */
export const CHECKPOINT_VERSION = 1;
const MAGIC = 'MTLCKPT1';

/** What a stored tensor belongs to: the model's variables, the optimiser's slots, or the weighting's trainable parameters. */
export type CheckpointGroup = 'model' | 'optimizer' | 'weighting';

/** One stored tensor's manifest entry: what it is and where its values lie in the data section. */
export interface CheckpointTensor {
  /** The part of the run it belongs to. */
  group: CheckpointGroup;
  /** Its key in the group: the model's checkpoint key, the optimiser's weight name, or the weighting parameter's key. */
  name: string;
  /** Element type; every value takes 4 bytes, little-endian. */
  dtype: 'float32' | 'int32';
  /** Tensor shape. */
  shape: number[];
  /** Byte offset within the data section, and byte length. */
  offset: number;
  /** Bytes of its values: 4 × the number of elements. */
  byteLength: number;
}

/** The JSON part of a checkpoint: what the run was, and where each tensor's values lie. */
export interface CheckpointManifest {
  /** Always `CHECKPOINT_FORMAT` ('mtljs-checkpoint'). */
  format: typeof CHECKPOINT_FORMAT;
  /** Format version: `CHECKPOINT_VERSION` when written by this package. */
  version: number;
  /** When it was written: an ISO 8601 UTC timestamp. */
  createdAt: string;
  /** Steps taken when it was written (applied and skipped): the `step` of the next report. */
  step: number;
  /** Epochs completed when it was written. */
  epoch: number;
  /** The model's tasks in order; `loadCheckpoint` requires the same names, kinds and units. */
  tasks: {
    /** Task name. */
    name: string;
    /** Task kind. */
    kind: TaskKind;
    /** Output units of the task's head. */
    units: number;
  }[];
  /** The weighting of the run and its state. */
  weighting: {
    /** Plugin name; `loadCheckpoint` requires the trainer's weighting to have the same. */
    name: string;
    /** The plugin's `apiVersion`; `loadCheckpoint` requires the same when it is present. */
    apiVersion?: number;
    /** The weighting's level: 'loss', 'gramian' or 'jacobian'; `loadCheckpoint` requires the same. */
    level: string;
    /** The run's gradient site; null at the loss level. `loadCheckpoint` requires the same. */
    site: GradientSite | null;
    /** The weighting's state (JSON-serialisable), restored as it is. */
    state: unknown;
  };
  /** The optimiser whose slots are stored. */
  optimizer: {
    /** tfjs class name (`getClassName()`, e.g. 'Adam'); `loadCheckpoint` requires the same. */
    className: string;
    /**
     * Scalar variables the optimiser keeps outside its slots, by property name (Adam: `accBeta1`,
     * `accBeta2`, i.e. β1^t and β2^t); restored exactly so a resumed run is bit-identical.
     */
    scalars?: Record<string, number>;
  };
  /** The trainer's RNG (shuffling, plugin seeds). */
  rng: RngState;
  /**
   * Where `Trainer.fit` was inside an epoch, when the checkpoint was written between two of its
   * steps (absent, or `batch` 0, at an epoch boundary): `batch` batches of epoch `epoch` were
   * done, and `epochRng` is the RNG state at that epoch's start, before its shuffle was drawn. A
   * resumed `fit` redraws the same shuffle and skips those batches.
   */
  position?: {
    /** Batches of the current epoch already trained on. */
    batch: number;
    /** The trainer's RNG state when the current epoch began. */
    epochRng: RngState;
  };
  /** Steps skipped so far under the 'skip' non-finite policy (0 when absent). */
  skips?: number;
  /** Every stored tensor, in data order: model, then optimiser, then weighting. */
  tensors: CheckpointTensor[];
  /** Whatever the writer adds (the CLI stores its config here). */
  meta?: Record<string, unknown>;
}

/**
 * A checkpoint in memory, as `Trainer.saveCheckpoint` returns it and `Trainer.loadCheckpoint`
 * takes it; `encodeCheckpoint` makes it one byte array.
 */
export interface Checkpoint {
  /** What the checkpoint holds. */
  manifest: CheckpointManifest;
  /** The data section (see the format above). */
  data: Uint8Array;
}

/** Named tensors in one group, in a stable order. */
export type CheckpointTensors = Partial<Record<CheckpointGroup, { name: string; tensor: Tensor }[]>>;

/** Reads the tensors' values and lays them out as the data section of a checkpoint. */
export async function packTensors(groups: CheckpointTensors): Promise<{ entries: CheckpointTensor[]; data: Uint8Array }> {
  const entries: CheckpointTensor[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const group of ['model', 'optimizer', 'weighting'] as const) {
    for (const { name, tensor } of groups[group] ?? []) {
      const dtype = tensor.dtype === 'int32' || tensor.dtype === 'bool' ? 'int32' : 'float32';
      if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
        throw new MtlError('BAD_CHECKPOINT', `cannot store ${group} tensor '${name}' of dtype ${tensor.dtype}; checkpoints hold float32 and int32`, { received: tensor.dtype });
      }
      const values = await tensor.data();
      const typed = dtype === 'int32' ? Int32Array.from(values as Int32Array) : Float32Array.from(values as Float32Array);
      const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
      entries.push({ group, name, dtype, shape: [...tensor.shape], offset, byteLength: bytes.byteLength });
      parts.push(bytes);
      offset += bytes.byteLength;
    }
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const part of parts) {
    data.set(part, at);
    at += part.byteLength;
  }
  return { entries, data };
}

/** The tensors of one group as new tensors (the caller disposes them). */
export function unpackTensors(checkpoint: Checkpoint, group: CheckpointGroup): { name: string; tensor: Tensor }[] {
  return checkpoint.manifest.tensors
    .filter((entry) => entry.group === group)
    .map((entry) => {
      const bytes = checkpoint.data.slice(entry.offset, entry.offset + entry.byteLength);
      const values = entry.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
      return { name: entry.name, tensor: tf.tensor(values, entry.shape, entry.dtype) };
    });
}

/** Name → tensor map of `unpackTensors`' list. */
export function namedMap(list: { name: string; tensor: Tensor }[]): NamedTensorMap {
  return Object.fromEntries(list.map(({ name, tensor }) => [name, tensor]));
}

/** The checkpoint as one byte array (the format above). */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const manifest = new TextEncoder().encode(JSON.stringify(checkpoint.manifest));
  const headerLength = 12 + manifest.byteLength;
  const dataStart = Math.ceil(headerLength / 8) * 8;
  const bytes = new Uint8Array(dataStart + checkpoint.data.byteLength);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, manifest.byteLength, true);
  bytes.set(manifest, 12);
  bytes.set(checkpoint.data, dataStart);
  return bytes;
}

/** xoshiro128** state: four uint32 words, not all zero (the one state the generator cannot leave). */
const RNG_OK = (state: unknown): boolean =>
  Array.isArray(state) && state.length === 4 && state.every((s) => Number.isInteger(s) && s >= 0 && s <= 0xffffffff) && state.some((s) => s !== 0);

const SHAPE_OK = (shape: unknown): shape is number[] => Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0);

/**
 * Reads a checkpoint from its bytes, checking the structure (magic, version, manifest fields,
 * every tensor's extent within the data). `source` names the file in error messages.
 *
 * @throws MtlError `BAD_CHECKPOINT` naming `source` and the fault.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  const bad = (what: string) => new MtlError('BAD_CHECKPOINT', `${source}: ${what}`, { file: source });
  if (!(bytes instanceof Uint8Array)) throw bad('expected the checkpoint bytes as a Uint8Array');
  if (bytes.byteLength < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw bad(`not an mtljs checkpoint (it does not start with '${MAGIC}')`);
  }
  const manifestLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + manifestLength > bytes.byteLength) throw bad(`truncated: the manifest needs ${manifestLength} bytes, ${bytes.byteLength - 12} are there`);
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + manifestLength)));
  } catch (error) {
    throw bad(`its manifest is not valid JSON (${(error as Error).message})`);
  }
  const dataStart = Math.ceil((12 + manifestLength) / 8) * 8;
  const data = bytes.slice(Math.min(dataStart, bytes.byteLength));
  return { manifest: checkManifest(manifest, data.byteLength, source), data };
}

/**
 * Checks a parsed manifest's structure: format and version, step, epoch, tasks, weighting, optimiser,
 * RNG states, position, skips, and every tensor's dtype, shape and extent within `dataByteLength`
 * bytes of data. `decodeCheckpoint` and `Trainer.loadCheckpoint` call it; `source` names the file.
 *
 * @returns The manifest, typed.
 * @throws MtlError `BAD_CHECKPOINT` naming the first field that is wrong.
 */
export function checkManifest(value: unknown, dataByteLength: number, source = 'checkpoint'): CheckpointManifest {
  const bad = (what: string) => new MtlError('BAD_CHECKPOINT', `${source}: ${what}`, { file: source });
  const manifest = value as CheckpointManifest;
  if (typeof manifest !== 'object' || manifest === null || manifest.format !== CHECKPOINT_FORMAT) throw bad(`its manifest's format is not '${CHECKPOINT_FORMAT}'`);
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw bad(`format version ${String(manifest.version)}; this @mtljs/core reads version ${CHECKPOINT_VERSION}`);
  }
  for (const field of ['step', 'epoch'] as const) {
    if (!Number.isInteger(manifest[field]) || manifest[field] < 0) throw bad(`manifest.${field} must be a non-negative integer`);
  }
  if (!Array.isArray(manifest.tasks) || manifest.tasks.some((t) => typeof t?.name !== 'string' || typeof t?.kind !== 'string' || !Number.isInteger(t?.units))) {
    throw bad('manifest.tasks must list { name, kind, units } for every task');
  }
  const weighting = manifest.weighting as Partial<CheckpointManifest['weighting']> | null;
  if (typeof weighting !== 'object' || weighting === null || typeof weighting.name !== 'string') throw bad('manifest.weighting.name is missing');
  if (typeof weighting.level !== 'string') throw bad('manifest.weighting.level must be a string');
  if (weighting.site !== null && weighting.site !== undefined && !['shared', 'last-shared', 'features'].includes(weighting.site)) {
    throw bad(`manifest.weighting.site must be null, 'shared', 'last-shared' or 'features', got ${JSON.stringify(weighting.site)}`);
  }
  if (weighting.apiVersion !== undefined && !Number.isInteger(weighting.apiVersion)) throw bad('manifest.weighting.apiVersion must be an integer');
  const optimizer = manifest.optimizer as Partial<CheckpointManifest['optimizer']> | null;
  if (typeof optimizer !== 'object' || optimizer === null || typeof optimizer.className !== 'string') throw bad('manifest.optimizer.className is missing');
  if (
    optimizer.scalars !== undefined &&
    (typeof optimizer.scalars !== 'object' || optimizer.scalars === null || Array.isArray(optimizer.scalars) || Object.values(optimizer.scalars).some((v) => typeof v !== 'number' || !Number.isFinite(v)))
  ) {
    throw bad('manifest.optimizer.scalars must map names to finite numbers');
  }
  if (!RNG_OK(manifest.rng)) throw bad('manifest.rng must be four unsigned 32-bit integers, not all 0');
  if (manifest.position !== undefined) {
    const position = manifest.position as { batch?: unknown; epochRng?: unknown } | null;
    if (typeof position !== 'object' || position === null || !Number.isInteger(position.batch) || (position.batch as number) < 0 || !RNG_OK(position.epochRng)) {
      throw bad('manifest.position must be { batch: a non-negative integer, epochRng: four unsigned 32-bit integers, not all 0 }');
    }
  }
  if (manifest.skips !== undefined && (!Number.isInteger(manifest.skips) || manifest.skips < 0)) throw bad('manifest.skips must be a non-negative integer');
  if (manifest.meta !== undefined && (typeof manifest.meta !== 'object' || manifest.meta === null || Array.isArray(manifest.meta))) throw bad('manifest.meta must be an object');
  if (!Array.isArray(manifest.tensors)) throw bad('manifest.tensors must be an array');
  manifest.tensors.forEach((entry, i) => {
    const where = `manifest.tensors[${i}]${typeof entry?.name === 'string' ? ` ('${entry.name}')` : ''}`;
    if (typeof entry?.name !== 'string' || !['model', 'optimizer', 'weighting'].includes(entry.group)) throw bad(`${where} needs a name and a group`);
    if (entry.dtype !== 'float32' && entry.dtype !== 'int32') throw bad(`${where} has dtype ${String(entry.dtype)}; float32 or int32 expected`);
    if (!SHAPE_OK(entry.shape)) throw bad(`${where} has a bad shape ${JSON.stringify(entry.shape)}`);
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.byteLength !== size * 4) throw bad(`${where}: shape [${entry.shape.join(', ')}] needs ${size * 4} bytes, the entry says ${entry.byteLength}`);
    if (!Number.isInteger(entry.offset) || entry.offset < 0 || entry.offset % 4 !== 0 || entry.offset + entry.byteLength > dataByteLength) {
      throw bad(`${where} lies outside the data (offset ${entry.offset}, ${entry.byteLength} bytes, ${dataByteLength} bytes of data): the file is truncated or corrupt`);
    }
  });
  return manifest;
}

type FsPromises = typeof import('node:fs/promises');

function fsPromises(): Promise<FsPromises> {
  // A variable specifier keeps browser bundlers from resolving a Node built-in (see data/byte-streams.ts).
  const specifier = 'node:fs/promises';
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier) as Promise<FsPromises>;
}

/**
 * Writes a checkpoint file atomically (Node): the bytes go to a temporary file beside `path`,
 * are flushed to disk, and the file is renamed over `path`, so a crash mid-write leaves the
 * previous checkpoint whole.
 */
export async function writeCheckpointFile(path: string, checkpoint: Checkpoint): Promise<void> {
  const fs = await fsPromises();
  const bytes = encodeCheckpoint(checkpoint);
  const temporary = `${path}.tmp-${typeof process !== 'undefined' ? process.pid : 0}-${Date.now()}`;
  try {
    const handle = await fs.open(temporary, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true }).catch(() => undefined);
    throw new MtlError('BAD_CHECKPOINT', `cannot write checkpoint '${path}': ${(error as Error).message}`, { file: path });
  }
}

/** Reads a checkpoint file (Node); BAD_CHECKPOINT naming the file when it is missing or malformed. */
export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  const fs = await fsPromises();
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(path));
  } catch (error) {
    throw new MtlError('BAD_CHECKPOINT', `cannot read checkpoint '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file: path });
  }
  return decodeCheckpoint(bytes, path);
}
