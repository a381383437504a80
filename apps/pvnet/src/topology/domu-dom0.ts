/**
 * The DomU <-> Dom0 topology: a guest with netfront, Dom0 with netback and a host stack, connected
 * through xenstore by the toolstack exactly as libxl does, with a pktgen-like generator on the
 * sending side and a verifying sink on the receiving side. The two drivers share nothing but
 * machine memory, event channels and xenstore keys.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import { type HeaderCopyMode, Netback, type TxHypercallMode, XENVIF_RX_QUEUE_MAX_SKBS, type Xenvif, xenvifStartXmit } from "@pvnet/netback";
import { NETDEV_TX_OK, Netfront } from "@pvnet/netfront";
import { CHECKSUM_PARTIAL, PagePool, Pktgen, SKB_GSO_TCPV4, SkbAllocator, type SkBuff, SkbComposer, type SkbDesc, skbDescLen } from "@pvnet/skb-model";
import type { CostProfile } from "@pvnet/sim";
import type { MaptrackVariant } from "@pvnet/xen-grant-table";
import { libxlDeviceGenericAdd } from "@pvnet/xenstore";
import { type L4, MAX_FRAME, minFrameSize, writeFrame } from "../traffic/frame.js";
import { TrafficSink } from "../traffic/sink.js";
import { Host, type Kernel } from "./host.js";

export type Direction = "tx" | "rx";

export interface DomuDom0Options {
  readonly seed: number;
  /** tx: guest -> Dom0 (netfront TX, netback TX path); rx: Dom0 -> guest. */
  readonly direction: Direction;
  /** Frame size in bytes (Ethernet header included); above 1514 the frame is a TCP GSO packet. */
  readonly pktSize: number;
  readonly packets: number;
  /** Queues the frontend asks for (multi-queue-num-queues). */
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
  readonly maptrack?: MaptrackVariant;
  readonly profile?: CostProfile;
  /**
   * Persistent grants (SEEDS.md §2, RFC 2015): true enables them in both netfront and netback
   * (each offers `feature-persistent` and the vif uses them); `{ frontend, backend }` enables one
   * side only, which negotiates the copy/map baseline. Default false: the baseline.
   */
  readonly persistent?: boolean | { readonly frontend?: boolean; readonly backend?: boolean };
  /** Serve the live xenstore on this unix socket while the run lasts. */
  readonly xenstoreSocket?: string;
}

/** What one run reports (the JSON of `pvnet run`). */
export interface RunReport {
  readonly topology: "domu-dom0";
  readonly direction: Direction;
  readonly pktSize: number;
  readonly queues: number;
  readonly seed: number;
  /** Persistent grants asked for on both sides; `counters.persistent_grants` says whether the vif used them. */
  readonly persistent: boolean;
  readonly packetsSent: number;
  readonly packetsDelivered: number;
  readonly bytesDelivered: number;
  /** Packets sent and never delivered (dropped by a driver, or lost). */
  readonly dropped: number;
  /** Delivered frames whose bytes did not verify. */
  readonly corrupt: number;
  readonly outOfOrder: number;
  readonly counters: Readonly<Record<string, number>>;
  readonly frontend: Readonly<Record<string, number>>;
  readonly hypercalls: { readonly entries: number; readonly multicalls: number; readonly byOp: Readonly<Record<string, { calls: number; ops: number }>> };
  /** Wall-clock speed of the model on this machine. */
  readonly wall: { readonly seconds: number; readonly mpps: number; readonly gbit: number };
  /** What the cost profile predicts a real host would do: virtual time of the traffic phase. */
  readonly modelled: {
    readonly profile: string;
    readonly seconds: number;
    readonly mpps: number;
    readonly gbit: number;
    readonly busyNs: Readonly<Record<string, number>>;
  };
  readonly traceDigest: string;
  /**
   * What was left after the guest removed its vif (xl network-detach) and both sides tore down:
   * every count is 0 when nothing leaked.
   */
  readonly teardown: {
    readonly dom0Grants: { readonly maps: number; readonly handles: number; readonly pins: number };
    readonly guestGrants: { readonly maps: number; readonly handles: number; readonly pins: number };
    readonly netback: Readonly<Record<string, number>>;
    readonly netfront: Readonly<Record<string, number>>;
    readonly dom0PagesInUse: number;
    readonly guestPagesInUse: number;
    readonly eventChannelsOpen: number;
  };
}

