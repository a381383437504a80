/**
 * Building blocks shared by the topologies: a domain's kernel memory (page pool and skb
 * allocator), the toolstack adding a vif, a netfront bound to it, and the teardown audit.
 */
import type { HypercallSnapshot, Vcpu } from "@pvnet/hypervisor";
import { type HeaderCopyMode, type Netback, type NetbackOptions, type TxHypercallMode, XENVIF_RX_QUEUE_MAX_SKBS } from "@pvnet/netback";
import { Netfront, type NetfrontOptions } from "@pvnet/netfront";
import { PagePool, type SkbDesc, SkbAllocator, skbDescLen } from "@pvnet/skb-model";
import { libxlDeviceGenericAdd } from "@pvnet/xenstore";
import { formatMac, MAX_FRAME, minFrameSize } from "../traffic/frame.js";
import { l4Of } from "../traffic/generator.js";
import type { Host, Kernel } from "./host.js";
import type { PhaseTiming } from "./measure.js";

/** Pages for a domain: ring pages and RX buffers (about 260 frames a queue) plus traffic. */
export const PAGES_PER_QUEUE = 2048;
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
   * Persistent grants (SEEDS.md §2, RFC 2015): true enables them in both netfront and netback
   * (each offers `feature-persistent` and the vif uses them); `{ frontend, backend }` enables one
   * side only, which negotiates the copy/map baseline. Default false: the baseline.
   */
  readonly persistent?: boolean | { readonly frontend?: boolean; readonly backend?: boolean };
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
export function netbackDataPath(options: TrafficOptions): Pick<NetbackOptions, "headerCopy" | "txHypercalls" | "persistentGrants"> {
  return {
    ...(options.headerCopy === undefined ? {} : { headerCopy: options.headerCopy }),
    ...(options.txHypercalls === undefined ? {} : { txHypercalls: options.txHypercalls }),
    ...(persistentSides(options).backend ? { persistentGrants: true } : {}),
  };
}
/** Bound on live skbs of one domain's allocator. */
const MAX_SKBS = 4096;

/**
 * A domain's kernel memory: its page pool and skb allocator, charged to the domain's VCPU that
 * runs the allocating or freeing code (the hypervisor's per-CPU cost sink of the domain).
 */
export interface KernelMemory {
  readonly pool: PagePool;
  readonly skbs: SkbAllocator;
}

export function kernelMemory(host: Host, kernel: Kernel, queues: number): KernelMemory {
  const costs = host.hv.cpuCosts(kernel.domain);
  const pool = new PagePool(kernel.domain, { limitFrames: PAGES_PER_QUEUE * (queues + 1), costs });
  return { pool, skbs: new SkbAllocator({ pool, maxSkbs: MAX_SKBS, costs }) };
}

/** Boot a domain sized for `queues` queues: one VCPU per queue plus one for a traffic generator. */
export function bootForQueues(host: Host, name: string, queues: number): Kernel {
  return host.boot(name, PAGES_PER_QUEUE * (queues + 2), queues + 1);
}

/**
 * xl network-attach: the toolstack adds vif `devid` of `guest` (netback, already watching, probes
 * it), then the guest's netfront probes its half. Both walk xenbus to Connected when the
 * simulation runs.
 */
export function attachVif(
  host: Host,
  guest: Kernel,
  memory: KernelMemory,
  options: { readonly devid: number; readonly mac: Uint8Array; readonly queues: number } & Pick<NetfrontOptions, "onReceive" | "onQueueWake" | "persistentGrants">,
): Netfront {
  libxlDeviceGenericAdd(host.toolstack, {
    devicetype: "vif",
    frontendDomid: guest.domain.domid,
    devid: options.devid,
    frontendKeys: { mac: formatMac(options.mac) },
  });
  return new Netfront(
    { ...host.hv.kernelOps(), domain: guest.domain, gnttab: guest.gnttab, xenbus: guest.xenbus, skbs: memory.skbs },
    {
      devid: options.devid,
      maxQueues: options.queues,
      onReceive: options.onReceive,
      ...(options.onQueueWake === undefined ? {} : { onQueueWake: options.onQueueWake }),
      ...(options.persistentGrants === true ? { persistentGrants: true } : {}),
      vcpuOf: (q) => guest.domain.vcpus[q % options.queues] as Vcpu,
    },
  );
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

/** What is left after every vif was detached: every count is 0 when nothing leaked. */
export interface TeardownAudit {
  readonly dom0Grants: { readonly maps: number; readonly handles: number; readonly pins: number };
  readonly guestGrants: { readonly maps: number; readonly handles: number; readonly pins: number };
  readonly netback: Readonly<Record<string, number>>;
  readonly netfront: Readonly<Record<string, number>>;
  readonly dom0PagesInUse: number;
  readonly guestPagesInUse: number;
  readonly eventChannelsOpen: number;
}

/**
 * Detach every frontend (xl network-detach: the frontend closes, the backend follows), run the
 * teardown to completion, and count what is left, summed over the guests.
 */
export function detachAndAudit(
  host: Host,
  dom0: Kernel,
  dom0Memory: KernelMemory,
  netback: Netback,
  guests: ReadonlyArray<{ readonly kernel: Kernel; readonly memory: KernelMemory; readonly netfront: Netfront }>,
): TeardownAudit {
  const { hv } = host;
  for (const g of guests) g.netfront.remove();
  hv.run({ maxEvents: 1_000_000 });
  dom0Memory.skbs.drain();
  const guestGrants = { maps: 0, handles: 0, pins: 0 };
  const netfront: Record<string, number> = {};
  let guestPagesInUse = 0;
  let eventChannelsOpen = hv.evtchnOf(dom0.domain.domid).openPorts().length;
  for (const g of guests) {
    g.memory.skbs.drain();
    const o = host.grants.outstanding(g.kernel.domain);
    guestGrants.maps += o.maps;
    guestGrants.handles += o.handles;
    guestGrants.pins += o.pins;
    for (const [k, v] of Object.entries(g.netfront.outstanding())) netfront[k] = (netfront[k] ?? 0) + v;
    guestPagesInUse += g.memory.pool.pagesInUse;
    eventChannelsOpen += hv.evtchnOf(g.kernel.domain.domid).openPorts().length;
  }
  return {
    dom0Grants: host.grants.outstanding(dom0.domain),
    guestGrants,
    netback: { ...netback.outstanding() },
    netfront,
    dom0PagesInUse: dom0Memory.pool.pagesInUse,
    guestPagesInUse,
    eventChannelsOpen,
  };
}
