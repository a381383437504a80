/**
 * The iperf half of `pvnet reproduce` (rows of kind "iperf"): the persistent-grants RFC's second
 * table ("[RFC PATCH 00/13] Persistent grant maps for xen net drivers", Joao Martins, xen-devel,
 * May 2015, cover letter): iperf TCP, DomU <-> Dom0, 1-3 queues, guest TX and RX, Gbit/s, host A
 * (Xeon E5-1650 v2 @ 3.5 GHz, Xen 4.5). Each row runs `pvnet run --flows N --queues N` (one flow
 * per queue, 64 KiB GSO segments). The RFC's host-B rows (1, 2, 3, 4 and 6 queues; 1-3 queues
 * DomU <-> DomU) and host A's 1-queue DomU <-> DomU row are predictions here
 * (`pvnet run --topology domu-domu --flows N`): their published columns stay empty, kept back to
 * check the model afterwards.
 * The modelled figure is the run's `modelled.gbit` (frame bytes; iperf counts payload, 0.08% less
 * for 64 KiB segments). Kept apart from reproduce.ts so the pktgen rows and these change independently.
 */
import { XENVIF_RX_QUEUE_BYTES } from "@pvnet/netback";
import type { ReproduceHost, ReproduceRowSpec } from "./reproduce.js";

/** Host A's iperf figures, Gbit/s: [copy/map baseline, persistent grants] by `${direction}-${queues}`. */
export const PUBLISHED_IPERF_GBIT: Readonly<Record<string, readonly [number, number]>> = Object.freeze({
  "tx-1": [14.5, 21.6],
  "tx-2": [17.6, 27.4],
  "tx-3": [17.2, 29.3],
  "rx-1": [20.9, 17.8],
  "rx-2": [21.1, 24.9],
  "rx-3": [22.1, 31.0],
});

/** Queue counts of each host's iperf rows in the RFC. */
export const IPERF_QUEUES: Readonly<Record<ReproduceHost, readonly number[]>> = Object.freeze({ hostA: [1, 2, 3], hostB: [1, 2, 3, 4, 6] });
/** Queue counts of each host's DomU <-> DomU iperf rows in the RFC (guest A sends to guest B). */
export const IPERF_DOMU_DOMU_QUEUES: Readonly<Record<ReproduceHost, readonly number[]>> = Object.freeze({ hostA: [1], hostB: [1, 2, 3] });
/** iperf's segments: 64 KiB GSO (the frame netfront may send, XEN_NETIF_MAX_TX_SIZE). */
export const IPERF_SEGMENT = 65535;
/** The flows' windows in all: netback's RX queue (a larger one could lose a segment; no retransmission is modelled). */
export const IPERF_WINDOW_BYTES = XENVIF_RX_QUEUE_BYTES;
/** Segments per point unless --packets says otherwise. */
export const DEFAULT_IPERF_SEGMENTS = 1000;

/** The iperf rows of `host`, `packets` segments per point if given. */
export function iperfRows(host: ReproduceHost, packets?: number): ReproduceRowSpec[] {
  const row = (topology: ReproduceRowSpec["topology"], direction: "tx" | "rx", queues: number, what: string, published: readonly [number, number] | undefined): ReproduceRowSpec => ({
    kind: "iperf",
    test: `iperf TCP ${queues} queue${queues === 1 ? "" : "s"} ${what}, Gbit/s`,
    topology,
    direction,
    queues,
    flows: queues,
    pktSize: IPERF_SEGMENT,
    burst: 1,
    cloneSkbs: 0,
    busyPoll: false,
    packets: packets ?? DEFAULT_IPERF_SEGMENTS,
    publishedBaseline: published?.[0] ?? null,
    publishedPersistent: published?.[1] ?? null,
  });
  const rows: ReproduceRowSpec[] = [];
  for (const direction of ["tx", "rx"] as const) {
    for (const queues of IPERF_QUEUES[host]) {
      rows.push(row("domu-dom0", direction, queues, direction.toUpperCase(), host === "hostA" ? PUBLISHED_IPERF_GBIT[`${direction}-${queues}`] : undefined));
    }
  }
  for (const queues of IPERF_DOMU_DOMU_QUEUES[host]) rows.push(row("domu-domu", "tx", queues, "DomU <-> DomU", undefined));
  return rows;
}
