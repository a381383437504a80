/**
 * The frontend's private view of a ring (`<tag>_front_ring_t` of io/ring.h: req_prod_pvt,
 * rsp_cons, nr_ents, sring) and the front-side macros. All index arithmetic wraps at 2^32.
 */
import { RingError } from "./errors.js";
import type { SharedRing, SlotDecoder, SlotEncoder } from "./sring.js";

/**
 * The frontend's private view of a shared ring (ring.h's FRONT_RING: req_prod_pvt, rsp_cons over
 * the shared page), with the RING_* operations.
 */
export class FrontRing {
  readonly sring: SharedRing;
  /** RING_SIZE(r) (`nr_ents`). */
  readonly size: number;
  private reqProdPvtValue = 0;
  private rspConsValue = 0;

  constructor(sring: SharedRing) {
    this.sring = sring;
    this.size = sring.size;
  }

  /** `req_prod_pvt`: requests queued locally, published by a push. */
  get reqProdPvt(): number {
    return this.reqProdPvtValue;
  }
  /** Set `req_prod_pvt` (the local producer; not yet visible to the back end). */
  set reqProdPvt(v: number) {
    this.reqProdPvtValue = v >>> 0;
  }
  /** `rsp_cons`: responses consumed. */
  get rspCons(): number {
    return this.rspConsValue;
  }
  /** Set `rsp_cons` (the local consumer index). */
  set rspCons(v: number) {
    this.rspConsValue = v >>> 0;
  }

  /** FRONT_RING_INIT: private indices to 0; the shared page is not touched. */
  init(): this {
    return this.attach(0);
  }

  /** XEN_FRONT_RING_INIT: SHARED_RING_INIT then FRONT_RING_INIT (the frontend owns the page). */
  initShared(): this {
    this.sring.init();
    return this.attach(0);
  }

  /** FRONT_RING_ATTACH: req_prod_pvt = rsp_cons = `index`, shared page untouched. */
  attach(index: number): this {
    this.reqProdPvtValue = index >>> 0;
    this.rspConsValue = index >>> 0;
    return this;
  }

  /** RING_FREE_REQUESTS: RING_SIZE - (req_prod_pvt - rsp_cons). */
  freeRequests(): number {
    return (this.size - ((this.reqProdPvtValue - this.rspConsValue) >>> 0)) >>> 0;
  }

  /** RING_FULL: no free request slot. */
  full(): boolean {
    return this.freeRequests() === 0;
  }

  /**
   * RING_HAS_UNCONSUMED_RESPONSES (XEN_RING_NR_UNCONSUMED_RESPONSES): shared rsp_prod - rsp_cons,
   * a count. A backend that publishes a bogus rsp_prod makes this large: check
   * `responseProdOverflow(sring.rspProd)` before trusting it.
   */
  unconsumedResponses(): number {
    return (this.sring.rspProd - this.rspConsValue) >>> 0;
  }

  /**
   * Queue one request: returns its ring index (the old req_prod_pvt) and advances req_prod_pvt.
   * The caller writes the slot with `writeRequest(index, ...)` before the next push.
   * Throws ERING_FULL (our bug: RING_FULL was not checked).
   */
  produceRequest(): number {
    // Invariant: req_prod_pvt - rsp_cons <= RING_SIZE, so a free slot holds no unconsumed response.
    if (this.freeRequests() === 0) throw new RingError("ERING_FULL", `${this.sring.layout.name}: front ring full`);
    const idx = this.reqProdPvtValue;
    this.reqProdPvtValue = (idx + 1) >>> 0;
    return idx;
  }

  /**
   * Take one response: returns its ring index (the old rsp_cons) and advances rsp_cons. Throws
   * ERING_EMPTY when no request is outstanding (our bug: the count was not checked).
   */
  consumeResponse(): number {
    const idx = this.rspConsValue;
    if (idx === this.reqProdPvtValue) throw new RingError("ERING_EMPTY", `${this.sring.layout.name}: no outstanding request`);
    this.rspConsValue = (idx + 1) >>> 0;
    return idx;
  }

  /** RING_GET_REQUEST as a byte offset in ring memory; -1 for a slot straddling two pages. */
  requestOffset(idx: number): number {
    return this.sring.slotOffset(idx);
  }

  /** Encode a request into the slot for `idx` (RING_GET_REQUEST + store). Allocates nothing. */
  writeRequest<T>(idx: number, encode: SlotEncoder<T>, value: T): void {
    this.sring.writeSlot(idx, encode, value);
  }

  /** RING_COPY_RESPONSE: decode the response at `idx` once into caller-owned `out`. */
  copyResponse<T>(idx: number, decode: SlotDecoder<T>, out: T): T {
    return this.sring.readSlot(idx, decode, out);
  }

  /** RING_PUSH_REQUESTS: publish req_prod_pvt (after the slot writes; no notification logic). */
  pushRequests(): void {
    this.sring.reqProd = this.reqProdPvtValue;
  }

  /**
   * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publish req_prod_pvt and return whether the back end
   * asked to be notified, i.e. shared req_event lies in (old req_prod, new req_prod].
   */
  pushRequestsAndCheckNotify(): boolean {
    const sring = this.sring;
    const old = sring.reqProd;
    const now = this.reqProdPvtValue;
    sring.reqProd = now; // seq-cst store: slot writes before it are visible first (xen_wmb)
    // seq-cst load after the store (xen_mb): cannot read a req_event older than our store.
    return (now - sring.reqEvent) >>> 0 < (now - old) >>> 0;
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: the count of unconsumed responses; when none, set
   * rsp_event = rsp_cons + 1 and check again (catches a response published meanwhile).
   */
  finalCheckForResponses(): number {
    let work = this.unconsumedResponses();
    if (work !== 0) return work;
    this.sring.rspEvent = (this.rspConsValue + 1) >>> 0;
    work = this.unconsumedResponses(); // after the seq-cst store of rsp_event (xen_mb)
    return work;
  }

  /**
   * RING_RESPONSE_PROD_OVERFLOW: true when a back end's published rsp_prod is more than RING_SIZE
   * ahead of rsp_cons (the back end is misbehaving).
   */
  responseProdOverflow(prod: number): boolean {
    return (prod - this.rspConsValue) >>> 0 > this.size;
  }
}
