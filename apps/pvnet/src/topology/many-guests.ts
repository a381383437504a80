/**
 * Many guests (`pvnet run --guests N --dom0-vcpus M --maptrack ...`): N guests, each with one vif
 * to Dom0, Dom0 with M VCPUs and guest k's netback queue on Dom0 VCPU k mod M. Every guest sends
 * --packets frames at once (guest TX: netback grant-maps each frame's pages into Dom0, so every
 * slot takes and gives back a handle of Dom0's maptrack). The maptrack locks hold and wait on the
 * virtual clock: with the single free list (Xen up to 4.5) every Dom0 VCPU queues on one lock and
 * the aggregate saturates; with per-VCPU free lists (Xen 4.6, Malcolm Crossley's series) it scales
 * with the VCPUs.
 */
import {
  attachVif,
  DEFAULT_HOST_FRAMES,
  defaultLayout,
  detachAndAudit,
  Host,
  type KernelMemory,
  kernelMemory,
  l4Of,
  PAGES_PER_QUEUE,
  TrafficGenerator,
  writeFrame,
  xenMac,
} from "@pvnet/host";
import type { Vcpu } from "@pvnet/hypervisor";
import { Netback, xenvifDebugfs } from "@pvnet/netback";
import { NETDEV_TX_OK, type Netfront } from "@pvnet/netfront";
import { Pktgen, SkbComposer } from "@pvnet/skb-model";
import type { CostProfile } from "@pvnet/sim";
import type { LockTimeStats, MaptrackStats, MaptrackVariant } from "@pvnet/xen-grant-table";
import { checkTrafficOptions, deliveryCounts, MAX_EVENTS_PER_PACKET, netbackDataPath, persistentSides, SETUP_EVENTS, type TrafficOptions, type TrafficReport } from "./devices.js";
import { runTrafficPhase } from "./measure.js";

/** Guests of one run: each is two VCPUs and 8 MiB of the machine; 32 keeps a run within a few hundred MiB. */
export const MAX_GUESTS = 32;
/** Dom0 VCPUs: up to Xen's MAX_VIRT_CPUS of one domain (64) would do; 32 is past where the single lock saturates. */
export const MAX_DOM0_VCPUS = 32;

/** Physical CPUs of a --guests host: room for a pCPU per VCPU at the most guests and Dom0 VCPUs. */
export const MAX_PCPUS = MAX_DOM0_VCPUS + 2 * MAX_GUESTS;

/** The three maptrack free lists by their command-line names. */
export const MAPTRACK_NAMES: Readonly<Record<string, MaptrackVariant>> = Object.freeze({
  single: "single-locked",
  percpu: "per-vcpu-lockfree",
  "percpu-locked": "per-vcpu-locked",
});

export interface ManyGuestsOptions extends TrafficOptions {
  readonly guests: number;
  readonly dom0Vcpus: number;
  readonly maptrack: MaptrackVariant;
  readonly profile?: CostProfile;
  /**
   * The host's physical CPUs. By default one per VCPU (Dom0's and each guest's two): the profile's
   * unit costs on a host big enough that no VCPU waits for a pCPU, so what limits the aggregate is
   * the maptrack lock, the question this scenario asks; fewer pCPUs add pCPU contention.
   */
  readonly pcpus?: number;
}

export interface ManyGuestsReport extends TrafficReport {
  readonly topology: "many-guests";
  readonly direction: "tx";
  readonly guests: number;
  readonly dom0Vcpus: number;
  readonly maptrack: MaptrackVariant;
  /** The host's physical CPUs the run placed its VCPUs on. */
  readonly pcpus: number;
  /** Frames delivered from each guest. */
  readonly perGuest: readonly number[];
  /** Dom0's maptrack: gets, puts, steals, grows, and its locks on the virtual clock. */
  readonly dom0Maptrack: Readonly<MaptrackStats> & { readonly lockTime: Readonly<LockTimeStats> };
}

/** Guest k's MAC (xenstore `mac` of its vif) and its frames' flow. */
const guestMac = (k: number) => xenMac(0x100 + k);

/** Guest VCPUs: the queue's and pktgen's. */
const GUEST_VCPUS = 2;

/** The run's pCPUs: as asked, else one per VCPU. */
export function manyGuestsPcpus(options: Pick<ManyGuestsOptions, "guests" | "dom0Vcpus" | "pcpus">): number {
  return options.pcpus ?? options.dom0Vcpus + GUEST_VCPUS * options.guests;
}

export async function runManyGuests(options: ManyGuestsOptions): Promise<ManyGuestsReport> {
  checkTrafficOptions(options);
  const { guests, dom0Vcpus } = options;
  if (!Number.isInteger(guests) || guests < 1 || guests > MAX_GUESTS) throw new RangeError(`--guests must be 1..${MAX_GUESTS}`);
  if (!Number.isInteger(dom0Vcpus) || dom0Vcpus < 1 || dom0Vcpus > MAX_DOM0_VCPUS) throw new RangeError(`--dom0-vcpus must be 1..${MAX_DOM0_VCPUS}`);
  const pcpus = manyGuestsPcpus(options);
  if (!Number.isInteger(pcpus) || pcpus < 1 || pcpus > MAX_PCPUS) throw new RangeError(`--pcpus must be 1..${MAX_PCPUS}`);
  if ((options.queues ?? 1) !== 1) throw new RangeError("--guests gives each guest one queue");
  const host = new Host({
    seed: options.seed,
    frames: DEFAULT_HOST_FRAMES + guests * 2 * PAGES_PER_QUEUE,
    maptrack: options.maptrack,
    pcpus: manyGuestsPcpus(options),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
  });
  try {
    return runGuests(host, options);
  } finally {
    await host.close();
  }
}

