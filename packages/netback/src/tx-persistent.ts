/**
 * netback's persistent-grant TX path, beside the tree it uses (pgrant.ts): the xen-devel RFC
 * "Persistent grant maps for xen net drivers" (May 2015). Each slot's gref is looked up in the
 * queue's tree; a miss gets its map into the tree prepared (and the header part of the first slot
 * grant-copied meanwhile), and after the hypercalls the packet is memcpy'd out of the mapped
 * pages into local memory and every slot answered at once — the guest's pages stay mapped for
 * the next packet.
 */
import { DOMID_SELF } from "@pvnet/hypervisor";
import { NETIF_RSP_ERROR, NETIF_RSP_OKAY, type NetifTxRequest, NETTXF_csum_blank, NETTXF_data_validated } from "@pvnet/netif";
import {
  CHECKSUM_PARTIAL,
  CHECKSUM_UNNECESSARY,
  COST_MEMCPY,
  ENOMEM,
  MAX_SKB_FRAGS,
  PAGE_SIZE,
  type Page,
  putPage,
  type SkBuff,
} from "@pvnet/skb-model";
import { GNTCOPY, GNTST } from "@pvnet/xen-grant-table";
import { COST_TREE_LOOKUP, type XenvifQueue, type XenvifTxCb } from "./common.js";
import { makeTxResponse, pushTxResponses } from "./tx.js";

/**
 * Look every slot of the packet up in the queue's tree (the first request is `first`, the rest
 * `queue.txfrags[0..nrFrags)`); prepare a map into the tree for each miss. False when a miss
 * cannot be mapped (tree full): the packet then takes the copy/map path.
 */
export function xenvifTxPersistentPrepare(queue: XenvifQueue, first: NetifTxRequest, nrFrags: number): boolean {
  const tree = queue.txPgTree as NonNullable<XenvifQueue["txPgTree"]>;
  let ok = true;
  for (let j = -1; j < nrFrags; j++) {
    const txp = j === -1 ? first : (queue.txfrags[j] as NetifTxRequest);
    queue.vcpu.charge(COST_TREE_LOOKUP);
    if (tree.lookup(txp.gref) < 0 && !tree.prepareMap(txp.gref)) ok = false;
  }
  return ok;
}

/**
 * The persistent-grant get_requests: remember each slot's request; when the first slot's gref
 * missed the tree, grant-copy the header part it holds (split at a local page boundary, as
 * xenvif_get_requests does) — the RFC's fallback — while its map into the tree is prepared.
 */
export function xenvifTxPersistentGetRequests(queue: XenvifQueue, cb: XenvifTxCb, first: NetifTxRequest, nrFrags: number, extraCount: number, dataLen: number): void {
  const skb = cb.skb as SkBuff;
  const tree = queue.txPgTree as NonNullable<XenvifQueue["txPgTree"]>;
  cb.persistent = true;
  cb.pgExtraCount = extraCount;
  cb.pgCount = nrFrags + 1;
  for (let j = 0; j <= nrFrags; j++) {
    const txp = j === 0 ? first : (queue.txfrags[j - 1] as NetifTxRequest);
    cb.pgId[j] = txp.id;
    cb.pgGref[j] = txp.gref;
    cb.pgOffset[j] = txp.offset;
    cb.pgSize[j] = txp.size;
  }
  skb.put(dataLen);
  cb.copyCount = 0;
  cb.splitMask = 0;
  cb.pgHdrCopied = 0;
  if (tree.addrOf(first.gref) >= 0) return;
  // Miss: grant copy for the header bytes of the first slot.
  const amount = Math.min(dataLen, first.size);
  const at = skb.head + skb.data;
  const destOffset = at & (PAGE_SIZE - 1);
  const headPage = skb.headPage;
  const vif = queue.vif;
  const firstPart = Math.min(amount, PAGE_SIZE - destOffset);
  queue.txCopyOps.add(first.gref, vif.domid, first.offset, headPage.gfns[at >>> 12] as number, DOMID_SELF, destOffset, firstPart, GNTCOPY.source_gref);
  queue.modelStats.txCopyOps++;
  if (firstPart < amount) {
    cb.splitMask = 1;
    const at2 = at + firstPart;
    queue.txCopyOps.add(first.gref, vif.domid, first.offset + firstPart, headPage.gfns[at2 >>> 12] as number, DOMID_SELF, 0, amount - firstPart, GNTCOPY.source_gref);
    queue.modelStats.txCopyOps++;
  }
  cb.copyCount = 1;
  cb.pgHdrCopied = amount;
}

