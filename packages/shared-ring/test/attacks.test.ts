// Attack catalogue of the shared ring: a peer that owns half of the page writes whatever it likes
// into its indices and slots. Each scenario shows what io/ring.h's macros (as this package models
// them) report, and that the end under attack never takes a slot it still owes, never reads an
// entry twice, and never throws for the peer's doing (only for its own broken invariants).
import { describe, expect, it } from "vitest";
import { getSeq, makeRing, putSeq } from "./harness.js";

const STARTS = [0, 0x7fffffff, 2 ** 32 - 3, 2 ** 32 - 256, 2 ** 32 - 1];
const HOSTILE_PRODS = (base: number, size: number) =>
  [size + 1, size + 2, 2 * size, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - size].map((d) => (base + d) >>> 0);

describe("a hostile front end against the back ring", () => {
  it.each(STARTS)("req_prod jumping ahead from %i is RING_REQUEST_PROD_OVERFLOW; the capped count never reaches a slot that owes a response", (start) => {
    for (const pages of [1, 4]) {
      const { sring, front, back } = makeRing(pages, start);
      // The front end queues 3 requests honestly, the back end takes them and answers one.
      for (let i = 0; i < 3; i++) front.writeRequest(front.produceRequest(), putSeq, i);
      front.pushRequests();
      for (let i = 0; i < 3; i++) back.consumeRequest();
      back.produceResponse();
      for (const prod of HOSTILE_PRODS(back.rspProdPvt, sring.size)) {
        sring.reqProd = prod;
        expect(back.requestProdOverflow(sring.reqProd)).toBe(true);
        // XEN_RING_NR_UNCONSUMED_REQUESTS: at most the slots already answered.
        const n = back.unconsumedRequests();
        expect(n).toBe(sring.size - 2);
      }
      // A back end that trusts only the capped count consumes exactly the free slots, no more.
      const n = back.unconsumedRequests();
      for (let i = 0; i < n; i++) back.consumeRequest();
      expect(back.unconsumedRequests()).toBe(0);
      expect(() => back.consumeRequest()).toThrow(expect.objectContaining({ name: "RingError", code: "ERING_CONS_OVERFLOW" }));
      expect(back.requestConsOverflow(back.reqCons)).toBe(true);
    }
  });

  it("req_prod moved back behind req_cons wraps to a huge distance: flagged, and nothing is consumed again", () => {
    for (const start of STARTS) {
      const { sring, front, back } = makeRing(1, start);
      for (let i = 0; i < 5; i++) front.produceRequest();
      front.pushRequests();
      for (let i = 0; i < 5; i++) back.consumeRequest();
      for (let i = 0; i < 5; i++) back.produceResponse();
      sring.reqProd = (back.reqCons - 3) >>> 0; // three requests "unpublished"
      expect(back.requestProdOverflow(sring.reqProd)).toBe(true);
      expect(back.unconsumedRequests()).toBe(sring.size); // capped by the ring, not 2^32 - 3
      sring.reqProd = back.reqCons; // an honest value again: nothing new
      expect(back.requestProdOverflow(sring.reqProd)).toBe(false);
      expect(back.unconsumedRequests()).toBe(0);
    }
  });

  it("XSA-155 (double fetch, RING_COPY_REQUEST): a request is decoded once; rewriting its slot afterwards changes nothing, straddling slots included", () => {
    const { sring, front, back } = makeRing(4, 0); // 12-byte slots, slot 677 straddles a page boundary
    for (let i = 0; i < 678; i++) front.writeRequest(front.produceRequest(), putSeq, 0x1000 + i);
    front.pushRequests();
    let decodes = 0;
    const out = { seq: 0, check: 0 };
    const counted = (v: DataView, o: number, x: typeof out) => {
      decodes++;
      getSeq(v, o, x);
    };
    for (let i = 0; i < 678; i++) {
      const idx = back.consumeRequest();
      back.copyRequest(idx, counted, out);
      const seq = out.seq;
      const check = out.check;
      // The front end rewrites the slot right after the copy (between two "reads" of the back end).
      front.writeRequest(idx, putSeq, 0xdead0000 + i);
      expect(out.seq).toBe(seq);
      expect(out.check).toBe(check);
      expect(seq).toBe(0x1000 + i);
      expect(check).toBe(~(0x1000 + i) >>> 0); // the fields agree: read in one copy
    }
    expect(decodes).toBe(678);
    expect(sring.slotOffset(677)).toBe(-1);
  });

  it("a front end scribbling req_event never makes the back end throw; the final check re-arms it", () => {
    const { sring, front, back } = makeRing(1, 2 ** 32 - 2);
    for (const ev of [0, 1, 2 ** 31, 2 ** 32 - 1, sring.reqProd]) {
      sring.reqEvent = ev;
      expect(typeof front.pushRequestsAndCheckNotify()).toBe("boolean");
      expect(back.finalCheckForRequests()).toBe(0);
      expect(sring.reqEvent).toBe((back.reqCons + 1) >>> 0);
    }
  });
});

