/**
 * The transmit path of xen-netfront (drivers/net/xen-netfront.c): xennet_start_xmit builds one
 * read-only grant and one request per 4 KiB chunk of the packet (first request carries the whole
 * length, NETTXF_more_data chains the rest, a GSO extra-info slot follows the first), pushes and
 * notifies only when ring.h says so, and stops the queue when a worst-case packet would no longer
 * fit; xennet_tx_buf_gc takes the responses, ends access to each grant and frees the skbs.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import {
  NETIF_RSP_DROPPED,
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  type NetifTxRequest,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  readTxResponse,
  writeExtraInfo,
  writeTxRequest,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_MAX_TX_SIZE,
} from "@pvnet/netif";
import {
  CHECKSUM_PARTIAL,
  CHECKSUM_UNNECESSARY,
  COST_MEMCPY,
  PAGE_SIZE,
  type Page,
  putPage,
  type SkBuff,
  SKB_GSO_DODGY,
  SKB_GSO_TCPV4,
  SKB_GSO_TCPV6,
  xennetCountSkbSlots,
  ETH_HLEN,
} from "@pvnet/skb-model";
import {
  COST_GRANT_ACCESS,
  COST_RING_REQUEST,
  COST_RING_RESPONSE,
  INVALID_GRANT_REF,
  NET_TX_RING_SIZE,
  NETDEV_TX_BUSY,
  NETDEV_TX_OK,
  NetfrontError,
  type NetfrontInfo,
  type NetfrontQueue,
  type NetfrontStats,
  TX_LINK_NONE,
  TX_PENDING,
} from "./common.js";
import { netfrontBusyPollTx } from "./busy-poll.js";

/** add_id_to_list */
function addIdToList(q: NetfrontQueue, which: "free" | "pend", id: number): void {
  if (which === "free") {
    q.txLink[id] = q.txSkbFreelist;
    q.txSkbFreelist = id;
  } else {
    q.txLink[id] = q.txPendQueue;
    q.txPendQueue = id;
  }
}

/** get_id_from_list */
function getIdFromList(q: NetfrontQueue, which: "free" | "pend"): number {
  const id = which === "free" ? q.txSkbFreelist : q.txPendQueue;
  if (id !== TX_LINK_NONE) {
    if (which === "free") q.txSkbFreelist = q.txLink[id] as number;
    else q.txPendQueue = q.txLink[id] as number;
    q.txLink[id] = TX_LINK_NONE;
  }
  return id;
}

/** xennet_init_queue's TX part: every id on the free list, no grant, no page. */
export function xennetInitTxIds(q: NetfrontQueue): void {
  q.txSkbFreelist = 0;
  q.txPendQueue = TX_LINK_NONE;
  for (let i = 0; i < NET_TX_RING_SIZE; i++) {
    q.txLink[i] = i + 1;
    q.grantTxRef[i] = INVALID_GRANT_REF;
    q.grantTxPage[i] = null;
    q.txSkbs[i] = null;
  }
  q.txLink[NET_TX_RING_SIZE - 1] = TX_LINK_NONE;
}

/**
 * netfront_tx_slot_available: room for a worst-case packet, i.e. fewer than
 * RING_SIZE - (max slots + 1 extra) requests outstanding.
 */
export function netfrontTxSlotAvailable(q: NetfrontQueue): boolean {
  const tx = q.tx;
  if (tx === null) return false;
  return (tx.reqProdPvt - tx.rspCons) >>> 0 < NET_TX_RING_SIZE - q.info.maxTxSlots - 1;
}

/** xennet_maybe_wake_tx: netif_tx_wake_queue, delivered to the stack like the NET_TX softirq. */
export function xennetMaybeWakeTx(q: NetfrontQueue): void {
  const np = q.info;
  if (q.stopped && netfrontTxSlotAvailable(q) && np.carrier) {
    q.stopped = false;
    q.stats.txQueueWakes++;
    const wake = np.options.onQueueWake;
    if (wake !== undefined) {
      const gen = q.generation;
      np.env.work.runOn(q.vcpu, q.vcpu.actor.nowNs, () => {
        if (q.generation === gen && !q.stopped) wake(q.id);
      });
    }
  }
}

