import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { barChart } from './bar-chart';
import { heatmap } from './heatmap';
import { lineChart } from './line-chart';
import { downsample, smooth, smoothingSpan, type Point } from './series';
import { escapeHtml, formatTick, niceTicks, PALETTE } from './svg';

/** Attributes of every element of a tag with the given class, read from the SVG text. */
function elements(svg: string, tag: string, className: string): Record<string, string>[] {
  const found: Record<string, string>[] = [];
  for (const match of svg.matchAll(new RegExp(`<${tag}\\s([^>]*)>`, 'g'))) {
    const attributes = Object.fromEntries([...match[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if ((attributes.class ?? '').split(' ').includes(className)) found.push(attributes);
  }
  return found;
}

describe('lineChart', () => {
  const series = [
    { name: 'left', points: [[0, 2], [1, 1.5], [2, 1.2], [3, 1]] as Point[] },
    { name: 'right', points: [[0, 3], [1, null], [2, 2], [3, 1.8]] as Point[] },
  ];

  it('draws one marked path per series with its point count, axes and a legend', () => {
    const svg = lineChart({ title: 'Loss', xLabel: 'step', yLabel: 'loss', series });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(elements(svg, 'svg', 'mtl-chart')).toEqual([expect.objectContaining({ 'data-chart': 'line' })]);
    const paths = elements(svg, 'path', 'mtl-series');
    expect(paths.map((p) => [p['data-series'], p['data-points']])).toEqual([
      ['left', '4'],
      ['right', '3'],
    ]);
    expect(paths[0]!.stroke).toBe(PALETTE[0]);
    expect(paths[1]!.stroke).toBe(PALETTE[1]);
    expect(svg.match(/class="mtl-legend-item"/g)).toHaveLength(2);
    for (const text of ['>Loss<', '>step<', '>loss<', '>left<', '>right<']) expect(svg).toContain(text);
  });

  it('breaks the line at a gap and draws a lone point as a dot', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[0, 1], [1, null], [2, 2], [3, null], [4, 3], [5, 4]] }] });
    const d = elements(svg, 'path', 'mtl-series')[0]!.d!;
    expect(d.match(/M/g)).toHaveLength(3);
    expect(d.match(/h0/g)).toHaveLength(2);
    expect(d.match(/L/g)).toHaveLength(1);
  });

  it('keeps every point inside the plot and the ticks nice', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[0, -0.37], [7, 4.21]] }], width: 500, height: 300 });
    const ys = [...elements(svg, 'path', 'mtl-series')[0]!.d!.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
    for (const y of ys) {
      expect(y).toBeGreaterThan(0);
      expect(y).toBeLessThan(300);
    }
    expect(svg).toContain('>-1<');
    expect(svg).toContain('>5<');
  });

  it('draws points in x order whatever their order in the series', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[2, 1], [0, 3], [1, 2]] }] });
    const xs = [...elements(svg, 'path', 'mtl-series')[0]!.d!.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(3);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });

  it('uses a log axis on request, dropping values ≤ 0 as gaps', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: 's', points: [[0, 100], [1, 0], [2, 1], [3, 0.05]] }] });
    expect(elements(svg, 'path', 'mtl-series')[0]!['data-points']).toBe('3');
    expect(svg).toContain('(log scale)');
    expect(svg).toContain('>0.01<');
    expect(svg).toContain('>100<');
  });

  it('escapes names and titles from the log', () => {
    const svg = lineChart({ title: '<script>alert(1)</script>', xLabel: 'a&b', yLabel: '"y"', series: [{ name: '<img onerror=x>', points: [[0, 1], [1, 2]] }] });
    expect(svg).not.toContain('<script>');
    expect(svg).not.toContain('<img');
    expect(svg).toContain('&lt;script&gt;');
    expect(svg).toContain('data-series="&lt;img onerror=x&gt;"');
  });

  it('refuses series that are not { name, points }', () => {
    const caught = (() => {
      try {
        lineChart({ title: 'bad', xLabel: 'x', yLabel: 'y', series: [{ name: 'ok', points: [] }, { name: 'b' } as never] });
      } catch (error) {
        return error;
      }
    })();
    expect(isMtlError(caught, 'BAD_CONFIG')).toBe(true);
    expect(String(caught)).toContain('series[1]');
    expect(() => barChart({ title: 'b' } as never)).toThrow("'bars' must be an array");
    expect(() => heatmap({ title: 'h', labels: ['a'] } as never)).toThrow("'labels' and 'values' must be arrays");
  });

  it('says so when there is nothing to draw', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[0, null]] }] });
    expect(svg).toContain('no data');
    expect(elements(svg, 'path', 'mtl-series')[0]!['data-points']).toBe('0');
  });

  it('draws at most 1000 points of a long series', () => {
    const points: Point[] = Array.from({ length: 50_000 }, (_, i) => [i, Math.sin(i / 100)]);
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points }] });
    const drawn = Number(elements(svg, 'path', 'mtl-series')[0]!['data-points']);
    expect(drawn).toBeLessThanOrEqual(1000);
    expect(drawn).toBeGreaterThan(500);
    expect(svg.length).toBeLessThan(60_000);
  });

  it('draws faint series behind without a legend entry, in the colour of their namesake', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'b', points: [[0, 1], [1, 3]], faint: true }, { name: 'a', points: [[0, 1], [1, 2]] }, { name: 'b', points: [[0, 1.5], [1, 2.5]] }],
    });
    expect(elements(svg, 'path', 'mtl-series')).toHaveLength(2);
    const raw = elements(svg, 'path', 'mtl-series-raw');
    expect(raw).toHaveLength(1);
    expect(raw[0]!.stroke).toBe(PALETTE[1]);
    expect(svg.match(/class="mtl-legend-item"/g)).toHaveLength(2);
  });
});

