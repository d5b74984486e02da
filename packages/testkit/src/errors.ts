/**
 * What every testkit check throws on failure. A plain Error subclass, so vitest, jest and
 * node:test all report it; `check` names the assertion that failed and `subject` the plugin, so a
 * test can also match on them instead of on the message.
 */
export class ConformanceError extends Error {
  /** Stable name of the failed assertion (e.g. `'weights'`, `'state-json'`, `'leak'`, `'task-isolation'`). */
  readonly check: string;
  /** The plugin or function under test as the message names it (e.g. `"weighting 'normalised'"`). */
  readonly subject: string;

  /**
   * @param subject - Names the plugin; the message is prefixed with it.
   * @param check - Stable name of the failed assertion.
   * @param message - What failed and what was expected.
   * @param options - `cause`: the error that made the check fail, if any.
   */
  constructor(subject: string, check: string, message: string, options?: { cause?: unknown }) {
    super(`${subject}: ${message}`, options);
    this.name = 'ConformanceError';
    this.check = check;
    this.subject = subject;
  }
}

/** The message of anything thrown, for quoting it in a ConformanceError. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
