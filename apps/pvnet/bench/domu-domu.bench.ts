/**
 * DomU <-> DomU through netback and Dom0's bridge, one queue: for 64, 1496 and 65535-byte frames,
 * the copy/map baseline and persistent grants side by side in one run — the model's wall-clock
 * speed and what the host cost profile predicts. The persistent-grants RFC (May 2015) also
 * published DomU <-> DomU figures: these are the model's predictions, to be checked against them.
 * Writes bench-results/domu-domu.json.
 */
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { runDomuDomu } from "../src/topology/domu-domu.js";

const PACKETS: Record<number, number> = { 64: 20_000, 1496: 10_000, 65535: 1_000 };

const results = [];
for (const pktSize of [64, 1496, 65535]) {
  const packets = PACKETS[pktSize] as number;
  const row: Record<string, unknown> = { pktSize, packets };
  for (const persistent of [false, true]) {
    // A short warm-up run so the JIT has compiled the path before the measured one.
    await runDomuDomu({ seed: 1, pktSize, packets: Math.ceil(packets / 10), persistent });
    const r = await runDomuDomu({ seed: 1, pktSize, packets, persistent });
    row[persistent ? "persistent" : "baseline"] = {
      delivered: r.packetsDelivered,
      corrupt: r.corrupt,
      wallKpps: +(r.wall.mpps * 1000).toFixed(1),
      modelledMpps: +r.modelled.mpps.toFixed(4),
      modelledGbit: +r.modelled.gbit.toFixed(2),
      hypercallsPerPacket: +(r.hypercalls.entries / packets).toFixed(2),
    };
  }
  const base = row.baseline as { modelledMpps: number };
  const pers = row.persistent as { modelledMpps: number };
  row.modelledPersistentOverBaseline = +(pers.modelledMpps / base.modelledMpps).toFixed(2);
  results.push(row);
  process.stdout.write(`domu-domu ${pktSize}: predicts ${base.modelledMpps} Mpps baseline, ${pers.modelledMpps} Mpps persistent\n`);
}

const path = writeBenchResult("domu-domu", {
  bench: "domu-domu",
  what: "guest A -> Dom0 bridge -> guest B, one queue each, stamped frames verified at guest B",
  profile: "xeon-e5-1650v2 (uncalibrated first estimates)",
  host: benchHost(),
  results,
});
process.stdout.write(`wrote ${path}\n`);
