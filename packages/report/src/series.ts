/** A chart point: x and y, y null where the series has a gap. */
export type Point = [number, number | null];

/** The most points a chart draws per series. */
export const MAX_POINTS = 1000;

/**
 * Shrinks a series to at most `limit` points, keeping its extremes: the points are cut into
 * ⌊limit/3⌋ buckets of consecutive points, and each bucket keeps its lowest and highest point (in
 * x order) and, when it holds a gap, one null at the first gap, so peaks and gaps survive.
 */
export function downsample(points: readonly Point[], limit = MAX_POINTS): Point[] {
  if (points.length <= limit) return [...points];
  const buckets = Math.max(1, Math.floor(limit / 3));
  const out: Point[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * points.length) / buckets);
    const to = Math.floor(((b + 1) * points.length) / buckets);
    let low = -1;
    let high = -1;
    let gap = -1;
    for (let i = from; i < to; i++) {
      const y = points[i]![1];
      if (y === null) {
        if (gap < 0) gap = i;
        continue;
      }
      if (low < 0 || y < points[low]![1]!) low = i;
      if (high < 0 || y > points[high]![1]!) high = i;
    }
    const keep = [...new Set([low, high, gap].filter((i) => i >= 0))].sort((a, c) => a - c);
    for (const i of keep) out.push(points[i]!);
  }
  return out;
}

/** The span (in logged points) of the smoothing for a series of `count` points: ~2% of it, 1 to 50. */
export function smoothingSpan(count: number): number {
  return Math.max(1, Math.min(50, Math.round(count / 50)));
}

/**
 * Exponential moving average with span `span` (β = 1 − 2/(span + 1), as pandas' `ewm(span)`),
 * bias-corrected so the first values are not pulled towards 0: s_k = β s_{k−1} + (1 − β) y_k,
 * shown as s_k / (1 − β^n) with n the values seen. Gaps stay gaps and do not reset the average.
 */
export function smooth(points: readonly Point[], span: number): Point[] {
  if (span <= 1) return [...points];
  const beta = 1 - 2 / (span + 1);
  let average = 0;
  let weight = 0;
  return points.map(([x, y]) => {
    if (y === null) return [x, null];
    average = beta * average + (1 - beta) * y;
    weight = beta * weight + (1 - beta);
    return [x, average / weight];
  });
}
