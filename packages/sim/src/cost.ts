/**
 * Cost accounting: every operation a modelled CPU performs is charged, in nanoseconds, to the
 * actor (VCPU) that performs it. The table of costs is data (a host profile); the engine only sums.
 */

/** Cache levels a per-byte cost can depend on, smallest first; "dram" holds any size. */
export const CACHE_LEVELS = ["l1", "l2", "l3", "dram"] as const;
/** One of {@link CACHE_LEVELS}: where a copy of a given size is served from. */
export type CacheLevel = (typeof CACHE_LEVELS)[number];

/**
 * The cost of one kind of operation: a fixed part plus a part per unit (usually per byte). A
 * per-byte part may depend on the cache level the size fits in (`perUnitNsByLevel`: the smallest
 * listed level whose cache, in the profile's `cpu.caches`, holds `units` bytes; "dram" otherwise).
 */
export interface OperationCost {
  readonly fixedNs: number;
  readonly perUnitNs?: number;
  readonly perUnitNsByLevel?: Readonly<Partial<Record<CacheLevel, number>>>;
  /** Where the figure comes from: a cited measurement, a microbenchmark to rerun, or a derivation. */
  readonly source?: string;
  /** False for a cost that does not scale with the core clock (an interconnect round trip); default true. */
  readonly clockBound?: boolean;
}

/** The physical CPUs of a host: how many, their clock and cache sizes (bytes per core for l1/l2, shared l3). */
export interface HostCpu {
  readonly model?: string;
  readonly clockGhz: number;
  readonly pcpus: number;
  readonly caches: Readonly<Record<Exclude<CacheLevel, "dram">, number>>;
}

/** A host profile: named operation kinds and their costs, and the CPUs they run on. */
export interface CostProfile {
  readonly name: string;
  /** Other names the profile answers to (an older name kept working). */
  readonly aliases?: readonly string[];
  readonly description?: string;
  readonly cpu?: HostCpu;
  readonly costs: Readonly<Record<string, OperationCost>>;
}

/** What `deriveHost` changes: the clock, the core count and the cache sizes, nothing else. */
export interface HostDerivation {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly description: string;
  readonly model?: string;
  readonly clockGhz: number;
  readonly pcpus: number;
  readonly caches: HostCpu["caches"];
}

/**
 * A host derived from `base` by clock, core count and cache sizes only: every clock-bound cost
 * (cycles) scales by base clock / new clock, DRAM per-byte rates and costs marked
 * `clockBound: false` stay, and the level a size falls in follows the new caches.
 */
export function deriveHost(base: CostProfile, to: HostDerivation): CostProfile {
  const from = base.cpu;
  if (from === undefined) throw new Error(`profile '${base.name}' has no cpu to derive from`);
  if (!(to.clockGhz > 0)) throw new RangeError(`bad clock ${to.clockGhz} GHz`);
  const k = from.clockGhz / to.clockGhz;
  const costs: Record<string, OperationCost> = {};
  for (const [kind, c] of Object.entries(base.costs)) {
    const f = c.clockBound === false ? 1 : k;
    const levels = c.perUnitNsByLevel === undefined ? undefined : Object.fromEntries(Object.entries(c.perUnitNsByLevel).map(([l, v]) => [l, l === "dram" ? v : v * f]));
    costs[kind] = {
      fixedNs: c.fixedNs * f,
      ...(c.perUnitNs === undefined ? {} : { perUnitNs: c.perUnitNs * f }),
      ...(levels === undefined ? {} : { perUnitNsByLevel: levels }),
      source: `derived from ${base.name} (${c.clockBound === false ? "not clock-bound: unchanged" : `x ${from.clockGhz}/${to.clockGhz} GHz`}): ${c.source ?? "no source"}`,
      ...(c.clockBound === undefined ? {} : { clockBound: c.clockBound }),
    };
  }
  return Object.freeze({
    name: to.name,
    ...(to.aliases === undefined ? {} : { aliases: to.aliases }),
    description: to.description,
    cpu: { ...(to.model === undefined ? {} : { model: to.model }), clockGhz: to.clockGhz, pcpus: to.pcpus, caches: { ...to.caches } },
    costs: Object.freeze(costs),
  });
}

interface ResolvedCost {
  readonly fixedNs: number;
  readonly perUnitNs: number;
  /** By level, smallest first (empty when flat): the bytes the level holds, and its ns per byte. */
  readonly tierBytes: readonly number[];
  readonly tierNs: readonly number[];
}

