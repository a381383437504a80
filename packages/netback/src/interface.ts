/**
 * interface.c: the net-device side of a vif — allocation, queues, connecting and disconnecting
 * the data rings (map the frontend's ring pages, bind its event channels), the interrupt handlers,
 * NAPI scheduling, carrier, queue selection and xenvif_start_xmit (Dom0 -> guest).
 *
 * All deferred work runs on the queue's Dom0 VCPU through the hypervisor's deterministic
 * scheduler: napi_schedule, wake_up of the RX and dealloc kthreads and timers are `env.work.runOn`
 * events; nothing calls into the frontend.
 */
import { isXenError, type Vcpu } from "@pvnet/hypervisor";
import { NETIF_RX_RING, NETIF_TX_RING } from "@pvnet/netif";
import { BackRing, SharedRing } from "@pvnet/shared-ring";
import { xenvifHashSelectQueue } from "./ctrl.js";
import { EINVAL, EIO, type Page, type SkBuff, skbTxHash } from "@pvnet/skb-model";
import { GNTMAP, GNTST } from "@pvnet/xen-grant-table";
import {
  MAX_PENDING_REQS,
  NETBACK_INVALID_HANDLE,
  NETBACK_KADDR_BASE,
  NETBACK_KADDR_WINDOW_PAGES,
  NETDEV_TX_OK,
  type NetbackContext,
  addCounters,
  addModelStats,
  addStats,
  COST_KTHREAD_WAKEUP,
  COST_NAPI_POLL,
  XENVIF_NAPI_WEIGHT,
  Xenvif,
  XenvifQueue,
} from "./common.js";
import { xenvifDeallocKthread, xenvifUbufCallback } from "./dealloc.js";
import { PersistentGrantTree } from "./pgrant.js";
import { xenvifKthreadGuestRx, xenvifRxQueuePurge, xenvifRxQueueTail, xenvifRxStartXmitCopy } from "./rx.js";
import { xenvifDelCreditTimer, xenvifTxAction } from "./tx.js";

/** xenvif_alloc: a vif for frontend `domid`, device `handle` (carrier off until connected). */
export function xenvifAlloc(ctx: NetbackContext, domid: number, handle: number): Xenvif {
  return new Xenvif(ctx, domid, handle);
}

/**
 * xenvif_init_queue: a queue with its pending ring, slot pages and callbacks. Queue i runs on
 * Dom0 VCPU i mod the VCPU count (where Linux's irqbalance would put its interrupts), or where
 * the `queueVcpu` option places it.
 */
export function xenvifInitQueue(vif: Xenvif, id: number): XenvifQueue {
  const ctx = vif.ctx;
  const vcpus = ctx.env.domain.vcpus;
  const placed = ctx.options.queueVcpu?.(vif, id) ?? id;
  const vcpu = vcpus[(Number.isInteger(placed) && placed >= 0 ? placed : id) % vcpus.length];
  if (vcpu === undefined) throw new Error("backend domain has no VCPU");
  const queue = new XenvifQueue(vif, id, vcpu, () => ctx.newSlotPage(), xenvifUbufCallback);
  // Dom0's stack reading a mapped slot through an skb goes through the grant mapping: it is
  // touched, and its unmap needs a TLB flush.
  const { grants, domain } = ctx.env;
  for (let i = 0; i < MAX_PENDING_REQS; i++) {
    (queue.mmapPages[i] as Page).access = () => {
      const handle = queue.grantTxHandle[i] as number;
      if (handle !== NETBACK_INVALID_HANDLE) grants.mapping(domain, handle)?.touch();
    };
  }
  queue.kaddrWindow = ctx.allocKaddrWindow();
  queue.kaddrBase = NETBACK_KADDR_BASE + queue.kaddrWindow * NETBACK_KADDR_WINDOW_PAGES * 4096;
  queue.lastRxTimeNs = ctx.env.clock.now();
  return queue;
}

