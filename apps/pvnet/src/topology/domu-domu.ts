/**
 * The DomU <-> DomU topology: two guests, each with a netfront, and Dom0 with netback and a
 * learning bridge whose ports are the two vifs. Guest A's frames leave through its netfront,
 * enter Dom0 through netback's TX path (header grant-copied, the rest grant-mapped), are
 * forwarded by the bridge to guest B's vif, and reach guest B through netback's RX path, which
 * grant-copies them — from the pages still mapped from guest A — into guest B's posted buffers.
 * With `rxBuildSkb` / `xdp`, guest B's netfront receives with build_skb around the page and runs
 * the XDP program there, as in DomU <-> Dom0 with `--direction rx`; what guest B sends back with
 * XDP_TX still carries guest B's address as its destination, so the bridge filters it.
 */
import {
  attachVif,
  type BridgePort,
  type BridgeStats,
  bootForQueues,
  detachAndAudit,
  Host,
  type Kernel,
  type KernelMemory,
  kernelMemory,
  LearningBridge,
  type VifCapture,
  xenMac,
} from "@pvnet/host";
import type { Vcpu } from "@pvnet/hypervisor";
import { Netback, type Xenvif, xenvifDebugfs, xenvifSelectQueue, xenvifStartXmit } from "@pvnet/netback";
import { NETDEV_TX_OK, type Netfront, type XdpProgram, XennetCtrlRing } from "@pvnet/netfront";
import { type SkbAllocator, type SkBuff, SkbComposer } from "@pvnet/skb-model";
import type { CostProfile } from "@pvnet/sim";
import type { MaptrackVariant } from "@pvnet/xen-grant-table";
import {
  checkTrafficOptions,
  deliveryCounts,
  pktgenGenerator,
  type DataPathOptions,
  MAX_EVENTS_PER_PACKET,
  netbackDataPath,
  persistentSides,
  SETUP_EVENTS,
  type TrafficOptions,
  type TrafficReport,
  vifCapture,
} from "./devices.js";
import { runTrafficPhase } from "./measure.js";
import { type TcpFlows, type TcpReport, tcpEnds, tcpReport } from "./iperf.js";
import { type CtrlRingReport, configureRss, queuePackets } from "./rss.js";
import { loadXdpProgram, xdpConsumed } from "./xdp-program.js";

export interface DomuDomuOptions extends TrafficOptions {
  readonly profile?: CostProfile;
  readonly maptrack?: MaptrackVariant;
}

/** What one DomU <-> DomU run reports. */
export interface DomuDomuReport extends TrafficReport {
  readonly topology: "domu-domu";
  /** Always "tx": guest A transmits to guest B. */
  readonly direction: "tx";
  /** The sender's vif (its TX enters Dom0 here) and the receiver's vif (its RX leaves Dom0 here). */
  readonly counters: { readonly sender: Readonly<Record<string, number>>; readonly receiver: Readonly<Record<string, number>> };
  readonly bridge: Readonly<BridgeStats>;
  /** Guest B's netfront build_skb / XDP counters (only with --rx-build-skb or --xdp). */
  readonly frontendRxPath?: Readonly<Record<string, number>>;
  /** With --ctrl-ring: guest B's hash configuration (the answers, the mapping netback uses). */
  readonly ctrlRing?: CtrlRingReport;
  /** With --ctrl-ring or --flows: frames each queue of guest B's vif carried towards it. */
  readonly queuePackets?: readonly number[];
  /** With --flows: the TCP flows' windows, ACKs and requeues. */
  readonly tcp?: TcpReport;
}

const MAC_A = xenMac(0xa);
const MAC_B = xenMac(0xb);
/** Guest B's address: where the generated frames of flow 0 go (10.128.0.1, see @pvnet/host writeFrame). */
const IP_B = 0x0a800001;

