/**
 * One VCPU thread of threaded mode (see threaded.ts): boots the machine over the shared memory
 * (the replayed boot), then runs its own domain's kernel — Dom0's netback and host stack (or
 * bridge), or a guest's netfront — on this thread, until the coordinator stops it. Its VCPUs' work runs on its
 * own scheduler; an event channel to the other thread's domain wakes that thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { bootForQueues, type FrameReceiver, Host, type Kernel, type KernelMemory, type TeardownAudit } from "@pvnet/host";
import { type Netback, xenvifDebugfs } from "@pvnet/netback";
import type { Netfront } from "@pvnet/netfront";
import type { Vcpu } from "@pvnet/hypervisor";
import { XenbusState } from "@pvnet/xenstore";
import { connectDomuDom0 } from "./domu-dom0.js";
import { connectDomuDomu } from "./domu-domu.js";
import { SETUP_EVENTS } from "./devices.js";
import type { TcpFlows } from "./iperf.js";
import { PhaseMeter } from "./measure.js";
import { queuePackets } from "./rss.js";
import { BUSY, CTL, stopAll, type ThreadTraffic, trafficThreads, type VcpuCommand, type VcpuReply, type VcpuWorkerData } from "./threaded.js";

const data = workerData as VcpuWorkerData;
const ctl = new Int32Array(data.control);
const me = data.thread;
/** Events one slice of this thread's scheduler runs before it looks for wake-ups again. */
const SLICE_EVENTS = 64;
/** Polls of the wake counter before an idle thread sleeps in Atomics.wait (a few microseconds). */
const SPIN_POLLS = 20_000;
/**
 * Work due within this much virtual time of the thread's clock (10 ms, a third of netback's shortest
 * RX drain timeout) runs at once; later events
 * (timers: netback's RX drain timeout, netfront's refill and retry timers) wait until the wall
 * clock since the phase started reaches them, so a timeout is not taken before it expired.
 */
const NEAR_NS = 10_000_000;
/** An idle thread with a timer pending wakes this often to look at it (ms). */
const TIMER_POLL_MS = 1;
/** An idle Dom0 thread serving --xenstored wakes this often to answer the relayed requests (ms). */
const XENSTORE_POLL_MS = 5;

interface GuestSide {
  readonly netfront: Netfront;
  readonly memory: KernelMemory;
}

interface Booted {
  readonly host: Host;
  /** Every kernel, by domid (Dom0 first). */
  readonly kernels: readonly Kernel[];
  /** The kernel this thread runs. */
  readonly own: Kernel;
  readonly receiver: FrameReceiver;
  readonly generator: { readonly sent: number; wake(): void; finish(): void };
  readonly dom0Memory: KernelMemory;
  readonly netback: Netback;
  /** Each guest's netfront and memory, by domid. */
  readonly guests: ReadonlyMap<number, GuestSide>;
  /** What Dom0's thread reports of its vifs (and bridge). */
  dom0Counters(): NonNullable<ThreadTraffic["counters"]>;
  /** netback's debugfs files of Dom0's vifs (`xenvifDebugfs`). */
  dom0Debugfs(): Record<string, string>;
  readonly bridge?: () => Record<string, number>;
  /** Frames the sending domain's driver counted dropped. */
  senderDropped(): number;
  /** With --flows: the TCP ends (each thread's copy; the sending thread's sender and the receiving thread's receiver are the live ones). */
  readonly tcp: TcpFlows | undefined;
  /** With --flows: frames each queue of the receiving vif carried (Dom0's thread). */
  queuePackets(): readonly number[];
}
let booted: Booted | undefined;
/** Dom0's thread with --xenstored: the relay's requests, answered between slices. */
let storeServer: { poll(): void } | undefined;

const post = (m: VcpuReply): void => parentPort?.postMessage(m);

function state(): Booted {
  if (booted === undefined) throw new Error("not booted");
  return booted;
}

