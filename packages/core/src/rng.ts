import { MtlError } from './errors';
/**
 * The whole state of an {@link Rng}: four unsigned 32-bit integers. It survives JSON,
 * so a plugin can keep it in its serialisable state and a checkpoint can restore the exact stream.
 */
export type RngState = readonly [number, number, number, number];

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * A small seeded generator (xoshiro128**, Blackman & Vigna 2018) whose whole state is four
 * 32-bit integers, so a plugin can keep it in its serialisable state and a checkpoint can restore
 * the exact stream. Seeding goes through splitmix32. Not for cryptography.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(state: RngState) {
    // Held as int32 (the same bits): V8 keeps small integers unboxed in an object's fields, while
    // an unsigned value of 2³¹ or more is a heap number, allocated on every write (a draw took
    // about 60 ns that way, several times its arithmetic).
    [this.s0, this.s1, this.s2, this.s3] = state.map((s) => s | 0) as [number, number, number, number];
  }

  /** A generator seeded from any finite number (its integer part is used). */
  static fromSeed(seed: number): Rng {
    const next = splitmix32(Math.trunc(seed) ^ Math.trunc(seed / 2 ** 32));
    const state: [number, number, number, number] = [next(), next(), next(), next()];
    if (state.every((s) => s === 0)) state[0] = 1;
    return new Rng(state);
  }

  /**
   * A generator that continues the stream `state` was taken from (see `state()`).
   *
   * @throws MtlError `BAD_CONFIG` when `state` is not four unsigned 32-bit integers.
   */
  static fromState(state: RngState): Rng {
    if (!Array.isArray(state) || state.length !== 4 || state.some((s) => !Number.isInteger(s) || s < 0 || s > 0xffffffff)) {
      throw new MtlError('BAD_CONFIG', `RNG state must be four unsigned 32-bit integers, got ${JSON.stringify(state)}`, { received: state });
    }
    return new Rng(state);
  }

  /** The state to store; `Rng.fromState(rng.state())` continues the same stream. */
  state(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), 53 random bits. */
  next(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.next();
  }

  /** An integer uniform in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new MtlError('BAD_CONFIG', `int(n) needs a positive integer n, got ${n}`, { received: n });
    return Math.floor(this.next() * n);
  }

  /** Standard normal, Box–Muller (one draw per call; the pair's second value is discarded). */
  normal(mean = 0, std = 1): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A fresh seed for a child generator; advances this one. */
  nextSeed(): number {
    return this.nextUint32();
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