describe("a hostile back end against the front ring", () => {
  it.each(STARTS)("rsp_prod jumping ahead from %i is RING_RESPONSE_PROD_OVERFLOW; an honest rsp_prod is not", (start) => {
    const { sring, front, back } = makeRing(1, start);
    for (let i = 0; i < 4; i++) front.produceRequest();
    front.pushRequests();
    for (let i = 0; i < 4; i++) back.consumeRequest();
    for (let i = 0; i < 4; i++) back.produceResponse();
    back.pushResponses();
    expect(front.responseProdOverflow(sring.rspProd)).toBe(false);
    expect(front.unconsumedResponses()).toBe(4);
    for (const prod of HOSTILE_PRODS(front.rspCons, sring.size)) {
      sring.rspProd = prod;
      expect(front.responseProdOverflow(sring.rspProd)).toBe(true);
    }
    // rsp_prod == rsp_cons + RING_SIZE is the most a back end can legitimately publish.
    sring.rspProd = (front.rspCons + sring.size) >>> 0;
    expect(front.responseProdOverflow(sring.rspProd)).toBe(false);
    // The front end only ever consumes what it has outstanding: a fifth response is refused as its bug.
    for (let i = 0; i < 4; i++) front.consumeResponse();
    expect(() => front.consumeResponse()).toThrow(expect.objectContaining({ name: "RingError", code: "ERING_EMPTY" }));
  });

  it("RING_COPY_RESPONSE: a response rewritten after its copy shows no effect", () => {
    const { sring, front, back } = makeRing(2, 2 ** 32 - 8);
    for (let i = 0; i < 16; i++) front.produceRequest();
    front.pushRequests();
    for (let i = 0; i < 16; i++) back.consumeRequest();
    for (let i = 0; i < 16; i++) back.writeResponse(back.produceResponse(), putSeq, 0x500 + i);
    back.pushResponses();
    const out = { seq: 0, check: 0 };
    for (let i = 0; i < 16; i++) {
      const idx = front.consumeResponse();
      front.copyResponse(idx, getSeq, out);
      back.writeResponse(idx, putSeq, 0xbad);
      expect([out.seq, out.check]).toEqual([0x500 + i, ~(0x500 + i) >>> 0]);
    }
    expect(sring.rspProd).toBe((2 ** 32 - 8 + 16) >>> 0);
  });
});

describe("indices wrapping at 2^32", () => {
  it("two laps across the wrap: every entry in order, slots at idx & (RING_SIZE - 1), notifications exact", () => {
    for (const pages of [1, 8]) {
      const start = 2 ** 32 - 5;
      const { sring, front, back } = makeRing(pages, start);
      const out = { seq: 0, check: 0 };
      let next = 0;
      let notifies = 0;
      for (let lap = 0; lap < 2 * sring.size; lap += 7) {
        for (let i = 0; i < 7 && !front.full(); i++) front.writeRequest(front.produceRequest(), putSeq, lap + i);
        if (front.pushRequestsAndCheckNotify()) notifies++;
        expect(back.requestProdOverflow(sring.reqProd)).toBe(false);
        let work = back.unconsumedRequests();
        while (work > 0) {
          for (; work > 0; work--) {
            const idx = back.consumeRequest();
            expect(sring.slotIndex(idx)).toBe(idx % sring.size);
            back.copyRequest(idx, getSeq, out);
            expect(out.seq).toBe(next++);
            back.writeResponse(back.produceResponse(), putSeq, out.seq);
          }
          work = back.finalCheckForRequests();
        }
        back.pushResponses();
        while (front.unconsumedResponses() > 0) front.consumeResponse();
      }
      expect(back.reqCons).toBe((start + next) >>> 0);
      expect(back.reqCons).toBeLessThan(start); // it did wrap
      // The back end re-arms req_event after every batch, so every push notifies.
      expect(notifies).toBe(Math.ceil((2 * sring.size) / 7));
    }
  });
});
