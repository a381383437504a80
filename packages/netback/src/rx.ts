/**
 * rx.c: the guest-RX path (Dom0 -> guest). xenvif_start_xmit queues skbs on a queue's RX internal
 * queue; the queue's RX kthread puts each one into the buffers the guest posted — only when the
 * slots it needs are there (otherwise it waits and retries) — by grant-copying its bytes into the
 * guest's pages in batches of COPY_BATCH_SIZE ops, split so no copy crosses a page on either side,
 * with GSO extra info and response flags, then notifies. Skbs that wait longer than the drain
 * timeout are dropped, and a guest that posts nothing for the stall timeout loses its carrier:
 * a stalled guest costs Dom0 bounded memory and stalls only its own queue.
 */
import { DOMID_SELF, type Vcpu } from "@pvnet/hypervisor";
import {
  type NetifExtraInfo,
  type NetifRxRequest,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  RX_RESPONSE,
  readRxRequest,
  writeExtraInfo,
  writeRxResponse,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_NONE,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_EXTRA_TYPE_XDP,
} from "@pvnet/netif";
import { CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, COST_MEMCPY, PAGE_SIZE, type Page, SKB_GSO_TCPV4, type SkBuff, type SkbFrag } from "@pvnet/skb-model";
import { GNTCOPY, GNTST } from "@pvnet/xen-grant-table";
import { COPY_BATCH_SIZE, COST_KTHREAD_WAKEUP, COST_RING_REQUEST, COST_RING_RESPONSE, COST_TREE_LOOKUP, RX_BATCH_SIZE, XENVIF_RX_QUEUE_MAX_SKBS, type XenvifPktState, type XenvifQueue } from "./common.js";
import { xenvifCarrierOff, xenvifKickThread, xenvifStopQueue, xenvifWakeQueue } from "./interface.js";

/** xenvif_update_needed_slots: slots the head skb needs (its pages, plus one for GSO). */
function xenvifUpdateNeededSlots(queue: XenvifQueue, skb: SkBuff | null): void {
  let needed = 0;
  if (skb !== null) {
    // Each slot carries PAGE_SIZE - xdp_headroom bytes, and the XDP extra takes a slot: counted
    // here (Linux counts whole pages and the GSO extra only, so a large headroom could make a
    // packet use requests that were never posted).
    const headroom = queue.vif.xdpHeadroom;
    needed = Math.ceil(skb.len / (PAGE_SIZE - headroom));
    if (skb.isGso) needed++;
    if (headroom !== 0) needed++;
  }
  queue.rxSlotsNeeded = needed;
}

/** xenvif_rx_ring_slots_available: enough posted requests for the head skb? Else ask for an event. */
export function xenvifRxRingSlotsAvailable(queue: XenvifQueue): boolean {
  const rx = queue.rx;
  const needed = queue.rxSlotsNeeded;
  if (rx === null || !needed) return false;
  let prod: number;
  do {
    prod = rx.sring.reqProd;
    if (((prod - rx.reqCons) >>> 0) >= needed) return true;
    rx.sring.reqEvent = (prod + 1) >>> 0;
  } while (rx.sring.reqProd !== prod);
  return false;
}

/**
 * xenvif_rx_queue_tail: append `skb` (expiring at `expiresNs`) unless the queue already holds
 * XENVIF_RX_QUEUE_BYTES (or its ring of skbs is full): then the netdev queue stops and false.
 */
export function xenvifRxQueueTail(queue: XenvifQueue, skb: SkBuff, expiresNs: number): boolean {
  if (queue.rxQueueLen >= queue.rxQueueMax || queue.rxCount >= XENVIF_RX_QUEUE_MAX_SKBS) {
    xenvifStopQueue(queue);
    return false;
  }
  if (queue.rxCount === 0) xenvifUpdateNeededSlots(queue, skb);
  const at = (queue.rxHead + queue.rxCount) % XENVIF_RX_QUEUE_MAX_SKBS;
  queue.rxSkbs[at] = skb;
  queue.rxExpires[at] = expiresNs;
  queue.rxCount++;
  queue.rxQueueLen += skb.len;
  return true;
}

function rxPeek(queue: XenvifQueue): SkBuff | null {
  return queue.rxCount === 0 ? null : (queue.rxSkbs[queue.rxHead] ?? null);
}