/** Largest frame kept linear: a standard Ethernet MTU frame. Larger frames are TCP GSO. */
export const MAX_LINEAR_FRAME = 1514;
/** Linear bytes of a GSO frame (headers and stamp); the rest sits in 32 KiB compound-page frags. */
const GSO_LINEAR = 70;
/** MSS of the generated GSO frames (a 1500-byte MTU TCP/IPv4 segment). */
export const GSO_MSS = 1448;
/** Pages for a domain: ring pages and RX buffers (about 260 frames a queue) plus traffic. */
const PAGES_PER_QUEUE = 2048;
/**
 * Default in-flight bound: half of netback's RX internal queue (XENVIF_RX_QUEUE_BYTES, 512 KiB),
 * so a well-behaved sender never overruns it.
 */
export const DEFAULT_WINDOW_BYTES = 256 * 1024;
/** The window also holds at most half of netback's per-queue skb bound (XENVIF_RX_QUEUE_MAX_SKBS). */
const MAX_WINDOW_PACKETS = XENVIF_RX_QUEUE_MAX_SKBS / 2;
/** Bound on scheduler events of one run: a livelocked model stops instead of spinning. */
const MAX_EVENTS_PER_PACKET = 10_000;

/** The layout pktgen builds for a frame size: linear up to 1514 bytes, else a TCP GSO skb. */
export function defaultLayout(pktSize: number): SkbDesc {
  if (pktSize <= MAX_LINEAR_FRAME) return { linearLen: pktSize };
  const frags = [];
  for (let left = pktSize - GSO_LINEAR; left > 0; left -= 32768) frags.push({ size: Math.min(left, 32768), offset: 0, order: 3 });
  return { linearLen: GSO_LINEAR, frags, gso: { size: GSO_MSS, type: SKB_GSO_TCPV4 } };
}

function l4Of(pktSize: number): L4 {
  return pktSize <= MAX_LINEAR_FRAME ? "udp" : "tcp";
}

/** Build the topology, connect it, send `packets` frames one way, and report. */
export async function runDomuDom0(options: DomuDom0Options): Promise<RunReport> {
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

  const host = new Host({
    seed: options.seed,
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.maptrack === undefined ? {} : { maptrack: options.maptrack }),
  });
  // One VCPU per queue in each domain, plus one for the traffic generator.
  const dom0 = host.boot("Domain-0", PAGES_PER_QUEUE * (queues + 2), queues + 1);
  const guest = host.boot("guest", PAGES_PER_QUEUE * (queues + 2), queues + 1);
  if (options.xenstoreSocket !== undefined) await host.serveXenstore(options.xenstoreSocket);
  try {
    return runTraffic(host, dom0, guest, options, queues, l4);
  } finally {
    await host.close();
  }
}