/** The topology, connected, its generator built: the same on every thread (the replayed boot). */
function connect(host: Host): Omit<Booted, "own"> {
  const o = data.options;
  const queues = o.queues ?? 1;
  if (data.topology === "domu-domu") {
    const t = connectDomuDomu(host, o, queues);
    return {
      host,
      kernels: [t.dom0, t.guestA, t.guestB],
      receiver: t.receiver,
      generator: t.generator,
      dom0Memory: t.dom0Memory,
      netback: t.netback,
      guests: new Map([
        [t.guestA.domain.domid, { netfront: t.netfrontA, memory: t.memoryA }],
        [t.guestB.domain.domid, { netfront: t.netfrontB, memory: t.memoryB }],
      ]),
      dom0Counters: () => ({ sender: { ...t.vifA.counters() }, receiver: { ...t.vifB.counters() } }),
      dom0Debugfs: () => ({ ...xenvifDebugfs(t.vifA), ...xenvifDebugfs(t.vifB) }),
      bridge: () => ({ ...t.bridge.stats }),
      senderDropped: () => t.netfrontA.stats().txDropped,
      tcp: t.tcp,
      queuePackets: () => queuePackets(t.vifB, "rx"),
    };
  }
  const dom0 = bootForQueues(host, "Domain-0", queues);
  const guest = bootForQueues(host, "guest", queues);
  const t = connectDomuDom0(host, dom0, guest, o, queues);
  return {
    host,
    kernels: [dom0, guest],
    receiver: t.receiver,
    generator: t.generator,
    dom0Memory: t.dom0Memory,
    netback: t.netback,
    guests: new Map([[guest.domain.domid, { netfront: t.netfront, memory: t.guestMemory }]]),
    dom0Counters: () => ({ vif: { ...t.vif.counters() } }),
    dom0Debugfs: () => xenvifDebugfs(t.vif),
    senderDropped: () => (o.direction === "tx" ? t.netfront.stats().txDropped : t.vif.counters().tx_dropped),
    tcp: t.tcp,
    queuePackets: () => queuePackets(t.vif, o.direction),
  };
}

/** The replayed boot: the same machine, connected, from the same seed, on every thread. */
function boot(): VcpuReply {
  const o = data.options;
  const host = new Host({ seed: o.seed, memory: data.memory, frames: data.frames, trace: "off", ...(o.profile === undefined ? {} : { profile: o.profile }) });
  const topology = connect(host);
  const own = topology.kernels[me] as Kernel;
  const hv = host.hv;
  for (const k of topology.kernels) if (k !== own) hv.makeInert(k.domain.domid);
  // An upcall for a VCPU of this thread is scheduled here; one for another thread wakes it.
  hv.setDelivery({
    kick(target: Vcpu, sender: Vcpu | undefined): void {
      const w = target.domain.domid;
      if (w === me) {
        hv.deliverLocally(target, sender);
        return;
      }
      Atomics.add(ctl, CTL.WAKE + w, 1);
      if (waiting(w)) Atomics.notify(ctl, CTL.WAKE + w, 1);
    },
  });
  booted = { ...topology, own };
  // The live store (--xenstored): Dom0's thread answers the relay between its slices.
  if (data.xenstorePort !== undefined) storeServer = host.serveXenstorePort(data.xenstorePort);
  return { kind: "booted", hypercalls: hv.stats.snapshot() };
}

/**
 * This thread's VCPUs until STOP: take the upcalls the other thread raised and what `poll` finds
 * (true: something changed), run a slice of local work, and when there is none spin on the wake
 * counter, then sleep on it. `poll` runs again after the thread says it is idle, so a change made
 * before the other thread saw it idle is not missed.
 */
