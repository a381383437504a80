import { SEED5_WORST_CASE, SEED5_WORST_CASE_SLOTS, skbDescLen } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { defaultLayout, type RunReport, runDomuDom0 } from "../src/topology/domu-dom0.js";
import { expectAllDelivered, expectCleanTeardown } from "./expect.js";

/** Copy and map ops of the guest-TX path (ring pages are mapped at connect: 2 map ops). */
function txGrantOps(r: RunReport) {
  return { copy: r.counters.model_tx_copy_ops, map: r.counters.model_tx_map_ops, ringMaps: (r.hypercalls.byOp["grant_table_op:map_grant_ref"]?.ops ?? 0) - r.counters.model_tx_map_ops! };
}

describe("DomU -> Dom0 (guest TX through netfront and netback)", () => {
  test.each([
    [64, 1000],
    [1496, 1000],
    [65535, 120],
  ])("%i-byte frames all arrive byte-exact; one header copy per packet, maps only beyond 128 bytes", async (pktSize, packets) => {
    const r = await runDomuDom0({ seed: 7, direction: "tx", pktSize, packets });
    expectAllDelivered(r, packets);
    expect(r.counters.rx_packets).toBe(packets);
    const ops = txGrantOps(r);
    expect(ops.ringMaps).toBe(2);
    if (pktSize === 64) {
      expect(ops).toMatchObject({ copy: packets, map: 0 }); // the whole frame is the copied header
    } else if (pktSize === 1496) {
      expect(ops).toMatchObject({ copy: packets, map: packets }); // 128 copied, the rest of the slot mapped
    } else {
      // GSO: 70 linear bytes + 58 from the first frag are copied (two slots), every frag slot
      // holding bytes beyond 128 is mapped: 16 slots of 4 KiB pages for two 32 KiB frags.
      expect(r.frontend.txExtras).toBe(packets); // the GSO extra-info slot
      expect(ops).toMatchObject({ copy: 2 * packets, map: 16 * packets });
      expect(r.counters.model_tx_header_multi_slot).toBe(packets);
    }
    expectCleanTeardown(r);
  });

  test("the 51-slot worst-case skb is straightened by netfront and arrives intact", async () => {
    const pktSize = skbDescLen(SEED5_WORST_CASE);
    expect(SEED5_WORST_CASE_SLOTS).toBe(51);
    const r = await runDomuDom0({ seed: 3, direction: "tx", pktSize, packets: 20, layout: SEED5_WORST_CASE });
    expectAllDelivered(r, 20);
    expect(r.frontend.txLinearized).toBe(20);
    expect(r.frontend.txDropped).toBe(0);
    expect(r.frontend.txRequests).toBeLessThanOrEqual(20 * 18);
    expectCleanTeardown(r);
  });

  test("a first slot shorter than 128 bytes: header copied from several slots, or pull-tail in first-slot mode", async () => {
    const layout = { linearLen: 40, frags: [{ size: 1000, offset: 0, order: 0 }] };
    const multi = await runDomuDom0({ seed: 4, direction: "tx", pktSize: 1040, packets: 50, layout });
    expectAllDelivered(multi, 50);
    expect(multi.counters.model_tx_header_multi_slot).toBe(50);
    expect(multi.counters.model_tx_copy_ops).toBe(100); // 40 bytes from slot 0, 88 from slot 1
    expect(multi.counters.model_tx_pull_tail).toBe(0);
    const first = await runDomuDom0({ seed: 4, direction: "tx", pktSize: 1040, packets: 50, layout, headerCopy: "first-slot" });
    expectAllDelivered(first, 50);
    expect(first.counters.model_tx_pull_tail).toBe(50);
    expect(first.counters.model_tx_copy_ops).toBe(50); // only the first slot is copied
    expectCleanTeardown(first);
  });

  test("copy and map batches can share one multicall", async () => {
    const r = await runDomuDom0({ seed: 5, direction: "tx", pktSize: 1496, packets: 200, txHypercalls: "multicall" });
    expectAllDelivered(r, 200);
    expect(r.hypercalls.multicalls).toBeGreaterThan(0);
    expect(r.hypercalls.multicalls).toBeLessThanOrEqual(200);
  });
});

describe("Dom0 -> DomU (guest RX through netback and netfront)", () => {
  test.each([
    [64, 1000],
    [1496, 1000],
    [65535, 120],
  ])("%i-byte frames all arrive byte-exact", async (pktSize, packets) => {
    const r = await runDomuDom0({ seed: 8, direction: "rx", pktSize, packets });
    expectAllDelivered(r, packets);
    expect(r.frontend.rxPackets).toBe(packets);
    expect(r.counters.tx_packets).toBe(packets);
    expectCleanTeardown(r);
  });

  test("pktgen-like sending without a window: netback drops what finds its queue full, as Linux does", async () => {
    const r = await runDomuDom0({ seed: 9, direction: "rx", pktSize: 1496, packets: 2000, windowBytes: 0 });
    expect(r.corrupt).toBe(0);
    expect(r.packetsDelivered + r.counters.tx_dropped!).toBe(2000);
    expectCleanTeardown(r);
  });
});

describe("multi-queue and reproducibility", () => {
  test("two queues carry four flows each way, every packet delivered", async () => {
    for (const direction of ["tx", "rx"] as const) {
      const r = await runDomuDom0({ seed: 10, direction, pktSize: 512, packets: 400, queues: 2 });
      expect(r.queues).toBe(2);
      expectAllDelivered(r, 400);
      expectCleanTeardown(r);
    }
  });

  test("the same (scenario, seed) replays bit for bit", async () => {
    const strip = ({ wall: _w, ...rest }: RunReport) => rest;
    const a = await runDomuDom0({ seed: 21, direction: "tx", pktSize: 300, packets: 300, queues: 2 });
    const b = await runDomuDom0({ seed: 21, direction: "tx", pktSize: 300, packets: 300, queues: 2 });
    expect(strip(b)).toEqual(strip(a));
    expect(a.traceDigest).toMatch(/^[0-9a-f]{16}$/);
  });

  test("bad options are refused with a clear error", async () => {
    await expect(runDomuDom0({ seed: 1, direction: "tx", pktSize: 10, packets: 1 })).rejects.toThrow(RangeError);
    await expect(runDomuDom0({ seed: 1, direction: "tx", pktSize: 64, packets: 1, queues: 9 })).rejects.toThrow(/queues/);
    expect(defaultLayout(65535).gso).toBeDefined();
  });
});
