/**
 * xen-netback's common.h: every limit shared across the files, the vif and queue structures, the
 * statistics under Linux's names, the driver's environment and options, and its error class.
 *
 * A vif (`struct xenvif`) is one virtual interface towards one frontend; each of its queues
 * (`struct xenvif_queue`) owns one TX and one RX shared ring, their event channels, the pending
 * ring of TX slots in flight, and the RX internal queue. Everything a queue needs per packet is
 * preallocated here (op arrays, pending info, pages of mapped slots, zerocopy callbacks), so the
 * hot paths allocate nothing.
 */
import type { Domain, KernelOps, MulticallEntry, Vcpu } from "@pvnet/hypervisor";
import type { TimerHandle } from "@pvnet/sim";
import type { BackRing } from "@pvnet/shared-ring";
import { type NetifExtraInfo, type NetifTxRequest, newExtraInfo, newRxRequest, newTxRequest } from "@pvnet/netif";
import { MAX_SKB_FRAGS, type Page, type SkBuff, type SkbAllocOps, UbufInfo } from "@pvnet/skb-model";
import { GnttabCopyBatch, GnttabMapBatch, GnttabUnmapBatch, type GrantOps } from "@pvnet/xen-grant-table";
import type { XenvifCtrl } from "./ctrl.js";
import { newPersistentGrantStats, type PersistentGrantStats, type PersistentGrantTree } from "./pgrant.js";
import type { XenbusClient, XenbusDevice } from "@pvnet/xenstore";

// ---------------------------------------------------------------------------------------------
// Limits (common.h, netback.c, rx.c, interface.c)

/**
 * MAX_PENDING_REQS: TX slots a queue may hold in flight (mapped or being copied). A TX ring has
 * 256 slots, so a guest can have at most 256 requests outstanding: the pending ring, the copy
 * and map op arrays and the dealloc ring are all sized by it.
 */
export const MAX_PENDING_REQS = 256;
/**
 * XEN_NETBK_LEGACY_SLOTS_MAX: slots after the first one a packet may use and still be accepted —
 * the historical MAX_SKB_FRAGS (18) that the protocol implicitly depended on
 * (= XEN_NETIF_NR_SLOTS_MIN).
 */
export const XEN_NETBK_LEGACY_SLOTS_MAX = 18;
/**
 * FATAL_SKB_SLOTS_DEFAULT: a frontend still chaining at this many follower slots is malicious and
 * its vif is disabled (module parameter fatal_skb_slots; never below XEN_NETBK_LEGACY_SLOTS_MAX).
 */
export const FATAL_SKB_SLOTS_DEFAULT = 20;
/**
 * XEN_NETBACK_TX_COPY_LEN: bytes grant-copied into the skb's linear area. Sized to hold the
 * protocol headers of most TCP/IP packets so the stack never pulls them from mapped frags (which
 * would touch the foreign page and force a TLB flush on unmap). Linux bdab82759b8e calls it PKT_PROT_LEN.
 */
export const XEN_NETBACK_TX_COPY_LEN = 128;
/** PKT_PROT_LEN of netback as of Linux bdab82759b8e (2014): what `__pskb_pull_tail` makes linear in first-slot mode. */
export const PKT_PROT_LEN = 128;
/** XENVIF_NAPI_WEIGHT: the NAPI budget, skbs built per poll of a queue. */
export const XENVIF_NAPI_WEIGHT = 64;
/** COPY_BATCH_SIZE (rx.c): grant copies gathered before one GNTTABOP_copy hypercall. */
export const COPY_BATCH_SIZE = 64;
/** RX_BATCH_SIZE (rx.c): skbs put on the guest RX ring per run of the RX action. */
export const RX_BATCH_SIZE = 64;
/** rx_drain_timeout_msecs: how long an skb may wait on a queue's RX internal queue. */
export const RX_DRAIN_TIMEOUT_MSECS = 10_000;
/** rx_stall_timeout_msecs: a guest posting no RX slots for this long is considered stalled. */
export const RX_STALL_TIMEOUT_MSECS = 60_000;
/** What read_xenbus_vif_flags uses instead for a frontend without feature-rx-notify (30 ms, no stall detection). */
export const RX_DRAIN_TIMEOUT_NO_NOTIFY_MSECS = 30;
/** MAX_QUEUES_DEFAULT: multi-queue-max-queues when none is configured (Linux: min(8, online CPUs)). */
export const MAX_QUEUES_DEFAULT = 8;
/**
 * XENVIF_RX_QUEUE_BYTES: bytes of skbs a queue's RX internal queue may hold (half a ring of full
 * pages). Past it start_xmit drops: a guest that stops posting buffers cannot grow Dom0's memory.
 */
export const XENVIF_RX_QUEUE_BYTES = (256 / 2) * 4096;
/**
 * Skbs a queue's RX internal queue may hold, whatever their size. Linux bounds the queue in bytes
 * only (and the sk_buff slab bounds the rest); the model keeps its queue in a fixed ring, so it
 * bounds the count too, high enough (512-byte average) that the byte limit decides for MTU-sized
 * traffic.
 */
export const XENVIF_RX_QUEUE_MAX_SKBS = 1024;
/**
 * xenvif_alloc's dummy_addr, the vif's own dev_addr: the numerically largest non-broadcast
 * address, so that a bridge never takes it for its STP identity. eth_type_trans compares
 * received frames' destinations with it.
 */
