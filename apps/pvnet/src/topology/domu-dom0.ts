/**
 * The DomU <-> Dom0 topology: a guest with netfront, Dom0 with netback and a host stack, connected
 * through xenstore by the toolstack exactly as libxl does, with a pktgen-like generator on the
 * sending side and a verifying sink on the receiving side. The two drivers share nothing but
 * machine memory, event channels and xenstore keys.
 */
import {
  attachVif,
  bootForQueues,
  detachAndAudit,
  Host,
  kernelMemory,
  type VifCapture,
  xenMac,
} from "@pvnet/host";
import type { Vcpu } from "@pvnet/hypervisor";
import { Netback, XENVIF_RX_QUEUE_MAX_SKBS, type Xenvif, xenvifDebugfs, xenvifSelectQueue, xenvifStartXmit, xenvifStopQueue } from "@pvnet/netback";
import { NETDEV_TX_OK, type XdpProgram, XennetCtrlRing } from "@pvnet/netfront";
import { type SkBuff, SkbComposer } from "@pvnet/skb-model";
import type { CostProfile } from "@pvnet/sim";
import type { MaptrackVariant } from "@pvnet/xen-grant-table";
import {
  checkTrafficOptions,
  deliveryCounts,
  pktgenGenerator,
  DEFAULT_WINDOW_BYTES,
  MAX_EVENTS_PER_PACKET,
  netbackDataPath,
  persistentSides,
  SETUP_EVENTS,
  type TrafficOptions,
  type TrafficReport,
  vifCapture,
} from "./devices.js";
import { runTrafficPhase } from "./measure.js";
import { loadXdpProgram, xdpConsumed } from "./xdp-program.js";
import { type CtrlRingReport, configureRss, queuePackets } from "./rss.js";
import { type TcpFlows, type TcpReport, tcpEnds, tcpReport } from "./iperf.js";

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
  /** With --ctrl-ring: the hash configuration's answers and the mapping netback uses. */
  readonly ctrlRing?: CtrlRingReport;
  /** With --ctrl-ring or --flows: frames each queue of the vif carried. */
  readonly queuePackets?: readonly number[];
  /** With --flows: the TCP flows' windows, ACKs and requeues. */
  readonly tcp?: TcpReport;
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
  const capture = vifCapture(host, options);
  try {
    const report = runCaptured(host, dom0, guest, options, queues, xdp, capture);
    return capture === undefined ? report : { ...report, pcap: capture.summary() };
  } finally {
    capture?.close();
  }
}

