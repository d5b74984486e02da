import { chunksOf, MtlError, type CellValue, type ChunkSource, type RecordRow } from '@mtljs/core';

/** How the JSON Lines text is read; checked by `jsonlSource` and `fitJsonlSchema` (BAD_CONFIG naming the option). */
export interface JsonlFormatOptions {
  /** Longest line accepted, in characters (default 1 048 576), so a file without newlines cannot fill memory. */
  maxLineLength?: number;
}

export const JSONL_FORMAT_OPTIONS = ['maxLineLength'] as const;

export function checkJsonlFormat(options: JsonlFormatOptions): Required<JsonlFormatOptions> {
  const maxLineLength = options.maxLineLength ?? 1 << 20;
  if (!Number.isInteger(maxLineLength) || maxLineLength < 1) {
    throw new MtlError('BAD_CONFIG', `maxLineLength must be a positive integer, got ${options.maxLineLength}`, { option: 'maxLineLength' });
  }
  return { maxLineLength };
}

const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);

/**
 * Reads a dotted path: `a.b.c` is `object.a.b.c` (array elements by index: `tags.0`). A key that
 * itself contains dots is found when the object has it as its own key.
 */
function compilePath(path: string): (object: Record<string, unknown>) => unknown {
  const segments = path.split('.');
  return (object) => {
    if (hasOwn(object, path)) return object[path];
    let current: unknown = object;
    for (const segment of segments) {
      if (typeof current !== 'object' || current === null || !hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
    return current;
  };
}

/** Leaf paths of an object, for messages; at most `limit`. */
function leafPaths(value: unknown, prefix: string, out: Set<string>, limit: number): void {
  if (out.size >= limit) return;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [key, inner] of Object.entries(value)) leafPaths(inner, prefix ? `${prefix}.${key}` : key, out, limit);
  } else if (prefix) {
    out.add(prefix);
  }
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

/**
 * The parsing core: JSON Lines text or bytes in chunks (any async iterable, or a web
 * ReadableStream) → records holding the values at `fields` (dotted paths), each with its line.
 * Blank lines are skipped; `\r\n` endings and a leading BOM are accepted. With `requireFields`,
 * a field that occurs in no record at all is a BAD_CONFIG error at the end of the pass (a typo
 * in the mapping would otherwise leave a task silently unlabelled).
 */
export async function* jsonlRows(
  chunks: ChunkSource,
  fields: readonly string[],
  options: JsonlFormatOptions & { name?: string; requireFields?: boolean } = {},
): AsyncGenerator<RecordRow> {
  const { maxLineLength } = checkJsonlFormat(options);
  const name = options.name ?? '<jsonl>';
  const readers = fields.map(compilePath);
  const found = fields.map(() => false);
  const seen = new Set<string>();
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let line = 0;
  let first = true;

  const parseLine = (text: string): RecordRow | null => {
    line += 1;
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new MtlError('BAD_DATA', `${name}, line ${line}: not valid JSON (${(error as Error).message})`, { file: name, line }, { cause: error });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new MtlError('BAD_DATA', `${name}, line ${line}: expected a JSON object, got ${kindOf(value)}`, { file: name, line });
    }
    const object = value as Record<string, unknown>;
    const values = new Array<CellValue>(readers.length);
    for (let k = 0; k < readers.length; k++) {
      const cell = readers[k]!(object);
      if (cell !== undefined) found[k] = true;
      values[k] = cell as CellValue;
    }
    if (options.requireFields && seen.size < 50) leafPaths(object, '', seen, 50);
    return { values, line };
  };

  const tooLong = () =>
    new MtlError('BAD_DATA', `${name}, line ${line + 1}: the line is longer than maxLineLength (${maxLineLength} characters)`, { file: name, line: line + 1 });
  for await (const chunk of chunksOf(chunks)) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const end = pending.indexOf('\n', start);
      if (end === -1) break;
      if (end - start > maxLineLength) throw tooLong();
      const row = parseLine(pending.slice(start, end));
      start = end + 1;
      if (row) yield row;
    }
    pending = pending.slice(start);
    if (pending.length > maxLineLength) throw tooLong();
  }
  pending += decoder.decode();
  if (pending.length > maxLineLength) throw tooLong();
  if (pending !== '') {
    const row = parseLine(pending);
    if (row) yield row;
  }
  if (options.requireFields) {
    const absent = fields.filter((_, k) => !found[k]);
    if (absent.length) {
      throw new MtlError(
        'BAD_CONFIG',
        `${name}: the mapping names field${absent.length > 1 ? 's' : ''} ${absent.map((f) => `'${f}'`).join(', ')}, which no record has; fields seen: ${[...seen].join(', ') || '(none)'}`,
        { file: name, column: absent[0], available: [...seen] },
      );
    }
  }
}
