/**
 * The hypervisor: machine memory, domains, event channels and hypercall entry, wired to the
 * simulation engine. In deterministic mode (the default) VCPUs are actors of a `Simulation`: an
 * event-channel notification schedules the target VCPU's upcall on the virtual clock, and timers
 * are scheduler events. Threaded mode swaps the `UpcallDelivery` for one that wakes a worker.
 */
import { type Actor, type CostProfile, type CostSink, Simulation, type TimerHandle } from "@pvnet/sim";
import { type DomainConfig, DOMID_MAX, DOMID_SELF, DOMID_XEN, Domain, type Vcpu } from "./domain.js";
import { XenError } from "./errors.js";
import { EVTCHNSTAT, EvtchnDomain, SHARED_INFO } from "./evtchn.js";
import { HypercallStats, hypercall, type MulticallEntry, multicall } from "./hypercall.js";
import { DOMID_INVALID, Machine, type SharedMemory } from "./machine.js";
import type { CpuCosts, DeferredWork, EvtchnHandler, EvtchnOps, KernelOps, MulticallOps } from "./ops.js";
import { DEFAULT_PROFILE } from "./profiles.js";

export type { EvtchnHandler };

/**
 * How to build a hypervisor: machine size in frames, the simulation (or its seed and host profile),
 * and how notified VCPUs are woken.
 */
export interface HypervisorOptions {
  /** Machine size in 4 KiB frames. */
  readonly frames: number;
  /** The simulation to run on; by default a new one with `seed` and `profile`. */
  readonly sim?: Simulation;
  readonly seed?: number;
  readonly profile?: CostProfile;
  /** How a notified VCPU is woken; deterministic scheduling by default. */
  readonly delivery?: UpcallDelivery;
  /**
   * Machine memory to use (threaded mode: one `createMachineMemory` shared by every VCPU's
   * thread); a new one by default.
   */
  readonly memory?: SharedMemory;
}

/** Wakes a VCPU whose upcall became pending. */
export interface UpcallDelivery {
  /**
   * Make `target` take its pending upcall (the IPI Xen sends in vcpu_kick); `sender` is the VCPU
   * that raised the event, if any.
   */
  kick(target: Vcpu, sender: Vcpu | undefined): void;
}


/** Result of EVTCHNOP_status. */
export interface EvtchnStatus {
  readonly status: number;
  readonly vcpu: number;
  readonly remoteDom: number;
  readonly remotePort: number;
}

/** Cost kinds charged here. */
export const COST_EVTCHN_SEND = "evtchn.send";
/** EVTCHNOP_bind_interdomain / alloc_unbound in Xen: binding a port. */
export const COST_EVTCHN_BIND = "evtchn.bind";
/** EVTCHNOP_unmask: clearing a port's mask bit and re-raising a pending upcall. */
export const COST_EVTCHN_UNMASK = "evtchn.unmask";
/** One upcall into a guest VCPU: the event callback and its handler dispatch. */
export const COST_UPCALL = "upcall";
/** A local TLB flush (and the refill that follows), on the flushing CPU or on a CPU an IPI reached. */
export const COST_TLB_FLUSH = "tlb.flush";
/** One flush IPI's round trip, charged to the CPU that sends it and waits for the acknowledgement. */
export const COST_TLB_FLUSH_IPI = "tlb.flush.ipi";

/** The control domain (is_control_domain): Dom0, the first domain created. */
const CONTROL_DOMID = 0;

interface DomainState {
  readonly domain: Domain;
  readonly evtchn: EvtchnDomain;
  readonly handlers: Map<number, EvtchnHandler>;
}

export class Hypervisor implements EvtchnOps, DeferredWork, MulticallOps, CpuCosts {
  readonly machine: Machine;
  readonly sim: Simulation;
  readonly stats = new HypercallStats();
  private readonly domains = new Map<number, DomainState>();
  private nextDomid = 0;
  /** The pCPU the next VCPU created without a pinning goes on (round robin). */
  private nextPcpu = 0;
  private delivery: UpcallDelivery;
  private readonly upcallScheduled = new Set<Vcpu>();
  private readonly portsScratch: number[] = [];
  /** The VCPU whose work runs now (Linux's smp_processor_id()), null between events. */
  private running: Vcpu | null = null;
  private readonly cpuSinks = new Map<Domain, CostSink>();

