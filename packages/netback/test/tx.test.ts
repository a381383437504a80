import { NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_csum_blank } from "@pvnet/netif";
import { CHECKSUM_PARTIAL } from "@pvnet/skb-model";
import { OP_COPY, OP_MAP_GRANT_REF, OP_UNMAP_GRANT_REF } from "@pvnet/xen-grant-table";
import { describe, expect, test } from "vitest";
import { XEN_NETBACK_TX_COPY_LEN } from "../src/index.js";
import { makeFrame, makeTcpFrame, type SlotSpec, slotsOf, World } from "./harness.js";

function connected(options: ConstructorParameters<typeof World>[0] = {}) {
  const w = new World(options);
  const fe = w.frontend();
  w.run();
  expect(fe.vif.connected).toBe(true);
  return { w, fe };
}

/** Send one packet, run, and return the hypercall ops it took. */
function sendOne(w: World, fe: ReturnType<typeof connected>["fe"], frame: Uint8Array, slots: SlotSpec[], opts: { flags?: number; gsoSize?: number } = {}) {
  w.hv.stats.reset();
  fe.send(frame, slots, opts);
  w.run();
  const s = w.hv.stats;
  return { copy: s.get(OP_COPY), map: s.get(OP_MAP_GRANT_REF), unmap: s.get(OP_UNMAP_GRANT_REF), multicalls: s.multicalls };
}