/** get_id_from_list(&queue->tx_skb_freelist), for xennet_xdp_xmit_one: TX_LINK_NONE when none is free. */
export function xennetTxGetFreeId(q: NetfrontQueue): number {
  return getIdFromList(q, "free");
}

/**
 * The tail of xennet_xdp_xmit_one: `id` (its request already on the ring) queued and marked
 * pending, RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, notify_remote_via_irq when asked.
 */
export function xennetTxMarkPendingAndPush(np: NetfrontInfo, q: NetfrontQueue, id: number, vcpu: Vcpu): void {
  const tx = q.tx as NonNullable<NetfrontQueue["tx"]>;
  addIdToList(q, "pend", id);
  xennetMarkTxPending(q);
  q.stats.txPushes++;
  if (tx.pushRequestsAndCheckNotify()) {
    q.stats.txNotifies++;
    np.env.evtchn.evtchnSend(vcpu, q.txEvtchn);
  }
}

/** xennet_mark_tx_pending: every id queued for this push becomes TX_PENDING. */
function xennetMarkTxPending(q: NetfrontQueue): void {
  for (let i = getIdFromList(q, "pend"); i !== TX_LINK_NONE; i = getIdFromList(q, "pend")) q.txLink[i] = TX_PENDING;
}

/**
 * xennet_tx_buf_gc: consume TX responses. Every value from the ring is copied once and checked:
 * a response id out of range, a response for an id not on the ring, or a grant the backend still
 * uses disables the device ("Disabled for further use"), as in Linux. Returns whether any
 * response was seen.
 */
export function xennetTxBufGc(q: NetfrontQueue, vcpu: Vcpu): boolean {
  const np = q.info;
  const tx = q.tx;
  if (tx === null || !np.carrier) return false;
  const gnttab = np.env.gnttab;
  const rsp = q.txRsp;
  let workDone = false;
  let more: number;
  do {
    const prod = tx.sring.rspProd;
    // RING_RESPONSE_PROD_OVERFLOW; also no response may cover a request never produced.
    if (tx.responseProdOverflow(prod) || (prod - tx.rspCons) >>> 0 > (tx.reqProdPvt - tx.rspCons) >>> 0) {
      np.setBroken(q, `Illegal number of responses ${(prod - tx.rspCons) >>> 0}`);
      return workDone;
    }
    for (let cons = tx.rspCons; cons !== prod; cons = (cons + 1) >>> 0) {
      workDone = true;
      tx.sring.readSlot(cons, readTxResponse, rsp); // RING_COPY_RESPONSE
      vcpu.charge(COST_RING_RESPONSE);
      if (rsp.status === NETIF_RSP_NULL) continue;
      const id = rsp.id;
      if (id >= NET_TX_RING_SIZE) {
        np.setBroken(q, `Response has incorrect id (${id})`);
        return workDone;
      }
      if (q.txLink[id] !== TX_PENDING) {
        np.setBroken(q, "Response for inactive request");
        return workDone;
      }
      if (q.persistent) {
        // The id's pool page stays granted; the skb was freed once copied.
        q.txLink[id] = TX_LINK_NONE;
        addIdToList(q, "free", id);
        if (rsp.status === NETIF_RSP_ERROR) q.stats.txRspError++;
        else if (rsp.status === NETIF_RSP_DROPPED) q.stats.txRspDropped++;
        continue;
      }
      const skb = q.txSkbs[id] ?? null; // null: an XDP_TX frame (xdp.ts), its page in grant_tx_page
      const xdpPage = skb === null ? q.grantTxPage[id] : null;
      const ref = q.grantTxRef[id] as number;
      vcpu.charge(COST_GRANT_ACCESS);
      if (!gnttab.endForeignAccessRef(ref)) {
        // Linux leaks the skb and grant here; the model leaves them in place so teardown ends
        // the grant (deferred) and frees the skb.
        np.setBroken(q, "Grant still in use by backend domain");
        return workDone;
      }
      q.txLink[id] = TX_LINK_NONE;
      q.txSkbs[id] = null;
      gnttab.releaseGrantReference(q.grefTxHead, ref);
      q.grantTxRef[id] = INVALID_GRANT_REF;
      q.grantTxPage[id] = null;
      addIdToList(q, "free", id);
      if (rsp.status === NETIF_RSP_ERROR) q.stats.txRspError++;
      else if (rsp.status === NETIF_RSP_DROPPED) q.stats.txRspDropped++;
      if (skb !== null) skb.free(); // dev_kfree_skb_irq: one reference per slot
      else if (xdpPage !== null && xdpPage !== undefined) putPage(xdpPage); // the frame's page
    }
    tx.rspCons = prod;
    // A busy-polling frontend never re-arms rsp_event: it looks again instead (busy-poll.ts).
    more = np.options.busyPoll === true ? tx.unconsumedResponses() : tx.finalCheckForResponses();
  } while (more !== 0);
  xennetMaybeWakeTx(q);
  return workDone;
}