  constructor(options: HypervisorOptions) {
    this.machine = new Machine(options.frames, options.memory);
    this.sim = options.sim ?? new Simulation({ seed: options.seed ?? 0, profile: options.profile ?? DEFAULT_PROFILE });
    this.delivery = options.delivery ?? { kick: (target, sender) => this.scheduleUpcall(target, sender) };
  }

  /** Replace how upcalls reach VCPUs (the runner installs its own delivery). */
  setDelivery(delivery: UpcallDelivery): void {
    this.delivery = delivery;
  }

  /**
   * The default delivery: schedule `target`'s upcall on this thread's scheduler. A threaded runner
   * calls it for the VCPUs its thread runs, when it finds their upcall pending.
   */
  deliverLocally(target: Vcpu, sender: Vcpu | undefined): void {
    this.scheduleUpcall(target, sender);
  }

  /**
   * Threaded mode: this thread's copy of `domid`'s kernel is inert from now on, because another
   * thread runs that domain's VCPUs. Work scheduled on them here (a xenstore watch firing in this
   * thread's store) is dropped and counted in `inertWorkDropped`; their upcalls go through the
   * delivery, which wakes the thread that runs them.
   */
  makeInert(domid: number): void {
    this.inert.add(domid);
  }

  /** Work items dropped because they were scheduled on an inert domain's VCPU (see `makeInert`). */
  inertWorkDropped = 0;
  private readonly inert = new Set<number>();

  /** The VCPU whose work last threw on this thread (where a threaded runner reports an error), or null. */
  faultingVcpu(): Vcpu | null {
    return this.faulting;
  }

  private faulting: Vcpu | null = null;

  // ---------------------------------------------------------------- domains

  /** Create a domain; the first one created is Dom0 (domid 0). */
  createDomain(config: DomainConfig): Domain {
    const domid = this.nextDomid++;
    if (domid > DOMID_MAX) throw new XenError("ENOSPC", "no free domid");
    const pcpus = this.sim.pcpus;
    let vcpu = 0;
    const domain = new Domain(this.machine, domid, config, (name: string): Actor => {
      const actor = this.sim.actor(name);
      if (pcpus !== undefined) {
        const pin = config.pcpus?.[vcpu] ?? this.nextPcpu++ % pcpus.pcpus.length;
        this.sim.placeActor(actor, pin);
      }
      vcpu++;
      return actor;
    });
    const sharedInfo = this.machine.allocFrame(DOMID_XEN);
    if (sharedInfo < 0) throw new XenError("ENOMEM", "no frame for shared_info");
    const evtchn = new EvtchnDomain(this.machine, domid, sharedInfo, domain.vcpus.length);
    this.domains.set(domid, { domain, evtchn, handlers: new Map() });
    return domain;
  }

  /** Look a domain up; undefined for an unknown domid. */
  getDomain(domid: number): Domain | undefined {
    return this.domains.get(domid)?.domain;
  }

  /** Every live domain, by domid order. */
  allDomains(): Domain[] {
    return [...this.domains.values()].map((s) => s.domain);
  }

  /**
   * Destroy a domain: close its event channels (peers see them unbound), free its pages and its
   * shared_info. Callers (the grant table) first make sure no foreign mapping of its pages is left.
   */
  destroyDomain(domid: number): void {
    const st = this.domains.get(domid);
    if (st === undefined) throw new XenError("ESRCH", `no domain ${domid}`);
    st.domain.dying = true;
    for (const port of st.evtchn.openPorts()) this.closePort(st, port);
    for (const gfn of st.domain.populatedGfns()) st.domain.freePage(gfn);
    this.machine.freeFrame(st.evtchn.sharedInfoMfn);
    this.domains.delete(domid);
  }