/**
 * Persistent grants negotiated: give the queue its two trees (guest TX grants read-only, guest
 * RX grants writable), each with its own host_addr window.
 */
export function xenvifInitPersistentGnts(queue: XenvifQueue): void {
  const ctx = queue.vif.ctx;
  const base = (w: number) => NETBACK_KADDR_BASE + w * NETBACK_KADDR_WINDOW_PAGES * 4096;
  queue.txPgWindow = ctx.allocKaddrWindow();
  queue.rxPgWindow = ctx.allocKaddrWindow();
  queue.txPgTree = new PersistentGrantTree(base(queue.txPgWindow), queue.vif.domid, true, queue.txPgStats);
  queue.rxPgTree = new PersistentGrantTree(base(queue.rxPgWindow), queue.vif.domid, false, queue.rxPgStats);
}

/**
 * xenvif_free_persistent_gnts (at disconnect): unmap every mapping of both trees, one batched
 * unmap hypercall each, free their windows, and keep their counters in the vif's totals.
 */
export function xenvifFreePersistentGnts(queue: XenvifQueue): void {
  const { grants, domain } = queue.vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  const vif = queue.vif;
  if (vcpu0 !== undefined) {
    queue.txPgTree?.unmapAll(vcpu0, grants);
    queue.rxPgTree?.unmapAll(vcpu0, grants);
  }
  queue.txPgTree = null;
  queue.rxPgTree = null;
  if (queue.txPgWindow >= 0) vif.ctx.freeKaddrWindow(queue.txPgWindow);
  if (queue.rxPgWindow >= 0) vif.ctx.freeKaddrWindow(queue.rxPgWindow);
  queue.txPgWindow = -1;
  queue.rxPgWindow = -1;
}

/**
 * xenvif_connect_data + xenvif_map_frontend_data_rings: map the TX and RX ring pages the frontend
 * granted, attach back rings to them (refusing rings whose producer is already more than a ring
 * ahead), bind the event channel(s) and their handlers. 0 or -errno; on failure nothing is left.
 */
export function xenvifConnectData(queue: XenvifQueue, txRingRef: number, rxRingRef: number, txEvtchn: number, rxEvtchn: number): number {
  const vif = queue.vif;
  const { evtchn, machine, grants, domain } = vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  if (vcpu0 === undefined) return -EINVAL;
  const ringMaps = queue.ringMaps;
  ringMaps.clear();
  ringMaps.add(queue.kaddr(MAX_PENDING_REQS), GNTMAP.host_map, txRingRef, vif.domid);
  ringMaps.add(queue.kaddr(MAX_PENDING_REQS + 1), GNTMAP.host_map, rxRingRef, vif.domid);
  grants.mapGrantRef(vcpu0, ringMaps);
  if (ringMaps.status[0] === GNTST.okay) queue.txRingHandle = ringMaps.handle[0] as number;
  if (ringMaps.status[1] === GNTST.okay) queue.rxRingHandle = ringMaps.handle[1] as number;
  if (ringMaps.status[0] !== GNTST.okay || ringMaps.status[1] !== GNTST.okay) {
    vif.logMessage(`mapping shared-frames ${txRingRef}/${rxRingRef} failed: status ${ringMaps.status[0]}/${ringMaps.status[1]}`);
    xenvifUnmapFrontendDataRings(queue);
    return -EINVAL;
  }
  const txMfn = Math.floor((ringMaps.devBusAddr[0] as number) / 4096);
  const rxMfn = Math.floor((ringMaps.devBusAddr[1] as number) / 4096);
  const txs = SharedRing.overFrames(machine, [txMfn], NETIF_TX_RING);
  const rxs = SharedRing.overFrames(machine, [rxMfn], NETIF_RX_RING);
  // BACK_RING_ATTACH at rsp_prod; a producer more than a ring ahead is refused (-EIO).
  const tx = new BackRing(txs).attach(txs.rspProd);
  const rx = new BackRing(rxs).attach(rxs.rspProd);
  if (((txs.reqProd - txs.rspProd) >>> 0) > tx.size || ((rxs.reqProd - rxs.rspProd) >>> 0) > rx.size) {
    vif.logMessage("ring producer more than a ring ahead at connect");
    xenvifUnmapFrontendDataRings(queue);
    return -EIO;
  }
  queue.tx = tx;
  queue.rx = rx;
  try {
    queue.txPort = evtchn.evtchnBindInterdomain(vcpu0, vif.domid, txEvtchn);
    if (rxEvtchn === txEvtchn) {
      queue.rxPort = queue.txPort;
      evtchn.bindHandler(domain, queue.txPort, () => xenvifInterrupt(queue));
    } else {
      evtchn.bindHandler(domain, queue.txPort, () => xenvifTxInterrupt(queue));
      queue.rxPort = evtchn.evtchnBindInterdomain(vcpu0, vif.domid, rxEvtchn);
      evtchn.bindHandler(domain, queue.rxPort, () => xenvifRxInterrupt(queue));
    }
    if (queue.vcpu.id !== 0) {
      evtchn.evtchnBindVcpu(vcpu0, queue.txPort, queue.vcpu.id);
      if (queue.rxPort !== queue.txPort) evtchn.evtchnBindVcpu(vcpu0, queue.rxPort, queue.vcpu.id);
    }
  } catch (err) {
    if (!isXenError(err)) throw err;
    vif.logMessage(`binding event channels ${txEvtchn}/${rxEvtchn} failed: ${err.message}`);
    xenvifCloseEvtchns(queue);
    xenvifUnmapFrontendDataRings(queue);
    return -EINVAL;
  }
  queue.rxThreadStopped = false;
  queue.rxThreadSleeping = true;
  return 0;
}

