/**
 * Batching as a busy host does it, emerging from the timing: pktgen keeps the ring busy, the
 * consumer's VCPU is busy when new requests arrive, so its next NAPI poll (or kthread run) finds
 * many of them, the ring's event indices suppress notifications, and one GNTTABOP_copy carries
 * many ops. Nothing sets a batch size.
 */
import { describe, expect, test } from "vitest";
import { type RunReport, runDomuDom0 } from "../src/topology/domu-dom0.js";
import { expectCleanTeardown, expectClonesDelivered } from "./expect.js";

const PACKETS = 2000;

const perPacket = (r: RunReport, op: string) => (r.hypercalls.byOp[op]?.calls ?? 0) / r.packetsDelivered;

describe("batching under load, 64-byte frames, pktgen with clone_skbs", () => {
  test.each(["tx", "rx"] as const)("%s: fewer than one notification and one grant-copy hypercall per packet, byte-exact", async (direction) => {
    const r = await runDomuDom0({ seed: 5, direction, pktSize: 64, packets: PACKETS, cloneSkbs: 100_000 });
    expectClonesDelivered(r, PACKETS);
    expectCleanTeardown(r);
    const sends = perPacket(r, "event_channel_op:send");
    const copies = perPacket(r, "grant_table_op:copy");
    expect(sends).toBeLessThan(1);
    expect(copies).toBeLessThan(1);
    // Many ops per copy hypercall: the batch grew from the ring's backlog.
    const copy = r.hypercalls.byOp["grant_table_op:copy"];
    expect((copy?.ops ?? 0) / (copy?.calls ?? 1)).toBeGreaterThan(4);
    expect(r.hypercalls.entries / r.packetsDelivered).toBeLessThan(0.5);
  });

  test("a lone packet at a time (a one-frame window) is sent, notified and copied alone", async () => {
    const r = await runDomuDom0({ seed: 5, direction: "tx", pktSize: 64, packets: 200, cloneSkbs: 100_000, windowBytes: 64 });
    expectClonesDelivered(r, 200);
    expect(perPacket(r, "grant_table_op:copy")).toBeGreaterThanOrEqual(1);
    expect(perPacket(r, "event_channel_op:send")).toBeGreaterThanOrEqual(1);
  });
});
