/**
 * The DomU <-> Dom0 topology: a guest with netfront, Dom0 with netback and a host stack, connected
 * through xenstore by the toolstack exactly as libxl does, with a pktgen-like generator on the
 * sending side and a verifying sink on the receiving side. The two drivers share nothing but
 * machine memory, event channels and xenstore keys.
 */
import {
  attachVif,
  bootForQueues,
  defaultLayout,
  detachAndAudit,
  Host,
  kernelMemory,
  l4Of,
  TrafficGenerator,
  windowPackets,
  writeFrame,
  xenMac,
} from "@pvnet/host";
import type { Vcpu } from "@pvnet/hypervisor";
import { Netback, type Xenvif, xenvifStartXmit } from "@pvnet/netback";
import { NETDEV_TX_OK, type XdpProgram } from "@pvnet/netfront";
import { Pktgen, SkbComposer } from "@pvnet/skb-model";
import type { CostProfile } from "@pvnet/sim";
import type { MaptrackVariant } from "@pvnet/xen-grant-table";
import {
  checkTrafficOptions,
  DEFAULT_WINDOW_BYTES,
  MAX_EVENTS_PER_PACKET,
  MAX_WINDOW_PACKETS,
  netbackDataPath,
  persistentSides,
  SETUP_EVENTS,
  type TrafficOptions,
  type TrafficReport,
} from "./devices.js";
import { runTrafficPhase } from "./measure.js";
import { loadXdpProgram, xdpConsumed } from "./xdp-program.js";

export type Direction = "tx" | "rx";

export interface DomuDom0Options extends TrafficOptions {
  /** tx: guest -> Dom0 (netfront TX, netback TX path); rx: Dom0 -> guest. */
  readonly direction: Direction;
  readonly maptrack?: MaptrackVariant;
  readonly profile?: CostProfile;
  /** Serve the live xenstore on this unix socket while the run lasts. */
  readonly xenstoreSocket?: string;
  /** The guest's netfront busy-polls its TX ring as a MiniOS guest does (netfront `busyPoll`). */
  readonly busyPoll?: boolean;
}

/** What one DomU <-> Dom0 run reports. */
export interface RunReport extends TrafficReport {
  readonly topology: "domu-dom0";
  readonly direction: Direction;
  /** The vif's counters (ethtool -S names, net_device stats, model_* counts). */
  readonly counters: Readonly<Record<string, number>>;
  /** netfront's counters. */
  readonly frontend: Readonly<Record<string, number>>;
  /** netfront's build_skb / XDP counters (only with --rx-build-skb or --xdp). */
  readonly frontendRxPath?: Readonly<Record<string, number>>;
}

export { DEFAULT_WINDOW_BYTES };
export { defaultLayout, GSO_MSS, MAX_LINEAR_FRAME } from "@pvnet/host";

/** The guest's MAC address (xenstore `mac` of its vif). */
const GUEST_MAC = xenMac(1);

/** Build the topology, connect it, send `packets` frames one way, and report. */
export async function runDomuDom0(options: DomuDom0Options): Promise<RunReport> {
  const queues = checkTrafficOptions(options);
  const host = new Host({
    seed: options.seed,
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.maptrack === undefined ? {} : { maptrack: options.maptrack }),
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
  });
  const dom0 = bootForQueues(host, "Domain-0", queues);
  const guest = bootForQueues(host, "guest", queues);
  if (options.xenstoreSocket !== undefined) await host.serveXenstore(options.xenstoreSocket);
  try {
    const xdp = options.xdp === undefined ? null : await loadXdpProgram(options.xdp);
    return runTraffic(host, dom0, guest, options, queues, xdp);
  } finally {
    await host.close();
  }
}

