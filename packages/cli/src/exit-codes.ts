import { isMtlError, MtlError } from '@mtljs/core';

/** The exit statuses of `mtl`, as its help and README list them. */
export const EXIT_CODES = {
  /** Success. */
  ok: 0,
  /** Training or evaluation failed at run time (e.g. NON_FINITE_LOSS). */
  failed: 1,
  /** Bad arguments or configuration (BAD_CONFIG, UNKNOWN_PLUGIN, …). */
  usage: 2,
  /** Bad or missing data, checkpoint or file (BAD_DATA, BAD_CHECKPOINT, SHAPE_MISMATCH, not found). */
  data: 3,
  /** Interrupted by SIGINT (128 + 2, the shell convention). */
  interrupted: 130,
} as const;

const INTERRUPTED = Symbol.for('mtljs.cli.interrupted');

/** Thrown inside a run when its AbortSignal fires (Ctrl-C); the run log then ends 'interrupted'. */
export class RunInterrupted extends Error {
  readonly [INTERRUPTED] = true;
  constructor() {
    super('interrupted');
    this.name = 'RunInterrupted';
  }
}

export function isInterrupted(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[INTERRUPTED] === true;
}

const USAGE_CODES = new Set(['BAD_CONFIG', 'UNKNOWN_PLUGIN', 'DUPLICATE_PLUGIN', 'INCOMPATIBLE_PLUGIN', 'UNSUPPORTED_SITE', 'BACKEND_UNAVAILABLE']);
const DATA_CODES = new Set(['BAD_DATA', 'BAD_CHECKPOINT', 'SHAPE_MISMATCH']);

/** The exit status for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (isInterrupted(error)) return EXIT_CODES.interrupted;
  if (isMtlError(error)) {
    // A missing file is a data error whatever the file is (config, data, checkpoint, log).
    if (error.details.reason === 'not-found') return EXIT_CODES.data;
    if (USAGE_CODES.has(error.code)) return EXIT_CODES.usage;
    if (DATA_CODES.has(error.code)) return EXIT_CODES.data;
    return EXIT_CODES.failed;
  }
  if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') return EXIT_CODES.data;
  return EXIT_CODES.failed;
}

/** A file that is not there: exit status 3, the path in the message and in `details.file`. */
export function fileNotFound(path: string, what: string, code: 'BAD_DATA' | 'BAD_CONFIG' | 'BAD_CHECKPOINT' = 'BAD_DATA'): MtlError {
  return new MtlError(code, `${what}: file not found: ${path}`, { file: path, reason: 'not-found' });
}
