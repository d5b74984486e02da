// Small helpers shared by the charts and the report page.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or attribute value made safe for HTML and SVG. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (character) => ESCAPES[character]!);
}

/**
 * Okabe & Ito's colour-blind-safe palette ("Color Universal Design", 2008), ordered for a white
 * background: the yellow, hard to see on white, comes last.
 */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'] as const;

/** Dash patterns that tell series apart once the palette repeats (series 9 onwards). */
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

export function seriesStyle(index: number): { color: string; dash: string } {
  return { color: PALETTE[index % PALETTE.length]!, dash: DASHES[Math.floor(index / PALETTE.length) % DASHES.length]! };
}

/** Coordinates with two decimals: enough for a screen, and short. */
export function coordinate(value: number): string {
  return (Math.round(value * 100) / 100).toString();
}

/**
 * "Nice" tick values covering [min, max]: steps of 1, 2 or 5 × 10^k, about `count` of them
 * (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990).
 */
export function niceTicks(min: number, max: number, count = 5): { ticks: number[]; step: number } {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  const step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
  const first = Math.floor(min / step + 1e-9) * step;
  const last = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  // Multiples of the step, rounded to 12 significant digits so 3 × 0.2 prints as 0.6.
  for (let k = 0; first + k * step <= last + step * 1e-6; k++) {
    const value = Number((first + k * step).toPrecision(12));
    ticks.push(Math.abs(value) < step * 1e-9 ? 0 : value);
  }
  return { ticks, step };
}

/** Tick values on a log axis: the powers of ten in range, with 2 and 5 multiples when the range is short. */
export function logTicks(min: number, max: number): number[] {
  const low = Math.floor(Math.log10(min) + 1e-9);
  const high = Math.ceil(Math.log10(max) - 1e-9);
  const multiples = high - low <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let exponent = low; exponent <= high; exponent++) {
    for (const multiple of multiples) {
      const value = multiple * 10 ** exponent;
      if (value >= 10 ** low && value <= 10 ** high) ticks.push(value);
    }
  }
  return ticks;
}

/** A tick label: as many decimals as the step needs, exponent form for very small or large values. */
export function formatTick(value: number, step: number): string {
  if (value === 0) return '0';
  const size = Math.abs(value);
  if (size >= 1e6 || size < 1e-4) {
    const digits = Math.max(0, Math.min(4, Math.floor(Math.log10(size) + 1e-9) - Math.floor(Math.log10(step) + 1e-9)));
    return value.toExponential(digits).replace('e+', 'e');
  }
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toFixed(decimals);
}

/** A value for a table or a cell: up to `digits` significant digits, '–' for null. */
export function formatValue(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const size = Math.abs(value);
  if (size >= 1e6 || size < 1e-4) return value.toExponential(digits - 1).replace('e+', 'e');
  return Number(value.toPrecision(digits)).toString();
}

/** Rough width of a label in the charts' 12 px sans-serif font, for layout without a DOM. */
export function textWidth(text: string, fontSize = 12): number {
  return text.length * fontSize * 0.58;
}

/** Smallest and largest value, by a loop: spreading a long series into Math.min overflows the stack. */
export function extent(values: Iterable<number>): [number, number] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  return [low, high];
}
