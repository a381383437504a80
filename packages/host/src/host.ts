/**
 * A modelled host, booted the way a toolstack does: the hypervisor, the grant tables, xenstore and
 * the toolstack's connection, then each domain (the first is Dom0) with its xenstore home
 * (libxl__domain_make) and its kernel context (xenstore connection, xenbus, guest grant-table
 * driver). Every domain's xenbus watch callbacks run on its VCPU 0 (xenbusInit's xenwatch), so a
 * whole connection handshake replays from the seed.
 *
 * The runner is chosen here and only here: the drivers get their environment from
 * `Host.kernelOps()`, the per-CPU cost sinks from `cpuCosts`, and never see which runner it is.
 */
import type { CostProfile, RunLimits, RunResult, TraceMode } from "@pvnet/sim";
import { DEFAULT_MAX_EVENTS, Simulation } from "@pvnet/sim";
import { DEFAULT_PROFILE, type Domain, Hypervisor, type KernelOps, type SharedMemory, type Vcpu } from "@pvnet/hypervisor";
import { GnttabGuest, GrantTables, type MaptrackVariant } from "@pvnet/xen-grant-table";
import { FrameReceiver, type FrameReceiverOptions } from "./generator.js";
import type { MessagePort } from "node:worker_threads";
import {
  type Connection,
  createXenstoredServer,
  libxlDomainMake,
  XenStore,
  type Xenbus,
  XenstoredPortServer,
  type XenstoredPortServerOptions,
  type XenstoredServer,
  xenbusInit,
} from "@pvnet/xenstore";

/**
 * How to boot a host: seed, machine size in frames, host profile (per-operation costs), maptrack
 * discipline, runner, run hooks and trace mode.
 */
export interface HostOptions {
  readonly seed: number;
  /** Machine memory in 4 KiB frames. */
  readonly frames?: number;
  readonly profile?: CostProfile;
  /** Physical CPUs the VCPUs are placed on, round robin: by default the profile's `cpu.pcpus`. */
  readonly pcpus?: number;
  readonly maptrack?: MaptrackVariant;
  /** How VCPUs run: "deterministic" (every VCPU an actor of one seeded virtual-time scheduler). */
  readonly runner?: HostRunner;
  /** What the runner calls around and between the slices of each run (progress, stop, serving the store). */
  readonly hooks?: RunHooks;
  /** What the trace keeps (@pvnet/sim `TraceMode`, default "full"): no other result depends on it. */
  readonly trace?: TraceMode;
  /**
   * Machine memory to boot on (@pvnet/hypervisor `createMachineMemory`): threaded mode gives every
   * VCPU thread's host the same one. A new one by default.
   */
  readonly memory?: SharedMemory;
}

/**
 * Scheduler events per slice of the deterministic runner. One event is one VCPU's batch of work
 * (a NAPI poll, a generator burst): 1 000 of them take about 5 ms of wall time on a busy 2-core
 * machine, so what runs between slices (a stop request, a xenstore peer's request, each of the
 * dozens xenstore-ls sends one after the other) is answered within a few milliseconds.
 */
export const DEFAULT_SLICE_EVENTS = 1_000;

/**
 * What a runner calls while the host runs. The deterministic runner steps the scheduler in slices
 * of `sliceEvents`: the same events in the same order as one unbroken run, so the trace digest and
 * every counter are the same whatever the slice size and whatever the hooks do, as long as they
 * only look (a hook that writes to the store, as a xenstore peer may, is an input to the run).
 * A hook that throws ends the run with that error, which unwinds through the caller's cleanup.
 * A threaded runner calls the same hooks from the thread that owns the host, between its waits.
 */
