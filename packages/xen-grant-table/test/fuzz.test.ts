import { describe, expect, test } from "vitest";
import { runGrantTableFuzz } from "./fuzz.js";

/** Seeds and steps per CI run: a few seconds in all; `pnpm fuzz --steps N` soaks longer. */
const SEEDS = [1, 2, 3, 4];
const STEPS = 2000;

describe("grant-table fuzzer (3 domains x 2 VCPUs, hostile refs, domids, flags, offsets, lengths)", () => {
  test.each(SEEDS)("seed %i: only GNTST codes, canaries intact, pins and handles balanced, nothing leaked", (seed) => {
    const r = runGrantTableFuzz(seed, STEPS);
    // The run did reach the interesting paths, not only refusals.
    expect(r.okMaps).toBeGreaterThan(50);
    expect(r.okCopies).toBeGreaterThan(50);
    expect(Object.keys(r.statuses).length).toBeGreaterThan(5);
  });
});
