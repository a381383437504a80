/**
 * The guest-TX path of netback.c (guest -> Dom0): read the frontend's requests, grant-COPY the
 * header into a fresh skb's linear area, grant-MAP the rest into pending slots, check every op,
 * attach the mapped pages as frags (frag_list beyond MAX_SKB_FRAGS), set up GSO and checksum
 * state, and hand the skb to the Dom0 stack. Misbehaving frontends get Linux's reactions, in
 * Linux's order of checks: an error response, a dropped packet, or the vif disabled.
 *
 * Every request is copied out of the shared ring once (RING_COPY_REQUEST) into a preallocated
 * object before it is looked at; nothing here allocates per packet.
 */
import { DOMID_SELF, type MulticallEntry } from "@pvnet/hypervisor";
import {
  copyExtraInfo,
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  type NetifExtraInfo,
  type NetifTxRequest,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  readExtraInfo,
  readTxRequest,
  TX_RESPONSE,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
} from "@pvnet/netif";
import {
  CHECKSUM_PARTIAL,
  CHECKSUM_UNNECESSARY,
  E2BIG,
  EBADR,
  EINVAL,
  EIO,
  ENODATA,
  ENOMEM,
  ETH_HLEN,
  ethTypeTrans,
  getPage,
  MAX_SKB_FRAGS,
  NET_IP_ALIGN,
  NET_SKB_PAD,
  PAGE_SIZE,
  type Page,
  putPage,
  SKB_GSO_TCPV4,
  SKB_GSO_TCPV6,
  type SkBuff,
  xenChecksumSetup,
} from "@pvnet/skb-model";
import { GNTCOPY, GNTMAP, GNTST } from "@pvnet/xen-grant-table";
import {
  COST_RING_REQUEST,
  COST_RING_RESPONSE,
  MAX_PENDING_REQS,
  NETBACK_EXTRA_TYPE_MAX,
  NETBACK_INVALID_HANDLE,
  PKT_PROT_LEN,
  TX_CREDIT_MAX_BURST,
  XEN_NETBACK_TX_COPY_LEN,
  XEN_NETBK_LEGACY_SLOTS_MAX,
  XEN_NETBK_MCAST_MAX,
  XENVIF_DEV_ADDR,
  type Xenvif,
  type XenvifQueue,
  type XenvifTxCb,
} from "./common.js";
import { xenvifIdxUnmap, xenvifSkbZerocopyPrepare, xenvifZerocopyCallback } from "./dealloc.js";
import { xenvifKickThread, xenvifNapiScheduleOrEnableEvents } from "./interface.js";
import { xenvifTxPersistentFill, xenvifTxPersistentGetRequests, xenvifTxPersistentPrepare } from "./tx-persistent.js";

/** Writes only a TX response's status (make_tx_response's extra-slot answers). */
function writeTxRspStatus(v: DataView, off: number, status: number): void {
  v.setInt16(off + TX_RESPONSE.STATUS, status, true);
}
function writeTxRsp(v: DataView, off: number, r: { id: number; status: number }): void {
  v.setUint16(off + TX_RESPONSE.ID, r.id, true);
  v.setInt16(off + TX_RESPONSE.STATUS, r.status, true);
}

// ---------------------------------------------------------------------------------------------
// Responses

/** make_tx_response: answer `id` with `status`, and each of its extra slots with NETIF_RSP_NULL. */
export function makeTxResponse(queue: XenvifQueue, id: number, extraCount: number, status: number): void {
  const tx = queue.tx;
  if (tx === null) return;
  let i = tx.rspProdPvt;
  const rsp = queue.txScratch.rsp;
  rsp.id = id;
  rsp.status = status;
  tx.writeResponse(i, writeTxRsp, rsp);
  queue.vcpu.charge(COST_RING_RESPONSE);
  if (status === NETIF_RSP_ERROR) queue.modelStats.txErrors++;
  while (extraCount-- > 0) {
    i = (i + 1) >>> 0;
    tx.writeResponse(i, writeTxRspStatus, NETIF_RSP_NULL);
    queue.vcpu.charge(COST_RING_RESPONSE);
  }
  tx.rspProdPvt = (i + 1) >>> 0;
}

/** push_tx_responses: publish and notify the frontend if it asked to be. */
export function pushTxResponses(queue: XenvifQueue): void {
  const tx = queue.tx;
  if (tx === null) return;
  if (tx.pushResponsesAndCheckNotify() && queue.txPort !== 0) queue.vif.ctx.env.evtchn.evtchnSend(queue.vcpu, queue.txPort);
}

/** xenvif_idx_release: answer the request held by pending slot `idx` and free the slot. */
export function xenvifIdxRelease(queue: XenvifQueue, idx: number, status: number): void {
  makeTxResponse(queue, queue.pendingId[idx] as number, queue.pendingExtraCount[idx] as number, status);
  // Release the pending index before pushing the response (so it is free before a new request).
  queue.pendingRing[queue.pendingProd++ & (MAX_PENDING_REQS - 1)] = idx;
  // Invariant: at most MAX_PENDING_REQS slots are ever free.
  if (queue.nrPendingReqs < 0) throw new Error(`${queue.name}: pending ring overflow`);
  pushTxResponses(queue);
}

