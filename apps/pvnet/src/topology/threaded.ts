/**
 * Threaded mode of the topologies (`pvnet run --mode threaded`): Dom0's kernel and each guest's
 * kernel run on a `worker_thread` of their own, over ONE machine memory (its
 * frames and the hypervisor heap after them: frame owners and page counts, p2m, event-channel
 * ports, active grant entries, maptrack). Hypercalls run on the calling VCPU's thread. An event
 * channel whose target runs on the other thread sets the pending bits in shared_info and wakes
 * that thread with `Atomics.notify`; an idle thread spins briefly, then `Atomics.wait`s.
 *
 * Boot and the xenstore handshake are deterministic and replayed: Dom0's thread boots the whole
 * machine, its memory is kept aside and cleared, each guest's thread boots it again from the same
 * seed, and the memories must be byte-identical (else the run stops). Each thread then owns
 * its domain's kernel; its copy of the other domain's is inert (`Hypervisor.makeInert`). The
 * traffic phase runs concurrently until both threads are idle with no wake-up in flight; the
 * teardown is each side's own (each frontend's xenstore state is mirrored into Dom0's store, as
 * the one key netback watches), and the audit adds up what each side still holds.
 *
 * This thread (the coordinator) only starts, watches and stops the two: it runs no driver code.
 */
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { createMachineMemory, type HypercallSnapshot, type OpCount, type SharedMemory } from "@pvnet/hypervisor";
import { DEFAULT_HOST_FRAMES, type TcpReceiverStats, type TcpSenderStats, type TeardownAudit, tcpPayload } from "@pvnet/host";
import type { GrantTableStats } from "@pvnet/xen-grant-table";
import { createXenstoredRelay, type XenstoredServer } from "@pvnet/xenstore";
import type { DomuDom0Options, RunReport } from "./domu-dom0.js";
import type { DomuDomuOptions, DomuDomuReport } from "./domu-domu.js";
import { persistentSides } from "./devices.js";
import type { TcpReport } from "./iperf.js";
import type { PhaseTiming } from "./measure.js";

/** Words of the control block the coordinator shares with the VCPU threads (not machine state). */
export const CTL = Object.freeze({
  /** Wake-up counter of thread w (thread w runs domid w): a kick increments it and notifies. */
  WAKE: 0,
  /** What thread w last saw of its wake counter before going idle, or BUSY. */
  IDLE: 4,
  /** Set once: every thread leaves its loop. */
  STOP: 8,
  /** Frames the receiving thread delivered so far (the sender's window follows it). */
  DELIVERED: 9,
  /**
   * 1 while thread w spins or sleeps on its wake counter, idle or with only a later timer pending
   * (then IDLE[w] stays BUSY): a thread that changes something w waits for notifies it.
   */
  WAITING: 12,
  WORDS: 16,
});
/** IDLE[w] while thread w runs. */
export const BUSY = -1;
/** Threads of a topology at most (Dom0 and two guests). */
const MAX_THREADS = 4;

export type ThreadedTopology = "domu-dom0" | "domu-domu";

/**
 * What `pvnet run --mode threaded` supports today (both topologies, both directions, every size,
 * baseline or persistent grants, 1..8 queues: a domain's queues share its thread; pktgen or
 * --flows; netfront's build_skb RX); the rest is refused with one line.
 */
export function threadedUnsupported(topology: string, options: DomuDom0Options): string | undefined {
  if (topology !== "domu-dom0" && topology !== "domu-domu") return `--mode threaded does not run --topology ${topology}`;
  if (options.xdp !== undefined) return "--mode threaded does not run --xdp yet";
  if (options.busyPoll === true) return "--mode threaded does not run a busy-polling guest yet";
  if (options.hooks !== undefined) return "--mode threaded takes no runner hooks";
  return undefined;
}

export interface VcpuWorkerData {
  readonly topology: ThreadedTopology;
  /** This thread: it runs the kernel of domid `thread` (0: Dom0). */
  readonly thread: number;
  /** Threads of the topology. */
  readonly threads: number;
  readonly options: DomuDom0Options;
  readonly memory: SharedMemory;
  readonly frames: number;
  readonly control: SharedArrayBuffer;
  /** This module's URL in a source checkout (the boot file imports it). */
  readonly entry: string;
  /** Dom0's thread, with --xenstored: the store's end of the relay (@pvnet/xenstore `createXenstoredRelay`). */
  readonly xenstorePort?: MessagePort;
}