/** True when every page of `skb` is this domain's own (only those can be granted). */
function skbPagesAreOurs(np: NetfrontInfo, skb: SkBuff): boolean {
  const dom = np.env.domain;
  if (skb.headPage.pool?.domain !== dom) return false;
  const sh = skb.shinfo;
  if (sh.fragList !== null) return false; // no NETIF_F_FRAGLIST: the stack never hands us one
  for (let i = 0; i < sh.nrFrags; i++) if (sh.frags[i]?.page?.pool?.domain !== dom) return false;
  return true;
}

/**
 * bounce_skb: copy the packet (headroom included) into a fresh, zeroed skb whose head is page
 * aligned and a whole number of pages, so no byte beside the packet is granted and each 4 KiB
 * page is one slot. Null when memory runs out or the buffer is not page aligned.
 */
export function bounceSkb(np: NetfrontInfo, skb: SkBuff, vcpu: Vcpu): SkBuff | null {
  const headerlen = skb.headroom;
  const size = Math.ceil((skb.endOffset + skb.dataLen) / PAGE_SIZE) * PAGE_SIZE;
  const n = np.env.skbs.allocSkb(size);
  if (n === null) return null;
  if ((n.head & (PAGE_SIZE - 1)) !== 0) {
    np.alert(null, "misaligned skb allocated");
    n.free();
    return null;
  }
  // __GFP_ZERO: nothing but the packet is ever visible in the granted pages.
  const head = n.headPage;
  for (let off = n.head; off < n.head + n.endOffset; off += PAGE_SIZE) {
    np.env.machine.fill(head.addr(off), 0, Math.min(PAGE_SIZE, n.head + n.endOffset - off));
  }
  n.reserve(headerlen);
  n.put(skb.len);
  if (skb.copyBitsToPage(-headerlen, head, n.head, headerlen + skb.len) !== 0) {
    n.free();
    throw new NetfrontError("BUG", "bounce_skb: skb_copy_bits failed");
  }
  vcpu.charge(COST_MEMCPY, headerlen + skb.len);
  // skb_copy_header
  n.ipSummed = skb.ipSummed;
  n.csumStart = skb.csumStart;
  n.csumOffset = skb.csumOffset;
  n.csum = skb.csum;
  n.protocol = skb.protocol;
  n.shinfo.gsoSize = skb.shinfo.gsoSize;
  n.shinfo.gsoType = skb.shinfo.gsoType;
  n.shinfo.gsoSegs = skb.shinfo.gsoSegs;
  return n;
}

function drop(stats: NetfrontStats, skb: SkBuff, reason: "tooBig" | "noMem" | "slots" | "features" | "foreign" | null): number {
  stats.txDropped++;
  if (reason === "tooBig") stats.txDropTooBig++;
  else if (reason === "noMem") stats.txDropNoMem++;
  else if (reason === "slots") stats.txDropSlots++;
  else if (reason === "features") stats.txDropFeatures++;
  else if (reason === "foreign") stats.txDropForeign++;
  skb.free(); // dev_kfree_skb_any
  return NETDEV_TX_OK;
}

/** netif_needs_gso: a GSO packet the device cannot offload (the stack would segment it). */
function netifNeedsGso(np: NetfrontInfo, skb: SkBuff): boolean {
  if (!skb.isGso) return false;
  let features = SKB_GSO_DODGY; // NETIF_F_GSO_ROBUST
  if (np.gsoTcpv4) features |= SKB_GSO_TCPV4;
  if (np.gsoTcpv6) features |= SKB_GSO_TCPV6;
  if ((skb.shinfo.gsoType & ~features) !== 0) return true;
  return skb.ipSummed !== CHECKSUM_PARTIAL && skb.ipSummed !== CHECKSUM_UNNECESSARY;
}

