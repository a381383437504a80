import { fc, test } from "@fast-check/vitest";
import {
  NETIF_RSP_ERROR,
  NETIF_TX_RING,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_csum_blank,
  NETTXF_extra_info,
  NETTXF_more_data,
  type NetifExtraInfo,
  newExtraInfo,
  writeExtraInfo,
  writeTxRequest,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_HASH,
  XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_XDP,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
} from "@pvnet/netif";
import {
  buildRxChain,
  buildTxChain,
  type NetifChunk,
  newNetifChain,
  parseRxChain,
  parseTxChain,
  type RxChainSlot,
  rxSlotsFromArray,
  type TxChainSlot,
  txSlotsFromArray,
  txSlotsFromRing,
} from "./chain.js";
import { BackRing, FrontRing, ringMemoryOver, SharedRing } from "@pvnet/shared-ring";
import { describe, expect, it } from "vitest";

const gso = (): NetifExtraInfo => ({ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: 1448, gsoType: XEN_NETIF_GSO_TYPE_TCPV4 });
const chunk = (length: number, offset = 0, id = 0): NetifChunk => ({ gref: 100 + id, offset, length, id });
const tx = (slots: TxChainSlot[], available = slots.length) => parseTxChain(txSlotsFromArray(slots), 0, available, newNetifChain());
const rx = (slots: RxChainSlot[], available = slots.length) => parseRxChain(rxSlotsFromArray(slots), 0, available, newNetifChain());
const built = <S>(r: { ok: true; slots: S[] } | { ok: false }) => {
  if (!r.ok) throw new Error("build failed");
  return r.slots;
};

