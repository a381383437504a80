import { expect, test } from "vitest";
import { runNetbackFuzz } from "./fuzz.js";

/**
 * The CI size of the netback fuzzer (`pnpm --filter @pvnet/netback fuzz --steps N --seed S` runs
 * a soak). A failure's message starts with `seed=<seed> step=<n>`, which replays it.
 */
const CI_STEPS = 250_000;

test("netback fuzz: a seeded malicious frontend never makes netback throw, leak or stop the other vif", () => {
  const r = runNetbackFuzz({ seed: 0x5eed, steps: CI_STEPS });
  expect(r.ringSteps).toBeGreaterThanOrEqual(CI_STEPS);
  // The run did exercise what it claims to: good frames, reconnects after fatal errors, RX offers.
  expect(r.goodFrames).toBeGreaterThan(100);
  expect(r.fatal).toBeGreaterThan(0);
  expect(r.reconnects).toBeGreaterThan(r.fatal - 1);
  expect(r.rxOffered).toBeGreaterThan(0);
}, 120_000);