/** Builds the requests of one packet into the queue's scratch (struct xennet_gnttab_make_txreq). */
export class TxReqBuilder {
  q!: NetfrontQueue;
  skb!: SkBuff;
  vcpu!: Vcpu;
  /** Requests built so far (q.txReqs[0..n)). */
  n = 0;

  /** xennet_tx_setup_grant: claim an id and a grant for one chunk; one reference on the skb per extra slot. */
  setupGrant(page: Page, offset: number, len: number): NetifTxRequest {
    const q = this.q;
    const np = q.info;
    const id = getIdFromList(q, "free");
    // Invariant: ids are never short while the queue is running (as many ids as ring slots).
    if (id === TX_LINK_NONE) throw new NetfrontError("BUG", "tx id free list empty");
    const ref = np.env.gnttab.claimGrantReference(q.grefTxHead);
    if (ref < 0) throw new NetfrontError("BUG", "tx grant references exhausted");
    const gfn = page.gfns[offset >>> 12] as number;
    np.env.gnttab.grantForeignAccessRef(ref, np.otherendId, gfn, true);
    this.vcpu.charge(COST_GRANT_ACCESS);
    q.txSkbs[id] = this.skb;
    q.grantTxPage[id] = page;
    q.grantTxRef[id] = ref;
    const req = q.txReqs[this.n++] as NetifTxRequest;
    req.id = id;
    req.gref = ref;
    req.offset = offset & (PAGE_SIZE - 1);
    req.size = len;
    req.flags = 0;
    // Queued as pending; marked TX_PENDING just before the producer index moves.
    addIdToList(q, "pend", id);
    return req;
  }

  /** xennet_make_first_txreq: one grant for the part of the linear area in its first 4 KiB page. */
  makeFirst(page: Page, offset: number, len: number): NetifTxRequest {
    const chunk = Math.min(len, PAGE_SIZE - (offset & (PAGE_SIZE - 1)));
    return this.setupGrant(page, offset, chunk);
  }

  /** xennet_make_txreqs: one request per 4 KiB chunk of [offset, offset + len) of `page`. */
  makeTxreqs(page: Page, offset: number, len: number): void {
    while (len > 0) {
      const chunk = Math.min(len, PAGE_SIZE - (offset & (PAGE_SIZE - 1)));
      // xennet_make_one_txreq: the previous request chains to this one.
      (this.q.txReqs[this.n - 1] as NetifTxRequest).flags |= NETTXF_more_data;
      this.skb.get();
      this.setupGrant(page, offset, chunk);
      offset += chunk;
      len -= chunk;
    }
  }
}


/**
 * xennet_start_xmit on queue `queueIndex` (chosen by xennet_select_queue). Returns NETDEV_TX_OK
 * when the skb was consumed (sent or dropped, dev->stats.tx_dropped) and NETDEV_TX_BUSY, with
 * the skb still the caller's, when the queue is stopped (the core never calls a stopped queue).
 */