describe('series helpers', () => {
  it('downsample keeps each bucket\'s extremes and its gaps', () => {
    const points: Point[] = Array.from({ length: 10_000 }, (_, i) => [i, i === 5000 ? 99 : i === 7000 ? -99 : i === 3000 ? null : Math.cos(i)]);
    const out = downsample(points);
    expect(out.length).toBeLessThanOrEqual(1000);
    expect(out.some(([, y]) => y === 99)).toBe(true);
    expect(out.some(([, y]) => y === -99)).toBe(true);
    expect(out.some(([x, y]) => x === 3000 && y === null)).toBe(true);
    expect(out.map(([x]) => x)).toEqual([...out.map(([x]) => x)].sort((a, b) => a - b));
    expect(downsample(points.slice(0, 10))).toEqual(points.slice(0, 10));
  });

  it('smooth is a bias-corrected EMA that skips gaps', () => {
    // span 3: β = 0.5. s1 = 0.5·2 / 0.5 = 2; s2 = (0.25·2 + 0.5·4) / 0.75 = 10/3.
    const out = smooth([[0, 2], [1, null], [2, 4]], 3);
    expect(out[0]).toEqual([0, 2]);
    expect(out[1]).toEqual([1, null]);
    expect(out[2]![1]).toBeCloseTo(10 / 3, 12);
    expect(smooth([[0, 1], [1, 5]], 1)).toEqual([[0, 1], [1, 5]]);
    expect([smoothingSpan(10), smoothingSpan(500), smoothingSpan(1e6)]).toEqual([1, 10, 50]);
  });

  it('ticks are 1, 2 or 5 times a power of ten and cover the range', () => {
    expect(niceTicks(0.13, 0.87, 5)).toEqual({ ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], step: 0.2 });
    const { ticks } = niceTicks(-3.2, 41, 5);
    expect(ticks[0]).toBeLessThanOrEqual(-3.2);
    expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(41);
    expect(formatTick(0.6000000000000001, 0.2)).toBe('0.6');
    expect(formatTick(2e-6, 1e-6)).toBe('2e-6');
    expect(formatTick(2.5e-6, 5e-7)).toBe('2.5e-6');
    expect(formatTick(1500, 500)).toBe('1500');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('heatmap', () => {
  const labels = ['a', 'b', 'c'];
  const values = [
    [1, -0.4, 0.25],
    [-0.4, 1, null],
    [0.25, null, 1],
  ];

  it('has T×T cells, each with its value as text, negative ones marked', () => {
    const svg = heatmap({ title: 'cosines', labels, values });
    expect(elements(svg, 'svg', 'mtl-chart')[0]!['data-chart']).toBe('heatmap');
    const cells = elements(svg, 'rect', 'mtl-cell');
    expect(cells).toHaveLength(9);
    expect(cells.map((c) => c['data-value'])).toEqual(['1', '-0.4', '0.25', '-0.4', '1', '', '0.25', '', '1']);
    const negative = elements(svg, 'rect', 'mtl-negative');
    expect(negative.map((c) => [c['data-row'], c['data-col']])).toEqual([
      ['a', 'b'],
      ['b', 'a'],
    ]);
    expect(negative[0]!['stroke-dasharray']).toBeDefined();
    for (const text of ['>1.00<', '>\u22120.40<', '>0.25<', '>n/a<']) expect(svg).toContain(text);
    // Diverging: the positive and negative ends have different hues.
    const fill = (v: string) => cells.find((c) => c['data-value'] === v)!.fill;
    expect(fill('1')).toBe('rgb(33, 102, 172)');
    expect(fill('-0.4')).toMatch(/^rgb\(2\d\d, /);
  });

  it('refuses values that do not match the labels, and an empty scale', () => {
    const mismatch = (() => {
      try {
        heatmap({ title: 'h', labels: ['a', 'b'], values: [[1]] });
      } catch (error) {
        return error;
      }
    })();
    expect(isMtlError(mismatch, 'BAD_CONFIG')).toBe(true);
    expect(String(mismatch)).toContain('2×2');
    expect(() => heatmap({ title: 'h', labels: ['a'], values: [[1]], min: 1, max: 1 })).toThrow('greater than min');
  });
});

describe('barChart', () => {
  it('draws signed bars with their values, and n/a without a bar', () => {
    const svg = barChart({ title: 'Δm', unit: '%', bars: [{ label: 'x', value: 2.5 }, { label: 'y', value: -1.25 }, { label: 'z', value: null }] });
    const bars = elements(svg, 'rect', 'mtl-bar');
    expect(bars.map((b) => [b['data-label'], b['data-value'], b.fill])).toEqual([
      ['x', '2.5', PALETTE[0]],
      ['y', '-1.25', PALETTE[1]],
    ]);
    expect(svg).toContain('>+2.50%<');
    expect(svg).toContain('>\u22121.25%<');
    expect(svg).toContain('>n/a<');
  });
});
