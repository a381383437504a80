import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { type RunReport, runDomuDom0 } from "../src/topology/domu-dom0.js";
import { expectAllDelivered, expectCleanTeardown } from "./expect.js";

/** Grant ops of a run by kind (ops, not calls): ring maps at connect included. */
function grantOps(r: RunReport) {
  const ops = (op: string) => r.hypercalls.byOp[`grant_table_op:${op}`]?.ops ?? 0;
  return { copy: ops("copy"), map: ops("map_grant_ref"), unmap: ops("unmap_grant_ref") };
}

/** Slots (grant pages) a frame of `pktSize` takes with persistent grants: 4 KiB each. */
const slotsOf = (pktSize: number) => Math.ceil(pktSize / 4096);

describe("persistent grants, DomU -> Dom0 (guest TX)", () => {
  test.each([
    [64, 600],
    [1496, 600],
    [65535, 60],
  ])("%i-byte frames all arrive byte-exact, every slot looked up in netback's tree", async (pktSize, packets) => {
    const r = await runDomuDom0({ seed: 7, direction: "tx", pktSize, packets, persistent: true });
    expect(r.persistent).toBe(true);
    expect(r.counters.persistent_grants).toBe(1);
    expectAllDelivered(r, packets);
    const c = r.counters;
    // Every slot of every packet is one lookup; misses are mapped into the tree once each.
    expect(c.persistent_tx_hits! + c.persistent_tx_misses!).toBe(packets * slotsOf(pktSize));
    expect(c.persistent_tx_maps_added).toBe(c.persistent_tx_misses);
    expect(c.persistent_tx_misses).toBeLessThanOrEqual(256); // at most the frontend's pool
    expect(c.persistent_tx_fallbacks).toBe(0);
    expect(c.model_tx_map_ops).toBe(0); // no per-packet frag maps
    // Netfront copied every byte into its pool and granted nothing per packet.
    expect(r.frontend.txPersistentCopyBytes).toBe(packets * pktSize);
    expectCleanTeardown(r);
  });

  test("after warm-up no grant copy, map or unmap per packet: more packets, the same grant ops", async () => {
    // Warm-up lasts until every buffer the frontend cycles through is in the tree: up to a ring's
    // worth when the ring is kept busy (netback takes the requests in batches).
    for (const [pktSize, fewPackets] of [
      [64, 600],
      [1496, 600],
      [65535, 100],
    ] as const) {
      const few = await runDomuDom0({ seed: 11, direction: "tx", pktSize, packets: fewPackets, persistent: true });
      const many = await runDomuDom0({ seed: 11, direction: "tx", pktSize, packets: fewPackets + 300, persistent: true });
      expectAllDelivered(many, fewPackets + 300);
      expect(grantOps(many)).toEqual(grantOps(few));
      expect(grantOps(many).unmap).toBe(0); // nothing is unmapped while connected: no TLB flush
      // The extra 300 packets were all tree hits.
      expect(many.counters.persistent_tx_hits! - few.counters.persistent_tx_hits!).toBe(300 * slotsOf(pktSize));
      expect(many.counters.persistent_tx_misses).toBe(few.counters.persistent_tx_misses);
    }
    // The baseline, for contrast, copies a header per packet.
    const base = await runDomuDom0({ seed: 11, direction: "tx", pktSize: 1496, packets: 400 });
    expect(base.persistent).toBe(false);
    expect(grantOps(base).copy).toBe(400);
    expect(grantOps(base).map).toBe(400 + 2);
  });
});

