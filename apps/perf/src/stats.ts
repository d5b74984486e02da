/** Median, min and max of a sample of step times (milliseconds). */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** How many values were summarised. */
  n: number;
}

/** The median (mean of the two middle values for an even count), min and max. */
export function summarise(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** `a / b` of two medians, or NaN when either is missing. */
export function ratio(a: Summary, b: Summary): number {
  return a.n && b.n ? a.median / b.median : Number.NaN;
}

/**
 * Runs the two step functions alternately, `warmup` times each unmeasured, then `steps` times each
 * measured, switching which goes first every round (ABBA) so neither always runs on a warmer or
 * colder machine. Returns both samples of milliseconds per step.
 */
export async function interleave(
  a: () => void | Promise<void>,
  b: () => void | Promise<void>,
  options: { steps: number; warmup: number; now?: () => number },
): Promise<{ a: number[]; b: number[] }> {
  const now = options.now ?? (() => performance.now());
  const time = async (fn: () => void | Promise<void>) => {
    const start = now();
    await fn();
    return now() - start;
  };
  for (let i = 0; i < options.warmup; i++) {
    await a();
    await b();
  }
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < options.steps; i++) {
    if (i % 2 === 0) {
      out.a.push(await time(a));
      out.b.push(await time(b));
    } else {
      out.b.push(await time(b));
      out.a.push(await time(a));
    }
  }
  return out;
}