/** xenvif_rx_dequeue: take the head skb; wake the netdev queue when below the limit again. */
export function xenvifRxDequeue(queue: XenvifQueue): SkBuff | null {
  if (queue.rxCount === 0) return null;
  // skb_dequeue on the kthread's CPU: rx_queue.lock, whose line start_xmit's queue tail last took.
  if (queue.rxQueueLock.take(queue.vcpu)) queue.modelStats.rxQueueLockBounces++;
  const skb = queue.rxSkbs[queue.rxHead] as SkBuff;
  queue.rxSkbs[queue.rxHead] = null;
  queue.rxHead = (queue.rxHead + 1) % XENVIF_RX_QUEUE_MAX_SKBS;
  queue.rxCount--;
  xenvifUpdateNeededSlots(queue, rxPeek(queue));
  queue.rxQueueLen -= skb.len;
  if (queue.rxQueueLen < queue.rxQueueMax) xenvifWakeQueue(queue);
  return skb;
}

/** xenvif_rx_queue_purge: free everything queued (after pushing what a deferred start_xmit copy left). */
export function xenvifRxQueuePurge(queue: XenvifQueue): void {
  if (queue.rxCompletedCount !== 0 || queue.rxCopyOps.count !== 0) xenvifRxCopyFlush(queue);
  for (let skb = xenvifRxDequeue(queue); skb !== null; skb = xenvifRxDequeue(queue)) skb.free();
}

/** xenvif_rx_queue_drop_expired: drop skbs that waited past their drain timeout (rx_dropped). */
export function xenvifRxQueueDropExpired(queue: XenvifQueue, nowNs: number): void {
  while (queue.rxCount > 0 && !(nowNs < (queue.rxExpires[queue.rxHead] as number))) {
    const skb = xenvifRxDequeue(queue) as SkBuff;
    skb.free();
    queue.vif.devStats.rxDropped++;
    queue.modelStats.rxDrainDropped++;
  }
}

// ---------------------------------------------------------------------------------------------
// Copies

function writeRxRspStatus(v: DataView, off: number, status: number): void {
  v.setInt16(off + RX_RESPONSE.STATUS, status, true);
}

/** xenvif_rx_copy_flush: one GNTTABOP_copy for the batch, failed copies' statuses into their responses, push. */
export function xenvifRxCopyFlush(queue: XenvifQueue): void {
  const rx = queue.rx;
  const ops = queue.rxCopyOps;
  const { grants, evtchn, domain } = queue.vif.ctx.env;
  const tree = queue.rxPgTree;
  // With persistent grants a batch of tree hits has no copy op: no hypercall then.
  if (tree === null || ops.count !== 0) grants.copy(queue.rxCpu, ops);
  // The grants that missed the tree were copied above; map them in now for the next packets.
  if (tree !== null) tree.flushMaps(queue.rxCpu, grants, domain);
  for (let i = 0; i < ops.count; i++) {
    const st = ops.status[i] as number;
    if (st !== GNTST.okay) {
      queue.modelStats.rxCopyErrors++;
      rx?.writeResponse(queue.rxCopyIdx[i] as number, writeRxRspStatus, st);
    }
  }
  ops.clear();
  // Push responses for all completed packets.
  if (rx?.pushResponsesAndCheckNotify() && queue.rxPort !== 0) evtchn.evtchnSend(queue.rxCpu, queue.rxPort);
  for (let i = 0; i < queue.rxCompletedCount; i++) {
    (queue.rxCompleted[i] as SkBuff).free();
    queue.rxCompleted[i] = null;
  }
  queue.rxCompletedCount = 0;
}

/**
 * xenvif_rx_copy_add: one copy of `len` bytes at `off` of `page` into the guest buffer of `req`
 * at `offset`. Dom0's own pages are named by gfn; a page mapped from another guest (a slot of
 * another vif) by that guest's grant (xen_page_foreign).
 */
