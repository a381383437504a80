/**
 * `pvnet tap` with real traffic (root only, bounded): two network namespaces the test names
 * uniquely, `ping -c 20` across pvnet with 0% loss, a 3-second iperf3 TCP run that completes,
 * then SIGTERM: the namespaces and devices are gone and the teardown audit is clean. Skipped,
 * saying why, without root, /dev/net/tun, ip, ping or iperf3 (CI runs as root and installs them).
 */
import { spawn, spawnSync } from "node:child_process";
import { REPO_ROOT } from "@pvnet/testkit";
import { afterEach, describe, expect, test } from "vitest";
import { cleanupAll, hasTool, inNetns, missingForTap, netnsList, onCleanup, PVNET_BIN, startTap, stopTap } from "./tap-harness.js";

const missing = missingForTap();
if (missing.length > 0) console.warn(`tap.test.ts: the real-traffic tests are skipped, missing: ${missing.join(", ")}`);
const root = process.getuid?.() === 0;
afterEach(cleanupAll);

/** Namespace B: accept one connection on 10.89.0.2:9009, echo it, print the SHA-256 of what came. */
const ECHO_SERVER = `
const h = require("node:crypto").createHash("sha256");
const srv = require("node:net").createServer((s) => {
  s.on("data", (d) => { h.update(d); s.write(d); });
  s.on("end", () => { s.end(); srv.close(); console.log("received " + h.digest("hex")); });
});
srv.listen(9009, "10.89.0.2", () => console.log("listening"));
`;
/** Namespace A: send 4 MiB of random bytes, read the echo; print "sent <sha256 sent> <sha256 echoed>". */
const ECHO_CLIENT = `
const crypto = require("node:crypto");
const data = crypto.randomBytes(4 << 20);
const back = crypto.createHash("sha256");
const tryConnect = (left) => {
  const s = require("node:net").connect(9009, "10.89.0.2", () => s.end(data));
  s.on("data", (d) => back.update(d));
  s.on("end", () => console.log("sent " + crypto.createHash("sha256").update(data).digest("hex") + " " + back.digest("hex")));
  s.on("error", (e) => { if (left > 0 && e.code === "ECONNREFUSED") setTimeout(() => tryConnect(left - 1), 200); else throw e; });
};
tryConnect(10);
`;

describe.skipIf(missing.length > 0)("pvnet tap: real traffic between two network namespaces through pvnet", () => {
  test.each([
    ["with offloads (64 KiB TCP segments as one packet)", []],
    ["with --no-offloads", ["--no-offloads"]],
    ["with offloads and --persistent", ["--persistent"]],
  ] as const)("%s: ping -c 20 with 0% loss, a 3 s iperf3 TCP run, 4 MiB echoed back intact; SIGTERM removes the namespaces with a clean audit", { timeout: 120_000 }, async (_what, extra) => {
    const tag = extra.length === 0 ? "o" : extra[0] === "--persistent" ? "p" : "n";
    const ns = [`pvt${process.pid}${tag}a`, `pvt${process.pid}${tag}b`] as const;
    const { child, out } = await startTap(ns, ["10.89.0.1/24", "10.89.0.2/24"], extra);
    expect(netnsList()).toContain(ns[0]);

    const ping = inNetns(ns[0], "ping", "-c", "20", "-i", "0.05", "-W", "2", "10.89.0.2");
    expect(ping).toMatch(/20 packets transmitted, 20 received, 0% packet loss/);

    const server = spawn("ip", ["netns", "exec", ns[1], "iperf3", "-s", "-1"], { stdio: "ignore" });
    onCleanup(() => {
      if (server.exitCode === null) server.kill("SIGKILL");
    });
    let report: { end: { sum_received: { bytes: number; bits_per_second: number } } } | undefined;
    // The server may take a moment to listen (seconds on a loaded machine): bounded tries.
    for (let i = 0; i < 30 && report === undefined; i++) {
      try {
        report = JSON.parse(inNetns(ns[0], "iperf3", "-c", "10.89.0.2", "-t", "3", "-J"));
      } catch {
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    expect(report?.end.sum_received.bytes).toBeGreaterThan(0);

    // Bytes, not only throughput: 4 MiB of random data goes to B and is echoed back to A, and
    // both ends' SHA-256 match what A sent (TCP with checksum offload trusts the path's checksums).
    const echo = spawn("ip", ["netns", "exec", ns[1], process.execPath, "-e", ECHO_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
    onCleanup(() => {
      if (echo.exitCode === null) echo.kill("SIGKILL");
    });
    let text = "";
    const listening = new Promise<void>((resolve) => {
      echo.stdout?.on("data", (d) => {
        text += String(d);
        if (text.includes("listening")) resolve();
      });
      echo.once("exit", () => resolve()); // it failed: the checks below say how
    });
    const served = new Promise<string>((resolve) => echo.once("exit", () => resolve(text)));
    await listening;
    const client = inNetns(ns[0], process.execPath, "-e", ECHO_CLIENT).trim().split(" ");
    const serverLines = (await served).trim().split("\n");
    expect(client[0]).toBe("sent");
    expect(client[2]).toBe(client[1]); // what came back hashes as what was sent
    expect(serverLines).toEqual(["listening", `received ${client[1]}`]);

    expect(await stopTap(child)).toBe(0);
    const final = JSON.parse(out().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "{}");
    expect(final.a.fromPort).toBeGreaterThanOrEqual(20);
    expect(final.b.toPort).toBeGreaterThanOrEqual(20);
    expect(final.a.invalid).toBe(0);
    // With offloads the TCP segments went out as GSO packets: netfront sent a GSO extra for each.
    if (!(extra as readonly string[]).includes("--no-offloads")) expect(final.a.netfront.txExtras).toBeGreaterThan(0);
    else expect(final.a.netfront.txExtras).toBe(0);
    expect(final.teardown).toMatchObject({ dom0Grants: { maps: 0, handles: 0, pins: 0 }, guestGrants: { maps: 0, handles: 0, pins: 0 }, dom0PagesInUse: 0, guestPagesInUse: 0, eventChannelsOpen: 0 });
    expect(netnsList()).not.toContain(ns[0]);
    expect(netnsList()).not.toContain(ns[1]);
  });
});

// The unprivileged run needs `nobody` to reach the CLI: not so in a clone under a private folder.
const nobodyReaches = root && hasTool("runuser", "--version") && spawnSync("runuser", ["-u", "nobody", "--", "test", "-r", PVNET_BIN]).status === 0;
if (root && !nobodyReaches) console.warn(`tap.test.ts: the unprivileged test is skipped: user nobody cannot read ${PVNET_BIN}`);

describe.skipIf(!nobodyReaches)("pvnet tap without root", () => {
  test("one line naming what is missing, exit 1", () => {
    const r = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, PVNET_BIN, "tap"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual(["pvnet tap: needs root: creating TAP devices and network namespaces takes CAP_NET_ADMIN (run it with sudo)"]);
  });
});
