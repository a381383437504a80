/**
 * The receive path of xen-netfront (drivers/net/xen-netfront.c): xennet_alloc_rx_buffers posts a
 * granted page per ring slot (with an skb whose frag 0 is that page), the interrupt schedules
 * NAPI, xennet_poll turns response chains into skbs — up to RX_COPY_THRESHOLD bytes pulled into
 * the linear area, the rest left as page frags — and hands them to the stack.
 *
 * The frontend does not trust the backend: rsp_prod is checked against the ring, each response is
 * copied once and validated (status, offset + size within the page) before its page is touched,
 * extras are type-checked, and chains are bounded. Violations get Linux's reactions: the packet is
 * dropped and counted (rx_errors), or the device is disabled with a logged alert.
 */
import { type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import {
  copyExtraInfo,
  type NetifExtraInfo,
  type NetifRxResponse,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  readExtraInfo,
  readRxResponse,
  writeRxRequest,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP,
  XEN_NETIF_EXTRA_TYPE_XDP,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_NR_SLOTS_MIN,
} from "@pvnet/netif";
import {
  CHECKSUM_PARTIAL,
  CHECKSUM_UNNECESSARY,
  E2BIG,
  EBADR,
  EINVAL,
  ENOENT,
  ETH_HLEN,
  ethTypeTrans,
  MAX_SKB_FRAGS,
  NET_IP_ALIGN,
  PAGE_SIZE,
  type Page,
  type SkBuff,
  type SkBuffHead,
  SKB_GSO_DODGY,
  SKB_GSO_TCPV4,
  SKB_GSO_TCPV6,
  xenChecksumSetup,
} from "@pvnet/skb-model";
import {
  COST_GRANT_ACCESS,
  COST_NAPI_POLL,
  COST_RING_REQUEST,
  COST_RING_RESPONSE,
  INVALID_GRANT_REF,
  NET_RX_RING_SIZE,
  NET_RX_SLOTS_MIN,
  NetfrontError,
  type NetfrontQueue,
  type NetfrontRxInfo,
  RX_COPY_THRESHOLD,
  RX_REFILL_TIMEOUT_NS,
  xennetEndAccessDeferred,
} from "./common.js";
import { xennetAttachRxPg, xennetChainRxPg } from "./persistent.js";
import { xennetAllocRxPages, xennetPollBuildSkb, xennetReleaseRxPages } from "./rx-build-skb.js";
import { XDP_PASS, xennetRunXdp } from "./xdp.js";

export function rxidx(idx: number): number {
  return idx & (NET_RX_RING_SIZE - 1);
}

/** xennet_get_rx_skb: take the skb posted at ring position `ri`. */
function getRxSkb(q: NetfrontQueue, ri: number): SkBuff | null {
  const i = rxidx(ri);
  const skb = q.rxSkbs[i] ?? null;
  q.rxSkbs[i] = null;
  return skb;
}

/** build_skb RX: take the page posted at ring position `ri` (null on the copy path). */
export function getRxPage(q: NetfrontQueue, ri: number): Page | null {
  const i = rxidx(ri);
  const page = q.rxPages[i] ?? null;
  q.rxPages[i] = null;
  return page;
}

/** xennet_get_rx_ref: take the grant posted at ring position `ri`. */
export function getRxRef(q: NetfrontQueue, ri: number): number {
  const i = rxidx(ri);
  const ref = q.grantRxRef[i] as number;
  q.grantRxRef[i] = INVALID_GRANT_REF;
  return ref;
}

/** xennet_set_rx_rsp_cons */
export function setRxRspCons(q: NetfrontQueue, val: number): void {
  const rx = q.rx;
  if (rx === null) return;
  rx.rspCons = val;
  q.rxRspUnconsumed = rx.unconsumedResponses();
}

/**
 * xennet_alloc_one_rx_buffer: an skb with RX_COPY_THRESHOLD of head room and one zeroed page as
 * frag 0. A persistent queue's buffer has no page of its own: its frag is the pool page the
 * caller attaches.
 */
function xennetAllocOneRxBuffer(q: NetfrontQueue): SkBuff | null {
  const skbs = q.info.env.skbs;
  const skb = skbs.netdevAllocSkb(RX_COPY_THRESHOLD + NET_IP_ALIGN);
  if (skb === null) return null;
  if (q.persistent) {
    skb.reserve(NET_IP_ALIGN);
    return skb;
  }
  const page = skbs.pool.allocPage();
  if (page === null) {
    skb.free();
    return null;
  }
  // __GFP_ZERO (XSA-403, "xen/netfront: fix leaking data in shared pages"): the page is granted
  // whole, so nothing it held before may be visible to the backend.
  q.info.env.machine.fill(page.addr(0), 0, PAGE_SIZE);
  skb.addRxFrag(0, page, 0, 0, PAGE_SIZE);
  skb.reserve(NET_IP_ALIGN); // align the IP header
  return skb;
}

/** mod_timer(&queue->rx_refill_timer, jiffies + HZ/10): its expiry schedules NAPI. */
export function modRefillTimer(q: NetfrontQueue): void {
  const gen = ++q.refillTimerGen;
  const life = q.generation;
  q.refillTimerArmed = true;
  q.info.env.work.setTimer(q.vcpu, RX_REFILL_TIMEOUT_NS, () => {
    if (q.generation !== life || q.refillTimerGen !== gen) return;
    q.refillTimerArmed = false;
    napiSchedule(q);
  });
}

/**
 * xennet_alloc_rx_buffers: post a buffer in every free RX slot. Fewer than NET_RX_SLOTS_MIN
 * outstanding (or an allocation failure) arms the refill timer and pushes nothing; otherwise push
 * and notify when ring.h says so.
 */
export function xennetAllocRxBuffers(q: NetfrontQueue, vcpu: Vcpu): void {
  if (q.buildSkb) {
    xennetAllocRxPages(q, vcpu);
    return;
  }
  const np = q.info;
  const rx = q.rx;
  if (!np.carrier || rx === null) return;
  const gnttab = np.env.gnttab;
  let err = false;
  while (((rx.reqProdPvt - rx.rspCons) >>> 0) < NET_RX_RING_SIZE) {
    const skb = xennetAllocOneRxBuffer(q);
    if (skb === null) {
      err = true;
      break;
    }
    const reqProd = rx.reqProdPvt;
    const id = rxidx(reqProd);
    // Invariant: a free ring position has no posted buffer (BUG_ON(queue->rx_skbs[id])).
    if (q.rxSkbs[id] !== null) throw new NetfrontError("BUG", `rx slot ${id} still holds a buffer`);
    q.rxSkbs[id] = skb;
    if (q.persistent) {
      // The buffer is a pool page granted once, frag 0 of a zerocopy skb (the RFC's RX path).
      // Invariant: as many pool pages as ring slots, and every packet's pages are back before
      // the refill, so one is free for every free slot.
      if (q.rxPgFreeCount === 0) throw new NetfrontError("BUG", "persistent rx pool empty");
      const k = q.rxPgFree[--q.rxPgFreeCount] as number;
      xennetAttachRxPg(q, skb, k);
      q.grantRxRef[id] = q.rxPgRef[k] as number;
    } else {
      const ref = gnttab.claimGrantReference(q.grefRxHead);
      if (ref < 0) throw new NetfrontError("BUG", "rx grant references exhausted");
      q.grantRxRef[id] = ref;
      const page = skb.shinfo.frags[0]?.page as Page;
      gnttab.grantForeignAccessRef(ref, np.otherendId, page.gfns[0] as number, false);
      vcpu.charge(COST_GRANT_ACCESS);
    }
    const ref = q.grantRxRef[id] as number;
    const req = q.rxReq;
    req.id = id;
    req.gref = ref;
    rx.writeRequest(rx.produceRequest(), writeRxRequest, req);
    vcpu.charge(COST_RING_REQUEST);
    q.stats.rxRequests++;
  }
  if (((rx.reqProdPvt - rx.rspCons) >>> 0) < NET_RX_SLOTS_MIN || err) {
    q.stats.rxRefillShort++;
    modRefillTimer(q);
    return;
  }
  q.stats.rxPushes++;
  if (rx.pushRequestsAndCheckNotify()) {
    q.stats.rxNotifies++;
    np.env.evtchn.evtchnSend(vcpu, q.rxEvtchn);
  }
}

/**
 * xennet_move_rx_slot: re-post a buffer whose slot carried no data (an extra, an error) at the
 * producer position. Linux lets req_prod_pvt run one past rsp_cons + RING_SIZE here until
 * rsp_cons catches up in the same call, so the index moves without the ring's full check.
 */
export function xennetMoveRxSlot(q: NetfrontQueue, skb: SkBuff | null, ref: number, page: Page | null = null): void {
  const rx = q.rx;
  if (rx === null || (skb === null && page === null) || ref === INVALID_GRANT_REF) return;
  const reqProd = rx.reqProdPvt;
  const nw = rxidx(reqProd);
  // Invariant: the target position was emptied by the walk that consumed it.
  if (q.rxSkbs[nw] !== null || q.rxPages[nw] !== null) throw new NetfrontError("BUG", `rx slot ${nw} still holds a buffer`);
  q.rxSkbs[nw] = skb;
  q.rxPages[nw] = page; // build_skb RX posts bare pages
  q.grantRxRef[nw] = ref;
  const req = q.rxReq;
  req.id = nw;
  req.gref = ref;
  rx.writeRequest(reqProd, writeRxRequest, req);
  rx.reqProdPvt = reqProd + 1;
}

/**
 * xennet_get_extras: the extra-info slots after the first response (the last of each type wins);
 * each slot's buffer is re-posted. 0, -EBADR (chain runs past rsp_prod) or -EINVAL (bad type).
 */
export function xennetGetExtras(q: NetfrontQueue, extras: NetifExtraInfo[], rp: number, vcpu: Vcpu): number {
  const np = q.info;
  const rx = q.rx;
  if (rx === null) return -EINVAL;
  const extra = q.rxExtra;
  let cons = rx.rspCons;
  let err = 0;
  do {
    if (((cons + 1) >>> 0) === rp) {
      np.alert(q, "Missing extra info");
      err = -EBADR;
      break;
    }
    cons = (cons + 1) >>> 0;
    rx.sring.readSlot(cons, readExtraInfo, extra); // RING_COPY_RESPONSE
    vcpu.charge(COST_RING_RESPONSE);
    if (extra.type === 0 || extra.type >= XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP) {
      np.alert(q, `Invalid extra type: ${extra.type}`);
      err = -EINVAL;
    } else copyExtraInfo(extras[extra.type - 1] as NetifExtraInfo, extra);
    const skb = getRxSkb(q, cons);
    const page = getRxPage(q, cons);
    const ref = getRxRef(q, cons);
    xennetMoveRxSlot(q, skb, ref, page);
  } while ((extra.flags & XEN_NETIF_EXTRA_FLAG_MORE) !== 0);
  setRxRspCons(q, cons);
  return err;
}

/**
 * What a ring slot holds on one receive path, and what the response walk does with it: the copy
 * path posts an skb whose frag 0 is the granted page, build_skb RX a bare page. Everything else
 * about a slot (its grant, its response, the checks) is the same on both paths.
 */
export interface RxSlotBuffer<B> {
  /** Take the buffer posted at ring position `ri`, the packet's slot `k` (1-based). */
  take(q: NetfrontQueue, ri: number, k: number): B | null;
  /** The page the backend wrote into. */
  page(buf: B | null): Page | null;
  /** A response whose id names no posted grant: the buffer is lost to the packet. */
  lost(q: NetfrontQueue, buf: B | null): void;
  /** xennet_move_rx_slot: re-post the buffer of a slot that carried no usable data. */
  repost(q: NetfrontQueue, buf: B | null, ref: number): void;
  /** Slot `k`'s data is ours (grant ended, or copied out of the persistent pool): keep it for the skb. 0, or an errno that drops the packet. */
  keep(q: NetfrontQueue, rx: NetifRxResponse, buf: B | null, ref: number, k: number, vcpu: Vcpu): number;
  /** The device broke on slot `k + 1`: free its buffer and the `k` kept before it. */
  abandon(q: NetfrontQueue, buf: B | null, k: number): void;
  /** The packet is dropped: give back what the `slots` slots kept. */
  drop(q: NetfrontQueue, slots: number): void;
}

/** The copy path's slots: skbs, kept on q.tmpq for xennet_fill_frags; XDP runs on the first page. */
const RX_SKB_SLOTS = Object.freeze<RxSlotBuffer<SkBuff>>({
  take: (q, ri) => getRxSkb(q, ri),
  page: (skb) => skb?.shinfo.frags[0]?.page ?? null,
  lost: () => {},
  repost: (q, skb, ref) => xennetMoveRxSlot(q, skb, ref),
  keep(q, rx, skb, _ref, k, vcpu) {
    let err = 0;
    // A persistent queue's data stays in the pool page, frag 0 of the skb, until the linear pull
    // or skb_copy_ubufs in handle_incoming_queue takes it out.
    if (!q.persistent) {
      // XDP before the stack (xennet_run_xdp): single-buffer packets only; a packet of several
      // slots is dropped while a program is attached. Any verdict but XDP_PASS drops the packet.
      const prog = q.info.xdpProg;
      if (prog !== null) {
        if ((rx.flags & NETRXF_more_data) !== 0) {
          if (k === 1) q.rxPathStats.xdpMultiBuffer++;
          err = -EINVAL;
        } else if (k === 1) {
          const page = skb?.shinfo.frags[0]?.page;
          if (page !== null && page !== undefined && xennetRunXdp(q, prog, page, rx.offset, rx.status, vcpu) !== XDP_PASS) err = -EINVAL;
        } else err = -EINVAL;
      }
    }
    if (skb !== null) q.tmpq.queueTail(skb);
    return err;
  },
  abandon(q, skb) {
    // Linux leaks the buffer here; the model deferred the grant (keeping its page) and frees
    // what this packet took, so a later teardown leaves nothing behind.
    skb?.free();
    q.tmpq.purge();
  },
  drop: () => {}, // the caller moves q.tmpq to the error queue
});

/**
 * xennet_get_responses (with xennet_poll's copy of the packet's first response): walk the response
 * chain of one packet at rsp_cons, validating every response before
 * its buffer is used; good slots' buffers are kept (`slot.keep`) with their grants ended.
 * Returns the number of slots, or a negative errno (the packet is then dropped, its buffers given
 * back, rsp_cons moved past it). A grant the backend still holds disables the device.
 */
export function xennetGetResponses<B>(q: NetfrontQueue, rinfo: NetfrontRxInfo, rp: number, slot: RxSlotBuffer<B>, vcpu: Vcpu): number {
  const np = q.info;
  const rx0 = q.rx;
  if (rx0 === null) return -EINVAL;
  const gnttab = np.env.gnttab;
  let rx: NetifRxResponse = rinfo.rx;
  rx0.sring.readSlot(rx0.rspCons, readRxResponse, rx); // xennet_poll's RING_COPY_RESPONSE of the first slot
  vcpu.charge(COST_RING_RESPONSE);
  for (const e of rinfo.extras) e.type = 0;
  const max = XEN_NETIF_NR_SLOTS_MIN + (rx.status <= RX_COPY_THRESHOLD ? 1 : 0);
  let cons = rx0.rspCons;
  let buf = slot.take(q, cons, 1);
  let ref = getRxRef(q, cons);
  let slots = 1;
  let err = 0;

  if ((rx.flags & NETRXF_extra_info) !== 0) {
    err = xennetGetExtras(q, rinfo.extras, rp, vcpu);
    if (err === 0) {
      const xdp = rinfo.extras[XEN_NETIF_EXTRA_TYPE_XDP - 1] as NetifExtraInfo;
      if (xdp.type !== 0) rx.offset = xdp.xdpHeadroom;
    }
    cons = rx0.rspCons;
  }

  for (;;) {
    if (ref === INVALID_GRANT_REF) {
      np.alert(q, `Bad rx response id ${rx.id}`);
      slot.lost(q, buf);
      err = -EINVAL;
    } else if (rx.status < 0 || rx.offset + rx.status > XEN_PAGE_SIZE) {
      np.alert(q, `rx->offset: ${rx.offset}, size: ${rx.status}`);
      slot.repost(q, buf, ref);
      err = -EINVAL;
    } else {
      // A persistent queue's slot is a pool grant, never ended here (the data is copied out).
      if (!q.persistent) {
        vcpu.charge(COST_GRANT_ACCESS);
        if (!gnttab.endForeignAccessRef(ref)) {
          np.setBroken(q, "Grant still in use by backend domain");
          // The deferred entry holds the page until the backend lets go.
          xennetEndAccessDeferred(np, ref, slot.page(buf), vcpu);
          slot.abandon(q, buf, slots - 1);
          return -EINVAL;
        }
        gnttab.releaseGrantReference(q.grefRxHead, ref);
      }
      const e = slot.keep(q, rx, buf, ref, slots, vcpu);
      if (e !== 0) err = e;
    }
    // next:
    if ((rx.flags & NETRXF_more_data) === 0) break;
    if (((cons + slots) >>> 0) === rp) {
      np.alert(q, "Need more slots");
      err = -ENOENT;
      break;
    }
    // RING_COPY_RESPONSE once into the packet's own copy: the skb is built from it, not the ring.
    rx = q.rxRsps[slots] as NetifRxResponse;
    rx0.sring.readSlot((cons + slots) >>> 0, readRxResponse, rx);
    vcpu.charge(COST_RING_RESPONSE);
    buf = slot.take(q, (cons + slots) >>> 0, slots + 1);
    ref = getRxRef(q, (cons + slots) >>> 0);
    slots++;
  }

  if (slots > max) {
    np.alert(q, "Too many slots");
    err = -E2BIG;
  }
  if (err !== 0) {
    slot.drop(q, slots);
    setRxRspCons(q, (cons + slots) >>> 0);
    return err;
  }
  return slots;
}

/** xennet_set_skb_gso */
export function xennetSetSkbGso(skb: SkBuff, gso: NetifExtraInfo): number {
  if (gso.gsoSize === 0) return -EINVAL; // "GSO size must not be zero"
  if (gso.gsoType !== XEN_NETIF_GSO_TYPE_TCPV4 && gso.gsoType !== XEN_NETIF_GSO_TYPE_TCPV6) return -EINVAL;
  const sh = skb.shinfo;
  sh.gsoSize = gso.gsoSize;
  sh.gsoType = (gso.gsoType === XEN_NETIF_GSO_TYPE_TCPV4 ? SKB_GSO_TCPV4 : SKB_GSO_TCPV6) | SKB_GSO_DODGY;
  sh.gsoSegs = 0; // header must be checked, gso_segs computed by the stack
  return 0;
}

/**
 * xennet_fill_frags: attach the pages of the chain's later slots as frags of `skb` (their skbs are
 * freed), pulling the headers in when MAX_SKB_FRAGS is reached. Uses the responses validated by
 * xennet_get_responses. 0 or -ENOENT (too many frags; rsp_cons moved past the packet).
 */
export function xennetFillFrags(q: NetfrontQueue, skb: SkBuff, list: SkBuffHead, pullTo: number): number {
  const rx = q.rx;
  if (rx === null) return -ENOENT;
  let cons = rx.rspCons;
  let k = 1;
  for (let nskb = list.dequeue(); nskb !== null; nskb = list.dequeue()) {
    const r = q.rxRsps[k++] as NetifRxResponse;
    cons = (cons + 1) >>> 0;
    const nfrag = nskb.shinfo.frags[0];
    const sh = skb.shinfo;
    if (sh.nrFrags === MAX_SKB_FRAGS) {
      // Invariant: pull_to >= headlen (BUG_ON in Linux).
      if (pullTo < skb.headlen) throw new NetfrontError("BUG", "pull_to below headlen");
      skb.pskbPullTail(pullTo - skb.headlen);
    }
    if (sh.nrFrags >= MAX_SKB_FRAGS) {
      setRxRspCons(q, (cons + 1 + list.length) >>> 0);
      nskb.free();
      return -ENOENT;
    }
    skb.addRxFrag(sh.nrFrags, nfrag?.page as Page, r.offset, r.status, PAGE_SIZE);
    // A pool page's owner moves with it.
    if (q.persistent) xennetChainRxPg(q, skb, nskb);
    // The page now belongs to skb: nskb gives up its frag without a put.
    const ns = nskb.shinfo;
    ns.nrFrags = 0;
    if (nfrag !== undefined) nfrag.page = null;
    nskb.free();
  }
  setRxRspCons(q, cons);
  return 0;
}

/** handle_incoming_queue: pull headers, set the protocol, checksum setup, napi_gro_receive. */
export function handleIncomingQueue(q: NetfrontQueue): number {
  const np = q.info;
  let dropped = 0;
  let i = 0;
  for (let skb = q.rxq.dequeue(); skb !== null; skb = q.rxq.dequeue()) {
    const pullTo = q.pullTo[i++] as number;
    if (pullTo > skb.headlen) skb.pskbPullTail(pullTo - skb.headlen);
    // A first slot shorter than ETH_HLEN with more slots behind it leaves the Ethernet header
    // split between head and frag: Linux's eth_type_trans -> __skb_pull then hits BUG() (len <
    // data_len). The model pulls the header in instead, so no backend can crash the guest.
    if (skb.headlen < ETH_HLEN && skb.len >= ETH_HLEN) skb.pskbPullTail(ETH_HLEN - skb.headlen);
    // Persistent grants: a packet the pull left in the pool pages is copied out of them
    // (skb_copy_ubufs), so every pool page is back before the refill and none is held by the stack.
    if (skb.zcopy !== null) {
      const bytes = skb.dataLen;
      if (skb.copyUbufs() !== 0) {
        skb.free();
        dropped++;
        q.stats.rxErrors++;
        continue;
      }
      if (bytes !== 0) {
        q.stats.rxPersistentExtraCopies++;
        q.stats.rxPersistentCopyBytes += bytes;
      }
    }
    skb.protocol = ethTypeTrans(skb, np.mac);
    if (xenChecksumSetup(skb, q.stats) !== 0) {
      skb.free();
      dropped++;
      q.stats.rxErrors++;
      continue;
    }
    q.stats.rxPackets++;
    q.stats.rxBytes += skb.len;
    if (skb.len < ETH_HLEN) {
      // A runt (0..13 bytes: a zero-size response is valid, status >= 0). Linux counts it as
      // received and passes it up: eth_type_trans's skb_pull_inline(skb, ETH_HLEN) refuses to
      // pull past the frame and the protocol comes from whatever bytes follow it; every L3
      // handler (ip_rcv, ipv6_rcv, arp_rcv: pskb_may_pull) then frees it
      // (SKB_DROP_REASON_PKT_TOO_SMALL). The model's stack is onReceive, which is promised an
      // Ethernet header, so the stack's drop happens here, counted apart.
      q.stats.rxRunts++;
      skb.free();
      continue;
    }
    np.options.onReceive(skb, q.id);
  }
  return dropped;
}

/**
 * xennet_poll: consume up to `budget` packets. Returns the work done; below the budget NAPI
 * completes and re-arms (RING_FINAL_CHECK_FOR_RESPONSES), at the budget it is polled again.
 */
export function xennetPoll(q: NetfrontQueue, budget: number, vcpu: Vcpu): number {
  if (q.buildSkb) return xennetPollBuildSkb(q, budget, vcpu);
  const np = q.info;
  const rx = q.rx;
  const rp = xennetPollRspProd(q);
  if (rx === null || rp < 0) return 0;
  const rinfo = q.rinfo;
  const tmpq = q.tmpq;
  const errq = q.errq;
  let i = rx.rspCons;
  let workDone = 0;
  let nPull = 0;
  while (i !== rp && workDone < budget) {
    let failed = xennetGetResponses(q, rinfo, rp, RX_SKB_SLOTS, vcpu) < 0;
    if (failed && np.broken) {
      // Linux returns with the lists as they are; the model frees them (nothing may leak).
      tmpq.purge();
      errq.purge();
      q.rxq.purge();
      return 0;
    }
    let skb: SkBuff | null = null;
    if (!failed) {
      skb = tmpq.dequeue() as SkBuff;
      const gso = rinfo.extras[XEN_NETIF_EXTRA_TYPE_GSO - 1] as NetifExtraInfo;
      if (gso.type !== 0 && xennetSetSkbGso(skb, gso) !== 0) {
        np.alert(q, "Bad GSO extra info");
        tmpq.queueHead(skb);
        skb = null;
        setRxRspCons(q, (rx.rspCons + tmpq.length) >>> 0);
        failed = true;
      }
    }
    if (!failed && skb !== null) {
      const status = rinfo.rx.status;
      const pullTo = Math.min(status, RX_COPY_THRESHOLD);
      const f0 = skb.shinfo.frags[0];
      if (f0 !== undefined) {
        f0.offset = rinfo.rx.offset;
        f0.size = status;
      }
      skb.dataLen = status;
      skb.len += status;
      if (xennetFillFrags(q, skb, tmpq, pullTo) !== 0) {
        errq.queueTail(skb); // Linux leaks it here; the model frees it with the error queue
        failed = true;
      } else {
        if ((rinfo.rx.flags & NETRXF_csum_blank) !== 0) skb.ipSummed = CHECKSUM_PARTIAL;
        else if ((rinfo.rx.flags & NETRXF_data_validated) !== 0) skb.ipSummed = CHECKSUM_UNNECESSARY;
        q.rxq.queueTail(skb);
        q.pullTo[nPull++] = pullTo;
        i = (rx.rspCons + 1) >>> 0;
        setRxRspCons(q, i);
        workDone++;
        continue;
      }
    }
    // err:
    for (let s = tmpq.dequeue(); s !== null; s = tmpq.dequeue()) errq.queueTail(s);
    q.stats.rxErrors++;
    i = rx.rspCons;
  }
  errq.purge();
  return xennetPollDone(q, workDone, budget, vcpu);
}

/**
 * xennet_poll's opening, on both RX paths: count the poll and read rsp_prod. Returns it, or -1
 * when nothing may be consumed: the queue is down, the device broken, or rsp_prod illegal
 * (RING_RESPONSE_PROD_OVERFLOW, or a response over a slot never posted), which breaks it.
 */
export function xennetPollRspProd(q: NetfrontQueue): number {
  const np = q.info;
  const rx = q.rx;
  q.stats.napiPolls++;
  if (!q.live || rx === null || np.broken) return -1;
  const rp = rx.sring.rspProd;
  if (rx.responseProdOverflow(rp) || (rp - rx.rspCons) >>> 0 > (rx.reqProdPvt - rx.rspCons) >>> 0) {
    np.setBroken(q, `Illegal number of responses ${(rp - rx.rspCons) >>> 0}`);
    return -1;
  }
  return rp;
}

/**
 * xennet_poll's end, on both RX paths: hand the packets to the stack (handle_incoming_queue, its
 * drops taken off the work done), refill the ring, and below the budget complete NAPI and re-arm
 * (RING_FINAL_CHECK_FOR_RESPONSES). Returns the work done.
 */
export function xennetPollDone(q: NetfrontQueue, work: number, budget: number, vcpu: Vcpu): number {
  const workDone = work - handleIncomingQueue(q);
  xennetAllocRxBuffers(q, vcpu);
  if (workDone < budget) {
    q.napiScheduled = false; // napi_complete_done
    const rx = q.rx;
    if (q.live && rx !== null && rx.finalCheckForResponses() !== 0) napiSchedule(q);
  }
  return workDone;
}

/** napi_schedule: run xennet_poll on the queue's VCPU (once while scheduled). */
export function napiSchedule(q: NetfrontQueue): void {
  if (q.napiScheduled || !q.live) return;
  q.napiScheduled = true;
  const life = q.generation;
  q.info.env.work.runOn(q.vcpu, q.vcpu.actor.nowNs, (v) => napiRun(q, life, v));
}

function napiRun(q: NetfrontQueue, life: number, vcpu: Vcpu): void {
  if (q.generation !== life || !q.live) return;
  const budget = q.info.napiBudget;
  vcpu.charge(COST_NAPI_POLL);
  const work = xennetPoll(q, budget, vcpu);
  // At the budget NAPI stays scheduled and polls again (after other work on this VCPU).
  if (work >= budget && q.generation === life && q.live && !q.info.broken) {
    q.info.env.work.runOn(q.vcpu, vcpu.actor.nowNs, (v) => napiRun(q, life, v));
  }
}

/**
 * xennet_handle_rx: the RX half of the interrupt. A producer index that goes backwards disables
 * the device; new responses schedule NAPI. False when the device is broken.
 */
export function xennetHandleRx(q: NetfrontQueue): boolean {
  const np = q.info;
  const rx = q.rx;
  if (np.broken || rx === null) return false;
  const workQueued = rx.unconsumedResponses();
  if (workQueued > q.rxRspUnconsumed) q.rxRspUnconsumed = workQueued;
  else if (workQueued < q.rxRspUnconsumed) {
    np.setBroken(q, "RX producer index going backwards");
    return false;
  }
  if (np.carrier && workQueued !== 0) napiSchedule(q);
  return true;
}

/**
 * xennet_release_rx_bufs: at disconnect, end access to every posted buffer (deferred while the
 * backend still uses it) and free the skbs with their pages.
 */
export function xennetReleaseRxBufs(q: NetfrontQueue, vcpu: Vcpu): void {
  for (let id = 0; id < NET_RX_RING_SIZE; id++) {
    const skb = q.rxSkbs[id];
    if (skb === null || skb === undefined) continue;
    q.rxSkbs[id] = null;
    const ref = q.grantRxRef[id] as number;
    q.grantRxRef[id] = INVALID_GRANT_REF;
    // A pool grant is ended with the whole pool (xennetFreePersistentGnts).
    if (ref !== INVALID_GRANT_REF && !q.persistent) xennetEndAccessDeferred(q.info, ref, skb.shinfo.frags[0]?.page ?? null, vcpu);
    skb.free();
  }
  xennetReleaseRxPages(q, vcpu);
}
