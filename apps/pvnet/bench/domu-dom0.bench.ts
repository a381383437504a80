/**
 * DomU <-> Dom0 end to end: for guest TX and RX at 64, 1496 and 65535 bytes (GSO), one queue,
 * the model's own speed on this machine (wall clock) and what the host cost profile predicts,
 * next to the baseline (copy/map, no persistent grants) that the persistent-grants RFC
 * ("[RFC PATCH 00/13] Persistent grant maps for xen net drivers", xen-devel, May 2015) publishes for
 * host A. The prediction is the virtual time of the traffic phase on the busiest VCPU's clock.
 * Writes bench-results/domu-dom0.json.
 */
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { PUBLISHED_BASELINE_MPPS } from "../src/commands/published.js";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";

const PACKETS: Record<number, number> = { 64: 30_000, 1496: 20_000, 65535: 2_000 };

const results = [];
for (const direction of ["tx", "rx"] as const) {
  for (const pktSize of [64, 1496, 65535]) {
    const packets = PACKETS[pktSize] as number;
    // One short warm-up run so the JIT has compiled the path before the measured run.
    await runDomuDom0({ seed: 1, direction, pktSize, packets: Math.ceil(packets / 10) });
    const r = await runDomuDom0({ seed: 1, direction, pktSize, packets });
    const key = `${direction}-${pktSize}`;
    const published = PUBLISHED_BASELINE_MPPS[key] as number;
    results.push({
      direction,
      pktSize,
      packets,
      delivered: r.packetsDelivered,
      corrupt: r.corrupt,
      wall: { seconds: +r.wall.seconds.toFixed(3), kpps: +(r.wall.mpps * 1000).toFixed(1) },
      modelled: { mpps: +r.modelled.mpps.toFixed(4), gbit: +r.modelled.gbit.toFixed(2) },
      publishedBaselineMpps: published,
      modelledOverPublished: +(r.modelled.mpps / published).toFixed(2),
      hypercallsPerPacket: +(r.hypercalls.entries / packets).toFixed(2),
    });
    process.stdout.write(`${key}: model ${(r.wall.mpps * 1000).toFixed(1)} Kpps wall, predicts ${r.modelled.mpps.toFixed(3)} Mpps (published ${published})\n`);
  }
}

const path = writeBenchResult("domu-dom0", {
  bench: "domu-dom0",
  what: "DomU <-> Dom0 through netfront and netback, one queue, stamped frames verified at the sink",
  profile: "xeon-e5-1650v2 (uncalibrated first estimates)",
  host: benchHost(),
  results,
});
process.stdout.write(`wrote ${path}\n`);