export type VcpuCommand = { readonly cmd: "boot" } | { readonly cmd: "run" } | { readonly cmd: "teardown" } | { readonly cmd: "audit" } | { readonly cmd: "exit" };

/** What one thread reports of the traffic phase. */
export interface ThreadTraffic {
  readonly sent: number;
  readonly dropped: number;
  readonly delivered: number;
  readonly bytes: number;
  readonly corrupt: number;
  readonly outOfOrder: number;
  readonly gaps: number;
  /** Wall clock (performance.timeOrigin + now, ms) of the last delivery. */
  readonly lastDeliveryMs: number;
  readonly timing: PhaseTiming;
  readonly hypercalls: HypercallSnapshot;
  /** Dom0's thread: its vif's counters (domu-dom0), or the sender's and receiver's vifs and the bridge (domu-domu). */
  readonly counters?: { readonly vif?: Record<string, number>; readonly sender?: Record<string, number>; readonly receiver?: Record<string, number> };
  readonly bridge?: Record<string, number>;
  /** Dom0's thread: netback's debugfs files and the grant operations Dom0 made (its copies and maps). */
  readonly debugfs?: Record<string, string>;
  readonly grantTable?: GrantTableStats;
  /** A guest's thread: its netfront's counters (and with --rx-build-skb its receive path's). */
  readonly frontend?: Record<string, number>;
  readonly frontendRxPath?: Record<string, number>;
  readonly inertWorkDropped: number;
  /** Queues the vif connected with (netfront's count, on the guest's thread). */
  readonly numQueues: number;
  /** With --flows: the sending thread's sender, the receiving thread's receiver, Dom0's frames per queue. */
  readonly tcp?: {
    readonly windowBytes: number;
    readonly sender?: TcpSenderStats;
    readonly complete?: boolean;
    readonly receiver?: TcpReceiverStats;
    readonly queuePackets?: readonly number[];
  };
}

export type VcpuReply =
  | { readonly kind: "booted"; readonly hypercalls: HypercallSnapshot }
  | { readonly kind: "ran"; readonly traffic: ThreadTraffic }
  | { readonly kind: "torndown"; readonly audit: Partial<TeardownAudit> }
  | { readonly kind: "error"; readonly where: string; readonly message: string; readonly stack: string | undefined };

/** An error raised on a VCPU's thread: says which domain and VCPU raised it. */
export class VcpuThreadError extends Error {
  constructor(
    readonly where: string,
    message: string,
    stack?: string,
  ) {
    super(`${where}: ${message}`);
    this.name = "VcpuThreadError";
    if (stack !== undefined) this.stack = `${this.name}: ${where}: ${stack}`;
  }
}

/**
 * Every thread went idle with nothing left to wake it, but the traffic was not all sent (or, with
 * --flows, not all ACKed): a wake-up was lost. The message carries what each side saw: the
 * counts, netback's debugfs (ring indices and event indices per queue) and each netfront's
 * counters, to find which notification went missing.
 */
export class ThreadedStallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ThreadedStallError";
  }
}

/** The stall report of a run whose threads all went idle before its traffic was done (see ThreadedStallError). */
export function threadedStallReport(options: DomuDom0Options, sender: ThreadTraffic, receiver: ThreadTraffic, traffic: readonly ThreadTraffic[]): string | undefined {
  const done = options.flows === undefined ? sender.sent >= options.packets : sender.tcp?.complete === true;
  if (done) return undefined;
  const lines = [
    `threaded run stalled: every thread idle with nothing to wake it after ${sender.sent} of ${options.packets} ${options.flows === undefined ? "frames" : "segments"} sent, ${receiver.delivered} delivered (a lost wake-up)`,
  ];
  for (const [file, text] of Object.entries(traffic[0]?.debugfs ?? {})) lines.push(`Dom0 ${file}:`, text.trimEnd());
  traffic.forEach((t, domid) => {
    if (t.frontend !== undefined) lines.push(`d${domid} netfront: ${JSON.stringify(t.frontend)}`);
  });
  return lines.join("\n");
}