function runGuests(host: Host, options: ManyGuestsOptions): ManyGuestsReport {
  const { hv } = host;
  const { guests, dom0Vcpus } = options;
  const persistent = persistentSides(options);
  const dom0 = host.boot("Domain-0", PAGES_PER_QUEUE * (guests + 2), dom0Vcpus);
  const dom0Memory = kernelMemory(host, dom0, guests);
  const receiver = host.frameReceiver();
  const domidToGuest = new Map<number, number>();
  const netback = new Netback(
    { ...hv.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    {
      ...netbackDataPath(options),
      // Guest k's queue on Dom0 VCPU k mod M (irqbalance spreading the vifs' interrupts).
      queueVcpu: (vif) => domidToGuest.get(vif.domid) ?? 0,
      onReceive: (_v, skb) => receiver.deliver(skb),
    },
  );

  const ends: { kernel: ReturnType<Host["boot"]>; memory: KernelMemory; netfront: Netfront; generator?: TrafficGenerator }[] = [];
  for (let k = 0; k < guests; k++) {
    // One VCPU for the queue, one for the generator.
    const kernel = host.boot(`guest-${k}`, PAGES_PER_QUEUE * 2, GUEST_VCPUS);
    domidToGuest.set(kernel.domain.domid, k % dom0Vcpus);
    const memory = kernelMemory(host, kernel, 1);
    const end: (typeof ends)[number] = {
      kernel,
      memory,
      netfront: attachVif(host, kernel, memory, {
        devid: 0,
        mac: guestMac(k),
        queues: 1,
        onReceive: (skb) => skb.free(),
        onQueueWake: () => end.generator?.wake(),
        persistentGrants: persistent.frontend,
      }),
    };
    ends.push(end);
  }
  host.run({ maxEvents: SETUP_EVENTS * guests });
  if (ends.some((e) => !e.netfront.connected)) throw new Error("a guest's vif did not connect");

  const l4 = l4Of(options.pktSize);
  ends.forEach((e, k) => {
    const pktgen = new Pktgen(new SkbComposer(e.memory.skbs), {
      desc: defaultLayout(options.pktSize),
      fill: (seq, payload) => writeFrame(payload, { flow: k, seq, size: payload.length, l4 }),
    });
    e.generator = new TrafficGenerator({
      hv,
      vcpu: e.kernel.domain.vcpus[1] as Vcpu,
      pktgen,
      packets: options.packets,
      burst: options.burst ?? 1,
      // No window: each guest sends as fast as its ring takes frames (netfront stops and wakes its queue).
      window: Number.POSITIVE_INFINITY,
      receiver,
      transmit: (skb, v) => e.netfront.startXmit(skb, v) === NETDEV_TX_OK,
      dropped: () => e.netfront.stats().txDropped,
    });
  });
  const all = ends.map((e) => e.generator as TrafficGenerator);
  const timing = runTrafficPhase(
    host,
    {
      wake: () => {
        for (const g of all) g.wake();
      },
      finish: () => {
        for (const g of all) g.finish();
      },
    },
    receiver,
    guests * options.packets * MAX_EVENTS_PER_PACKET + SETUP_EVENTS,
  );
  const { sink } = receiver;
  const hypercalls = hv.stats.snapshot();
  const mt = host.grants.maptrackOf(dom0.domain);
  const lockTime = mt?.lockTimeStats() ?? { acquisitions: 0, contended: 0, waitNs: 0, holdNs: 0 };
  const dom0Maptrack = { ...(mt?.stats() ?? emptyMaptrackStats()), lockTime };
  const perGuest = ends.map((_, k) => sink.flowDelivered(k));
  const packetsSent = all.reduce((s, g) => s + g.sent, 0);
  const debugfs: Record<string, string> = {};
  for (const e of ends) {
    const vif = netback.vif(e.kernel.domain.domid, 0);
    if (vif !== undefined) Object.assign(debugfs, xenvifDebugfs(vif));
  }
  const grantTable = { ...host.grants.stats };
  const teardown = detachAndAudit(host, dom0, dom0Memory, netback, ends);
  return {
    topology: "many-guests",
    direction: "tx",
    guests,
    dom0Vcpus,
    pcpus: manyGuestsPcpus(options),
    maptrack: options.maptrack,
    queues: 1,
    ...deliveryCounts(options, persistent, packetsSent, sink),
    perGuest,
    dom0Maptrack,
    hypercalls,
    debugfs,
    grantTable,
    ...timing,
    traceDigest: hv.sim.trace.digest(),
    teardown,
  };
}

function emptyMaptrackStats(): MaptrackStats {
  return { gets: 0, puts: 0, steals: 0, contended: 0, grows: 0, failures: 0, frames: 0, limit: 0 };
}
