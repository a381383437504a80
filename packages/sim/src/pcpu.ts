/**
 * Physical CPUs under the actors (VCPUs). A host has a fixed number of pCPUs; each actor is
 * placed on one (a pinned VCPU, as `xl vcpu-pin` sets it). A pCPU runs one actor's job at a time:
 * a job for an actor whose pCPU, or the actor itself, is still busy waits until it is free, and
 * when the pCPU moves to another actor the incoming actor is charged a context switch.
 *
 * The waiting job is re-queued, not run early with a later clock: when it runs, it sees what
 * other CPUs wrote in the meantime (ring requests, event bits). That is how a busy real host
 * batches: a NAPI poll that starts late finds many requests on the ring.
 */
import type { Actor } from "./actor.js";

/** Cost kind charged to an actor that a pCPU switches to from another actor. */
export const COST_CONTEXT_SWITCH = "context.switch";

/** One physical CPU: the actors pinned on it run one job at a time, and what that costs them. */
export class Pcpu {
  /** Time at which the job running here ends (the pCPU is idle from then on). */
  freeAtNs = 0;
  /** The actor that ran last here (its state is in the caches and TLB). */
  lastActor: Actor | null = null;
  /** Switches from one actor to another. */
  switches = 0;
  /** Virtual time actors' jobs waited for this pCPU while it ran another actor. */
  contentionNs = 0;
  /** Time the actors placed here were charged (their jobs' work, switches included). */
  busyNs = 0;
  readonly actors: Actor[] = [];

  constructor(readonly id: number) {}
}

/** The pCPUs of a host and where each actor runs. */
export class PcpuSet {
  readonly pcpus: readonly Pcpu[];
  private readonly placement = new Map<Actor, Pcpu>();

  constructor(count: number) {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`a host needs at least one pCPU, got ${count}`);
    this.pcpus = Array.from({ length: count }, (_, i) => new Pcpu(i));
  }

  /** Pin `actor` on pCPU `id` (moving it if it was placed elsewhere). */
  place(actor: Actor, id: number): void {
    const p = this.pcpus[id];
    if (p === undefined) throw new RangeError(`no pCPU ${id} (the host has ${this.pcpus.length})`);
    const old = this.placement.get(actor);
    if (old !== undefined) old.actors.splice(old.actors.indexOf(actor), 1);
    this.placement.set(actor, p);
    p.actors.push(actor);
  }

  /** The pCPU `actor` is placed on, or undefined when it was never placed. */
  pcpuOf(actor: Actor): Pcpu | undefined {
    return this.placement.get(actor);
  }

  /** When a job of `actor` could start: both the actor and its pCPU free, not before `nowNs`. */
  readyAt(actor: Actor, nowNs: number): number {
    const p = this.placement.get(actor);
    const busy = p === undefined ? actor.nowNs : Math.max(actor.nowNs, p.freeAtNs);
    return Math.max(busy, nowNs);
  }

  /** A job of `actor` starts at `nowNs` (it is ready): charge the switch if the pCPU changes actor. */
  enter(actor: Actor, nowNs: number, queuedAtNs: number): void {
    const p = this.placement.get(actor);
    if (p === undefined) return;
    // Waiting behind another actor's job on this pCPU is contention (waiting for one's own
    // previous job is not: that is the actor's own work).
    if (p.lastActor !== null && p.lastActor !== actor && p.freeAtNs > queuedAtNs) p.contentionNs += Math.min(nowNs, p.freeAtNs) - queuedAtNs;
    if (p.lastActor !== null && p.lastActor !== actor) {
      p.switches++;
      actor.charge(COST_CONTEXT_SWITCH);
    }
    p.lastActor = actor;
  }

  /** The job of `actor` ended; it was charged from `busyBeforeNs` on: its pCPU is busy until the actor's clock. */
  leave(actor: Actor, busyBeforeNs: number): void {
    const p = this.placement.get(actor);
    if (p === undefined) return;
    p.busyNs += actor.account.busyNs - busyBeforeNs;
    if (actor.nowNs > p.freeAtNs) p.freeAtNs = actor.nowNs;
  }
}
