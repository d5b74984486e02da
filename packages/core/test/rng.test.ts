import { describe, expect, it } from 'vitest';
import { Rng } from '../src/index';

describe('Rng', () => {
  it('is determined by its seed and differs between seeds', () => {
    const a = Rng.fromSeed(42);
    const b = Rng.fromSeed(42);
    const c = Rng.fromSeed(43);
    const draws = (r: Rng) => Array.from({ length: 5 }, () => r.next());
    const first = draws(a);
    expect(draws(b)).toEqual(first);
    expect(draws(c)).not.toEqual(first);
  });

  // xoshiro128** written a second way, on BigInts masked to 32 bits, as the reference C code reads.
  function reference(state: readonly number[]): () => number {
    const s = state.map(BigInt);
    const mask = 0xffffffffn;
    const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & mask;
    return () => {
      const result = (rotl((s[1]! * 5n) & mask, 7n) * 9n) & mask;
      const t = (s[1]! << 9n) & mask;
      s[2]! ^= s[0]!;
      s[3]! ^= s[1]!;
      s[1]! ^= s[2]!;
      s[0]! ^= s[3]!;
      s[2]! ^= t;
      s[3] = rotl(s[3]!, 11n);
      return Number(result);
    };
  }

  it('is xoshiro128**: from state (1, 2, 3, 4) the first draw is rotl(2·5, 7)·9 = 11520, and 5000 draws from states with high bits set match a BigInt reference', () => {
    expect(Rng.fromState([1, 2, 3, 4]).nextUint32()).toBe(11520);
    for (const state of [[1, 2, 3, 4], [0xffffffff, 0x80000000, 0x7fffffff, 0xdeadbeef], Rng.fromSeed(99).state()]) {
      const rng = Rng.fromState(state as [number, number, number, number]);
      const next = reference(state);
      for (let i = 0; i < 5000; i++) expect(rng.nextUint32()).toBe(next());
      // The stored state stays four unsigned 32-bit integers.
      expect(rng.state().every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)).toBe(true);
    }
  });

  it('continues the same stream from a stored state (JSON round trip)', () => {
    const rng = Rng.fromSeed(7);
    rng.next();
    const restored = Rng.fromState(JSON.parse(JSON.stringify(rng.state())));
    expect(Array.from({ length: 10 }, () => restored.nextUint32())).toEqual(Array.from({ length: 10 }, () => rng.nextUint32()));
    expect(() => Rng.fromState([1, 2, 3] as never)).toThrowError(/four unsigned 32-bit integers/);
  });

  it('draws uniform and normal values with the right moments', () => {
    const rng = Rng.fromSeed(1);
    const n = 20000;
    const u = Array.from({ length: n }, () => rng.next());
    const z = Array.from({ length: n }, () => rng.normal());
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.01); // 4σ of the mean is 0.008
    expect(Math.abs(mean(z))).toBeLessThan(0.03);
    expect(Math.abs(mean(z.map((x) => x * x)) - 1)).toBeLessThan(0.04);
  });

  it('permutation is a permutation, and int stays in range', () => {
    const rng = Rng.fromSeed(3);
    const p = rng.permutation(50);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (let i = 0; i < 1000; i++) {
      const k = rng.int(7);
      expect(k >= 0 && k < 7 && Number.isInteger(k)).toBe(true);
    }
    expect(() => rng.int(0)).toThrowError(/positive integer/);
  });
});
