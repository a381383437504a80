/**
 * The event-queue scheduler of deterministic mode. Events run in order of virtual time; events due
 * at the same time run in an order drawn from the scheduling PRNG when they are queued, so each
 * seed explores its own interleaving and replays it exactly.
 */
import type { VirtualClock } from "./clock.js";
import type { Prng } from "./prng.js";

/** A scheduled event's action. */
export type EventFn = () => void;

interface QueuedEvent {
  timeNs: number;
  tie: number;
  seq: number;
  fn: EventFn;
  cancelled: boolean;
}

/** Returned by `at`/`after`; pass to `cancel`. */
export interface EventHandle {
  readonly timeNs: number;
}

/** Why a run stopped: no event left, the time limit reached, or the event limit reached. */
export type StopReason = "idle" | "time-limit" | "event-limit";

/** The outcome of a run: events executed, why it stopped, and the modelled time then. */
export interface RunResult {
  readonly events: number;
  readonly reason: StopReason;
  readonly nowNs: number;
}

/** Bounds of a run: modelled time and event count. */
export interface RunLimits {
  /** Do not run events due after this time; the clock is left at the limit. */
  readonly untilNs?: number;
  /** Stop after this many events (a bound on every run). */
  readonly maxEvents?: number;
  /**
   * With `untilNs`: leave the clock at the last event run instead of the limit (a threaded runner
   * whose limit is a wall-clock horizon, which must not move virtual time by itself).
   */
  readonly holdClock?: boolean;
}

/** Default bound on events in one `run` call, so a livelocked model stops. */
export const DEFAULT_MAX_EVENTS = 100_000_000;

/**
 * The discrete-event scheduler: a binary heap of events ordered by time, simultaneous events in a
 * seeded random order (then insertion order), run on the virtual clock.
 */
export class Scheduler {
  private heap: QueuedEvent[] = [];
  private seq = 0;
  private executed = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly prng: Prng,
  ) {}

  /** Queue `fn` to run at absolute time `timeNs` (not before now). */
  at(timeNs: number, fn: EventFn): EventHandle {
    if (timeNs < this.clock.now()) throw new RangeError(`cannot schedule in the past: ${timeNs} < ${this.clock.now()}`);
    const ev: QueuedEvent = { timeNs, tie: this.prng.nextU32(), seq: this.seq++, fn, cancelled: false };
    this.push(ev);
    return ev;
  }

  /** Queue `fn` to run `delayNs` after now. */
  after(delayNs: number, fn: EventFn): EventHandle {
    return this.at(this.clock.now() + delayNs, fn);
  }

  /** Cancel a scheduled event (it is skipped when its time comes). */
  cancel(handle: EventHandle): void {
    (handle as QueuedEvent).cancelled = true;
  }

  /** Events queued and not yet run (cancelled ones count until they reach the front). */
  get pending(): number {
    return this.heap.length;
  }

  /** Events run since creation. */
  get eventsRun(): number {
    return this.executed;
  }

  /** Run the next event, if any is due by `untilNs`. Returns false when nothing ran. */
  step(untilNs = Number.MAX_SAFE_INTEGER): boolean {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.timeNs > untilNs) return false;
      this.pop();
      if (top.cancelled) continue;
      this.clock.advanceTo(top.timeNs);
      this.executed++;
      top.fn();
      return true;
    }
  }

  /** Run events until the queue is empty or a limit is hit. */
  run(limits: RunLimits = {}): RunResult {
    const untilNs = limits.untilNs ?? Number.MAX_SAFE_INTEGER;
    const maxEvents = limits.maxEvents ?? DEFAULT_MAX_EVENTS;
    let events = 0;
    while (events < maxEvents) {
      if (!this.step(untilNs)) {
        if (this.heap.some((e) => !e.cancelled)) {
          if (limits.holdClock !== true && untilNs > this.clock.now()) this.clock.advanceTo(untilNs);
          return { events, reason: "time-limit", nowNs: this.clock.now() };
        }
        return { events, reason: "idle", nowNs: this.clock.now() };
      }
      events++;
    }
    return { events, reason: "event-limit", nowNs: this.clock.now() };
  }

  private less(a: QueuedEvent, b: QueuedEvent): boolean {
    if (a.timeNs !== b.timeNs) return a.timeNs < b.timeNs;
    if (a.tie !== b.tie) return a.tie < b.tie;
    return a.seq < b.seq;
  }

  private push(ev: QueuedEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i] as QueuedEvent, h[parent] as QueuedEvent)) break;
      [h[i], h[parent]] = [h[parent] as QueuedEvent, h[i] as QueuedEvent];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as QueuedEvent;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l] as QueuedEvent, h[m] as QueuedEvent)) m = l;
      if (r < h.length && this.less(h[r] as QueuedEvent, h[m] as QueuedEvent)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as QueuedEvent, h[i] as QueuedEvent];
      i = m;
    }
  }
}