function xenvifCloseEvtchns(queue: XenvifQueue): void {
  const { evtchn, domain } = queue.vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  if (vcpu0 === undefined) return;
  for (const port of queue.rxPort !== queue.txPort ? [queue.txPort, queue.rxPort] : [queue.txPort]) {
    if (port === 0) continue;
    try {
      evtchn.evtchnClose(vcpu0, port);
    } catch (err) {
      if (!isXenError(err)) throw err; // the frontend may have closed its end first
    }
  }
  queue.txPort = 0;
  queue.rxPort = 0;
}

/** xenvif_unmap_frontend_data_rings */
export function xenvifUnmapFrontendDataRings(queue: XenvifQueue): void {
  const { grants, domain } = queue.vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  const ringUnmaps = queue.ringUnmaps;
  ringUnmaps.clear();
  if (queue.txRingHandle !== NETBACK_INVALID_HANDLE) ringUnmaps.add(queue.kaddr(MAX_PENDING_REQS), queue.txRingHandle);
  if (queue.rxRingHandle !== NETBACK_INVALID_HANDLE) ringUnmaps.add(queue.kaddr(MAX_PENDING_REQS + 1), queue.rxRingHandle);
  if (ringUnmaps.count > 0 && vcpu0 !== undefined) grants.unmapGrantRef(vcpu0, ringUnmaps);
  queue.txRingHandle = NETBACK_INVALID_HANDLE;
  queue.rxRingHandle = NETBACK_INVALID_HANDLE;
  queue.tx = null;
  queue.rx = null;
}

// ---------------------------------------------------------------------------------------------
// Interrupts and NAPI

/** xenvif_tx_interrupt: schedule NAPI if the frontend queued requests. */
export function xenvifTxInterrupt(queue: XenvifQueue): void {
  if (queue.tx !== null && queue.tx.unconsumedRequests() !== 0) napiSchedule(queue);
}

/** xenvif_rx_interrupt: the frontend posted RX buffers: wake the RX kthread. */
export function xenvifRxInterrupt(queue: XenvifQueue): void {
  xenvifKickThread(queue);
}