function xenvifRxCopyAdd(queue: XenvifQueue, req: NetifRxRequest, offset: number, page: Page, off: number, len: number): void {
  if (queue.rxCopyOps.count === COPY_BATCH_SIZE) xenvifRxCopyFlush(queue);
  const vif = queue.vif;
  let flags = GNTCOPY.dest_gref;
  let srcRef: number;
  let srcDom: number;
  const foreign = page.pool === null ? vif.ctx.foreignOf(page) : undefined;
  const tree = queue.rxPgTree;
  // Persistent grants: a guest buffer already mapped gets a memcpy (only from a page netback can
  // read: its own, or a mapped slot; anything else keeps the grant copy and its error status).
  if (tree !== null && (page.pool !== null || foreign?.mapped === true)) {
    const dst = tree.lookup(req.gref);
    queue.vcpu.charge(COST_TREE_LOOKUP);
    if (dst >= 0) {
      // offset + len <= PAGE_SIZE: xenvif_rx_next_chunk never crosses the guest page.
      page.access?.(page); // a mapped slot read through its mapping is touched
      vif.ctx.env.machine.copy(dst + offset, page.addr(off), len);
      queue.rxCpu.charge(COST_MEMCPY, len);
      return;
    }
    tree.prepareMap(req.gref);
  }
  if (foreign?.mapped) {
    srcRef = foreign.gref;
    srcDom = foreign.domid;
    flags |= GNTCOPY.source_gref;
  } else {
    // A page of the backend itself; a page it cannot name becomes an invalid gmfn (GNTST_bad_page).
    srcRef = page.pool !== null ? (page.gfns[off >>> 12] as number) : -1;
    srcDom = DOMID_SELF;
  }
  const i = queue.rxCopyOps.add(srcRef, srcDom, off & (PAGE_SIZE - 1), req.gref, vif.domid, offset, len, flags);
  queue.rxCopyIdx[i] = (queue.rx as NonNullable<XenvifQueue["rx"]>).reqCons;
  queue.modelStats.rxCopyOps++;
}

// ---------------------------------------------------------------------------------------------
// Packets

function xenvifGsoType(skb: SkBuff): number {
  if (!skb.isGso) return XEN_NETIF_GSO_TYPE_NONE;
  return skb.shinfo.gsoType & SKB_GSO_TCPV4 ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6;
}

/** xenvif_rx_next_skb: set up the state and extras of `skb` (the dequeued head skb). */
function xenvifRxNextSkb(queue: XenvifQueue, skb: SkBuff): void {
  const pkt = queue.rxPkt;
  queue.stats.txBytes += skb.len;
  queue.stats.txPackets++;
  pkt.skb = skb;
  pkt.fragIter = skb;
  pkt.remainingLen = skb.len;
  pkt.frag = -1;
  pkt.fragOffset = 0;
  pkt.extraCount = 0;
  pkt.slot = 0;
  for (const e of queue.rxExtras) e.type = 0;
  const gsoType = xenvifGsoType(skb);
  if ((1 << gsoType) & queue.vif.gsoMask) {
    const extra = queue.rxExtras[XEN_NETIF_EXTRA_TYPE_GSO - 1] as NetifExtraInfo;
    extra.type = XEN_NETIF_EXTRA_TYPE_GSO;
    extra.flags = 0;
    extra.gsoType = gsoType;
    extra.gsoSize = skb.shinfo.gsoSize;
    extra.gsoFeatures = 0;
    pkt.extraCount++;
  }
  const headroom = queue.vif.xdpHeadroom;
  if (headroom !== 0) {
    const extra = queue.rxExtras[XEN_NETIF_EXTRA_TYPE_XDP - 1] as NetifExtraInfo;
    extra.type = XEN_NETIF_EXTRA_TYPE_XDP;
    extra.flags = 0;
    extra.xdpHeadroom = headroom;
    pkt.extraCount++;
  }
}

/** xenvif_rx_complete: every response of the packet is ready to be pushed. */
function xenvifRxComplete(queue: XenvifQueue): void {
  const pkt = queue.rxPkt;
  const rx = queue.rx as NonNullable<XenvifQueue["rx"]>;
  rx.rspProdPvt = rx.reqCons;
  queue.rxCompleted[queue.rxCompletedCount++] = pkt.skb;
  pkt.skb = null;
  pkt.fragIter = null;
}

/** xenvif_rx_next_frag */
function xenvifRxNextFrag(pkt: XenvifPktState): void {
  const it = pkt.fragIter as SkBuff;
  pkt.frag++;
  pkt.fragOffset = 0;
  if (pkt.frag >= it.shinfo.nrFrags) {
    pkt.fragIter = it === pkt.skb ? it.shinfo.fragList : it.next;
    pkt.frag = -1;
  }
}

