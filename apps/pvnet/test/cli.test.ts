import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));

/** Run the `pvnet` command through the launcher that `pnpm pvnet` runs. */
function pvnet(...args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT });
    return { code: 0, stdout, stderr: "" };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("pvnet command line", () => {
  test("--help lists the commands; an unknown command is exit 2", () => {
    const help = pvnet("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("demo");
    const bad = pvnet("no-such-command");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'no-such-command'");
  });

  test("run --json prints one JSON object with the fields of a run report", () => {
    const out = pvnet("run", "--topology", "domu-dom0", "--direction", "tx", "--pkt-size", "64", "--packets", "200", "--seed", "3", "--json");
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const r = JSON.parse(lines[0]!);
    for (const key of ["topology", "direction", "pktSize", "queues", "packetsSent", "packetsDelivered", "bytesDelivered", "dropped", "corrupt", "counters", "hypercalls", "wall"]) {
      expect(r).toHaveProperty(key);
    }
    expect(r).toMatchObject({ topology: "domu-dom0", direction: "tx", pktSize: 64, queues: 1, packetsSent: 200, packetsDelivered: 200, corrupt: 0 });
    expect(r.wall.seconds).toBeGreaterThan(0);
    const bad = pvnet("run", "--direction", "sideways", "--pkt-size", "64", "--packets", "1");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--direction must be tx or rx");
  });

  test("run --topology domu-domu carries guest A's frames to guest B through the bridge", () => {
    const out = pvnet("run", "--topology", "domu-domu", "--pkt-size", "600", "--packets", "100", "--json");
    expect(out.code).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r).toMatchObject({ topology: "domu-domu", packetsSent: 100, packetsDelivered: 100, corrupt: 0 });
    expect(r.bridge.forwarded).toBe(100);
    expect(pvnet("run", "--topology", "domu-domu", "--direction", "rx", "--pkt-size", "600", "--packets", "1").code).toBe(2);
    expect(pvnet("run", "--topology", "ring-of-fire", "--pkt-size", "600", "--packets", "1").stderr).toContain("unknown topology");
  });

  test("a SIGTERM to the launcher reaches the command: pvnet xenstored removes its socket and exits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-cli-"));
    const socket = join(dir, "socket");
    const child = spawn(process.execPath, [bin, "xenstored", "--socket", socket], { stdio: "ignore", cwd: REPO_ROOT });
    try {
      for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(socket)).toBe(true);
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).not.toBeNull(); // the launcher exits with the command, not killed by the signal
      expect(existsSync(socket)).toBe(false);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("demo boots two domains and delivers every notification, reproducibly", () => {
    const first = pvnet("demo");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.domains.map((d: { domid: number }) => d.domid)).toEqual([0, 1]);
    expect(report.eventChannel.upcallsInDom0).toBe(report.eventChannel.notifications);
    expect(report.hypercalls.byOp["event_channel_op:send"].calls).toBe(4);
    expect(pvnet("demo").stdout).toBe(first.stdout);
  });
});