describe("tx chains", () => {
  it("first request carries the whole length; extras follow it; more_data chains the fragments", () => {
    const slots = built(buildTxChain([chunk(100, 3996, 1), chunk(4096, 0, 2), chunk(10, 0, 3)], NETTXF_csum_blank, [gso()]));
    expect(slots.map((s) => s.kind)).toEqual(["request", "extra", "request", "request"]);
    const [first, extra, second, third] = slots as [TxChainSlot & { kind: "request" }, TxChainSlot & { kind: "extra" }, TxChainSlot & { kind: "request" }, TxChainSlot & { kind: "request" }];
    expect(first.req).toMatchObject({ size: 4206, offset: 3996, flags: NETTXF_csum_blank | NETTXF_more_data | NETTXF_extra_info, id: 1 });
    expect(extra.extra.flags & XEN_NETIF_EXTRA_FLAG_MORE).toBe(0);
    expect(second.req).toMatchObject({ size: 4096, flags: NETTXF_more_data });
    expect(third.req).toMatchObject({ size: 10, flags: 0 });
    expect(tx(slots)).toEqual({
      reason: "ok",
      slots: 4,
      fragments: 3,
      extras: 1,
      extraTypes: 1 << XEN_NETIF_EXTRA_TYPE_GSO,
      flags: first.req.flags,
      totalLength: 4206,
      firstFragmentLength: 100,
      badSlot: -1,
    });
  });

  it("rejects malformed chains with a reason and the offending slot", () => {
    const req = (size: number, flags: number, offset = 0): TxChainSlot => ({ kind: "request", req: { gref: 1, offset, flags, id: 0, size } });
    const ext = (type: number, flags = 0): TxChainSlot => ({ kind: "extra", extra: { ...newExtraInfo(), type, flags } });
    expect(tx([req(100, NETTXF_more_data)])).toMatchObject({ reason: "incomplete", badSlot: 1, slots: 1 });
    expect(tx([req(100, NETTXF_extra_info), ext(XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_FLAG_MORE)])).toMatchObject({ reason: "incomplete", badSlot: 2 });
    expect(tx([req(100, NETTXF_extra_info), ext(0)])).toMatchObject({ reason: "extra-type-invalid", badSlot: 1, slots: 2 });
    expect(tx([req(100, NETTXF_extra_info), ext(XEN_NETIF_EXTRA_TYPE_XDP)])).toMatchObject({ reason: "extra-type-invalid" });
    expect(tx([req(100, NETTXF_more_data), req(200, 0)])).toMatchObject({ reason: "size-underflow", badSlot: 1, slots: 2 });
    expect(tx([req(3000, NETTXF_more_data), req(200, 0, 3900)])).toMatchObject({ reason: "crosses-page", badSlot: 1 });
    expect(tx([req(4097, 0)])).toMatchObject({ reason: "crosses-page", badSlot: 0 });
    const long = [req(19, NETTXF_more_data), ...Array.from({ length: 18 }, (_, i) => req(1, i < 17 ? NETTXF_more_data : 0))];
    expect(tx(long)).toMatchObject({ reason: "too-many-slots", badSlot: XEN_NETIF_NR_SLOTS_MIN, slots: 19 });
    // A negotiated larger limit accepts it.
    expect(parseTxChain(txSlotsFromArray(long), 0, long.length, newNetifChain(), { maxSlots: 19, extraTypeMax: 5 }).reason).toBe("ok");
  });

  it("builder refuses what the wire cannot carry", () => {
    expect(buildTxChain([], 0)).toMatchObject({ ok: false, reason: "bad-length" });
    expect(buildTxChain([chunk(4000), ...Array.from({ length: 16 }, () => chunk(4096))], 0)).toMatchObject({ ok: false, reason: "bad-length" });
    expect(XEN_NETIF_MAX_TX_SIZE).toBe(0xffff);
    expect(buildTxChain([chunk(10, 4090)], 0)).toMatchObject({ ok: false, reason: "crosses-page", index: 0 });
    expect(buildTxChain(Array.from({ length: 19 }, () => chunk(1)), 0)).toMatchObject({ ok: false, reason: "too-many-slots" });
    expect(buildTxChain([chunk(60)], 0, [{ ...newExtraInfo(), type: 9 }])).toMatchObject({ ok: false, reason: "extra-type-invalid" });
  });

  it("parses the same chain out of a ring, through page-straddling slots and index wrap", () => {
    const pages = 4;
    const mem = ringMemoryOver(new SharedArrayBuffer(pages * 4096));
    const sring = new SharedRing(mem, [3, 1, 2, 0].map((p) => p * 4096), NETIF_TX_RING);
    sring.init();
    // Start so that the chain covers slot 677 (straddles 8192) and wraps the 32-bit index.
    const start = (0x100000000 - 1024 * 2 + 675) >>> 0;
    const front = new FrontRing(sring).attach(start);
    const back = new BackRing(sring).attach(start);
    sring.reqProd = start;
    sring.rspProd = start;
    const slots = built(buildTxChain([chunk(1000, 0, 1), chunk(500, 0, 2), chunk(500, 0, 3)], 0, [gso(), { ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_MCAST_ADD }]));
    for (const s of slots) {
      const idx = front.produceRequest();
      if (s.kind === "request") front.writeRequest(idx, writeTxRequest, s.req);
      else front.writeRequest(idx, writeExtraInfo, s.extra);
    }
    front.pushRequests();
    expect(sring.hasStraddlingSlots).toBe(true);
    const chain = parseTxChain(txSlotsFromRing(back), back.reqCons, back.unconsumedRequests(), newNetifChain());
    expect(chain).toMatchObject({ reason: "ok", slots: 5, fragments: 3, extras: 2, totalLength: 2000, firstFragmentLength: 1000 });
  });

  test.prop([
    fc.array(fc.record({ offset: fc.nat(4095), length: fc.nat(4096), id: fc.nat(0xffff) }), { minLength: 1, maxLength: 18 }),
    fc.array(fc.constantFrom(XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_TYPE_HASH), { maxLength: 3 }),
  ])("build then parse gives back the packet (tx)", (raw, types) => {
    const chunks = raw.map((c) => ({ gref: 7, id: c.id, offset: c.offset, length: Math.min(c.length, 4096 - c.offset) }));
    const extras = types.map((type) => ({ ...newExtraInfo(), type }));
    const total = chunks.reduce((a, c) => a + c.length, 0);
    const r = buildTxChain(chunks, NETTXF_csum_blank, extras);
    if (total > XEN_NETIF_MAX_TX_SIZE) {
      expect(r).toMatchObject({ ok: false, reason: "bad-length" });
      return;
    }
    const slots = built(r);
    expect(slots.length).toBe(chunks.length + extras.length);
    const chain = tx(slots);
    expect(chain).toMatchObject({ reason: "ok", slots: slots.length, fragments: chunks.length, extras: extras.length, totalLength: total });
    expect(chain.firstFragmentLength).toBe(chunks[0]?.length);
    // Any prefix is incomplete, never "ok" and never a crash.
    if (slots.length > 1) expect(tx(slots, slots.length - 1).reason).toBe("incomplete");
  });

  test.prop([fc.array(fc.uint8Array({ minLength: 12, maxLength: 12 }), { minLength: 0, maxLength: 40 }), fc.nat(0xffffffff)])(
    "arbitrary slot bytes never crash the parser nor make it read past the available slots",
    (raw, first) => {
      let reads = 0;
      let maxPos = -1;
      const view = (i: number) => {
        const pos = (i - first) >>> 0;
        reads++;
        maxPos = Math.max(maxPos, pos);
        const b = raw[pos] as Uint8Array;
        return new DataView(b.buffer, b.byteOffset, 12);
      };
      const reader = {
        readRequest: (i: number, out: Parameters<typeof writeTxRequest>[2]) => {
          const v = view(i);
          Object.assign(out, { gref: v.getUint32(0, true), offset: v.getUint16(4, true), flags: v.getUint16(6, true), id: v.getUint16(8, true), size: v.getUint16(10, true) });
        },
        readExtra: (i: number, out: NetifExtraInfo) => {
          const v = view(i);
          out.type = v.getUint8(0);
          out.flags = v.getUint8(1);
        },
      };
      const chain = parseTxChain(reader, first, raw.length, newNetifChain());
      expect(maxPos).toBeLessThan(raw.length);
      expect(reads).toBe(raw.length === 0 ? 0 : chain.slots); // each slot read once
      expect(chain.slots).toBeLessThanOrEqual(raw.length);
      if (raw.length === 0) expect(chain.reason).toBe("incomplete");
    },
  );
});