/** xenvif_tx_err: answer the first request and every slot up to `end` with NETIF_RSP_ERROR. */
export function xenvifTxErr(queue: XenvifQueue, txp: NetifTxRequest, extraCount: number, end: number): void {
  const tx = queue.tx;
  if (tx === null) return;
  let cons = tx.reqCons;
  const scratch = queue.droppedTx;
  let id = txp.id;
  for (;;) {
    makeTxResponse(queue, id, extraCount, NETIF_RSP_ERROR);
    pushTxResponses(queue);
    if (cons === end) break;
    tx.copyRequest(cons, readTxRequest, scratch);
    cons = (cons + 1) >>> 0;
    id = scratch.id;
    extraCount = 0; // only the first frag can have extras
  }
  tx.reqCons = cons;
}

/**
 * xenvif_fatal_tx_err: the frontend is malicious or broken: disable the vif (its queue-0 RX
 * kthread takes the carrier down) and log why. Other vifs are not affected.
 */
export function xenvifFatalTxErr(vif: Xenvif, reason: string): void {
  vif.logMessage(reason);
  vif.logMessage("fatal error; disabling device");
  if (!vif.disabled) {
    vif.disabled = true;
    vif.fatalReason = reason;
    const env = vif.ctx.env;
    env.trace.traceEvent(env.domain.vcpus[0]?.actor.id ?? 0, "netback.fatal", vif.domid, vif.handle);
    vif.ctx.options.onFatal?.(vif, reason);
  }
  const q0 = vif.queues[0];
  if (q0 !== undefined) xenvifKickThread(q0);
}

// ---------------------------------------------------------------------------------------------
// Reading the request chain

/**
 * xenvif_count_requests: read the slots that follow `first` into `txfrags` (up to
 * XEN_NETBK_LEGACY_SLOTS_MAX). Returns how many follow, or a negative errno: a drop (error
 * responses already sent, ring consumed past the chain) or a fatal error (vif disabled).
 * `first.size` is left as the first slot's own length, as in Linux.
 */
export function xenvifCountRequests(queue: XenvifQueue, first: NetifTxRequest, extraCount: number, workToDo: number): number {
  const tx = queue.tx as NonNullable<XenvifQueue["tx"]>;
  const vif = queue.vif;
  const cons = tx.reqCons;
  const fatalSkbSlots = vif.ctx.config.fatalSkbSlots;
  let slots = 0;
  let dropErr = 0;
  let moreData: number;
  if (!(first.flags & NETTXF_more_data)) return 0;
  do {
    if (slots >= workToDo) {
      xenvifFatalTxErr(vif, `Asked for ${workToDo} slots but exceeds this limit`);
      return -ENODATA;
    }
    // This guest is really using too many slots and considered malicious.
    if (slots >= fatalSkbSlots) {
      xenvifFatalTxErr(vif, `Malicious frontend using ${slots} slots, threshold ${fatalSkbSlots}`);
      return -E2BIG;
    }
    // More than 18 slots but fewer than fatal_skb_slots: dropped.
    if (!dropErr && slots >= XEN_NETBK_LEGACY_SLOTS_MAX) {
      vif.logMessage(`Too many slots (${slots}) exceeding limit (${XEN_NETBK_LEGACY_SLOTS_MAX}), dropping packet`);
      dropErr = -E2BIG;
    }
    const txp = dropErr ? queue.droppedTx : (queue.txfrags[slots] as NetifTxRequest);
    if (dropErr) {
      txp.gref = 0;
      txp.offset = 0;
      txp.flags = 0;
      txp.id = 0;
      txp.size = 0;
    }
    tx.copyRequest((cons + slots) >>> 0, readTxRequest, txp);
    queue.vcpu.charge(COST_RING_REQUEST);
    // A frame >= 64 KiB overflowed first->size: not fatal (buggy frontends do it), dropped.
    if (!dropErr && txp.size > first.size) {
      vif.logMessage(`Invalid tx request, slot size ${txp.size} > remaining size ${first.size}`);
      dropErr = -EIO;
    }
    first.size = (first.size - txp.size) & 0xffff;
    slots++;
    if (txp.offset + txp.size > PAGE_SIZE) {
      xenvifFatalTxErr(vif, `Cross page boundary, txp->offset: ${txp.offset}, size: ${txp.size}`);
      return -EINVAL;
    }
    moreData = txp.flags & NETTXF_more_data;
  } while (moreData);
  if (dropErr) {
    xenvifTxErr(queue, first, extraCount, (cons + slots) >>> 0);
    return dropErr;
  }
  return slots;
}

/**
 * xenvif_get_extras: read extra-info slots into `queue.extras[type - 1]` (the last of each type
 * wins). A missing slot or an unknown type is fatal. Returns the remaining work or -errno.
 */
export function xenvifGetExtras(queue: XenvifQueue, workToDo: number, count: { n: number }): number {
  const tx = queue.tx as NonNullable<XenvifQueue["tx"]>;
  const extra = queue.extraScratch;
  let cons = tx.reqCons;
  do {
    if (workToDo-- <= 0) {
      xenvifFatalTxErr(queue.vif, "Missing extra info");
      return -EBADR;
    }
    tx.copyRequest(cons, readExtraInfo, extra);
    queue.vcpu.charge(COST_RING_REQUEST);
    cons = (cons + 1) >>> 0;
    tx.reqCons = cons;
    count.n++;
    // Linux's netif.h knows XEN_NETIF_EXTRA_TYPE_XDP (5): accepted, stored and ignored.
    if (!extra.type || extra.type >= NETBACK_EXTRA_TYPE_MAX) {
      xenvifFatalTxErr(queue.vif, `Invalid extra type: ${extra.type}`);
      return -EINVAL;
    }
    copyExtraInfo(queue.extras[extra.type - 1] as NetifExtraInfo, extra);
  } while (extra.flags & XEN_NETIF_EXTRA_FLAG_MORE);
  return workToDo;
}