describe("guest TX: header copy + frag map (mainline)", () => {
  test.each([
    [64, [64]],
    [1496, [1496]],
    [1496, [100, 1396]],
  ])("a %i-byte packet in slots %j arrives byte-exact; one copy op per slot of the 128-byte header, maps only beyond it", (len, sizes) => {
    const { w, fe } = connected();
    const frame = makeFrame(len, len);
    const slots = sizes.map((n) => ({ len: n }));
    const ops = sendOne(w, fe, frame, slots);
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    const r = w.received[0]!;
    // The linear area holds exactly min(len, 128) bytes; the rest is in mapped frags.
    expect(r.headlen).toBe(Math.min(len, XEN_NETBACK_TX_COPY_LEN));
    // One GNTTABOP_copy hypercall for the header; its ops are the slots the 128 bytes span.
    expect(ops.copy.calls).toBe(1);
    let start = 0;
    let headerSlots = 0;
    let mapped = 0;
    for (const n of sizes) {
      if (start < XEN_NETBACK_TX_COPY_LEN) headerSlots++;
      if (start + n > XEN_NETBACK_TX_COPY_LEN) mapped++;
      start += n;
    }
    expect(ops.copy.ops).toBe(headerSlots);
    // Maps: one per slot holding bytes beyond the first 128; none at all for a 64-byte packet.
    expect(ops.map.ops).toBe(mapped);
    expect(ops.map.calls).toBe(mapped > 0 ? 1 : 0);
    expect(r.nrFrags).toBe(mapped);
    // Every slot answered OKAY once the stack freed the skb and the slots were unmapped.
    const rsps = fe.txResponses();
    expect(rsps.map((x) => x.status)).toEqual(sizes.map(() => NETIF_RSP_OKAY));
    expect(ops.unmap.ops).toBe(mapped);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0 });
  });

  test("a 65535-byte GSO packet (extra info, 17 slots) arrives byte-exact with gso_size/segs and CHECKSUM_PARTIAL", () => {
    const { w, fe } = connected();
    const frame = makeTcpFrame(65535, 3);
    const slots = slotsOf(65535, 4096);
    expect(slots.length).toBe(16);
    const ops = sendOne(w, fe, frame, slots, { flags: NETTXF_csum_blank, gsoSize: 1448 });
    expect(w.received.length).toBe(1);
    const r = w.received[0]!;
    expect(r.bytes).toEqual(frame);
    expect(r.gsoSize).toBe(1448);
    // 14 + 20 + 20 bytes of headers; the rest cut in MSS-sized segments.
    expect(r.gsoSegs).toBe(Math.ceil((65535 - 54) / 1448));
    expect(r.ipSummed).toBe(CHECKSUM_PARTIAL);
    expect(ops.copy.ops).toBe(1);
    expect(ops.map.ops).toBe(16); // the first slot's remainder and the 15 others
    const rsps = fe.txResponses();
    // The first request, its extra (NETIF_RSP_NULL), then 15 more.
    expect(rsps.length).toBe(17);
    expect(rsps[1]!.status).toBe(NETIF_RSP_NULL);
    expect(rsps.filter((x) => x.status === NETIF_RSP_OKAY).length).toBe(16);
  });

  test("a GSO packet without csum_blank is fixed up (rx_gso_checksum_fixup) and its checksum field gets the pseudo-header sum", () => {
    const { w, fe } = connected();
    const frame = makeTcpFrame(3000, 4);
    sendOne(w, fe, frame, slotsOf(3000, 2000), { gsoSize: 1000 });
    const r = w.received[0]!;
    expect(fe.vif.counters().rx_gso_checksum_fixup).toBe(1);
    expect(r.ipSummed).toBe(CHECKSUM_PARTIAL);
    // Only the TCP checksum (bytes 50..51) changed: ~csum_tcpudp_magic(10.0.0.1, 10.0.0.2, 2966, TCP).
    let sum = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + (3000 - 34);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const expected = frame.slice();
    expected[50] = sum >> 8;
    expected[51] = sum & 0xff;
    expect(r.bytes).toEqual(expected);
  });

  test("a first slot shorter than 128 bytes: the header is copied from several slots (XSA-423)", () => {
    const { w, fe } = connected();
    const frame = makeFrame(1000, 9);
    const ops = sendOne(w, fe, frame, [{ len: 40 }, { len: 30 }, { len: 930 }]);
    const r = w.received[0]!;
    expect(r.bytes).toEqual(frame);
    expect(r.headlen).toBe(128);
    // 40 + 30 + 58 bytes: three copy ops in one hypercall; the third slot's 872 bytes mapped.
    expect(ops.copy).toEqual({ calls: 1, ops: 3 });
    expect(ops.map).toEqual({ calls: 1, ops: 1 });
    expect(fe.vif.counters().model_tx_header_multi_slot).toBe(1);
    expect(fe.vif.counters().model_tx_pull_tail).toBe(0);
    expect(fe.txResponses().map((x) => x.status)).toEqual([0, 0, 0]);
  });

  test("first-slot mode (the 2014 design): only the first slot is copied, the rest of the header is pulled from mapped frags", () => {
    const { w, fe } = connected({ headerCopy: "first-slot" });
    const frame = makeFrame(1000, 9);
    const before = w.grants.stats.touched;
    const ops = sendOne(w, fe, frame, [{ len: 40 }, { len: 30 }, { len: 930 }]);
    const r = w.received[0]!;
    expect(r.bytes).toEqual(frame);
    expect(r.headlen).toBe(128);
    expect(ops.copy).toEqual({ calls: 1, ops: 1 });
    expect(ops.map).toEqual({ calls: 1, ops: 2 });
    // __pskb_pull_tail consumed the 30-byte frag whole and 58 bytes of the next: both touched.
    expect(fe.vif.counters().model_tx_pull_tail).toBe(1);
    expect(w.grants.stats.touched - before).toBe(2);
    expect(r.nrFrags).toBe(1);
    expect(fe.txResponses().map((x) => x.status)).toEqual([0, 0, 0]);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0 });
  });

  test("multicall mode puts the copy and map batches in one VM exit; two-hypercall mode needs two", () => {
    for (const mode of ["two", "multicall"] as const) {
      const { w, fe } = connected({ txHypercalls: mode });
      const frame = makeFrame(1496, 2);
      w.hv.stats.reset();
      fe.send(frame, [{ len: 1496 }]);
      w.run();
      expect(w.received[0]?.bytes).toEqual(frame);
      const snap = w.hv.stats.snapshot();
      expect(snap.byOp[OP_COPY]).toEqual({ calls: 1, ops: 1 });
      expect(snap.byOp[OP_MAP_GRANT_REF]).toEqual({ calls: 1, ops: 1 });
      expect(snap.multicalls).toBe(mode === "multicall" ? 1 : 0);
    }
  });

  test("a burst of 200 one-slot packets is batched: NAPI polls of 64, each one copy hypercall", () => {
    const { w, fe } = connected();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const f = makeFrame(60 + (i % 50), i);
      frames.push(f);
      fe.queuePacket(f, [{ len: f.length }]);
    }
    w.hv.stats.reset();
    fe.pushTx();
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual(frames);
    const copy = w.hv.stats.get(OP_COPY);
    expect(copy.ops).toBe(200);
    expect(copy.calls).toBe(Math.ceil(200 / 64));
    expect(w.hv.stats.get(OP_MAP_GRANT_REF).calls).toBe(0);
    expect(fe.txResponses().length).toBe(200);
  });

  test("19 slots (18 followers) pass: 17 frags plus one on a frag_list, consolidated into local pages (tx_frag_overflow)", () => {
    const { w, fe } = connected();
    const slots: SlotSpec[] = [{ len: 200 }];
    for (let i = 0; i < 18; i++) slots.push({ len: 1000 });
    const frame = makeFrame(200 + 18 * 1000, 5);
    sendOne(w, fe, frame, slots);
    expect(w.received.length).toBe(1);
    expect(w.received[0]!.bytes).toEqual(frame);
    const c = fe.vif.counters();
    expect(c.tx_frag_overflow).toBe(1);
    expect(c.tx_zerocopy_sent).toBe(2);
    expect(fe.txResponses().every((x) => x.status === NETIF_RSP_OKAY)).toBe(true);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0 });
  });

  test("zerocopy: slots stay mapped while the stack holds the skb; freeing it unmaps in one batch and answers", () => {
    const { w, fe } = connected();
    w.keep = [];
    for (let i = 0; i < 3; i++) fe.queuePacket(makeFrame(1000, i), [{ len: 1000 }]);
    fe.pushTx();
    w.run();
    expect(w.received.length).toBe(3);
    // Copy slot... the header copy shares the slot with the mapped rest: no answer yet.
    expect(fe.txResponses()).toEqual([]);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 3, inflightPackets: 3 });
    w.hv.stats.reset();
    for (const skb of w.keep) skb.free();
    w.keep = null;
    w.run();
    expect(w.hv.stats.get(OP_UNMAP_GRANT_REF)).toEqual({ calls: 1, ops: 3 });
    expect(fe.txResponses().map((x) => x.status)).toEqual([0, 0, 0]);
    expect(fe.vif.counters().tx_zerocopy_success).toBe(3);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0 });
  });

  test("a clone in the stack copies the frags away (tx_zerocopy_fail) and the slots are released at once", () => {
    const { w, fe } = connected();
    w.keep = [];
    fe.send(makeFrame(3000, 1), [{ len: 3000 }]);
    w.run();
    const skb = w.keep[0]!;
    const clone = skb.clone();
    expect(clone).not.toBeNull();
    w.run();
    expect(fe.txResponses().map((x) => x.status)).toEqual([0]);
    expect(fe.vif.counters().tx_zerocopy_fail).toBe(1);
    expect(clone!.toBytes()).toEqual(makeFrame(3000, 1));
    clone!.free();
    skb.free();
    w.keep = null;
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0 });
  });

  test("credit limit: packets beyond the credit of a window wait for the credit timer", () => {
    const { w, fe } = connected({ credit: { bytes: 3000, usec: 1000 } });
    const t0 = w.hv.sim.clock.now();
    for (let i = 0; i < 6; i++) fe.queuePacket(makeFrame(1400, i), [{ len: 1400 }]);
    fe.pushTx();
    // 3000 bytes per millisecond: two 1400-byte packets fit the first window.
    w.hv.run({ untilNs: t0 + 500_000 });
    expect(w.received.length).toBe(2);
    expect(fe.vif.queues[0]!.rateLimited).toBe(true);
    w.run();
    expect(w.received.length).toBe(6);
    // The last two needed the third window (windows started at connect, just before t0).
    expect(w.hv.sim.clock.now() - t0).toBeGreaterThan(1_900_000);
    expect(fe.txResponses().length).toBe(6);
  });
});