/** xenvif_interrupt: one event channel for both directions. */
export function xenvifInterrupt(queue: XenvifQueue): void {
  xenvifTxInterrupt(queue);
  xenvifRxInterrupt(queue);
}

/** napi_schedule: run the queue's poll once on its VCPU (a no-op while one is pending or NAPI is off). */
export function napiSchedule(queue: XenvifQueue): void {
  if (queue.napiScheduled || !queue.vif.up || queue.napiDeleted) return;
  queue.napiScheduled = true;
  const env = queue.vif.ctx.env;
  env.work.runOn(queue.vcpu, env.clock.now(), () => {
    queue.napiScheduled = false;
    xenvifPoll(queue, XENVIF_NAPI_WEIGHT);
  });
}

/**
 * xenvif_poll: one NAPI poll. A disabled vif pretends there is nothing to do. Below the budget
 * NAPI completes and re-arms the ring (or reschedules if requests arrived meanwhile); at the
 * budget it stays scheduled.
 */
export function xenvifPoll(queue: XenvifQueue, budget: number): number {
  // A poll queued before netif_napi_del finds the queue gone (the vif may be up again by then,
  // with new queues).
  if (queue.napiDeleted || queue.vif.disabled || !queue.vif.up || queue.tx === null) return 0;
  queue.vcpu.charge(COST_NAPI_POLL);
  const workDone = xenvifTxAction(queue, budget);
  if (workDone < budget) {
    // If the queue is rate-limited, the credit timer reschedules it.
    if (!queue.rateLimited) xenvifNapiScheduleOrEnableEvents(queue);
  } else napiSchedule(queue);
  return workDone;
}

/** xenvif_napi_schedule_or_enable_events: RING_FINAL_CHECK_FOR_REQUESTS, poll again if any. */
export function xenvifNapiScheduleOrEnableEvents(queue: XenvifQueue): void {
  if (queue.tx !== null && queue.tx.finalCheckForRequests() !== 0) napiSchedule(queue);
}

/**
 * xenvif_kick_thread: wake the queue's RX kthread. The wake-up and the switch to the kthread are
 * charged (`kthread.wake`) on the queue's VCPU when the kthread runs.
 */
export function xenvifKickThread(queue: XenvifQueue, cpu: Vcpu | null = null): void {
  // wake_up(&queue->wq) takes the wait queue's lock whether or not the kthread waits on it.
  if (cpu !== null && !queue.rxThreadStopped) {
    if (queue.rxWqLock.take(cpu)) queue.modelStats.rxWqLockBounces++;
  }
  if (queue.rxThreadScheduled || queue.rxThreadStopped) return;
  queue.rxThreadScheduled = true;
  const env = queue.vif.ctx.env;
  env.work.runOn(queue.vcpu, env.clock.now(), () => {
    queue.rxThreadScheduled = false;
    if (queue.rxThreadSleeping) {
      // Woken: the switch to the kthread, and finish_wait's take of the wait queue's lock.
      queue.rxThreadSleeping = false;
      queue.vcpu.charge(COST_KTHREAD_WAKEUP);
      if (queue.rxWqLock.take(queue.vcpu)) queue.modelStats.rxWqLockBounces++;
    }
    xenvifKthreadGuestRx(queue, false);
  });
}

// ---------------------------------------------------------------------------------------------
// Carrier

/** xenvif_up: enable NAPI and the interrupts. */
function xenvifUp(vif: Xenvif): void {
  vif.up = true;
  for (const q of vif.queues) {
    xenvifNapiScheduleOrEnableEvents(q);
    xenvifKickThread(q);
  }
}

/** xenvif_carrier_on: the vif is connected; start the queues. */
export function xenvifCarrierOn(vif: Xenvif): void {
  vif.connected = true;
  vif.carrier = true;
  xenvifUp(vif);
  for (const q of vif.queues) xenvifWakeQueue(q);
}

