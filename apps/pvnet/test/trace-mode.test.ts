import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import type { TraceMode } from "@pvnet/sim";
import { describe, expect, test } from "vitest";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDomu } from "../src/topology/domu-domu.js";

const MODES: readonly TraceMode[] = ["full", { sample: 7 }, "off"];

/** Everything a run reports but the wall clock and the trace itself. */
function results(report: object): { rest: Record<string, unknown>; traceDigest: string } {
  const { wall: _wall, traceDigest, ...rest } = report as { wall: unknown; traceDigest: string } & Record<string, unknown>;
  return { rest: JSON.parse(JSON.stringify(rest)) as Record<string, unknown>, traceDigest };
}

describe("--trace full | sample:N | off", () => {
  test.each([
    ["domu-dom0 tx 64 B, 2 queues", (trace: TraceMode) => runDomuDom0({ direction: "tx", pktSize: 64, packets: 300, queues: 2, seed: 4, trace })],
    ["domu-dom0 rx 1496 B persistent", (trace: TraceMode) => runDomuDom0({ direction: "rx", pktSize: 1496, packets: 100, seed: 2, persistent: true, trace })],
    ["domu-domu 65535 B", (trace: TraceMode) => runDomuDomu({ pktSize: 65535, packets: 8, seed: 3, trace })],
  ] as const)("%s: delivery, counters, hypercalls, modelled time and teardown are the same in every mode", async (_name, run) => {
    const [full, sampled, off] = await Promise.all(MODES.map(async (m) => results(await run(m))));
    expect(full?.rest.packetsDelivered).toBeGreaterThan(0);
    expect(sampled?.rest).toEqual(full?.rest);
    expect(off?.rest).toEqual(full?.rest);
    expect(full?.traceDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(sampled?.traceDigest).toMatch(/^sample:7:[0-9a-f]{16}$/);
    expect(sampled?.traceDigest).not.toBe(`sample:7:${full?.traceDigest}`);
    expect(off?.traceDigest).toBe("off");
    // Sampled is as reproducible as full.
    expect(results(await run({ sample: 7 })).traceDigest).toBe(sampled?.traceDigest);
  });

  test("pvnet run --trace off prints traceDigest off; a bad mode is a usage error", () => {
    const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
    const out = execFileSync(process.execPath, [bin, "run", "--pkt-size", "64", "--packets", "20", "--trace", "off", "--json"], { encoding: "utf8", cwd: REPO_ROOT });
    expect(JSON.parse(out)).toMatchObject({ packetsDelivered: 20, traceDigest: "off" });
    let stderr = "";
    try {
      execFileSync(process.execPath, [bin, "run", "--pkt-size", "64", "--packets", "20", "--trace", "sample:0"], { encoding: "utf8", cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      expect((e as { status: number }).status).toBe(2);
      stderr = (e as { stderr: string }).stderr;
    }
    expect(stderr).toContain("option '--trace <mode>' argument 'sample:0' is invalid. expected full, off or sample:N with N in 1..1073741824.");
  });
});
