/**
 * xenbus.c's debugfs (CONFIG_DEBUG_FS): the files netback keeps under
 * /sys/kernel/debug/xen-netback/<vif>/. `io_ring_qN` prints what xenvif_read_io_ring prints —
 * both rings' indices, the pending and dealloc rings, NAPI, credit and the RX internal queue —
 * in its exact format. With persistent grants, `pgrants_qN` prints the counters of the queue's
 * two persistent grant trees (the RFC "Persistent grant maps for xen net drivers", May 2015,
 * exposes them in debugfs; the lines here are the model's, in io_ring_qN's style).
 */
import { MAX_PENDING_REQS, XENVIF_NAPI_WEIGHT, type Xenvif, type XenvifQueue } from "./common.js";
import { type PersistentGrantStats, type PersistentGrantTree, XENVIF_MAX_PGRANTS } from "./pgrant.js";

/**
 * CONFIG_HZ the jiffies of io_ring_qN are counted in: 250, Kconfig's default (kernel/Kconfig.hz).
 * The model's jiffies start at 0 at boot (Linux starts them 5 minutes before the wrap).
 */
export const XENVIF_DEBUGFS_HZ = 250;

/** ~0UL: Linux's unlimited credit, which the model keeps as MAX_SAFE_INTEGER. */
const ULONG_MAX = 2n ** 64n - 1n;
/** Above this a credit counts down from the unlimited value (no real rate limit comes near 2^52 bytes). */
const UNLIMITED_FROM = 2 ** 52;

/** An unsigned long credit as Linux prints it: the unlimited value and what was spent of it map to ~0UL minus the spent bytes. */
function ulong(n: number): string {
  return n > UNLIMITED_FROM ? String(ULONG_MAX - BigInt(Number.MAX_SAFE_INTEGER - n)) : String(Math.trunc(n));
}

/** An index difference printed with %d: the u32 subtraction read as an int. */
function diff(a: number, b: number): number {
  return (a - b) | 0;
}

function jiffies(ns: number): number {
  return Math.floor((ns * XENVIF_DEBUGFS_HZ) / 1e9);
}

/** The "req prod ... / rsp prod ..." lines of one ring (rsp_prod is the base of every difference). */
function ringLines(ring: NonNullable<XenvifQueue["tx"]>, rspEnd: string): string {
  const s = ring.sring;
  const base = s.rspProd;
  return (
    `req prod ${s.reqProd} (${diff(s.reqProd, base)}) cons ${ring.reqCons} (${diff(ring.reqCons, base)}) event ${s.reqEvent} (${diff(s.reqEvent, base)})\n` +
    `rsp prod ${base} (base) pvt ${ring.rspProdPvt} (${diff(ring.rspProdPvt, base)}) event ${s.rspEvent} (${diff(s.rspEvent, base)})\n${rspEnd}`
  );
}

/** xenvif_read_io_ring: the text of `io_ring_q<id>` for one queue. */
export function xenvifDebugfsIoRing(queue: XenvifQueue): string {
  let out = "";
  const tx = queue.tx;
  if (tx !== null) {
    const pending = MAX_PENDING_REQS - ((queue.pendingProd - queue.pendingCons) | 0);
    out += `Queue ${queue.id}\nTX: nr_ents ${tx.size}\n`;
    out += ringLines(tx, "");
    out += `pending prod ${queue.pendingProd} pending cons ${queue.pendingCons} nr_pending_reqs ${pending}\n`;
    out += `dealloc prod ${queue.deallocProd} dealloc cons ${queue.deallocCons} dealloc_queue ${queue.deallocProd - queue.deallocCons}\n\n`;
  }
  const rx = queue.rx;
  if (rx !== null) {
    out += `RX: nr_ents ${rx.size}\n`;
    out += ringLines(rx, "\n");
  }
  const now = queue.vif.ctx.env.clock.now();
  // napi.state: NAPI_STATE_SCHED (bit 0) while a poll is scheduled.
  const napiState = queue.napiScheduled ? 1 : 0;
  const expires = jiffies(queue.creditWindowStartNs + queue.creditUsec * 1000);
  out += `NAPI state: ${napiState.toString(16)} NAPI weight: ${XENVIF_NAPI_WEIGHT} TX queue len ${queue.txQueueLen}\n`;
  out += `Credit timer_pending: ${queue.creditTimerPending ? 1 : 0}, credit: ${ulong(queue.creditBytes)}, usec: ${queue.creditUsec}\n`;
  out += `remaining: ${ulong(queue.remainingCredit)}, expires: ${expires}, now: ${jiffies(now)}\n`;
  out += `\nRx internal queue: len ${queue.rxQueueLen} max ${queue.rxQueueMax} pkts ${queue.rxCount} ${queue.txQueueStopped ? "stopped" : "running"}\n`;
  return out;
}

function treeLine(name: string, tree: PersistentGrantTree | null, s: PersistentGrantStats): string {
  return `${name}: entries ${tree?.size ?? 0} max ${XENVIF_MAX_PGRANTS} hits ${s.hits} misses ${s.misses} maps_added ${s.mapsAdded} fallbacks ${s.fallbacks}\n`;
}

/** The persistent grant trees of one queue (`pgrants_q<id>`): entries held and lookups, per direction. */
export function xenvifDebugfsTree(queue: XenvifQueue): string {
  return `Queue ${queue.id}\n${treeLine("TX tree", queue.txPgTree, queue.txPgStats)}${treeLine("RX tree", queue.rxPgTree, queue.rxPgStats)}`;
}

/**
 * xenvif_debugfs_addif: the vif's debugfs directory as file name -> contents, names relative to
 * /sys/kernel/debug/xen-netback (`vif1.0/io_ring_q0`, and `vif1.0/pgrants_q0` with persistent
 * grants). Empty for a vif with no queues (not connected).
 */
export function xenvifDebugfs(vif: Xenvif): Record<string, string> {
  const files: Record<string, string> = {};
  for (const q of vif.queues) {
    files[`${vif.name}/io_ring_q${q.id}`] = xenvifDebugfsIoRing(q);
    if (vif.persistent) files[`${vif.name}/pgrants_q${q.id}`] = xenvifDebugfsTree(q);
  }
  return files;
}
