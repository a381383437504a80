/**
 * Persistent grants (xen-devel RFC, May 2015) against the copy/map baseline, DomU <-> Dom0, one queue,
 * guest TX and RX at 64, 1496 and 65535 bytes, measured side by side in one run: the model's own
 * speed on this machine (wall clock), what the host cost profile predicts (virtual time of the
 * traffic phase), hypercalls per packet, and the persistent/baseline ratios next to the ratios
 * the RFC published for host A. Writes bench-results/persistent.json.
 */
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { PUBLISHED_BASELINE_MPPS, PUBLISHED_PERSISTENT_MPPS } from "../src/commands/published.js";
import { type RunReport, runDomuDom0 } from "../src/topology/domu-dom0.js";

/** Packets per measured run: enough for a stable wall-clock rate, the whole bench under a minute. */
const PACKETS: Record<number, number> = { 64: 30_000, 1496: 20_000, 65535: 2_000 };

const round = (x: number, digits: number) => +x.toFixed(digits);

function summary(r: RunReport, packets: number) {
  return {
    delivered: r.packetsDelivered,
    corrupt: r.corrupt,
    wall: { seconds: round(r.wall.seconds, 3), kpps: round(r.wall.mpps * 1000, 1) },
    modelled: { mpps: round(r.modelled.mpps, 4), gbit: round(r.modelled.gbit, 2) },
    hypercallsPerPacket: round(r.hypercalls.entries / packets, 3),
  };
}

const results = [];
for (const direction of ["tx", "rx"] as const) {
  for (const pktSize of [64, 1496, 65535]) {
    const packets = PACKETS[pktSize] as number;
    // Short warm-up runs of both paths so the JIT has compiled them before the measured runs.
    await runDomuDom0({ seed: 1, direction, pktSize, packets: Math.ceil(packets / 10) });
    await runDomuDom0({ seed: 1, direction, pktSize, packets: Math.ceil(packets / 10), persistent: true });
    const base = await runDomuDom0({ seed: 1, direction, pktSize, packets });
    const pers = await runDomuDom0({ seed: 1, direction, pktSize, packets, persistent: true });
    if (pers.counters.persistent_grants !== 1) throw new Error("persistent grants were not negotiated");
    const key = `${direction}-${pktSize}`;
    const pubBase = PUBLISHED_BASELINE_MPPS[key] as number;
    const pubPers = PUBLISHED_PERSISTENT_MPPS[key] as number;
    const b = summary(base, packets);
    const p = summary(pers, packets);
    const ratio = {
      wallPps: round(pers.wall.mpps / base.wall.mpps, 2),
      modelledMpps: round(pers.modelled.mpps / base.modelled.mpps, 2),
      hypercallsPerPacket: round(pers.hypercalls.entries / base.hypercalls.entries, 2),
      published: round(pubPers / pubBase, 2),
    };
    results.push({
      direction,
      pktSize,
      packets,
      baseline: b,
      persistent: {
        ...p,
        treeHits: direction === "tx" ? pers.counters.persistent_tx_hits : pers.counters.persistent_rx_hits,
        treeMisses: direction === "tx" ? pers.counters.persistent_tx_misses : pers.counters.persistent_rx_misses,
        frontendExtraCopyBytes: pers.frontend.rxPersistentCopyBytes,
      },
      ratio,
      published: { baselineMpps: pubBase, persistentMpps: pubPers },
    });
    process.stdout.write(
      `${key}: predicted ${b.modelled.mpps} -> ${p.modelled.mpps} Mpps (x${ratio.modelledMpps}, published x${ratio.published}); ` +
        `wall ${b.wall.kpps} -> ${p.wall.kpps} Kpps (x${ratio.wallPps}); hypercalls/pkt ${b.hypercallsPerPacket} -> ${p.hypercallsPerPacket}\n`,
    );
  }
}

const path = writeBenchResult("persistent", {
  bench: "persistent",
  what: "DomU <-> Dom0, one queue: copy/map baseline vs persistent grants (RFC 2015), stamped frames verified at the sink",
  profile: "xeon-e5-1650v2 (uncalibrated first estimates)",
  notModelled: "the RFC's copy in xenvif_start_xmit instead of the RX kthread (most of its RX small-packet gain)",
  host: benchHost(),
  results,
});
process.stdout.write(`wrote ${path}\n`);