/** xenvif_tx_create_map_op: map `txp`'s page read-only into pending slot `idx`, remember the request. */
function xenvifTxCreateMapOp(queue: XenvifQueue, idx: number, txp: NetifTxRequest, extraCount: number): void {
  queue.txMapOps.add(queue.kaddr(idx), GNTMAP.host_map | GNTMAP.readonly, txp.gref, queue.vif.domid);
  savePendingReq(queue, idx, txp, extraCount);
}

function savePendingReq(queue: XenvifQueue, idx: number, txp: NetifTxRequest, extraCount: number): void {
  queue.pendingGref[idx] = txp.gref;
  queue.pendingOffset[idx] = txp.offset;
  queue.pendingFlags[idx] = txp.flags;
  queue.pendingId[idx] = txp.id;
  queue.pendingSize[idx] = txp.size;
  queue.pendingExtraCount[idx] = extraCount;
}

function nextPendingIdx(queue: XenvifQueue): number {
  // Invariant: a slot is free (each ring request in flight holds at most one).
  if (queue.nrPendingReqs >= MAX_PENDING_REQS) throw new Error(`${queue.name}: pending ring exhausted`);
  return queue.pendingRing[queue.pendingCons & (MAX_PENDING_REQS - 1)] as number;
}

/**
 * xenvif_get_requests (today's mainline: the XSA-423 multi-slot header copy, split where a copy
 * would cross a local page, the XSA-432 rework and the XSA-448 fix): grant-copy exactly `dataLen`
 * bytes into the skb's head — from as many slots as that takes — then walk the slots (or the
 * remainder of a slot) left: a zero-size one is answered NETIF_RSP_OKAY at once and never mapped
 * (XSA-448: no zero-size frag reaches the stack, its gref is not even looked at), the others get a
 * map op, the first MAX_SKB_FRAGS as the skb's frags and the rest as the frag_list skb's.
 * `nrFrags + fragOverflow` is the number of followers `xenvif_count_requests` read; the frag_list
 * skb (`cb.nskb`) is freed here when no slot is left for it.
 */
export function xenvifGetRequests(
  queue: XenvifQueue,
  cb: XenvifTxCb,
  first: NetifTxRequest,
  nrFrags: number,
  fragOverflow: number,
  extraCount: number,
  dataLen: number,
): void {
  const skb = cb.skb as SkBuff;
  const copies = queue.txCopyOps;
  const vif = queue.vif;
  // Every slot of the packet: the first plus all its followers, frag_list ones included.
  const followers = nrFrags + fragOverflow;
  let nrSlots = followers + 1;
  cb.copyCount = 0;
  cb.splitMask = 0;
  // __skb_put: the copies below write the bytes.
  skb.put(dataLen);
  const headPage = skb.headPage;
  let t = -1; // -1: the first request, else an index into txfrags
  let txp = first;
  if (dataLen > txp.size && nrSlots > 1) queue.modelStats.txHeaderMultiSlot++;
  // Invariant: the slots' sizes add up to the packet's (xenvif_count_requests dropped any chain
  // whose followers claim more), and dataLen is at most the packet's size: the copy stays inside
  // the chain.
  while (dataLen > 0) {
    let amount = Math.min(dataLen, txp.size);
    let split = false;
    const at = skb.head + skb.data + skb.headlen - dataLen;
    const destOffset = at & (PAGE_SIZE - 1);
    const gfn = headPage.gfns[at >>> 12] as number;
    // Don't cross the local page boundary.
    if (destOffset + amount > PAGE_SIZE) {
      amount = PAGE_SIZE - destOffset;
      cb.splitMask |= 1 << cb.copyCount;
      split = true;
    }
    copies.add(txp.gref, vif.domid, txp.offset, gfn, DOMID_SELF, destOffset, amount, GNTCOPY.source_gref);
    queue.modelStats.txCopyOps++;
    const idx = nextPendingIdx(queue);
    queue.ubufNext[idx] = -1;
    cb.copyPendingIdx[cb.copyCount] = idx;
    if (!split) cb.copyCount++;
    dataLen -= amount;
    if (amount === txp.size) {
      // The copy covered the whole request (a zero-size follower inside the header takes a
      // zero-length copy op and its pending slot, as in Linux).
      savePendingReq(queue, idx, txp, t === -1 ? extraCount : 0);
      t++;
      txp = queue.txfrags[t] as NetifTxRequest;
      queue.pendingCons++;
      nrSlots--;
    } else {
      // Partly covered: the rest is mapped (or copied by the next iteration).
      txp.offset += amount;
      txp.size -= amount;
    }
  }
  // The skb's own frags: up to MAX_SKB_FRAGS slots that carry data.
  for (cb.nrFrags = 0; nrSlots > 0 && cb.nrFrags < MAX_SKB_FRAGS; nrSlots--) {
    if (txp.size === 0) {
      // XSA-448: answer an empty request right away; it never becomes a frag.
      makeTxResponse(queue, txp.id, 0, NETIF_RSP_OKAY);
      pushTxResponses(queue);
      t++;
      txp = queue.txfrags[t] as NetifTxRequest;
      continue;
    }
    const idx = nextPendingIdx(queue);
    queue.pendingCons++;
    xenvifTxCreateMapOp(queue, idx, txp, t === -1 ? extraCount : 0);
    cb.fragPendingIdx[cb.nrFrags++] = idx;
    t++;
    txp = queue.txfrags[t] as NetifTxRequest;
  }
  // What is left goes to the frag_list skb.
  cb.nrOverflow = 0;
  if (nrSlots > 0) {
    // Linux's loop here (`for (nr_frags = 0; nr_frags < nr_slots; ++txp)`) does not count an
    // empty slot towards nr_slots and would read past the chain after one; pvnet stops at the
    // chain's last follower.
    for (; cb.nrOverflow < nrSlots && t < followers; t++, txp = queue.txfrags[t] as NetifTxRequest) {
      if (txp.size === 0) {
        makeTxResponse(queue, txp.id, 0, NETIF_RSP_OKAY);
        pushTxResponses(queue);
        continue;
      }
      const idx = nextPendingIdx(queue);
      queue.pendingCons++;
      xenvifTxCreateMapOp(queue, idx, txp, 0);
      cb.overflowPendingIdx[cb.nrOverflow++] = idx;
    }
  }
  if (cb.nrOverflow === 0 && cb.nskb !== null) {
    // A frag_list skb was allocated but is no longer needed: enough slots were converted to copy
    // ops above, or some were empty.
    cb.nskb.free();
    cb.nskb = null;
  }
  queue.modelStats.txMapOps += cb.nrFrags + cb.nrOverflow;
}