/** xenvif_rx_next_chunk: the next piece of data that crosses no page on either side. */
function xenvifRxNextChunk(queue: XenvifQueue, offset: number): void {
  const pkt = queue.rxPkt;
  const chunk = queue.rxChunk;
  let it = pkt.fragIter;
  // Skip empty linear areas and frags (a frag_list skb may have no head bytes).
  for (let guard = 0; it !== null && guard < 64; guard++) {
    const len = pkt.frag === -1 ? it.headlen : (it.shinfo.frags[pkt.frag] as SkbFrag).size;
    if (len - pkt.fragOffset > 0) break;
    xenvifRxNextFrag(pkt);
    it = pkt.fragIter;
  }
  if (it === null) throw new Error("xenvif_rx_next_chunk: ran out of packet data");
  let page: Page;
  let dataOff: number;
  let fragLen: number;
  if (pkt.frag === -1) {
    page = it.headPage;
    dataOff = it.head + it.data;
    fragLen = it.headlen;
  } else {
    const f = it.shinfo.frags[pkt.frag] as SkbFrag;
    page = f.page as Page;
    dataOff = f.offset;
    fragLen = f.size;
  }
  dataOff += pkt.fragOffset;
  fragLen -= pkt.fragOffset;
  let len = Math.min(fragLen, PAGE_SIZE - offset);
  len = Math.min(len, PAGE_SIZE - (dataOff & (PAGE_SIZE - 1)));
  pkt.fragOffset += len;
  if (fragLen === len) xenvifRxNextFrag(pkt);
  chunk.page = page;
  chunk.off = dataOff;
  chunk.len = len;
}

/** xenvif_rx_data_slot: fill one guest buffer with packet data and write its response. */
function xenvifRxDataSlot(queue: XenvifQueue, req: NetifRxRequest): void {
  const { rxPkt: pkt, rxChunk: chunk, rxRsp: rsp } = queue;
  const rx = queue.rx as NonNullable<XenvifQueue["rx"]>;
  // The data of every slot starts after the frontend's xdp_headroom.
  const headroom = queue.vif.xdpHeadroom;
  let offset = headroom;
  do {
    xenvifRxNextChunk(queue, offset);
    xenvifRxCopyAdd(queue, req, offset, chunk.page as Page, chunk.off, chunk.len);
    offset += chunk.len;
    pkt.remainingLen -= chunk.len;
  } while (offset < PAGE_SIZE && pkt.remainingLen > 0);
  let flags = pkt.remainingLen > 0 ? NETRXF_more_data : 0;
  if (pkt.slot === 0) {
    const skb = pkt.skb as SkBuff;
    if (skb.ipSummed === CHECKSUM_PARTIAL) flags |= NETRXF_csum_blank | NETRXF_data_validated;
    else if (skb.ipSummed === CHECKSUM_UNNECESSARY) flags |= NETRXF_data_validated;
    if (pkt.extraCount !== 0) flags |= NETRXF_extra_info;
  }
  // Linux writes offset 0 and status = offset (the headroom included), which puts the headroom's
  // length of stale bytes into every frame (and, in slots after the first, before the data); the
  // model names where the data is and how long it is, so frames arrive byte-exact.
  rsp.id = req.id;
  rsp.offset = headroom;
  rsp.flags = flags;
  rsp.status = offset - headroom;
  rx.writeResponse(rx.reqCons, writeRxResponse, rsp);
}

/** xenvif_rx_extra_slot: the next pending extra goes into this slot's response. */
function xenvifRxExtraSlot(queue: XenvifQueue): void {
  const pkt = queue.rxPkt;
  const rx = queue.rx as NonNullable<XenvifQueue["rx"]>;
  pkt.extraCount--;
  for (const e of queue.rxExtras) {
    if (e.type) {
      if (pkt.extraCount !== 0) e.flags |= XEN_NETIF_EXTRA_FLAG_MORE;
      rx.writeResponse(rx.reqCons, writeExtraInfo, e);
      e.type = 0;
      return;
    }
  }
  throw new Error("xenvif_rx_extra_slot: no extra left");
}

