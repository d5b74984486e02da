import { describe, expect, it } from 'vitest';
import { interleave, ratio, summarise } from './stats';

describe('summarise', () => {
  it('gives the median (mean of the middle two for an even count), min, max and n', () => {
    expect(summarise([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, n: 3 });
    expect(summarise([4, 1, 3, 10])).toEqual({ median: 3.5, min: 1, max: 10, n: 4 });
    expect(summarise([]).n).toBe(0);
    expect(ratio(summarise([2, 2]), summarise([1]))).toBe(2);
    expect(ratio(summarise([]), summarise([1]))).toBeNaN();
  });
});

describe('interleave', () => {
  it('warms both up unmeasured, then alternates which runs first (ABBA) and times each call', async () => {
    const calls: string[] = [];
    let clock = 0;
    const result = await interleave(
      () => void (calls.push('a'), (clock += 2)),
      () => void (calls.push('b'), (clock += 5)),
      { steps: 4, warmup: 1, now: () => clock },
    );
    expect(calls.join('')).toBe('ab' + 'ab' + 'ba' + 'ab' + 'ba');
    expect(result).toEqual({ a: [2, 2, 2, 2], b: [5, 5, 5, 5] });
  });
});