/** How often the coordinator looks whether both threads are idle. */
const QUIESCE_POLL_MS = 1;

function startVcpuWorker(data: Omit<VcpuWorkerData, "entry">): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = fromSource ? new URL("./vcpu-worker.ts", import.meta.url) : new URL("./vcpu-worker.js", import.meta.url);
  const transferList = data.xenstorePort === undefined ? [] : [data.xenstorePort];
  if (!fromSource) return new Worker(entry, { workerData: { ...data, entry: entry.href }, transferList });
  return new Worker(new URL("./vcpu-worker-boot.mjs", import.meta.url), { workerData: { ...data, entry: entry.href }, transferList });
}

/** One VCPU thread and its replies, one at a time. */
class VcpuThread {
  readonly worker: Worker;
  private pending: { resolve: (r: VcpuReply) => void; reject: (e: Error) => void } | undefined;
  failure: Error | undefined;
  exited: Promise<number>;

  constructor(data: Omit<VcpuWorkerData, "entry">, onFailure: (e: Error) => void) {
    this.worker = startVcpuWorker(data);
    this.worker.on("message", (m: VcpuReply) => {
      if (m.kind === "error") {
        this.fail(new VcpuThreadError(m.where, m.message, m.stack));
        onFailure(this.failure as Error);
        return;
      }
      const p = this.pending;
      this.pending = undefined;
      p?.resolve(m);
    });
    this.worker.on("error", (e) => {
      this.fail(e);
      onFailure(e);
    });
    this.exited = new Promise((res) => this.worker.once("exit", res));
    void this.exited.then((code) => {
      if (this.pending !== undefined) this.fail(new Error(`thread ${data.thread} exited with code ${code} before replying`));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }

  /** Send a command; resolves with the thread's reply. */
  ask(cmd: VcpuCommand): Promise<VcpuReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(cmd);
    });
  }
}

/** Both threads idle with their wake counters unchanged since they went idle: nothing can run. */
function quiescent(ctl: Int32Array, n: number): string | undefined {
  let key = "";
  for (let w = 0; w < n; w++) {
    const idle = Atomics.load(ctl, CTL.IDLE + w);
    const wake = Atomics.load(ctl, CTL.WAKE + w);
    if (idle === BUSY || idle !== wake) return undefined;
    key += `${wake},`;
  }
  return key;
}

/** Stop both threads' loops: set STOP and wake them. */
export function stopAll(ctl: Int32Array, n: number): void {
  Atomics.store(ctl, CTL.STOP, 1);
  for (let w = 0; w < n; w++) {
    Atomics.add(ctl, CTL.WAKE + w, 1);
    Atomics.notify(ctl, CTL.WAKE + w);
  }
}

/** Resolves once both threads have been seen idle twice in a row, a poll apart, with no wake-up between. */
function whenQuiescent(ctl: Int32Array, n: number, failed: () => Error | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let last: string | undefined;
    const poll = (): void => {
      const e = failed();
      const key = quiescent(ctl, n);
      if (e !== undefined) reject(e);
      else if (key !== undefined && key === last) resolve();
      else {
        last = key;
        setTimeout(poll, QUIESCE_POLL_MS);
      }
    };
    poll();
  });
}

function ok<K extends VcpuReply["kind"]>(r: VcpuReply, kind: K): Extract<VcpuReply, { kind: K }> {
  if (r.kind !== kind) throw new Error(`expected '${kind}' from a VCPU thread, got '${r.kind}'`);
  return r as Extract<VcpuReply, { kind: K }>;
}

/** Sum (sign 1) or subtract (sign -1) hypercall snapshots. */
function addHypercalls(a: HypercallSnapshot, b: HypercallSnapshot, sign: 1 | -1): HypercallSnapshot {
  const byOp: Record<string, OpCount> = {};
  for (const k of [...new Set([...Object.keys(a.byOp), ...Object.keys(b.byOp)])].sort()) {
    const x = a.byOp[k] ?? { calls: 0, ops: 0 };
    const y = b.byOp[k] ?? { calls: 0, ops: 0 };
    const c = { calls: x.calls + sign * y.calls, ops: x.ops + sign * y.ops };
    if (c.calls !== 0 || c.ops !== 0) byOp[k] = c;
  }
  return { entries: a.entries + sign * b.entries, multicalls: a.multicalls + sign * b.multicalls, byOp };
}

