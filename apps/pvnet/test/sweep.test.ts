import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { main } from "../src/cli-program.js";

/**
 * `pvnet sweep` on the local worker-thread pool: every point's report is the `pvnet run --json`
 * report of its command line (checked against the recorded scenarios and against a fresh
 * `pvnet run`), CSV and JSON in point order, usage errors, and Ctrl-C writing what was finished.
 */
const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const tsx = createRequire(import.meta.url).resolve("tsx");
const recorded = JSON.parse(readFileSync(new URL("./fixtures/scenarios.json", import.meta.url), "utf8")) as Record<string, unknown>;
const dir = mkdtempSync(join(tmpdir(), "pvnet-sweep-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pvnet(...args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, stdout, stderr: "" };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

interface Result {
  point: { topology: string; direction: string; pktSize: number; queues: number; mode: string; seed: number; packets: number };
  command: string;
  report: Record<string, unknown> & { wall: unknown; traceDigest: string };
}

/** A report without the wall clock of the machine that ran it. */
function modelled(report: Result["report"]): Record<string, unknown> {
  const { wall: _wall, ...rest } = report;
  return rest;
}

describe("pvnet sweep on the local pool", () => {
  const out = join(dir, "local");
  let sweep: ReturnType<typeof pvnet> = { code: -1, stdout: "", stderr: "" };
  beforeAll(() => {
    sweep = pvnet("sweep", "--sizes", "64,1496", "--directions", "tx,rx", "--modes", "baseline,persistent", "--topologies", "domu-dom0,domu-domu", "--packets", "40", "--jobs", "2", "--out", out);
  });

  test("one point per combination in point order (domu-domu: tx only), CSV and JSON agree", () => {
    expect(sweep.stderr).toBe("");
    expect(sweep.code).toBe(0);
    expect(sweep.stdout).toBe(`12 points: wrote ${join(out, "sweep.csv")} and ${join(out, "sweep.json")}\n`);
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { points: number; finished: number; results: Result[] };
    expect(json.points).toBe(12);
    expect(json.finished).toBe(12);
    expect(json.results.map((r) => `${r.point.topology} ${r.point.direction} ${r.point.pktSize} ${r.point.mode}`)).toEqual([
      "domu-dom0 tx 64 baseline",
      "domu-dom0 tx 64 persistent",
      "domu-dom0 tx 1496 baseline",
      "domu-dom0 tx 1496 persistent",
      "domu-dom0 rx 64 baseline",
      "domu-dom0 rx 64 persistent",
      "domu-dom0 rx 1496 baseline",
      "domu-dom0 rx 1496 persistent",
      "domu-domu tx 64 baseline",
      "domu-domu tx 64 persistent",
      "domu-domu tx 1496 baseline",
      "domu-domu tx 1496 persistent",
    ]);
    const csv = readFileSync(join(out, "sweep.csv"), "utf8").trimEnd().split("\n");
    expect(csv[0]).toBe(
      "topology,direction,pkt_size,queues,mode,profile,seed,packets,packets_delivered,bytes_delivered,dropped,corrupt,out_of_order,modelled_seconds,modelled_mpps,modelled_gbit,hypercall_entries,trace_digest",
    );
    expect(csv).toHaveLength(13);
    json.results.forEach((r, i) => {
      const row = (csv[i + 1] ?? "").split(",");
      expect(row.slice(0, 5)).toEqual([r.point.topology, r.point.direction, String(r.point.pktSize), "1", r.point.mode]);
      expect(row[8]).toBe("40");
      expect(row[11]).toBe("0");
      expect(row[17]).toBe(r.report.traceDigest);
      expect(r.report).toMatchObject({ packetsSent: 40, packetsDelivered: 40, corrupt: 0, persistent: r.point.mode === "persistent" });
    });
  });

  test("every point's report is the recorded `pvnet run --json` report of its command line", () => {
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { results: Result[] };
    let compared = 0;
    for (const r of json.results) {
      const p = r.point;
      const label = `${p.topology === "domu-domu" ? "--topology domu-domu" : `--direction ${p.direction}`} --pkt-size ${p.pktSize} --packets 40${p.mode === "persistent" ? " --persistent" : ""}`;
      if (recorded[label] === undefined) continue;
      expect(modelled(r.report), label).toEqual(recorded[label]);
      compared++;
    }
    // The eight DomU <-> Dom0 points and two of the DomU <-> DomU ones are recorded scenarios.
    expect(compared).toBe(10);
  });

  test("a point's report equals a fresh `pvnet run --json` of the command it names", () => {
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { results: Result[] };
    const r = json.results.find((x) => x.point.topology === "domu-domu" && x.point.pktSize === 64 && x.point.mode === "persistent");
    expect(r?.command).toBe("pvnet run --topology domu-domu --direction tx --pkt-size 64 --packets 40 --queues 1 --seed 1 --profile hostA --persistent --json");
    const args = (r?.command ?? "").split(" ").slice(1);
    const run = pvnet(...args);
    expect(run.code).toBe(0);
    const fresh = JSON.parse(run.stdout) as Result["report"];
    expect(fresh.traceDigest).toBe(r?.report.traceDigest);
    expect(modelled(fresh)).toEqual(modelled(r?.report as Result["report"]));
  });

  test("--csv - prints the CSV; seeds and queues are axes too", () => {
    const s = pvnet("sweep", "--sizes", "1496", "--queues", "1,2", "--seed", "3,4", "--packets", "20", "--jobs", "2", "--csv", "-");
    expect(s.code).toBe(0);
    const rows = s.stdout.trimEnd().split("\n").slice(1).map((l) => l.split(","));
    expect(rows.map((r) => `${r[3]} ${r[6]}`)).toEqual(["1 3", "1 4", "2 3", "2 4"]);
    // Different queue counts are different runs. A seed only breaks ties between events at the
    // same virtual time, so two seeds may replay the very same run (1 queue here).
    expect(new Set(rows.map((r) => r[17])).size).toBeGreaterThanOrEqual(2);
    expect(rows[0]![17]).not.toBe(rows[2]![17]);
  });
});

/** `pvnet ...` in this process (no launcher): exit code and what went to stderr. */
async function inProcess(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await main(["node", "pvnet", ...args]), stderr };
  } finally {
    spy.mockRestore();
  }
}

