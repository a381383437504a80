/**
 * Virtual time. All model time is integer nanoseconds held in a double, exact up to 2^53 ns
 * (about 104 days of simulated time), which bounds every run.
 */

/** The largest time a run may reach; beyond it integer nanoseconds stop being exact. */
export const MAX_TIME_NS = Number.MAX_SAFE_INTEGER;

/** A source of the current modelled time. */
export interface Clock {
  /** Current time in nanoseconds. */
  now(): number;
}

/** A clock that only moves when told to, and never backwards. */
export class VirtualClock implements Clock {
  private t = 0;

  now(): number {
    return this.t;
  }

  /** Move the clock forward to `timeNs` (an integer, never backwards). */
  advanceTo(timeNs: number): void {
    if (!Number.isInteger(timeNs) || timeNs > MAX_TIME_NS) throw new RangeError(`bad time ${timeNs}`);
    // Invariant: virtual time is monotonic.
    if (timeNs < this.t) throw new RangeError(`clock cannot go back from ${this.t} to ${timeNs}`);
    this.t = timeNs;
  }
}