/** Find the first byte where two memories differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(a, b) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Kernel threads of a topology, by domid: Dom0 and the guest, or Dom0 and guests A and B. */
export function threadDomains(topology: ThreadedTopology): readonly string[] {
  return topology === "domu-dom0" ? ["Domain-0", "guest"] : ["Domain-0", "guest-a", "guest-b"];
}

/** The threads that send and receive the traffic (by domid). */
export function trafficThreads(topology: ThreadedTopology, direction: "tx" | "rx"): { readonly sender: number; readonly receiver: number } {
  if (topology === "domu-domu") return { sender: 1, receiver: 2 };
  return direction === "tx" ? { sender: 1, receiver: 0 } : { sender: 0, receiver: 1 };
}

const NO_GRANTS = { maps: 0, handles: 0, pins: 0 };

function sumGrants(a: TeardownAudit["guestGrants"], b: TeardownAudit["guestGrants"] | undefined): TeardownAudit["guestGrants"] {
  return b === undefined ? a : { maps: a.maps + b.maps, handles: a.handles + b.handles, pins: a.pins + b.pins };
}

function sumCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>> | undefined): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

type ThreadedReport<T> = T & { readonly mode: "threaded"; readonly threaded: ThreadedFigures };

/**
 * Where a threaded run serves its live xenstore, if anywhere: `options.xenstoreSocket` (a socket
 * this thread listens on), or `xenstorePort`, the store's end of a relay another thread listens
 * with (`pvnet run --xenstored`). Either way Dom0's thread answers between its slices.
 */
export interface ThreadedXenstore {
  readonly xenstorePort?: MessagePort;
}

/** Run one DomU <-> Dom0 scenario in threaded mode; the report has deterministic mode's shape. */
export function runDomuDom0Threaded(options: DomuDom0Options, store: ThreadedXenstore = {}): Promise<ThreadedReport<RunReport>> {
  return runThreaded("domu-dom0", options, store) as Promise<ThreadedReport<RunReport>>;
}

/** Run one DomU <-> DomU scenario (guest A -> Dom0's bridge -> guest B) in threaded mode. */
export function runDomuDomuThreaded(options: DomuDomuOptions & { readonly xenstoreSocket?: string }, store: ThreadedXenstore = {}): Promise<ThreadedReport<DomuDomuReport>> {
  return runThreaded("domu-domu", { ...options, direction: "tx" }, store) as Promise<ThreadedReport<DomuDomuReport>>;
}

async function runThreaded(topology: ThreadedTopology, options: DomuDom0Options, store: ThreadedXenstore): Promise<ThreadedReport<RunReport> | ThreadedReport<DomuDomuReport>> {
  const refused = threadedUnsupported(topology, options);
  if (refused !== undefined) throw new RangeError(refused);
  // The live store: a socket served from this thread (its event loop is free while it waits for
  // the VCPU threads), relayed to Dom0's thread.
  let relay: XenstoredServer | undefined;
  let xenstorePort = store.xenstorePort;
  if (options.xenstoreSocket !== undefined && xenstorePort === undefined) {
    const channel = new MessageChannel();
    relay = await createXenstoredRelay(channel.port1, { socketPath: options.xenstoreSocket });
    xenstorePort = channel.port2;
  }
  try {
    return await runThreads(topology, options, xenstorePort);
  } finally {
    await relay?.close();
  }
}