/**
 * xenvif_carrier_off: carrier down and, through xenvif_down, NAPI off and each queue's credit
 * timer deleted (del_timer_sync) — a disabled vif stops here.
 */
export function xenvifCarrierOff(vif: Xenvif): void {
  if (!vif.connected) return;
  vif.connected = false;
  vif.carrier = false;
  vif.up = false;
  for (const q of vif.queues) xenvifDelCreditTimer(q);
}

/** netif_tx_stop_queue */
export function xenvifStopQueue(queue: XenvifQueue): void {
  if (queue.txQueueStopped) return;
  queue.txQueueStopped = true;
  queue.vif.ctx.options.onQueueStop?.(queue.vif, queue.id);
}

/** netif_tx_wake_queue */
export function xenvifWakeQueue(queue: XenvifQueue): void {
  if (!queue.txQueueStopped) return;
  queue.txQueueStopped = false;
  queue.vif.ctx.options.onQueueWake?.(queue.vif, queue.id);
}

// ---------------------------------------------------------------------------------------------
// Transmit towards the guest

/**
 * xenvif_select_queue with no hash algorithm configured (XEN_NETIF_CTRL_HASH_ALGORITHM_NONE):
 * netdev_pick_tx(dev, skb, NULL) % real_num_tx_queues, where netdev_pick_tx (no XPS map, no
 * socket) is skb_tx_hash: reciprocal_scale(skb_get_hash(skb), real_num_tx_queues). No queues:
 * 0 (the packet is dropped anyway). With an algorithm set over the control ring, the Toeplitz
 * hash and the mapping decide (xenvifHashSelectQueue, ctrl.ts).
 */
export function xenvifSelectQueue(vif: Xenvif, skb: SkBuff): number {
  const n = vif.queues.length;
  if (n < 1) return 0;
  // A frontend that set a hash algorithm over the control ring: its Toeplitz hash and mapping.
  const hashed = xenvifHashSelectQueue(vif, skb);
  if (hashed >= 0) return hashed;
  return skbTxHash(skb, n) % n;
}

/** What netdev_start_xmit passes beside the skb. */
export interface XenvifXmitOptions {
  /** skb->xmit_more: more skbs of this burst follow. */
  readonly xmitMore?: boolean;
  /** The VCPU calling ndo_start_xmit (smp_processor_id()); default the queue's. */
  readonly cpu?: Vcpu;
}

/**
 * xenvif_start_xmit: queue `skb` for the guest on queue `queueIndex` (or the flow-hashed one) and
 * wake that queue's RX kthread. Like Linux it always returns NETDEV_TX_OK: an skb that cannot be
 * queued (vif down or disabled, RX internal queue full) is freed and counted in tx_dropped.
 * The vif takes ownership of `skb`.
 *
 * `xmit.xmitMore` is netdev_start_xmit's `more` (skb->xmit_more, set by pktgen on all but the last skb
 * of a burst): the kick of the RX kthread — or, on the direct copy below, the response push and
 * event — waits for the last skb of the burst, unless the queue stopped meanwhile. A shared skb
 * sent with xmit_more (pktgen hands the same skb out `burst` times) is cloned before it is queued,
 * as the persistent-grants RFC does so that a burst over 1 works (model_rx_xmit_more_clones).
 *
 * With persistent grants (the RFC's "copy on xenvif_start_xmit"), an skb with nothing queued
 * ahead of it and its slots posted is put into the guest's buffers here, on the caller's path —
 * memcpy into the persistently mapped pages, grant copy for a buffer not in the tree yet — with
 * no RX kthread wake-up (model_rx_start_xmit_copies), charged to `xmit.cpu` (the VCPU calling
 * ndo_start_xmit; default the queue's); otherwise it goes to the kthread as in mainline
 * (model_rx_start_xmit_fallbacks).
 */
