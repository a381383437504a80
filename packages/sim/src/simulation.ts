/**
 * A deterministic simulation: one seed, one virtual clock, one scheduler, one trace, one fault
 * plan and one cost model, shared by every component of a scenario. Same `(scenario, seed)`,
 * same trace digest.
 */
import { Actor } from "./actor.js";
import { VirtualClock } from "./clock.js";
import { CostModel, type CostProfile } from "./cost.js";
import { FaultPlan } from "./faults.js";
import { PcpuSet } from "./pcpu.js";
import { Prng } from "./prng.js";
import { type EventHandle, type RunLimits, type RunResult, Scheduler } from "./scheduler.js";
import { DEFAULT_TRACE_CAPACITY, Trace, type TraceMode } from "./trace.js";

/** A timer from `Simulation.timerOn`. */
export interface TimerHandle {
  /** Delete the timer: its job does not run (a no-op once it ran). */
  cancel(): void;
}

/** What a simulation is built from: seed, host profile (operation costs), trace capacity and trace mode. */
export interface SimulationOptions {
  readonly seed: number;
  /** Costs of operations; defaults to a profile in which everything is free. */
  readonly profile?: CostProfile;
  readonly traceCapacity?: number;
  /** What the trace keeps (default "full"); nothing else depends on it. */
  readonly trace?: TraceMode;
  /** Physical CPUs the actors are placed on (`placeActor`); by default the profile's `cpu.pcpus`, else each actor runs alone. */
  readonly pcpus?: number;
}

/** A profile that charges nothing and accepts every kind: for tests that do not model time. */
export const FREE_PROFILE: CostProfile = Object.freeze({ name: "free", costs: Object.freeze({}) });

class FreeCostModel extends CostModel {
  override cost(): number {
    return 0;
  }
  override has(): boolean {
    return true;
  }
}

/**
 * One deterministic simulation: virtual clock, scheduler, PRNG, cost model, trace and fault plan,
 * all reproducible from the seed.
 */
export class Simulation {
  readonly seed: number;
  readonly prng: Prng;
  readonly clock = new VirtualClock();
  readonly scheduler: Scheduler;
  readonly trace: Trace;
  readonly faults: FaultPlan;
  readonly costs: CostModel;
  /** The host's physical CPUs, when the simulation models them. */
  readonly pcpus: PcpuSet | undefined;
  private readonly actors: Actor[] = [];

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.prng = new Prng(options.seed);
    this.scheduler = new Scheduler(this.clock, this.prng.fork("scheduler"));
    this.trace = new Trace(options.traceCapacity ?? DEFAULT_TRACE_CAPACITY, options.trace ?? "full");
    this.faults = new FaultPlan(this.prng.fork("faults"));
    const profile = options.profile ?? FREE_PROFILE;
    this.costs = profile === FREE_PROFILE ? new FreeCostModel(profile) : new CostModel(profile);
    const pcpus = options.pcpus ?? profile.cpu?.pcpus;
    this.pcpus = pcpus === undefined ? undefined : new PcpuSet(pcpus);
  }

  /** Pin `actor` on pCPU `pcpu` (a simulation created with `pcpus`). */
  placeActor(actor: Actor, pcpu: number): void {
    if (this.pcpus === undefined) throw new Error("this simulation models no pCPUs");
    this.pcpus.place(actor, pcpu);
  }

  /** Create an actor (a VCPU) charged through this simulation's cost model. */
  actor(name: string): Actor {
    const a = new Actor(this.actors.length, name, this.costs);
    this.actors.push(a);
    return a;
  }

  /** Every actor created so far, in creation order. */
  allActors(): readonly Actor[] {
    return this.actors;
  }

  /**
   * Run `fn` on `actor` at `timeNs`, or when the actor (and its pCPU) becomes free, if later.
   * `fn` sees the actor's local clock in `actor.nowNs` and charges its work there.
   *
   * A job that comes due while its actor or pCPU is still busy is queued again for the time they
   * become free, so it runs after, and sees the effects of, every job other actors ran
   * meanwhile: a late NAPI poll finds every request written while it waited, as on a busy host.
   * Its handle then no longer cancels it (use `timerOn` for work that may be cancelled).
   */
  runOn(actor: Actor, timeNs: number, fn: (actor: Actor) => void): EventHandle {
    return this.schedule(actor, timeNs, fn, undefined);
  }

  /**
   * `runOn` for a timer that may be deleted (del_timer): `cancel()` removes the job whether it
   * still waits for its time or was queued again behind its actor's work. A cancelled job no
   * longer keeps the simulation from being idle.
   */
  timerOn(actor: Actor, timeNs: number, fn: (actor: Actor) => void): TimerHandle {
    const timer = {
      event: undefined as EventHandle | undefined,
      cancel: (): void => {
        if (timer.event !== undefined) this.scheduler.cancel(timer.event);
      },
    };
    timer.event = this.schedule(actor, timeNs, fn, (e) => {
      timer.event = e;
    });
    return timer;
  }

  private schedule(actor: Actor, timeNs: number, fn: (actor: Actor) => void, requeued: ((e: EventHandle) => void) | undefined): EventHandle {
    // Per-unit costs make an actor's local time fractional; the clock holds integer ns, so the
    // event is due at the next whole nanosecond.
    const queuedAt = Math.max(Math.ceil(timeNs), this.clock.now());
    const job = new Job(this.clock, this.scheduler, this.pcpus, actor, fn, queuedAt, requeued);
    return this.scheduler.at(queuedAt, job.fire);
  }

  /** Record a trace event at the current global time. */
  traceEvent(actor: number, event: string, a = 0, b = 0): void {
    this.trace.event(this.clock.now(), actor, event, a, b);
  }

  /** Run events until idle or a limit (see RunLimits). */
  run(limits?: RunLimits): RunResult {
    return this.scheduler.run(limits);
  }
}

/**
 * One job of `Simulation.runOn` / `timerOn`: `fn` on `actor` once the actor and its pCPU are free.
 * A class rather than a closure per job: its `fire` is bound once (a bound method, no per-job
 * function object to name).
 */
class Job {
  readonly fire: () => void;

  constructor(
    private readonly clock: VirtualClock,
    private readonly scheduler: Scheduler,
    private readonly pcpus: PcpuSet | undefined,
    private readonly actor: Actor,
    private readonly fn: (actor: Actor) => void,
    private readonly queuedAt: number,
    private readonly requeued: ((e: EventHandle) => void) | undefined,
  ) {
    this.fire = this.run.bind(this);
  }

  private run(): void {
    const now = this.clock.now();
    const { pcpus, actor } = this;
    const ready = pcpus === undefined ? actor.nowNs : pcpus.readyAt(actor, now);
    if (ready > now) {
      const e = this.scheduler.at(Math.ceil(ready), this.fire);
      this.requeued?.(e);
      return;
    }
    actor.begin(now);
    if (pcpus === undefined) {
      this.fn(actor);
      return;
    }
    const before = actor.account.busyNs;
    pcpus.enter(actor, now, this.queuedAt);
    try {
      this.fn(actor);
    } finally {
      pcpus.leave(actor, before);
    }
  }
}