/** Nanoseconds of `units` at cost `c`: the fixed part, and the units at the rate of the smallest level that holds them. */
function costNs(c: ResolvedCost, units: number): number {
  let per = c.perUnitNs;
  const bytes = c.tierBytes;
  for (let i = 0; i < bytes.length; i++) {
    if (units <= (bytes[i] as number)) {
      per += c.tierNs[i] as number;
      break;
    }
  }
  return c.fixedNs + per * units;
}

/** Something that can be charged for work: an actor's account. */
export interface CostSink {
  /** Charge one operation of `kind` covering `units` (bytes, pages, ...) at the profile's cost. */
  charge(kind: string, units?: number): void;
}

/** What one actor has been charged: total time and, per kind, operation counts, units and time. */
export interface CostReport {
  readonly busyNs: number;
  readonly byKind: Readonly<Record<string, { readonly ops: number; readonly units: number; readonly ns: number }>>;
}

/** A host profile's per-operation costs: the modelled nanoseconds of `kind` for a number of units (fixed + per unit). */
export class CostModel {
  private readonly costs: ReadonlyMap<string, ResolvedCost>;

  constructor(readonly profile: CostProfile) {
    const costs = new Map<string, ResolvedCost>();
    for (const [kind, c] of Object.entries(profile.costs)) {
      const byLevel = Object.entries(c.perUnitNsByLevel ?? {});
      if (!(c.fixedNs >= 0) || !((c.perUnitNs ?? 0) >= 0) || byLevel.some(([, v]) => !(v >= 0))) throw new RangeError(`negative cost for ${kind}`);
      const tiers: [number, number][] = [];
      for (const level of CACHE_LEVELS) {
        const v = c.perUnitNsByLevel?.[level];
        if (v === undefined) continue;
        const size = level === "dram" ? Number.POSITIVE_INFINITY : profile.cpu?.caches[level];
        if (size === undefined) throw new RangeError(`cost ${kind} depends on ${level} but profile '${profile.name}' gives no cache sizes`);
        tiers.push([size, v]);
      }
      if (tiers.length > 0 && tiers[tiers.length - 1]?.[0] !== Number.POSITIVE_INFINITY) throw new RangeError(`cost ${kind} by cache level needs a dram rate`);
      costs.set(kind, { fixedNs: c.fixedNs, perUnitNs: c.perUnitNs ?? 0, tierBytes: tiers.map((t) => t[0]), tierNs: tiers.map((t) => t[1]) });
    }
    this.costs = costs;
  }

  /** Nanoseconds for `units` of `kind`; an unknown kind is our bug (every charged kind has a cost). */
  cost(kind: string, units = 0): number {
    return costNs(this.resolve(kind), units);
  }

  /** @internal The resolved cost of `kind`; an unknown kind is our bug. */
  resolve(kind: string): ResolvedCost {
    const c = this.costs.get(kind);
    if (c === undefined) throw new Error(`cost profile '${this.profile.name}' has no cost for '${kind}'`);
    return c;
  }

  /** Whether the profile has a cost for `kind`. */
  has(kind: string): boolean {
    return this.costs.has(kind);
  }
}

/** One actor's running account. Allocates only on the first charge of each kind. */
export class CostAccount implements CostSink {
  busyNs = 0;
  /** Per kind: its resolved cost (looked up once) and what was charged. */
  private readonly kinds = new Map<string, { readonly cost: ResolvedCost; ops: number; units: number; ns: number }>();

  constructor(private readonly model: CostModel) {}

  /**
   * Charge one operation of `kind` with `units` units: adds its modelled ns to this account's busy
   * time and counts it by kind.
   */
  charge(kind: string, units = 0): void {
    let k = this.kinds.get(kind);
    if (k === undefined) {
      k = { cost: this.model.resolve(kind), ops: 0, units: 0, ns: 0 };
      this.kinds.set(kind, k);
    }
    const ns = costNs(k.cost, units);
    this.busyNs += ns;
    k.ops++;
    k.units += units;
    k.ns += ns;
  }

  /** What this account has been charged: busy ns and, per kind (sorted), operations, units and ns. */
  report(): CostReport {
    const byKind: Record<string, { ops: number; units: number; ns: number }> = {};
    for (const [kind, v] of [...this.kinds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) byKind[kind] = { ops: v.ops, units: v.units, ns: v.ns };
    return { busyNs: this.busyNs, byKind };
  }

  /** Clear the account. */
  reset(): void {
    this.busyNs = 0;
    this.kinds.clear();
  }
}
