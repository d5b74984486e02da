import { MtlError } from '@mtljs/core';
import { coordinate, escapeHtml, formatTick, niceTicks, PALETTE, textWidth } from './svg';

/** Options of `barChart`. */
export interface BarChartOptions {
  /** Drawn above the bars and used as the `aria-label`. */
  title: string;
  /** One horizontal bar per entry, top to bottom; a null value draws no bar and says 'n/a'. */
  bars: {
    /** Written left of the bar and in its `data-label`. */
    label: string;
    /** The bar's length from the zero line; `null` (or not finite) for none. */
    value: number | null;
  }[];
  /** Axis label under the bars, e.g. 'Δm (%)'. */
  xLabel?: string;
  /** Appended to each bar's value text (e.g. '%'). */
  unit?: string;
  /** Width of the `viewBox` in SVG user units (px); the height follows from the number of bars. Default: 640. */
  width?: number;
}

const POSITIVE = PALETTE[0];
const NEGATIVE = PALETTE[1];

/** Signed value text with a true minus sign. */
function signed(value: number, unit: string): string {
  const text = Math.abs(value).toFixed(2);
  return `${value < 0 ? '\u2212' : value > 0 ? '+' : ''}${text}${unit}`;
}

/**
 * Horizontal bars from a zero line (blue right of it, vermillion left of it), each labelled with
 * its value. The root `<svg>` has `class="mtl-chart" data-chart="bar"`; each bar is a
 * `rect.mtl-bar` with `data-label` and `data-value`.
 *
 * @throws MtlError `BAD_CONFIG` when `bars` is not an array.
 */
export function barChart(options: BarChartOptions): string {
  if (!Array.isArray(options?.bars)) throw new MtlError('BAD_CONFIG', `barChart '${options?.title}': 'bars' must be an array of { label, value }`, { field: 'bars' });
  const width = options.width ?? 640;
  const unit = options.unit ?? '';
  const values = options.bars.map((bar) => bar.value).filter((v): v is number => v !== null && Number.isFinite(v));
  const { ticks, step } = niceTicks(Math.min(0, ...values), Math.max(0, ...values), 5);
  const low = ticks[0]!;
  const high = ticks[ticks.length - 1]!;
  const barHeight = 22;
  const gap = 10;
  const left = 16 + Math.max(40, ...options.bars.map((bar) => textWidth(bar.label))) + 10;
  const right = 70;
  const top = 36;
  const plotWidth = width - left - right;
  const plotHeight = options.bars.length * (barHeight + gap);
  const height = top + plotHeight + 44;
  const sx = (x: number) => left + ((x - low) / (high - low)) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="mtl-chart" data-chart="bar" viewBox="0 0 ${width} ${coordinate(height)}" width="${width}" height="${coordinate(height)}" role="img" aria-label="${escapeHtml(options.title)}" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12">`,
    `<text x="${coordinate(width / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="600" fill="#111827">${escapeHtml(options.title)}</text>`,
  ];
  for (const t of ticks) {
    const x = coordinate(sx(t));
    parts.push(
      `<line x1="${x}" y1="${top}" x2="${x}" y2="${coordinate(top + plotHeight)}" stroke="#e5e7eb"/>`,
      `<text x="${x}" y="${coordinate(top + plotHeight + 16)}" text-anchor="middle" fill="#4b5563">${escapeHtml(formatTick(t, step))}</text>`,
    );
  }
  for (const [index, bar] of options.bars.entries()) {
    const y = top + index * (barHeight + gap) + gap / 2;
    parts.push(`<text x="${coordinate(left - 8)}" y="${coordinate(y + barHeight / 2)}" dy="0.32em" text-anchor="end" fill="#1f2937">${escapeHtml(bar.label)}</text>`);
    const value = bar.value !== null && Number.isFinite(bar.value) ? bar.value : null;
    if (value === null) {
      parts.push(`<text x="${coordinate(sx(0) + 6)}" y="${coordinate(y + barHeight / 2)}" dy="0.32em" fill="#6b7280">n/a</text>`);
      continue;
    }
    const x0 = sx(Math.min(0, value));
    const x1 = sx(Math.max(0, value));
    parts.push(
      `<rect class="mtl-bar" data-label="${escapeHtml(bar.label)}" data-value="${value}" x="${coordinate(x0)}" y="${coordinate(y)}" width="${coordinate(Math.max(1, x1 - x0))}" height="${barHeight}" fill="${value < 0 ? NEGATIVE : POSITIVE}"><title>${escapeHtml(bar.label)}: ${signed(value, unit)}</title></rect>`,
      // The value sits right of the bar's zero end for negative bars, clear of the labels on the left.
      `<text x="${coordinate(x1 + 6)}" y="${coordinate(y + barHeight / 2)}" dy="0.32em" fill="#111827">${signed(value, unit)}</text>`,
    );
  }
  parts.push(
    `<line x1="${coordinate(sx(0))}" y1="${top}" x2="${coordinate(sx(0))}" y2="${coordinate(top + plotHeight)}" stroke="#374151" stroke-width="1.5"/>`,
  );
  if (options.xLabel) {
    parts.push(`<text x="${coordinate(left + plotWidth / 2)}" y="${coordinate(height - 8)}" text-anchor="middle" fill="#374151">${escapeHtml(options.xLabel)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