export async function runDomuDomu(options: DomuDomuOptions): Promise<DomuDomuReport> {
  const queues = checkTrafficOptions(options);
  const xdp: XdpProgram | null = options.xdp === undefined ? null : await loadXdpProgram(options.xdp);
  const host = new Host({
    seed: options.seed,
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.maptrack === undefined ? {} : { maptrack: options.maptrack }),
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
  });
  const { hv } = host;
  const capture = vifCapture(host, options);
  try {
    const t = connectDomuDomu(host, options, queues, capture, xdp);
    const { dom0, dom0Memory, netback, bridge, guestA, guestB, memoryA, memoryB, netfrontA, netfrontB, vifA, vifB, receiver, generator, persistent, ctrlRing, tcp } = t;
    const timing = runTrafficPhase(host, generator, receiver, options.packets * MAX_EVENTS_PER_PACKET + SETUP_EVENTS);
    const { sink } = receiver;

    const numQueues = netfrontA.numQueues;
    const hypercalls = hv.stats.snapshot();
    const counters = { sender: { ...vifA.counters() }, receiver: { ...vifB.counters() } };
    const debugfs = { ...xenvifDebugfs(vifA), ...xenvifDebugfs(vifB) };
    const grantTable = { ...host.grants.stats };
    const hashed = {
      ...(ctrlRing === undefined ? {} : { ctrlRing }),
      ...(ctrlRing === undefined && tcp === undefined ? {} : { queuePackets: queuePackets(vifB, "rx") }),
      ...(tcp === undefined ? {} : { tcp: tcpReport(options.flows as number, options.pktSize, tcp) }),
    };
    const rxPath = options.rxBuildSkb === true || xdp !== null ? { frontendRxPath: { ...netfrontB.rxPathStats() } } : {};
    const teardown = detachAndAudit(host, dom0, dom0Memory, netback, [
      { kernel: guestA, memory: memoryA, netfront: netfrontA },
      { kernel: guestB, memory: memoryB, netfront: netfrontB },
    ]);
    return {
      topology: "domu-domu",
      direction: "tx",
      queues: numQueues,
      ...deliveryCounts(options, persistent, generator.sent, sink),
      counters,
      bridge: { ...bridge.stats },
      ...rxPath,
      ...hashed,
      hypercalls,
      debugfs,
      grantTable,
      ...timing,
      traceDigest: hv.sim.trace.digest(),
      teardown,
      ...(capture === undefined ? {} : { pcap: capture.summary() }),
    };
  } finally {
    capture?.close();
  }
}

/**
 * Boot Dom0 and the two guests, connect both vifs and the bridge, announce guest B, and build guest
 * A's generator (not started): pktgen, or with --flows iperf's TCP sender in guest A and its
 * receiver in guest B, whose ACKs come back through guest B's netfront, the bridge and guest A's
 * vif.
 */
export function connectDomuDomu(host: Host, options: DomuDomuOptions, queues: number, capture: VifCapture | undefined = undefined, xdp: XdpProgram | null = null) {
  const { hv } = host;
  const persistent = persistentSides(options);
  const receiver = host.frameReceiver();
  let wakeA: () => void = () => {};
  let wakeB: () => void = () => {};
  // What each guest's stack does with what its netfront hands up: guest B verifies (or with
  // --flows ACKs) it, guest A frees what the bridge floods to it (or with --flows takes the ACKs).
  let costsB: ReturnType<typeof hv.cpuCosts> | undefined;
  let receiveA = (skb: SkBuff, _queue: number): void => skb.free();
  let receiveB = (skb: SkBuff, _queue: number): void => receiver.deliver(skb, costsB);
  const wired = wireDomuDomu(host, options, queues, capture, {
    a: { onReceive: (skb, q) => receiveA(skb, q), onQueueWake: () => wakeA() },
    b: { onReceive: (skb, q) => receiveB(skb, q), onQueueWake: () => wakeB(), ...(options.rxBuildSkb === true ? { rxBuildSkb: true } : {}) },
  });
  const { guestA, guestB, memoryA, memoryB, netfrontA, netfrontB, vifA, vifB } = wired;
  // Guest B's receiving stack is charged to its running VCPU once it is booted.
  costsB = hv.cpuCosts(guestB.domain);
  const ctrlRing = wired.ctrl === undefined ? undefined : configureRss(wired.ctrl, vifB, netfrontB.numQueues, () => host.run({ maxEvents: SETUP_EVENTS }));
  if (xdp !== null) {
    // ip link set dev eth0 xdp ... in guest B: through xenstore (Reconfiguring / Reconfigured).
    const err = netfrontB.setXdp(xdp);
    if (err !== 0) throw new Error(`attaching the XDP program failed (${err})`);
    host.run({ maxEvents: SETUP_EVENTS });
  }
  // Guest B announces itself (a gratuitous ARP), so the bridge learns it.
  announce(netfrontB, memoryB.skbs, guestB.vcpu0, MAC_B, IP_B);
  host.run({ maxEvents: SETUP_EVENTS });

  const senderVcpu = guestA.domain.vcpus[queues] as Vcpu;
  const transmitA = (skb: SkBuff, v: Vcpu) => netfrontA.startXmit(skb, v) === NETDEV_TX_OK;
  let tcp: TcpFlows | undefined;
  let generator: { readonly sent: number; wake(): void; finish(): void };
  if (options.flows !== undefined) {
    const ends = tcpEnds({
      host,
      receiver,
      traffic: { ...options, flows: options.flows },
      send: { vcpu: senderVcpu, composer: new SkbComposer(memoryA.skbs), transmit: transmitA, dstMac: MAC_B, srcMac: MAC_A },
      ack: { skbs: memoryB.skbs, transmit: (skb, v) => netfrontB.startXmit(skb, v) === NETDEV_TX_OK, costs: hv.cpuCosts(guestB.domain) },
    });
    tcp = ends;
    const vcpuB = (q: number) => guestB.domain.vcpus[q % queues] as Vcpu;
    receiveB = (skb, q) => ends.receiver.deliver(skb, vcpuB(q));
    receiveA = (skb) => ends.sender.receiveAck(skb, hv.cpuCosts(guestA.domain));
    // A queue that woke: guest A's held segments, guest B's refused ACKs.
    wakeA = () => ends.sender.wake();
    wakeB = () => ends.receiver.resendAcks(vcpuB(0));
    generator = ends.generator;
  } else {
    const link: Parameters<typeof pktgenGenerator>[6] = {
      transmit: transmitA,
      // XDP_TX frames go back to the bridge behind guest B's own port: never delivered either.
      dropped: () =>
        netfrontA.stats().txDropped +
        vifA.counters().rx_dropped +
        vifB.counters().tx_dropped +
        (wired.ports.get(vifB)?.qdiscDropped ?? 0) +
        xdpConsumed(netfrontB) +
        netfrontB.rxPathStats().xdpTx,
    };
    const g = pktgenGenerator(host, senderVcpu, memoryA.skbs, options, queues, receiver, link, { dstMac: MAC_B, srcMac: MAC_A });
    wakeA = () => g.wake();
    generator = g;
  }
  return { ...wired, receiver, generator, persistent, ctrlRing, tcp };
}

