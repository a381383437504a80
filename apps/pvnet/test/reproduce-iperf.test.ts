/**
 * `pvnet reproduce`'s iperf rows: host A's six with the RFC's figures, host B's and the DomU <-> DomU
 * rows as predictions, run as `pvnet run --flows` runs them.
 */
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { expect, test } from "vitest";
import { IPERF_WINDOW_BYTES, PUBLISHED_IPERF_GBIT } from "../src/commands/iperf-rows.js";
import { reproducePoints, reproduceProfileName, reproduceResults, reproduceRows, runReproduce } from "../src/commands/reproduce.js";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDomu } from "../src/topology/domu-domu.js";

test("host A: six iperf rows (1-3 queues, TX and RX) with the published Gbit/s; host B: 1, 2, 3, 4, 6 queues, columns empty", () => {
  const a = reproduceRows("hostA").filter((r) => r.kind === "iperf" && r.topology === "domu-dom0");
  expect(a.map((r) => `${r.direction}-${r.queues}`)).toEqual(["tx-1", "tx-2", "tx-3", "rx-1", "rx-2", "rx-3"]);
  for (const r of a) {
    expect(r).toMatchObject({ topology: "domu-dom0", flows: r.queues, pktSize: 65535, burst: 1, cloneSkbs: 0 });
    expect([r.publishedBaseline, r.publishedPersistent]).toEqual(PUBLISHED_IPERF_GBIT[`${r.direction}-${r.queues}`]);
  }
  // The RFC's one loss: 1-queue RX with persistent grants.
  expect(a.filter((r) => (r.publishedPersistent as number) < (r.publishedBaseline as number)).map((r) => r.test)).toEqual(["iperf TCP 1 queue RX, Gbit/s"]);
  const b = reproduceRows("hostB").filter((r) => r.kind === "iperf" && r.topology === "domu-dom0");
  expect(b.map((r) => `${r.direction}-${r.queues}`)).toEqual(["tx-1", "tx-2", "tx-3", "tx-4", "tx-6", "rx-1", "rx-2", "rx-3", "rx-4", "rx-6"]);
  expect(b.every((r) => r.publishedBaseline === null && r.publishedPersistent === null)).toBe(true);
});

test("DomU <-> DomU iperf rows, columns empty: host A's 1 queue, host B's 1-3 queues", () => {
  const domuDomu = (host: "hostA" | "hostB") => reproduceRows(host).filter((r) => r.topology === "domu-domu");
  for (const host of ["hostA", "hostB"] as const) {
    for (const r of domuDomu(host)) {
      expect(r).toMatchObject({ kind: "iperf", direction: "tx", flows: r.queues, pktSize: 65535, publishedBaseline: null, publishedPersistent: null });
      expect(r.test).toBe(`iperf TCP ${r.queues} queue${r.queues === 1 ? "" : "s"} DomU <-> DomU, Gbit/s`);
    }
  }
  expect(domuDomu("hostA").map((r) => r.queues)).toEqual([1]);
  expect(domuDomu("hostB").map((r) => r.queues)).toEqual([1, 2, 3]);
});

test("a DomU <-> DomU iperf row runs pvnet run --topology domu-domu --flows: the same Gbit/s as that run made directly", async () => {
  const rows = reproduceRows("hostA", 30).filter((r) => r.topology === "domu-domu");
  const points = reproducePoints(rows, 5);
  expect(points.map((p) => p.topology)).toEqual(["domu-domu", "domu-domu"]);
  const profile = reproduceProfileName("hostA");
  const { results, end } = await runReproduce(points, profile, false);
  expect(end.kind).toBe("done");
  const [row] = reproduceResults("hostA", profile, rows, points, results);
  expect(row).toMatchObject({ unit: "Gbit/s", corrupt: 0, delivered: 60, publishedRatio: null, ratioError: null });
  expect(results.get(1)?.persistentGrants).toBe(true);
  expect(results.get(0)?.persistentGrants).toBe(false);
  const direct = await runDomuDomu({ seed: 5, pktSize: 65535, packets: 30, queues: 1, flows: 1, windowBytes: IPERF_WINDOW_BYTES, profile: HOST_PROFILES[profile] });
  expect(row?.baseline).toBe(direct.modelled.gbit);
});

test("an iperf row runs pvnet run --flows: its Gbit/s are those of the same run made directly", async () => {
  const rows = reproduceRows("hostA", 40).filter((r) => r.kind === "iperf" && r.queues === 2);
  const points = reproducePoints(rows, 3);
  expect(points[0]?.options).toMatchObject({ flows: 2, queues: 2, windowBytes: IPERF_WINDOW_BYTES });
  const profile = reproduceProfileName("hostA");
  const { results, end } = await runReproduce(points, profile, false);
  expect(end.kind).toBe("done");
  const measured = reproduceResults("hostA", profile, rows, points, results);
  expect(measured).toHaveLength(2);
  for (const r of measured) {
    expect(r).toMatchObject({ unit: "Gbit/s", corrupt: 0, delivered: 80 });
    expect(r.ratioError).toBeCloseTo((r.ratio as number) / (r.publishedRatio as number) - 1, 12);
  }
  const direct = await runDomuDom0({ direction: "rx", seed: 3, pktSize: 65535, packets: 40, queues: 2, flows: 2, windowBytes: IPERF_WINDOW_BYTES, persistent: true, profile: HOST_PROFILES[profile] });
  expect(measured[1]?.persistent).toBe(direct.modelled.gbit);
});
