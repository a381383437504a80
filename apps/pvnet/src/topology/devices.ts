/**
 * What the topologies share besides the host (@pvnet/host): the traffic options `pvnet run`
 * passes through, their checks, netback's data-path options, and the report every topology gives.
 */
import type { HypercallSnapshot, Vcpu } from "@pvnet/hypervisor";
import {
  defaultLayout,
  type FrameReceiver,
  type GeneratorConfig,
  type Host,
  l4Of,
  MAX_FRAME,
  MAX_TCP_FLOWS,
  minFrameSize,
  type RunHooks,
  type TeardownAudit,
  TrafficGenerator,
  type TrafficSink,
  tcpPayload,
  VifCapture,
  windowPackets,
  writeFrame,
} from "@pvnet/host";
import { type HeaderCopyMode, type NetbackOptions, type TxHypercallMode, XENVIF_RX_QUEUE_BYTES, XENVIF_RX_QUEUE_MAX_SKBS } from "@pvnet/netback";
import { Pktgen, type SkbAllocator, SkbComposer, type SkbDesc, skbDescLen } from "@pvnet/skb-model";
import type { TraceMode } from "@pvnet/sim";
import type { GrantTableStats } from "@pvnet/xen-grant-table";
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
  /**
   * Bulk TCP (`--flows N`, iperf -P N): N flows of `pktSize`-byte TCP segments (GSO above the
   * MTU), `packets` segments in all, each flow's window its share of `windowBytes`, ACKed by the
   * receiver through the reverse path; burst and clone_skbs do not apply.
   */
  readonly flows?: number;
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
  /**
   * The control ring (`--ctrl-ring`): netback offers feature-ctrl-ring, the guest's frontend
   * connects it and sets a Toeplitz hash and mapping over its queues, which then pick the queue
   * of each packet towards the guest (xenvif_select_queue).
   */
  readonly ctrlRing?: boolean;
  /** An XDP program on netfront's receive path (`--xdp`): drop, pass, tx, or an ES module's absolute path. */
  readonly xdp?: string;
  /** What the host's runner calls around and between slices (`pvnet run`'s progress, Ctrl-C, live xenstore). */
  readonly hooks?: RunHooks;
  /** What the trace keeps: full (default), one event in N, or nothing; the report's traceDigest says which. */
  readonly trace?: TraceMode;
  /** Write one libpcap file per vif and direction into this directory (`--pcap`). */
  readonly pcap?: string;
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
  if (options.flows !== undefined) checkFlows(options, options.flows);
  return queues;
}

/** What shapes the data path whatever drives it (the generator, or real traffic from `pvnet tap`). */
export type DataPathOptions = Pick<TrafficOptions, "persistent" | "rxBuildSkb" | "xdp" | "headerCopy" | "txHypercalls" | "pcap" | "ctrlRing">;

/** --flows: TCP segments of their own layout, each flow's window at least a segment, all of them within netback's RX queue. */
function checkFlows(options: TrafficOptions, flows: number): void {
  if (!Number.isInteger(flows) || flows < 1 || flows > MAX_TCP_FLOWS) throw new RangeError(`--flows must be 1..${MAX_TCP_FLOWS}`);
  if (options.pktSize < minFrameSize("tcp")) throw new RangeError(`--flows sends TCP segments: --pkt-size must be at least ${minFrameSize("tcp")}`);
  if (options.layout !== undefined || (options.cloneSkbs ?? 0) > 0 || (options.burst ?? 1) > 1 || options.xdp !== undefined) {
    throw new RangeError("--flows builds its own TCP segments: no --layout, --clone-skbs, --burst or --xdp");
  }
  const window = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const segment = tcpPayload(options.pktSize);
  if (window < flows * segment) throw new RangeError(`--window-bytes ${window} leaves each of ${flows} flows less than one ${segment}-byte segment`);
  // Retransmission is not modelled: no segment may find netback's RX queue full (Linux drops it).
  if (window > XENVIF_RX_QUEUE_BYTES) throw new RangeError(`with --flows, --window-bytes is at most ${XENVIF_RX_QUEUE_BYTES} (netback's RX queue; TCP retransmission is not modelled)`);
}