/** xenvif_grant_handle_set: remember a slot's mapping and point its page at the mapped frame. */
function xenvifGrantHandleSet(queue: XenvifQueue, idx: number, handle: number, mfn: number): void {
  if (queue.grantTxHandle[idx] !== NETBACK_INVALID_HANDLE) throw new Error(`${queue.name}: Trying to overwrite active handle! pending_idx: ${idx}`);
  queue.grantTxHandle[idx] = handle;
  const page = queue.mmapPages[idx] as Page;
  page.rewrap([mfn]);
  const f = queue.vif.ctx.foreignOf(page);
  if (f !== undefined) {
    f.domid = queue.vif.domid;
    f.gref = queue.pendingGref[idx] as number;
    f.mapped = true;
  }
}

/**
 * xenvif_tx_check_gop: check the header copies and the frag maps of one skb (and its frag_list
 * skb). A failed op releases its slot with NETIF_RSP_ERROR; after any failure every other slot
 * of the packet is unmapped and released with NETIF_RSP_OKAY. Returns the first error (0: ok).
 * `pos` holds the running op indices into the copy and map batches.
 */
export function xenvifTxCheckGop(queue: XenvifQueue, cb: XenvifTxCb, pos: { copy: number; map: number }): number {
  const copies = queue.txCopyOps;
  const maps = queue.txMapOps;
  const sharedslot = cb.nrFrags > 0 && cb.fragPendingIdx[0] === cb.copyPendingIdx[cb.copyCount - 1];
  let err = 0;
  for (let i = 0; i < cb.copyCount; i++) {
    const idx = cb.copyPendingIdx[i] as number;
    let newerr = copies.status[pos.copy] as number;
    // Split copies are handled together.
    if (cb.splitMask & (1 << i)) {
      pos.copy++;
      if (!newerr) newerr = copies.status[pos.copy] as number;
    }
    if (newerr) {
      err = newerr;
      queue.vif.logMessage(`Grant copy of header failed! status: ${newerr} pending_idx: ${idx} ref: ${copies.sourceRef[pos.copy]}`);
    }
    // The first frag might still have this slot mapped.
    if (i < cb.copyCount - 1 || !sharedslot) xenvifIdxRelease(queue, idx, newerr ? NETIF_RSP_ERROR : NETIF_RSP_OKAY);
    pos.copy++;
  }
  // check_frags, for the skb's frags and then the frag_list skb's.
  for (let pass = 0; pass < 2; pass++) {
    const list = pass === 0 ? cb.fragPendingIdx : cb.overflowPendingIdx;
    const n = pass === 0 ? cb.nrFrags : cb.nrOverflow;
    for (let i = 0; i < n; i++, pos.map++) {
      const idx = list[i] as number;
      const newerr = maps.status[pos.map] as number;
      if (newerr === GNTST.okay) {
        xenvifGrantHandleSet(queue, idx, maps.handle[pos.map] as number, Math.floor((maps.devBusAddr[pos.map] as number) / PAGE_SIZE));
        // Had a previous error? Invalidate this fragment.
        if (err) {
          xenvifIdxUnmap(queue, idx);
          // The header copy failed and shares this slot: the error goes to this response.
          xenvifIdxRelease(queue, idx, i === 0 && pass === 0 && sharedslot ? NETIF_RSP_ERROR : NETIF_RSP_OKAY);
        }
        continue;
      }
      // Error on this fragment: respond with an error.
      queue.vif.logMessage(`Grant map of ${i}. frag failed! status: ${newerr} pending_idx: ${idx} ref: ${maps.ref[pos.map]}`);
      xenvifIdxRelease(queue, idx, NETIF_RSP_ERROR);
      // Not the first error? Preceding frags were already invalidated.
      if (err) continue;
      // Invalidate the preceding fragments of this skb...
      for (let j = 0; j < i; j++) {
        const pj = list[j] as number;
        xenvifIdxUnmap(queue, pj);
        xenvifIdxRelease(queue, pj, NETIF_RSP_OKAY);
      }
      // ...and, when checking the frag_list, those of the first skb.
      if (pass === 1) {
        for (let j = 0; j < cb.nrFrags; j++) {
          const pj = cb.fragPendingIdx[j] as number;
          xenvifIdxUnmap(queue, pj);
          xenvifIdxRelease(queue, pj, NETIF_RSP_OKAY);
        }
      }
      err = newerr;
    }
  }
  return err;
}

