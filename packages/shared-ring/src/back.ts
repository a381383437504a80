/**
 * The backend's private view of a ring (`<tag>_back_ring_t` of io/ring.h: rsp_prod_pvt,
 * req_cons, nr_ents, sring) and the back-side macros. All index arithmetic wraps at 2^32.
 */
import { RingError } from "./errors.js";
import type { SharedRing, SlotDecoder, SlotEncoder } from "./sring.js";

/**
 * The backend's private view of a shared ring (ring.h's BACK_RING: req_cons, rsp_prod_pvt over the
 * shared page), with the RING_* operations and their overflow checks.
 */
export class BackRing {
  readonly sring: SharedRing;
  /** RING_SIZE(r) (`nr_ents`). */
  readonly size: number;
  private rspProdPvtValue = 0;
  private reqConsValue = 0;

  constructor(sring: SharedRing) {
    this.sring = sring;
    this.size = sring.size;
  }

  /** `rsp_prod_pvt`: responses queued locally, published by a push. */
  get rspProdPvt(): number {
    return this.rspProdPvtValue;
  }
  /** Set `rsp_prod_pvt` (the local producer; not yet visible to the front end). */
  set rspProdPvt(v: number) {
    this.rspProdPvtValue = v >>> 0;
  }
  /** `req_cons`: requests consumed. */
  get reqCons(): number {
    return this.reqConsValue;
  }
  /** Set `req_cons` (the local consumer index). */
  set reqCons(v: number) {
    this.reqConsValue = v >>> 0;
  }

  /** BACK_RING_INIT: private indices to 0. The back end never initialises the shared page. */
  init(): this {
    return this.attach(0);
  }

  /** BACK_RING_ATTACH: rsp_prod_pvt = req_cons = `index`, shared page untouched. */
  attach(index: number): this {
    this.rspProdPvtValue = index >>> 0;
    this.reqConsValue = index >>> 0;
    return this;
  }

  /**
   * RING_HAS_UNCONSUMED_REQUESTS (XEN_RING_NR_UNCONSUMED_REQUESTS): the smaller of
   * shared req_prod - req_cons and RING_SIZE - (req_cons - rsp_prod_pvt). The cap means a bogus
   * req_prod can never make the back end take a slot it still owes a response into.
   */
  unconsumedRequests(): number {
    const req = (this.sring.reqProd - this.reqConsValue) >>> 0;
    const rsp = (this.size - ((this.reqConsValue - this.rspProdPvtValue) >>> 0)) >>> 0;
    return Math.min(req, rsp);
  }

  /**
   * Take one request: returns its ring index (the old req_cons) and advances req_cons. Throws
   * ERING_CONS_OVERFLOW when RING_REQUEST_CONS_OVERFLOW holds (our bug: the capped count from
   * `unconsumedRequests` was not respected).
   */
  consumeRequest(): number {
    const idx = this.reqConsValue;
    // Invariant: req_cons - rsp_prod_pvt < RING_SIZE before taking a request.
    if (this.requestConsOverflow(idx)) {
      throw new RingError("ERING_CONS_OVERFLOW", `${this.sring.layout.name}: slot ${idx} still owes a response`);
    }
    this.reqConsValue = (idx + 1) >>> 0;
    return idx;
  }

  /**
   * Queue one response: returns its ring index (the old rsp_prod_pvt) and advances it. Throws
   * ERING_EMPTY when every consumed request is already answered (our bug).
   */
  produceResponse(): number {
    const idx = this.rspProdPvtValue;
    if (idx === this.reqConsValue) throw new RingError("ERING_EMPTY", `${this.sring.layout.name}: no request to answer`);
    this.rspProdPvtValue = (idx + 1) >>> 0;
    return idx;
  }

  /** RING_GET_REQUEST as a byte offset in ring memory; -1 for a slot straddling two pages. */
  requestOffset(idx: number): number {
    return this.sring.slotOffset(idx);
  }

  /** RING_COPY_REQUEST: decode the request at `idx` once into caller-owned `out`; validate `out`. */
  copyRequest<T>(idx: number, decode: SlotDecoder<T>, out: T): T {
    return this.sring.readSlot(idx, decode, out);
  }

  /** RING_GET_RESPONSE as a byte offset in ring memory; -1 for a slot straddling two pages. */
  responseOffset(idx: number): number {
    return this.sring.slotOffset(idx);
  }

  /** Encode a response into the slot for `idx`. Allocates nothing. */
  writeResponse<T>(idx: number, encode: SlotEncoder<T>, value: T): void {
    this.sring.writeSlot(idx, encode, value);
  }

  /** RING_PUSH_RESPONSES: publish rsp_prod_pvt (after the slot writes; no notification logic). */
  pushResponses(): void {
    this.sring.rspProd = this.rspProdPvtValue;
  }

  /**
   * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish rsp_prod_pvt and return whether the front end
   * asked to be notified, i.e. shared rsp_event lies in (old rsp_prod, new rsp_prod].
   */
  pushResponsesAndCheckNotify(): boolean {
    const sring = this.sring;
    const old = sring.rspProd;
    const now = this.rspProdPvtValue;
    sring.rspProd = now; // seq-cst store publishes the slot writes (xen_wmb)
    return (now - sring.rspEvent) >>> 0 < (now - old) >>> 0; // load ordered after the store (xen_mb)
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: the capped count of unconsumed requests; when none, set
   * req_event = req_cons + 1 and check again (catches a request published meanwhile).
   */
  finalCheckForRequests(): number {
    let work = this.unconsumedRequests();
    if (work !== 0) return work;
    this.sring.reqEvent = (this.reqConsValue + 1) >>> 0;
    work = this.unconsumedRequests(); // after the seq-cst store of req_event (xen_mb)
    return work;
  }

  /**
   * RING_REQUEST_CONS_OVERFLOW: true when taking request `cons` would leave RING_SIZE or more
   * requests consumed but unanswered (its slot still owes a response).
   */
  requestConsOverflow(cons: number): boolean {
    return (cons - this.rspProdPvtValue) >>> 0 >= this.size;
  }

  /**
   * RING_REQUEST_PROD_OVERFLOW: true when a front end's published req_prod is more than RING_SIZE
   * ahead of rsp_prod_pvt (the front end is misbehaving).
   */
  requestProdOverflow(prod: number): boolean {
    return (prod - this.rspProdPvtValue) >>> 0 > this.size;
  }
}