function runTraffic(host: Host, dom0: ReturnType<typeof bootForQueues>, guest: ReturnType<typeof bootForQueues>, options: DomuDom0Options, queues: number, xdp: XdpProgram | null = null): RunReport {
  const { hv } = host;
  const persistent = persistentSides(options);
  const receiver = host.frameReceiver();

  // Dom0: netback and the host stack (which receives guest TX, and sends guest RX).
  const dom0Memory = kernelMemory(host, dom0, queues);
  let vif: Xenvif | undefined;
  let rxStopped = false;
  let wakeGenerator: () => void = () => {};
  const netback = new Netback(
    { ...hv.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    {
      ...netbackDataPath(options),
      onConnect: (v) => {
        vif = v;
      },
      onReceive: (_v, skb) => receiver.deliver(skb),
      onQueueStop: () => {
        rxStopped = true;
      },
      onQueueWake: () => {
        rxStopped = false;
        wakeGenerator();
      },
    },
  );

  // DomU: the toolstack adds the vif, the guest's netfront connects to netback.
  const guestMemory = kernelMemory(host, guest, queues);
  const netfront = attachVif(host, guest, guestMemory, {
    devid: 0,
    mac: GUEST_MAC,
    queues,
    onReceive: (skb) => receiver.deliver(skb),
    onQueueWake: () => wakeGenerator(),
    persistentGrants: persistent.frontend,
    ...(options.busyPoll === true ? { busyPoll: true } : {}),
    ...(options.rxBuildSkb === true ? { rxBuildSkb: true } : {}),
  });
  host.run({ maxEvents: SETUP_EVENTS });
  if (xdp !== null) {
    // ip link set dev eth0 xdp ...: through xenstore (Reconfiguring / Reconfigured).
    const err = netfront.setXdp(xdp);
    if (err !== 0) throw new Error(`attaching the XDP program failed (${err})`);
    host.run({ maxEvents: SETUP_EVENTS });
  }
  const connectedVif = vif;
  if (!netfront.connected || connectedVif === undefined) {
    throw new Error(`the vif did not connect (frontend ${netfront.state}, backend ${vif === undefined ? "no vif" : "vif"})`);
  }

  // The generator: pktgen on its own VCPU of the sending domain.
  const tx = options.direction === "tx";
  const sender = tx ? guest : dom0;
  const l4 = l4Of(options.pktSize);
  const pktgen = new Pktgen(new SkbComposer(tx ? guestMemory.skbs : dom0Memory.skbs), {
    desc: options.layout ?? defaultLayout(options.pktSize),
    cloneSkbs: options.cloneSkbs ?? 0,
    fill: (seq, payload) => writeFrame(payload, { flow: seq % queues, seq: Math.floor(seq / queues), size: payload.length, l4 }),
  });
  const generator = new TrafficGenerator({
    hv,
    vcpu: sender.domain.vcpus[queues] as Vcpu,
    pktgen,
    packets: options.packets,
    burst: options.burst ?? 1,
    window: windowPackets(options.windowBytes ?? DEFAULT_WINDOW_BYTES, options.pktSize, MAX_WINDOW_PACKETS),
    receiver,
    transmit: tx
      ? (skb, v) => netfront.startXmit(skb, v) === NETDEV_TX_OK
      : (skb) => {
          xenvifStartXmit(connectedVif, skb);
          return true;
        },
    ...(tx ? {} : { stopped: () => rxStopped }),
    dropped: () => (tx ? netfront.stats().txDropped : connectedVif.counters().tx_dropped + xdpConsumed(netfront)),
  });
  wakeGenerator = () => generator.wake();

  const timing = runTrafficPhase(host, generator, receiver, options.packets * MAX_EVENTS_PER_PACKET + SETUP_EVENTS);
  const { sink } = receiver;

  const numQueues = netfront.numQueues;
  // Hypercalls of connection and traffic; teardown's unmaps and closes are not part of the run.
  const hypercalls = hv.stats.snapshot();
  const counters = { ...connectedVif.counters() };
  const frontend = { ...netfront.stats() };
  const rxPath = options.rxBuildSkb === true || xdp !== null ? { frontendRxPath: { ...netfront.rxPathStats() } } : {};
  const teardown = detachAndAudit(host, dom0, dom0Memory, netback, [{ kernel: guest, memory: guestMemory, netfront }]);
  return {
    topology: "domu-dom0",
    direction: options.direction,
    pktSize: options.pktSize,
    queues: numQueues,
    seed: options.seed,
    persistent: persistent.frontend && persistent.backend,
    packetsSent: generator.sent,
    packetsDelivered: sink.delivered,
    bytesDelivered: sink.bytes,
    dropped: Math.max(0, generator.sent - sink.delivered - sink.corrupt),
    corrupt: sink.corrupt,
    outOfOrder: sink.outOfOrder,
    counters,
    frontend,
    ...rxPath,
    hypercalls,
    ...timing,
    traceDigest: hv.sim.trace.digest(),
    teardown,
  };
}