async function runThreads(topology: ThreadedTopology, options: DomuDom0Options, xenstorePort: MessagePort | undefined): Promise<ThreadedReport<RunReport> | ThreadedReport<DomuDomuReport>> {
  const domains = threadDomains(topology);
  const n = domains.length;
  const frames = DEFAULT_HOST_FRAMES;
  const memory = createMachineMemory(frames);
  const control = new SharedArrayBuffer(CTL.WORDS * 4);
  const ctl = new Int32Array(control);
  for (let w = 0; w < MAX_THREADS; w++) Atomics.store(ctl, CTL.IDLE + w, BUSY);
  let failure: Error | undefined;
  const onFailure = (e: Error): void => {
    failure ??= e;
    stopAll(ctl, n);
  };
  const data = { topology, threads: n, options, memory, frames, control };
  const threads: VcpuThread[] = [];
  try {
    // The replayed boot: Dom0's thread, then each guest's over the same memory cleared, each
    // ending byte-identical to the first.
    const bytes = (): Uint8Array => new Uint8Array(memory.buffer as SharedArrayBuffer);
    let first: Uint8Array | undefined;
    let booted: Extract<VcpuReply, { kind: "booted" }> | undefined;
    for (let w = 0; w < n; w++) {
      if (first !== undefined) bytes().fill(0);
      const t = new VcpuThread({ ...data, thread: w, ...(w === 0 && xenstorePort !== undefined ? { xenstorePort } : {}) }, onFailure);
      threads.push(t);
      const b = ok(await t.ask({ cmd: "boot" }), "booted");
      if (first === undefined) {
        first = bytes().slice();
        booted = b;
      } else {
        const at = firstDifference(first, bytes());
        if (at >= 0) throw new Error(`the VCPU threads of ${domains[0]} and ${domains[w]} booted different machines (first difference at byte ${at}): boot is not deterministic`);
      }
    }
    first = undefined;

    // The traffic phase: every thread runs until none can run.
    const startMs = performance.timeOrigin + performance.now();
    const running = Promise.all(threads.map((t) => t.ask({ cmd: "run" })));
    // A thread's failure rejects the wait below first; this rejection is then handled there.
    running.catch(() => undefined);
    await whenQuiescent(ctl, n, () => failure);
    stopAll(ctl, n);
    const traffic = (await running).map((r) => ok(r, "ran").traffic);
    const roles = trafficThreads(topology, options.direction);
    const sender = traffic[roles.sender] as ThreadTraffic;
    const receiver = traffic[roles.receiver] as ThreadTraffic;
    const dt = traffic[0] as ThreadTraffic;
    const stalled = threadedStallReport(options, sender, receiver, traffic);
    if (stalled !== undefined) throw new ThreadedStallError(stalled);

    // Teardown: the guests remove their vifs, then Dom0 follows, then the guests retry what they deferred.
    for (let w = 1; w < n; w++) ok(await (threads[w] as VcpuThread).ask({ cmd: "teardown" }), "torndown");
    const back = ok(await (threads[0] as VcpuThread).ask({ cmd: "teardown" }), "torndown").audit;
    let guestGrants = NO_GRANTS;
    let netfront: Record<string, number> = {};
    let guestPagesInUse = 0;
    let eventChannelsOpen = back.eventChannelsOpen ?? 0;
    for (let w = 1; w < n; w++) {
      const front = ok(await (threads[w] as VcpuThread).ask({ cmd: "audit" }), "torndown").audit;
      guestGrants = sumGrants(guestGrants, front.guestGrants);
      netfront = sumCounts(netfront, front.netfront);
      guestPagesInUse += front.guestPagesInUse ?? 0;
      eventChannelsOpen += front.eventChannelsOpen ?? 0;
    }
    const teardown: TeardownAudit = {
      dom0Grants: back.dom0Grants ?? NO_GRANTS,
      guestGrants,
      netback: back.netback ?? {},
      netfront,
      dom0PagesInUse: back.dom0PagesInUse ?? 0,
      guestPagesInUse,
      eventChannelsOpen,
    };
    const seconds = Math.max(1e-9, (receiver.lastDeliveryMs - startMs) / 1000);
    // Each thread charged only its own domain's VCPUs; the others' are its inert copies.
    const busyNs: Record<string, number> = {};
    for (const t of traffic) for (const [k, v] of Object.entries(t.timing.modelled.busyNs)) busyNs[k] = Math.max(busyNs[k] ?? 0, v);
    // Every thread counted the replayed boot: it is counted once.
    let hypercalls = dt.hypercalls;
    for (let w = 1; w < n; w++) hypercalls = addHypercalls(addHypercalls(hypercalls, (traffic[w] as ThreadTraffic).hypercalls, 1), booted?.hypercalls as HypercallSnapshot, -1);
    const threaded: ThreadedFigures = {
      packetsPerSecond: receiver.delivered / seconds,
      gbitPerSecond: (receiver.bytes * 8) / seconds / 1e9,
      threads: domains.map((domain, domid) => ({ domain, domid })),
      inertWorkDropped: traffic.reduce((a, t) => a + t.inertWorkDropped, 0),
    };
    const sides = persistentSides(options);
    const tcp = options.flows === undefined ? {} : threadedTcp(options.flows, options.pktSize, sender, receiver, dt);
    const common = {
      mode: "threaded" as const,
      pktSize: options.pktSize,
      queues: (traffic[roles.sender === 0 ? 1 : roles.sender] as ThreadTraffic).numQueues,
      seed: options.seed,
      persistent: sides.frontend && sides.backend,
      packetsSent: sender.sent,
      packetsDelivered: receiver.delivered,
      bytesDelivered: receiver.bytes,
      dropped: Math.max(0, sender.sent - receiver.delivered - receiver.corrupt),
      corrupt: receiver.corrupt,
      outOfOrder: receiver.outOfOrder,
      hypercalls,
      wall: { seconds, mpps: receiver.delivered / seconds / 1e6, gbit: threaded.gbitPerSecond },
      modelled: { ...receiver.timing.modelled, busyNs },
      debugfs: dt.debugfs ?? {},
      grantTable: dt.grantTable as GrantTableStats,
      traceDigest: "threaded: no trace (the interleaving is the host's, not a seed's)",
      teardown,
      threaded,
      ...tcp,
    };
    // The receiving guest's build_skb counters (guest B in DomU <-> DomU, the guest in DomU <-> Dom0).
    const rxPath = options.rxBuildSkb === true ? { frontendRxPath: traffic[traffic.length - 1]?.frontendRxPath ?? {} } : {};
    if (topology === "domu-domu") {
      return { ...common, ...rxPath, topology, direction: "tx", counters: { sender: dt.counters?.sender ?? {}, receiver: dt.counters?.receiver ?? {} }, bridge: dt.bridge as DomuDomuReport["bridge"] };
    }
    const gt = traffic[1] as ThreadTraffic;
    return { ...common, ...rxPath, topology, direction: options.direction, counters: dt.counters?.vif ?? {}, frontend: gt.frontend ?? {} };
  } finally {
    stopAll(ctl, n);
    for (const t of threads) t.worker.postMessage({ cmd: "exit" } satisfies VcpuCommand);
    // STOP is set, so no thread stays in its loop; one that does not exit in time is ended.
    const exits = threads.map((t) => Promise.race([t.exited, new Promise<number>((res) => setTimeout(() => res(-1), 2000).unref())]));
    const codes = await Promise.all(exits);
    for (let i = 0; i < threads.length; i++) if (codes[i] === -1) await (threads[i] as VcpuThread).worker.terminate();
  }
}

