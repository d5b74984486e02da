import { describe, expect, it } from 'vitest';
import { cosineChart, downsample, lossChart, validationChart, validationTable, weightChart } from './charts';
import type { EpochPoint, StepPoint } from './session';

function steps(count: number): StepPoint[] {
  return Array.from({ length: count }, (_, step) => ({
    step,
    epoch: 0,
    losses: { a: 1 / (step + 1), b: step % 2 === 0 ? 2 : null },
    weights: { a: 1, b: 0.5 },
    at: step,
  }));
}

function seriesPoints(svg: string): Record<string, number> {
  return Object.fromEntries([...svg.matchAll(/class="mtl-series" data-series="([^"]+)" data-points="(\d+)"/g)].map((m) => [m[1]!, Number(m[2])]));
}

describe('downsample', () => {
  it('keeps short series, and averages long ones in buckets (x and the non-null y)', () => {
    expect(downsample([[0, 1], [1, null]], 4)).toEqual([[0, 1], [1, null]]);
    const long: [number, number | null][] = Array.from({ length: 10 }, (_, i) => [i, i < 3 ? null : i]);
    expect(downsample(long, 4)).toEqual([
      [1, null],
      [4, 4],
      [7, 7],
      [9, 9],
    ]);
  });
});

describe('charts', () => {
  it('draws one series per task, with nulls as gaps, and caps the points of long runs', () => {
    const svg = lossChart(['a', 'b'], steps(30));
    expect(svg).toContain('data-chart="line"');
    expect(svg).toContain('(log scale)');
    expect(seriesPoints(svg)).toEqual({ a: 30, b: 15 });
    expect(seriesPoints(weightChart(['a', 'b'], steps(30)))).toEqual({ a: 30, b: 30 });
    const capped = seriesPoints(lossChart(['a', 'b'], steps(1000)));
    expect(capped['a']).toBe(334); // ⌈1000 / ⌈1000/400⌉⌉ buckets of 3 steps
  });

  it('draws validation losses by epoch, a table of every metric, and the cosine heatmap', () => {
    const epochs: EpochPoint[] = [0, 1].map((epoch) => ({
      epoch,
      steps: 8,
      trainLosses: { a: 1 },
      validation: { a: { loss: 1 - epoch / 2, metrics: { rmse: 0.7, r2: epoch === 0 ? null : 0.25 } } },
    }));
    expect(seriesPoints(validationChart(['a'], epochs))).toEqual({ a: 2 });
    const table = validationTable(['a'], epochs);
    expect(table).toContain('<th>rmse</th><th>r2</th>');
    expect(table.indexOf('data-epoch="2"')).toBeLessThan(table.indexOf('data-epoch="1"'));
    expect(table).toContain('<td>0.5000</td><td>0.7000</td><td>0.2500</td>');
    expect(table).toContain('<td>–</td>');
    const heat = cosineChart({ source: 'probe', tasks: ['a', 'b'], mean: [[1, -0.5], [-0.5, 1]], samples: 3 });
    expect(heat).toContain('data-chart="heatmap"');
    expect(heat).toContain('probed at the features site, 3 samples');
    expect(heat.match(/mtl-negative/g)?.length).toBeGreaterThanOrEqual(2);
  });
});
