/**
 * What every file of the frontend shares (drivers/net/xen-netfront.c: the constants, struct
 * netfront_queue, struct netfront_info, struct netfront_stats): limits, the environment a
 * frontend is built from, per-queue state and counters.
 *
 * Nothing here is shared with a backend as a JavaScript object: the backend sees only grant
 * references, ring pages in machine memory, event-channel ports and xenstore keys.
 */
import { type Domain, type KernelOps, type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import { NETIF_RX_RING, NETIF_TX_RING, type NetifExtraInfo, type NetifRxRequest, type NetifRxResponse, type NetifTxRequest, newExtraInfo, newRxRequest, newRxResponse, newTxRequest, XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP, XEN_NETIF_NR_SLOTS_MIN } from "@pvnet/netif";
import { constRingSize, type FrontRing } from "@pvnet/shared-ring";
import { getPage, type Page, putPage, type SkBuff, SkBuffHead, type SkbAllocOps, type UbufInfo } from "@pvnet/skb-model";
import type { GnttabOps, GrantRefHead } from "@pvnet/xen-grant-table";
import type { XenbusClient, XenbusDevice } from "@pvnet/xenstore";
import type { TxReqBuilder } from "./tx.js";
import type { XdpProgram } from "./xdp.js";
import { newLateEoiState } from "./events.js";

// ------------------------------------------------------------------ constants

/** NET_TX_RING_SIZE = __CONST_RING_SIZE(xen_netif_tx, XEN_PAGE_SIZE): one ring page of 12-byte slots. */
export const NET_TX_RING_SIZE = constRingSize(XEN_PAGE_SIZE, NETIF_TX_RING.slotBytes);
/** NET_RX_RING_SIZE = __CONST_RING_SIZE(xen_netif_rx, XEN_PAGE_SIZE): one ring page of 8-byte slots. */
export const NET_RX_RING_SIZE = constRingSize(XEN_PAGE_SIZE, NETIF_RX_RING.slotBytes);
/**
 * RX_COPY_THRESHOLD: bytes of a received packet's first fragment pulled into the skb's linear
 * area (the protocol headers); the rest stays in the granted pages as frags.
 */
export const RX_COPY_THRESHOLD = 256;
/**
 * NET_RX_SLOTS_MIN = XEN_NETIF_NR_SLOTS_MIN + 1: the refill watermark. Fewer posted buffers than
 * this cannot hold one maximal packet plus its GSO extra slot, so the requests are not pushed and
 * the refill timer retries (xennet_alloc_rx_buffers).
 */
export const NET_RX_SLOTS_MIN = XEN_NETIF_NR_SLOTS_MIN + 1;
/**
 * MAX_XEN_SKB_FRAGS = 65536 / XEN_PAGE_SIZE + 1: grants a 64 KiB packet needs at worst when it
 * does not start page aligned. A packet needing more than MAX_XEN_SKB_FRAGS + 1 slots (= 18 =
 * XEN_NETIF_NR_SLOTS_MIN, what every backend accepts) is straightened before it is sent.
 */
export const MAX_XEN_SKB_FRAGS = 65536 / XEN_PAGE_SIZE + 1;
/** NAPI_POLL_WEIGHT: the default budget of one xennet_poll. */
export const NAPI_POLL_WEIGHT = 64;
/** MAX_QUEUES_DEFAULT: xennet_max_queues when the module parameter is 0 (also capped by VCPUs). */
export const MAX_QUEUES_DEFAULT = 8;
/** HZ/10: the rx_refill_timer delay when the ring could not be filled (100 ms of virtual time). */
export const RX_REFILL_TIMEOUT_NS = 100_000_000;
/**
 * Retry period for grants whose access could not be ended because the backend still uses them
 * (gnttab_end_foreign_access's deferred list is retried by a timer every HZ in Linux).
 */
export const GNTTAB_DEFERRED_RETRY_NS = 1_000_000_000;
/**
 * Timer retries of the deferred list before the timer stops (Linux retries forever and warns);
 * bounded so a simulation with a backend that never lets go still runs idle. Later teardowns and
 * `outstanding()` retry again.
 */
export const GNTTAB_DEFERRED_MAX_RETRIES = 60;
/** Alerts kept (dev_alert / dev_warn lines): a misbehaving backend cannot grow this. */
export const MAX_ALERTS_KEPT = 32;
/** tx_link[] marks (TX_LINK_NONE ends a list, TX_PENDING marks an id on the ring). */
export const TX_LINK_NONE = 0xffff;
export const TX_PENDING = 0xfffe;
/** INVALID_GRANT_REF (grant_ref_t ~0): an empty grant_rx_ref / grant_tx_ref slot. */
export const INVALID_GRANT_REF = -1;
/** netdev_tx_t results of ndo_start_xmit. */
export const NETDEV_TX_OK = 0;
/** The driver could not take the packet: the caller keeps it and retries (Linux's drivers avoid it). */
export const NETDEV_TX_BUSY = 0x10;

/** Cost kinds charged by the frontend (host profile of @pvnet/hypervisor). */
export const COST_RING_REQUEST = "ring.request";
export const COST_RING_RESPONSE = "ring.response";
/** One NAPI poll's own work (net_rx_action calling xennet_poll, napi_complete_done). */
export const COST_NAPI_POLL = "napi.poll";
/** Guest-side grant entry writes (gnttab_grant_foreign_access_ref / end_foreign_access_ref). */
export const COST_GRANT_ACCESS = "grant.access";

// Slot arithmetic below relies on both rings having 256 slots (netif.h with one page each).
if (NET_TX_RING_SIZE !== 256 || NET_RX_RING_SIZE !== 256) throw new Error("netfront: netif rings must have 256 slots per page");

// ------------------------------------------------------------------ errors

/** What a NetfrontError reports: a bad argument, no device, or a broken invariant of the model (BUG). */
export type NetfrontErrorCode = "EINVAL" | "ENODEV" | "BUG";

/** Misuse of the API or a broken invariant of the model itself (never a backend's doing). */
export class NetfrontError extends Error {
  override readonly name = "NetfrontError";
  readonly code: NetfrontErrorCode;
  constructor(code: NetfrontErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** True when `e` is a NetfrontError (checked by name, so it holds across bundle copies). */
export function isNetfrontError(e: unknown): e is NetfrontError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "NetfrontError";
}

// ------------------------------------------------------------------ environment

/**
 * The frontend's environment, all typed interfaces of the lower packages (docs/architecture.md: drivers get
 * grant operations, event channels, a xenstore client and a clock at construction).
 */
export interface NetfrontEnv extends KernelOps {
  /** The guest (DomU) this frontend runs in. */
  readonly domain: Domain;
  /** The guest's grant-table driver (Linux drivers/xen/grant-table.c). */
  readonly gnttab: GnttabOps;
  /** The guest's xenbus over its own xenstore connection. */
  readonly xenbus: XenbusClient;
  /** The guest kernel's skb allocator; its page pool gives ring pages and RX buffers. */
  readonly skbs: SkbAllocOps;
}

/** What the guest's network stack gives the device. */
export interface NetfrontOptions {
  /** The vif's device id (xenstore `device/vif/<devid>`). */
  readonly devid: number;
  /**
   * xennet_max_queues: queues requested; the backend's multi-queue-max-queues caps it. Default
   * min(MAX_QUEUES_DEFAULT, VCPUs of the domain).
   */
  readonly maxQueues?: number;
  /** napi_gro_receive: a received packet; the receiver owns (and frees) the skb. */
  readonly onReceive: (skb: SkBuff, queue: number) => void;
  /** netif_tx_wake_queue: queue `queue` accepts packets again after NETDEV_TX_BUSY. */
  readonly onQueueWake?: (queue: number) => void;
  /** NAPI weight (budget of one poll). Default NAPI_POLL_WEIGHT. */
  readonly napiBudget?: number;
  /** The `trusted` module parameter: false bounces every TX packet into fresh zeroed pages. */
  readonly trusted?: boolean;
  /** The VCPU serving queue `q` (its interrupts, NAPI and timers). Default vcpus[q % nr]. */
  readonly vcpuOf?: (queue: number) => Vcpu;
  /**
   * Persistent grants (the xen-devel RFC of May 2015): when the backend offers `feature-persistent`,
   * write `feature-persistent` = 1 and send and receive through a fixed pool of pages granted
   * once per ring slot, copying packets in and out of them. Default false (grant per packet).
   */
  readonly persistentGrants?: boolean;
  /**
   * An opt-in control ring client (ctrl.ts; Linux netfront has none): talk_to_netback sets it up
   * when the backend offers feature-ctrl-ring.
   */
  readonly ctrl?: {
    /** Inside talk_to_netback's transaction: set the ring up and write its keys; 0 or -errno. */
    talkToNetback(np: NetfrontInfo, tx: number): number;
    /** At disconnect: close its event channel, end its grants, free its pages. */
    teardown(): void;
  };
  /**
   * Busy-poll the TX ring as a MiniOS guest does (busy-poll.ts): never write the TX ring's
   * `rsp_event`, so the backend never notifies TX completions; reap them after every push and, with
   * the ring full, spin on `rsp_prod`. Default false (Linux: interrupts, rsp_event re-armed).
   */
  readonly busyPoll?: boolean;
  /**
   * Receive with build_skb around the granted page (rx-build-skb.ts) instead of Linux netfront's
   * napi_alloc_skb + copy of the headers. Not what Linux netfront does: it is the technique of
   * virtio-net's "switch to use build_skb() for small buffer" (2017) applied to netfront. Buffers
   * are posted as bare pages with headroom (the `xdp-headroom` negotiation, when the backend
   * offers `feature-xdp-headroom`) and tailroom for the skb_shared_info. Default false.
   */
  readonly rxBuildSkb?: boolean;
}

// ------------------------------------------------------------------ counters

/** Counters of one queue (netfront_stats plus dev->stats, and the model's own event counts). */
export interface NetfrontStats {
  txPackets: number;
  txBytes: number;
  /** dev->stats.tx_dropped: every packet start_xmit dropped. */
  txDropped: number;
  /** Of those: longer than XEN_NETIF_MAX_TX_SIZE ("too big for wire format"). */
  txDropTooBig: number;
  /** Of those: straightening or bouncing failed (no memory, misaligned bounce buffer). */
  txDropNoMem: number;
  /** Of those: still more slots than the backend accepts after straightening. */
  txDropSlots: number;
  /** Of those: carrier off, no SG with several slots, or GSO the backend did not offer. */
  txDropFeatures: number;
  /** Of those: pages that are not the guest's own (cannot be granted). */
  txDropForeign: number;
  /** "skb rides the rocket": packets linearized because they needed too many slots. */
  txLinearized: number;
  /** Packets copied by bounce_skb (untrusted backend, short first chunk, shared skb to straighten). */
  txBounced: number;
  /** TX requests produced (one per grant) and extra-info slots. */
  txRequests: number;
  txExtras: number;
  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY calls on the TX ring, and how many asked for a notify. */
  txPushes: number;
  txNotifies: number;
  /** TX responses with NETIF_RSP_ERROR / NETIF_RSP_DROPPED (Linux ignores them; counted here). */
  txRspError: number;
  txRspDropped: number;
  /** netif_tx_stop_queue / netif_tx_wake_queue. */
  txQueueStops: number;
  txQueueWakes: number;
  rxPackets: number;
  rxBytes: number;
  /** dev->stats.rx_errors: malformed response chains and failed checksum setup. */
  rxErrors: number;
  /**
   * Of rx_packets: runts shorter than ETH_HLEN (down to 0 bytes), which the guest's stack drops
   * (eth_type_trans cannot pull the header; ip_rcv & co. free them). Never given to onReceive.
   */
  rxRunts: number;
  /** ethtool rx_gso_checksum_fixup: GSO packets without NETRXF_csum_blank. */
  rxGsoChecksumFixup: number;
  /** RX requests posted, pushes and notifies of the RX ring. */
  rxRequests: number;
  rxPushes: number;
  rxNotifies: number;
  /** Refill attempts that left fewer than NET_RX_SLOTS_MIN buffers (timer armed). */
  rxRefillShort: number;
  /** Persistent grants: bytes memcpy'd into the TX pool pages (every byte sent). */
  txPersistentCopyBytes: number;
  /**
   * Persistent grants: the RX regression's extra copy (reported in the RFC of May 2015) — bytes copied out of the
   * pool pages beyond the RX_COPY_THRESHOLD bytes the linear pull copies anyway, and the packets
   * longer than RX_COPY_THRESHOLD that needed it.
   */
  rxPersistentCopyBytes: number;
  rxPersistentExtraCopies: number;
  /** xennet_poll runs. */
  napiPolls: number;
  /** Interrupts taken on this queue's event channel(s). */
  interrupts: number;
  /** dev->spurious_events: interrupts that found no work (xen_irq_lateeoi with XEN_EOI_FLAG_SPURIOUS). */
  spuriousEvents: number;
  /** dev->jiffies_eoi_delayed: jiffies the channels stayed masked backing off spurious events. */
  eoiDelayedJiffies: number;
}

export function newNetfrontStats(): NetfrontStats {
  return {
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    txDropTooBig: 0,
    txDropNoMem: 0,
    txDropSlots: 0,
    txDropFeatures: 0,
    txDropForeign: 0,
    txLinearized: 0,
    txBounced: 0,
    txRequests: 0,
    txExtras: 0,
    txPushes: 0,
    txNotifies: 0,
    txRspError: 0,
    txRspDropped: 0,
    txQueueStops: 0,
    txQueueWakes: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxErrors: 0,
    rxRunts: 0,
    rxGsoChecksumFixup: 0,
    rxRequests: 0,
    rxPushes: 0,
    rxNotifies: 0,
    rxRefillShort: 0,
    txPersistentCopyBytes: 0,
    rxPersistentCopyBytes: 0,
    rxPersistentExtraCopies: 0,
    napiPolls: 0,
    interrupts: 0,
    spuriousEvents: 0,
    eoiDelayedJiffies: 0,
  };
}

/** Add every counter of `from` into `into`. */
export function addStats(into: NetfrontStats, from: NetfrontStats): NetfrontStats {
  for (const k of Object.keys(from) as (keyof NetfrontStats)[]) into[k] += from[k];
  return into;
}

/**
 * Counters of the build_skb receive path and of XDP (kept apart from NetfrontStats, whose set is
 * what `pvnet run --json` reports for the copy path).
 */
export interface NetfrontRxPathStats {
  /**
   * build_skb RX: packets whose skb was built around the receive page (no head allocated, no
   * header copied), packets whose first buffer did not leave the shinfo tailroom free (an skb
   * with a small head and the page as frag, as on the copy path), and packets whose headers were
   * split over several small buffers and were copied into a fresh head.
   */
  rxBuildSkb: number;
  rxBuildSkbNoTailroom: number;
  rxSplitHeaderCopies: number;
  /** build_skb RX: receive pages recycled (re-granted without a fresh zeroed page). */
  rxPagesRecycled: number;
  /**
   * XDP (xdp.ts): frames a program ran on, and its verdicts. xdpAborted counts XDP_ABORTED and
   * every verdict the model cannot act on (a throw, a value that is no XDP action, XDP_REDIRECT
   * without a target). xdpTxErrors: XDP_TX frames that found no room on the TX ring (dropped).
   * xdpMultiBuffer: packets of several slots dropped because a program is attached (Linux
   * netfront runs XDP on single-buffer packets only).
   */
  xdpPackets: number;
  xdpPass: number;
  xdpDrop: number;
  xdpTx: number;
  xdpAborted: number;
  xdpTxErrors: number;
  xdpMultiBuffer: number;
}

export function newRxPathStats(): NetfrontRxPathStats {
  return {
    rxBuildSkb: 0,
    rxBuildSkbNoTailroom: 0,
    rxSplitHeaderCopies: 0,
    rxPagesRecycled: 0,
    xdpPackets: 0,
    xdpPass: 0,
    xdpDrop: 0,
    xdpTx: 0,
    xdpAborted: 0,
    xdpTxErrors: 0,
    xdpMultiBuffer: 0,
  };
}

/** Add every counter of `from` into `into`. */
export function addRxPathStats(into: NetfrontRxPathStats, from: NetfrontRxPathStats): NetfrontRxPathStats {
  for (const k of Object.keys(from) as (keyof NetfrontRxPathStats)[]) into[k] += from[k];
  return into;
}

// ------------------------------------------------------------------ structures

/** A grant whose access could not be ended yet, with the page kept alive until it is. */
export interface DeferredGrant {
  ref: number;
  page: Page;
}

/** struct netfront_rx_info: the first response and the extras of the packet being assembled. */
export interface NetfrontRxInfo {
  rx: NetifRxResponse;
  /** extras[type - 1]; `type` 0 means absent. */
  readonly extras: NetifExtraInfo[];
}

/** struct netfront_queue: one TX/RX ring pair with its grants, event channels and NAPI. */
export class NetfrontQueue {
  /** Set when the queue's rings exist (setup_netfront done, not yet torn down). */
  live = false;
  /** Bumped at teardown: a timer or NAPI run of an older life does nothing. */
  generation = 0;
  readonly stats = newNetfrontStats();
  /** build_skb RX and XDP counters. */
  readonly rxPathStats = newRxPathStats();

  // Event channels (tx_evtchn == rx_evtchn without feature-split-event-channels).
  txEvtchn = 0;
  rxEvtchn = 0;
  /** Late-EOI state of each channel (the TX one serves both without split channels). */
  readonly txEoi = newLateEoiState();
  readonly rxEoi = newLateEoiState();

  // TX: ring, free list of ids, in-flight skbs and grants.
  tx: FrontRing | null = null;
  /** Scratch building one packet's requests (xennet_start_xmit's locals), made on first use. */
  txReqBuilder: TxReqBuilder | null = null;
  txRingRef = INVALID_GRANT_REF;
  txRingPage: Page | null = null;
  readonly txSkbs: (SkBuff | null)[] = new Array(NET_TX_RING_SIZE).fill(null);
  readonly txLink = new Uint16Array(NET_TX_RING_SIZE);
  readonly grantTxRef = new Int32Array(NET_TX_RING_SIZE).fill(INVALID_GRANT_REF);
  readonly grantTxPage: (Page | null)[] = new Array(NET_TX_RING_SIZE).fill(null);
  readonly grefTxHead: GrantRefHead = { head: -1 };
  txSkbFreelist = 0;
  txPendQueue = TX_LINK_NONE;
  /** netif_tx_queue_stopped */
  stopped = false;
  /** busyPoll: the generation whose sender spins on rsp_prod now (-1: none spins). */
  busyPollLife = -1;

  // RX: ring, posted buffers (indexed by ring position), NAPI.
  rx: FrontRing | null = null;
  rxRingRef = INVALID_GRANT_REF;
  rxRingPage: Page | null = null;
  readonly rxSkbs: (SkBuff | null)[] = new Array(NET_RX_RING_SIZE).fill(null);
  readonly grantRxRef = new Int32Array(NET_RX_RING_SIZE).fill(INVALID_GRANT_REF);
  readonly grefRxHead: GrantRefHead = { head: -1 };
  /** build_skb RX: set when this queue posts bare pages (rxPages) instead of skbs (rxSkbs). */
  buildSkb = false;
  /** build_skb RX: the page posted at each ring position. */
  readonly rxPages: (Page | null)[] = new Array(NET_RX_RING_SIZE).fill(null);
  /**
   * build_skb RX: pages given back by XDP_DROP / dropped packets, re-posted before fresh ones
   * (what page_pool recycling gives virtio-net and Linux 6.x netfront). At most one per ring slot.
   */
  readonly rxRecycle: Page[] = [];
  /** build_skb RX: the validated pages of the packet being assembled (in chain order). */
  readonly rxChainPages: (Page | null)[] = new Array(NET_RX_RING_SIZE).fill(null);
  // Persistent grants: one page per TX id and one per RX buffer, granted once at setup.
  /** Set when this queue's rings were set up with persistent grants. */
  persistent = false;
  readonly txPgPage: (Page | null)[] = new Array(NET_TX_RING_SIZE).fill(null);
  readonly txPgRef = new Int32Array(NET_TX_RING_SIZE).fill(INVALID_GRANT_REF);
  readonly rxPgPage: (Page | null)[] = new Array(NET_RX_RING_SIZE).fill(null);
  readonly rxPgRef = new Int32Array(NET_RX_RING_SIZE).fill(INVALID_GRANT_REF);
  /**
   * Free RX pool pages (a stack of indices). A page is out while it is frag 0 of a posted buffer
   * or of an skb still in the driver; every packet gives its pages back before the refill.
   */
  readonly rxPgFree = new Uint16Array(NET_RX_RING_SIZE);
  rxPgFreeCount = 0;
  /**
   * The zerocopy owner (ubuf_info) of each RX pool page: a posted buffer is a zerocopy skb whose
   * frag 0 is the pool page, and the completion puts the page back on rxPgFree. Set up with the pool.
   */
  readonly rxPgUbuf: (UbufInfo | null)[] = new Array(NET_RX_RING_SIZE).fill(null);
  /** The next pool page of a packet's chain of ubufs (a multi-slot packet), or -1. */
  readonly rxPgNext = new Int16Array(NET_RX_RING_SIZE).fill(-1);
  /** rx_rsp_unconsumed: responses seen by the interrupt handler, for the "going backwards" check. */
  rxRspUnconsumed = 0;
  /** NAPI_STATE_SCHED */
  napiScheduled = false;
  /** rx_refill_timer pending (its generation; a re-arm makes older firings no-ops). */
  refillTimerGen = 0;
  refillTimerArmed = false;

  // Preallocated per-packet scratch: nothing is allocated per packet.
  /** The requests of the packet being built (at most MAX_XEN_SKB_FRAGS + 1 grants). */
  readonly txReqs: NetifTxRequest[] = Array.from({ length: MAX_XEN_SKB_FRAGS + 1 }, newTxRequest);
  readonly txExtra: NetifExtraInfo = newExtraInfo();
  readonly txRsp = { id: 0, status: 0 };
  readonly rinfo: NetfrontRxInfo = {
    rx: newRxResponse(),
    extras: Array.from({ length: XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP - 1 }, newExtraInfo),
  };
  readonly rxExtra: NetifExtraInfo = newExtraInfo();
  readonly rxReq: NetifRxRequest = newRxRequest();
  /**
   * The validated copy of every response of the packet being assembled (RING_COPY_RESPONSE once:
   * fill_frags uses these copies, never the ring again). A chain spans at most the ring.
   */
  readonly rxRsps: NetifRxResponse[] = Array.from({ length: NET_RX_RING_SIZE }, newRxResponse);
  readonly tmpq = new SkBuffHead();
  readonly rxq = new SkBuffHead();
  readonly errq = new SkBuffHead();
  /** NETFRONT_SKB_CB(skb)->pull_to of the skbs on rxq, in queue order. */
  readonly pullTo = new Int32Array(NET_RX_RING_SIZE);

  constructor(
    readonly info: NetfrontInfo,
    /** Queue ID, 0-based. */
    readonly id: number,
    /** The VCPU running this queue's interrupts, NAPI and timers. */
    readonly vcpu: Vcpu,
  ) {}
}

/** struct netfront_info: the device. */
export class NetfrontInfo {
  queues: NetfrontQueue[] = [];
  /** Is the backend behaving sanely? Set on the first protocol violation; reset on reconnect. */
  broken = false;
  /** Bounce every TX packet to fresh zeroed pages (backend not trusted). */
  bounce = false;
  /** Persistent grants negotiated (we asked and the backend offered feature-persistent). */
  persistent = false;
  /** netif_carrier_ok */
  carrier = false;
  /** Features negotiated with the backend (xennet_fix_features). */
  canSg = false;
  gsoTcpv4 = false;
  gsoTcpv6 = false;
  /** The backend offers feature-xdp-headroom (netback_has_xdp_headroom). */
  netbackHasXdpHeadroom = false;
  /** The headroom written to `xdp-headroom` at the last connect or XDP change (0: none asked). */
  xdpHeadroom = 0;
  /** The attached XDP program (queue->xdp_prog of every queue), or null. */
  xdpProg: XdpProgram | null = null;
  /** A program waiting for the backend's Reconfigured (xennet_xdp_set); undefined when none. */
  xdpPending: XdpProgram | null | undefined = undefined;
  /** dev->mtu (ETH_DATA_LEN until changed). */
  mtu = 1500;
  /** Slots per packet the backend accepts (XEN_NETIF_NR_SLOTS_MIN: nothing negotiates more). */
  maxTxSlots = XEN_NETIF_NR_SLOTS_MIN;
  /** The MAC from xenstore `mac`. */
  readonly mac = new Uint8Array(6);
  /** The xenbus device (frontend end). */
  xbdev!: XenbusDevice;
  /** Teardown done since the last connect (xennet_disconnect_backend). */
  disconnected = true;
  /** Alert lines (dev_alert / dev_warn), the last MAX_ALERTS_KEPT. */
  readonly alerts: string[] = [];
  alertCount = 0;
  /** Stats of queues already torn down (so device totals survive a reconnect). */
  readonly retiredStats = newNetfrontStats();
  readonly retiredRxPathStats = newRxPathStats();
  /**
   * Grants the backend still used when we ended them, each holding its page (gnttab_add_deferred).
   * Bounded without a limit of its own: every entry holds a distinct grant reference that is not
   * reused until it leaves the list, and the grant table is bounded.
   */
  readonly deferred: DeferredGrant[] = [];
  deferredTimerArmed = false;
  deferredRetries = 0;

  constructor(
    readonly env: NetfrontEnv,
    readonly options: NetfrontOptions,
    readonly maxQueues: number,
    readonly napiBudget: number,
  ) {}

  /** The backend's domid (xbdev->otherend_id). */
  get otherendId(): number {
    return this.xbdev.otherendId;
  }

  /** Record an alert (dev_alert/dev_warn): bounded log plus a trace event. */
  alert(queue: NetfrontQueue | null, message: string): void {
    this.alertCount++;
    if (this.alerts.length >= MAX_ALERTS_KEPT) this.alerts.shift();
    this.alerts.push(queue === null ? message : `q${queue.id}: ${message}`);
    const vcpu = queue?.vcpu ?? this.env.domain.vcpus[0];
    this.env.trace.traceEvent(vcpu?.actor.id ?? 0, "netfront.alert", this.env.domain.domid, queue?.id ?? -1);
  }

  /** Mark the device broken: "Disabled for further use". */
  setBroken(queue: NetfrontQueue | null, reason: string): void {
    this.alert(queue, reason);
    if (!this.broken) this.alert(queue, "Disabled for further use");
    this.broken = true;
  }
}

// ------------------------------------------------------------------ grants with deferral

/**
 * gnttab_end_foreign_access(ref, page): end the grant and free the reference; if the backend
 * still maps or copies it, keep the reference and a page reference on the deferred list and retry
 * later, so the page is never reused while another domain can reach it.
 */
export function xennetEndAccessDeferred(np: NetfrontInfo, ref: number, page: Page | null, vcpu: Vcpu): void {
  if (ref === INVALID_GRANT_REF) return;
  const gnttab = np.env.gnttab;
  vcpu.charge(COST_GRANT_ACCESS);
  if (gnttab.endForeignAccessRef(ref)) {
    gnttab.freeGrantReference(ref);
    return;
  }
  if (page === null) throw new NetfrontError("BUG", `grant ${ref} still in use and no page to hold`);
  getPage(page); // the deferred entry keeps the page alive
  np.deferred.push({ ref, page });
  np.deferredRetries = 0;
  armDeferredTimer(np, vcpu);
}

function armDeferredTimer(np: NetfrontInfo, vcpu: Vcpu): void {
  if (np.deferredTimerArmed || np.deferredRetries >= GNTTAB_DEFERRED_MAX_RETRIES) return;
  np.deferredTimerArmed = true;
  np.deferredRetries++;
  np.env.work.setTimer(vcpu, GNTTAB_DEFERRED_RETRY_NS, (v) => {
    np.deferredTimerArmed = false;
    gnttabHandleDeferred(np);
    if (np.deferred.length > 0) armDeferredTimer(np, v);
  });
}

/** gnttab_handle_deferred: retry every deferred grant; returns how many were ended. */
export function gnttabHandleDeferred(np: NetfrontInfo): number {
  const gnttab = np.env.gnttab;
  let kept = 0;
  let ended = 0;
  for (let i = 0; i < np.deferred.length; i++) {
    const d = np.deferred[i] as DeferredGrant;
    if (gnttab.endForeignAccessRef(d.ref)) {
      gnttab.freeGrantReference(d.ref);
      putPage(d.page);
      ended++;
    } else np.deferred[kept++] = d;
  }
  np.deferred.length = kept;
  return ended;
}

