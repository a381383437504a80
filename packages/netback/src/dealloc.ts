/**
 * Zerocopy completion and grant unmapping of netback.c: the skbs netback hands to the Dom0 stack
 * carry the guest's pages mapped read-only; when the stack frees such an skb (or copies its frags
 * away) the zerocopy callback queues the packet's pending slots on the dealloc ring, and the
 * dealloc "kthread" unmaps them in one batch and sends the TX responses.
 */
import { NETIF_RSP_OKAY } from "@pvnet/netif";
import { type Page, putPage, type SkBuff, type UbufInfo } from "@pvnet/skb-model";
import { GNTST } from "@pvnet/xen-grant-table";
import { COST_KTHREAD_WAKEUP, MAX_PENDING_REQS, NETBACK_INVALID_HANDLE, NetbackError, type XenvifQueue } from "./common.js";
import { xenvifQueueTeardownDone } from "./interface.js";
import { xenvifIdxRelease } from "./tx.js";

/** xenvif_skb_zerocopy_prepare: attach the packet's callback (slot `headIdx` starts the chain). */
export function xenvifSkbZerocopyPrepare(queue: XenvifQueue, skb: SkBuff, headIdx: number): void {
  skb.zcopyInit(queue.ubufs[headIdx] as UbufInfo);
  queue.inflightPackets++;
}

/** The ubuf_info callback of every pending slot: forwards to xenvif_zerocopy_callback. */
export function xenvifUbufCallback(_skb: SkBuff, ubuf: UbufInfo, zerocopySuccess: boolean): void {
  xenvifZerocopyCallback(ubuf.ctx as XenvifQueue, ubuf.desc, zerocopySuccess);
}

/**
 * xenvif_zerocopy_callback: put every slot of the packet's chain on the dealloc ring, count the
 * outcome (tx_zerocopy_success / tx_zerocopy_fail) and wake the dealloc work. Never unmaps
 * synchronously: the stack still holds the frags' page references while this runs.
 */
export function xenvifZerocopyCallback(queue: XenvifQueue, headIdx: number, zerocopySuccess: boolean): void {
  let idx = headIdx;
  // The chain is at most one packet's slots; bound the walk by the pending ring anyway.
  for (let n = 0; idx >= 0 && n < MAX_PENDING_REQS; n++) {
    const next = queue.ubufNext[idx] as number;
    queue.ubufNext[idx] = -1;
    if (((queue.deallocProd - queue.deallocCons) >>> 0) >= MAX_PENDING_REQS) throw new NetbackError("BUG", `${queue.name}: dealloc ring overflow`);
    queue.deallocRing[queue.deallocProd & (MAX_PENDING_REQS - 1)] = idx;
    queue.deallocProd = (queue.deallocProd + 1) >>> 0;
    idx = next;
  }
  if (zerocopySuccess) queue.stats.txZerocopySuccess++;
  else queue.stats.txZerocopyFail++;
  xenvifSkbZerocopyComplete(queue);
}

/** xenvif_skb_zerocopy_complete: one packet fewer in flight; wake the dealloc work. */
export function xenvifSkbZerocopyComplete(queue: XenvifQueue): void {
  queue.inflightPackets--;
  xenvifDeallocKick(queue);
}

/** wake_up(&queue->dealloc_wq): run the dealloc work on the queue's VCPU, once. */
export function xenvifDeallocKick(queue: XenvifQueue): void {
  if (queue.deallocScheduled) return;
  queue.deallocScheduled = true;
  const env = queue.vif.ctx.env;
  env.work.runOn(queue.vcpu, env.clock.now(), () => {
    queue.deallocScheduled = false;
    queue.vcpu.charge(COST_KTHREAD_WAKEUP);
    xenvifDeallocKthread(queue);
  });
}

/** One wake-up of xenvif_dealloc_kthread. */
export function xenvifDeallocKthread(queue: XenvifQueue): void {
  if (queue.deallocCons !== queue.deallocProd) xenvifTxDeallocAction(queue);
  if (queue.teardownPending && queue.inflightPackets === 0 && queue.deallocCons === queue.deallocProd) xenvifQueueTeardownDone(queue);
}

/**
 * xenvif_tx_dealloc_action: unmap every slot on the dealloc ring in one GNTTABOP_unmap_grant_ref
 * and answer their requests with NETIF_RSP_OKAY.
 */
export function xenvifTxDeallocAction(queue: XenvifQueue): void {
  const ops = queue.txUnmapOps;
  const release = queue.pendingIdxRelease;
  ops.clear();
  let dc = queue.deallocCons;
  let dp: number;
  do {
    dp = queue.deallocProd;
    while (dc !== dp) {
      if (ops.count >= MAX_PENDING_REQS) throw new NetbackError("BUG", `${queue.name}: more than MAX_PENDING_REQS slots to unmap`);
      const idx = queue.deallocRing[dc & (MAX_PENDING_REQS - 1)] as number;
      dc = (dc + 1) >>> 0;
      release[ops.count] = idx;
      ops.add(queue.kaddr(idx), xenvifGrantHandleReset(queue, idx));
    }
  } while (dp !== queue.deallocProd);
  queue.deallocCons = dc;
  const n = ops.count;
  if (n > 0) {
    const { grants } = queue.vif.ctx.env;
    grants.unmapGrantRef(queue.vcpu, ops);
    for (let i = 0; i < n; i++) {
      if (ops.status[i] !== GNTST.okay) {
        throw new NetbackError("BUG", `${queue.name}: Unmap fail: handle ${ops.handle[i]} status ${ops.status[i]}`);
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const idx = release[i] as number;
    xenvifPutSlotPage(queue, idx);
    xenvifIdxRelease(queue, idx, NETIF_RSP_OKAY);
  }
}

/** xenvif_grant_handle_reset: the slot's handle, which becomes invalid. */
function xenvifGrantHandleReset(queue: XenvifQueue, idx: number): number {
  const handle = queue.grantTxHandle[idx] as number;
  if (handle === NETBACK_INVALID_HANDLE) throw new NetbackError("BUG", `${queue.name}: Trying to unmap invalid handle! pending_idx: ${idx}`);
  queue.grantTxHandle[idx] = NETBACK_INVALID_HANDLE;
  return handle;
}

/** Drop netback's own reference on a slot's page once unmapped: nobody else may hold one now. */
function xenvifPutSlotPage(queue: XenvifQueue, idx: number): void {
  const page = queue.mmapPages[idx] as Page;
  if (page.refcount !== 1) throw new NetbackError("BUG", `${queue.name}: slot ${idx} unmapped while its page has ${page.refcount} references`);
  putPage(page);
  const f = queue.vif.ctx.foreignOf(page);
  if (f !== undefined) f.mapped = false;
}

/** xenvif_idx_unmap: unmap one slot now (a packet whose other ops failed). */
export function xenvifIdxUnmap(queue: XenvifQueue, idx: number): void {
  const ops = queue.idxUnmapOps;
  ops.clear();
  ops.add(queue.kaddr(idx), xenvifGrantHandleReset(queue, idx));
  queue.vif.ctx.env.grants.unmapGrantRef(queue.vcpu, ops);
  if (ops.status[0] !== GNTST.okay) throw new NetbackError("BUG", `${queue.name}: Unmap fail: pending_idx ${idx} status ${ops.status[0]}`);
  xenvifPutSlotPage(queue, idx);
}