/** The TCP report of a threaded --flows run, from the thread that ran each end. */
function threadedTcp(flows: number, pktSize: number, sender: ThreadTraffic, receiver: ThreadTraffic, dom0: ThreadTraffic): { tcp: TcpReport; queuePackets?: readonly number[] } {
  const s = sender.tcp;
  const r = receiver.tcp;
  // Invariant: with --flows every thread built the TCP ends and reported them.
  if (s?.sender === undefined || r?.receiver === undefined) throw new Error("a VCPU thread did not report its TCP end");
  const tcp: TcpReport = { flows, segmentPayload: tcpPayload(pktSize), windowBytes: s.windowBytes, complete: s.complete === true, sender: s.sender, receiver: r.receiver };
  return { tcp, ...(dom0.tcp?.queuePackets === undefined ? {} : { queuePackets: dom0.tcp.queuePackets }) };
}

/** What threaded mode adds to the report: the wall-clock rate of the real threads. */
export interface ThreadedFigures {
  /** Frames delivered per wall second, from the start of the traffic phase to the last delivery. */
  readonly packetsPerSecond: number;
  readonly gbitPerSecond: number;
  /** One worker_thread per domain kernel. */
  readonly threads: ReadonlyArray<{ readonly domain: string; readonly domid: number }>;
  /** Work dropped on an inert copy of the other thread's domain (xenstore watches of its store). */
  readonly inertWorkDropped: number;
}