  /** Event-channel state of a domain (for guests' own bit operations and for checks). */
  evtchnOf(domid: number): EvtchnDomain {
    const st = this.domains.get(domid);
    if (st === undefined) throw new XenError("ESRCH", `no domain ${domid}`);
    return st.evtchn;
  }

  // ---------------------------------------------------------------- hypercall entry

  /** Enter the hypervisor for `op` carrying `count` sub-ops; counted and charged to `vcpu`. */
  hypercall<T>(vcpu: Vcpu, op: string, count: number, body: () => T): T {
    return hypercall(this.stats, vcpu, op, count, body);
  }

  /** HYPERVISOR_multicall: one entry for several calls; `results[i]` gets call i's return code. */
  multicall(vcpu: Vcpu, calls: readonly MulticallEntry[], results: Int32Array): void {
    multicall(this.stats, vcpu, calls, results);
  }

  // ---------------------------------------------------------------- event channels (EVTCHNOP_*)

  private state(domid: number): DomainState {
    const st = this.domains.get(domid === DOMID_SELF ? -1 : domid);
    if (st === undefined || st.domain.dying) throw new XenError("ESRCH", `no domain ${domid}`);
    return st;
  }

  /** EVTCHNOP_alloc_unbound: a port of the caller's domain that `remoteDom` may bind to. */
  evtchnAllocUnbound(vcpu: Vcpu, remoteDom: number): number {
    return this.hypercall(vcpu, "event_channel_op:alloc_unbound", 1, () => {
      vcpu.charge(COST_EVTCHN_BIND);
      const st = this.state(vcpu.domain.domid);
      const remote = remoteDom === DOMID_SELF ? vcpu.domain.domid : remoteDom;
      const port = st.evtchn.getFreePort();
      st.evtchn.setPort(port, EVTCHNSTAT.unbound, remote, 0, 0);
      return port;
    });
  }

  /**
   * EVTCHNOP_bind_interdomain: bind a new local port to `remotePort` of `remoteDom`, which must be
   * unbound and offered to the caller's domain; EINVAL otherwise (as evtchn_bind_interdomain).
   */
  evtchnBindInterdomain(vcpu: Vcpu, remoteDom: number, remotePort: number): number {
    return this.hypercall(vcpu, "event_channel_op:bind_interdomain", 1, () => {
      vcpu.charge(COST_EVTCHN_BIND);
      const ld = this.state(vcpu.domain.domid);
      const rd = this.state(remoteDom === DOMID_SELF ? vcpu.domain.domid : remoteDom);
      // Xen's order: the remote domain (ESRCH), a free local port (ENOSPC), then the remote port.
      const lport = ld.evtchn.getFreePort();
      if (!rd.evtchn.validPort(remotePort)) throw new XenError("EINVAL", `bad remote port ${remotePort}`);
      if (rd.evtchn.state(remotePort) !== EVTCHNSTAT.unbound) throw new XenError("EINVAL", `remote port ${remotePort} is not unbound`);
      if (rd.evtchn.remoteDom(remotePort) !== ld.domain.domid) throw new XenError("EINVAL", `remote port ${remotePort} is not offered to d${ld.domain.domid}`);
      ld.evtchn.setPort(lport, EVTCHNSTAT.interdomain, rd.domain.domid, remotePort, 0);
      rd.evtchn.setPort(remotePort, EVTCHNSTAT.interdomain, ld.domain.domid, lport, rd.evtchn.notifyVcpu(remotePort));
      // Xen sets the local port pending on bind so an event raised before binding is not lost.
      this.setPendingAndKick(ld, lport, vcpu);
      return lport;
    });
  }

