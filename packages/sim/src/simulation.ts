/**
 * A deterministic simulation: one seed, one virtual clock, one scheduler, one trace, one fault
 * plan and one cost model, shared by every component of a scenario. Same `(scenario, seed)`,
 * same trace digest.
 */
import { Actor } from "./actor.js";
import { VirtualClock } from "./clock.js";
import { CostModel, type CostProfile } from "./cost.js";
import { FaultPlan } from "./faults.js";
import { Prng } from "./prng.js";
import { type EventHandle, type RunLimits, type RunResult, Scheduler } from "./scheduler.js";
import { DEFAULT_TRACE_CAPACITY, Trace, type TraceMode } from "./trace.js";

export interface SimulationOptions {
  readonly seed: number;
  /** Costs of operations; defaults to a profile in which everything is free. */
  readonly profile?: CostProfile;
  readonly traceCapacity?: number;
  /** What the trace keeps (default "full"); nothing else depends on it. */
  readonly trace?: TraceMode;
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

export class Simulation {
  readonly seed: number;
  readonly prng: Prng;
  readonly clock = new VirtualClock();
  readonly scheduler: Scheduler;
  readonly trace: Trace;
  readonly faults: FaultPlan;
  readonly costs: CostModel;
  private readonly actors: Actor[] = [];

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.prng = new Prng(options.seed);
    this.scheduler = new Scheduler(this.clock, this.prng.fork("scheduler"));
    this.trace = new Trace(options.traceCapacity ?? DEFAULT_TRACE_CAPACITY, options.trace ?? "full");
    this.faults = new FaultPlan(this.prng.fork("faults"));
    const profile = options.profile ?? FREE_PROFILE;
    this.costs = profile === FREE_PROFILE ? new FreeCostModel(profile) : new CostModel(profile);
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
   * Run `fn` on `actor` at `timeNs` (or when the actor becomes free, if later). `fn` sees the
   * actor's local clock in `actor.nowNs` and charges its work there.
   */
  runOn(actor: Actor, timeNs: number, fn: (actor: Actor) => void): EventHandle {
    // Per-unit costs make an actor's local time fractional; the clock holds integer ns, so the
    // event is due at the next whole nanosecond.
    return this.scheduler.at(Math.max(Math.ceil(timeNs), this.clock.now()), () => {
      actor.begin(this.clock.now());
      fn(actor);
    });
  }

  /** Record a trace event at the current global time. */
  traceEvent(actor: number, event: string, a = 0, b = 0): void {
    this.trace.event(this.clock.now(), actor, event, a, b);
  }

  run(limits?: RunLimits): RunResult {
    return this.scheduler.run(limits);
  }
}
