/**
 * netfront's receive path with build_skb around the receive page (`NetfrontOptions.rxBuildSkb`).
 *
 * This is NOT what Linux netfront does: Linux's xennet_poll copies up to RX_COPY_THRESHOLD bytes
 * of every packet into a freshly allocated linear head (rx.ts). It is the technique of virtio-net
 * ("virtio-net: switch to use build_skb() for small buffer", Jason Wang, 2017, and its netdev
 * thread) applied to netfront: the RX buffers are posted as bare pages, the backend is asked to
 * put the data after a headroom (NET_SKB_PAD + NET_IP_ALIGN, or XDP_PACKET_HEADROOM with a
 * program attached, through the `xdp-headroom` key of Linux 5.9+), and a response whose data
 * leaves the page's last SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) bytes free becomes an skb
 * built around the page itself: no head allocated, no byte copied, truesize SKB_TRUESIZE(PAGE_SIZE
 * - shinfo) as __build_skb_around accounts it. An XDP program runs on the page before any skb
 * exists, and a dropped frame's page is re-posted at once (page recycling).
 *
 * What does not fit keeps Linux's layout: a first buffer filled into the shinfo tailroom (the
 * netif protocol does not tell the backend how much of a page it may fill) becomes a small head
 * plus the page as frag 0, as on the copy path; a packet whose first buffer is shorter than
 * RX_COPY_THRESHOLD while more buffers follow has its headers split over several buffers (the
 * corner case of the virtio thread): it gets a fresh head and the headers are copied into it.
 * Later buffers are page frags in every case.
 *
 * Every response is validated as on the copy path (same checks, same alerts, same counters),
 * before its page is touched.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import {
  type NetifExtraInfo,
  type NetifRxResponse,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  writeRxRequest,
  XEN_NETIF_EXTRA_TYPE_GSO,
} from "@pvnet/netif";
import {
  CHECKSUM_PARTIAL,
  CHECKSUM_UNNECESSARY,
  MAX_SKB_FRAGS,
  NET_IP_ALIGN,
  NET_SKB_PAD,
  PAGE_SIZE,
  type Page,
  putPage,
  type SkBuff,
  SKB_SHINFO_SIZE,
  skbDataAlign,
  skbWithOverhead,
} from "@pvnet/skb-model";
import {
  COST_GRANT_ACCESS,
  COST_RING_REQUEST,
  INVALID_GRANT_REF,
  NET_RX_RING_SIZE,
  NET_RX_SLOTS_MIN,
  NetfrontError,
  type NetfrontQueue,
  type NetfrontRxInfo,
  RX_COPY_THRESHOLD,
  xennetEndAccessDeferred,
} from "./common.js";
import {
  getRxPage,
  modRefillTimer,
  rxidx,
  setRxRspCons,
  type RxSlotBuffer,
  xennetGetResponses,
  xennetMoveRxSlot,
  xennetPollDone,
  xennetPollRspProd,
  xennetSetSkbGso,
} from "./rx.js";
import { XDP_PASS, XDP_TX, xennetRunXdp } from "./xdp.js";

/** NET_SKB_PAD + NET_IP_ALIGN: the headroom build_skb buffers ask for without an XDP program. */
export const RX_BUILD_SKB_HEADROOM = NET_SKB_PAD + NET_IP_ALIGN;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)): the tailroom a build_skb buffer keeps free (320 on x86_64). */
export const RX_BUILD_SKB_TAILROOM = skbDataAlign(SKB_SHINFO_SIZE);
/** SKB_WITH_OVERHEAD(PAGE_SIZE): a frame built around the page must end at or before this offset. */
export const RX_BUILD_SKB_MAX_END = skbWithOverhead(PAGE_SIZE);

/** Give a receive page back for re-posting (or to the allocator once the recycle stack is full). */
function xennetRecyclePage(q: NetfrontQueue, page: Page): void {
  // Bounded: one recycled page per ring slot is all a refill can use.
  if (q.rxRecycle.length < NET_RX_RING_SIZE) q.rxRecycle.push(page);
  else putPage(page);
}

/** Recycle the pages of the chain being assembled (slots [0, n)). */
function xennetRecycleChain(q: NetfrontQueue, n: number): void {
  for (let k = 0; k < n; k++) {
    const page = q.rxChainPages[k] ?? null;
    q.rxChainPages[k] = null;
    if (page !== null) xennetRecyclePage(q, page);
  }
}

/**
 * xennet_alloc_rx_buffers for build_skb RX: a page per free slot, recycled first; a fresh page is
 * zeroed before it is granted (XSA-403), a recycled one has only ever held what this backend
 * wrote. Watermark, refill timer, push and notify as on the copy path.
 */