function loop(b: Booted, poll: () => boolean): void {
  const hv = b.host.hv;
  const evtchn = hv.evtchnOf(b.own.domain.domid);
  const vcpus = b.own.domain.vcpus;
  const clock = hv.sim.clock;
  const wall0 = performance.now();
  const virtual0 = clock.now();
  const limits = { untilNs: 0, maxEvents: SLICE_EVENTS, holdClock: true };
  for (;;) {
    const seen = Atomics.load(ctl, CTL.WAKE + me);
    if (Atomics.load(ctl, CTL.STOP) !== 0) return;
    for (let i = 0; i < vcpus.length; i++) {
      const v = vcpus[i] as Vcpu;
      if (evtchn.upcallPending(v.id)) hv.deliverLocally(v, undefined);
    }
    poll();
    storeServer?.poll();
    limits.untilNs = Math.max(clock.now() + NEAR_NS, virtual0 + (performance.now() - wall0) * 1e6);
    const reason = hv.run(limits).reason;
    if (reason === "event-limit") continue;
    // A thread with a timer pending is not idle: the coordinator must not end the run under it.
    const idle = reason === "idle";
    if (idle) Atomics.store(ctl, CTL.IDLE + me, seen);
    // Waiting from here (idle or not): a peer that changes what poll() reads after this store
    // bumps the wake counter, and one that changed it before is seen by this poll().
    Atomics.store(ctl, CTL.WAITING + me, 1);
    if (poll()) {
      Atomics.store(ctl, CTL.WAITING + me, 0);
      Atomics.store(ctl, CTL.IDLE + me, BUSY);
      continue;
    }
    let polls = 0;
    while (polls < SPIN_POLLS && Atomics.load(ctl, CTL.WAKE + me) === seen) polls++;
    if (polls === SPIN_POLLS) Atomics.wait(ctl, CTL.WAKE + me, seen, !idle ? TIMER_POLL_MS : storeServer !== undefined ? XENSTORE_POLL_MS : Number.POSITIVE_INFINITY);
    Atomics.store(ctl, CTL.WAITING + me, 0);
    Atomics.store(ctl, CTL.IDLE + me, BUSY);
  }
}

/** Whether thread w waits on its wake counter (idle, or spinning or sleeping with a timer pending). */
function waiting(w: number): boolean {
  return Atomics.load(ctl, CTL.IDLE + w) !== BUSY || Atomics.load(ctl, CTL.WAITING + w) !== 0;
}

function run(): VcpuReply {
  const b = state();
  const roles = trafficThreads(data.topology, data.options.direction);
  const sending = me === roles.sender;
  const receiving = me === roles.receiver;
  const hv = b.host.hv;
  const meter = new PhaseMeter(hv);
  let lastDeliveryMs = 0;
  const { receiver, generator } = b;
  let poll = (): boolean => false;
  if (sending) {
    // The generator's window: deliveries are counted on the receiving thread, and this thread's
    // copy of the receiver follows that count (as a TCP sender follows ACKs).
    poll = () => {
      const d = Atomics.load(ctl, CTL.DELIVERED);
      if (d === receiver.sink.delivered) return false;
      receiver.sink.delivered = d;
      receiver.onDelivery();
      return true;
    };
    generator.wake();
  } else if (receiving) {
    receiver.onDelivery = () => {
      lastDeliveryMs = performance.timeOrigin + performance.now();
      Atomics.add(ctl, CTL.DELIVERED, 1);
      // A sender waiting for its window is woken (it may have a timer pending, so not be idle).
      if (waiting(roles.sender)) {
        Atomics.add(ctl, CTL.WAKE + roles.sender, 1);
        Atomics.notify(ctl, CTL.WAKE + roles.sender, 1);
      }
    };
  }
  loop(b, poll);
  const { sink } = receiver;
  const timing = meter.finish(sink.delivered, sink.bytes, receiver.lastDeliveryNs);
  if (sending) generator.finish();
  const mine = b.guests.get(me);
  const traffic: ThreadTraffic = {
    sent: generator.sent,
    dropped: sending ? b.senderDropped() : 0,
    delivered: sink.delivered,
    bytes: sink.bytes,
    corrupt: sink.corrupt,
    outOfOrder: sink.outOfOrder,
    gaps: sink.gaps,
    lastDeliveryMs,
    timing,
    hypercalls: hv.stats.snapshot(),
    ...(mine === undefined ? { counters: b.dom0Counters(), debugfs: b.dom0Debugfs(), grantTable: { ...b.host.grants.stats }, ...(b.bridge === undefined ? {} : { bridge: b.bridge() }) } : { frontend: { ...mine.netfront.stats() }, ...(data.options.rxBuildSkb === true ? { frontendRxPath: { ...mine.netfront.rxPathStats() } } : {}) }),
    inertWorkDropped: hv.inertWorkDropped,
    ...(b.tcp === undefined ? {} : { tcp: threadTcp(b.tcp, sending, receiving, mine === undefined ? b.queuePackets() : undefined) }),
    numQueues: (mine ?? ([...b.guests.values()][0] as GuestSide)).netfront.numQueues,
  };
  return { kind: "ran", traffic };
}