function runTraffic(host: Host, dom0: Kernel, guest: Kernel, options: DomuDom0Options, queues: number, l4: L4): RunReport {
  const { hv } = host;
  const pg = options.persistent;
  const frontendPersistent = pg === true || (typeof pg === "object" && pg.frontend === true);
  const backendPersistent = pg === true || (typeof pg === "object" && pg.backend === true);
  const sink = new TrafficSink();
  const frame = new Uint8Array(MAX_FRAME);
  // Virtual time of the last delivery: the end of the traffic phase (timers that fire later, like
  // netback's drain timeout for an empty queue, are not traffic).
  let lastDeliveryNs = 0;
  let waitingForWindow = false;
  let wakeForWindow: () => void = () => {};
  const deliver = (skb: SkBuff) => {
    for (const a of hv.sim.allActors()) if (a.nowNs > lastDeliveryNs) lastDeliveryNs = a.nowNs;
    const len = skb.len;
    skb.copyBits(0, frame, 0, len);
    skb.free();
    sink.receive(frame.subarray(0, len));
    if (waitingForWindow) wakeForWindow();
  };

  // Dom0: netback and the host stack.
  const dom0Pool = new PagePool(dom0.domain, { limitFrames: PAGES_PER_QUEUE * (queues + 1), costs: dom0.vcpu0 });
  const dom0Skbs = new SkbAllocator({ pool: dom0Pool, maxSkbs: 4096, costs: dom0.vcpu0 });
  let vif: Xenvif | undefined;
  let rxStopped = false;
  let wakeRxGenerator: () => void = () => {};
  const netback = new Netback(
    { hv, domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Skbs },
    {
      ...(options.headerCopy === undefined ? {} : { headerCopy: options.headerCopy }),
      ...(options.txHypercalls === undefined ? {} : { txHypercalls: options.txHypercalls }),
      ...(backendPersistent ? { persistentGrants: true } : {}),
      onConnect: (v) => {
        vif = v;
      },
      onReceive: (_v, skb) => deliver(skb),
      onQueueStop: () => {
        rxStopped = true;
      },
      onQueueWake: () => {
        rxStopped = false;
        wakeRxGenerator();
      },
    },
  );

  // The toolstack adds the vif (xl network-attach); netback probes it; the guest's
  // netfront probes its half (xenbus_probe_frontend); both walk xenbus to Connected.
  libxlDeviceGenericAdd(host.toolstack, {
    devicetype: "vif",
    frontendDomid: guest.domain.domid,
    devid: 0,
    frontendKeys: { mac: "00:16:3e:00:00:01" },
  });

  // DomU: netfront and the guest stack.
  const guestPool = new PagePool(guest.domain, { limitFrames: PAGES_PER_QUEUE * (queues + 1), costs: guest.vcpu0 });
  const guestSkbs = new SkbAllocator({ pool: guestPool, maxSkbs: 4096, costs: guest.vcpu0 });
  let wakeTxGenerator: () => void = () => {};
  const netfront = new Netfront(
    { hv, domain: guest.domain, gnttab: guest.gnttab, xenbus: guest.xenbus, skbs: guestSkbs },
    {
      devid: 0,
      maxQueues: queues,
      onReceive: (skb) => deliver(skb),
      onQueueWake: () => wakeTxGenerator(),
      vcpuOf: (q) => guest.domain.vcpus[q % queues] as Vcpu,
      ...(frontendPersistent ? { persistentGrants: true } : {}),
    },
  );

  hv.run({ maxEvents: 1_000_000 });
  const connectedVif = vif;
  if (!netfront.connected || connectedVif === undefined) {
    throw new Error(`the vif did not connect (frontend ${netfront.state}, backend ${vif === undefined ? "no vif" : "vif"})`);
  }

  // The generator: pktgen on its own VCPU of the sending domain.
  const sender = options.direction === "tx" ? guest : dom0;
  const genVcpu = sender.domain.vcpus[queues] as Vcpu;
  const composer = new SkbComposer(options.direction === "tx" ? guestSkbs : dom0Skbs);
  const flows = queues;
  const pktgen = new Pktgen(composer, {
    desc: options.layout ?? defaultLayout(options.pktSize),
    cloneSkbs: options.cloneSkbs ?? 0,
    fill: (seq, payload) => writeFrame(payload, { flow: seq % flows, seq: Math.floor(seq / flows), size: payload.length, l4 }),
  });
  const burst = options.burst ?? 1;
  const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const windowPackets = windowBytes === 0 ? Number.POSITIVE_INFINITY : Math.min(MAX_WINDOW_PACKETS, Math.max(1, Math.floor(windowBytes / options.pktSize)));
  /** Packets a driver counted as dropped: they will never be delivered. */
  const driverDrops = () => (options.direction === "tx" ? netfront.stats().txDropped : connectedVif.counters().tx_dropped);
  const inFlight = () => sent - sink.delivered - sink.corrupt - driverDrops();
  let sent = 0;
  let held: SkBuff | null = null;
  let scheduled = false;
  const step = (v: Vcpu) => {
    scheduled = false;
    for (let k = 0; k < burst && sent < options.packets; k++) {
      if (options.direction === "rx" && rxStopped) return; // woken by onQueueWake
      // Cheap bound first: driver counters are summed only when the window may be full.
      if (sent - sink.delivered >= windowPackets && inFlight() >= windowPackets) {
        waitingForWindow = true; // woken by a delivery
        return;
      }
      const skb = held ?? pktgen.next();
      held = null;
      if (skb === null) break; // out of memory: retry on the next step
      if (skb.ipSummed === 0 && skb.shinfo.gsoSize !== 0) skb.ipSummed = CHECKSUM_PARTIAL;
      if (options.direction === "tx") {
        if (netfront.startXmit(skb, v) !== NETDEV_TX_OK) {
          held = skb; // NETDEV_TX_BUSY: the queue is stopped, onQueueWake resumes
          return;
        }
      } else {
        xenvifStartXmit(connectedVif, skb);
      }
      sent++;
    }
    if (sent < options.packets) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    hv.runOn(genVcpu, Math.max(hv.sim.clock.now(), genVcpu.actor.nowNs), step);
  };
  wakeTxGenerator = schedule;
  wakeRxGenerator = schedule;
  wakeForWindow = () => {
    waitingForWindow = false;
    schedule();
  };

  const busyBefore = new Map(hv.sim.allActors().map((a) => [a.name, a.account.busyNs]));
  const t0 = hv.sim.clock.now();
  const wall0 = performance.now();
  schedule();
  const result = hv.run({ maxEvents: options.packets * MAX_EVENTS_PER_PACKET + 1_000_000 });
  const wallSeconds = (performance.now() - wall0) / 1000;
  if (result.reason !== "idle") throw new Error(`the run did not settle: ${result.reason} after ${result.events} events`);
  const virtualNs = Math.max(0, lastDeliveryNs - t0);

  if (held !== null) (held as SkBuff).free();
  pktgen.stop();
  const busyNs: Record<string, number> = {};
  for (const a of hv.sim.allActors()) busyNs[a.name] = Math.round(a.account.busyNs - (busyBefore.get(a.name) ?? 0));
  const bytes = sink.bytes;
  const numQueues = netfront.numQueues;
  // Hypercalls of connection and traffic; teardown's unmaps and closes are not part of the run.
  const hypercalls = hv.stats.snapshot();
  // xl network-detach: the frontend closes, the backend follows; then count what is left.
  netfront.remove();
  hv.run({ maxEvents: 1_000_000 });
  dom0Skbs.drain();
  guestSkbs.drain();
  const teardown = {
    dom0Grants: host.grants.outstanding(dom0.domain),
    guestGrants: host.grants.outstanding(guest.domain),
    netback: { ...netback.outstanding() },
    netfront: { ...netfront.outstanding() },
    dom0PagesInUse: dom0Pool.pagesInUse,
    guestPagesInUse: guestPool.pagesInUse,
    eventChannelsOpen: hv.evtchnOf(dom0.domain.domid).openPorts().length + hv.evtchnOf(guest.domain.domid).openPorts().length,
  };
  const report: RunReport = {
    topology: "domu-dom0",
    direction: options.direction,
    pktSize: options.pktSize,
    queues: numQueues,
    seed: options.seed,
    persistent: frontendPersistent && backendPersistent,
    packetsSent: sent,
    packetsDelivered: sink.delivered,
    bytesDelivered: bytes,
    dropped: Math.max(0, sent - sink.delivered - sink.corrupt),
    corrupt: sink.corrupt,
    outOfOrder: sink.outOfOrder,
    counters: { ...connectedVif.counters() },
    frontend: { ...netfront.stats() },
    hypercalls,
    wall: { seconds: wallSeconds, mpps: sink.delivered / wallSeconds / 1e6, gbit: (bytes * 8) / wallSeconds / 1e9 },
    modelled: {
      profile: hv.sim.costs.profile.name,
      seconds: virtualNs / 1e9,
      mpps: virtualNs > 0 ? sink.delivered / (virtualNs / 1e3) : 0,
      gbit: virtualNs > 0 ? (bytes * 8) / virtualNs : 0,
      busyNs,
    },
    traceDigest: hv.sim.trace.digest(),
    teardown,
  };
  return report;
}
