import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { PUBLISHED_BASELINE_MPPS, PUBLISHED_PERSISTENT_MPPS } from "../src/commands/published.js";
import { RFC_CLONE_SKBS, reproducePoints, reproduceProfileName, reproduceResults, reproduceRows, runReproduce } from "../src/commands/reproduce.js";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));

function pvnet(...args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT });
    return { code: 0, stdout, stderr: "" };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Frames per point in these tests: the whole table in a few seconds. */
const PACKETS = 120;

describe("pvnet reproduce", () => {
  test("--json: one row per RFC pktgen row, the published figures beside the model's, which are those of pvnet run's own runs", async () => {
    const out = pvnet("reproduce", "--host", "hostA", "--packets", String(PACKETS), "--json");
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const rows = JSON.parse(lines[0] as string) as Record<string, unknown>[];
    const pktgen = rows.filter((r) => r.kind === "pktgen" && r.burst === 1);
    expect(pktgen.map((r) => `${r.direction}-${r.pktSize}`)).toEqual(["tx-64", "tx-1496", "tx-65535", "rx-64", "rx-1496", "rx-65535"]);
    for (const r of pktgen) {
      const key = `${r.direction}-${r.pktSize}`;
      expect(r).toMatchObject({ topology: "domu-dom0", queues: 1, unit: "Mpps", cloneSkbs: RFC_CLONE_SKBS, host: "hostA" });
      expect(r.publishedBaseline).toBe(PUBLISHED_BASELINE_MPPS[key]);
      expect(r.publishedPersistent).toBe(PUBLISHED_PERSISTENT_MPPS[key]);
      for (const k of ["test", "baseline", "persistent", "ratio", "publishedRatio", "ratioError"]) expect(r[k], `${key} ${k}`).not.toBeNull();
      expect(r.baseline as number).toBeGreaterThan(0);
      expect(r.ratio).toBeCloseTo((r.persistent as number) / (r.baseline as number), 12);
      expect(r.ratioError).toBeCloseTo((r.ratio as number) / (r.publishedRatio as number) - 1, 12);
      // pktgen has no window: on RX, netback drops the frame that finds its queue full (and stops it).
      if (r.direction === "tx") expect(r.delivered).toBe(2 * PACKETS);
      else expect(r.delivered as number).toBeGreaterThan(PACKETS);
      expect(r.corrupt).toBe(0);
    }
    const minios = rows.filter((r) => r.busyPoll === true);
    expect(minios).toHaveLength(1);
    expect(minios[0]).toMatchObject({ kind: "pktgen", direction: "tx", pktSize: 64, burst: 8, queues: 1, publishedBaseline: null, publishedPersistent: 4.17, publishedRatio: null, ratio: expect.any(Number), corrupt: 0 });
    expect(minios[0]?.persistentError).toBeCloseTo((minios[0]?.persistent as number) / 4.17 - 1, 12);
    // The modelled figures are those of the same run made directly (the machinery of pvnet run).
    const profile = HOST_PROFILES[(pktgen[0] as { profile: string }).profile];
    for (const [i, persistent] of [[0, false], [3, true]] as const) {
      const r = pktgen[i] as { direction: "tx" | "rx"; pktSize: number; baseline: number; persistent: number };
      const direct = await runDomuDom0({ direction: r.direction, pktSize: r.pktSize, packets: PACKETS, seed: 1, burst: 1, cloneSkbs: RFC_CLONE_SKBS, windowBytes: 0, persistent, ...(profile === undefined ? {} : { profile }) });
      expect(persistent ? r.persistent : r.baseline).toBe(direct.modelled.mpps);
    }
  });

  test("the table: a row per test with published and modelled columns, ratios and errors", () => {
    const out = pvnet("reproduce", "--packets", String(PACKETS), "--seed", "2");
    expect(out.code).toBe(0);
    const lines = out.stdout.split("\n");
    expect(lines[0]).toBe(`pvnet reproduce --host hostA: DomU <-> Dom0 unless the test says, pktgen in Mpps, iperf in Gbit/s (profile hostA, seed 2)`);
    expect(lines[1]).toMatch(/^test +pub base +pub pers +model base +model pers +pub ratio +model ratio +error +error base\/pers +bottleneck$/);
    const tx64 = lines.find((l) => l.startsWith("1 queue TX, pkt 64 "));
    // Published 1.24 -> 1.82 Mpps: ratio 1.47x, then the model's figures and signed errors.
    expect(tx64).toMatch(/^1 queue TX, pkt 64 +1\.24 +1\.82 +\d\.\d+ +\d\.\d+ +1\.47x +\d\.\d\dx +[+-]\d+% +[+-]\d+% \/ [+-]\d+%/);
    expect(lines.find((l) => l.startsWith("1 queue RX, pkt 65535 "))).toMatch(/ 0\.0525 +0\.0978 /);
    // The MiniOS row has no published baseline (nor ratio): those columns are empty.
    const minios = lines.find((l) => l.startsWith("MiniOS TX, pkt 64, burst 8, busy-poll ")) as string;
    expect(minios).toMatch(/^MiniOS TX, pkt 64, burst 8, busy-poll +4\.17 +\d\.\d+ +\d\.\d+ +\d\.\d\dx +- \/ [+-]\d+% +d0v0 on pCPU 0: [\w.]+ \d+%.*$/);
    const header = lines[1] as string;
    expect(minios.indexOf("4.17") + 4).toBe(header.indexOf("pub pers") + 8); // under "pub pers", "pub base" empty
    expect(out.stdout).toMatch(/\n {2}[\d ]+ frames delivered in all, 0 corrupt\.\n$/);
  });

  test("an unknown host is one line and exit 2; nothing runs", () => {
    const unknown = pvnet("reproduce", "--host", "hostC");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("error: option '--host <name>' argument 'hostC' is invalid. Allowed choices are hostA, hostB.\n");
    expect(unknown.stdout).toBe("");
    const bad = pvnet("reproduce", "--packets", "0x10");
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("--host hostB: predictions on the profile derived from host A, no published columns, every frame intact", () => {
    const out = pvnet("reproduce", "--host", "hostB", "--packets", String(PACKETS), "--json");
    expect(out.code).toBe(0);
    const rows = JSON.parse(out.stdout) as Record<string, unknown>[];
    // The six pktgen rows and MiniOS's, then the iperf rows: host B has no published figure for any.
    expect(rows.filter((r) => r.kind === "pktgen")).toHaveLength(7);
    expect(rows.filter((r) => r.kind === "iperf").length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r).toMatchObject({ host: "hostB", profile: "hostB", publishedBaseline: null, publishedPersistent: null, ratioError: null, corrupt: 0 });
      expect(r.persistent as number).toBeGreaterThan(0);
      if (r.kind === "pktgen") expect(r.bottleneckPersistent).toMatch(/^(latency \(busiest: )?d\dv\d on pCPU \d+: /);
    }
  });

  test("a stop (what Ctrl-C asks) between points ends the run cleanly with the points measured so far", async () => {
    // Row 1 (TX 64 B): a short baseline, then a persistent point far too long to finish.
    const rows = reproduceRows("hostA", PACKETS).slice(0, 1);
    const points = reproducePoints(rows, 1).map((p) => (p.mode === "persistent" ? { ...p, options: { ...p.options, packets: 10_000_000 } } : p));
    const profile = reproduceProfileName("hostA");
    const { results, end } = await runReproduce(points, profile, false, (index, _r, stop) => {
      if (index === 0) stop();
    });
    expect(end.kind).toBe("interrupted");
    if (end.kind !== "interrupted") return;
    expect(end.index).toBe(1);
    expect(end.partial.delivered).toBeGreaterThanOrEqual(PACKETS);
    expect(end.partial.delivered).toBeLessThan(PACKETS + 10_000_000);
    expect([...results.keys()]).toEqual([0]);
    const [row] = reproduceResults("hostA", profile, rows, points, results);
    expect(row).toMatchObject({ test: "1 queue TX, pkt 64", persistent: null, ratio: null, delivered: PACKETS, corrupt: 0 });
    expect(row?.baseline).toBeGreaterThan(0);
  });

  test("--help describes every option with its range and default", () => {
    const help = pvnet("reproduce", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--host <name> +the RFC's host whose cost profile runs the table\s+\(choices:\s+"hostA", "hostB",\s+default: "hostA"\)/);
    expect(help.stdout).toContain("frames per point (1..10000000)");
    expect(help.stdout).toMatch(/--seed <n> +seed of the deterministic runs \(0\.\.4294967295\)\s+\(default: 1\)/);
    expect(pvnet("--help").stdout).toMatch(/^ {2}reproduce\b/m);
  });
});