/** What this thread knows of the TCP flows: its live end's counters (and Dom0's per-queue frames). */
function threadTcp(t: TcpFlows, sending: boolean, receiving: boolean, queuePackets: readonly number[] | undefined): NonNullable<ThreadTraffic["tcp"]> {
  return {
    windowBytes: t.windowBytes,
    ...(sending ? { sender: { ...t.sender.stats }, complete: t.sender.done } : {}),
    ...(receiving ? { receiver: { ...t.receiver.stats } } : {}),
    ...(queuePackets === undefined ? {} : { queuePackets }),
  };
}

/**
 * A guest: xl network-detach as netfront sees it (remove). Dom0: netback sees each frontend's
 * state go Closed — the one xenstore key of the other side it watches, mirrored into this
 * thread's store — and disconnects; then what Dom0 still holds is counted.
 */
function teardown(): VcpuReply {
  const b = state();
  const hv = b.host.hv;
  const mine = b.guests.get(me);
  if (mine !== undefined) {
    mine.netfront.remove();
    b.host.run({ maxEvents: SETUP_EVENTS });
    return { kind: "torndown", audit: {} };
  }
  for (const domid of b.guests.keys()) b.host.toolstack.write(`/local/domain/${domid}/device/vif/0/state`, String(XenbusState.Closed));
  b.host.run({ maxEvents: SETUP_EVENTS });
  b.dom0Memory.skbs.drain();
  const audit: Partial<TeardownAudit> = {
    dom0Grants: b.host.grants.outstanding(b.own.domain),
    netback: { ...b.netback.outstanding() },
    dom0PagesInUse: b.dom0Memory.pool.pagesInUse,
    eventChannelsOpen: hv.evtchnOf(b.own.domain.domid).openPorts().length,
  };
  return { kind: "torndown", audit };
}

/** A guest, after Dom0 let go: what it still holds (deferred grants retried first). */
function audit(): VcpuReply {
  const b = state();
  const mine = b.guests.get(me) as GuestSide;
  const netfront = { ...mine.netfront.outstanding() };
  mine.memory.skbs.drain();
  return {
    kind: "torndown",
    audit: {
      guestGrants: b.host.grants.outstanding(b.own.domain),
      netfront,
      guestPagesInUse: mine.memory.pool.pagesInUse,
      eventChannelsOpen: b.host.hv.evtchnOf(b.own.domain.domid).openPorts().length,
    },
  };
}

/** Where an error was raised: the domain and VCPU whose work ran, or the thread's own. */
function where(): string {
  const v = booted?.host.hv.faultingVcpu();
  return v === null || v === undefined ? `the d${me} thread` : `${v.domain.name} d${v.domain.domid}v${v.id}`;
}

parentPort?.on("message", (m: VcpuCommand) => {
  if (m.cmd === "exit") {
    void booted?.host.close();
    parentPort?.close();
    return;
  }
  try {
    post(m.cmd === "boot" ? boot() : m.cmd === "run" ? run() : m.cmd === "teardown" ? teardown() : audit());
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ kind: "error", where: where(), message: err.message, stack: err.stack });
    // The other thread leaves its loop too.
    Atomics.store(ctl, CTL.STOP, 1);
    stopAll(ctl, data.threads);
  }
});