describe("rx chains", () => {
  it("every response's status is its byte count; the packet length is their sum", () => {
    const slots = built(buildRxChain([chunk(1400, 64, 1), chunk(4096, 0, 2), chunk(4, 0, 3)], NETRXF_data_validated, [gso()]));
    expect(slots.map((s) => s.kind)).toEqual(["response", "extra", "response", "response"]);
    expect((slots[0] as RxChainSlot & { kind: "response" }).rsp).toMatchObject({ status: 1400, offset: 64, flags: NETRXF_data_validated | NETRXF_more_data | NETRXF_extra_info });
    expect(rx(slots)).toMatchObject({ reason: "ok", slots: 4, fragments: 3, extras: 1, totalLength: 5500, firstFragmentLength: 1400 });
  });

  it("flags error statuses, page overruns and incomplete chains", () => {
    const rsp = (status: number, flags: number, offset = 0): RxChainSlot => ({ kind: "response", rsp: { id: 0, offset, flags, status } });
    expect(rx([rsp(NETIF_RSP_ERROR, 0)])).toMatchObject({ reason: "error-status", badSlot: 0 });
    expect(rx([rsp(100, NETRXF_more_data), rsp(NETIF_RSP_ERROR, 0)])).toMatchObject({ reason: "error-status", badSlot: 1, slots: 2, totalLength: 100 });
    expect(rx([rsp(200, 0, 4000)])).toMatchObject({ reason: "crosses-page" });
    expect(rx([rsp(200, NETRXF_more_data)])).toMatchObject({ reason: "incomplete", slots: 1 });
    const ext: RxChainSlot = { kind: "extra", extra: { ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_XDP } };
    expect(rx([rsp(60, NETRXF_extra_info), ext])).toMatchObject({ reason: "extra-type-invalid" });
    // With the newer headers' limit an XDP extra is valid.
    const chain = parseRxChain(rxSlotsFromArray([rsp(60, NETRXF_extra_info), ext]), 0, 2, newNetifChain(), { maxSlots: 18, extraTypeMax: XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP });
    expect(chain).toMatchObject({ reason: "ok", extras: 1, extraTypes: 1 << XEN_NETIF_EXTRA_TYPE_XDP });
  });
});