export interface RunHooks {
  /** Events per slice (default DEFAULT_SLICE_EVENTS). */
  readonly sliceEvents?: number;
  /** Once, when the host is constructed (before any domain is booted). */
  attached?(host: Host): void;
  /** At the start of each `Host.run` call. */
  runStarted?(host: Host): void;
  /** After each slice but the last of a run: `events` run so far in this call. */
  betweenSlices?(host: Host, events: number): void;
  /** At the end of each `Host.run` call that was not ended by a hook's error. */
  runEnded?(host: Host, result: RunResult): void;
}

/** Something that serves requests between slices (a xenstore endpoint); returns requests served. */
export interface SliceService {
  /** Serve pending work between scheduler slices; returns the number of requests served. */
  poll(): number;
}

/** The runners a host can boot with. Threaded mode (one worker per VCPU) is not built yet. */
export const HOST_RUNNERS = ["deterministic"] as const;
/** One of HOST_RUNNERS: how the host's VCPUs are executed. */
export type HostRunner = (typeof HOST_RUNNERS)[number];

/** One domain as its kernel sees the environment. */
export interface Kernel {
  readonly domain: Domain;
  readonly vcpu0: Vcpu;
  readonly conn: Connection;
  readonly xenbus: Xenbus;
  readonly gnttab: GnttabGuest;
}

/** Default machine size: 64 Ki frames = 256 MiB, room for Dom0, guests, rings and 64 KiB packets. */
export const DEFAULT_HOST_FRAMES = 1 << 16;

/**
 * A modelled Xen host: hypervisor, grant tables, xenstore, toolstack and domains with their
 * kernels, run slice by slice by the chosen runner (see the module comment).
 */
export class Host {
  readonly runner: HostRunner;
  readonly hv: Hypervisor;
  readonly grants: GrantTables;
  readonly store = new XenStore();
  /** The toolstack's own privileged connection (xl/libxl in Dom0 user space). */
  readonly toolstack: Connection;
  private readonly kernels = new Map<number, Kernel>();
  private server: XenstoredServer | undefined;
  private readonly portServers: XenstoredPortServer[] = [];
  private readonly hooks: RunHooks;
  private readonly sliceEvents: number;
  private readonly services: SliceService[] = [];
  private readonly receivers: FrameReceiver[] = [];

  constructor(options: HostOptions) {
    this.runner = options.runner ?? "deterministic";
    if (!HOST_RUNNERS.includes(this.runner)) throw new RangeError(`unknown runner '${String(this.runner)}' (known: ${HOST_RUNNERS.join(", ")})`);
    this.hv = new Hypervisor({
      frames: options.frames ?? DEFAULT_HOST_FRAMES,
      sim: new Simulation({
        seed: options.seed,
        profile: options.profile ?? DEFAULT_PROFILE,
        trace: options.trace ?? "full",
        ...(options.pcpus === undefined ? {} : { pcpus: options.pcpus }),
      }),
      ...(options.memory === undefined ? {} : { memory: options.memory }),
    });
    // The deterministic runner: maptrack locks hold and wait on the virtual clock.
    this.grants = new GrantTables(this.hv, { lockTime: true, ...(options.maptrack === undefined ? {} : { maptrack: options.maptrack }) });
    this.toolstack = this.store.connect(0);
    this.hooks = options.hooks ?? {};
    this.sliceEvents = this.hooks.sliceEvents ?? DEFAULT_SLICE_EVENTS;
    if (!Number.isSafeInteger(this.sliceEvents) || this.sliceEvents <= 0) throw new RangeError(`bad slice of ${this.sliceEvents} events`);
    this.hooks.attached?.(this);
  }