export const XENVIF_DEV_ADDR: Readonly<Uint8Array> = Uint8Array.of(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff);
/** XEN_NETBK_MCAST_MAX: multicast addresses a frontend may register. */
export const XEN_NETBK_MCAST_MAX = 64;
/** NETBACK_INVALID_HANDLE: a pending slot without a grant mapping. */
export const NETBACK_INVALID_HANDLE = -1;
/** INVALID_PENDING_IDX */
export const INVALID_PENDING_IDX = 0xffff;
/** tx_add_credit: the burst always allowed, so a 128 KiB jumbo packet can pass. */
export const TX_CREDIT_MAX_BURST = 131072;
/** Messages kept per vif (netdev_err log); older ones are dropped, so the log is bounded. */
export const VIF_LOG_MAX = 64;
/** Most copy ops one packet's header makes: one per slot, doubled when split at a page boundary. */
export const TX_COPY_OPS_MAX = 2 * MAX_PENDING_REQS;
/** XEN_NETIF_EXTRA_TYPE_MAX of the Linux netif.h (XDP known): valid extra types are 1..5. */
export const NETBACK_EXTRA_TYPE_MAX = 6;

/**
 * Kernel virtual addresses the model hands to GNTTABOP_map_grant_ref as host_addr: each queue gets
 * a window of pages (its pending slots' idx_to_kaddr, then its two ring pages). Below 2^47, page
 * aligned, as create_grant_host_mapping wants.
 */
export const NETBACK_KADDR_BASE = 2 ** 44;
/** Pages in one queue's window: the pending slots and the TX and RX ring pages. */
export const NETBACK_KADDR_WINDOW_PAGES = MAX_PENDING_REQS + 2;

/** Cost kinds charged by netback itself (host profile), on the VCPU doing the work. */
export const COST_RING_REQUEST = "ring.request";
export const COST_RING_RESPONSE = "ring.response";
/** One NAPI poll's own work (net_rx_action calling the poll, napi_complete_done). */
export const COST_NAPI_POLL = "napi.poll";
/** Waking a sleeping kthread (the RX and dealloc kthreads) and switching to it. */
export const COST_KTHREAD_WAKEUP = "kthread.wakeup";
/** A persistent-grant tree lookup (the RFC's rb-tree). */
export const COST_TREE_LOOKUP = "tree.lookup";
/** A spinlock whose cache line another CPU held last: the line's transfer (rx_queue.lock, the RX wait queue's lock). */
export const COST_LOCK_REMOTE = "lock.remote";

/** Takes of one lock remembered per CPU at most (the oldest are dropped past it): bounded memory. */
const LOCK_LINE_MAX_TAKES = 1024;

/**
 * Where a spinlock's cache line is, on the virtual clock: each CPU's takes of the lock at its own
 * local time. The scheduler runs each event to its end, so a CPU that runs ahead in virtual time
 * records its takes before another's earlier ones; the line is judged by virtual time, not by
 * the order of the calls. A take on `cpu` at its time t finds the line remote (charged as
 * lock.remote, on `cpu`) when another CPU took the lock after `cpu`'s own previous take and
 * before t, or, for `cpu`'s first take, at any time before t.
 */
export class LockLine {
  private readonly takes = new Map<Vcpu, number[]>();

  /** spin_lock on `cpu` now (its actor's clock); returns whether the line came from another CPU. */
  take(cpu: Vcpu): boolean {
    const t = cpu.actor.nowNs;
    let mine = this.takes.get(cpu);
    if (mine === undefined) {
      mine = [];
      this.takes.set(cpu, mine);
    }
    const prev = mine.length === 0 ? Number.NEGATIVE_INFINITY : (mine[mine.length - 1] as number);
    let remote = false;
    for (const [other, times] of this.takes) {
      if (other === cpu || times.length === 0) continue;
      // The latest of the other CPU's takes before t (its times are in its own clock's order).
      let lo = 0;
      let hi = times.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((times[mid] as number) < t) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0 && (times[lo - 1] as number) > prev) {
        remote = true;
        break;
      }
    }
    if (mine.length === 0 || t >= prev) mine.push(t);
    if (mine.length > LOCK_LINE_MAX_TAKES) mine.splice(0, mine.length - LOCK_LINE_MAX_TAKES / 2);
    if (remote) cpu.charge(COST_LOCK_REMOTE);
    return remote;
  }
}

/** NETDEV_TX_OK: what xenvif_start_xmit always returns (a dropped skb is counted, not refused). */
export const NETDEV_TX_OK = 0;

// ---------------------------------------------------------------------------------------------
// Environment and options

/** How the TX header reaches the skb's linear area. */
export type HeaderCopyMode =
  /** Mainline after XSA-423: grant-copy the first min(len, 128) bytes across as many slots as needed. */
  | "multi-slot"
  /** The original design of Linux bdab82759b8e (2014): copy only from the first slot, then __pskb_pull_tail from the mapped frags. */
  | "first-slot";

/** How the TX copy and map batches enter Xen. */
export type TxHypercallMode =
  /** Mainline: gnttab_batch_copy, then gnttab_map_refs (two hypercalls; the map skipped when empty). */
  | "two"
  /** Both batches in one HYPERVISOR_multicall (one VM exit), as the review of Linux bdab82759b8e discussed. */
  | "multicall";

/** struct xenvif_pkt_state: where the RX action is in the packet it puts on the guest's ring. */
export interface XenvifPktState {
  skb: SkBuff | null;
  remainingLen: number;
  fragIter: SkBuff | null;
  /** -1: fragIter's linear area. */
  frag: number;
  fragOffset: number;
  extraCount: number;
  slot: number;
}