  /** EVTCHNOP_send: notify the remote end of an interdomain port. */
  evtchnSend(vcpu: Vcpu, port: number): void {
    this.hypercall(vcpu, "event_channel_op:send", 1, () => {
      vcpu.charge(COST_EVTCHN_SEND);
      const ld = this.state(vcpu.domain.domid);
      if (!ld.evtchn.validPort(port)) throw new XenError("EINVAL", `bad port ${port}`);
      switch (ld.evtchn.state(port)) {
        case EVTCHNSTAT.interdomain: {
          this.sim.traceEvent(vcpu.actor.id, "evtchn.send", vcpu.domain.domid, port);
          const rd = this.domains.get(ld.evtchn.remoteDom(port));
          if (rd !== undefined) this.setPendingAndKick(rd, ld.evtchn.remotePort(port), vcpu);
          return;
        }
        case EVTCHNSTAT.unbound:
          return; // Xen: sending on an unbound port is silently dropped
        default:
          throw new XenError("EINVAL", `port ${port} is closed`);
      }
    });
  }

  /** EVTCHNOP_close: close a port; an interdomain peer's port goes back to unbound. */
  evtchnClose(vcpu: Vcpu, port: number): void {
    this.hypercall(vcpu, "event_channel_op:close", 1, () => {
      const st = this.state(vcpu.domain.domid);
      if (!st.evtchn.validPort(port) || st.evtchn.state(port) === EVTCHNSTAT.closed) throw new XenError("EINVAL", `port ${port} is not open`);
      this.closePort(st, port);
    });
  }

  private closePort(st: DomainState, port: number): void {
    if (st.evtchn.state(port) === EVTCHNSTAT.interdomain) {
      const rd = this.domains.get(st.evtchn.remoteDom(port));
      const rport = st.evtchn.remotePort(port);
      if (rd !== undefined && rd.evtchn.state(rport) === EVTCHNSTAT.interdomain) {
        rd.evtchn.setPort(rport, EVTCHNSTAT.unbound, st.domain.domid, 0, rd.evtchn.notifyVcpu(rport));
      }
    }
    st.evtchn.setPort(port, EVTCHNSTAT.closed, 0, 0, 0);
    st.evtchn.clearPending(port);
    st.handlers.delete(port);
  }

  /** EVTCHNOP_status. */
  evtchnStatus(vcpu: Vcpu, domid: number, port: number): EvtchnStatus {
    return this.hypercall(vcpu, "event_channel_op:status", 1, () => {
      const st = this.state(domid === DOMID_SELF ? vcpu.domain.domid : domid);
      if (!st.evtchn.validPort(port)) throw new XenError("EINVAL", `bad port ${port}`);
      // xsm_evtchn_status(XSM_TARGET): a domain's own ports, or any port for the control domain.
      if (st.domain !== vcpu.domain && vcpu.domain.domid !== CONTROL_DOMID) throw new XenError("EPERM", `d${vcpu.domain.domid} may not query d${st.domain.domid}'s ports`);
      return {
        status: st.evtchn.state(port),
        vcpu: st.evtchn.notifyVcpu(port),
        remoteDom: st.evtchn.remoteDom(port),
        remotePort: st.evtchn.remotePort(port),
      };
    });
  }

  /** EVTCHNOP_bind_vcpu: deliver the port's events to another VCPU of the domain. */
  evtchnBindVcpu(vcpu: Vcpu, port: number, target: number): void {
    this.hypercall(vcpu, "event_channel_op:bind_vcpu", 1, () => {
      const st = this.state(vcpu.domain.domid);
      // domain_vcpu() first (ENOENT), then the port (EINVAL), as evtchn_bind_vcpu.
      if (!Number.isInteger(target) || target < 0 || target >= st.domain.vcpus.length) throw new XenError("ENOENT", `no vcpu ${target}`);
      if (!st.evtchn.validPort(port) || st.evtchn.state(port) === EVTCHNSTAT.closed) throw new XenError("EINVAL", `port ${port} is not open`);
      st.evtchn.setVcpu(port, target);
    });
  }

