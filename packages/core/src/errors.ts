/** Stable codes of every error mtljs raises on purpose. */
export type MtlErrorCode =
  | 'UNKNOWN_PLUGIN'
  | 'DUPLICATE_PLUGIN'
  | 'INCOMPATIBLE_PLUGIN'
  | 'SHAPE_MISMATCH'
  | 'NON_FINITE_LOSS'
  | 'BAD_DATA'
  | 'BAD_CONFIG'
  | 'BAD_CHECKPOINT'
  | 'UNSUPPORTED_SITE'
  | 'BACKEND_UNAVAILABLE';

/** Facts attached to an error so a caller can act on it without parsing the message. */
export interface MtlErrorDetails {
  /** The task at fault. */
  task?: string;
  /** The input column (or batch input key) at fault. */
  column?: string;
  /** 1-based line of the file at fault. */
  line?: number;
  /** The file at fault (its path, or the name it was given as). */
  file?: string;
  /** Name of the plugin at fault or asked for. */
  plugin?: string;
  /** What could have been given instead: registered names, known tasks, accepted options. */
  available?: readonly string[];
  /** What was expected (a shape, a version, a key…). */
  expected?: unknown;
  /** What was given instead. */
  received?: unknown;
  /** Other facts particular to one error (e.g. `option`, `step`). */
  [key: string]: unknown;
}

const MARKER = Symbol.for('mtljs.error');

/**
 * The one error family of mtljs. Recognise it with {@link isMtlError} rather than `instanceof`,
 * which fails when two copies of @mtljs/core are installed.
 */
export class MtlError extends Error {
  /** Which kind of failure this is; stable across versions, so code can branch on it. */
  readonly code: MtlErrorCode;
  /** The facts of the message in structured form (`{}` when there are none). */
  readonly details: MtlErrorDetails;
  /** The `Symbol.for('mtljs.error')` brand that {@link isMtlError} tests, shared by every copy of the package. */
  readonly [MARKER] = true;

  constructor(code: MtlErrorCode, message: string, details: MtlErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MtlError';
    this.code = code;
    this.details = details;
  }
}

/**
 * Whether `value` is an MtlError (from any copy of @mtljs/core), and, when `code` is given, one
 * with that code.
 */
export function isMtlError(value: unknown, code?: MtlErrorCode): value is MtlError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as MtlError).code === code;
}