/**
 * xenvif_fill_frags: attach each mapped slot as a frag (taking a page reference that offsets the
 * stack's put_page) and chain the slots' zerocopy callbacks. Returns the first slot (the
 * destructor_arg's), or -1 when there are no frags.
 */
export function xenvifFillFrags(queue: XenvifQueue, skb: SkBuff, list: Uint16Array, n: number): number {
  let head = -1;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const idx = list[i] as number;
    if (prev === -1) head = idx;
    else queue.ubufNext[prev] = idx;
    queue.ubufNext[idx] = -1;
    prev = idx;
    const page = queue.mmapPages[idx] as Page;
    const size = queue.pendingSize[idx] as number;
    skb.fillPageDescNoacc(i, page, queue.pendingOffset[idx] as number, size);
    skb.len += size;
    skb.dataLen += size;
    skb.truesize += size;
    getPage(page);
  }
  skb.shinfo.nrFrags = n;
  return head;
}

/** xenvif_set_skb_gso: GSO size and type from the extra; a zero size or unknown type is fatal. */
export function xenvifSetSkbGso(vif: Xenvif, skb: SkBuff, gso: NetifExtraInfo): number {
  if (!gso.gsoSize) {
    xenvifFatalTxErr(vif, "GSO size must not be zero.");
    return -EINVAL;
  }
  switch (gso.gsoType) {
    case XEN_NETIF_GSO_TYPE_TCPV4:
      skb.shinfo.gsoType = SKB_GSO_TCPV4;
      break;
    case XEN_NETIF_GSO_TYPE_TCPV6:
      skb.shinfo.gsoType = SKB_GSO_TCPV6;
      break;
    default:
      xenvifFatalTxErr(vif, `Bad GSO type ${gso.gsoType}.`);
      return -EINVAL;
  }
  skb.shinfo.gsoSize = gso.gsoSize;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Checksum setup (net/core/skbuff.c skb_checksum_setup, on an skb whose data starts at the
// Ethernet header: netback's skbs keep the frame as sent, see README)

// ---------------------------------------------------------------------------------------------
// Credit

/** tx_add_credit */
export function txAddCredit(queue: XenvifQueue): void {
  const maxBurst = Math.max(TX_CREDIT_MAX_BURST, queue.creditBytes);
  const maxCredit = Math.min(queue.remainingCredit + queue.creditBytes, Number.MAX_SAFE_INTEGER);
  queue.remainingCredit = Math.min(maxCredit, maxBurst);
  queue.rateLimited = false;
}

/** tx_credit_exceeded: refill when the window has passed; else arm the credit timer and stop. */
export function txCreditExceeded(queue: XenvifQueue, size: number): boolean {
  const env = queue.vif.ctx.env;
  const now = Math.max(env.clock.now(), queue.vcpu.actor.nowNs);
  const nextCredit = queue.creditWindowStartNs + queue.creditUsec * 1000;
  // The timer could already be pending.
  if (queue.creditTimerPending) {
    queue.rateLimited = true;
    return true;
  }
  if (now >= nextCredit) {
    queue.creditWindowStartNs = now;
    txAddCredit(queue);
  }
  if (size > queue.remainingCredit) {
    queue.creditTimerPending = true;
    queue.creditWindowStartNs = nextCredit;
    queue.rateLimited = true;
    const seq = queue.creditTimerSeq;
    env.work.runOn(queue.vcpu, Math.max(nextCredit, env.clock.now()), () => {
      // del_timer_sync ran since it was armed: the timer is gone.
      if (queue.creditTimerSeq === seq) xenvifTxCreditCallback(queue);
    });
    return true;
  }
  return false;
}

/** del_timer_sync(&queue->credit_timeout): a pending credit timer never fires. */
export function xenvifDelCreditTimer(queue: XenvifQueue): void {
  queue.creditTimerSeq++;
  queue.creditTimerPending = false;
}

/** xenvif_tx_credit_callback */
export function xenvifTxCreditCallback(queue: XenvifQueue): void {
  queue.creditTimerPending = false;
  if (queue.tx === null) return;
  txAddCredit(queue);
  xenvifNapiScheduleOrEnableEvents(queue);
}

// ---------------------------------------------------------------------------------------------
// build_gops / submit / action


/**
 * xenvif_tx_build_gops: turn up to `budget` packets from the TX ring into skbs with their copy
 * and map ops. Returns the number of copy ops queued.
 */
export function xenvifTxBuildGops(queue: XenvifQueue, budget: number): number {
  const vif = queue.vif;
  const ctx = vif.ctx;
  const tx = queue.tx as NonNullable<XenvifQueue["tx"]>;
  const skbs = ctx.env.skbs;
  const txreq = queue.txreq;
  const extras = queue.extras;
  while (queue.txQueueLen < budget) {
    if (((tx.sring.reqProd - tx.reqCons) >>> 0) > tx.size) {
      xenvifFatalTxErr(vif, `Impossible number of requests. req_prod ${tx.sring.reqProd}, req_cons ${tx.reqCons}, size ${tx.size}`);
      break;
    }
    let workToDo = tx.unconsumedRequests();
    if (!workToDo) break;
    let idx = tx.reqCons;
    tx.copyRequest(idx, readTxRequest, txreq);
    queue.vcpu.charge(COST_RING_REQUEST);
    // Credit-based scheduling.
    if (txreq.size > queue.remainingCredit && txCreditExceeded(queue, txreq.size)) break;
    queue.remainingCredit -= txreq.size;
    workToDo--;
    idx = (idx + 1) >>> 0;
    tx.reqCons = idx;
    for (let i = 0; i < extras.length; i++) (extras[i] as NetifExtraInfo).type = 0;
    const extraCountBox = queue.txScratch.extraCount;
    extraCountBox.n = 0;
    if (txreq.flags & NETTXF_extra_info) {
      workToDo = xenvifGetExtras(queue, workToDo, extraCountBox);
      idx = tx.reqCons;
      if (workToDo < 0) break;
    }
    const extraCount = extraCountBox.n;
    if ((extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1] as NetifExtraInfo).type) {
      const ok = vif.mcastCount < XEN_NETBK_MCAST_MAX;
      if (ok) vif.mcastCount++;
      else vif.logMessage("Too many multicast addresses");
      makeTxResponse(queue, txreq.id, extraCount, ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR);
      pushTxResponses(queue);
      continue;
    }
    if ((extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1] as NetifExtraInfo).type) {
      if (vif.mcastCount > 0) vif.mcastCount--;
      makeTxResponse(queue, txreq.id, extraCount, NETIF_RSP_OKAY);
      pushTxResponses(queue);
      continue;
    }
    let dataLen = Math.min(txreq.size, XEN_NETBACK_TX_COPY_LEN);
    const ret = xenvifCountRequests(queue, txreq, extraCount, workToDo);
    if (ret < 0) break;
    idx = (idx + ret) >>> 0;
    if (txreq.size < ETH_HLEN) {
      vif.logMessage(`Bad packet size: ${txreq.size}`);
      xenvifTxErr(queue, txreq, extraCount, idx);
      break;
    }
    // No crossing a page as the payload mustn't fragment.
    if (txreq.offset + txreq.size > PAGE_SIZE) {
      xenvifFatalTxErr(vif, `txreq.offset: ${txreq.offset}, size: ${txreq.size}, end: ${txreq.offset + txreq.size}`);
      break;
    }
    if (ret >= XEN_NETBK_LEGACY_SLOTS_MAX - 1 && dataLen < txreq.size) dataLen = txreq.size;
    // The design of Linux bdab82759b8e: the header copy comes from the first slot only.
    if (ctx.config.headerCopy === "first-slot" && dataLen > txreq.size) dataLen = txreq.size;
    // xenvif_alloc_skb: headroom NET_SKB_PAD + NET_IP_ALIGN, then the linear size.
    const skb = skbs.allocSkb(dataLen + NET_SKB_PAD + NET_IP_ALIGN);
    if (skb === null) {
      vif.logMessage("Can't allocate a skb in start_xmit.");
      xenvifTxErr(queue, txreq, extraCount, idx);
      break;
    }
    skb.reserve(NET_SKB_PAD + NET_IP_ALIGN);
    // Persistent grants: every slot's gref is in the tree or gets mapped into it below; the
    // packet is then memcpy'd (no pending slots, no frag maps). A miss that cannot be mapped
    // (tree full) sends the packet down the copy/map path instead.
    const persistent = queue.txPgTree !== null && xenvifTxPersistentPrepare(queue, txreq, ret);
    let nrFrags = ret;
    let fragOverflow = 0;
    let nskb: SkBuff | null = null;
    if (nrFrags > MAX_SKB_FRAGS && !persistent) {
      fragOverflow = nrFrags - MAX_SKB_FRAGS;
      nrFrags = MAX_SKB_FRAGS;
      nskb = skbs.allocSkb(NET_SKB_PAD + NET_IP_ALIGN);
      if (nskb === null) {
        skb.free();
        xenvifTxErr(queue, txreq, extraCount, idx);
        vif.logMessage("Can't allocate the frag_list skb.");
        break;
      }
      nskb.reserve(NET_SKB_PAD + NET_IP_ALIGN);
    }
    const gso = extras[XEN_NETIF_EXTRA_TYPE_GSO - 1] as NetifExtraInfo;
    if (gso.type && xenvifSetSkbGso(vif, skb, gso)) {
      // Failure in xenvif_set_skb_gso is fatal.
      skb.free();
      nskb?.free();
      break;
    }
    const cb = queue.txCbs[queue.txQueueLen] as XenvifTxCb;
    cb.reset();
    cb.skb = skb;
    cb.nskb = nskb;
    cb.txFlags = txreq.flags;
    if (persistent) xenvifTxPersistentGetRequests(queue, cb, txreq, ret, extraCount, dataLen);
    else xenvifGetRequests(queue, cb, txreq, nrFrags, fragOverflow, extraCount, dataLen);
    queue.txQueueLen++;
    tx.reqCons = idx;
    if (queue.txMapOps.count >= MAX_PENDING_REQS || queue.txCopyOps.count >= MAX_PENDING_REQS) break;
  }
  return queue.txCopyOps.count;
}

