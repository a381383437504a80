/**
 * Published throughput next to which `pvnet run`, `pvnet report` and the benches put the model's
 * predictions: the persistent-grants RFC ("[RFC PATCH 00/13] Persistent grant maps for xen net
 * drivers", xen-devel, May 2015), host A (Xeon E5-1650 v2 @ 3.5 GHz, Xen 4.5, the host the
 * `hostA` cost profile models, once named `xeon-e5-1650v2`), DomU <-> Dom0, one queue, in Mpps.
 *
 * The baseline column: grant copy / map, no persistent grants.
 */
export const PUBLISHED_BASELINE_MPPS: Readonly<Record<string, number>> = Object.freeze({
  "tx-64": 1.24,
  "tx-1496": 0.518,
  "tx-65535": 0.0664,
  "rx-64": 1.33,
  "rx-1496": 1.03,
  "rx-65535": 0.0525,
});

/** The persistent-grants column of the same table. */
export const PUBLISHED_PERSISTENT_MPPS: Readonly<Record<string, number>> = Object.freeze({
  "tx-64": 1.82,
  "tx-1496": 1.48,
  "tx-65535": 0.2051,
  "rx-64": 2.78,
  "rx-1496": 1.66,
  "rx-65535": 0.0978,
});

/**
 * The RFC's MiniOS row: a MiniOS guest busy-polling its TX ring, pktgen `burst 8`, 64-byte frames,
 * DomU -> Dom0, one queue. The MiniOS of that work (NEC's fork, github.com/sysml/mini-os,
 * netfront.c) grants its TX buffers once at setup, copies every packet into them and writes
 * `feature-persistent`, so this is a persistent-grants figure; the RFC gives no baseline for it.
 */
export const PUBLISHED_MINIOS_PERSISTENT_MPPS = 4.17;

/** The cost profile those figures were measured on. */
export const PUBLISHED_PROFILE = "hostA";

/** A published figure and the column of the RFC's table it comes from. */
export interface PublishedFigure {
  readonly mpps: number;
  /** "baseline" (grant copy / map) or "persistent grants". */
  readonly column: string;
}

/** The published figure for a run's shape, when one exists: the baseline column, or the persistent-grants one for a persistent run. */
export function publishedFigure(r: {
  readonly topology: string;
  readonly direction: string;
  readonly pktSize: number;
  readonly queues: number;
  readonly persistent: boolean;
  readonly profile: string;
  readonly customLayout: boolean;
}): PublishedFigure | undefined {
  if (r.topology !== "domu-dom0" || r.queues !== 1 || r.customLayout || r.profile !== PUBLISHED_PROFILE) return undefined;
  const mpps = (r.persistent ? PUBLISHED_PERSISTENT_MPPS : PUBLISHED_BASELINE_MPPS)[`${r.direction}-${r.pktSize}`];
  return mpps === undefined ? undefined : { mpps, column: r.persistent ? "persistent grants" : "baseline" };
}