describe("persistent grants, Dom0 -> DomU (guest RX)", () => {
  test.each([
    [64, 600],
    [1496, 600],
    [65535, 60],
  ])("%i-byte frames all arrive byte-exact; netback memcpys into mapped guest pages", async (pktSize, packets) => {
    const r = await runDomuDom0({ seed: 8, direction: "rx", pktSize, packets, persistent: true });
    expectAllDelivered(r, packets);
    expect(r.frontend.rxPackets).toBe(packets);
    const c = r.counters;
    expect(c.persistent_rx_hits).toBeGreaterThan(0);
    expect(c.persistent_rx_maps_added).toBeLessThanOrEqual(256); // bounded by the tree
    expect(c.persistent_rx_maps_added! + c.persistent_rx_fallbacks!).toBeGreaterThan(0);
    // Only misses are grant-copied.
    expect(c.model_rx_copy_ops).toBe(c.persistent_rx_misses);
    // What the start_xmit copy avoids: nothing went through rx_queue and the kthread's wait queue.
    if (c.model_rx_start_xmit_fallbacks === 0) expect(c.model_rx_queue_lock_bounces! + c.model_rx_wq_lock_bounces!).toBe(0);
    // The known RX regression: packets above RX_COPY_THRESHOLD cost netfront an extra copy.
    if (pktSize > 256) {
      expect(r.frontend.rxPersistentExtraCopies).toBe(packets);
      expect(r.frontend.rxPersistentCopyBytes).toBe(packets * (pktSize - 256));
    } else expect(r.frontend.rxPersistentExtraCopies).toBe(0);
    expectCleanTeardown(r);
  });

  test("the baseline bounces rx_queue.lock and the wait queue's lock between pktgen's CPU and the RX kthread's", async () => {
    const base = await runDomuDom0({ seed: 8, direction: "rx", pktSize: 64, packets: 2000 });
    expectAllDelivered(base, 2000);
    const c = base.counters;
    expect(c.model_rx_start_xmit_copies).toBe(0);
    expect(c.model_rx_queue_lock_bounces).toBeGreaterThan(0);
    expect(c.model_rx_wq_lock_bounces).toBeGreaterThan(0);
    // A line crosses at most once per take: a tail and a dequeue per packet, and the kthread's
    // wait-queue takes (one per sleep and one per wake-up) besides a wake_up per packet.
    expect(c.model_rx_queue_lock_bounces).toBeLessThanOrEqual(2 * 2000);
    expectCleanTeardown(base);
  });

  test("once every pool page is mapped, more packets add no grant copy", async () => {
    const few = await runDomuDom0({ seed: 12, direction: "rx", pktSize: 1496, packets: 600, persistent: true });
    const many = await runDomuDom0({ seed: 12, direction: "rx", pktSize: 1496, packets: 1200, persistent: true });
    expectAllDelivered(many, 1200);
    expect(few.counters.persistent_rx_maps_added).toBe(256);
    expect(grantOps(many).copy).toBe(grantOps(few).copy);
    expect(grantOps(many).map).toBe(grantOps(few).map);
  });
});

describe("negotiation", () => {
  test.each([
    ["frontend only", { frontend: true }],
    ["backend only", { backend: true }],
  ] as const)("%s: the baseline copy/map path is used", async (_name, persistent) => {
    for (const direction of ["tx", "rx"] as const) {
      const r = await runDomuDom0({ seed: 5, direction, pktSize: 1496, packets: 200, persistent });
      expect(r.persistent).toBe(false);
      expectAllDelivered(r, 200);
      expect(r.counters.persistent_grants).toBe(0);
      expect(r.counters.persistent_tx_hits! + r.counters.persistent_tx_misses! + r.counters.persistent_rx_hits! + r.counters.persistent_rx_misses!).toBe(0);
      expect(r.frontend.txPersistentCopyBytes! + r.frontend.rxPersistentCopyBytes!).toBe(0);
      if (direction === "tx") expect(r.counters).toMatchObject({ model_tx_copy_ops: 200, model_tx_map_ops: 200 });
      else expect(r.counters.model_rx_copy_ops).toBe(200);
      expectCleanTeardown(r);
    }
  });

  test("two queues with persistent grants each way: every packet delivered, nothing left", async () => {
    for (const direction of ["tx", "rx"] as const) {
      const r = await runDomuDom0({ seed: 10, direction, pktSize: 512, packets: 400, queues: 2, persistent: true });
      expect(r.queues).toBe(2);
      expectAllDelivered(r, 400);
      expectCleanTeardown(r);
    }
  });
});

describe("pvnet run --persistent", () => {
  test("reports persistent: true with the vif's tree counters; without the flag persistent: false", () => {
    const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
    const run = (...extra: string[]) =>
      JSON.parse(
        execFileSync(process.execPath, [bin, "run", "--direction", "tx", "--pkt-size", "1496", "--packets", "200", "--json", ...extra], {
          encoding: "utf8",
          cwd: REPO_ROOT,
        }),
      ) as RunReport;
    const on = run("--persistent");
    expect(on.persistent).toBe(true);
    expect(on.packetsDelivered).toBe(200);
    expect(on.counters.persistent_grants).toBe(1);
    expect(on.counters.persistent_tx_hits).toBeGreaterThan(0);
    const off = run();
    expect(off.persistent).toBe(false);
    expect(off.counters.persistent_grants).toBe(0);
  });
});