/**
 * xenvif_handle_frag_list: copy every frag (the skb's and the frag_list skb's) into fresh local
 * pages so the skb fits MAX_SKB_FRAGS, release the foreign frags and complete their callbacks.
 * 0 or -ENOMEM (then nothing changed but the frag_list skb being attached).
 */
export function xenvifHandleFragList(queue: XenvifQueue, skb: SkBuff, nskb: SkBuff, headIdx: number): number {
  const pool = queue.vif.ctx.env.skbs.pool;
  const sh = skb.shinfo;
  queue.stats.txZerocopySent += 2;
  queue.stats.txFragOverflow++;
  // Attach the frag_list skb so skb_copy_bits walks it.
  sh.fragList = nskb;
  skb.truesize -= skb.dataLen;
  skb.len += nskb.len;
  skb.dataLen += nskb.len;
  let offset = skb.headlen;
  const pages = queue.txScratch.fragListPages;
  let i = 0;
  for (; offset < skb.len; i++) {
    if (i >= MAX_SKB_FRAGS) throw new Error(`${queue.name}: frag_list does not fit MAX_SKB_FRAGS pages`);
    const page = pool.allocPage();
    if (page === null) {
      skb.truesize += skb.dataLen;
      for (let j = 0; j < i; j++) putPage(pages[j] as Page);
      return -ENOMEM;
    }
    const len = offset + PAGE_SIZE < skb.len ? PAGE_SIZE : skb.len - offset;
    if (skb.copyBitsToPage(offset, page, 0, len) !== 0) throw new Error(`${queue.name}: frag_list copy failed`);
    queue.vcpu.charge("memcpy", len);
    pages[i] = page;
    offset += len;
  }
  // Release all the original (foreign) frags and complete their slots.
  for (let f = 0; f < sh.nrFrags; f++) {
    const frag = sh.frags[f];
    if (frag?.page) putPage(frag.page);
  }
  if (headIdx >= 0) {
    // The callback decrements inflight_packets: offset it.
    queue.inflightPackets++;
    xenvifZerocopyCallback(queue, headIdx, true);
  }
  for (let j = 0; j < i; j++) {
    skb.fillPageDescNoacc(j, pages[j] as Page, 0, j < i - 1 ? PAGE_SIZE : skb.len - skb.headlen - j * PAGE_SIZE);
    pages[j] = null;
  }
  for (let j = i; j < sh.nrFrags; j++) {
    const frag = sh.frags[j];
    if (frag) {
      frag.page = null;
      frag.size = 0;
      frag.offset = 0;
    }
  }
  sh.nrFrags = i;
  skb.truesize += i * PAGE_SIZE;
  return 0;
}