/** xenvif_rx_skb: put one skb into the guest's buffers (data slot first, then extras, then data). */
function xenvifRxSkb(queue: XenvifQueue, skb: SkBuff): void {
  const pkt = queue.rxPkt;
  const rx = queue.rx as NonNullable<XenvifQueue["rx"]>;
  const env = queue.vif.ctx.env;
  xenvifRxNextSkb(queue, skb);
  queue.lastRxTimeNs = env.clock.now();
  do {
    rx.copyRequest(rx.reqCons, readRxRequest, queue.rxreq);
    queue.rxCpu.charge(COST_RING_REQUEST);
    // Extras must go after the first data slot.
    if (pkt.slot !== 0 && pkt.extraCount !== 0) xenvifRxExtraSlot(queue);
    else xenvifRxDataSlot(queue, queue.rxreq);
    queue.rxCpu.charge(COST_RING_RESPONSE);
    rx.reqCons = (rx.reqCons + 1) >>> 0;
    pkt.slot++;
  } while (pkt.remainingLen > 0 || pkt.extraCount !== 0);
  xenvifRxComplete(queue);
}

/** xenvif_rx_action: up to RX_BATCH_SIZE skbs while their slots are posted, then flush. */
export function xenvifRxAction(queue: XenvifQueue): void {
  let workDone = 0;
  while (xenvifRxRingSlotsAvailable(queue) && queue.rxCount > 0 && workDone < RX_BATCH_SIZE) {
    xenvifRxSkb(queue, xenvifRxDequeue(queue) as SkBuff);
    workDone++;
  }
  // Flush any pending copies and complete all skbs.
  xenvifRxCopyFlush(queue);
}

/**
 * The persistent-grants RFC's copy in xenvif_start_xmit: with nothing queued ahead of `skb` and
 * its slots posted, put it into the guest's buffers now (memcpy into the persistently mapped
 * pages, grant copy for those not in the tree yet) and, unless `xmitMore` defers it to the last
 * skb of the burst, push the responses and notify. False (nothing done to `skb`) when it must go
 * to the RX kthread; what earlier deferred copies left is pushed first. The work is charged to
 * `cpu`, the caller's.
 */
export function xenvifRxStartXmitCopy(queue: XenvifQueue, skb: SkBuff, xmitMore: boolean, cpu: Vcpu): boolean {
  // The work runs on the CPU that called ndo_start_xmit, not in the queue's kthread.
  queue.rxCpu = cpu;
  let copied = false;
  if (queue.rxCount === 0 && !queue.stalled) {
    xenvifUpdateNeededSlots(queue, skb);
    const available = xenvifRxRingSlotsAvailable(queue);
    xenvifUpdateNeededSlots(queue, null);
    if (available) {
      xenvifRxSkb(queue, skb);
      // rxCompleted holds one RX_BATCH_SIZE of skbs: a longer burst pushes as it goes.
      if (!xmitMore || queue.rxCompletedCount === RX_BATCH_SIZE) xenvifRxCopyFlush(queue);
      copied = true;
    }
  }
  if (!copied && (queue.rxCompletedCount !== 0 || queue.rxCopyOps.count !== 0)) xenvifRxCopyFlush(queue);
  queue.rxCpu = queue.vcpu;
  return copied;
}

function rxQueueSlots(queue: XenvifQueue): number {
  const rx = queue.rx;
  return rx === null ? 0 : (rx.sring.reqProd - rx.reqCons) >>> 0;
}

/** xenvif_rx_queue_stalled: no slots for the head skb for stall_timeout. */
function xenvifRxQueueStalled(queue: XenvifQueue, nowNs: number): boolean {
  return !queue.stalled && rxQueueSlots(queue) < queue.rxSlotsNeeded && nowNs > queue.lastRxTimeNs + queue.vif.stallTimeoutNs;
}

/** xenvif_rx_queue_ready: a stalled queue has its slots again. */
function xenvifRxQueueReady(queue: XenvifQueue): boolean {
  return queue.stalled && rxQueueSlots(queue) >= queue.rxSlotsNeeded;
}

/** xenvif_have_rx_work */
export function xenvifHaveRxWork(queue: XenvifQueue, nowNs: number): boolean {
  const vif = queue.vif;
  return (
    xenvifRxRingSlotsAvailable(queue) ||
    (vif.stallTimeoutNs !== 0 && (xenvifRxQueueStalled(queue, nowNs) || xenvifRxQueueReady(queue))) ||
    vif.disabled
  );
}

