/**
 * Named fault-injection points, FoundationDB "Buggify" style. A point is declared once with its
 * probability; code asks `faults.fire("netback.tx.bad-gref")` where the fault could happen. Each
 * point draws from its own PRNG stream (forked by name), so enabling one point does not change
 * where another fires, and the whole plan replays from the seed.
 */
import type { Prng, Ratio } from "./prng.js";

interface Point {
  probability: Ratio;
  enabled: boolean;
  fired: number;
  asked: number;
  readonly prng: Prng;
}

/**
 * Named fault-injection points, each with its probability and own PRNG stream, replayable from the
 * seed (see the module comment).
 */
export class FaultPlan {
  private readonly points = new Map<string, Point>();

  constructor(private readonly prng: Prng) {}

  /** Declare (or re-declare) a point. Disabled points never fire. */
  define(name: string, probability: Ratio, enabled = true): void {
    const existing = this.points.get(name);
    if (existing !== undefined) {
      existing.probability = probability;
      existing.enabled = enabled;
      return;
    }
    this.points.set(name, { probability, enabled, fired: 0, asked: 0, prng: this.prng.fork(`fault:${name}`) });
  }

  /** Whether the fault at `name` happens now. Undeclared points never fire. */
  fire(name: string): boolean {
    const p = this.points.get(name);
    if (p === undefined || !p.enabled) return false;
    p.asked++;
    if (!p.prng.chance(p.probability)) return false;
    p.fired++;
    return true;
  }

  /** Turn every point off: the liveness phase after a safety phase ("heal the faults"). */
  heal(): void {
    for (const p of this.points.values()) p.enabled = false;
  }

  /** Per point: how often it was asked and how often it fired. */
  stats(): Record<string, { asked: number; fired: number }> {
    const out: Record<string, { asked: number; fired: number }> = {};
    for (const [name, p] of this.points) out[name] = { asked: p.asked, fired: p.fired };
    return out;
  }
}
