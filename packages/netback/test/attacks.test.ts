/**
 * The attack catalogue of netback: one scenario per advisory or bug class, replayed against the
 * real driver by a frontend that writes whatever it likes into its rings. Each title names the
 * advisory (Xen Security Advisory number) whose fix the scenario checks; bug classes without an
 * advisory say so. Every scenario also checks that a well-behaved guest on another vif still gets
 * its packets through byte-exact.
 */
import {
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_extra_info,
  NETTXF_more_data,
  newExtraInfo,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
  XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
  XEN_NETIF_CTRL_STATUS_SUCCESS,
  XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
  XEN_NETIF_EXTRA_TYPE_XDP,
} from "@pvnet/netif";
import { XenbusState } from "@pvnet/xenstore";
import { SkbComposer } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { xenvifCtrl, xenvifStartXmit } from "../src/index.js";
import { CtrlClient } from "./ctrl-client.js";
import { writeTxRequest } from "@pvnet/netif";
import { makeFrame, type RawFrontend, type SlotSpec, World } from "./harness.js";

/** Two guests on one backend: `bad` misbehaves, `good` must keep delivering. */
function twoGuests(options: ConstructorParameters<typeof World>[0] = {}) {
  const w = new World(options);
  const bad = w.frontend();
  const good = w.frontend();
  w.run();
  expect(bad.vif.connected && good.vif.connected).toBe(true);
  return { w, bad, good };
}

/** The good guest's packet goes through while (or after) the bad one misbehaves. */
function goodStillDelivers(w: World, good: RawFrontend): void {
  const before = w.received.filter((r) => r.vif === good.vif.name).length;
  const f = makeFrame(700, 77);
  good.send(f, [{ len: 700 }]);
  w.run();
  const mine = w.received.filter((r) => r.vif === good.vif.name);
  expect(mine.length).toBe(before + 1);
  expect(mine[mine.length - 1]!.bytes).toEqual(f);
  expect(good.vif.disabled).toBe(false);
}

/** A packet of `n` slots: a first slot of 100 bytes and followers of 100. */
function chain(n: number): { frame: Uint8Array; slots: SlotSpec[] } {
  const slots: SlotSpec[] = [];
  for (let i = 0; i < n; i++) slots.push({ len: 100 });
  return { frame: makeFrame(100 * n, n), slots };
}

/** Slots of the given sizes (the first slot's size field is the frame's length, as netfront writes it). */
function slotsOfSizes(sizes: readonly number[], overrides: Record<number, Partial<SlotSpec>> = {}): SlotSpec[] {
  return sizes.map((len, i) => ({ len, ...overrides[i] }));
}

function sum(a: readonly number[]): number {
  return a.reduce((x, y) => x + y, 0);
}

/** Nothing of the packet is left behind: no slot mapped, no packet in flight, no skb alive. */
function nothingLeft(w: World): void {
  expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0 });
  expect(w.skbs.liveSkbs).toBe(0);
}

