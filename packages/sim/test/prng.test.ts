import { fc, test as propTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { Prng, ratio } from "../src/index.js";

describe("Prng", () => {
  test("the same seed gives the same sequence; another seed another", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 64 }, () => a.nextU32());
    const sb = Array.from({ length: 64 }, () => b.nextU32());
    const sc = Array.from({ length: 64 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    for (const v of sa) expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
  });

  propTest.prop([fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0x100000000 })])(
    "below(n) stays in [0, n)",
    (seed, bound) => {
      const p = new Prng(seed);
      for (let i = 0; i < 50; i++) {
        const v = p.below(bound);
        expect(Number.isInteger(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThan(bound);
      }
    },
  );

  test("below(6) is close to uniform over many draws", () => {
    const p = new Prng(7);
    const counts = new Array<number>(6).fill(0);
    const n = 60_000;
    for (let i = 0; i < n; i++) counts[p.below(6)]!++;
    for (const c of counts) expect(Math.abs(c - n / 6)).toBeLessThan(n / 6 / 10);
  });

  test("chance: 0/d never, d/d always, 1/4 about a quarter", () => {
    const p = new Prng(9);
    const never = ratio(0, 5);
    const always = ratio(5, 5);
    const quarter = ratio(1, 4);
    let hits = 0;
    let wrong = 0;
    for (let i = 0; i < 40_000; i++) {
      if (p.chance(never) || !p.chance(always)) wrong++;
      if (p.chance(quarter)) hits++;
    }
    expect(wrong).toBe(0);
    expect(Math.abs(hits - 10_000)).toBeLessThan(600);
  });

  test("ratio rejects nonsense", () => {
    expect(() => ratio(3, 2)).toThrow(RangeError);
    expect(() => ratio(1, 0)).toThrow(RangeError);
    expect(() => ratio(0.5, 2)).toThrow(RangeError);
    expect(() => new Prng(-1)).toThrow(RangeError);
  });

  test("range, pick and shuffle stay within their inputs", () => {
    const p = new Prng(3);
    for (let i = 0; i < 1000; i++) {
      const v = p.range(-5, 5);
      expect(v).toBeGreaterThanOrEqual(-5);
      expect(v).toBeLessThanOrEqual(5);
    }
    const items = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(items).toContain(p.pick(items));
    expect([...p.shuffle([...items])].sort()).toEqual(items);
    expect(() => p.pick([])).toThrow(RangeError);
  });

  test("forked streams are independent of draws on the parent", () => {
    const a = new Prng(5);
    const b = new Prng(5);
    b.nextU32();
    b.nextU32();
    const fa = a.fork("faults");
    const fb = b.fork("faults");
    expect(fa.nextU32()).toBe(fb.nextU32());
    expect(a.fork("x").nextU32()).not.toBe(a.fork("y").nextU32());
  });
});
