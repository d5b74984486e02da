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
  task?: string;
  column?: string;
  line?: number;
  file?: string;
  plugin?: string;
  available?: readonly string[];
  expected?: unknown;
  received?: unknown;
  [key: string]: unknown;
}

const MARKER = Symbol.for('mtljs.error');

/**
 * The one error family of mtljs. Recognise it with {@link isMtlError} rather than `instanceof`,
 * which fails when two copies of @mtljs/core are installed.
 */
export class MtlError extends Error {
  readonly code: MtlErrorCode;
  readonly details: MtlErrorDetails;
  readonly [MARKER] = true;

  constructor(code: MtlErrorCode, message: string, details: MtlErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MtlError';
    this.code = code;
    this.details = details;
  }
}

export function isMtlError(value: unknown, code?: MtlErrorCode): value is MtlError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as MtlError).code === code;
}
