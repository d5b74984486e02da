/** A Markdown table; cells are escaped for `|`, and numeric-looking columns are right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const numeric = header.map((_, j) => rows.length > 0 && rows.every((row) => /^[-+]?[\d.]+(e[-+]?\d+)?( ± [\d.]+(e[-+]?\d+)?)?$|^–$/.test(row[j] ?? '')));
  const lines = [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${header.map((_, j) => (numeric[j] ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Mean and sample standard deviation (n − 1; 0 for one value) of the finite values; null when none. */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const variance = finite.length > 1 ? finite.reduce((a, b) => a + (b - mean) ** 2, 0) / (finite.length - 1) : 0;
  return { mean, std: Math.sqrt(variance), n: finite.length };
}

/** `0.912 ± 0.004` (the ± part only with more than one value), `–` when there is none. */
export function formatMeanStd(summary: { mean: number; std: number; n: number } | null, digits = 4): string {
  if (summary === null) return '–';
  const value = (v: number) => Number(v.toPrecision(digits)).toString();
  return summary.n > 1 ? `${value(summary.mean)} ± ${value(summary.std)}` : value(summary.mean);
}