export function xennetStartXmit(np: NetfrontInfo, skb: SkBuff, queueIndex: number, vcpu: Vcpu): number {
  const q = np.queues[queueIndex];
  if (q === undefined || !q.live || np.broken) return drop(q?.stats ?? np.retiredStats, skb, null);
  if (q.stopped) return NETDEV_TX_BUSY;
  const stats = q.stats;

  // Too big for the 16-bit size of the first request: drop (net_alert "too big for wire format").
  if (skb.len > XEN_NETIF_MAX_TX_SIZE) return drop(stats, skb, "tooBig");
  if (!skbPagesAreOurs(np, skb)) return drop(stats, skb, "foreign");
  if (q.persistent) return xennetStartXmitPersistent(np, q, skb, vcpu);

  let slots = xennetCountSkbSlots(skb);
  if (slots > np.maxTxSlots) {
    // "skb rides the rocket": straighten. skb_linearize in place; a shared skb cannot be changed
    // in place (pskb_expand_head BUGs on it), so it is copied into fresh aligned pages instead.
    stats.txLinearized++;
    if (skb.isShared) {
      const nskb = bounceSkb(np, skb, vcpu);
      if (nskb === null) return drop(stats, skb, "noMem");
      stats.txBounced++;
      skb.free();
      skb = nskb;
    } else if (skb.linearize() !== 0) return drop(stats, skb, "noMem");
    slots = xennetCountSkbSlots(skb);
    if (slots > np.maxTxSlots) return drop(stats, skb, "slots");
  }

  // The first request must hold the Ethernet header; an untrusted backend gets bounced data.
  if (np.bounce || PAGE_SIZE - skb.dataPageOffset < ETH_HLEN) {
    const nskb = bounceSkb(np, skb, vcpu);
    if (nskb === null) return drop(stats, skb, "noMem");
    stats.txBounced++;
    skb.free(); // dev_consume_skb_any
    skb = nskb;
    slots = xennetCountSkbSlots(skb);
  }

  if (!np.carrier || (slots > 1 && !np.canSg) || netifNeedsGso(np, skb)) return drop(stats, skb, "features");

  const tx = q.tx;
  const gso = skb.shinfo.gsoSize !== 0;
  // Invariant: a running queue has room for a worst-case packet (netfront_tx_slot_available).
  if (tx === null || tx.freeRequests() < slots + (gso ? 1 : 0)) throw new NetfrontError("BUG", "tx ring full on a running queue");

  q.txReqBuilder ??= new TxReqBuilder();
  const b = q.txReqBuilder;
  b.q = q;
  b.skb = skb;
  b.vcpu = vcpu;
  b.n = 0;
  const head = skb.headPage;
  let offset = skb.head + skb.data;
  let len = skb.headlen;
  const first = b.makeFirst(head, offset, len);
  offset += first.size;
  len -= first.size;
  xennetTxOffloads(q, skb, first, gso);
  b.makeTxreqs(head, offset, len);
  const sh = skb.shinfo;
  for (let i = 0; i < sh.nrFrags; i++) {
    const f = sh.frags[i];
    if (f !== undefined && f.page !== null) b.makeTxreqs(f.page, f.offset, f.size);
  }
  first.size = skb.len; // the first request carries the packet's length
  const bytes = skb.len;
  b.skb = undefined as unknown as SkBuff;
  return xennetTxPush(np, q, b.n, gso, bytes, vcpu);
}

/**
 * The end of xennet_start_xmit: the packet's requests (q.txReqs[0..n), the GSO extra after the
 * first) onto the ring, push and notify, reap completions, stop the queue when it is full.
 */
function xennetTxPush(np: NetfrontInfo, q: NetfrontQueue, n: number, gso: boolean, bytes: number, vcpu: Vcpu): number {
  const tx = q.tx as NonNullable<NetfrontQueue["tx"]>;
  const stats = q.stats;
  const first = q.txReqs[0] as NetifTxRequest;
  // Onto the ring: first request, the GSO extra, then the rest (the backend sees none of it
  // before the push below).
  let idx = tx.produceRequest();
  tx.writeRequest(idx, writeTxRequest, first);
  if (gso) {
    idx = tx.produceRequest();
    tx.writeRequest(idx, writeExtraInfo, q.txExtra);
    stats.txExtras++;
    vcpu.charge(COST_RING_REQUEST);
  }
  for (let i = 1; i < n; i++) {
    idx = tx.produceRequest();
    tx.writeRequest(idx, writeTxRequest, q.txReqs[i] as NetifTxRequest);
  }
  for (let i = 0; i < n; i++) vcpu.charge(COST_RING_REQUEST);
  stats.txRequests += n;

  xennetMarkTxPending(q);
  stats.txPushes++;
  if (tx.pushRequestsAndCheckNotify()) {
    stats.txNotifies++;
    np.env.evtchn.evtchnSend(vcpu, q.txEvtchn);
  }
  stats.txPackets++;
  stats.txBytes += bytes;

  // Not safe to touch skb after this: completions may free it.
  xennetTxBufGc(q, vcpu);
  if (!netfrontTxSlotAvailable(q) && !q.stopped) {
    q.stopped = true; // netif_tx_stop_queue
    stats.txQueueStops++;
    if (np.options.busyPoll === true) netfrontBusyPollTx(q, vcpu);
  }
  return NETDEV_TX_OK;
}

/**
 * xennet_start_xmit with persistent grants (RFC 2015): copy the packet into the pool pages of as
 * many ids as its bytes need (4 KiB each, from offset 0), one request per id carrying that
 * id's persistent gref, and free the skb at once: nothing of it stays granted.
 */
