/**
 * What the topologies share besides the host (@pvnet/host): the traffic options `pvnet run`
 * passes through, their checks, netback's data-path options, and the report every topology gives.
 */
import type { HypercallSnapshot } from "@pvnet/hypervisor";
import { MAX_FRAME, minFrameSize, l4Of, type RunHooks, type TeardownAudit } from "@pvnet/host";
import { type HeaderCopyMode, type NetbackOptions, type TxHypercallMode, XENVIF_RX_QUEUE_MAX_SKBS } from "@pvnet/netback";
import { type SkbDesc, skbDescLen } from "@pvnet/skb-model";
import type { TraceMode } from "@pvnet/sim";
import type { PhaseTiming } from "./measure.js";

/**
 * Default in-flight bound of a topology's generator: half of netback's RX internal queue
 * (XENVIF_RX_QUEUE_BYTES, 512 KiB), so a well-behaved sender never overruns it.
 */
export const DEFAULT_WINDOW_BYTES = 256 * 1024;
/** The window also holds at most half of netback's per-queue skb bound (XENVIF_RX_QUEUE_MAX_SKBS). */
export const MAX_WINDOW_PACKETS = XENVIF_RX_QUEUE_MAX_SKBS / 2;
/** Bound on scheduler events of one run per packet: a livelocked model stops instead of spinning. */
export const MAX_EVENTS_PER_PACKET = 10_000;
/** Scheduler events allowed to connect or tear down a topology. */
export const SETUP_EVENTS = 1_000_000;

/** What every topology's traffic can be shaped with (the options `pvnet run` passes through). */
export interface TrafficOptions {
  readonly seed: number;
  /** Frame size in bytes (Ethernet header included); above 1514 the frame is a TCP GSO packet. */
  readonly pktSize: number;
  readonly packets: number;
  /** Queues each frontend asks for (multi-queue-num-queues), one flow per queue. */
  readonly queues?: number;
  /** pktgen burst: packets handed to the driver per generator step. */
  readonly burst?: number;
  /** pktgen clone_skbs: times one skb is resent before a fresh one is built (0: fresh each time). */
  readonly cloneSkbs?: number;
  /**
   * Bytes the sender keeps in flight at most (sent, not yet delivered or counted dropped), like a
   * TCP window. 0 sends as fast as the driver takes packets, as pktgen does: then netback's RX
   * path drops, as Linux does, the packet that finds its internal queue full.
   */
  readonly windowBytes?: number;
  /** Override the packet layout (linear length, frags...); the frame bytes are still stamped. */
  readonly layout?: SkbDesc;
  readonly headerCopy?: HeaderCopyMode;
  readonly txHypercalls?: TxHypercallMode;
  /**
   * Persistent grants (xen-devel RFC, May 2015): true enables them in both netfront and netback
   * (each offers `feature-persistent` and the vif uses them); `{ frontend, backend }` enables one
   * side only, which negotiates the copy/map baseline. Default false: the baseline.
   */
  readonly persistent?: boolean | { readonly frontend?: boolean; readonly backend?: boolean };
  /** netfront receives with build_skb around the page (`--rx-build-skb`); netback then offers feature-xdp-headroom. */
  readonly rxBuildSkb?: boolean;
  /** An XDP program on netfront's receive path (`--xdp`): drop, pass, tx, or an ES module's absolute path. */
  readonly xdp?: string;
  /** What the host's runner calls around and between slices (`pvnet run`'s progress, Ctrl-C, live xenstore). */
  readonly hooks?: RunHooks;
  /** What the trace keeps: full (default), one event in N, or nothing; the report's traceDigest says which. */
  readonly trace?: TraceMode;
}

/** Check a topology's traffic options; returns the queue count. Bad values are RangeErrors. */
export function checkTrafficOptions(options: TrafficOptions): number {
  const queues = options.queues ?? 1;
  const l4 = l4Of(options.pktSize);
  if (!Number.isInteger(options.pktSize) || options.pktSize < minFrameSize(l4) || options.pktSize > MAX_FRAME) {
    throw new RangeError(`--pkt-size must be ${minFrameSize("udp")}..${MAX_FRAME}`);
  }
  if (!Number.isInteger(queues) || queues < 1 || queues > 8) throw new RangeError("--queues must be 1..8");
  if (!Number.isInteger(options.packets) || options.packets < 1) throw new RangeError("--packets must be at least 1");
  if (options.layout !== undefined && skbDescLen(options.layout) !== options.pktSize) {
    throw new RangeError(`the layout holds ${skbDescLen(options.layout)} bytes, not --pkt-size ${options.pktSize}`);
  }
  return queues;
}

/** Which side asked for persistent grants. */
export function persistentSides(options: TrafficOptions): { readonly frontend: boolean; readonly backend: boolean } {
  const pg = options.persistent;
  return {
    frontend: pg === true || (typeof pg === "object" && pg.frontend === true),
    backend: pg === true || (typeof pg === "object" && pg.backend === true),
  };
}

/** netback's data-path options from a topology's options (hooks are the topology's own). */
export function netbackDataPath(options: TrafficOptions): Pick<NetbackOptions, "headerCopy" | "txHypercalls" | "persistentGrants" | "xdpHeadroom"> {
  return {
    ...(options.rxBuildSkb === true || options.xdp !== undefined ? { xdpHeadroom: true } : {}),
    ...(options.headerCopy === undefined ? {} : { headerCopy: options.headerCopy }),
    ...(options.txHypercalls === undefined ? {} : { txHypercalls: options.txHypercalls }),
    ...(persistentSides(options).backend ? { persistentGrants: true } : {}),
  };
}
/** What every topology's report holds (the JSON of `pvnet run`), besides its own counters. */
export interface TrafficReport extends PhaseTiming {
  readonly pktSize: number;
  readonly queues: number;
  readonly seed: number;
  /** Persistent grants asked for on both sides; the vifs' `persistent_grants` counter says whether they were used. */
  readonly persistent: boolean;
  readonly packetsSent: number;
  readonly packetsDelivered: number;
  readonly bytesDelivered: number;
  /** Packets sent and never delivered (dropped by a driver, or lost). */
  readonly dropped: number;
  /** Delivered frames whose bytes did not verify. */
  readonly corrupt: number;
  readonly outOfOrder: number;
  /** Hypercalls of connection and traffic (teardown's unmaps and closes are not part of the run). */
  readonly hypercalls: HypercallSnapshot;
  /** Equal for equal options and seed. */
  readonly traceDigest: string;
  /**
   * What was left after the guests removed their vifs (xl network-detach) and both sides tore
   * down: every count is 0 when nothing leaked.
   */
  readonly teardown: TeardownAudit;
}

