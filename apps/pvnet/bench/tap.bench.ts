/**
 * Real traffic through pvnet: iperf3 TCP throughput between two network namespaces across
 * `pvnet tap` (guest A's netfront, netback, Dom0's bridge, netback, guest B's netfront), with the
 * copy/map baseline and persistent grants, with and without offloads (IFF_VNET_HDR: 64 KiB TCP
 * segments as one packet), next to iperf3 over a veth pair between two namespaces, all in one run,
 * with the ratio to veth. Each figure is the median of REPEATS iperf3 runs of SECONDS seconds
 * (bits/s the receiver counted). Needs root, iproute2 and iperf3; without them it says so and
 * writes nothing. Writes bench-results/tap.json.
 */
import { spawn } from "node:child_process";
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { ip } from "../src/tap/netns.js";
import { cleanupAll, inNetns, missingForTap, onCleanup, startTap, stopTap } from "../test/tap-harness.js";

/** iperf3 runs per configuration, and seconds each: the median of 3 runs of 4 s. */
const REPEATS = 3;
const SECONDS = 4;

const missing = missingForTap();
if (missing.length > 0) {
  console.log(`tap.bench.ts: skipped, missing: ${missing.join(", ")}`);
  process.exit(0);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const round = (x: number, digits: number) => +x.toFixed(digits);

/** REPEATS iperf3 TCP runs from namespace `a` to `addr` in namespace `b`; Gbit/s of each. */
async function iperf(a: string, b: string, addr: string): Promise<number[]> {
  const server = spawn("ip", ["netns", "exec", b, "iperf3", "-s"], { stdio: "ignore" });
  onCleanup(() => {
    if (server.exitCode === null) server.kill("SIGKILL");
  });
  await new Promise((r) => setTimeout(r, 500));
  const gbit: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const r = JSON.parse(inNetns(a, "iperf3", "-c", addr, "-t", String(SECONDS), "-J")) as { end: { sum_received: { bits_per_second: number } } };
    gbit.push(r.end.sum_received.bits_per_second / 1e9);
  }
  server.kill("SIGTERM");
  return gbit;
}

async function veth(): Promise<number[]> {
  const ns = [`pvb${process.pid}va`, `pvb${process.pid}vb`] as const;
  for (const n of ns) {
    ip("netns", "add", n);
    onCleanup(() => ip("netns", "del", n));
    ip("-n", n, "link", "set", "lo", "up");
  }
  ip("-n", ns[0], "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", ns[1]);
  ip("-n", ns[0], "addr", "add", "10.90.0.1/24", "dev", "veth0");
  ip("-n", ns[1], "addr", "add", "10.90.0.2/24", "dev", "veth1");
  ip("-n", ns[0], "link", "set", "veth0", "up");
  ip("-n", ns[1], "link", "set", "veth1", "up");
  try {
    return await iperf(ns[0], ns[1], "10.90.0.2");
  } finally {
    cleanupAll();
  }
}

async function pvnet(extra: readonly string[], tag: string) {
  const ns = [`pvb${process.pid}${tag}a`, `pvb${process.pid}${tag}b`] as const;
  try {
    const { child, out } = await startTap(ns, ["10.91.0.1/24", "10.91.0.2/24"], extra);
    const gbit = await iperf(ns[0], ns[1], "10.91.0.2");
    const code = await stopTap(child);
    const final = JSON.parse(out().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "{}");
    if (code !== 0) throw new Error(`pvnet tap ${extra.join(" ")} exited with ${code}`);
    const frames = final.a.fromPort as number;
    return { gbit, framesFromA: frames, gsoExtras: final.a.netfront.txExtras as number, bytesFromA: final.a.netfront.txBytes as number };
  } finally {
    cleanupAll();
  }
}

const vethGbit = await veth();
const vethMedian = median(vethGbit);
const configs = [
  { name: "baseline, offloads", persistent: false, offloads: true, args: [] as string[] },
  { name: "persistent, offloads", persistent: true, offloads: true, args: ["--persistent"] },
  { name: "baseline, no offloads", persistent: false, offloads: false, args: ["--no-offloads"] },
  { name: "persistent, no offloads", persistent: true, offloads: false, args: ["--persistent", "--no-offloads"] },
];
const rows = [];
for (const [i, c] of configs.entries()) {
  const r = await pvnet(c.args, `c${i}`);
  const m = median(r.gbit);
  rows.push({
    name: c.name,
    persistent: c.persistent,
    offloads: c.offloads,
    gbit: { median: round(m, 3), runs: r.gbit.map((g) => round(g, 3)) },
    ratioToVeth: round(m / vethMedian, 4),
    averageFrameBytesFromA: Math.round(r.bytesFromA / r.framesFromA),
    gsoExtrasFromA: r.gsoExtras,
  });
  console.log(`${c.name}: ${m.toFixed(3)} Gbit/s (${((100 * m) / vethMedian).toFixed(1)}% of veth)`);
}
console.log(`veth: ${vethMedian.toFixed(3)} Gbit/s`);

const path = writeBenchResult("tap", {
  what: "iperf3 TCP between two network namespaces: across pvnet tap (DomU <-> DomU, 1 queue) and across a veth pair, one run",
  conditions: {
    ...benchHost(),
    iperf3: `-t ${SECONDS}, ${REPEATS} runs each, median of the receiver's bits/s`,
    pvnet: "deterministic runner on one thread, the virtual clock running when frames arrive; offloads: IFF_VNET_HDR + TUNSETOFFLOAD(CSUM|TSO4)",
    note: "the machine's other jobs share its cores; each ratio was taken in the same run",
  },
  veth: { gbit: { median: round(vethMedian, 3), runs: vethGbit.map((g) => round(g, 3)) } },
  pvnet: rows,
});
console.log(`wrote ${path}`);