function xennetStartXmitPersistent(np: NetfrontInfo, q: NetfrontQueue, skb: SkBuff, vcpu: Vcpu): number {
  const stats = q.stats;
  const len = skb.len;
  const slots = Math.max(1, Math.ceil(len / PAGE_SIZE));
  if (!np.carrier || (slots > 1 && !np.canSg) || netifNeedsGso(np, skb)) return drop(stats, skb, "features");
  const tx = q.tx;
  const gso = skb.shinfo.gsoSize !== 0;
  // Invariant: a running queue has room for a worst-case packet (netfront_tx_slot_available).
  if (tx === null || tx.freeRequests() < slots + (gso ? 1 : 0)) throw new NetfrontError("BUG", "tx ring full on a running queue");
  let off = 0;
  for (let n = 0; n < slots; n++) {
    const id = getIdFromList(q, "free");
    // Invariant: ids are never short while the queue is running (as many ids as ring slots).
    if (id === TX_LINK_NONE) throw new NetfrontError("BUG", "tx id free list empty");
    const page = q.txPgPage[id] as Page;
    const chunk = Math.min(PAGE_SIZE, len - off);
    if (skb.copyBitsToPage(off, page, 0, chunk) !== 0) throw new NetfrontError("BUG", "persistent tx: skb_copy_bits failed");
    const req = q.txReqs[n] as NetifTxRequest;
    req.id = id;
    req.gref = q.txPgRef[id] as number;
    req.offset = 0;
    req.size = chunk;
    req.flags = 0;
    if (n > 0) (q.txReqs[n - 1] as NetifTxRequest).flags |= NETTXF_more_data;
    addIdToList(q, "pend", id);
    off += chunk;
  }
  vcpu.charge(COST_MEMCPY, len);
  stats.txPersistentCopyBytes += len;
  const first = q.txReqs[0] as NetifTxRequest;
  xennetTxOffloads(q, skb, first, gso);
  first.size = len;
  skb.free(); // dev_consume_skb_any: its bytes are in the pool pages now
  return xennetTxPush(np, q, slots, gso, len, vcpu);
}

/**
 * xennet_release_tx_bufs: at disconnect, end access to every grant still on the ring (deferred
 * while the backend uses it) and free the skbs.
 */
export function xennetReleaseTxBufs(q: NetfrontQueue, endAccess: (ref: number, page: Page | null) => void): void {
  for (let i = 0; i < NET_TX_RING_SIZE; i++) {
    const skb = q.txSkbs[i] ?? null;
    // An XDP_TX frame has no skb: its slot holds a grant and the frame's page.
    const xdpPage = skb === null && q.grantTxRef[i] !== INVALID_GRANT_REF ? (q.grantTxPage[i] ?? null) : null;
    if (skb === null && xdpPage === null) continue;
    q.txSkbs[i] = null;
    endAccess(q.grantTxRef[i] as number, q.grantTxPage[i] ?? null);
    if (xdpPage !== null) putPage(xdpPage);
    q.grantTxPage[i] = null;
    q.grantTxRef[i] = INVALID_GRANT_REF;
    q.txLink[i] = TX_LINK_NONE;
    addIdToList(q, "free", i);
    skb?.free();
  }
}

/**
 * The first request's offload flags (csum_blank / data_validated from the skb's checksum state) and,
 * for a GSO skb, the GSO extra-info slot that follows it (xennet_start_xmit).
 */
function xennetTxOffloads(q: NetfrontQueue, skb: SkBuff, first: NetifTxRequest, gso: boolean): void {
  if (skb.ipSummed === CHECKSUM_PARTIAL) first.flags |= NETTXF_csum_blank | NETTXF_data_validated;
  else if (skb.ipSummed === CHECKSUM_UNNECESSARY) first.flags |= NETTXF_data_validated;
  if (!gso) return;
  first.flags |= NETTXF_extra_info;
  const e = q.txExtra;
  e.type = XEN_NETIF_EXTRA_TYPE_GSO;
  e.flags = 0;
  e.gsoSize = skb.shinfo.gsoSize;
  e.gsoType = (skb.shinfo.gsoType & SKB_GSO_TCPV6) !== 0 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4;
  e.gsoFeatures = 0;
}