/** xenvif_queue_carrier_off: this queue stalled; the first stalled queue takes the carrier down. */
function xenvifQueueCarrierOff(queue: XenvifQueue): void {
  const vif = queue.vif;
  queue.stalled = true;
  if (vif.stalledQueues++ === 0) {
    vif.logMessage("Guest Rx stalled");
    vif.carrier = false;
  }
}

/** xenvif_queue_carrier_on: the stalled queue has slots again; the last one brings the carrier back. */
function xenvifQueueCarrierOn(queue: XenvifQueue, nowNs: number): void {
  const vif = queue.vif;
  queue.lastRxTimeNs = nowNs;
  queue.stalled = false;
  if (--vif.stalledQueues === 0) {
    vif.logMessage("Guest Rx ready");
    if (vif.connected) vif.carrier = true;
  }
}

/**
 * One wake-up of xenvif_kthread_guest_rx. A wake-up without work (and not the timeout) goes back
 * to sleep, as the kthread's wait loop does. Then: a disabled vif's queue 0 takes the carrier
 * down and the thread ends; otherwise the RX action, stall detection, dropping of expired skbs,
 * and the timeout re-armed for the new head of the queue.
 */
export function xenvifKthreadGuestRx(queue: XenvifQueue, timedOut: boolean): void {
  if (queue.rxThreadStopped || queue.rx === null) return;
  const vif = queue.vif;
  const env = vif.ctx.env;
  const now = env.clock.now();
  if (timedOut || xenvifHaveRxWork(queue, now)) {
    // The frontend is rogue: disable the vif from queue 0's thread, then the thread stops.
    if (vif.disabled && queue.id === 0) {
      xenvifCarrierOff(vif);
      queue.rxThreadStopped = true;
      xenvifRxQueuePurge(queue);
      return;
    }
    if (queue.rxCount > 0) xenvifRxAction(queue);
    if (vif.stallTimeoutNs) {
      if (xenvifRxQueueStalled(queue, now)) xenvifQueueCarrierOff(queue);
      else if (xenvifRxQueueReady(queue)) xenvifQueueCarrierOn(queue, now);
    }
    // Queued packets may hold foreign pages: they cannot wait forever.
    xenvifRxQueueDropExpired(queue, now);
    // The kthread loops while it has work (xenvif_wait_for_rx_work returns at once): one
    // xenvif_rx_action handles at most RX_BATCH_SIZE skbs, so with more queued and their slots
    // posted it runs again instead of sleeping on an event the frontend has no reason to send.
    if (queue.rxCount > 0 && xenvifRxRingSlotsAvailable(queue)) {
      xenvifKickThread(queue);
      return;
    }
  }
  // Asleep until a kick or the timeout: prepare_to_wait takes the wait queue's lock.
  if (!queue.rxThreadSleeping) {
    queue.rxThreadSleeping = true;
    if (queue.rxWqLock.take(queue.vcpu)) queue.modelStats.rxWqLockBounces++;
  }
  armRxTimeout(queue);
}

/**
 * schedule_timeout(xenvif_rx_queue_timeout): wake at the head skb's expiry (one timer pending at
 * most). With the queue empty the kthread sleeps without a timeout (MAX_SCHEDULE_TIMEOUT): the
 * timer of an earlier sleep, which its wake-up deleted, is deleted here too.
 */
function armRxTimeout(queue: XenvifQueue): void {
  if (queue.rxCount === 0) {
    cancelRxTimeout(queue);
    return;
  }
  const at = queue.rxExpires[queue.rxHead] as number;
  if (queue.rxTimerAtNs !== -1 && queue.rxTimerAtNs <= at) return;
  cancelRxTimeout(queue);
  queue.rxTimerAtNs = at;
  const env = queue.vif.ctx.env;
  queue.rxTimer = env.work.timerAt(queue.vcpu, Math.max(at, env.clock.now()), () => {
    queue.rxTimerAtNs = -1;
    queue.rxTimer = null;
    if (queue.rxThreadSleeping) {
      queue.rxThreadSleeping = false;
      queue.vcpu.charge(COST_KTHREAD_WAKEUP);
    }
    xenvifKthreadGuestRx(queue, true);
  });
}

/** del_timer of the RX kthread's timeout. */
function cancelRxTimeout(queue: XenvifQueue): void {
  queue.rxTimer?.cancel();
  queue.rxTimer = null;
  queue.rxTimerAtNs = -1;
}
