import { describe, expect, it } from "vitest";
import { runXenstoreFuzz } from "./fuzz.js";

/**
 * Seeds and steps run on every `pnpm test` (about 2 s on an idle core); the soak is `pnpm fuzz --steps N`.
 * XENSTORE_FUZZ_STEPS overrides the steps per seed.
 */
const SEEDS = [1, 2, 3];
const STEPS = Number(process.env.XENSTORE_FUZZ_STEPS ?? 10_000);

describe("xenstore fuzzer", () => {
  for (const seed of SEEDS) {
    it(`seed=${seed}: guests and dom0 at random never break an invariant`, () => {
      const stats = runXenstoreFuzz({ seed, steps: STEPS });
      // The run reached the interesting places: quotas, releases, the wire, conflicts, drops.
      expect(stats.errors.EQUOTA).toBeGreaterThan(0);
      expect(stats.errors.EACCES).toBeGreaterThan(0);
      expect(stats.errors.EAGAIN).toBeGreaterThan(0);
      expect(stats.releases).toBeGreaterThan(0);
      expect(stats.wireFrames).toBeGreaterThan(0);
      expect(stats.droppedWatchEvents).toBeGreaterThan(0);
      expect(stats.ok).toBeGreaterThan(STEPS / 10);
    });
  }

  it("is deterministic for a seed", () => {
    expect(runXenstoreFuzz({ seed: 42, steps: 2000 })).toEqual(runXenstoreFuzz({ seed: 42, steps: 2000 }));
  });
});
