import { MtlError } from '@mtljs/core';
import { coordinate, escapeHtml, formatValue, textWidth } from './svg';

/** Options of `heatmap`. */
export interface HeatmapOptions {
  /** Drawn above the grid and used as the `aria-label`. */
  title: string;
  /** Row and column labels, in order. */
  labels: string[];
  /** labels.length × labels.length values; null where undefined. */
  values: (number | null)[][];
  /** Lower end of the colour scale; values below it get the end colour. Default: −1. */
  min?: number;
  /** Upper end of the colour scale, greater than `min`; values above it get the end colour. Default: 1. */
  max?: number;
}

// The ends and middle of ColorBrewer's RdBu diverging scheme (Brewer, colorbrewer2.org), readable
// with the common colour-vision deficiencies: red below the middle, blue above.
const LOW = [178, 24, 43] as const;
const MIDDLE = [247, 247, 247] as const;
const HIGH = [33, 102, 172] as const;

function mix(from: readonly number[], to: readonly number[], t: number): string {
  const channel = (i: number) => Math.round(from[i]! + (to[i]! - from[i]!) * t);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

/** Position of a value on the scale: −1 at `min`, 0 at the middle (0 when min < 0 < max), 1 at `max`. */
function scalePosition(value: number, min: number, max: number): number {
  const middle = min < 0 && max > 0 ? 0 : (min + max) / 2;
  const t = value >= middle ? (value - middle) / (max - middle || 1) : -(middle - value) / (middle - min || 1);
  return Math.max(-1, Math.min(1, t));
}

function cellColour(t: number): string {
  return t >= 0 ? mix(MIDDLE, HIGH, t) : mix(MIDDLE, LOW, -t);
}

/** '−0.12' with a true minus sign, two decimals, 'n/a' for null. */
function cellText(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  const text = Math.abs(value).toFixed(2);
  return value < 0 && text !== '0.00' ? `\u2212${text}` : text;
}

/**
 * A square heatmap as an SVG string, on a diverging scale (red below the middle, blue above),
 * each cell showing its value; cells below zero also get a dashed dark-red outline so they stand
 * out without colour. The root `<svg>` has `class="mtl-chart" data-chart="heatmap"`; each cell is
 * a `rect.mtl-cell` with `data-row`, `data-col` and `data-value` ('' for null), and negative cells
 * have the class `mtl-negative` too.
 *
 * @throws MtlError `BAD_CONFIG` when `labels` or `values` is not an array, `values` is not
 * labels.length × labels.length, or `max` is not greater than `min`.
 */
export function heatmap(options: HeatmapOptions): string {
  const { labels, values } = options ?? {};
  if (!Array.isArray(labels) || !Array.isArray(values)) {
    throw new MtlError('BAD_CONFIG', `heatmap '${options?.title}': 'labels' and 'values' must be arrays`, { field: Array.isArray(labels) ? 'values' : 'labels' });
  }
  const min = options.min ?? -1;
  const max = options.max ?? 1;
  if (!(max > min)) throw new MtlError('BAD_CONFIG', `heatmap '${options.title}': max (${max}) must be greater than min (${min})`, { field: 'max' });
  const size = labels.length;
  if (values.length !== size || values.some((row) => !Array.isArray(row) || row.length !== size)) {
    throw new MtlError('BAD_CONFIG', `heatmap '${options.title}': values must be ${size}×${size} (one row and column per label)`, {
      field: 'values',
      expected: [size, size],
    });
  }
  const cell = Math.max(40, Math.min(72, Math.floor(480 / Math.max(1, size))));
  const longest = Math.max(0, ...labels.map((label) => textWidth(label)));
  const rotate = longest > cell - 6;
  const left = 16 + longest + 8;
  const top = 40 + (rotate ? longest * 0.72 + 8 : 22);
  const gridSize = cell * size;
  const scaleX = left + gridSize + 24;
  const width = Math.max(scaleX + 70, textWidth(options.title, 14) + 32);
  const height = top + gridSize + 24;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="mtl-chart" data-chart="heatmap" viewBox="0 0 ${coordinate(width)} ${coordinate(height)}" width="${coordinate(width)}" height="${coordinate(height)}" role="img" aria-label="${escapeHtml(options.title)}" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12">`,
    `<text x="16" y="20" font-size="14" font-weight="600" fill="#111827">${escapeHtml(options.title)}</text>`,
  );
  for (const [i, label] of labels.entries()) {
    const y = top + i * cell + cell / 2;
    const x = left + i * cell + cell / 2;
    parts.push(`<text x="${coordinate(left - 8)}" y="${coordinate(y)}" dy="0.32em" text-anchor="end" fill="#1f2937">${escapeHtml(label)}</text>`);
    parts.push(
      rotate
        ? `<text transform="translate(${coordinate(x)} ${coordinate(top - 8)}) rotate(-45)" fill="#1f2937">${escapeHtml(label)}</text>`
        : `<text x="${coordinate(x)}" y="${coordinate(top - 8)}" text-anchor="middle" fill="#1f2937">${escapeHtml(label)}</text>`,
    );
  }
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const raw = values[i]![j];
      const value = raw === null || raw === undefined || !Number.isFinite(raw) ? null : raw;
      const x = left + j * cell;
      const y = top + i * cell;
      const t = value === null ? 0 : scalePosition(value, min, max);
      const negative = value !== null && value < 0;
      const fill = value === null ? '#e5e7eb' : cellColour(t);
      const outline = negative ? ' stroke="#67001f" stroke-width="2" stroke-dasharray="4 2"' : ' stroke="#ffffff" stroke-width="1"';
      const ink = Math.abs(t) > 0.55 ? '#ffffff' : '#111827';
      parts.push(
        `<rect class="mtl-cell${negative ? ' mtl-negative' : ''}" data-row="${escapeHtml(labels[i])}" data-col="${escapeHtml(labels[j])}" data-value="${value === null ? '' : value}" x="${coordinate(x + 1)}" y="${coordinate(y + 1)}" width="${cell - 2}" height="${cell - 2}" fill="${fill}"${outline}>` +
          `<title>${escapeHtml(labels[i])} · ${escapeHtml(labels[j])}: ${value === null ? 'n/a' : formatValue(value)}</title></rect>`,
        `<text x="${coordinate(x + cell / 2)}" y="${coordinate(y + cell / 2)}" dy="0.32em" text-anchor="middle" fill="${value === null ? '#6b7280' : ink}"${negative ? ' font-weight="700"' : ''}>${cellText(value)}</text>`,
      );
    }
  }
  // The colour scale: 11 steps from max (top) to min (bottom).
  const steps = 11;
  const barHeight = Math.min(gridSize, 220);
  const stepHeight = barHeight / steps;
  for (let k = 0; k < steps; k++) {
    const value = max - ((max - min) * k) / (steps - 1);
    parts.push(
      `<rect class="mtl-scale" x="${coordinate(scaleX)}" y="${coordinate(top + k * stepHeight)}" width="14" height="${coordinate(stepHeight + 0.5)}" fill="${cellColour(scalePosition(value, min, max))}"/>`,
    );
  }
  const middle = min < 0 && max > 0 ? 0 : (min + max) / 2;
  const label = (value: number, y: number) =>
    `<text x="${coordinate(scaleX + 20)}" y="${coordinate(y)}" dy="0.32em" fill="#4b5563">${cellText(value)}</text>`;
  parts.push(label(max, top + stepHeight / 2), label(middle, top + barHeight * ((max - middle) / (max - min))), label(min, top + barHeight - stepHeight / 2));
  parts.push('</svg>');
  return parts.join('');
}
