import { NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_extra_info, NETTXF_more_data, newExtraInfo, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_XDP } from "@pvnet/netif";
import { describe, expect, test } from "vitest";
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

/** A packet of `n` slots: a first slot of 100 bytes and followers of 100. */
function chain(n: number): { frame: Uint8Array; slots: SlotSpec[] } {
  const slots: SlotSpec[] = [];
  for (let i = 0; i < n; i++) slots.push({ len: 100 });
  return { frame: makeFrame(100 * n, n), slots };
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

describe("slot limits (xenvif_count_requests with fatal_skb_slots = 20)", () => {
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

describe("malformed requests get Linux's reaction", () => {
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

  test("a fuzzed stream of random requests never throws, never maps outside grants, and leaves nothing mapped", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { w, bad, good } = twoGuests({ seed });
      const prng = w.hv.sim.prng.fork("fuzz");
      const ref = bad.grantData(makeFrame(4096, seed), 0);
      for (let i = 0; i < 40; i++) {
        bad.queueRaw({
          gref: prng.chance({ numerator: 1, denominator: 4 }) ? prng.below(5000) : ref,
          offset: prng.below(4200),
          flags: prng.below(16),
          id: prng.below(65536),
          size: prng.below(70000) & 0xffff,
        });
      }
      bad.pushTx();
      // A failure names the seed that replays it: twoGuests({ seed }) and this loop's draws.
      const replay = `replay with seed=${seed}`;
      expect(() => w.run(), replay).not.toThrow();
      goodStillDelivers(w, good);
      expect(w.netback.outstanding().inflightPackets, replay).toBe(0);
      expect(w.netback.outstanding().slotMappings, replay).toBe(0);
    }
  });
});