  /** EVTCHNOP_unmask: clear the mask bit and redeliver a pending event. */
  evtchnUnmask(vcpu: Vcpu, port: number): void {
    this.hypercall(vcpu, "event_channel_op:unmask", 1, () => {
      vcpu.charge(COST_EVTCHN_UNMASK);
      const st = this.state(vcpu.domain.domid);
      if (!st.evtchn.validPort(port)) throw new XenError("EINVAL", `bad port ${port}`);
      if (st.evtchn.clearMask(port)) {
        const target = st.evtchn.notifyVcpu(port);
        if (st.evtchn.markSelector(target, port)) this.delivery.kick(st.domain.vcpus[target] as Vcpu, vcpu);
      }
    });
  }

  private setPendingAndKick(rd: DomainState, rport: number, sender: Vcpu): void {
    if (rd.evtchn.setPending(rport)) {
      const target = rd.domain.vcpus[rd.evtchn.notifyVcpu(rport)];
      if (target !== undefined) this.delivery.kick(target, sender);
    }
  }

  /**
   * flush_tlb_mask over the domain's dirty CPU mask: `vcpu` flushes its own TLB, and every other
   * VCPU of its domain that has run on another pCPU (its page tables may be loaded there) gets a
   * flush IPI; the sender waits for each acknowledgement and each target runs the flush. Without
   * modelled pCPUs each other VCPU that ran counts as on a pCPU of its own. Returns the IPIs sent.
   */
  flushTlbMask(vcpu: Vcpu): number {
    vcpu.charge(COST_TLB_FLUSH);
    const pcpus = this.sim.pcpus;
    const mine = pcpus?.pcpuOf(vcpu.actor);
    let ipis = 0;
    for (const other of vcpu.domain.vcpus) {
      if (other === vcpu || other.actor.account.busyNs === 0) continue;
      if (mine !== undefined && pcpus?.pcpuOf(other.actor) === mine) continue;
      vcpu.charge(COST_TLB_FLUSH_IPI);
      // The target is interrupted for the flush: the time is taken from its own clock. Its clock
      // is not moved to the sender's, which runs ahead of the global clock within its job: that
      // would hold back work queued for the target before then (and chain every VCPU of a
      // many-VCPU Dom0 into one timeline).
      other.charge(COST_TLB_FLUSH);
      ipis++;
    }
    this.tlbFlushIpis += ipis;
    return ipis;
  }

  /** Flush IPIs sent by `flushTlbMask` so far. */
  tlbFlushIpis = 0;

  // ---------------------------------------------------------------- guest side

  /** bind_evtchn_to_irqhandler: the guest's handler for a port of its own. */
  bindHandler(domain: Domain, port: number, handler: EvtchnHandler): void {
    this.state(domain.domid).handlers.set(port, handler);
  }

  /** Remove the guest handler bound to a port (unbind_from_irqhandler). */
  unbindHandler(domain: Domain, port: number): void {
    this.domains.get(domain.domid)?.handlers.delete(port);
  }

  isEvtchnMasked(domain: Domain, port: number): boolean {
    return this.state(domain.domid).evtchn.isMasked(port);
  }

  /** Guest mask_evtchn: a bit set in its shared_info, no hypercall. */
  maskEvtchn(domain: Domain, port: number): void {
    this.state(domain.domid).evtchn.mask(port);
  }

  /**
   * xen_evtchn_do_upcall on `vcpu`: take the pending ports and run their handlers, until no
   * upcall is pending. Charged as one interrupt.
   */
  doUpcall(vcpu: Vcpu): void {
    const st = this.domains.get(vcpu.domain.domid);
    if (st === undefined) return;
    vcpu.charge(COST_UPCALL);
    this.sim.traceEvent(vcpu.actor.id, "upcall", vcpu.domain.domid, vcpu.id);
    // Bound the loop: each round consumes the ports pending at its start.
    for (let round = 0; round < SHARED_INFO.LEGACY_MAX_VCPUS && st.evtchn.upcallPending(vcpu.id); round++) {
      const ports = st.evtchn.takePendingPorts(vcpu.id, this.portsScratch);
      for (let i = 0; i < ports.length; i++) {
        const port = ports[i] as number;
        st.handlers.get(port)?.(port, vcpu);
      }
      ports.length = 0;
    }
  }