/**
 * __pskb_pull_tail of the design of Linux bdab82759b8e: the copy reads the mapped frags, which
 * touches their mappings (the slot pages' access hook): they need a TLB flush now.
 */
function pullTailFirstSlot(queue: XenvifQueue, skb: SkBuff): boolean {
  const target = Math.min(skb.len, PKT_PROT_LEN);
  queue.modelStats.txPullTail++;
  return skb.pskbPullTail(target - skb.headlen);
}


/** xenvif_tx_submit: check each skb's ops, finish it and hand it to the stack. Returns skbs delivered. */
export function xenvifTxSubmit(queue: XenvifQueue): number {
  const vif = queue.vif;
  const ctx = vif.ctx;
  let workDone = 0;
  const gopPos = queue.txScratch.gopPos;
  gopPos.copy = 0;
  gopPos.map = 0;
  const n = queue.txQueueLen;
  for (let k = 0; k < n; k++) {
    const cb = queue.txCbs[k] as XenvifTxCb;
    const skb = cb.skb as SkBuff;
    const nskb = cb.nskb;
    let headIdx = -1;
    let hasCallback = false;
    if (cb.persistent) {
      // Header copy checked, the rest memcpy'd from the tree, every slot answered.
      const ok = xenvifTxPersistentFill(queue, cb, gopPos);
      cb.reset();
      if (!ok) {
        skb.free();
        continue;
      }
    } else {
    if (xenvifTxCheckGop(queue, cb, gopPos)) {
      // check_gop released every slot; nothing is attached to the skbs yet.
      skb.free();
      nskb?.free();
      cb.reset();
      continue;
    }
    if (cb.txFlags & NETTXF_csum_blank) skb.ipSummed = CHECKSUM_PARTIAL;
    else if (cb.txFlags & NETTXF_data_validated) skb.ipSummed = CHECKSUM_UNNECESSARY;
    headIdx = xenvifFillFrags(queue, skb, cb.fragPendingIdx, cb.nrFrags);
    hasCallback = headIdx >= 0;
    if (nskb !== null) {
      const nHead = xenvifFillFrags(queue, nskb, cb.overflowPendingIdx, cb.nrOverflow);
      if (nHead >= 0) xenvifSkbZerocopyPrepare(queue, nskb, nHead);
      if (xenvifHandleFragList(queue, skb, nskb, headIdx)) {
        vif.logMessage("Not enough memory to consolidate frag_list!");
        if (headIdx >= 0) xenvifSkbZerocopyPrepare(queue, skb, headIdx);
        skb.free(); // frees the attached frag_list skb too
        cb.reset();
        continue;
      }
      // Copied all the bits from the frag list: free it.
      skb.shinfo.fragList = null;
      nskb.free();
      hasCallback = false; // destructor_arg = NULL: the local frags need no callback
    }
    // The design of Linux bdab82759b8e: pull the rest of the header up from the mapped frags.
    if (ctx.config.headerCopy === "first-slot" && skb.isNonlinear && skb.headlen < PKT_PROT_LEN) {
      if (!pullTailFirstSlot(queue, skb)) {
        if (hasCallback) xenvifSkbZerocopyPrepare(queue, skb, headIdx);
        skb.free();
        cb.reset();
        continue;
      }
    }
    cb.reset();
    }
    // eth_type_trans (the model leaves skb->data at the Ethernet header).
    skb.protocol = ethTypeTrans(skb, XENVIF_DEV_ADDR);
    if (xenChecksumSetup(skb, queue.stats)) {
      vif.logMessage("Can't setup checksum in net_tx_action");
      if (hasCallback) xenvifSkbZerocopyPrepare(queue, skb, headIdx);
      skb.free();
      continue;
    }
    if (skb.isGso) {
      // GSO implies having the L4 header.
      if (!skb.transportHeaderWasSet) {
        if (hasCallback) xenvifSkbZerocopyPrepare(queue, skb, headIdx);
        skb.free();
        continue;
      }
      const mss = skb.shinfo.gsoSize;
      // skb_tcp_all_headers: transport offset + tcp_hdrlen (doff * 4).
      const doffScratch = queue.txScratch.doff;
      skb.copyBits(skb.transportOffset + 12, doffScratch, 0, 1);
      const hdrlen = skb.transportOffset + ((doffScratch[0] as number) >>> 4) * 4;
      skb.shinfo.gsoSegs = Math.ceil((skb.len - hdrlen) / mss);
    }
    queue.stats.rxBytes += skb.len;
    queue.stats.rxPackets++;
    workDone++;
    // Set right before netif_receive_skb, so nobody copies the frags while netback owns the skb.
    if (hasCallback) {
      xenvifSkbZerocopyPrepare(queue, skb, headIdx);
      queue.stats.txZerocopySent++;
    }
    const onReceive = ctx.options.onReceive;
    if (onReceive) onReceive(vif, skb);
    else skb.free();
  }
  queue.txQueueLen = 0;
  return workDone;
}


