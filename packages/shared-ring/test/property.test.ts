import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { getSeq, makeRing, putSeq } from "./harness.js";

type Op = { op: "produce" | "push" | "consume" | "respond" | "pushRsp" | "consumeRsp" | "finalReq" | "finalRsp"; n: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  op: fc.constantFrom("produce", "push", "consume", "respond", "pushRsp", "consumeRsp", "finalReq", "finalRsp"),
  n: fc.integer({ min: 1, max: 300 }),
});
const pagesArb = fc.constantFrom(1, 2, 4, 8);
/** Start indices near 0, near the 2^32 wrap, and anywhere. */
const startArb = fc.oneof(fc.constant(0), fc.integer({ min: 0xffffff00, max: 0xffffffff }), fc.nat({ max: 0xffffffff }));

const d = (a: number, b: number) => (a - b) >>> 0;

/** Runs `ops` honestly on both ends, checking entries and the ring invariants after each op. */
function run(pages: number, start: number, ops: readonly Op[]) {
  const r = makeRing(pages, start);
  const { sring, front, back } = r;
  const entry = { seq: 0, check: 0 };
  let nextReq = 0; // sequence number of the next request queued
  let nextCons = 0; // expected sequence of the next request consumed
  let nextRsp = 0; // sequence of the next response written
  let nextRspCons = 0; // expected sequence of the next response consumed
  let backArmed = false; // the back end's final check found nothing: the next published request must notify
  let frontArmed = false;
  for (const { op, n } of ops) {
    switch (op) {
      case "produce": {
        const k = Math.min(n, front.freeRequests());
        for (let i = 0; i < k; i++) front.writeRequest(front.produceRequest(), putSeq, nextReq++);
        if (front.freeRequests() === 0) expect(front.full()).toBe(true);
        break;
      }
      case "push": {
        const published = d(front.reqProdPvt, sring.reqProd);
        const notify = front.pushRequestsAndCheckNotify();
        if (published === 0) expect(notify).toBe(false);
        if (backArmed && published > 0) {
          expect(notify, "request published after the back end's final check must notify").toBe(true);
          backArmed = false;
        }
        break;
      }
      case "consume": {
        const avail = back.unconsumedRequests();
        expect(avail).toBe(d(sring.reqProd, back.reqCons)); // an honest front end is never capped
        const k = Math.min(n, avail);
        for (let i = 0; i < k; i++) {
          back.copyRequest(back.consumeRequest(), getSeq, entry);
          expect([entry.seq, entry.check]).toEqual([nextCons, ~nextCons >>> 0]);
          nextCons++;
        }
        if (k > 0) backArmed = false;
        break;
      }
      case "respond": {
        const k = Math.min(n, d(back.reqCons, back.rspProdPvt));
        for (let i = 0; i < k; i++) back.writeResponse(back.produceResponse(), putSeq, nextRsp++);
        break;
      }
      case "pushRsp": {
        const published = d(back.rspProdPvt, sring.rspProd);
        const notify = back.pushResponsesAndCheckNotify();
        if (published === 0) expect(notify).toBe(false);
        if (frontArmed && published > 0) {
          expect(notify, "response published after the front end's final check must notify").toBe(true);
          frontArmed = false;
        }
        break;
      }
      case "consumeRsp": {
        const k = Math.min(n, front.unconsumedResponses());
        for (let i = 0; i < k; i++) {
          front.copyResponse(front.consumeResponse(), getSeq, entry);
          expect(entry.seq).toBe(nextRspCons++);
        }
        if (k > 0) frontArmed = false;
        break;
      }
      case "finalReq": {
        const w = back.finalCheckForRequests();
        expect(w).toBe(d(sring.reqProd, back.reqCons));
        if (w === 0) {
          expect(sring.reqEvent).toBe((back.reqCons + 1) >>> 0);
          backArmed = true;
        }
        break;
      }
      case "finalRsp": {
        const w = front.finalCheckForResponses();
        expect(w).toBe(d(sring.rspProd, front.rspCons));
        if (w === 0) frontArmed = true;
        break;
      }
    }
    // Invariants, as distances from rsp_cons (all mod 2^32):
    // rsp_cons <= rsp_prod <= rsp_prod_pvt <= req_cons <= req_prod <= req_prod_pvt <= rsp_cons + RING_SIZE.
    const base = front.rspCons;
    const chain = [sring.rspProd, back.rspProdPvt, back.reqCons, sring.reqProd, front.reqProdPvt].map((x) => d(x, base));
    expect(chain).toEqual([...chain].sort((a, b) => a - b));
    expect(chain[4]).toBeLessThanOrEqual(front.size);
    expect(d(sring.reqProd, sring.rspProd)).toBeLessThanOrEqual(front.size);
    expect(front.freeRequests()).toBe(front.size - chain[4]!);
    // Honest peers never trip the overflow checks.
    expect(back.requestProdOverflow(sring.reqProd)).toBe(false);
    expect(front.responseProdOverflow(sring.rspProd)).toBe(false);
  }
  return r;
}

describe("ring invariants under any sequence of operations", () => {
  test.prop([pagesArb, startArb, fc.array(opArb, { maxLength: 60 })])("honest ends keep every invariant", (pages, start, ops) => {
    run(pages, start, ops);
  });

  test.prop([pagesArb, startArb, fc.array(opArb, { maxLength: 30 }), fc.integer({ min: 1, max: 0x7fffffff })])(
    "a front end that jumps req_prod ahead is flagged and cannot make the back end overrun",
    (pages, start, ops, jump) => {
      const { sring, back } = run(pages, start, ops);
      const honestMax = (back.rspProdPvt + back.size) >>> 0;
      expect(back.requestProdOverflow(honestMax)).toBe(false);
      sring.reqProd = honestMax + jump;
      expect(back.requestProdOverflow(sring.reqProd)).toBe(true);
      // The capped count lets the back end take only the slots that owe no response.
      const avail = back.unconsumedRequests();
      expect(avail).toBe(back.size - d(back.reqCons, back.rspProdPvt));
      for (let i = 0; i < avail; i++) back.consumeRequest();
      expect(back.unconsumedRequests()).toBe(0);
      expect(back.requestConsOverflow(back.reqCons)).toBe(true);
      expect(() => back.consumeRequest()).toThrow(expect.objectContaining({ name: "RingError", code: "ERING_CONS_OVERFLOW" }));
    },
  );

  test.prop([pagesArb, startArb, fc.array(opArb, { maxLength: 30 }), fc.integer({ min: 1, max: 0x7fffffff })])(
    "a back end that jumps rsp_prod ahead is flagged",
    (pages, start, ops, jump) => {
      const { sring, front } = run(pages, start, ops);
      const honestMax = (front.rspCons + front.size) >>> 0;
      expect(front.responseProdOverflow(honestMax)).toBe(false);
      sring.rspProd = honestMax + jump;
      expect(front.responseProdOverflow(sring.rspProd)).toBe(true);
    },
  );
});
