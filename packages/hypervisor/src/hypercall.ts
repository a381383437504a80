/**
 * Hypercall entry: every hypercall is counted by op and charged to the calling VCPU. A batch
 * hypercall (GNTTABOP_copy with N ops) is one entry with N sub-ops; a multicall runs several
 * hypercalls in one entry (one VM exit), as netback does for its copy and map batches.
 */
import type { Vcpu } from "./domain.js";

/** Hypercalls of one op and the sub-operations they carried (a batch of 32 grant copies is 1 call, 32 ops). */
export interface OpCount {
  /** Hypercalls (or multicall entries) of this op. */
  calls: number;
  /** Sub-operations carried, e.g. grant copies in GNTTABOP_copy batches. */
  ops: number;
}

/** Counters of hypercall activity, as a plain snapshot. */
export interface HypercallSnapshot {
  /** Guest -> hypervisor transitions (a multicall counts once). */
  readonly entries: number;
  readonly multicalls: number;
  readonly byOp: Readonly<Record<string, OpCount>>;
}

/** Hypercall counters of a run: guest -> hypervisor entries, multicalls, and per op its calls and sub-operations. */
export class HypercallStats {
  entries = 0;
  multicalls = 0;
  private readonly byOp = new Map<string, OpCount>();

  /** Count one call of `op` carrying `ops` sub-operations. Allocates once per op name. */
  count(op: string, ops: number): void {
    let c = this.byOp.get(op);
    if (c === undefined) {
      c = { calls: 0, ops: 0 };
      this.byOp.set(op, c);
    }
    c.calls++;
    c.ops += ops;
  }

  /** The counts of `op` (zeros when it was never called). */
  get(op: string): OpCount {
    return this.byOp.get(op) ?? { calls: 0, ops: 0 };
  }

  /** A copy of the counters, ops sorted by name. */
  snapshot(): HypercallSnapshot {
    const byOp: Record<string, OpCount> = {};
    for (const [k, v] of [...this.byOp].sort(([a], [b]) => (a < b ? -1 : 1))) byOp[k] = { ...v };
    return { entries: this.entries, multicalls: this.multicalls, byOp };
  }

  /** Zero every counter. */
  reset(): void {
    this.entries = 0;
    this.multicalls = 0;
    this.byOp.clear();
  }
}

/** One call inside a multicall: the op's name, how many sub-ops it carries, and its body. */
export interface MulticallEntry {
  readonly op: string;
  readonly count: number;
  /** Runs the hypercall; returns its result code (0 or -errno), as multicall_entry.result. */
  readonly run: () => number;
}

/** Cost kinds charged by the hypercall layer (see the host profiles). */
export const COST_HYPERCALL = "hypercall";
/** One entry of a HYPERVISOR_multicall batch (charged per entry, on top of the one hypercall). */
export const COST_MULTICALL_ENTRY = "multicall.entry";

/**
 * Enter the hypervisor once for `op` with `count` sub-ops. `body` runs "in Xen" on the caller's
 * VCPU and is charged there.
 */
export function hypercall<T>(stats: HypercallStats, vcpu: Vcpu, op: string, count: number, body: () => T): T {
  stats.entries++;
  stats.count(op, count);
  vcpu.charge(COST_HYPERCALL);
  return body();
}

/**
 * HYPERVISOR_multicall: one entry, every call run in order, each result recorded. Like Xen, a
 * failing call does not stop the batch; the caller checks each result.
 */
export function multicall(stats: HypercallStats, vcpu: Vcpu, calls: readonly MulticallEntry[], results: Int32Array): void {
  if (results.length < calls.length) throw new RangeError("multicall results array too small");
  stats.entries++;
  stats.multicalls++;
  vcpu.charge(COST_HYPERCALL);
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i] as MulticallEntry;
    stats.count(c.op, c.count);
    vcpu.charge(COST_MULTICALL_ENTRY);
    results[i] = c.run();
  }
}
