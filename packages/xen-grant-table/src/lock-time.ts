/**
 * Spinlocks on the virtual clock: in the deterministic runner every VCPU runs on one thread, so a
 * maptrack lock is never found held there and the real lock words cannot show contention. This
 * keeps, per lock, the intervals of virtual time it was held: a VCPU that takes it inside one
 * spins until the first gap that fits its hold (at least the lock operation's cost; its local
 * clock moves there, the wait is counted) and holds it until its unlock (what is charged meanwhile: the lock's own cost, a grow). The scheduler runs each event
 * to its end, so a VCPU's later acquisitions may be recorded before another's earlier ones: the
 * intervals, not a single "free at" time, let the earlier one fit in a gap before them. Intervals
 * that end before the global clock are forgotten (no event starts before it).
 *
 * Public source: Xen's spinlocks (xen/common/spinlock.c); the contention this shows is what Xen
 * 4.6's per-VCPU maptrack free lists removed (Malcolm Crossley, "gnttab: use per-VCPU maptrack
 * free lists", xen-devel, June 2015).
 */
import type { CostSink } from "@pvnet/sim";

/** The caller's time on the virtual clock and a way to make it wait (a VCPU's actor). */
export interface LockClock {
  /** The caller's local virtual time (its VCPU's clock). */
  now(sink: CostSink): number;
  /** The caller spins until `atNs`. */
  waitUntil(sink: CostSink, atNs: number): void;
  /** The global virtual time: no acquisition happens before it. */
  floor(): number;
  /** How long an acquisition holds the lock at least (the lock operation's own cost). */
  minHoldNs(): number;
}

/** Virtual-time counters of a table's locks. */
export interface LockTimeStats {
  acquisitions: number;
  /** Acquisitions that found the lock held on the virtual clock. */
  contended: number;
  /** Virtual nanoseconds spent waiting, summed over callers. */
  waitNs: number;
  /** Virtual nanoseconds the locks were held, summed. */
  holdNs: number;
}

/** Held intervals of one lock kept at most (the oldest are dropped past it): bounded memory. */
export const LOCK_TIME_MAX_INTERVALS = 4096;

/** One lock's held intervals, sorted by start, and the open one. */
class HeldIntervals {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  takenAt = Number.NaN;

  /** Drop what ended before `floor`. */
  prune(floor: number): void {
    let k = 0;
    while (k < this.ends.length && (this.ends[k] as number) <= floor) k++;
    if (this.starts.length - k > LOCK_TIME_MAX_INTERVALS) k = this.starts.length - LOCK_TIME_MAX_INTERVALS;
    if (k > 0) {
      this.starts.splice(0, k);
      this.ends.splice(0, k);
    }
  }

  /** The first time from `t` on when `hold` ns fit between the recorded intervals. */
  freeFrom(t: number, hold: number): number {
    const { starts, ends } = this;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] as number) <= t) lo = mid + 1;
      else hi = mid;
    }
    // Intervals do not overlap: only the last one starting at or before t can cover it.
    for (let i = Math.max(0, lo - 1); i < starts.length && (starts[i] as number) < t + hold; i++) {
      if ((ends[i] as number) > t) t = ends[i] as number;
    }
    return t;
  }

  insert(start: number, end: number): void {
    const { starts, ends } = this;
    let i = starts.length;
    while (i > 0 && (starts[i - 1] as number) > start) i--;
    starts.splice(i, 0, start);
    ends.splice(i, 0, end);
  }
}

/** The virtual-time state of the locks of one table, keyed by the lock's word. */
export class LockTime {
  readonly stats: LockTimeStats = { acquisitions: 0, contended: 0, waitNs: 0, holdNs: 0 };
  private readonly locks = new Map<number, HeldIntervals>();

  constructor(private readonly clock: LockClock) {}

  /** spin_lock: wait until the lock is free on the virtual clock, then hold it from then. */
  acquire(lock: number, sink: CostSink): void {
    let h = this.locks.get(lock);
    if (h === undefined) {
      h = new HeldIntervals();
      this.locks.set(lock, h);
    }
    h.prune(this.clock.floor());
    const t = this.clock.now(sink);
    const free = h.freeFrom(t, this.clock.minHoldNs());
    this.stats.acquisitions++;
    if (free > t) {
      this.stats.contended++;
      this.stats.waitNs += free - t;
      this.clock.waitUntil(sink, free);
    }
    h.takenAt = free;
  }

  /** spin_unlock: the hold, from its start to the caller's time now, is recorded. */
  release(lock: number, sink: CostSink): void {
    const h = this.locks.get(lock);
    if (h === undefined || Number.isNaN(h.takenAt)) return; // taken without a sink (a worker's bench): not timed
    const end = Math.max(h.takenAt, this.clock.now(sink));
    this.stats.holdNs += end - h.takenAt;
    if (end > h.takenAt) h.insert(h.takenAt, end);
    h.takenAt = Number.NaN;
  }
}