function newXenvifPktState(): XenvifPktState {
  return { skb: null, remainingLen: 0, fragIter: null, frag: -1, fragOffset: 0, extraCount: 0, slot: 0 };
}

/** The next piece of packet data crossing no page on either side (xenvif_rx_next_chunk's out-params). */
export interface XenvifRxChunk {
  page: Page | null;
  off: number;
  len: number;
}

/** Credit-based rate limit (the backend's `rate` key: bytes per interval of usec). */
export interface NetbackCredit {
  readonly bytes: number;
  readonly usec: number;
}

/**
 * What a backend is built on, all interfaces: the clock, deferred work, event channels,
 * multicalls, machine memory and the trace (KernelOps), Dom0's grant operations, its xenbus and
 * its skb allocator. The runner supplies them (`Hypervisor.kernelOps()` in the deterministic one).
 */
export interface NetbackEnv extends KernelOps {
  /** The backend domain (Dom0 usually). */
  readonly domain: Domain;
  /** GNTTABOP_map_grant_ref / unmap_grant_ref / copy. */
  readonly grants: GrantOps;
  /** The backend domain's xenbus (its xenstore connection's watches). */
  readonly xenbus: XenbusClient;
  /**
   * Dom0's sk_buff allocator (over a PagePool of Dom0). TX skbs and consolidated frags come from
   * it; what they cost is charged to the Dom0 VCPU running the code (its per-CPU cost sink).
   */
  readonly skbs: SkbAllocOps;
}

/** Per-backend options; defaults are today's mainline. */
export interface NetbackOptions {
  readonly headerCopy?: HeaderCopyMode;
  readonly txHypercalls?: TxHypercallMode;
  /** fatal_skb_slots (bumped to XEN_NETBK_LEGACY_SLOTS_MAX when lower, as netback_init does). */
  readonly fatalSkbSlots?: number;
  /** multi-queue-max-queues. */
  readonly maxQueues?: number;
  /** Rate limit for every vif; a vif's own `rate` key in xenstore overrides it. */
  readonly credit?: NetbackCredit;
  /** feature-split-event-channels (module parameter separate_tx_rx_irq). */
  readonly splitEventChannels?: boolean;
  /**
   * Offer persistent grants (backend key `feature-persistent` = 1, the xen-devel RFC of May 2015);
   * a vif uses them when its frontend also wrote `feature-persistent` = 1. Default false: the
   * copy/map paths of mainline.
   */
  readonly persistentGrants?: boolean;
  /**
   * provides_xdp_headroom (Linux 5.9+ module parameter, default true there): offer
   * `feature-xdp-headroom`, read the frontend's `xdp-headroom` and put received data after it with
   * an XEN_NETIF_EXTRA_TYPE_XDP extra. Default false here: the recorded scenarios model a
   * backend without it.
   */
  readonly xdpHeadroom?: boolean;
  /**
   * feature-ctrl-ring = 1 and connect_ctrl_ring (ctrl.ts): Linux offers the control ring since
   * 4.7 (2016). Default false here so the recorded scenarios' backend keys stay as they were.
   */
  readonly ctrlRing?: boolean;
  /**
   * The Dom0 VCPU (an index into its VCPUs) queue `queue` of `vif` runs on: where its interrupt
   * lands and its kthreads run (irqbalance and the scheduler in Linux). Default: VCPU `queue`
   * mod the VCPU count, every vif alike.
   */
  readonly queueVcpu?: (vif: Xenvif, queue: number) => number;
  /** netif_receive_skb: a guest's TX packet reaches the Dom0 stack. The receiver owns the skb and frees it. */
  readonly onReceive?: (vif: Xenvif, skb: SkBuff) => void;
  /** A vif was created for a new backend device (netback_probe). */
  readonly onVifCreated?: (vif: Xenvif) => void;
  /** A vif's data rings are connected and its carrier is on. */
  readonly onConnect?: (vif: Xenvif) => void;
  /** A vif's data rings were torn down. */
  readonly onDisconnect?: (vif: Xenvif) => void;
  /** xenvif_fatal_tx_err: a vif was disabled because its frontend misbehaved. */
  readonly onFatal?: (vif: Xenvif, reason: string) => void;
  /** netif_tx_stop_queue on a vif's RX internal queue (start_xmit will drop until woken). */
  readonly onQueueStop?: (vif: Xenvif, queue: number) => void;
  /** netif_tx_wake_queue. */
  readonly onQueueWake?: (vif: Xenvif, queue: number) => void;
}

/** Options with defaults applied. */
export interface NetbackConfig {
  readonly headerCopy: HeaderCopyMode;
  readonly txHypercalls: TxHypercallMode;
  readonly fatalSkbSlots: number;
  readonly maxQueues: number;
  readonly credit: NetbackCredit | undefined;
  readonly splitEventChannels: boolean;
  readonly persistentGrants: boolean;
  readonly xdpHeadroom: boolean;
}

