/**
 * Seeded pseudo-random numbers with an integer API (TigerBeetle/VOPR style): no floats leak into
 * decisions, probabilities are ratios, and the whole state is four 32-bit words, so a run replays
 * bit for bit from its seed.
 *
 * Generator: xoshiro128** (Blackman & Vigna), seeded through splitmix32.
 */

/** A probability as a ratio of two non-negative integers, `numerator <= denominator`. */
export interface Ratio {
  readonly numerator: number;
  readonly denominator: number;
}

/** A probability as an exact fraction `numerator / denominator` (0 .. 1), so draws are reproducible bit for bit. */
export function ratio(numerator: number, denominator: number): Ratio {
  if (!Number.isInteger(numerator) || !Number.isInteger(denominator) || denominator <= 0 || numerator < 0 || numerator > denominator) {
    throw new RangeError(`invalid ratio ${numerator}/${denominator}`);
  }
  return Object.freeze({ numerator, denominator });
}

function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [s, (z ^ (z >>> 16)) >>> 0];
}

/** Hash a label to 32 bits (FNV-1a), used to derive named sub-streams. */
export function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The model's deterministic PRNG: a seeded generator whose streams can be forked by name, so one
 * consumer's draws never shift another's.
 */
export class Prng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The seed this stream was created from (for logs and replays). */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed must be a 32-bit unsigned integer, got ${seed}`);
    }
    this.seed = seed;
    let st = seed >>> 0;
    let out: number;
    [st, out] = splitmix32(st);
    this.s0 = out;
    [st, out] = splitmix32(st);
    this.s1 = out;
    [st, out] = splitmix32(st);
    this.s2 = out;
    [, out] = splitmix32(st);
    this.s3 = out;
    // xoshiro must not start from the all-zero state.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform integer in [0, bound), without modulo bias (Lemire's rejection). `bound` ≤ 2^32. */
  below(bound: number): number {
    if (!Number.isInteger(bound) || bound <= 0 || bound > 0x100000000) throw new RangeError(`bad bound ${bound}`);
    if (bound === 0x100000000) return this.nextU32();
    const threshold = (0x100000000 - bound) % bound;
    for (;;) {
      const x = this.nextU32();
      // x * bound as a 64-bit product, split to stay exact in doubles.
      const lo = (x & 0xffff) * bound;
      const hi = (x >>> 16) * bound + Math.floor(lo / 0x10000);
      const low32 = ((hi & 0xffff) * 0x10000 + (lo & 0xffff)) >>> 0;
      if (low32 >= threshold) return Math.floor(hi / 0x10000);
    }
  }

  /** Uniform integer in [min, max] (both inclusive). */
  range(min: number, max: number): number {
    if (max < min) throw new RangeError(`empty range [${min}, ${max}]`);
    return min + this.below(max - min + 1);
  }

  /** True with probability `p.numerator / p.denominator`. */
  chance(p: Ratio): boolean {
    if (p.numerator === 0) return false;
    if (p.numerator >= p.denominator) return true;
    return this.below(p.denominator) < p.numerator;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty array");
    return items[this.below(items.length)] as T;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * An independent stream derived from this one's seed and a label, so adding draws in one
   * component does not shift the draws of another (faults, workloads and scheduling each fork).
   */
  fork(label: string): Prng {
    return new Prng((Math.imul(this.seed ^ 0x5bd1e995, 0x01000193) ^ hashLabel(label)) >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