export function xennetAllocRxPages(q: NetfrontQueue, vcpu: Vcpu): void {
  const np = q.info;
  const rx = q.rx;
  if (!np.carrier || rx === null) return;
  const gnttab = np.env.gnttab;
  let err = false;
  while (((rx.reqProdPvt - rx.rspCons) >>> 0) < NET_RX_RING_SIZE) {
    let page = q.rxRecycle.pop() ?? null;
    if (page !== null) q.rxPathStats.rxPagesRecycled++;
    else {
      page = np.env.skbs.pool.allocPage();
      if (page === null) {
        err = true;
        break;
      }
      np.env.machine.fill(page.addr(0), 0, PAGE_SIZE);
    }
    const id = rxidx(rx.reqProdPvt);
    // Invariant: a free ring position has no posted buffer.
    if (q.rxPages[id] !== null || q.rxSkbs[id] !== null) throw new NetfrontError("BUG", `rx slot ${id} still holds a buffer`);
    const ref = gnttab.claimGrantReference(q.grefRxHead);
    if (ref < 0) throw new NetfrontError("BUG", "rx grant references exhausted");
    q.rxPages[id] = page;
    q.grantRxRef[id] = ref;
    gnttab.grantForeignAccessRef(ref, np.otherendId, page.gfns[0] as number, false);
    vcpu.charge(COST_GRANT_ACCESS);
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
 * build_skb RX's slots: bare pages, kept in q.rxChainPages[k - 1] (their grants ended) for
 * xennetBuildRxSkb; a dropped packet's pages are recycled.
 */
const RX_PAGE_SLOTS = Object.freeze<RxSlotBuffer<Page>>({
  take(q, ri, k) {
    q.rxChainPages[k - 1] = null;
    return getRxPage(q, ri);
  },
  page: (page) => page,
  lost(q, page) {
    if (page !== null) xennetRecyclePage(q, page); // cannot happen: pages are posted with a grant
  },
  repost: (q, page, ref) => xennetMoveRxSlot(q, null, ref, page),
  keep(q, _rx, page, _ref, k) {
    q.rxChainPages[k - 1] = page;
    return 0;
  },
  abandon(q, page, k) {
    // The deferred grant holds the page until the backend lets go; the packet's other pages are
    // ours again.
    if (page !== null) putPage(page);
    xennetRecycleChain(q, k);
  },
  drop: (q, slots) => xennetRecycleChain(q, slots),
});

/**
 * The skb of a validated chain of `slots` pages: built around the first page when its data fits
 * before the shinfo tailroom (and the headers are not split), else a small head with the first
 * page as frag 0; the other pages as frags. Returns the skb with `pullTo` in q.pullTo[index], or
 * null (no sk_buff left, or more frags than MAX_SKB_FRAGS): the pages not yet taken are the
 * caller's to recycle, those taken went with the freed skb.
 */
function xennetBuildRxSkb(q: NetfrontQueue, rinfo: NetfrontRxInfo, slots: number, index: number): SkBuff | null {
  const skbs = q.info.env.skbs;
  const first = rinfo.rx;
  const page0 = q.rxChainPages[0] as Page;
  // Headers split over several small buffers: a fresh head, the headers copied into it.
  const splitHeader = slots > 1 && first.status < RX_COPY_THRESHOLD;
  let skb: SkBuff | null;
  let pullTo = 0;
  if (!splitHeader && first.offset + first.status <= RX_BUILD_SKB_MAX_END) {
    // build_skb(page_address(page), PAGE_SIZE): the page is the head, its last bytes the shinfo.
    skb = skbs.buildSkb(page0, 0, PAGE_SIZE);
    if (skb === null) return null;
    q.rxChainPages[0] = null; // the skb holds the page reference now
    skb.reserve(first.offset);
    skb.put(first.status);
    q.rxPathStats.rxBuildSkb++;
  } else {
    // napi_alloc_skb(RX_COPY_THRESHOLD) + skb_add_rx_frag, as the copy path lays it out.
    skb = skbs.napiAllocSkb(RX_COPY_THRESHOLD);
    if (skb === null) return null;
    q.rxChainPages[0] = null;
    skb.addRxFrag(0, page0, first.offset, first.status, PAGE_SIZE);
    if (splitHeader) q.rxPathStats.rxSplitHeaderCopies++;
    else q.rxPathStats.rxBuildSkbNoTailroom++;
    pullTo = Math.min(first.status, RX_COPY_THRESHOLD);
  }
  let total = first.status;
  for (let k = 1; k < slots; k++) {
    const r = q.rxRsps[k] as NetifRxResponse;
    const page = q.rxChainPages[k] as Page;
    const sh = skb.shinfo;
    // As xennet_fill_frags: at MAX_SKB_FRAGS pull the headers in (which may empty frag 0).
    if (sh.nrFrags === MAX_SKB_FRAGS && pullTo > skb.headlen) skb.pskbPullTail(pullTo - skb.headlen);
    if (sh.nrFrags >= MAX_SKB_FRAGS) {
      skb.free();
      return null;
    }
    q.rxChainPages[k] = null;
    skb.addRxFrag(sh.nrFrags, page, r.offset, r.status, PAGE_SIZE);
    total += r.status;
  }
  // Split headers: copy up to RX_COPY_THRESHOLD bytes, from as many buffers as they span.
  if (splitHeader) pullTo = Math.min(total, RX_COPY_THRESHOLD);
  q.pullTo[index] = pullTo;
  return skb;
}

/**
 * xennet_poll for build_skb RX: the same loop as the copy path (budget, errors, GSO extra,
 * checksum flags, handle_incoming_queue, refill, NAPI completion), with XDP run on the page
 * before the skb is built and dropped frames' pages recycled.
 */
export function xennetPollBuildSkb(q: NetfrontQueue, budget: number, vcpu: Vcpu): number {
  const np = q.info;
  const rx = q.rx;
  const rp = xennetPollRspProd(q);
  if (rx === null || rp < 0) return 0;
  const rinfo = q.rinfo;
  let i = rx.rspCons;
  let workDone = 0;
  let nPull = 0;
  while (i !== rp && workDone < budget) {
    const slots = xennetGetResponses(q, rinfo, rp, RX_PAGE_SLOTS, vcpu);
    if (slots < 0) {
      if (np.broken) {
        q.rxq.purge();
        return 0;
      }
      q.stats.rxErrors++;
      i = rx.rspCons;
      continue;
    }
    // XDP on the page, before any skb (single-buffer packets only, as Linux netfront).
    const prog = np.xdpProg;
    let dropped = false;
    if (prog !== null) {
      if (slots > 1) {
        q.rxPathStats.xdpMultiBuffer++;
        dropped = true;
      } else {
        const page = q.rxChainPages[0] as Page;
        const act = xennetRunXdp(q, prog, page, rinfo.rx.offset, rinfo.rx.status, vcpu);
        if (act === XDP_TX) {
          // The TX ring holds its own reference (or it was returned): never re-post a page
          // that may still be on its way out.
          q.rxChainPages[0] = null;
          putPage(page);
          dropped = true;
        } else if (act !== XDP_PASS) dropped = true;
      }
    }
    let skb: SkBuff | null = null;
    if (!dropped) {
      skb = xennetBuildRxSkb(q, rinfo, slots, nPull);
      if (skb === null) dropped = true; // no sk_buff (or too many frags): the packet is lost
    }
    if (skb !== null) {
      const gso = rinfo.extras[XEN_NETIF_EXTRA_TYPE_GSO - 1] as NetifExtraInfo;
      if (gso.type !== 0 && xennetSetSkbGso(skb, gso) !== 0) {
        np.alert(q, "Bad GSO extra info");
        skb.free();
        skb = null;
        dropped = true;
      }
    }
    if (dropped || skb === null) {
      // Linux's err path: every page of the packet comes back, rx_errors counts it (an XDP
      // verdict other than XDP_PASS included, as in xennet_poll).
      xennetRecycleChain(q, slots);
      setRxRspCons(q, (rx.rspCons + slots) >>> 0);
      q.stats.rxErrors++;
      i = rx.rspCons;
      continue;
    }
    if ((rinfo.rx.flags & NETRXF_csum_blank) !== 0) skb.ipSummed = CHECKSUM_PARTIAL;
    else if ((rinfo.rx.flags & NETRXF_data_validated) !== 0) skb.ipSummed = CHECKSUM_UNNECESSARY;
    q.rxq.queueTail(skb);
    nPull++;
    i = (rx.rspCons + slots) >>> 0;
    setRxRspCons(q, i);
    workDone++;
  }
  return xennetPollDone(q, workDone, budget, vcpu);
}

/**
 * xennet_release_rx_bufs for posted pages: end access (deferred while the backend still uses a
 * page) and free them, and the recycled ones.
 */
export function xennetReleaseRxPages(q: NetfrontQueue, vcpu: Vcpu): void {
  for (let id = 0; id < NET_RX_RING_SIZE; id++) {
    const page = q.rxPages[id] ?? null;
    if (page === null) continue;
    q.rxPages[id] = null;
    const ref = q.grantRxRef[id] as number;
    q.grantRxRef[id] = INVALID_GRANT_REF;
    xennetEndAccessDeferred(q.info, ref, page, vcpu);
    putPage(page);
  }
  for (const page of q.rxRecycle) putPage(page);
  q.rxRecycle.length = 0;
  for (let k = 0; k < q.rxChainPages.length; k++) {
    const page = q.rxChainPages[k] ?? null;
    if (page !== null) putPage(page);
    q.rxChainPages[k] = null;
  }
}