describe("pvnet sweep usage", () => {
  test.each([
    [["--sizes", "64,1e3"], "option '--sizes <list>' argument '64,1e3' is invalid. expected comma-separated decimal integers in 58..65535."],
    [["--modes", "baseline,zerocopy"], "'zerocopy' is not one of baseline, persistent."],
    [["--jobs", "0"], "option '--jobs <n>' argument '0' is invalid. expected a decimal integer in 1..256."],
    [["--out", "x", "--csv", "y"], "pvnet sweep: --out writes sweep.csv and sweep.json in its folder: give --out, or --csv and --json, not both\n"],
    [["--topologies", "domu-domu", "--directions", "rx"], "pvnet sweep: no points: --topologies domu-domu sends tx only"],
    [["--queue", "http://127.0.0.1:6379"], "pvnet sweep: --queue must be a redis://HOST:PORT URL (got protocol 'http:')"],
  ])("sweep %j is a usage error (exit 2)", async (args, message) => {
    const r = await inProcess("sweep", ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  test("a Redis that does not answer is one line, exit 1, and nothing is written", async () => {
    const out = join(dir, "unreachable");
    // Port 1 on loopback: nothing listens there.
    const r = await inProcess("sweep", "--queue", "redis://127.0.0.1:1", "--sizes", "64", "--packets", "1", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("pvnet sweep: cannot reach Redis at redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n");
    expect(existsSync(out)).toBe(false);
  });
});

describe("pvnet sweep on a terminal", () => {
  test.skipIf(!existsSync("/usr/bin/script"))("draws a progress bar of points, and none when a result goes to stdout", () => {
    // script(1) gives the command a pseudo-terminal; -e passes its exit code on.
    const onTty = (...args: string[]) => execFileSync("script", ["-qec", [process.execPath, bin, ...args].map((a) => `'${a}'`).join(" "), "/dev/null"], { encoding: "utf8" });
    const points = ["sweep", "--sizes", "64,1496", "--packets", "20", "--jobs", "2"];
    expect(onTty(...points, "--out", join(dir, "tty"))).toMatch(/\d+% \| \d\/2 points/);
    const csv = onTty(...points, "--csv", "-");
    expect(csv).not.toContain("points");
    expect(csv.trimEnd().split(/\r?\n/)).toHaveLength(3);
  });
});

describe("pvnet sweep and Ctrl-C", () => {
  test("SIGINT stops the sweep, writes the points finished so far and exits 130", async () => {
    const out = join(dir, "interrupted");
    // 24 points of 3000 full-size frames on one thread: far longer than the moment the signal comes.
    const child = spawn(process.execPath, ["--conditions=@pvnet/source", "--import", tsx, cli, "sweep", "--sizes", "65535", "--seed", "1,2,3,4,5,6,7,8,9,10,11,12", "--modes", "baseline,persistent", "--packets", "3000", "--jobs", "1", "--out", out], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // The sweep creates --out once it takes Ctrl-C; how far it got by then is not asserted.
    while (!existsSync(out)) await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/^interrupted: \d+ of 24 points finished \(written\)\n$/);
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { points: number; finished: number; interrupted: boolean; results: Result[] };
    expect(json).toMatchObject({ points: 24, interrupted: true });
    expect(json.finished).toBeLessThan(24);
    expect(json.results).toHaveLength(json.finished);
    for (const r of json.results) expect(r.report).toMatchObject({ packetsDelivered: 3000, corrupt: 0 });
    expect(readFileSync(join(out, "sweep.csv"), "utf8").trimEnd().split("\n")).toHaveLength(json.finished + 1);
  });
});