/** xenvif_tx_action: build the ops, issue them (two hypercalls or one multicall), submit. */
export function xenvifTxAction(queue: XenvifQueue, budget: number): number {
  const tx = queue.tx;
  if (tx === null || tx.unconsumedRequests() === 0) return 0;
  const copies = queue.txCopyOps;
  const maps = queue.txMapOps;
  copies.clear();
  maps.clear();
  queue.txQueueLen = 0;
  xenvifTxBuildGops(queue, budget);
  // Without persistent grants every queued packet has a header copy, so this is "no copy op".
  if (queue.txQueueLen === 0) return 0;
  const { hypercalls, grants, domain } = queue.vif.ctx.env;
  const vcpu = queue.vcpu;
  const tree = queue.txPgTree;
  if (tree !== null) {
    // Persistent grants: only what missed the tree needs a hypercall (none once warm).
    if (copies.count !== 0) grants.copy(vcpu, copies);
    if (maps.count !== 0) grants.mapGrantRef(vcpu, maps);
    tree.flushMaps(vcpu, grants, domain);
  } else if (queue.vif.ctx.config.txHypercalls === "multicall") {
    const entries = maps.count > 0 ? multicallEntries(queue).both : multicallEntries(queue).copyOnly;
    hypercalls.multicall(vcpu, entries, queue.txScratch.multicallResults);
  } else {
    grants.copy(vcpu, copies);
    if (maps.count !== 0) grants.mapGrantRef(vcpu, maps);
  }
  return xenvifTxSubmit(queue);
}

interface McEntries {
  readonly both: MulticallEntry[];
  readonly copyOnly: MulticallEntry[];
}
function multicallEntries(queue: XenvifQueue): McEntries {
  let e = queue.txScratch.multicallEntries;
  if (e === null) {
    const { grants } = queue.vif.ctx.env;
    const copy = grants.multicallEntry(queue.vcpu, "copy", queue.txCopyOps);
    const map = grants.multicallEntry(queue.vcpu, "map", queue.txMapOps);
    e = { both: [copy, map], copyOnly: [copy] };
    queue.txScratch.multicallEntries = e;
  }
  return e;
}

/** tx_work_todo */
export function txWorkTodo(queue: XenvifQueue): boolean {
  return queue.tx !== null && queue.tx.unconsumedRequests() !== 0;
}
