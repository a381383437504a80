import { CostModel, deriveHost } from "@pvnet/sim";
import { describe, expect, test } from "vitest";
import { DEFAULT_PROFILE, HOST_A, HOST_B, HOST_PROFILES, XEON_E5_1650V2 } from "../src/index.js";

describe("host profiles", () => {
  test("every unit cost of host A says where it comes from", () => {
    for (const [kind, c] of Object.entries(HOST_A.costs)) {
      expect(c.source, kind).toMatch(/^(cited|derivation|microbenchmark)/);
    }
    expect(HOST_A.cpu).toMatchObject({ clockGhz: 3.5, pcpus: 6 });
  });

  test("hostA answers to its old name, hostB to its CPU's; hostA is the default", () => {
    expect(HOST_PROFILES.hostA).toBe(HOST_A);
    expect(HOST_PROFILES["xeon-e5-1650v2"]).toBe(HOST_A);
    expect(XEON_E5_1650V2).toBe(HOST_A);
    expect(HOST_PROFILES.hostB).toBe(HOST_B);
    expect(HOST_PROFILES["xeon-e5-2697v2"]).toBe(HOST_B);
    expect(DEFAULT_PROFILE).toBe(HOST_A);
  });

  test("hostB is host A by clock, cores and caches only: cycles scale, DRAM and IPI round trips stay", () => {
    expect(HOST_B.cpu).toMatchObject({ clockGhz: 2.7, pcpus: 12 });
    expect(Object.keys(HOST_B.costs)).toEqual(Object.keys(HOST_A.costs));
    const k = 3.5 / 2.7;
    for (const [kind, a] of Object.entries(HOST_A.costs)) {
      const b = HOST_B.costs[kind]!;
      expect(b.fixedNs, kind).toBeCloseTo(a.clockBound === false ? a.fixedNs : a.fixedNs * k, 9);
      for (const [level, v] of Object.entries(a.perUnitNsByLevel ?? {})) {
        expect(b.perUnitNsByLevel?.[level as "l1"], `${kind} ${level}`).toBeCloseTo(level === "dram" ? v : v * k, 9);
      }
      expect(b.source).toContain(`derived from hostA`);
    }
  });

  test("a per-byte cost by cache level follows the size, and the derived host's larger L3", () => {
    const a = new CostModel(HOST_A);
    const b = new CostModel(HOST_B);
    const mb = 1 << 20;
    const l3 = HOST_A.costs.memcpy?.perUnitNsByLevel?.l3 as number;
    const dram = HOST_A.costs.memcpy?.perUnitNsByLevel?.dram as number;
    const fixed = HOST_A.costs.memcpy?.fixedNs as number;
    expect(a.cost("memcpy", 8 * mb)).toBeCloseTo(fixed + l3 * 8 * mb, 6);
    expect(a.cost("memcpy", 16 * mb)).toBeCloseTo(fixed + dram * 16 * mb, 6);
    // 16 MiB fits host B's 30 MiB L3.
    expect(b.cost("memcpy", 16 * mb)).toBeCloseTo((fixed + l3 * 16 * mb) * (3.5 / 2.7), 3);
  });

  test("deriving needs a base with a cpu; a level without cache sizes is refused", () => {
    expect(() => deriveHost({ name: "x", costs: {} }, { name: "y", description: "", clockGhz: 1, pcpus: 1, caches: { l1: 1, l2: 2, l3: 3 } })).toThrow(/no cpu/);
    expect(() => new CostModel({ name: "x", costs: { m: { fixedNs: 0, perUnitNsByLevel: { l1: 1, dram: 2 } } } })).toThrow(/no cache sizes/);
  });
});
