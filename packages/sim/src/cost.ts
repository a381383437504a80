/**
 * Cost accounting: every operation a modelled CPU performs is charged, in nanoseconds, to the
 * actor (VCPU) that performs it. The table of costs is data (a host profile); the engine only sums.
 */

/** The cost of one kind of operation: a fixed part plus a part per unit (usually per byte). */
export interface OperationCost {
  readonly fixedNs: number;
  readonly perUnitNs?: number;
}

/** A host profile: named operation kinds and their costs. */
export interface CostProfile {
  readonly name: string;
  readonly description?: string;
  readonly costs: Readonly<Record<string, OperationCost>>;
}

/** Something that can be charged for work: an actor's account. */
export interface CostSink {
  charge(kind: string, units?: number): void;
}

/** What one actor has been charged: total time and, per kind, operation counts, units and time. */
export interface CostReport {
  readonly busyNs: number;
  readonly byKind: Readonly<Record<string, { readonly ops: number; readonly units: number; readonly ns: number }>>;
}

export class CostModel {
  private readonly costs: ReadonlyMap<string, OperationCost>;

  constructor(readonly profile: CostProfile) {
    this.costs = new Map(Object.entries(profile.costs));
    for (const [kind, c] of this.costs) {
      if (!(c.fixedNs >= 0) || !((c.perUnitNs ?? 0) >= 0)) throw new RangeError(`negative cost for ${kind}`);
    }
  }

  /** Nanoseconds for `units` of `kind`; an unknown kind is our bug (every charged kind has a cost). */
  cost(kind: string, units = 0): number {
    const c = this.costs.get(kind);
    if (c === undefined) throw new Error(`cost profile '${this.profile.name}' has no cost for '${kind}'`);
    return c.fixedNs + (c.perUnitNs ?? 0) * units;
  }

  has(kind: string): boolean {
    return this.costs.has(kind);
  }
}

/** One actor's running account. Allocates only on the first charge of each kind. */
export class CostAccount implements CostSink {
  busyNs = 0;
  private readonly kinds = new Map<string, { ops: number; units: number; ns: number }>();

  constructor(private readonly model: CostModel) {}

  charge(kind: string, units = 0): void {
    const ns = this.model.cost(kind, units);
    this.busyNs += ns;
    let k = this.kinds.get(kind);
    if (k === undefined) {
      k = { ops: 0, units: 0, ns: 0 };
      this.kinds.set(kind, k);
    }
    k.ops++;
    k.units += units;
    k.ns += ns;
  }

  report(): CostReport {
    const byKind: Record<string, { ops: number; units: number; ns: number }> = {};
    for (const [kind, v] of [...this.kinds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) byKind[kind] = { ...v };
    return { busyNs: this.busyNs, byKind };
  }

  reset(): void {
    this.busyNs = 0;
    this.kinds.clear();
  }
}
