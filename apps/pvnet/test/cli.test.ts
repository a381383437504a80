import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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
    for (const c of ["run", "xenstored", "demo", "help"]) expect(help.stdout).toMatch(new RegExp(`^  ${c}\\b`, "m"));
    const bad = pvnet("no-such-command");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'no-such-command'");
  });

  test("--version prints the package's version; help <command> and <command> --help print its options with ranges and defaults", () => {
    const version = pvnet("--version");
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version);
    const help = pvnet("help", "run");
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(pvnet("run", "--help").stdout);
    expect(help.stdout).toContain("frames to send (1..10000000)");
    expect(help.stdout).toMatch(/--pkt-size <bytes> +frame size, Ethernet header included \(58\.\.65535;/);
    expect(help.stdout).toMatch(/--queues <n> +queues the frontend asks for, one flow each \(1\.\.8\)\s+\(default: 1\)/);
    expect(help.stdout).toMatch(/\(choices: "tx", "rx",\s+default: "tx"\)/);
    expect(pvnet("xenstored", "--help").stdout).toContain("--socket <path>");
    // demo --help prints help, it does not run the demo.
    const demoHelp = pvnet("demo", "--help");
    expect(demoHelp.code).toBe(0);
    expect(demoHelp.stdout).toContain("Usage: pvnet demo");
  });

  test("a misspelt command or option gets a suggestion and exit 2", () => {
    const cmd = pvnet("rnu");
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("(Did you mean run?)");
    const opt = pvnet("run", "--pakets", "3", "--pkt-size", "64");
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain("unknown option '--pakets'\n(Did you mean --packets?)");
  });

  test.each([
    ["--packets", "1e3", "1..10000000"],
    ["--packets", "0x10", "1..10000000"],
    ["--packets", "99999999999999", "1..10000000"],
    ["--pkt-size", "57", "58..65535"],
    ["--burst", "0", "1..512"],
  ])("%s %s is refused in one line naming the option and its range, exit 2", (option, value, range) => {
    const out = pvnet("run", "--pkt-size", "64", "--packets", "10", option, value);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(new RegExp(`^error: option '${option} <[a-z]+>' argument '${value}' is invalid\\. expected a decimal integer in ${range.replace(/\./g, "\\.")}\\.\n$`));
    expect(out.stdout).toBe("");
  });

  test("usage errors found after parsing are one line, exit 2", () => {
    for (const [args, message] of [
      [["run", "--packets", "10"], "pvnet run: --pkt-size is required (or --layout, whose length it becomes)"],
      [["run", "--pkt-size", "64"], "pvnet run: --packets is required"],
      [["run", "--pkt-size", "64", "--packets", "10", "--layout", "null"], "pvnet run: --layout must be an object like"],
      [["run", "--pkt-size", "64", "--packets", "10", "--layout", "{"], "pvnet run: --layout must be seed5 or an skb description in JSON"],
      [["run", "--pkt-size", "64", "--packets", "10", "--xenstored", ""], "error: option '--xenstored <socket>' argument '' is invalid. expected a socket path, got an empty string."],
      [["xenstored"], "pvnet xenstored: --socket PATH is required"],
    ] as const) {
      const out = pvnet(...args);
      expect(out.code, args.join(" ")).toBe(2);
      expect(out.stderr.trim().split("\n")).toHaveLength(1);
      expect(out.stderr).toContain(message);
    }
  });

  test("a failed run is one line naming what failed, exit 1; --verbose adds the stack", () => {
    const layout = '{"linearLen":14,"frags":[{"size":50,"offset":4090,"order":0}]}';
    const out = pvnet("run", "--pkt-size", "64", "--packets", "10", "--layout", layout);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe("pvnet run: EINVAL: frag of 50 bytes at 4090 does not fit a page of order 0\n");
    const verbose = pvnet("run", "--pkt-size", "64", "--packets", "10", "--layout", layout, "--verbose");
    expect(verbose.code).toBe(1);
    expect(verbose.stderr.split("\n")[0]).toBe("pvnet run: EINVAL: frag of 50 bytes at 4090 does not fit a page of order 0");
    expect(verbose.stderr).toMatch(/\n {4}at /);
    const dir = mkdtempSync(join(tmpdir(), "pvnet-cli-"));
    try {
      const missing = join(dir, "no-such-folder", "socket");
      const noFolder = pvnet("run", "--pkt-size", "64", "--packets", "10", "--xenstored", missing);
      expect(noFolder.code).toBe(1);
      expect(noFolder.stderr).toMatch(new RegExp(`^pvnet run: cannot serve xenstore on '${missing}': listen E[A-Z]+: .*\n$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a second pvnet xenstored on a live socket fails in one line, exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-cli-"));
    const socket = join(dir, "socket");
    const child = spawn(process.execPath, [bin, "xenstored", "--socket", socket], { stdio: "ignore", cwd: REPO_ROOT });
    try {
      for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(socket)).toBe(true);
      const second = pvnet("xenstored", "--socket", socket);
      expect(second.code).toBe(1);
      expect(second.stderr).toBe(`pvnet xenstored: cannot serve xenstore on '${socket}': ${socket}: a server is already listening\n`);
    } finally {
      // SIGTERM, which the launcher passes on: a SIGKILL would orphan the xenstored it started.
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("run prints tables: delivery, vif counters by ethtool name, hypercalls with calls vs ops, time per operation and VCPU, prediction next to the published figure", () => {
    const out = pvnet("run", "--pkt-size", "1496", "--packets", "300");
    expect(out.code).toBe(0);
    const text = out.stdout;
    expect(text).toMatch(/^delivered +300 +448 800$/m);
    expect(text).toMatch(/^tx_zerocopy_sent +300 +ethtool -S$/m);
    expect(text).toMatch(/^rx_packets +300 +net_device$/m);
    expect(text).toContain("multicall, which counts as one call carrying N ops");
    expect(text).toMatch(/^grant_table_op:copy +\d+ +300 +/m);
    expect(text).toMatch(/^grant\.copy +300 +/m);
    expect(text).toMatch(/^d0v0 +[\d.]+ [mun]?s +[\d.]+ %$/m);
    expect(text).toMatch(/^published \(baseline, 1 queue\) +518\.0 Kpps +6\.20 Gbit\/s +model\/published [\d.]+$/m);
    expect(text).toMatch(/^Speed\n +rate +throughput +basis$/m);
    expect(text).toContain("published: the persistent-grants RFC (xen-devel, May 2015)");
    // The guest's netfront under its Linux names, the VCPUs named, the teardown audited.
    expect(text).toMatch(/^netfront counters \(the guest's eth0\)$/m);
    expect(text).toMatch(/^tx_packets +300 +net_device$/m);
    expect(text).toMatch(/^model_tx_requests +\d+ +model$/m);
    expect(text).toContain("d0 is Dom0 (netback), d1 the guest (netfront; pktgen on d1v1).");
    expect(text).toContain("Teardown: nothing left after detaching");
    // No published figure for a shape nobody measured.
    expect(pvnet("run", "--pkt-size", "600", "--packets", "50").stdout).not.toContain("published");
    // Not a terminal: no progress bar escape codes.
    expect(text).not.toContain("\u001b[");
  });

  test("run's tables for persistent grants (the RFC's persistent column), DomU <-> DomU (both vifs, the bridge) and XDP (guest B's receive path)", () => {
    const pers = pvnet("run", "--pkt-size", "1496", "--packets", "300", "--persistent").stdout;
    expect(pers).toMatch(/^published \(persistent grants, 1 queue\) +1\.48 Mpps +17\.71 Gbit\/s +model\/published [\d.]+$/m);
    expect(pers).toMatch(/^model_tx_persistent_copy_bytes +448 800 +model$/m);
    const out = pvnet("run", "--topology", "domu-domu", "--pkt-size", "64", "--packets", "100", "--xdp", "tx");
    expect(out.code).toBe(0);
    const text = out.stdout;
    expect(text).toContain("Sender's vif counters (guest A's TX enters Dom0)");
    expect(text).toContain("Receiver's vif counters (guest B's RX leaves Dom0)");
    expect(text).toMatch(/^xdp_tx +100$/m);
    expect(text).toMatch(/^forwarded +100 +sent out of the one port/m);
    expect(text).toMatch(/^filtered +100 +dropped: the destination sits behind the port they came in on$/m);
    expect(text).toContain("d0 is Dom0 (netback and the bridge), d1 guest A (netfront; pktgen on d1v1), d2 guest B (netfront).");
    expect(text).not.toContain("published");
    expect(text).toContain("Teardown: nothing left after detaching");
  });

  test.skipIf(!existsSync("/usr/bin/script"))("on a terminal a run draws a progress bar of frames delivered, and none with --json", () => {
    // script(1) gives the command a pseudo-terminal; -e passes its exit code on.
    const onTty = (...args: string[]) =>
      execFileSync("script", ["-qec", [process.execPath, bin, ...args].map((a) => `'${a}'`).join(" "), "/dev/null"], {
        encoding: "utf8",
        cwd: REPO_ROOT,
        env: { ...process.env, PVNET_PROGRESS_AFTER_MS: "0" },
      });
    const human = onTty("run", "--pkt-size", "1496", "--packets", "2000");
    expect(human).toMatch(/\d+% \| \d+\/2000 frames delivered/);
    expect(human).toMatch(/^delivered +2 000 +2 992 000\r?$/m);
    const json = onTty("run", "--pkt-size", "1496", "--packets", "2000", "--json");
    expect(json).not.toContain("frames delivered");
    expect(JSON.parse(json).packetsDelivered).toBe(2000);
    expect(onTty("run", "--pkt-size", "1496", "--packets", "2000", "--no-progress")).not.toContain("frames delivered");
  });

  test("Ctrl-C stops a long run cleanly between slices and prints what was measured so far (exit 130)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-cli-"));
    const socket = join(dir, "socket");
    // The xenstore socket appears once pvnet run takes Ctrl-C as a stop request (its SIGINT handler is installed first).
    const child = spawn(process.execPath, [bin, "run", "--pkt-size", "65535", "--packets", "10000000", "--xenstored", socket, "--json"], { stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    try {
      for (let i = 0; i < 600 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(socket)).toBe(true);
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      const partial = JSON.parse(stdout);
      expect(partial.interrupted).toBe(true);
      expect(partial.delivered).toBeLessThan(10_000_000);
      expect(partial.hypercalls.byOp["event_channel_op:bind_interdomain"].calls).toBe(2);
      expect(existsSync(socket)).toBe(false); // the topology's cleanup ran: the socket is gone
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
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
    expect(bad.stderr).toContain("option '--direction <dir>' argument 'sideways' is invalid. Allowed choices are tx, rx.");
  });

  test("run --debugfs prints netback's debugfs files and the grant table; --json carries the same under debugfs and grantTable", () => {
    const args = ["run", "--direction", "rx", "--pkt-size", "64", "--packets", "200", "--persistent", "--burst", "8"];
    const human = pvnet(...args, "--debugfs");
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("# cat /sys/kernel/debug/xen-netback/vif1.0/io_ring_q0\nQueue 0\nTX: nr_ents 256\n");
    expect(human.stdout).toContain("# cat /sys/kernel/debug/xen-netback/vif1.0/pgrants_q0\nQueue 0\n");
    expect(human.stdout).toMatch(/^TLB flushes avoided .* +\d+$/m);
    const json = JSON.parse(pvnet(...args, "--json").stdout);
    expect(Object.keys(json.debugfs)).toEqual(["vif1.0/io_ring_q0", "vif1.0/pgrants_q0"]);
    expect(human.stdout).toContain(json.debugfs["vif1.0/pgrants_q0"]);
    expect(json.debugfs["vif1.0/pgrants_q0"]).toContain(`RX tree: entries ${json.counters.persistent_rx_entries} max 256 hits ${json.counters.persistent_rx_hits}`);
    expect(json.grantTable).toMatchObject({ unmapOps: 0, tlbFlushes: 0 });
    expect(json.grantTable.copyOps).toBe(json.hypercalls.byOp["grant_table_op:copy"].ops);
  });

  test("run --topology domu-domu carries guest A's frames to guest B through the bridge", () => {
    const out = pvnet("run", "--topology", "domu-domu", "--pkt-size", "600", "--packets", "100", "--json");
    expect(out.code).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r).toMatchObject({ topology: "domu-domu", packetsSent: 100, packetsDelivered: 100, corrupt: 0 });
    expect(r.bridge.forwarded).toBe(100);
    expect(pvnet("run", "--topology", "domu-domu", "--direction", "rx", "--pkt-size", "600", "--packets", "1").code).toBe(2);
    expect(pvnet("run", "--topology", "ring-of-fire", "--pkt-size", "600", "--packets", "1").stderr).toContain("Allowed choices are domu-dom0, domu-domu.");
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
    const first = pvnet("demo", "--json");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.domains.map((d: { domid: number }) => d.domid)).toEqual([0, 1]);
    expect(report.eventChannel.upcallsInDom0).toBe(report.eventChannel.notifications);
    expect(report.hypercalls.byOp["event_channel_op:send"].calls).toBe(4);
    expect(pvnet("demo", "--json").stdout).toBe(first.stdout);
  });
});
