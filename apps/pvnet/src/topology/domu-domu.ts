/**
 * The DomU <-> DomU topology: two guests, each with a netfront, and Dom0 with netback and a
 * learning bridge whose ports are the two vifs. Guest A's frames leave through its netfront,
 * enter Dom0 through netback's TX path (header grant-copied, the rest grant-mapped), are
 * forwarded by the bridge to guest B's vif, and reach guest B through netback's RX path, which
 * grant-copies them — from the pages still mapped from guest A — into guest B's posted buffers.
 */
import {
  attachVif,
  type BridgePort,
  type BridgeStats,
  bootForQueues,
  defaultLayout,
  detachAndAudit,
  Host,
  kernelMemory,
  l4Of,
  LearningBridge,
  TrafficGenerator,
  windowPackets,
  writeFrame,
  xenMac,
} from "@pvnet/host";
import type { Vcpu } from "@pvnet/hypervisor";
import { Netback, type Xenvif, xenvifStartXmit } from "@pvnet/netback";
import { NETDEV_TX_OK, type Netfront } from "@pvnet/netfront";
import { Pktgen, type SkbAllocator, SkbComposer } from "@pvnet/skb-model";
import type { CostProfile } from "@pvnet/sim";
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

export interface DomuDomuOptions extends TrafficOptions {
  readonly profile?: CostProfile;
}

/** What one DomU <-> DomU run reports. */
export interface DomuDomuReport extends TrafficReport {
  readonly topology: "domu-domu";
  /** Always "tx": guest A transmits to guest B. */
  readonly direction: "tx";
  /** The sender's vif (its TX enters Dom0 here) and the receiver's vif (its RX leaves Dom0 here). */
  readonly counters: { readonly sender: Readonly<Record<string, number>>; readonly receiver: Readonly<Record<string, number>> };
  readonly bridge: Readonly<BridgeStats>;
}

const MAC_A = xenMac(0xa);
const MAC_B = xenMac(0xb);

export async function runDomuDomu(options: DomuDomuOptions): Promise<DomuDomuReport> {
  const queues = checkTrafficOptions(options);
  const persistent = persistentSides(options);
  const host = new Host({
    seed: options.seed,
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
  });
  const { hv } = host;
  const dom0 = bootForQueues(host, "Domain-0", 2 * queues);
  const guestA = bootForQueues(host, "guest-a", queues);
  const guestB = bootForQueues(host, "guest-b", queues);
  const dom0Memory = kernelMemory(host, dom0, 2 * queues);

  // Dom0: netback, and the bridge with one port per connected vif.
  const bridge = new LearningBridge();
  const ports = new Map<Xenvif, BridgePort>();
  const netback = new Netback(
    { ...hv.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    {
      ...netbackDataPath(options),
      onConnect: (vif) => {
        const port: BridgePort = { name: vif.name, transmit: (skb) => xenvifStartXmit(vif, skb) };
        ports.set(vif, port);
        bridge.addPort(port);
      },
      onDisconnect: (vif) => {
        const port = ports.get(vif);
        if (port !== undefined) bridge.removePort(port);
        ports.delete(vif);
      },
      onReceive: (vif, skb) => {
        const port = ports.get(vif);
        if (port === undefined) skb.free();
        else bridge.receive(port, skb);
      },
    },
  );

  // Guest B receives and verifies; guest A frees what the bridge floods to it (B's announcement).
  const receiver = host.frameReceiver();
  const memoryA = kernelMemory(host, guestA, queues);
  const memoryB = kernelMemory(host, guestB, queues);
  let wakeGenerator: () => void = () => {};
  const netfrontA = attachVif(host, guestA, memoryA, {
    devid: 0,
    mac: MAC_A,
    queues,
    onReceive: (skb) => skb.free(),
    onQueueWake: () => wakeGenerator(),
    persistentGrants: persistent.frontend,
  });
  const netfrontB = attachVif(host, guestB, memoryB, {
    devid: 0,
    mac: MAC_B,
    queues,
    onReceive: (skb) => receiver.deliver(skb),
    persistentGrants: persistent.frontend,
  });
  host.run({ maxEvents: SETUP_EVENTS });
  const vifA = netback.vif(guestA.domain.domid, 0);
  const vifB = netback.vif(guestB.domain.domid, 0);
  if (!netfrontA.connected || !netfrontB.connected || vifA === undefined || vifB === undefined) {
    throw new Error("the vifs did not connect");
  }
  // Guest B announces itself (a gratuitous broadcast, as ARP would), so the bridge learns it.
  announce(netfrontB, memoryB.skbs, guestB.vcpu0, MAC_B);
  host.run({ maxEvents: SETUP_EVENTS });

  const l4 = l4Of(options.pktSize);
  const pktgen = new Pktgen(new SkbComposer(memoryA.skbs), {
    desc: options.layout ?? defaultLayout(options.pktSize),
    cloneSkbs: options.cloneSkbs ?? 0,
    fill: (seq, payload) =>
      writeFrame(payload, { flow: seq % queues, seq: Math.floor(seq / queues), size: payload.length, l4, dstMac: MAC_B, srcMac: MAC_A }),
  });
  const generator = new TrafficGenerator({
    hv,
    vcpu: guestA.domain.vcpus[queues] as Vcpu,
    pktgen,
    packets: options.packets,
    burst: options.burst ?? 1,
    window: windowPackets(options.windowBytes ?? DEFAULT_WINDOW_BYTES, options.pktSize, MAX_WINDOW_PACKETS),
    receiver,
    transmit: (skb, v) => netfrontA.startXmit(skb, v) === NETDEV_TX_OK,
    dropped: () => netfrontA.stats().txDropped + vifA.counters().rx_dropped + vifB.counters().tx_dropped,
  });
  wakeGenerator = () => generator.wake();

  const timing = runTrafficPhase(host, generator, receiver, options.packets * MAX_EVENTS_PER_PACKET + SETUP_EVENTS);
  const { sink } = receiver;

  const numQueues = netfrontA.numQueues;
  const hypercalls = hv.stats.snapshot();
  const counters = { sender: { ...vifA.counters() }, receiver: { ...vifB.counters() } };
  const teardown = detachAndAudit(host, dom0, dom0Memory, netback, [
    { kernel: guestA, memory: memoryA, netfront: netfrontA },
    { kernel: guestB, memory: memoryB, netfront: netfrontB },
  ]);
  return {
    topology: "domu-domu",
    direction: "tx",
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
    bridge: { ...bridge.stats },
    hypercalls,
    ...timing,
    traceDigest: hv.sim.trace.digest(),
    teardown,
  };
}

/** A 60-byte broadcast frame from `mac` (EtherType ARP, zero payload) sent through `netfront`. */
function announce(netfront: Netfront, skbs: SkbAllocator, vcpu: Vcpu, mac: Uint8Array): void {
  const skb = skbs.allocSkb(60);
  if (skb === null) throw new Error("no memory for the announcement");
  const frame = new Uint8Array(60);
  frame.fill(0xff, 0, 6);
  frame.set(mac, 6);
  frame[12] = 0x08;
  frame[13] = 0x06;
  skb.putData(frame);
  if (netfront.startXmit(skb, vcpu) !== NETDEV_TX_OK) skb.free();
}