/**
 * A vif's transmit queues. Linux's netback stops a queue when the guest's RX internal queue is
 * full (xenvif_rx_queue_tail drops the skb that found it full); the vif's qdisc then holds what the
 * bridge forwards, up to the vif's tx_queue_len (XENVIF_QUEUE_LENGTH), until netif_tx_wake_queue;
 * past that the qdisc drops.
 */
export const XENVIF_QUEUE_LENGTH = 32;

/** A bridge port on a vif, with a FIFO qdisc per transmit queue (pfifo under mq). */
export class VifPort implements BridgePort {
  readonly name: string;
  /** Frames the qdisc dropped (its queue at tx_queue_len). */
  qdiscDropped = 0;
  private readonly held: SkBuff[][] = [];

  constructor(
    private readonly vif: Xenvif,
    private readonly capture: VifCapture | undefined,
  ) {
    this.name = vif.name;
  }

  /** dev_queue_xmit on the vif: straight to xenvif_start_xmit unless that queue is stopped or has a backlog. */
  transmit(skb: SkBuff): void {
    const q = xenvifSelectQueue(this.vif, skb);
    const queue = this.vif.queues[q];
    let held = this.held[q];
    if (held === undefined) {
      held = [];
      this.held[q] = held;
    }
    if (queue !== undefined && (queue.txQueueStopped || held.length > 0)) {
      if (held.length >= XENVIF_QUEUE_LENGTH) {
        this.qdiscDropped++;
        skb.free();
      } else held.push(skb);
      return;
    }
    this.xmit(skb, q);
  }

  /** netif_tx_wake_queue: the qdisc runs again (qdisc_run), until the queue stops or is empty. */
  wake(q: number): void {
    const held = this.held[q];
    const queue = this.vif.queues[q];
    while (held !== undefined && held.length > 0 && queue !== undefined && !queue.txQueueStopped) this.xmit(held.shift() as SkBuff, q);
  }

  /** The device goes away: what the qdisc held is freed. */
  purge(): void {
    // Sparse: a queue's FIFO exists once a frame went to it.
    for (const held of this.held) for (const skb of held?.splice(0) ?? []) skb.free();
  }

  private xmit(skb: SkBuff, q: number): void {
    this.capture?.capture(this.name, "rx", skb);
    xenvifStartXmit(this.vif, skb, q);
  }
}

/** What each guest's kernel does with the frames its netfront receives, and on a queue wake. */
export interface GuestStack {
  readonly onReceive: (skb: SkBuff, queue: number) => void;
  readonly onQueueWake?: () => void;
  /** Receive with build_skb around the page (netfront's rxBuildSkb). */
  readonly rxBuildSkb?: boolean;
}

/** A connected DomU <-> DomU host: Dom0 with netback and the bridge, two guests with a vif each. */
export interface DomuDomuWiring {
  readonly dom0: Kernel;
  readonly dom0Memory: KernelMemory;
  readonly netback: Netback;
  readonly bridge: LearningBridge;
  /** The bridge's ports on the connected vifs. */
  readonly ports: ReadonlyMap<Xenvif, VifPort>;
  readonly guestA: Kernel;
  readonly guestB: Kernel;
  readonly memoryA: KernelMemory;
  readonly memoryB: KernelMemory;
  readonly netfrontA: Netfront;
  readonly netfrontB: Netfront;
  readonly vifA: Xenvif;
  readonly vifB: Xenvif;
  /** Guest B's control-ring client (with --ctrl-ring). */
  readonly ctrl: XennetCtrlRing | undefined;
}