describe("XSA-423 / XSA-432 / XSA-448: odd TX chains (today's xenvif_get_requests)", () => {
  test("XSA-432: a head plus 18 tiny followers all inside the 128-byte header copy: 19 copy ops, no map, 19 OKAY in slot order", () => {
    const { w, bad, good } = twoGuests();
    const sizes = [20, ...new Array<number>(18).fill(5)];
    const frame = makeFrame(sum(sizes), 3);
    const q = bad.vif.queues[0]!;
    const maps0 = q.modelStats.txMapOps;
    const copies0 = q.modelStats.txCopyOps;
    const ids = bad.send(frame, slotsOfSizes(sizes));
    expect(() => w.run()).not.toThrow();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(w.received[0]).toMatchObject({ nrFrags: 0, headlen: frame.length });
    expect(q.modelStats.txCopyOps - copies0).toBe(19);
    expect(q.modelStats.txMapOps - maps0).toBe(0);
    expect(bad.txResponses()).toEqual(ids.map((id) => ({ id, status: NETIF_RSP_OKAY })));
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("XSA-432: the 18-follower shape whose copy runs over tiny slots into a big last one: nothing throws, the shared slot is answered once", () => {
    const { w, bad, good } = twoGuests();
    // 14 + 17 x 1 byte are copied, then 97 bytes of the 19th slot; its other 103 bytes are the one frag.
    const sizes = [14, ...new Array<number>(17).fill(1), 200];
    const frame = makeFrame(sum(sizes), 4);
    const ids = bad.send(frame, slotsOfSizes(sizes));
    expect(() => w.run()).not.toThrow();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(w.received[0]).toMatchObject({ nrFrags: 1, headlen: 128 });
    // The 18 slots copied in full are answered by check_gop; the shared one when its frag is freed.
    expect(bad.txResponses()).toEqual(ids.map((id) => ({ id, status: NETIF_RSP_OKAY })));
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("XSA-432: a head of 14 bytes and 18 followers of 6 to 8 bytes (copy ending inside the 17th, 18th and 19th slot)", () => {
    for (const k of [6, 7, 8]) {
      const { w, bad } = twoGuests();
      const sizes = [14, ...new Array<number>(18).fill(k)];
      const frame = makeFrame(sum(sizes), k);
      const ids = bad.send(frame, slotsOfSizes(sizes));
      expect(() => w.run(), `followers of ${k}`).not.toThrow();
      expect(w.received.map((r) => r.bytes)).toEqual([frame]);
      expect(new Set(bad.txResponses().map((r) => r.id))).toEqual(new Set(ids));
      nothingLeft(w);
    }
  });

  test("XSA-432: a 200-byte head and 18 followers: the head is copied whole, 17 frags and one frag_list slot, consolidated", () => {
    const { w, bad, good } = twoGuests();
    const sizes = [200, ...new Array<number>(18).fill(100)];
    const frame = makeFrame(sum(sizes), 5);
    const q = bad.vif.queues[0]!;
    const overflow0 = q.stats.txFragOverflow;
    const ids = bad.send(frame, slotsOfSizes(sizes));
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(w.received[0]!.headlen).toBe(200);
    expect(q.stats.txFragOverflow - overflow0).toBe(1);
    const rsp = bad.txResponses();
    expect(rsp.map((r) => r.status)).toEqual(ids.map(() => NETIF_RSP_OKAY));
    expect(rsp[0]).toEqual({ id: ids[0], status: NETIF_RSP_OKAY });
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("XSA-448: zero-size followers never become frags; each is answered OKAY at once, before the slots that carry data", () => {
    const { w, bad, good } = twoGuests();
    w.keep = [];
    const sizes = [200, 0, 300, 0, 300, 0];
    const frame = makeFrame(sum(sizes), 6);
    const ids = bad.send(frame, slotsOfSizes(sizes));
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    const skb = w.keep[0]!;
    // The head's remainder (72 bytes) and the two 300-byte slots: no zero-size frag.
    expect(skb.shinfo.nrFrags).toBe(3);
    for (let i = 0; i < skb.shinfo.nrFrags; i++) expect(skb.shinfo.frags[i]!.size).toBeGreaterThan(0);
    // Empty requests are answered while the ops are built; the others once the stack lets go.
    expect(bad.txResponses()).toEqual([ids[1], ids[3], ids[5]].map((id) => ({ id, status: NETIF_RSP_OKAY })));
    skb.free();
    w.keep = null;
    w.run();
    expect(bad.txResponses()).toEqual([ids[0], ids[2], ids[4]].map((id) => ({ id, status: NETIF_RSP_OKAY })));
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("XSA-448: a bogus gref on a zero-size follower is never mapped: the packet is delivered, no map op issued for it", () => {
    const { w, bad, good } = twoGuests();
    const sizes = [200, 0, 300, 0];
    const frame = makeFrame(sum(sizes), 7);
    const q = bad.vif.queues[0]!;
    const maps0 = q.modelStats.txMapOps;
    const ids = bad.send(frame, slotsOfSizes(sizes, { 1: { gref: 60000 }, 3: { gref: 60001 } }));
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    // The head's remainder and the 300-byte slot only.
    expect(q.modelStats.txMapOps - maps0).toBe(2);
    expect(bad.txResponses()).toEqual([ids[1], ids[3], ids[0], ids[2]].map((id) => ({ id, status: NETIF_RSP_OKAY })));
    expect(bad.vif.disabled).toBe(false);
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("XSA-448: a zero-size last follower in the frag_list position (bogus gref): answered OKAY, the frag_list skb freed unused", () => {
    const { w, bad, good } = twoGuests();
    const sizes = [200, ...new Array<number>(17).fill(100), 0];
    const frame = makeFrame(sum(sizes), 8);
    const q = bad.vif.queues[0]!;
    const overflow0 = q.stats.txFragOverflow;
    const ids = bad.send(frame, slotsOfSizes(sizes, { 18: { gref: 60002 } }));
    expect(() => w.run()).not.toThrow();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(w.received[0]!.nrFrags).toBe(17);
    expect(q.stats.txFragOverflow - overflow0).toBe(0);
    const rsp = bad.txResponses();
    // The empty slot first (while building), then the head (its copy checked), then the 17 frags.
    expect(rsp[0]).toEqual({ id: ids[18], status: NETIF_RSP_OKAY });
    expect(rsp[1]).toEqual({ id: ids[0], status: NETIF_RSP_OKAY });
    expect(rsp.map((r) => r.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(rsp.every((r) => r.status === NETIF_RSP_OKAY)).toBe(true);
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("XSA-423: a zero-size follower inside the header copy takes a zero-length copy op, which today's Xen ignores whole (its bogus gref is never looked at): the packet is delivered and every slot answered OKAY", () => {
    // Xen "gnttab: fully ignore zero-size copy requests" (4.19): a GNTTABOP_copy of length 0
    // returns GNTST_okay before any of its fields is checked.
    const { w, bad, good } = twoGuests();
    const sizes = [60, 0, 300];
    const frame = makeFrame(sum(sizes), 9);
    const ids = bad.send(frame, slotsOfSizes(sizes, { 1: { gref: 60003 } }));
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    const rsp = bad.txResponses();
    expect(rsp.map((r) => r.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(rsp.every((r) => r.status === NETIF_RSP_OKAY)).toBe(true);
    expect(bad.vif.disabled).toBe(false);
    nothingLeft(w);
    goodStillDelivers(w, bad);
    goodStillDelivers(w, good);
  });

  test("XSA-423 / XSA-432 / XSA-448: every mix of head size, tiny, empty and big followers up to 18: nothing throws, every slot answered once, every accepted frame byte-exact", () => {
    const { w, bad, good } = twoGuests();
    let cases = 0;
    for (const head of [14, 127, 129, 1500]) {
      for (const tiny of [0, 1, 7, 64]) {
        for (const last of [0, 97, 3000]) {
          for (const n of [1, 17, 18]) {
            const sizes = [head, ...new Array<number>(n - 1).fill(tiny), last];
            const frame = makeFrame(sum(sizes), cases);
            const before = w.received.length;
            const ids = bad.send(frame, slotsOfSizes(sizes));
            const label = `head=${head} tiny=${tiny} last=${last} followers=${n}`;
            expect(() => w.run(), label).not.toThrow();
            const rsp = bad.txResponses();
            expect(rsp.map((r) => r.id).sort((a, b) => a - b), label).toEqual([...ids].sort((a, b) => a - b));
            expect(rsp.every((r) => r.status === NETIF_RSP_OKAY), label).toBe(true);
            expect(w.received.length, label).toBe(before + 1);
            expect(w.received[before]!.bytes, label).toEqual(frame);
            // Every page can be taken back: nothing of it is still mapped by Dom0.
            expect(bad.releasePages(), label).toBe(0);
            cases++;
          }
        }
      }
    }
    expect(bad.vif.disabled).toBe(false);
    nothingLeft(w);
    goodStillDelivers(w, good);
  });
});

describe("lifecycle (no advisory): a queue torn down must stay dead", () => {
  test("a rate-limited vif that disconnects with packets held by the stack and reconnects: the old queue's credit timer and NAPI are gone (xenvif_down, xenvif_disconnect_queue)", () => {
    const w = new World({ credit: { bytes: 3000, usec: 1000 } });
    const fe = w.frontend();
    const good = w.frontend();
    w.run();
    const t0 = w.hv.sim.clock.now();
    w.keep = [];
    for (let i = 0; i < 6; i++) fe.queuePacket(makeFrame(1400, i), [{ len: 1400 }]);
    fe.pushTx();
    // Two packets fit the first window; the credit timer is armed for the rest.
    w.hv.run({ untilNs: t0 + 300_000 });
    expect(w.received.length).toBe(2);
    const oldQueue = fe.vif.queues[0]!;
    expect(oldQueue.creditTimerPending).toBe(true);
    const consumed = oldQueue.tx!.reqCons;
    // Disconnect while the stack still holds both packets, and reconnect at once.
    fe.switchState(XenbusState.Closing);
    w.hv.run({ untilNs: t0 + 400_000 });
    expect(w.netback.outstanding().dyingQueues).toBe(1);
    fe.switchState(XenbusState.Initialising);
    w.hv.run({ untilNs: t0 + 500_000 });
    expect(fe.vif.connected).toBe(true);
    expect(fe.vif.queues[0]).not.toBe(oldQueue);
    // Long past the old credit window: the old ring is never polled again.
    w.hv.run({ untilNs: t0 + 5_000_000 });
    expect(oldQueue.tx?.reqCons ?? consumed).toBe(consumed);
    expect(w.received.length).toBe(2);
    // The new queue works, and when the stack lets go the old one is torn down with nothing left.
    goodStillDelivers(w, fe);
    for (const skb of w.keep) skb.free();
    w.keep = null;
    w.run();
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0, dyingQueues: 0 });
    goodStillDelivers(w, good);
  });
});

describe("slot limits (bug class: xenvif_count_requests, XEN_NETBK_LEGACY_SLOTS_MAX = 18, fatal_skb_slots = 20)", () => {
  test("19 slots (18 followers = XEN_NETBK_LEGACY_SLOTS_MAX) are accepted", () => {
    const { w, bad } = twoGuests();
    const { frame, slots } = chain(19);
    bad.send(frame, slots);
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(bad.txResponses().map((r) => r.status)).toEqual(slots.map(() => NETIF_RSP_OKAY));
  });

  test.each([20, 21])("%i slots are dropped: NETIF_RSP_ERROR for every slot, the vif goes on", (n) => {
    const { w, bad, good } = twoGuests();
    const { frame, slots } = chain(n);
    bad.send(frame, slots);
    w.run();
    expect(w.received).toEqual([]);
    expect(bad.txResponses().map((r) => r.status)).toEqual(slots.map(() => NETIF_RSP_ERROR));
    expect(bad.vif.disabled).toBe(false);
    expect(bad.vif.log.some((l) => l.includes(`Too many slots (18) exceeding limit (18), dropping packet`))).toBe(true);
    // The same vif still delivers a well-formed packet, and so does the other one.
    goodStillDelivers(w, bad);
    goodStillDelivers(w, good);
  });

  test("22 slots: still chaining at 20 followers is malicious: the vif is disabled, the other vif carries on", () => {
    const { w, bad, good } = twoGuests();
    const { frame, slots } = chain(22);
    bad.send(frame, slots);
    w.run();
    expect(w.received).toEqual([]);
    expect(bad.vif.disabled).toBe(true);
    expect(bad.vif.fatalReason).toBe("Malicious frontend using 20 slots, threshold 20");
    expect(bad.vif.carrier).toBe(false);
    // Nothing more is processed for it.
    bad.send(makeFrame(200, 1), [{ len: 200 }]);
    w.run();
    expect(w.received).toEqual([]);
    goodStillDelivers(w, good);
  });

  test("fatalSkbSlots is configurable (here 30: 22 slots are only dropped)", () => {
    const { w, bad } = twoGuests({ fatalSkbSlots: 30 });
    const { frame, slots } = chain(22);
    bad.send(frame, slots);
    w.run();
    expect(bad.vif.disabled).toBe(false);
    expect(bad.txResponses().map((r) => r.status)).toEqual(slots.map(() => NETIF_RSP_ERROR));
  });
});

describe("malformed requests get Linux's reaction (bug class: fatal errors disable only the guilty vif)", () => {
  test("a follower whose offset + size crosses the page: fatal", () => {
    const { w, bad, good } = twoGuests();
    bad.send(makeFrame(300, 1), [{ len: 100 }, { len: 200, offset: 4000 }]);
    w.run();
    expect(bad.vif.disabled).toBe(true);
    expect(bad.vif.fatalReason).toBe("Cross page boundary, txp->offset: 4000, size: 200");
    expect(w.received).toEqual([]);
    goodStillDelivers(w, good);
  });

  test("a first slot whose offset + size crosses the page: fatal", () => {
    const { w, bad, good } = twoGuests();
    bad.send(makeFrame(300, 1), [{ len: 300, offset: 3900 }]);
    w.run();
    expect(bad.vif.disabled).toBe(true);
    expect(bad.vif.fatalReason).toBe("txreq.offset: 3900, size: 300, end: 4200");
    goodStillDelivers(w, good);
  });

  test("a bad gref in the first slot: the header copy fails, NETIF_RSP_ERROR, the vif goes on", () => {
    const { w, bad, good } = twoGuests();
    bad.send(makeFrame(100, 1), [{ len: 100, gref: 4000 }]);
    w.run();
    expect(w.received).toEqual([]);
    expect(bad.txResponses().map((r) => r.status)).toEqual([NETIF_RSP_ERROR]);
    expect(bad.vif.disabled).toBe(false);
    goodStillDelivers(w, bad);
    goodStillDelivers(w, good);
  });

  test("a bad gref in a follower: its map fails: ERROR for that slot, the others OKAY, the packet dropped, nothing left mapped", () => {
    const { w, bad } = twoGuests();
    const ids = bad.send(makeFrame(1300, 1), [{ len: 500 }, { len: 400, gref: 4001 }, { len: 400 }]);
    w.run();
    expect(w.received).toEqual([]);
    // Linux's order: the failed map is answered first, then the frags it invalidates.
    expect(bad.txResponses()).toEqual([
      { id: ids[1], status: NETIF_RSP_ERROR },
      { id: ids[0], status: NETIF_RSP_OKAY },
      { id: ids[2], status: NETIF_RSP_OKAY },
    ]);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0 });
    goodStillDelivers(w, bad);
  });

  test("an incomplete chain (more_data on the last published request): fatal, as the slots exceed the work to do", () => {
    const { w, bad, good } = twoGuests();
    const ref = bad.grantData(makeFrame(200, 1), 0);
    bad.queueRaw({ gref: ref, offset: 0, flags: NETTXF_more_data, id: 1, size: 400 });
    bad.queueRaw({ gref: ref, offset: 100, flags: NETTXF_more_data, id: 2, size: 100 });
    bad.pushTx();
    w.run();
    expect(bad.vif.disabled).toBe(true);
    expect(bad.vif.fatalReason).toBe("Asked for 1 slots but exceeds this limit");
    goodStillDelivers(w, good);
  });

  test("a ring producer that jumps more than a ring ahead: fatal (Impossible number of requests)", () => {
    const { w, bad, good } = twoGuests();
    const tx = bad.queues[0]!.tx;
    tx.sring.reqProd = (tx.sring.reqProd + 300) >>> 0;
    w.hv.evtchnSend(bad.vcpu, bad.queues[0]!.txPort);
    w.run();
    expect(bad.vif.disabled).toBe(true);
    expect(bad.vif.fatalReason).toMatch(/^Impossible number of requests\. req_prod 300, req_cons 0, size 256$/);
    goodStillDelivers(w, good);
  });

  test("a follower larger than the bytes left (first->size overflowed): dropped, not fatal", () => {
    const { w, bad } = twoGuests();
    bad.send(makeFrame(600, 1), [{ len: 100, size: 300 }, { len: 500 }]);
    w.run();
    expect(bad.vif.disabled).toBe(false);
    expect(bad.txResponses().map((r) => r.status)).toEqual([NETIF_RSP_ERROR, NETIF_RSP_ERROR]);
  });

  test("a first slot shorter than an Ethernet header: dropped with an error", () => {
    const { w, bad } = twoGuests();
    bad.send(makeFrame(110, 1), [{ len: 10 }, { len: 100 }]);
    w.run();
    expect(bad.vif.disabled).toBe(false);
    expect(bad.txResponses().map((r) => r.status)).toEqual([NETIF_RSP_ERROR, NETIF_RSP_ERROR]);
    goodStillDelivers(w, bad);
  });

  test("extras: an unknown type is fatal; the XDP type (5) is accepted and ignored; a missing extra slot is fatal", () => {
    const { w, bad, good } = twoGuests();
    const frame = makeFrame(200, 3);
    bad.send(frame, [{ len: 200 }], {});
    w.run();
    // XDP extra: accepted.
    bad.queuePacket(frame, [{ len: 200 }], { extras: [{ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_XDP, xdpHeadroom: 256 }] });
    bad.pushTx();
    w.run();
    expect(w.received.length).toBe(2);
    expect(bad.txResponses().map((r) => r.status)).toEqual([NETIF_RSP_OKAY, NETIF_RSP_OKAY, NETIF_RSP_NULL]);
    // Type 6: fatal.
    bad.queuePacket(frame, [{ len: 200 }], { extras: [{ ...newExtraInfo(), type: 6 }] });
    bad.pushTx();
    w.run();
    expect(bad.vif.fatalReason).toBe("Invalid extra type: 6");
    // Another guest: extra_info flagged but no extra slot published.
    const third = w.frontend();
    w.run();
    third.queueRaw({ gref: third.grantData(frame, 0), offset: 0, flags: NETTXF_extra_info, id: 0, size: 200 });
    third.pushTx();
    w.run();
    expect(third.vif.fatalReason).toBe("Missing extra info");
    goodStillDelivers(w, good);
  });

  test("a GSO extra with size 0 is fatal", () => {
    const { w, bad } = twoGuests();
    bad.queuePacket(makeFrame(200, 1), [{ len: 200 }], { extras: [{ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: 0, gsoType: 1 }] });
    bad.pushTx();
    w.run();
    expect(bad.vif.fatalReason).toBe("GSO size must not be zero.");
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0 });
  });
});

describe("requests that lie (bug classes without an advisory of their own)", () => {
  test("bogus ids: duplicate and arbitrary ids are not checked, each request is answered once with its own id", () => {
    const { w, bad, good } = twoGuests();
    const frame = makeFrame(300, 2);
    const ref = bad.grantData(frame, 0);
    for (const id of [7, 7, 0xffff, 0]) bad.queueRaw({ gref: ref, offset: 0, flags: 0, id, size: 300 });
    bad.pushTx();
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame, frame, frame, frame]);
    expect(bad.txResponses()).toEqual([7, 7, 0xffff, 0].map((id) => ({ id, status: NETIF_RSP_OKAY })));
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("a gref of another domain: looked up in the sender's own table, the copy fails, ERROR; the other guest's page is never touched", () => {
    const { w, bad, good } = twoGuests();
    const secret = makeFrame(300, 11);
    const goodRef = good.grantData(secret, 0);
    const q = bad.vif.queues[0]!;
    bad.queueRaw({ gref: goodRef + 100, offset: 0, flags: 0, id: 1, size: 300 });
    bad.pushTx();
    w.run();
    expect(w.received).toEqual([]);
    expect(bad.txResponses()).toEqual([{ id: 1, status: NETIF_RSP_ERROR }]);
    expect(q.modelStats.txCopyOps).toBeGreaterThan(0);
    // Nothing of the good guest was mapped: it can take its page back.
    expect(good.releasePages()).toBe(0);
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("an endless extra-info chain (every extra flagged MORE until the published requests run out): fatal, Missing extra info", () => {
    const { w, bad, good } = twoGuests();
    const ref = bad.grantData(makeFrame(200, 1), 0);
    bad.queueRaw({ gref: ref, offset: 0, flags: NETTXF_extra_info, id: 1, size: 200 });
    for (let i = 0; i < 40; i++) bad.queueRawExtra({ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 1, gsoSize: 1400, gsoType: 1 });
    bad.pushTx();
    expect(() => w.run()).not.toThrow();
    expect(bad.vif.disabled).toBe(true);
    expect(bad.vif.fatalReason).toBe("Missing extra info");
    expect(w.received).toEqual([]);
    nothingLeft(w);
    goodStillDelivers(w, good);
  });

  test("an event storm: thousands of notifications with nothing queued poll nothing, and the other vif's packets all arrive", () => {
    const { w, bad, good } = twoGuests();
    const q = bad.vif.queues[0]!;
    const copies0 = q.modelStats.txCopyOps;
    const port = bad.queues[0]!.txPort;
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      for (let e = 0; e < 100; e++) w.hv.evtchnSend(bad.vcpu, port);
      const f = makeFrame(600 + i, i);
      frames.push(f);
      good.send(f, [{ len: f.length }]);
      w.run();
    }
    expect(w.received.filter((r) => r.vif === good.vif.name).map((r) => r.bytes)).toEqual(frames);
    expect(q.modelStats.txCopyOps).toBe(copies0);
    expect(bad.vif.disabled).toBe(false);
  });
});

describe("XSA-392: a guest that does not post RX buffers costs Dom0 bounded memory", () => {
  test("XSA-392 (CVE-2021-28714): a guest keeping one free RX slot while the next skb needs three is still found stalled; its carrier goes, the other vif carries on", () => {
    const w = new World();
    const stalled = w.frontend();
    const good = w.frontend();
    w.run();
    stalled.postRx(1);
    w.run();
    const vif = stalled.vif;
    // 9000-byte skbs, one a second: each needs three RX slots; the guest only ever offers one.
    for (let s = 0; s < 75; s++) {
      const big = new SkbComposer(w.skbs).compose({ linearLen: 1000, frags: [{ size: 4000 }, { size: 4000 }] }, makeFrame(9000, s));
      expect(big).not.toBeNull();
      xenvifStartXmit(vif, big!);
      w.hv.run({ untilNs: w.hv.sim.clock.now() + 1_000_000_000 });
    }
    expect(stalled.rxPackets()).toEqual([]);
    expect(vif.log.some((l) => l.endsWith("Guest Rx stalled"))).toBe(true);
    expect(vif.carrier).toBe(false);
    // Nothing it was sent is still held: the drain timeout dropped what waited.
    w.run();
    expect(vif.queues[0]!.rxQueuePackets).toBe(0);
    expect(w.skbs.liveSkbs).toBe(0);
    goodStillDelivers(w, good);
  });
});

describe("XSA-155: what the frontend rewrites after netback read it has no effect (double fetch)", () => {
  test("XSA-155 (CVE-2015-8550): every TX request slot rewritten with garbage while the grant ops are in flight: the packet still arrives byte-exact and each slot is answered with the id it had", () => {
    const { w, bad, good } = twoGuests();
    const sizes = [60, 200, 3000, 0, 900];
    const frame = makeFrame(sum(sizes), 12);
    const ids = bad.send(frame, slotsOfSizes(sizes));
    // Between build_gops (which copied every request out of the ring) and check_gop / fill_frags,
    // the frontend overwrites every request still unanswered.
    const grants = w.grants;
    const mapGrantRef = grants.mapGrantRef.bind(grants);
    let rewrites = 0;
    grants.mapGrantRef = (vcpu, batch) => {
      const tx = (bad.queues[0] as RawFrontend["queues"][number]).tx;
      // Every slot not answered yet (an answered one holds the frontend's own response).
      for (let i = tx.sring.rspProd; i !== tx.sring.reqProd; i = (i + 1) >>> 0) {
        tx.writeRequest(i, writeTxRequest, { gref: 4095, offset: 4000, flags: 0xff, id: 0xdead, size: 60000 });
      }
      rewrites++;
      return mapGrantRef(vcpu, batch);
    };
    try {
      w.run();
    } finally {
      grants.mapGrantRef = mapGrantRef;
    }
    expect(rewrites).toBeGreaterThan(0);
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    const rsp = bad.txResponses();
    expect(rsp.map((r) => r.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(rsp.every((r) => r.status === NETIF_RSP_OKAY)).toBe(true);
    expect(bad.vif.disabled).toBe(false);
    nothingLeft(w);
    goodStillDelivers(w, good);
  });
});

describe("XSA-270: hash mapping out-of-bounds (xen-netback: fix input validation in xenvif_set_hash_mapping())", () => {
  test("off + len wrapping 2^32, len past a page and queue numbers past num_queues are refused; nothing is written; the good guest delivers", () => {
    const w = new World({ ctrlRing: true });
    const bad = w.frontend({ queues: 2 });
    const good = w.frontend();
    const ctrl = new CtrlClient(w, bad);
    w.run();
    expect(bad.vif.connected && good.vif.connected).toBe(true);
    const hash = xenvifCtrl(bad.vif)!.hash;
    const before = Array.from({ length: 8192 }, (_, i) => hash.page.machine.bytes[hash.page.addr(i)]);
    ctrl.putU32s(new Array(1024).fill(0x41414141));
    const r = ctrl.send([
      [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 4],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 2, 0xffffffff],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 0x40000001, 0],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 4, 0],
    ]);
    expect(r.map((x) => x[1])).toEqual([
      XEN_NETIF_CTRL_STATUS_SUCCESS,
      XEN_NETIF_CTRL_STATUS_SUCCESS,
      XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
      XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
      XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
    ]);
    // Only the spare table may have received the last (refused) copy; the live one is all zero.
    expect(hash.liveMapping()).toEqual([0, 0, 0, 0]);
    const after = Array.from({ length: 8192 }, (_, i) => hash.page.machine.bytes[hash.page.addr(i)]);
    const changed = after.flatMap((b, i) => (b !== before[i] ? [i] : []));
    expect(changed.every((i) => i >= 3776 && i < 3776 + 16)).toBe(true);
    // An RX packet for the bad guest still lands on a queue that exists.
    bad.postRx(4, 0);
    bad.postRx(4, 1);
    w.run();
    const f = makeFrame(300, 3);
    xenvifStartXmit(bad.vif, new SkbComposer(w.skbs).compose({ linearLen: 300 }, f)!);
    w.run();
    expect([...bad.rxPackets(0), ...bad.rxPackets(1)].map((p) => p.bytes)).toEqual([f]);
    goodStillDelivers(w, good);
  });
});