/** Wire netback and netfront, connect them through xenstore (run to idle), and build the generator. */
export function connectDomuDom0(
  host: Host,
  dom0: ReturnType<typeof bootForQueues>,
  guest: ReturnType<typeof bootForQueues>,
  options: DomuDom0Options,
  queues: number,
  xdp: XdpProgram | null = null,
  capture: VifCapture | undefined = undefined,
): DomuDom0Setup {
  const { hv } = host;
  const persistent = persistentSides(options);
  const receiver = host.frameReceiver();

  // Dom0: netback and the host stack (which receives guest TX, and sends guest RX).
  const dom0Memory = kernelMemory(host, dom0, queues);
  let vif: Xenvif | undefined;
  let rxStopped = false;
  let wakeGenerator: () => void = () => {};
  // What each driver hands up: the verifying sink, or with --flows the TCP ends.
  let dom0Receive = (skb: SkBuff): void => receiver.deliver(skb, hv.cpuCosts(dom0.domain));
  let guestReceive = (skb: SkBuff, _queue: number): void => receiver.deliver(skb, hv.cpuCosts(guest.domain));
  const netback = new Netback(
    { ...hv.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    {
      ...netbackDataPath(options),
      onConnect: (v) => {
        vif = v;
      },
      onReceive: (v, skb) => {
        capture?.capture(v.name, "tx", skb);
        dom0Receive(skb);
      },
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
  const ctrl = options.ctrlRing === true ? new XennetCtrlRing() : undefined;
  const netfront = attachVif(host, guest, guestMemory, {
    devid: 0,
    mac: GUEST_MAC,
    queues,
    onReceive: (skb, q) => guestReceive(skb, q),
    onQueueWake: () => wakeGenerator(),
    persistentGrants: persistent.frontend,
    ...(options.busyPoll === true ? { busyPoll: true } : {}),
    ...(options.rxBuildSkb === true ? { rxBuildSkb: true } : {}),
    ...(ctrl === undefined ? {} : { ctrl }),
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
  const ctrlRing = ctrl === undefined ? undefined : configureRss(ctrl, connectedVif, netfront.numQueues, () => host.run({ maxEvents: SETUP_EVENTS }));

  // The generator: pktgen (or with --flows iperf's TCP sender) on its own VCPU of the sending domain.
  const tx = options.direction === "tx";
  const sender = tx ? guest : dom0;
  let tcp: TcpFlows | undefined;
  let generator: { readonly sent: number; wake(): void; finish(): void };
  if (options.flows !== undefined) {
    const guestVcpu = (q: number) => guest.domain.vcpus[q % queues] as Vcpu;
    tcp = tcpEnds({
      host,
      receiver,
      traffic: { ...options, flows: options.flows },
      send: {
        vcpu: sender.domain.vcpus[queues] as Vcpu,
        composer: new SkbComposer(tx ? guestMemory.skbs : dom0Memory.skbs),
        transmit: tx ? (skb, v) => netfront.startXmit(skb, v) === NETDEV_TX_OK : (skb) => dom0Xmit(connectedVif, skb),
      },
      ack: {
        skbs: tx ? dom0Memory.skbs : guestMemory.skbs,
        transmit: tx ? (skb) => dom0Xmit(connectedVif, skb) : (skb, v) => netfront.startXmit(skb, v) === NETDEV_TX_OK,
        costs: hv.cpuCosts(tx ? dom0.domain : guest.domain),
      },
    });
    const ends = tcp;
    const dom0Vcpu = dom0.vcpu0;
    if (tx) {
      dom0Receive = (skb) => ends.receiver.deliver(skb, dom0Vcpu);
      guestReceive = (skb) => ends.sender.receiveAck(skb, hv.cpuCosts(guest.domain));
    } else {
      dom0Receive = (skb) => ends.sender.receiveAck(skb, hv.cpuCosts(dom0.domain));
      guestReceive = (skb, q) => ends.receiver.deliver(skb, guestVcpu(q));
    }
    // A queue that woke: the sender's held segments, the receiver's refused ACKs.
    wakeGenerator = () => {
      ends.sender.wake();
      ends.receiver.resendAcks(tx ? dom0Vcpu : guestVcpu(0));
    };
    generator = ends.generator;
  } else {
    const g = pktgenGenerator(host, sender.domain.vcpus[queues] as Vcpu, tx ? guestMemory.skbs : dom0Memory.skbs, options, queues, receiver, {
      transmit: tx
        ? (skb, v) => netfront.startXmit(skb, v) === NETDEV_TX_OK
        : (skb, cpu, xmitMore) => {
            capture?.capture(connectedVif.name, "rx", skb);
            xenvifStartXmit(connectedVif, skb, undefined, { xmitMore, cpu });
            return true;
          },
      ...(tx ? {} : { stopped: () => rxStopped }),
      dropped: () => (tx ? netfront.stats().txDropped : connectedVif.counters().tx_dropped + xdpConsumed(netfront)),
    });
    wakeGenerator = () => g.wake();
    generator = g;
  }
  return { dom0Memory, guestMemory, netback, netfront, vif: connectedVif, receiver, generator, persistent, ctrlRing, tcp };
}

/** A connected DomU <-> Dom0 topology with its generator built, not started. */
export interface DomuDom0Setup {
  readonly dom0Memory: ReturnType<typeof kernelMemory>;
  readonly guestMemory: ReturnType<typeof kernelMemory>;
  readonly netback: Netback;
  readonly netfront: ReturnType<typeof attachVif>;
  readonly vif: Xenvif;
  readonly receiver: ReturnType<Host["frameReceiver"]>;
  /** pktgen's generator, or the TCP flows' sender (--flows). */
  readonly generator: { readonly sent: number; wake(): void; finish(): void };
  readonly persistent: ReturnType<typeof persistentSides>;
  readonly ctrlRing: CtrlRingReport | undefined;
  readonly tcp: TcpFlows | undefined;
}

function runCaptured(
  host: Host,
  dom0: ReturnType<typeof bootForQueues>,
  guest: ReturnType<typeof bootForQueues>,
  options: DomuDom0Options,
  queues: number,
  xdp: XdpProgram | null,
  capture: VifCapture | undefined,
): RunReport {
  const { hv } = host;
  const { dom0Memory, guestMemory, netback, netfront, vif: connectedVif, receiver, generator, persistent, ctrlRing, tcp } = connectDomuDom0(host, dom0, guest, options, queues, xdp, capture);
  const timing = runTrafficPhase(host, generator, receiver, options.packets * MAX_EVENTS_PER_PACKET + SETUP_EVENTS);
  const { sink } = receiver;

  const numQueues = netfront.numQueues;
  // Hypercalls of connection and traffic; teardown's unmaps and closes are not part of the run.
  const hypercalls = hv.stats.snapshot();
  const counters = { ...connectedVif.counters() };
  const debugfs = xenvifDebugfs(connectedVif);
  const grantTable = { ...host.grants.stats };
  const frontend = { ...netfront.stats() };
  const rxPath = options.rxBuildSkb === true || xdp !== null ? { frontendRxPath: { ...netfront.rxPathStats() } } : {};
  const hashed = {
    ...(ctrlRing === undefined ? {} : { ctrlRing }),
    ...(ctrlRing === undefined && tcp === undefined ? {} : { queuePackets: queuePackets(connectedVif, options.direction) }),
    ...(tcp === undefined ? {} : { tcp: tcpReport(options.flows as number, options.pktSize, tcp) }),
  };
  const teardown = detachAndAudit(host, dom0, dom0Memory, netback, [{ kernel: guest, memory: guestMemory, netfront }]);
  return {
    topology: "domu-dom0",
    direction: options.direction,
    queues: numQueues,
    ...deliveryCounts(options, persistent, generator.sent, sink),
    counters,
    frontend,
    ...rxPath,
    ...hashed,
    hypercalls,
    debugfs,
    grantTable,
    ...timing,
    traceDigest: hv.sim.trace.digest(),
    teardown,
  };
}

/**
 * Dom0's stack handing a segment to the vif (dev_queue_xmit) on the queue xenvif_select_queue
 * picks. A stopped queue leaves the skb with the caller (the qdisc requeues it). A segment that
 * would find the RX internal queue full stops the queue here, before it is handed over: Linux
 * stops it on that segment and drops it (xenvif_rx_queue_tail), and TCP retransmits; the model
 * has no retransmission, so the segment is requeued instead and sent on the queue's wake.
 */
function dom0Xmit(vif: Xenvif, skb: SkBuff): boolean {
  const index = xenvifSelectQueue(vif, skb);
  const q = vif.queues[index];
  if (q === undefined) return false;
  if (!q.txQueueStopped && (q.rxQueueLen >= q.rxQueueMax || q.rxCount >= XENVIF_RX_QUEUE_MAX_SKBS)) xenvifStopQueue(q);
  if (q.txQueueStopped) return false;
  xenvifStartXmit(vif, skb, index);
  return true;
}