export function netbackConfig(options: NetbackOptions): NetbackConfig {
  const maxQueues = options.maxQueues ?? MAX_QUEUES_DEFAULT;
  if (!Number.isInteger(maxQueues) || maxQueues < 1 || maxQueues > 64) throw new NetbackError("EINVAL", `maxQueues ${maxQueues}`);
  let fatal = options.fatalSkbSlots ?? FATAL_SKB_SLOTS_DEFAULT;
  if (!Number.isInteger(fatal) || fatal < 1) throw new NetbackError("EINVAL", `fatalSkbSlots ${fatal}`);
  // netback_init: "fatal_skb_slots too small, bump it to XEN_NETBK_LEGACY_SLOTS_MAX".
  if (fatal < XEN_NETBK_LEGACY_SLOTS_MAX) fatal = XEN_NETBK_LEGACY_SLOTS_MAX;
  const credit = options.credit;
  if (credit !== undefined && (!(credit.bytes > 0) || !(credit.usec >= 0))) throw new NetbackError("EINVAL", "credit needs bytes > 0 and usec >= 0");
  return {
    headerCopy: options.headerCopy ?? "multi-slot",
    txHypercalls: options.txHypercalls ?? "two",
    fatalSkbSlots: fatal,
    maxQueues,
    credit,
    splitEventChannels: options.splitEventChannels ?? true,
    persistentGrants: options.persistentGrants ?? false,
    xdpHeadroom: options.xdpHeadroom ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

/** What a NetbackError reports: a bad argument, no memory, an I/O failure, or a broken invariant (BUG). */
export type NetbackErrorCode = "EINVAL" | "ENOMEM" | "EIO" | "BUG";

/** Misuse of the API or a broken invariant of the driver itself (guest misbehaviour never throws). */
export class NetbackError extends Error {
  override readonly name = "NetbackError";
  readonly code: NetbackErrorCode;

  constructor(code: NetbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** True when `e` is a NetbackError (checked by name, so it holds across bundle copies). */
export function isNetbackError(e: unknown): e is NetbackError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "NetbackError";
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** struct xenvif_stats (per queue). */
export interface XenvifStats {
  /** Guest TX packets handed to the Dom0 stack (the vif's rx_*: Dom0 receives them). */
  rxBytes: number;
  rxPackets: number;
  /** Packets put on the guest's RX ring (the vif's tx_*). */
  txBytes: number;
  txPackets: number;
  rxGsoChecksumFixup: number;
  txZerocopySent: number;
  txZerocopySuccess: number;
  txZerocopyFail: number;
  txFragOverflow: number;
}

export function newXenvifStats(): XenvifStats {
  return {
    rxBytes: 0,
    rxPackets: 0,
    txBytes: 0,
    txPackets: 0,
    rxGsoChecksumFixup: 0,
    txZerocopySent: 0,
    txZerocopySuccess: 0,
    txZerocopyFail: 0,
    txFragOverflow: 0,
  };
}

/** Counters the model adds beside Linux's (not in ethtool -S). */
export interface XenvifModelStats {
  /** TX responses sent with NETIF_RSP_ERROR (xenvif_tx_err, a failed copy or map): one per slot. */
  txErrors: number;
  /** Header copies that spanned more than one slot (the XSA-423 path). */
  txHeaderMultiSlot: number;
  /** __pskb_pull_tail calls of first-slot mode. */
  txPullTail: number;
  /** GNTTABOP_copy ops issued for TX headers, GNTTABOP_map_grant_ref ops for TX frags. */
  txCopyOps: number;
  txMapOps: number;
  /** GNTTABOP_copy ops issued by the RX path, and those that failed. */
  rxCopyOps: number;
  rxCopyErrors: number;
  /** Skbs dropped from the RX internal queue after rx_drain_timeout. */
  rxDrainDropped: number;
  /** Persistent grants (the RFC): skbs xenvif_start_xmit put into the guest's buffers itself. */
  rxStartXmitCopies: number;
  /** Persistent grants: skbs xenvif_start_xmit left to the RX kthread (skbs queued ahead, or no posted buffer). */
  rxStartXmitFallbacks: number;
  /** Shared skbs sent with xmit_more that xenvif_start_xmit cloned before queueing (the RFC's clone). */
  rxXmitMoreClones: number;
  /**
   * The contention the RFC's start_xmit copy avoids: takes of rx_queue.lock (queue tail in
   * start_xmit, dequeue in the kthread) and of the RX wait queue's lock (wake_up in start_xmit,
   * prepare_to_wait/finish_wait in the kthread) whose line another CPU held last.
   */
  rxQueueLockBounces: number;
  rxWqLockBounces: number;
}

export function newXenvifModelStats(): XenvifModelStats {
  return { txErrors: 0, txHeaderMultiSlot: 0, txPullTail: 0, txCopyOps: 0, txMapOps: 0, rxCopyOps: 0, rxCopyErrors: 0, rxDrainDropped: 0, rxStartXmitCopies: 0, rxStartXmitFallbacks: 0, rxXmitMoreClones: 0, rxQueueLockBounces: 0, rxWqLockBounces: 0 };
}

/** struct net_device_stats (the parts netback touches). */
export interface NetDeviceStats {
  txDropped: number;
  rxDropped: number;
  rxErrors: number;
}

// ---------------------------------------------------------------------------------------------
// Structures

/** XENVIF_TX_CB(skb) plus the frag bookkeeping netback keeps in frag offsets until fill_frags. */
export class XenvifTxCb {
  skb: SkBuff | null = null;
  /** The frag_list skb for slots beyond MAX_SKB_FRAGS, or null. */
  nskb: SkBuff | null = null;
  /** copy_pending_idx[]: the pending slot of each header copy. */
  readonly copyPendingIdx = new Uint16Array(XEN_NETBK_LEGACY_SLOTS_MAX + 1);
  copyCount = 0;
  /** Bit i: copy i was split at a local page boundary into two ops. */
  splitMask = 0;
  /** Pending slot of each frag of the skb, then of the frag_list skb. */
  readonly fragPendingIdx = new Uint16Array(MAX_SKB_FRAGS);
  nrFrags = 0;
  readonly overflowPendingIdx = new Uint16Array(MAX_SKB_FRAGS);
  nrOverflow = 0;
  /** The first request's flags (NETTXF_csum_blank / data_validated). */
  txFlags = 0;
  // Persistent grants: the packet is memcpy'd from the tree, its slots answered after submit.
  persistent = false;
  /** Slots of the packet (first request included) and what each request said. */
  pgCount = 0;
  readonly pgId = new Uint16Array(XEN_NETBK_LEGACY_SLOTS_MAX + 1);
  readonly pgGref = new Uint32Array(XEN_NETBK_LEGACY_SLOTS_MAX + 1);
  readonly pgOffset = new Uint16Array(XEN_NETBK_LEGACY_SLOTS_MAX + 1);
  readonly pgSize = new Uint16Array(XEN_NETBK_LEGACY_SLOTS_MAX + 1);
  pgExtraCount = 0;
  /** Header bytes grant-copied from the first slot (its gref missed the tree), 0 on a hit. */
  pgHdrCopied = 0;

  /** Forget the previous packet (called before a slot's control block is reused). */
  reset(): void {
    this.persistent = false;
    this.pgCount = 0;
    this.pgHdrCopied = 0;
    this.pgExtraCount = 0;
    this.skb = null;
    this.nskb = null;
    this.copyCount = 0;
    this.splitMask = 0;
    this.nrFrags = 0;
    this.nrOverflow = 0;
    this.txFlags = 0;
  }
}

/** struct xenvif_queue */
export class XenvifQueue {
  /** The Dom0 VCPU this queue's NAPI poll, kthreads and interrupts run on. */
  readonly vcpu: Vcpu;
  /**
   * The CPU the RX path charges right now (smp_processor_id()): the queue's VCPU in the RX
   * kthread, the caller's during the persistent-grants copy in xenvif_start_xmit.
   */
  rxCpu: Vcpu;
  readonly name: string;

  // Shared rings (mapped from the frontend) and their event channels.
  tx: BackRing | null = null;
  rx: BackRing | null = null;
  txRingHandle = NETBACK_INVALID_HANDLE;
  rxRingHandle = NETBACK_INVALID_HANDLE;
  /** Local (Dom0) ports; rxPort === txPort with a single event channel. */
  txPort = 0;
  rxPort = 0;
  /** Base of this queue's host_addr window. */
  kaddrBase = 0;
  kaddrWindow = -1;

  // ---- TX (netback.c)
  /** pending_ring: free pending slot numbers between pending_cons and pending_prod. */
  readonly pendingRing = new Uint16Array(MAX_PENDING_REQS);
  pendingProd = MAX_PENDING_REQS;
  pendingCons = 0;
  /** pending_tx_info[].req and .extra_count, struct of arrays. */
  readonly pendingGref = new Uint32Array(MAX_PENDING_REQS);
  readonly pendingOffset = new Uint16Array(MAX_PENDING_REQS);
  readonly pendingFlags = new Uint16Array(MAX_PENDING_REQS);
  readonly pendingId = new Uint16Array(MAX_PENDING_REQS);
  readonly pendingSize = new Uint16Array(MAX_PENDING_REQS);
  readonly pendingExtraCount = new Uint8Array(MAX_PENDING_REQS);
  /** grant_tx_handle[] */
  readonly grantTxHandle = new Int32Array(MAX_PENDING_REQS).fill(NETBACK_INVALID_HANDLE);
  /** mmap_pages[]: one Page per pending slot, pointed at the mapped frame while mapped. */
  readonly mmapPages: Page[] = [];
  /** pending_tx_info[].callback_struct, and the ctx chain linking a packet's slots (-1 ends). */
  readonly ubufs: UbufInfo[] = [];
  readonly ubufNext = new Int32Array(MAX_PENDING_REQS).fill(-1);
  /** dealloc_ring, written by the zerocopy callback, drained by the dealloc action. */
  readonly deallocRing = new Uint16Array(MAX_PENDING_REQS);
  deallocProd = 0;
  deallocCons = 0;
  readonly txCopyOps = new GnttabCopyBatch(TX_COPY_OPS_MAX);
  readonly txMapOps = new GnttabMapBatch(MAX_PENDING_REQS);
  readonly txUnmapOps = new GnttabUnmapBatch(MAX_PENDING_REQS);
  /** The single op of xenvif_idx_unmap (its own batch, so it never disturbs the dealloc batch). */
  readonly idxUnmapOps = new GnttabUnmapBatch(1);
  /** The two ring pages' map and unmap (xenvif_map_frontend_data_rings / unmap). */
  readonly ringMaps = new GnttabMapBatch(2);
  readonly ringUnmaps = new GnttabUnmapBatch(2);
  /** Scratch of the TX path, per queue (nothing per packet lives at module level). */
  readonly txScratch = {
    /** make_tx_response's response. */
    rsp: { id: 0, status: 0 },
    /** xenvif_get_extras' count of extra slots. */
    extraCount: { n: 0 },
    /** xenvif_handle_frag_list's pages of the consolidated frags. */
    fragListPages: new Array<Page | null>(MAX_SKB_FRAGS).fill(null),
    /** xenvif_tx_submit's position in the copy and map ops. */
    gopPos: { copy: 0, map: 0 },
    /** The TCP data offset byte xenvif_tx_submit reads for skb_tcp_all_headers. */
    doff: new Uint8Array(1),
    /** Results of the TX multicall's two entries. */
    multicallResults: new Int32Array(2),
    /** The TX multicall's entries (copy+map, copy only), built on first use. */
    multicallEntries: null as { readonly both: MulticallEntry[]; readonly copyOnly: MulticallEntry[] } | null,
  };
  readonly pendingIdxRelease = new Uint16Array(MAX_PENDING_REQS);
  /** tx_queue: skbs built by build_gops, submitted after the hypercalls. */
  readonly txCbs: XenvifTxCb[] = [];
  txQueueLen = 0;
  /** Packets handed to the stack whose zerocopy callback has not run yet. */
  inflightPackets = 0;
  /** Disconnected while packets were in flight: the rings go when the last slot is unmapped. */
  teardownPending = false;
  /** The RX kthread stopped (queue 0 of a disabled vif, or disconnect). */
  rxThreadStopped = false;
  // Per-call scratch (build_gops), allocated once.
  readonly txreq: NetifTxRequest = newTxRequest();
  readonly txfrags: NetifTxRequest[] = [];
  readonly droppedTx: NetifTxRequest = newTxRequest();
  readonly extras: NetifExtraInfo[] = [];
  readonly extraScratch: NetifExtraInfo = newExtraInfo();

  // Credit scheduling.
  creditBytes = Number.MAX_SAFE_INTEGER;
  creditUsec = 0;
  remainingCredit = Number.MAX_SAFE_INTEGER;
  creditWindowStartNs = 0;
  creditTimerPending = false;
  /** Bumped by del_timer_sync: a credit timer armed before it does nothing when it fires. */
  creditTimerSeq = 0;
  rateLimited = false;

  // Deferred work (napi_schedule, the dealloc and RX kthreads' wake-ups).
  napiScheduled = false;
  /** netif_napi_del at disconnect: the queue is never polled again (a queued poll does nothing). */
  napiDeleted = false;
  deallocScheduled = false;
  rxThreadScheduled = false;
  /** The RX kthread sleeps on its wait queue (a kick wakes it); false while it loops on work. */
  rxThreadSleeping = true;
  /** @internal Where the line of rx_queue.lock is. */
  readonly rxQueueLock = new LockLine();
  /** @internal Where the line of the RX wait queue's lock is. */
  readonly rxWqLock = new LockLine();
  /** Time of the armed RX kthread timeout, or -1, and its timer. */
  rxTimerAtNs = -1;
  rxTimer: TimerHandle | null = null;

  // ---- RX (rx.c)
  /** rx_queue as a fixed ring of skbs with their XENVIF_RX_CB expiry. */
  readonly rxSkbs: (SkBuff | null)[] = new Array(XENVIF_RX_QUEUE_MAX_SKBS).fill(null);
  readonly rxExpires = new Float64Array(XENVIF_RX_QUEUE_MAX_SKBS);
  rxHead = 0;
  rxCount = 0;
  rxQueueLen = 0;
  rxQueueMax = XENVIF_RX_QUEUE_BYTES;
  rxSlotsNeeded = 0;
  lastRxTimeNs = 0;
  stalled = false;
  /** netif_tx_queue_stopped for this queue. */
  txQueueStopped = false;
  readonly rxCopyOps = new GnttabCopyBatch(COPY_BATCH_SIZE);
  /** rx_copy.idx[]: the RX response each copy belongs to. */
  readonly rxCopyIdx = new Uint32Array(COPY_BATCH_SIZE);
  /** rx_copy.completed: skbs fully written, freed after the flush. */
  readonly rxCompleted: (SkBuff | null)[] = new Array(RX_BATCH_SIZE).fill(null);
  rxCompletedCount = 0;
  readonly rxreq = newRxRequest();
  readonly rxExtras: NetifExtraInfo[] = [];
  /** The packet being put on the guest RX ring (xenvif_rx_skb's struct xenvif_pkt_state). */
  readonly rxPkt: XenvifPktState = newXenvifPktState();
  /** Out-params of xenvif_rx_next_chunk. */
  readonly rxChunk: XenvifRxChunk = { page: null, off: 0, len: 0 };
  /** The RX response being written (struct xen_netif_rx_response). */
  readonly rxRsp = { id: 0, offset: 0, flags: 0, status: 0 };

  readonly stats: XenvifStats = newXenvifStats();
  readonly modelStats: XenvifModelStats = newXenvifModelStats();

  // ---- Persistent grants (RFC 2015): one tree per direction, built at connect when negotiated.
  /** Guest TX grants (read-only) mapped for good, or null without persistent grants. */
  txPgTree: PersistentGrantTree | null = null;
  /** Guest RX grants (writable) mapped for good, or null. */
  rxPgTree: PersistentGrantTree | null = null;
  /** host_addr windows of the two trees (-1: none). */
  txPgWindow = -1;
  rxPgWindow = -1;
  readonly txPgStats: PersistentGrantStats = newPersistentGrantStats();
  readonly rxPgStats: PersistentGrantStats = newPersistentGrantStats();

  constructor(
    readonly vif: Xenvif,
    readonly id: number,
    vcpu: Vcpu,
    makePage: () => Page,
    onZerocopy: (skb: SkBuff, ubuf: UbufInfo, ok: boolean) => void,
  ) {
    this.vcpu = vcpu;
    this.rxCpu = vcpu;
    this.name = `${vif.name}-q${id}`;
    for (let i = 0; i < MAX_PENDING_REQS; i++) {
      this.pendingRing[i] = i;
      this.mmapPages.push(makePage());
      this.ubufs.push(new UbufInfo(onZerocopy, this, i));
    }
    for (let i = 0; i < XENVIF_NAPI_WEIGHT; i++) this.txCbs.push(new XenvifTxCb());
    for (let i = 0; i < XEN_NETBK_LEGACY_SLOTS_MAX; i++) this.txfrags.push(newTxRequest());
    for (let i = 0; i < NETBACK_EXTRA_TYPE_MAX - 1; i++) {
      this.extras.push(newExtraInfo());
      this.rxExtras.push(newExtraInfo());
    }
  }

  /** nr_pending_reqs() */
  get nrPendingReqs(): number {
    return MAX_PENDING_REQS - this.pendingProd + this.pendingCons;
  }

  /** idx_to_kaddr(): the host_addr of pending slot `idx`. */
  kaddr(idx: number): number {
    return this.kaddrBase + idx * 4096;
  }

  /** Skbs on the RX internal queue. */
  get rxQueuePackets(): number {
    return this.rxCount;
  }
}

/** struct xenvif */
export class Xenvif {
  /** "vif<domid>.<handle>" as Linux names the netdev. */
  readonly name: string;
  queues: XenvifQueue[] = [];
  /** vif->ctrl and vif->hash: the control ring, while the frontend has one connected (ctrl.ts). */
  ctrl: XenvifCtrl | null = null;
  /** vif->disabled: set by xenvif_fatal_tx_err; nothing more is processed. */
  disabled = false;
  /** Persistent grants negotiated (both ends wrote feature-persistent = 1) at the last connect. */
  persistent = false;
  /** Why the vif was disabled (the netdev_err message), or null. */
  fatalReason: string | null = null;
  /** VIF_STATUS_CONNECTED + netif_carrier_ok */
  carrier = false;
  connected = false;
  canSg = false;
  /** gso_mask: bit 1 << XEN_NETIF_GSO_TYPE_* for the types the frontend accepts on RX. */
  gsoMask = 0;
  /** vif->xdp_headroom: the frontend's `xdp-headroom` (read_xenbus_frontend_xdp); 0 when none. */
  xdpHeadroom = 0;
  ipCsum = true;
  ipv6Csum = false;
  /** feature-rx-notify semantics. */
  drainTimeoutNs = RX_DRAIN_TIMEOUT_MSECS * 1_000_000;
  stallTimeoutNs = RX_STALL_TIMEOUT_MSECS * 1_000_000;
  stalledQueues = 0;
  multicastControl = false;
  mcastCount = 0;
  /** The frontend's MAC (backend key `mac`), as text. */
  mac = "fe:ff:ff:ff:ff:ff";
  readonly devStats: NetDeviceStats = { txDropped: 0, rxDropped: 0, rxErrors: 0 };
  /** netdev_err/netdev_info messages, newest last, at most VIF_LOG_MAX. */
  readonly log: string[] = [];
  /** Counters of queues that were torn down, so a vif's totals survive reconnects. */
  readonly retiredStats: XenvifStats = newXenvifStats();
  readonly retiredModelStats: XenvifModelStats = newXenvifModelStats();
  readonly retiredTxPgStats: PersistentGrantStats = newPersistentGrantStats();
  readonly retiredRxPgStats: PersistentGrantStats = newPersistentGrantStats();
  /** Queues disconnected while their packets were still in flight (counted until torn down). */
  readonly dyingQueues: XenvifQueue[] = [];
  /** xenvif_up: NAPI and the interrupts are enabled. */
  up = false;
  /** The backend's xenbus device, while probed. */
  dev: XenbusDevice | null = null;

  constructor(
    /** The backend instance this vif belongs to. */
    readonly ctx: NetbackContext,
    /** The frontend's domid. */
    readonly domid: number,
    readonly handle: number,
  ) {
    this.name = `vif${domid}.${handle}`;
  }

  /** The backend domain's domid. */
  get backendDomid(): number {
    return this.ctx.env.domain.domid;
  }

  /** Queues connected (the frontend's multi-queue-num-queues, bounded by the backend's max). */
  get numQueues(): number {
    return this.queues.length;
  }

  /**
   * ethtool -S of the vif: Linux's xenvif_stats[] names summed over queues, the net_device stats
   * netback counts, and the model's own counters (prefixed `model_`).
   */
  counters(): XenvifCounters {
    const s = newXenvifStats();
    const m = newXenvifModelStats();
    addStats(s, this.retiredStats);
    addModelStats(m, this.retiredModelStats);
    const pt = newPersistentGrantStats();
    const pr = newPersistentGrantStats();
    addCounters(pt, this.retiredTxPgStats);
    addCounters(pr, this.retiredRxPgStats);
    let txEntries = 0;
    let rxEntries = 0;
    for (const list of [this.queues, this.dyingQueues]) {
      for (const q of list) {
        addStats(s, q.stats);
        addModelStats(m, q.modelStats);
        addCounters(pt, q.txPgStats);
        addCounters(pr, q.rxPgStats);
        txEntries += q.txPgTree?.size ?? 0;
        rxEntries += q.rxPgTree?.size ?? 0;
      }
    }
    return {
      rx_gso_checksum_fixup: s.rxGsoChecksumFixup,
      tx_zerocopy_sent: s.txZerocopySent,
      tx_zerocopy_success: s.txZerocopySuccess,
      tx_zerocopy_fail: s.txZerocopyFail,
      tx_frag_overflow: s.txFragOverflow,
      rx_packets: s.rxPackets,
      rx_bytes: s.rxBytes,
      tx_packets: s.txPackets,
      tx_bytes: s.txBytes,
      tx_dropped: this.devStats.txDropped,
      rx_dropped: this.devStats.rxDropped,
      rx_errors: this.devStats.rxErrors,
      model_tx_errors: m.txErrors,
      model_tx_header_multi_slot: m.txHeaderMultiSlot,
      model_tx_pull_tail: m.txPullTail,
      model_tx_copy_ops: m.txCopyOps,
      model_tx_map_ops: m.txMapOps,
      model_rx_copy_ops: m.rxCopyOps,
      model_rx_copy_errors: m.rxCopyErrors,
      model_rx_drain_dropped: m.rxDrainDropped,
      model_rx_start_xmit_copies: m.rxStartXmitCopies,
      model_rx_start_xmit_fallbacks: m.rxStartXmitFallbacks,
      model_rx_xmit_more_clones: m.rxXmitMoreClones,
      model_rx_queue_lock_bounces: m.rxQueueLockBounces,
      model_rx_wq_lock_bounces: m.rxWqLockBounces,
      persistent_grants: this.persistent ? 1 : 0,
      persistent_tx_entries: txEntries,
      persistent_tx_hits: pt.hits,
      persistent_tx_misses: pt.misses,
      persistent_tx_maps_added: pt.mapsAdded,
      persistent_tx_fallbacks: pt.fallbacks,
      persistent_rx_entries: rxEntries,
      persistent_rx_hits: pr.hits,
      persistent_rx_misses: pr.misses,
      persistent_rx_maps_added: pr.mapsAdded,
      persistent_rx_fallbacks: pr.fallbacks,
    };
  }

  /** netdev_err / netdev_info: keep a bounded log. */
  logMessage(message: string): void {
    if (this.log.length >= VIF_LOG_MAX) this.log.shift();
    this.log.push(`${this.name}: ${message}`);
  }
}

/** What `Xenvif.counters()` returns: ethtool -S names, net_device stats, model counters. */
export interface XenvifCounters {
  readonly rx_gso_checksum_fixup: number;
  readonly tx_zerocopy_sent: number;
  readonly tx_zerocopy_success: number;
  readonly tx_zerocopy_fail: number;
  readonly tx_frag_overflow: number;
  readonly rx_packets: number;
  readonly rx_bytes: number;
  readonly tx_packets: number;
  readonly tx_bytes: number;
  readonly tx_dropped: number;
  readonly rx_dropped: number;
  readonly rx_errors: number;
  readonly model_tx_errors: number;
  readonly model_tx_header_multi_slot: number;
  readonly model_tx_pull_tail: number;
  readonly model_tx_copy_ops: number;
  readonly model_tx_map_ops: number;
  readonly model_rx_copy_ops: number;
  readonly model_rx_copy_errors: number;
  readonly model_rx_drain_dropped: number;
  readonly model_rx_start_xmit_copies: number;
  readonly model_rx_start_xmit_fallbacks: number;
  readonly model_rx_xmit_more_clones: number;
  /** XenvifModelStats.rxQueueLockBounces / rxWqLockBounces. */
  readonly model_rx_queue_lock_bounces: number;
  readonly model_rx_wq_lock_bounces: number;
  /**
   * Persistent grant trees (the RFC's debugfs counters), summed over queues: 1 when the vif
   * negotiated them; mappings held now; lookups that hit or missed; grants mapped into a tree;
   * misses served by grant copy because the tree was full or the map failed.
   */
  readonly persistent_grants: number;
  readonly persistent_tx_entries: number;
  readonly persistent_tx_hits: number;
  readonly persistent_tx_misses: number;
  readonly persistent_tx_maps_added: number;
  readonly persistent_tx_fallbacks: number;
  readonly persistent_rx_entries: number;
  readonly persistent_rx_hits: number;
  readonly persistent_rx_misses: number;
  readonly persistent_rx_maps_added: number;
  readonly persistent_rx_fallbacks: number;
}

/** Add every counter of `from` into `into` (queue totals into vif totals; same shape). */
export function addCounters<T extends object>(into: T, from: T): void {
  for (const key of Object.keys(from) as (keyof T)[]) (into[key] as number) += from[key] as number;
}

/** Add a queue's xenvif_stats into a total. */
export function addStats(into: XenvifStats, from: XenvifStats): void {
  addCounters(into, from);
}

/** Add a queue's model counters into a total. */
export function addModelStats(into: XenvifModelStats, from: XenvifModelStats): void {
  addCounters(into, from);
}

/**
 * What the driver code needs from its backend instance (the netback "module"): environment,
 * configuration and the callbacks into the Dom0 stack. Implemented by `Netback` (xenbus.ts).
 */
export interface NetbackContext {
  readonly env: NetbackEnv;
  readonly config: NetbackConfig;
  readonly options: NetbackOptions;
  /** The guest's foreign page behind a mapped slot page (xen_page_foreign), for RX copies. */
  foreignOf(page: Page): ForeignPage | undefined;
  /** A page for a pending slot (netback's mmap_pages), registered for foreignOf. */
  newSlotPage(): Page;
  /** A host_addr window for a queue, and its release. */
  allocKaddrWindow(): number;
  /** Give back a kernel virtual address window taken by allocKaddrWindow (gnttab_free_pages). */
  freeKaddrWindow(window: number): void;
}

/** xen_page_foreign: which guest grant a mapped page shows (valid while `mapped`). */
export interface ForeignPage {
  domid: number;
  gref: number;
  mapped: boolean;
}
