/**
 * Replays `ring_macro_vectors_tx_1page` of abi-facts.json: the trace the real ring.h macros
 * produced on a 4096-byte page, step by step, with the same operations through our API.
 */
import { Machine } from "@pvnet/hypervisor";
import { BackRing, defineRingLayout, FrontRing, SharedRing } from "@pvnet/shared-ring";
import { abiFacts } from "@pvnet/testkit";
import { describe, expect, it } from "vitest";

type Vector = Record<string, string | number | boolean>;
const vectors: Vector[] = abiFacts().ring_h.ring_macro_vectors_tx_1page;
/** netif_tx: 12-byte request, 4-byte response, 12-byte slot. */
const TX = defineRingLayout("netif_tx", 12, 4);

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const putReq = (v: DataView, o: number, id: number) => v.setUint16(o + 8, id, true);
const putRsp = (v: DataView, o: number, id: number) => v.setUint16(o, id, true);
const getRsp = (v: DataView, o: number, out: { id: number }) => {
  out.id = v.getUint16(o, true);
};

describe("ring_macro_vectors_tx_1page replay", () => {
  it("matches every step of the real macros' trace", () => {
    const machine = new Machine(4);
    const mfn = machine.allocFrame(0);
    const base = machine.frameOffset(mfn);
    const sring = SharedRing.overFrames(machine, [mfn], TX);
    let front = new FrontRing(sring);
    let back = new BackRing(sring);
    const rsp = { id: 0 };
    const queue = (n: number) => {
      for (let i = 0; i < n; i++) front.writeRequest(front.produceRequest(), putReq, i);
    };

    const queueAndPush = (n: number): Vector => {
      queue(n);
      return { notify: front.pushRequestsAndCheckNotify() };
    };

    /** Each step's operations, in trace order; each returns the values the macros produced. */
    const steps: Array<() => Vector> = [
      () => {
        machine.fill(base, 0xaa, 4096);
        front.initShared();
        back.init();
        return {
          "RING_SIZE(front)": front.size,
          "RING_FREE_REQUESTS(front)": front.freeRequests(),
          "RING_FULL(front)": front.full(),
          shared_header_bytes_0_64: hex(machine.bytes.subarray(base, base + 64)),
          first_slot_bytes_64_76_not_cleared: hex(machine.bytes.subarray(base + 64, base + 76)),
        };
      },
      () => queueAndPush(1),
      () => queueAndPush(1),
      () => {
        const before = back.unconsumedRequests();
        for (let i = 0; i < before; i++) back.consumeRequest();
        return { RING_HAS_UNCONSUMED_REQUESTS_before: before, work_to_do: back.finalCheckForRequests() };
      },
      () => queueAndPush(3),
      () => {
        for (let i = 0; i < 2; i++) back.writeResponse(back.produceResponse(), putRsp, i);
        return {
          notify: back.pushResponsesAndCheckNotify(),
          "RING_FREE_REQUESTS(front)": front.freeRequests(),
          "RING_HAS_UNCONSUMED_RESPONSES(front)": front.unconsumedResponses(),
          "RING_HAS_UNCONSUMED_REQUESTS(back)": back.unconsumedRequests(),
        };
      },
      () => {
        for (let i = 0; i < 2; i++) expect(front.copyResponse(front.consumeResponse(), getRsp, rsp).id).toBe(i);
        return { work_to_do: front.finalCheckForResponses(), "RING_FREE_REQUESTS(front)": front.freeRequests() };
      },
      () => {
        // The trace answers one more without consuming it first: set the private index as C does.
        back.rspProdPvt = back.rspProdPvt + 1;
        return { notify: back.pushResponsesAndCheckNotify() };
      },
      () => ({ notify: back.pushResponsesAndCheckNotify() }),
      () => {
        sring.reqEvent = sring.reqProd + 3;
        queue(2);
        return { notify: front.pushRequestsAndCheckNotify() };
      },
      () => queueAndPush(2),
      () => {
        front.attach(0xfffffffe);
        back.attach(0xfffffffe);
        sring.reqProd = 0xfffffffe;
        sring.rspProd = 0xfffffffe;
        sring.reqEvent = 0xffffffff;
        sring.rspEvent = 0xffffffff;
        return {};
      },
      () => {
        queue(4);
        return {
          notify: front.pushRequestsAndCheckNotify(),
          "RING_HAS_UNCONSUMED_REQUESTS(back)": back.unconsumedRequests(),
          "RING_FREE_REQUESTS(front)": front.freeRequests(),
          slot_index_of_request_0xFFFFFFFE: sring.slotIndex(0xfffffffe),
          byte_offset_of_request_index_1: front.requestOffset(1) - base,
          byte_offset_of_request_index_257: front.requestOffset(257) - base,
        };
      },
      () => {
        sring.init();
        front = new FrontRing(sring).init();
        back = new BackRing(sring).init();
        return {
          "RING_REQUEST_CONS_OVERFLOW(back, 255)": back.requestConsOverflow(255),
          "RING_REQUEST_CONS_OVERFLOW(back, 256)": back.requestConsOverflow(256),
          "RING_REQUEST_PROD_OVERFLOW(back, 256)": back.requestProdOverflow(256),
          "RING_REQUEST_PROD_OVERFLOW(back, 257)": back.requestProdOverflow(257),
          "RING_RESPONSE_PROD_OVERFLOW(front, 256)": front.responseProdOverflow(256),
          "RING_RESPONSE_PROD_OVERFLOW(front, 257)": front.responseProdOverflow(257),
        };
      },
      () => {
        sring.reqProd = 1000;
        const fresh = back.unconsumedRequests();
        back.reqCons = 100;
        back.rspProdPvt = 40;
        return {
          "RING_HAS_UNCONSUMED_REQUESTS(back)": fresh,
          "after back.req_cons=100, back.rsp_prod_pvt=40: RING_HAS_UNCONSUMED_REQUESTS(back)": back.unconsumedRequests(),
        };
      },
    ];
    expect(steps.length).toBe(vectors.length);

    vectors.forEach((want, i) => {
      const got: Vector = { step: want.step as string, ...(steps[i] as () => Vector)() };
      // Indices after the step's operations (the trace records them after the step).
      Object.assign(got, {
        "shared.req_prod": sring.reqProd,
        "shared.req_event": sring.reqEvent,
        "shared.rsp_prod": sring.rspProd,
        "shared.rsp_event": sring.rspEvent,
        "front.req_prod_pvt": front.reqProdPvt,
        "front.rsp_cons": front.rspCons,
        "back.req_cons": back.reqCons,
        "back.rsp_prod_pvt": back.rspProdPvt,
      });
      const compared = Object.fromEntries(Object.keys(want).map((k) => [k, got[k]]));
      expect(compared, `step ${i}: ${want.step}`).toEqual(want);
    });
  });
});
