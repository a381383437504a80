/**
 * Published throughput next to which `pvnet run` prints its prediction: the DomU <-> Dom0 baseline
 * (grant copy / map, no persistent grants), one queue, on the Xeon E5-1650 v2 host the
 * `xeon-e5-1650v2` cost profile models, in Mpps. The same figures the domu-dom0 bench compares
 * against.
 */
export const PUBLISHED_BASELINE_MPPS: Readonly<Record<string, number>> = Object.freeze({
  "tx-64": 1.24,
  "tx-1496": 0.518,
  "tx-65535": 0.0664,
  "rx-64": 1.33,
  "rx-1496": 1.03,
  "rx-65535": 0.0525,
});

/** The cost profile those figures were measured on. */
export const PUBLISHED_PROFILE = "xeon-e5-1650v2";

/** The published figure for a run's shape, when one exists. */
export function publishedMpps(r: {
  readonly topology: string;
  readonly direction: string;
  readonly pktSize: number;
  readonly queues: number;
  readonly persistent: boolean;
  readonly profile: string;
  readonly customLayout: boolean;
}): number | undefined {
  if (r.topology !== "domu-dom0" || r.queues !== 1 || r.persistent || r.customLayout || r.profile !== PUBLISHED_PROFILE) return undefined;
  return PUBLISHED_BASELINE_MPPS[`${r.direction}-${r.pktSize}`];
}