export function xenvifStartXmit(vif: Xenvif, skb: SkBuff, queueIndex?: number, xmit: XenvifXmitOptions = {}): number {
  const xmitMore = xmit.xmitMore === true;
  const n = vif.queues.length;
  let index = queueIndex ?? xenvifSelectQueue(vif, skb);
  if (n === 0 || !vif.carrier || vif.disabled) return dropXmit(vif, skb);
  if (!Number.isInteger(index) || index < 0) index = 0;
  if (index >= n) index %= n;
  const queue = vif.queues[index] as XenvifQueue;
  if (queue.rx === null || queue.rxThreadStopped) return dropXmit(vif, skb);
  if (xmitMore && skb.isShared) {
    const clone = skb.clone();
    skb.free();
    if (clone === null) return dropXmit(vif, null);
    queue.modelStats.rxXmitMoreClones++;
    skb = clone;
  }
  const env = vif.ctx.env;
  if (queue.rxPgTree !== null) {
    if (xenvifRxStartXmitCopy(queue, skb, xmitMore, xmit.cpu ?? queue.vcpu)) {
      queue.modelStats.rxStartXmitCopies++;
      return NETDEV_TX_OK;
    }
    queue.modelStats.rxStartXmitFallbacks++;
  }
  const cpu = xmit.cpu ?? queue.vcpu;
  // skb_queue_tail: rx_queue.lock, whose line the kthread's dequeue last took.
  if (queue.rxQueueLock.take(cpu)) queue.modelStats.rxQueueLockBounces++;
  if (!xenvifRxQueueTail(queue, skb, env.clock.now() + vif.drainTimeoutNs)) {
    // A kick an earlier skb of the burst deferred must not be lost with this one.
    xenvifKickThread(queue, cpu);
    return dropXmit(vif, skb);
  }
  if (!xmitMore || queue.txQueueStopped) xenvifKickThread(queue, cpu);
  return NETDEV_TX_OK;
}

function dropXmit(vif: Xenvif, skb: SkBuff | null): number {
  vif.devStats.txDropped++;
  skb?.free();
  return NETDEV_TX_OK;
}

// ---------------------------------------------------------------------------------------------
// Disconnect

/**
 * xenvif_disconnect_data: carrier off, stop the kthreads and NAPI, close the event channels, drop
 * what waits on the RX queues, unmap every slot already released, and — once no packet handed to
 * the stack is still in flight — unmap the rings. Queues with packets in flight finish later
 * (when the stack frees them), as Linux's dealloc kthread outlives kthread_stop until
 * inflight_packets reaches zero.
 */
export function xenvifDisconnectData(vif: Xenvif): void {
  xenvifCarrierOff(vif);
  for (const queue of vif.queues) {
    // xenvif_disconnect_queue: the kthreads stopped, NAPI deleted.
    queue.rxThreadStopped = true;
    queue.napiDeleted = true;
    xenvifCloseEvtchns(queue);
    xenvifRxQueuePurge(queue);
    queue.teardownPending = true;
    vif.dyingQueues.push(queue);
    xenvifDeallocKthread(queue);
  }
  vif.queues = [];
  vif.ctx.options.onDisconnect?.(vif);
}

/** The last in-flight packet of a disconnected queue was unmapped: unmap its rings, free its window. */
export function xenvifQueueTeardownDone(queue: XenvifQueue): void {
  if (!queue.teardownPending) return;
  queue.teardownPending = false;
  xenvifFreePersistentGnts(queue);
  xenvifUnmapFrontendDataRings(queue);
  const vif = queue.vif;
  if (queue.kaddrWindow >= 0) vif.ctx.freeKaddrWindow(queue.kaddrWindow);
  queue.kaddrWindow = -1;
  const i = vif.dyingQueues.indexOf(queue);
  if (i >= 0) vif.dyingQueues.splice(i, 1);
  addStats(vif.retiredStats, queue.stats);
  addModelStats(vif.retiredModelStats, queue.modelStats);
  addCounters(vif.retiredTxPgStats, queue.txPgStats);
  addCounters(vif.retiredRxPgStats, queue.rxPgStats);
}