  // ---------------------------------------------------------------- deterministic scheduling

  private scheduleUpcall(target: Vcpu, _sender: Vcpu | undefined): void {
    if (this.upcallScheduled.has(target)) return;
    this.upcallScheduled.add(target);
    // A job's writes to shared memory (ring requests, responses) are visible to other VCPUs from
    // the time the job starts; its notifications are too, so a receiver never wakes after the
    // moment another VCPU could already have consumed what the notification announces.
    const at = this.sim.clock.now();
    this.sim.runOn(target.actor, at, () => {
      this.upcallScheduled.delete(target);
      this.dispatch(target, this.upcallFn);
    });
  }

  /** Run `fn` on `vcpu` at `atNs` of virtual time (or when the VCPU is free). */
  runOn(vcpu: Vcpu, atNs: number, fn: (vcpu: Vcpu) => void): void {
    if (this.dropsInertWork(vcpu)) return;
    this.sim.runOn(vcpu.actor, atNs, () => this.dispatch(vcpu, fn));
  }

  /** Work for a VCPU of an inert domain (another thread's) is dropped and counted. */
  private dropsInertWork(vcpu: Vcpu): boolean {
    if (this.inert.size === 0 || !this.inert.has(vcpu.domain.domid)) return false;
    this.inertWorkDropped++;
    return true;
  }

  private readonly upcallFn = (vcpu: Vcpu): void => this.doUpcall(vcpu);

  /** Run `fn` as `vcpu`'s work: what it charges through `cpuCosts` goes to `vcpu`. */
  private dispatch(vcpu: Vcpu, fn: (vcpu: Vcpu) => void): void {
    const prev = this.running;
    this.running = vcpu;
    try {
      fn(vcpu);
    } catch (e) {
      this.faulting ??= vcpu;
      throw e;
    } finally {
      this.running = prev;
    }
  }

  /** A sink charging the running VCPU of `domain`, or its VCPU 0 when none of its VCPUs runs. */
  cpuCosts(domain: Domain): CostSink {
    let sink = this.cpuSinks.get(domain);
    if (sink === undefined) {
      sink = {
        charge: (kind: string, units?: number): void => {
          const r = this.running;
          ((r !== null && r.domain === domain ? r : domain.vcpus[0]) as Vcpu).charge(kind, units);
        },
      };
      this.cpuSinks.set(domain, sink);
    }
    return sink;
  }

  /** What a kernel of this machine's domains gets from the hypervisor (the deterministic runner's KernelOps). */
  kernelOps(): KernelOps {
    return { clock: this.sim.clock, work: this, evtchn: this, hypercalls: this, machine: this.machine, trace: this.sim };
  }

  /** A one-shot timer on `vcpu`, `delayNs` after its current local time. */
  setTimer(vcpu: Vcpu, delayNs: number, fn: (vcpu: Vcpu) => void): void {
    this.runOn(vcpu, Math.max(this.sim.clock.now(), vcpu.actor.nowNs) + delayNs, fn);
  }

  /** A deletable one-shot timer on `vcpu` at `atNs` (see @pvnet/sim `Simulation.timerOn`); none on an inert domain. */
  timerAt(vcpu: Vcpu, atNs: number, fn: (vcpu: Vcpu) => void): TimerHandle {
    if (this.dropsInertWork(vcpu)) return NO_TIMER;
    return this.sim.timerOn(vcpu.actor, atNs, () => this.dispatch(vcpu, fn));
  }

  /** Step the simulation until idle or a limit (see @pvnet/sim `Scheduler.run`). */
  run(limits?: { untilNs?: number; maxEvents?: number; holdClock?: boolean }) {
    return this.sim.run(limits);
  }
}

/** The timer of work an inert domain never runs. */
const NO_TIMER: TimerHandle = Object.freeze({ cancel: () => {} });

export { DOMID_INVALID };