  /**
   * Run the machine until idle or a limit (see @pvnet/sim `Scheduler.run`), in slices: between two
   * slices the host serves its store endpoints and calls the hooks' `betweenSlices`.
   */
  run(limits: RunLimits = {}): RunResult {
    const { hv, hooks } = this;
    const maxEvents = limits.maxEvents ?? DEFAULT_MAX_EVENTS;
    hooks.runStarted?.(this);
    let events = 0;
    let result: RunResult;
    for (;;) {
      const slice = Math.min(this.sliceEvents, maxEvents - events);
      const r = hv.run(limits.untilNs === undefined ? { maxEvents: slice } : { untilNs: limits.untilNs, maxEvents: slice });
      events += r.events;
      if (r.reason !== "event-limit" || events >= maxEvents) {
        result = { events, reason: r.reason, nowNs: r.nowNs };
        break;
      }
      this.serve();
      hooks.betweenSlices?.(this, events);
    }
    this.serve();
    hooks.runEnded?.(this, result);
    return result;
  }

  /** Serve requests `service` queued, between slices of every run, until `removeService`. */
  addService(service: SliceService): void {
    this.services.push(service);
  }

  /** Stop calling a service between slices (a no-op when it was not added). */
  removeService(service: SliceService): void {
    const i = this.services.indexOf(service);
    if (i >= 0) this.services.splice(i, 1);
  }

  private serve(): void {
    for (const s of this.services) s.poll();
  }

  /** A verifying receiver of this host's traffic, counted in `delivered()`. */
  frameReceiver(options: FrameReceiverOptions = {}): FrameReceiver {
    const r = new FrameReceiver(this.hv, options);
    this.receivers.push(r);
    return r;
  }

  /** Frames the receivers of `frameReceiver()` took so far (verified or corrupt). */
  delivered(): number {
    let n = 0;
    for (const r of this.receivers) n += r.sink.delivered + r.sink.corrupt;
    return n;
  }

  /** Create a domain (the first is Dom0), its xenstore home and its kernel context. */
  boot(name: string, maxPages: number, vcpus = 1): Kernel {
    const domain = this.hv.createDomain({ name, maxPages, vcpus });
    if (domain.domid !== 0) libxlDomainMake(this.toolstack, domain.domid, name);
    const vcpu0 = domain.vcpus[0] as Vcpu;
    // xenwatch: this domain's watch events are drained on its VCPU 0 when some are pending.
    const { conn, xenbus } = xenbusInit(this.store, domain.domid, { clock: this.hv.sim.clock, work: this.hv, cpu: vcpu0 });
    const kernel: Kernel = { domain, vcpu0, conn, xenbus, gnttab: new GnttabGuest(this.grants, vcpu0) };
    this.kernels.set(domain.domid, kernel);
    return kernel;
  }

  /** What a driver of this host gets from the layer below (clock, work, evtchn, multicall, memory, trace). */
  kernelOps(): KernelOps {
    return this.hv.kernelOps();
  }

  /** The kernel context of domain `domid`, or undefined when no such domain was booted. */
  kernel(domid: number): Kernel | undefined {
    return this.kernels.get(domid);
  }

  /**
   * Serve this host's xenstore to the relay at the other end of `port` (@pvnet/xenstore
   * `createXenstoredRelay`, on a thread whose event loop is free): its clients are answered
   * between two slices of every run, and whenever this thread's event loop runs.
   */
  serveXenstorePort(port: MessagePort, options?: XenstoredPortServerOptions): XenstoredPortServer {
    const server = new XenstoredPortServer(this.store, port, options);
    this.portServers.push(server);
    this.addService(server);
    return server;
  }

  /**
   * Serve this host's xenstore on a unix socket of this thread, so real Xen tools (xenstore-ls)
   * can look in. Its clients are answered only when this thread's event loop runs, not during a
   * run: a live store during runs is `serveXenstorePort` with the relay on another thread.
   */
  async serveXenstore(socketPath: string): Promise<XenstoredServer> {
    this.server ??= await createXenstoredServer(this.store, { socketPath });
    return this.server;
  }

  /**
   * Shut the host's xenstore endpoints down: the port servers (removed from the services) and the
   * socket server, if one was started.
   */
  async close(): Promise<void> {
    for (const p of this.portServers.splice(0)) {
      this.removeService(p);
      p.close();
    }
    await this.server?.close();
    this.server = undefined;
  }
}
