import { parse, type Info } from 'csv-parse';
import { chunksOf, isMtlError, MtlError, type ChunkSource, type RecordRow } from '@mtljs/core';
import { pipeThrough } from '@mtljs/core';

/** How the CSV text is parsed; checked by `csvSource` and `fitCsvSchema` (BAD_CONFIG naming the option). */
export interface CsvFormatOptions {
  /** Field delimiter, one or more characters (default ','). */
  delimiter?: string;
  /** Quote character (default '"'); quoted fields may hold delimiters, quotes ("") and newlines. */
  quote?: string;
  /**
   * true (default): the first line names the columns. false: there is no header and columns are
   * named by their 0-based position ('0', '1', …). A list of names: no header line, these names.
   */
  header?: boolean | readonly string[];
  /** Longest record accepted, in characters (default 1 048 576), so an unclosed quote cannot swallow the file. */
  maxRecordSize?: number;
}

export const CSV_FORMAT_OPTIONS = ['delimiter', 'quote', 'header', 'maxRecordSize'] as const;

/** Checks format options; bad values are BAD_CONFIG naming the option. */
export function checkCsvFormat(options: CsvFormatOptions): Required<CsvFormatOptions> {
  const delimiter = options.delimiter ?? ',';
  const quote = options.quote ?? '"';
  const header = options.header ?? true;
  const maxRecordSize = options.maxRecordSize ?? 1 << 20;
  if (typeof delimiter !== 'string' || delimiter.length === 0 || /[\r\n]/.test(delimiter)) {
    throw new MtlError('BAD_CONFIG', `delimiter must be a non-empty string without line breaks, got ${JSON.stringify(delimiter)}`, { option: 'delimiter' });
  }
  if (typeof quote !== 'string' || quote.length !== 1 || delimiter.includes(quote) || /[\r\n]/.test(quote)) {
    throw new MtlError('BAD_CONFIG', `quote must be one character, not a line break or part of the delimiter, got ${JSON.stringify(quote)}`, { option: 'quote' });
  }
  if (typeof header !== 'boolean' && !(Array.isArray(header) && header.length > 0 && header.every((h) => typeof h === 'string'))) {
    throw new MtlError('BAD_CONFIG', 'header must be true, false or a non-empty list of column names', { option: 'header' });
  }
  if (!Number.isInteger(maxRecordSize) || maxRecordSize < 1) {
    throw new MtlError('BAD_CONFIG', `maxRecordSize must be a positive integer, got ${options.maxRecordSize}`, { option: 'maxRecordSize' });
  }
  return { delimiter, quote, header, maxRecordSize };
}

const EXPLANATIONS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is still open at the end of the input',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by something other than a delimiter or a line end',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'a closing quote is followed by something other than a delimiter or a line end',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted field (quote the whole field and double inner quotes)',
  CSV_MAX_RECORD_SIZE: 'a record is longer than maxRecordSize (is a quote left open?)',
};

/** csv-parse's errors (and anything else from inside the parser) as BAD_DATA naming the file and line. */
function wrapParserError(error: unknown, name: string, fallbackLine: number): MtlError {
  if (isMtlError(error)) return error;
  const code = String((error as { code?: unknown })?.code ?? '');
  const lines = (error as { lines?: unknown })?.lines;
  const line = typeof lines === 'number' && lines > 0 ? lines : fallbackLine;
  const message = error instanceof Error ? error.message : String(error);
  const explanation = EXPLANATIONS[code] ?? 'the CSV cannot be parsed';
  return new MtlError('BAD_DATA', `${name}, line ${line}: ${explanation} (csv-parse: ${message})`, { file: name, line }, { cause: error });
}

function resolveColumns(header: readonly string[], columns: readonly string[], name: string): number[] {
  const unknown = columns.filter((c) => !header.includes(c));
  if (unknown.length) {
    throw new MtlError(
      'BAD_CONFIG',
      `${name}: the mapping names ${unknown.length > 1 ? 'columns' : 'column'} ${unknown.map((c) => `'${c}'`).join(', ')}, not in the header; its columns: ${header.join(', ')}`,
      { file: name, column: unknown[0], available: [...header] },
    );
  }
  return columns.map((column) => {
    const first = header.indexOf(column);
    if (header.indexOf(column, first + 1) >= 0) {
      throw new MtlError('BAD_CONFIG', `${name}: the header names column '${column}' more than once, so the mapping is ambiguous`, { file: name, column });
    }
    return first;
  });
}

/**
 * The parsing core: CSV text or bytes in chunks (any async iterable, or a web ReadableStream) →
 * records holding the values of `columns`, each with the line it starts on. Streams with bounded
 * memory. Ragged rows, quoting errors and unknown columns fail as described in the README.
 */
export async function* csvRows(
  chunks: ChunkSource,
  columns: readonly string[],
  options: CsvFormatOptions & { name?: string } = {},
): AsyncGenerator<RecordRow> {
  const { delimiter, quote, header, maxRecordSize } = checkCsvFormat(options);
  const name = options.name ?? '<csv>';
  const parser = parse({
    delimiter,
    quote,
    bom: true,
    info: true,
    // Checked here, to name the header's width in the message.
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: maxRecordSize,
  });
  let names: string[] | null = Array.isArray(header) ? [...header] : null;
  let indices: number[] | null = names ? resolveColumns(names, columns, name) : null;
  let previousEnd = 0;
  let previousEmpty = 0;
  try {
    for await (const { record, info } of pipeThrough<{ record: string[]; info: Info }>(chunksOf(chunks), parser)) {
      // info.lines is where the record ends; it starts after the previous one and any skipped empty lines.
      const line = previousEnd + (info.empty_lines - previousEmpty) + 1;
      previousEnd = info.lines;
      previousEmpty = info.empty_lines;
      // A line of blanks is an empty line too (csv-parse skips only truly empty ones).
      if (record.length === 1 && record[0]!.trim() === '' && names?.length !== 1) continue;
      if (names === null) {
        names = header === false ? record.map((_, i) => String(i)) : record.map((h) => h.trim());
        indices = resolveColumns(names, columns, name);
        if (header !== false) continue;
      }
      if (record.length !== names.length) {
        throw new MtlError(
          'BAD_DATA',
          `${name}, line ${line}: ${record.length} field${record.length === 1 ? '' : 's'} where the ${header === true ? 'header has' : 'first row has'} ${names.length}`,
          { file: name, line, expected: names.length, received: record.length },
        );
      }
      const values = new Array<string>(indices!.length);
      for (let k = 0; k < values.length; k++) values[k] = record[indices![k]!]!;
      yield { values, line };
    }
  } catch (error) {
    throw wrapParserError(error, name, previousEnd + 1);
  }
  if (names === null && header === true) {
    throw new MtlError('BAD_DATA', `${name}: the input is empty; expected a header line naming the columns`, { file: name, line: 1 });
  }
}
