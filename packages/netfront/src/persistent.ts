/**
 * Persistent grants of the frontend (the RFC "Persistent grant maps for xen
 * net drivers", May 2015): at setup every TX id gets one page granted read-only and every RX buffer slot one page
 * granted writable, for the life of the connection. TX copies each packet into the pages of the
 * ids it uses. RX posts zerocopy skbs whose frag is the pool page itself: the linear pull copies
 * a short packet out and the page goes back to the pool; a longer one is copied out of it
 * (skb_copy_ubufs, the RFC's RX regression). No grant is claimed, granted or ended per packet, so
 * the backend can keep them all mapped.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import { ENOMEM, getPage, type Page, putPage, SKBFL_ALL_ZEROCOPY, type SkBuff, UbufInfo } from "@pvnet/skb-model";
import type { GrantRefHead } from "@pvnet/xen-grant-table";
import { COST_GRANT_ACCESS, INVALID_GRANT_REF, NET_RX_RING_SIZE, NET_TX_RING_SIZE, type NetfrontInfo, NetfrontError, type NetfrontQueue } from "./common.js";


/** A zeroed page of the guest's pool (nothing of older data is ever visible to the backend), or null. */
function zeroedPage(np: NetfrontInfo): Page | null {
  const page = np.env.skbs.pool.allocPage();
  if (page !== null) np.env.machine.fill(page.addr(0), 0, page.size);
  return page;
}

/**
 * Grant the queue's pools: NET_TX_RING_SIZE read-only pages (id i uses page i) and
 * NET_RX_RING_SIZE writable pages, each with a reference claimed from the queue's private list
 * (which holds exactly as many). 0 or -ENOMEM (what was granted is released by
 * xennetFreePersistentGnts at disconnect).
 */
export function xennetInitPersistentGnts(np: NetfrontInfo, q: NetfrontQueue, vcpu: Vcpu): number {
  q.persistent = true;
  for (let i = 0; i < NET_TX_RING_SIZE; i++) {
    if (grantPoolPage(np, q.grefTxHead, true, vcpu, q.txPgPage, q.txPgRef, i) < 0) return -ENOMEM;
  }
  q.rxPgFreeCount = 0;
  for (let i = 0; i < NET_RX_RING_SIZE; i++) {
    if (grantPoolPage(np, q.grefRxHead, false, vcpu, q.rxPgPage, q.rxPgRef, i) < 0) return -ENOMEM;
    q.rxPgUbuf[i] = new UbufInfo(xennetRxPgComplete, q, i);
    q.rxPgNext[i] = -1;
    q.rxPgFree[q.rxPgFreeCount++] = i;
  }
  return 0;
}

/**
 * The zerocopy completion of an RX pool page: the skb let go of the page (freed, pulled empty or
 * copied out), so it and the rest of its packet's chain go back on the free list.
 */
function xennetRxPgComplete(_skb: SkBuff, ubuf: UbufInfo, _zerocopySuccess: boolean): void {
  const q = ubuf.ctx as NetfrontQueue;
  let k = ubuf.desc;
  // A chain holds at most one packet's slots; bound the walk by the ring anyway.
  for (let n = 0; k >= 0 && n < NET_RX_RING_SIZE; n++) {
    const next = q.rxPgNext[k] as number;
    q.rxPgNext[k] = -1;
    // Invariant: each pool page is out once (a posted buffer or one packet's frag).
    if (q.rxPgFreeCount >= NET_RX_RING_SIZE) throw new NetfrontError("BUG", "rx pool page given back twice");
    q.rxPgFree[q.rxPgFreeCount++] = k;
    k = next;
  }
}

/**
 * A persistent queue's RX buffer: pool page `k` as frag 0 of `skb` (a page reference of the skb's
 * own), the skb made zerocopy with the page's ubuf so that releasing it gives the page back.
 */
export function xennetAttachRxPg(q: NetfrontQueue, skb: SkBuff, k: number): void {
  const page = q.rxPgPage[k] as Page;
  getPage(page);
  skb.addRxFrag(0, page, 0, 0, page.size);
  skb.zcopyInit(q.rxPgUbuf[k] as UbufInfo);
}

/**
 * xennet_fill_frags on a persistent queue: `nskb`'s pool page moves to `skb` as a frag, so its
 * ubuf leaves `nskb` (which is then freed without completing it) and joins the end of `skb`'s chain.
 */
export function xennetChainRxPg(q: NetfrontQueue, skb: SkBuff, nskb: SkBuff): void {
  const ub = nskb.zcopy;
  if (ub === null) return;
  const sh = nskb.shinfo;
  sh.destructorArg = null;
  sh.flags &= ~SKBFL_ALL_ZEROCOPY;
  ub.refcnt = 0;
  const head = skb.zcopy;
  if (head === null) {
    skb.zcopyInit(ub);
    return;
  }
  let k = head.desc;
  for (let n = 0; (q.rxPgNext[k] as number) >= 0 && n < NET_RX_RING_SIZE; n++) k = q.rxPgNext[k] as number;
  q.rxPgNext[k] = ub.desc;
}

/**
 * At disconnect: end access to every pool grant (deferred, page kept, while the backend still
 * maps it) and free the pages.
 */
export function xennetFreePersistentGnts(q: NetfrontQueue, endAccess: (ref: number, page: Page | null) => void): void {
  for (const [pages, refs] of [
    [q.txPgPage, q.txPgRef],
    [q.rxPgPage, q.rxPgRef],
  ] as const) {
    for (let i = 0; i < pages.length; i++) {
      const page = pages[i];
      if (page === null || page === undefined) continue;
      endAccess(refs[i] as number, page);
      putPage(page);
      pages[i] = null;
      refs[i] = INVALID_GRANT_REF;
    }
  }
  q.rxPgFreeCount = 0;
  q.rxPgUbuf.fill(null);
  q.rxPgNext.fill(-1);
  q.persistent = false;
}

/** Pool pages still granted (for `outstanding()`). */
export function persistentGrantsHeld(q: NetfrontQueue): number {
  let n = 0;
  for (const p of q.txPgPage) if (p !== null) n++;
  for (const p of q.rxPgPage) if (p !== null) n++;
  return n;
}

/**
 * One page of a persistent pool: a zeroed page granted to the backend (read-only for TX) with a
 * reference claimed from `head`, stored at `pages[i]` / `refs[i]`. Returns the reference, or -1
 * when memory or references run out.
 */
function grantPoolPage(
  np: NetfrontInfo,
  head: GrantRefHead,
  readonly: boolean,
  vcpu: Vcpu,
  pages: (Page | null)[],
  refs: Int32Array,
  i: number,
): number {
  const page = zeroedPage(np);
  if (page === null) return -1;
  const ref = np.env.gnttab.claimGrantReference(head);
  if (ref < 0) {
    putPage(page);
    return -1;
  }
  np.env.gnttab.grantForeignAccessRef(ref, np.otherendId, page.gfns[0] as number, readonly);
  vcpu.charge(COST_GRANT_ACCESS);
  pages[i] = page;
  refs[i] = ref;
  return ref;
}