/**
 * Boot Dom0 and the two guests on `host`, start netback with a learning bridge whose ports are the
 * connected vifs (captured by `capture`), attach a vif to each guest and run until both connect.
 */
export function wireDomuDomu(
  host: Host,
  options: DataPathOptions,
  queues: number,
  capture: VifCapture | undefined,
  stacks: { readonly a: GuestStack; readonly b: GuestStack },
): DomuDomuWiring {
  const { hv } = host;
  const persistent = persistentSides(options);
  const dom0 = bootForQueues(host, "Domain-0", 2 * queues);
  const guestA = bootForQueues(host, "guest-a", queues);
  const guestB = bootForQueues(host, "guest-b", queues);
  const dom0Memory = kernelMemory(host, dom0, 2 * queues);

  // Dom0: netback, and the bridge with one port per connected vif.
  const bridge = new LearningBridge();
  const ports = new Map<Xenvif, VifPort>();
  const netback = new Netback(
    { ...hv.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    {
      ...netbackDataPath(options),
      onConnect: (vif) => {
        const port = new VifPort(vif, capture);
        ports.set(vif, port);
        bridge.addPort(port);
      },
      onDisconnect: (vif) => {
        const port = ports.get(vif);
        if (port !== undefined) bridge.removePort(port);
        port?.purge();
        ports.delete(vif);
      },
      onQueueWake: (vif, queue) => ports.get(vif)?.wake(queue),
      onReceive: (vif, skb) => {
        capture?.capture(vif.name, "tx", skb);
        const port = ports.get(vif);
        if (port === undefined) skb.free();
        else bridge.receive(port, skb);
      },
    },
  );

  const memoryA = kernelMemory(host, guestA, queues);
  const memoryB = kernelMemory(host, guestB, queues);
  const ctrl = options.ctrlRing === true ? new XennetCtrlRing() : undefined;
  const netfrontA = attachVif(host, guestA, memoryA, {
    devid: 0,
    mac: MAC_A,
    queues,
    onReceive: stacks.a.onReceive,
    ...(stacks.a.onQueueWake === undefined ? {} : { onQueueWake: stacks.a.onQueueWake }),
    persistentGrants: persistent.frontend,
  });
  const netfrontB = attachVif(host, guestB, memoryB, {
    devid: 0,
    mac: MAC_B,
    queues,
    onReceive: stacks.b.onReceive,
    ...(stacks.b.onQueueWake === undefined ? {} : { onQueueWake: stacks.b.onQueueWake }),
    persistentGrants: persistent.frontend,
    ...(stacks.b.rxBuildSkb === true ? { rxBuildSkb: true } : {}),
    ...(ctrl === undefined ? {} : { ctrl }),
  });
  host.run({ maxEvents: SETUP_EVENTS });
  const vifA = netback.vif(guestA.domain.domid, 0);
  const vifB = netback.vif(guestB.domain.domid, 0);
  if (!netfrontA.connected || !netfrontB.connected || vifA === undefined || vifB === undefined) {
    throw new Error("the vifs did not connect");
  }
  return { dom0, dom0Memory, netback, bridge, ports, guestA, guestB, memoryA, memoryB, netfrontA, netfrontB, vifA, vifB, ctrl };
}

/**
 * Guest B's gratuitous ARP (RFC 5227 announcement: a broadcast request for its own address, as a
 * Linux guest sends when its interface comes up), 60 bytes through `netfront`.
 */
function announce(netfront: Netfront, skbs: SkbAllocator, vcpu: Vcpu, mac: Uint8Array, ip: number): void {
  const skb = skbs.allocSkb(60);
  if (skb === null) throw new Error("no memory for the announcement");
  const frame = new Uint8Array(60);
  const v = new DataView(frame.buffer);
  frame.fill(0xff, 0, 6);
  frame.set(mac, 6);
  v.setUint16(12, 0x0806); // ETH_P_ARP
  v.setUint16(14, 1); // ARPHRD_ETHER
  v.setUint16(16, 0x0800); // ETH_P_IP
  frame[18] = 6;
  frame[19] = 4;
  v.setUint16(20, 1); // ARPOP_REQUEST
  frame.set(mac, 22);
  v.setUint32(28, ip);
  v.setUint32(38, ip);
  skb.putData(frame);
  if (netfront.startXmit(skb, vcpu) !== NETDEV_TX_OK) skb.free();
}