/** machine.copy into `page` at `pageOff`, split where the destination crosses a 4 KiB frame. */
function copyIntoPage(queue: XenvifQueue, page: Page, pageOff: number, src: number, len: number): void {
  const machine = queue.vif.ctx.env.machine;
  while (len > 0) {
    const n = Math.min(len, PAGE_SIZE - (pageOff & (PAGE_SIZE - 1)));
    machine.copy(page.addr(pageOff), src, n);
    pageOff += n;
    src += n;
    len -= n;
  }
}

/**
 * Build a persistent-grant packet after the hypercalls: check its header copy, memcpy the rest
 * of the linear area and then the data (into fresh local pages attached as frags: the skb cannot
 * point at the guest's page, which stays in the tree for the next packet), and answer every slot
 * — OKAY, or ERROR for all of them when a copy or a map failed. False when the packet is dropped.
 */
export function xenvifTxPersistentFill(queue: XenvifQueue, cb: XenvifTxCb, pos: { copy: number; map: number }): boolean {
  const skb = cb.skb as SkBuff;
  const tree = queue.txPgTree as NonNullable<XenvifQueue["txPgTree"]>;
  const copies = queue.txCopyOps;
  let err = 0;
  if (cb.copyCount !== 0) {
    let st = copies.status[pos.copy] as number;
    if (cb.splitMask & 1) {
      pos.copy++;
      if (!st) st = copies.status[pos.copy] as number;
    }
    pos.copy++;
    if (st) {
      err = st;
      queue.vif.logMessage(`Grant copy of header failed! status: ${st} ref: ${cb.pgGref[0]}`);
    }
  }
  const pool = queue.vif.ctx.env.skbs.pool;
  const sh = skb.shinfo;
  let linearAt = skb.data + cb.pgHdrCopied; // offset of the next linear byte from skb.head
  let linearLeft = skb.headlen - cb.pgHdrCopied;
  let frag: Page | null = null;
  let fragUsed = 0;
  let copied = 0;
  for (let j = 0; j < cb.pgCount && err === 0; j++) {
    const base = tree.addrOf(cb.pgGref[j] as number);
    if (base < 0) {
      err = GNTST.bad_gntref; // its map into the tree failed
      queue.vif.logMessage(`Persistent grant ${cb.pgGref[j]} not mapped, slot ${j}`);
      break;
    }
    let off = cb.pgOffset[j] as number;
    let size = cb.pgSize[j] as number;
    if (j === 0) {
      off += cb.pgHdrCopied;
      size -= cb.pgHdrCopied;
    }
    const h = Math.min(linearLeft, size);
    if (h > 0) {
      copyIntoPage(queue, skb.headPage, skb.head + linearAt, base + off, h);
      linearAt += h;
      linearLeft -= h;
      off += h;
      size -= h;
      copied += h;
    }
    while (size > 0) {
      if (frag === null || fragUsed === PAGE_SIZE) {
        if (frag !== null) skb.addRxFrag(sh.nrFrags, frag, 0, fragUsed, PAGE_SIZE);
        // Invariant: a packet holds at most 64 KiB, i.e. 16 pages of frags (< MAX_SKB_FRAGS).
        if (sh.nrFrags >= MAX_SKB_FRAGS) throw new Error(`${queue.name}: persistent packet needs more than MAX_SKB_FRAGS pages`);
        frag = pool.allocPage();
        fragUsed = 0;
        if (frag === null) {
          err = -ENOMEM;
          queue.vif.logMessage("Can't allocate a page for a persistent-grant packet");
          break;
        }
      }
      const n = Math.min(size, PAGE_SIZE - fragUsed);
      queue.vif.ctx.env.machine.copy(frag.addr(fragUsed), base + off, n);
      fragUsed += n;
      off += n;
      size -= n;
      copied += n;
    }
  }
  if (frag !== null) {
    if (err === 0) skb.addRxFrag(sh.nrFrags, frag, 0, fragUsed, PAGE_SIZE);
    else putPage(frag);
  }
  queue.vcpu.charge(COST_MEMCPY, copied);
  // Every slot is answered now: the data has left the guest's pages.
  const status = err === 0 ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
  for (let j = 0; j < cb.pgCount; j++) makeTxResponse(queue, cb.pgId[j] as number, j === 0 ? cb.pgExtraCount : 0, status);
  pushTxResponses(queue);
  if (err !== 0) return false;
  if (cb.txFlags & NETTXF_csum_blank) skb.ipSummed = CHECKSUM_PARTIAL;
  else if (cb.txFlags & NETTXF_data_validated) skb.ipSummed = CHECKSUM_UNNECESSARY;
  return true;
}