/** Which side asked for persistent grants. */
export function persistentSides(options: DataPathOptions): { readonly frontend: boolean; readonly backend: boolean } {
  const pg = options.persistent;
  return {
    frontend: pg === true || (typeof pg === "object" && pg.frontend === true),
    backend: pg === true || (typeof pg === "object" && pg.backend === true),
  };
}

/** netback's data-path options from a topology's options (hooks are the topology's own). */
export function netbackDataPath(options: DataPathOptions): Pick<NetbackOptions, "headerCopy" | "txHypercalls" | "persistentGrants" | "xdpHeadroom" | "ctrlRing"> {
  return {
    ...(options.ctrlRing === true ? { ctrlRing: true } : {}),
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
  /**
   * netback's debugfs files after the traffic, before teardown (`xenvifDebugfs` of each vif:
   * `vif1.0/io_ring_q0`, and `vif1.0/pgrants_q0` with persistent grants).
   */
  readonly debugfs: Readonly<Record<string, string>>;
  /** The grant table's counters after the traffic: ops, bytes copied, TLB flushes done and avoided, mappings touched. */
  readonly grantTable: GrantTableStats;
  /** Equal for equal options and seed. */
  readonly traceDigest: string;
  /** The pcap files written (`--pcap`), each with its packet count. */
  readonly pcap?: ReadonlyArray<{ readonly path: string; readonly packets: number }>;
  /**
   * What was left after the guests removed their vifs (xl network-detach) and both sides tore
   * down: every count is 0 when nothing leaked.
   */
  readonly teardown: TeardownAudit;
}


/**
 * pktgen on `vcpu`: `options.packets` frames built in `skbs` (the options' layout and clone_skbs,
 * frame `seq` on flow `seq mod queues`), handed out in the options' bursts within their window,
 * through `link` (the driver's transmit, and what it counts dropped).
 */
export function pktgenGenerator(
  host: Host,
  vcpu: Vcpu,
  skbs: SkbAllocator,
  options: TrafficOptions,
  queues: number,
  receiver: FrameReceiver,
  link: Pick<GeneratorConfig, "transmit" | "stopped" | "dropped">,
  macs: { readonly dstMac?: Uint8Array; readonly srcMac?: Uint8Array } = {},
): TrafficGenerator {
  const l4 = l4Of(options.pktSize);
  const pktgen = new Pktgen(new SkbComposer(skbs), {
    desc: options.layout ?? defaultLayout(options.pktSize),
    cloneSkbs: options.cloneSkbs ?? 0,
    fill: (seq, payload) => writeFrame(payload, { flow: seq % queues, seq: Math.floor(seq / queues), size: payload.length, l4, ...macs }),
  });
  return new TrafficGenerator({
    hv: host.hv,
    vcpu,
    pktgen,
    packets: options.packets,
    burst: options.burst ?? 1,
    window: windowPackets(options.windowBytes ?? DEFAULT_WINDOW_BYTES, options.pktSize, MAX_WINDOW_PACKETS),
    receiver,
    ...link,
  });
}

/** What every traffic report says of the frames: sent, delivered, dropped, verified (a {@link TrafficReport}'s counts). */
export function deliveryCounts(
  options: { readonly pktSize: number; readonly seed: number },
  persistent: { readonly frontend: boolean; readonly backend: boolean },
  packetsSent: number,
  sink: TrafficSink,
) {
  return {
    pktSize: options.pktSize,
    seed: options.seed,
    persistent: persistent.frontend && persistent.backend,
    packetsSent,
    packetsDelivered: sink.delivered,
    bytesDelivered: sink.bytes,
    dropped: Math.max(0, packetsSent - sink.delivered - sink.corrupt),
    corrupt: sink.corrupt,
    outOfOrder: sink.outOfOrder,
  };
}

/**
 * The capture of a run with `--pcap DIR`, or undefined. A frame's timestamp is the virtual time
 * it was captured at: the latest local clock of any VCPU (each runs ahead of the global clock
 * within its event), which never goes back, so the files are in time order.
 */
export function vifCapture(host: Host, options: DataPathOptions): VifCapture | undefined {
  if (options.pcap === undefined) return undefined;
  const { sim } = host.hv;
  return new VifCapture(options.pcap, () => {
    let t = sim.clock.now();
    for (const a of sim.allActors()) if (a.nowNs > t) t = a.nowNs;
    return t;
  });
}
