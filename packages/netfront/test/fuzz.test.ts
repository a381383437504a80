import { describe, expect, it } from "vitest";
import { fuzzNetfront } from "./fuzz.js";

/** Ring steps per CI run (deterministic: fixed seeds). `pnpm --filter @pvnet/netfront fuzz --steps N` soaks longer. */
const CI_STEPS = Number(process.env.NETFRONT_FUZZ_STEPS ?? 150_000);

describe("netfront fuzz: a seeded malicious backend", () => {
  it(`${CI_STEPS} ring steps: no exception escapes, memory bounded, nothing leaked at any disconnect`, () => {
    const r = fuzzNetfront(0x5eed_0001, CI_STEPS);
    expect(r.steps).toBe(CI_STEPS);
    // The fuzzer reaches both outcomes: packets delivered and devices disabled (then reconnected).
    expect(r.episodes).toBeGreaterThan(1);
    expect(r.broken).toBeGreaterThan(0);
    // Both rings stay exercised across reconnects (a channel left masked would starve them).
    expect(r.delivered).toBeGreaterThan(CI_STEPS / 300);
    expect(r.rxErrors).toBeGreaterThan(CI_STEPS / 30);
    expect(r.txPackets).toBeGreaterThan(CI_STEPS / 30);
  });

  it(`${CI_STEPS / 3} ring steps with persistent grants: every RX pool page back in the pool between packets`, () => {
    const steps = Math.floor(CI_STEPS / 3);
    const r = fuzzNetfront(0x5eed_0003, steps, { persistent: true });
    expect(r.steps).toBe(steps);
    expect(r.episodes).toBeGreaterThan(1);
    expect(r.broken).toBeGreaterThan(0);
    expect(r.delivered).toBeGreaterThan(steps / 300);
    expect(r.rxErrors).toBeGreaterThan(steps / 30);
    expect(r.rxPersistentExtraCopies).toBeGreaterThan(0);
  });

  it(`${CI_STEPS / 3} ring steps with build_skb RX and an XDP program that also throws and returns garbage`, () => {
    const steps = Math.floor(CI_STEPS / 3);
    const r = fuzzNetfront(0x5eed_0002, steps, { rxBuildSkb: true, xdp: true });
    expect(r.steps).toBe(steps);
    expect(r.episodes).toBeGreaterThan(1);
    expect(r.broken).toBeGreaterThan(0);
    expect(r.rxErrors).toBeGreaterThan(steps / 30);
    // The new paths were reached: skbs built around pages, programs run, frames reflected, aborts.
    expect(r.rxBuildSkb).toBeGreaterThan(0);
    expect(r.xdpPackets).toBeGreaterThan(0);
    expect(r.xdpTx).toBeGreaterThan(0);
    expect(r.xdpAborted).toBeGreaterThan(0);
  });
});
