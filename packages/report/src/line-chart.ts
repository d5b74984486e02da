import { MtlError } from '@mtljs/core';
import { downsample, MAX_POINTS, type Point } from './series';
import { coordinate, escapeHtml, extent, formatTick, logTicks, niceTicks, seriesStyle, textWidth } from './svg';

/** One line of a `lineChart`. */
export interface LineSeries {
  /** Legend entry and the path's `data-series`; a `faint` series takes the colour of the series of this name. */
  name: string;
  /**
   * `[x, y]` points, y `null` (or not finite) for a gap that breaks the line; points with a
   * non-finite x are dropped, the rest drawn in x order.
   */
  points: Point[];
  /**
   * Drawn thin and pale behind the others, without a legend entry, in the colour of the series
   * of the same name (or of its position): the raw values behind a smoothed line.
   */
  faint?: boolean;
}

/** Options of `lineChart`. */
export interface LineChartOptions {
  /** Drawn above the chart and used as the `aria-label`. */
  title: string;
  /** Label under the x axis (e.g. 'step'). */
  xLabel: string;
  /** Label beside the y axis; ' (log scale)' is appended when `logY`. */
  yLabel: string;
  /** The lines, one colour each in order (the `PALETTE`, then dashed once its 8 colours repeat). */
  series: LineSeries[];
  /** A logarithmic y axis; values ≤ 0 then become gaps. */
  logY?: boolean;
  /** Width of the `viewBox` in SVG user units (px). Default: 640. */
  width?: number;
  /** Height of the `viewBox` in SVG user units (px). Default: 320. */
  height?: number;
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12"';

interface Legend {
  svg: string;
  height: number;
}

function legend(names: string[], x0: number, y0: number, width: number): Legend {
  const parts: string[] = [];
  let x = x0;
  let y = y0;
  for (const [index, name] of names.entries()) {
    const itemWidth = 22 + textWidth(name) + 16;
    if (x > x0 && x + itemWidth > x0 + width) {
      x = x0;
      y += 18;
    }
    const { color, dash } = seriesStyle(index);
    parts.push(
      `<g class="mtl-legend-item"><line x1="${coordinate(x)}" y1="${coordinate(y - 4)}" x2="${coordinate(x + 18)}" y2="${coordinate(y - 4)}" stroke="${color}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/>` +
        `<text x="${coordinate(x + 22)}" y="${coordinate(y)}" fill="#1f2937">${escapeHtml(name)}</text></g>`,
    );
    x += itemWidth;
  }
  return { svg: parts.join(''), height: names.length ? y - y0 + 18 : 0 };
}

/** The path of a series: a new subpath after each gap; a lone point is drawn as a dot (round cap). */
function pathData(points: Point[], sx: (x: number) => number, sy: (y: number) => number): string {
  const parts: string[] = [];
  let run = 0;
  for (const [x, y] of points) {
    if (y === null) {
      if (run === 1) parts.push('h0');
      run = 0;
      continue;
    }
    parts.push(`${run === 0 ? 'M' : 'L'}${coordinate(sx(x))} ${coordinate(sy(y))}`);
    run += 1;
  }
  if (run === 1) parts.push('h0');
  return parts.join(' ');
}

/**
 * A line chart as an SVG string: axes with ticks and grid lines, a legend, one colour per series
 * from a colour-blind-safe palette (dash patterns once it repeats), gaps where y is null, each
 * series downsampled to at most 1000 points (min/max per bucket). The root `<svg>` has
 * `class="mtl-chart" data-chart="line"`; each series is a `path.mtl-series` with `data-series`
 * and `data-points` (the non-null points drawn).
 *
 * @throws MtlError `BAD_CONFIG` when `series` is not an array or a series is not `{ name, points }`.
 */
export function lineChart(options: LineChartOptions): string {
  if (!Array.isArray(options?.series)) throw new MtlError('BAD_CONFIG', `lineChart '${options?.title}': 'series' must be an array of { name, points }`, { field: 'series' });
  options.series.forEach((series, index) => {
    if (typeof series?.name !== 'string' || !Array.isArray(series.points)) {
      throw new MtlError('BAD_CONFIG', `lineChart '${options.title}': series[${index}] must be { name: string, points: [x, y | null][] }`, { field: `series[${index}]` });
    }
  });
  const width = options.width ?? 640;
  const height = options.height ?? 320;
  const logY = options.logY === true;
  const prepared = options.series.map((series) => {
    const points = series.points
      .filter(([x]) => Number.isFinite(x))
      .map(([x, y]): Point => [x, y === null || !Number.isFinite(y) || (logY && y <= 0) ? null : y]);
    // Logged series come in x order; sorting only the others keeps long series cheap.
    if (points.some((point, i) => i > 0 && point[0] < points[i - 1]![0])) points.sort((a, b) => a[0] - b[0]);
    return { ...series, points: downsample(points, MAX_POINTS) };
  });
  const solid = prepared.filter((series) => !series.faint);
  const names = solid.map((series) => series.name);
  const colourOf = (series: LineSeries, position: number) => {
    const named = names.indexOf(series.name);
    return seriesStyle(named >= 0 ? named : position);
  };

  const xs: number[] = [];
  const ys: number[] = [];
  for (const series of prepared) {
    for (const [x, y] of series.points) {
      if (y === null) continue;
      xs.push(x);
      ys.push(y);
    }
  }
  const title = `<text x="${coordinate(width / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="600" fill="#111827">${escapeHtml(options.title)}</text>`;
  const top0 = 40;
  const key = legend(names, 16, top0, width - 32);
  const open = `<svg xmlns="http://www.w3.org/2000/svg" class="mtl-chart" data-chart="line" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(options.title)}" ${FONT}>`;
  if (xs.length === 0) {
    return `${open}${title}${key.svg}<text class="mtl-empty" x="${coordinate(width / 2)}" y="${coordinate(height / 2)}" text-anchor="middle" fill="#6b7280">no data</text>${prepared
      .filter((series) => !series.faint)
      .map((series) => `<path class="mtl-series" data-series="${escapeHtml(series.name)}" data-points="0" d=""/>`)
      .join('')}</svg>`;
  }

  let [xMin, xMax] = extent(xs);
  const [yLow, yHigh] = extent(ys);
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  const integerX = xs.every(Number.isInteger);
  const xTickCount = Math.max(2, Math.floor((width - 100) / 60));
  let { ticks: xTicks, step: xStep } = niceTicks(xMin, xMax, xTickCount);
  if (integerX && xStep < 1) {
    // Steps and epochs are counts: no tick between two of them.
    xStep = 1;
    xTicks = [];
    for (let t = Math.ceil(xMin); t <= Math.floor(xMax); t++) xTicks.push(t);
  }
  xTicks = xTicks.filter((t) => t >= xMin - 1e-9 && t <= xMax + 1e-9);

  let yMin: number;
  let yMax: number;
  let yTicks: number[];
  let yStep = 1;
  if (logY) {
    yMin = 10 ** Math.floor(Math.log10(yLow) + 1e-9);
    yMax = 10 ** Math.ceil(Math.log10(yHigh) - 1e-9);
    if (yMax <= yMin) yMax = yMin * 10;
    yTicks = logTicks(yMin, yMax);
  } else {
    const nice = niceTicks(yLow, yHigh, 5);
    yTicks = nice.ticks;
    yStep = nice.step;
    yMin = yTicks[0]!;
    yMax = yTicks[yTicks.length - 1]!;
  }
  const yLabels = yTicks.map((t) => (logY ? formatTick(t, t) : formatTick(t, yStep)));
  const left = 28 + Math.max(...yLabels.map((label) => textWidth(label))) + 8;
  const right = 16;
  const top = top0 + key.height + 4;
  const bottom = 48;
  const plotWidth = width - left - right;
  const plotHeight = Math.max(40, height - top - bottom);
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = logY
    ? (y: number) => top + plotHeight - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotHeight
    : (y: number) => top + plotHeight - ((y - yMin) / (yMax - yMin)) * plotHeight;

  const grid = yTicks
    .map((t, i) => {
      const y = coordinate(sy(t));
      return `<line x1="${coordinate(left)}" y1="${y}" x2="${coordinate(left + plotWidth)}" y2="${y}" stroke="#e5e7eb"/><text x="${coordinate(left - 6)}" y="${y}" dy="0.32em" text-anchor="end" fill="#4b5563">${escapeHtml(yLabels[i])}</text>`;
    })
    .join('');
  const xAxis = xTicks
    .map((t) => {
      const x = coordinate(sx(t));
      return `<line x1="${x}" y1="${coordinate(top + plotHeight)}" x2="${x}" y2="${coordinate(top + plotHeight + 5)}" stroke="#6b7280"/><text x="${x}" y="${coordinate(top + plotHeight + 18)}" text-anchor="middle" fill="#4b5563">${escapeHtml(formatTick(t, xStep))}</text>`;
    })
    .join('');
  const axes =
    `<line x1="${coordinate(left)}" y1="${coordinate(top)}" x2="${coordinate(left)}" y2="${coordinate(top + plotHeight)}" stroke="#6b7280"/>` +
    `<line x1="${coordinate(left)}" y1="${coordinate(top + plotHeight)}" x2="${coordinate(left + plotWidth)}" y2="${coordinate(top + plotHeight)}" stroke="#6b7280"/>` +
    `<text x="${coordinate(left + plotWidth / 2)}" y="${coordinate(height - 8)}" text-anchor="middle" fill="#374151">${escapeHtml(options.xLabel)}</text>` +
    `<text transform="translate(14 ${coordinate(top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" fill="#374151">${escapeHtml(options.yLabel)}${logY ? ' (log scale)' : ''}</text>`;

  const faintPaths = prepared
    .map((series, position) => ({ series, position }))
    .filter(({ series }) => series.faint)
    .map(({ series, position }) => {
      const { color } = colourOf(series, position);
      return `<path class="mtl-series-raw" data-series="${escapeHtml(series.name)}" d="${pathData(series.points, sx, sy)}" fill="none" stroke="${color}" stroke-opacity="0.25" stroke-width="1" stroke-linejoin="round" stroke-linecap="round"/>`;
    })
    .join('');
  const paths = solid
    .map((series, index) => {
      const { color, dash } = seriesStyle(index);
      const drawn = series.points.filter(([, y]) => y !== null).length;
      return (
        `<path class="mtl-series" data-series="${escapeHtml(series.name)}" data-points="${drawn}" d="${pathData(series.points, sx, sy)}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}>` +
        `<title>${escapeHtml(series.name)}</title></path>`
      );
    })
    .join('');
  return `${open}${title}${key.svg}${grid}${xAxis}${axes}${faintPaths}${paths}</svg>`;
}
