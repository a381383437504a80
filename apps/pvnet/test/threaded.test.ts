import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { runDomuDom0Threaded, runDomuDomuThreaded, type ThreadTraffic, threadedStallReport, threadedUnsupported, VcpuThreadError } from "../src/topology/threaded.js";
import { expectAllDelivered, expectCleanTeardown } from "./expect.js";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));

/** Threaded runs take real time on real threads: generous bounds, no timed assertion. */
const LONG = 600_000;

describe("threaded mode: a worker_thread per domain kernel over one machine memory", () => {
  test(
    "1 000 000 64-byte frames guest -> Dom0: every sequence number and checksum verified, no wake-up lost, clean teardown",
    async () => {
      const packets = 1_000_000;
      const r = await runDomuDom0Threaded({ seed: 1, direction: "tx", pktSize: 64, packets });
      // The sink verifies each frame's stamp (flow, sequence number, checksum): delivered in order,
      // none corrupt, none dropped means every sequence number arrived once. The run ending at all
      // means no thread slept through a wake-up.
      expectAllDelivered(r, packets);
      expect(r.counters.rx_packets).toBe(packets);
      expect(r.frontend.txPackets).toBe(packets);
      expectCleanTeardown(r);
      expect(r.mode).toBe("threaded");
      expect(r.threaded.packetsPerSecond).toBeGreaterThan(0);
      expect(r.threaded.threads.map((t) => t.domid)).toEqual([0, 1]);
    },
    LONG,
  );

  test.each([
    ["tx", 1496, 20_000],
    ["tx", 65535, 1_000],
    ["rx", 64, 100_000],
    ["rx", 1496, 20_000],
    ["rx", 65535, 1_000],
  ] as const)(
    "%s of %i-byte frames arrives byte-exact and tears down clean",
    async (direction, pktSize, packets) => {
      const r = await runDomuDom0Threaded({ seed: 2, direction, pktSize, packets });
      expectAllDelivered(r, packets);
      expectCleanTeardown(r);
      // The vif counts what crossed it; each side's counters come from its own thread.
      expect(direction === "tx" ? r.counters.rx_packets : r.counters.tx_packets).toBe(packets);
      expect(direction === "tx" ? r.frontend.txPackets : r.frontend.rxPackets).toBe(packets);
      // Hypercalls of both threads: at least one grant copy per frame.
      expect(r.hypercalls.byOp["grant_table_op:copy"]?.ops ?? 0).toBeGreaterThanOrEqual(packets);
    },
    LONG,
  );

  test("a run whose threads all went idle before its traffic was done is a stall, reported with each side's rings", () => {
    const traffic = (sent: number, extra: Partial<ThreadTraffic>) => ({ sent, delivered: 3000, ...extra }) as ThreadTraffic;
    const dom0 = traffic(3320, { debugfs: { "vif1.0/io_ring_q0": "RX: req prod 256 cons 256 event 257\n" } });
    const guest = traffic(0, { frontend: { rxPackets: 3000, napiPolls: 40 } });
    const options = { seed: 1, direction: "rx", pktSize: 1496, packets: 10_000 } as const;
    const report = threadedStallReport(options, dom0, guest, [dom0, guest]) as string;
    expect(report.split("\n")).toEqual([
      "threaded run stalled: every thread idle with nothing to wake it after 3320 of 10000 frames sent, 3000 delivered (a lost wake-up)",
      "Dom0 vif1.0/io_ring_q0:",
      "RX: req prod 256 cons 256 event 257",
      'd1 netfront: {"rxPackets":3000,"napiPolls":40}',
    ]);
    // Every frame sent (whatever was dropped): no stall. With --flows: every segment ACKed.
    expect(threadedStallReport(options, traffic(10_000, {}), guest, [dom0, guest])).toBeUndefined();
    const flows = { ...options, flows: 2 };
    expect(threadedStallReport(flows, traffic(10_000, { tcp: { windowBytes: 1, complete: false } }), guest, [dom0, guest])).toMatch(/^threaded run stalled: .* 10000 of 10000 segments sent/);
    expect(threadedStallReport(flows, traffic(10_000, { tcp: { windowBytes: 1, complete: true } }), guest, [dom0, guest])).toBeUndefined();
  });

  test.each([
    ["tx", 2, false],
    ["rx", 2, true],
  ] as const)(
    "--flows: iperf's TCP %s over %i queues (persistent %s), the ACKs crossing the threads back: every segment delivered in order and ACKed",
    async (direction, queues, persistent) => {
      const packets = 600;
      const r = await runDomuDom0Threaded({ seed: 4, direction, pktSize: 65535, packets, queues, flows: 4, persistent });
      expectAllDelivered(r, packets);
      expectCleanTeardown(r);
      expect(r.tcp).toMatchObject({ flows: 4, complete: true, sender: { segments: packets, badAcks: 0 }, receiver: { outOfSequence: 0 } });
      expect(r.tcp?.sender.acks).toBeGreaterThan(0);
      expect(r.queuePackets?.reduce((a, b) => a + b, 0)).toBe(packets);
    },
    LONG,
  );

  test(
    "--flows domu-domu: guest A's thread sends to guest B's through Dom0's bridge, B's ACKs come back",
    async () => {
      const r = await runDomuDomuThreaded({ seed: 4, pktSize: 65535, packets: 300, flows: 2 });
      expectAllDelivered(r, 300);
      expectCleanTeardown(r);
      expect(r.tcp).toMatchObject({ flows: 2, complete: true, receiver: { outOfSequence: 0 } });
    },
    LONG,
  );

  test.each([
    ["tx", 64, 50_000, 1, true],
    ["rx", 1496, 10_000, 1, true],
    ["tx", 1496, 10_000, 2, false],
    ["rx", 64, 20_000, 3, true],
  ] as const)(
    "%s of %i-byte frames (%i frames, %i queues, persistent %s) arrives byte-exact and tears down clean",
    async (direction, pktSize, packets, queues, persistent) => {
      const r = await runDomuDom0Threaded({ seed: 3, direction, pktSize, packets, queues, persistent });
      expectAllDelivered(r, packets);
      expectCleanTeardown(r);
      expect(r.queues).toBe(queues);
      expect(r.persistent).toBe(persistent);
      expect(r.counters.persistent_grants).toBe(persistent ? 1 : 0);
    },
    LONG,
  );

  test.each([
    [64, 20_000, false],
    [1496, 5_000, true],
    [65535, 300, false],
  ] as const)(
    "domu-domu: %i-byte frames (%i of them) from guest A's thread through Dom0's bridge to guest B's thread (persistent %s)",
    async (pktSize, packets, persistent) => {
      const r = await runDomuDomuThreaded({ seed: 4, pktSize, packets, persistent });
      expectAllDelivered(r, packets);
      expectCleanTeardown(r);
      expect(r.threaded.threads.map((t) => t.domain)).toEqual(["Domain-0", "guest-a", "guest-b"]);
      expect(r.counters.sender.rx_packets).toBe(packets);
      expect(r.counters.receiver.tx_packets).toBe(packets);
      expect(r.bridge.forwarded).toBeGreaterThanOrEqual(packets);
    },
    LONG,
  );

  test("an error on a VCPU's thread names the domain and VCPU and stops the run", async () => {
    // A frag that does not fit its page: pktgen throws on the guest's generator VCPU.
    const run = runDomuDom0Threaded({ seed: 1, direction: "tx", pktSize: 64, packets: 100, layout: { linearLen: 20, frags: [{ size: 44, offset: 4090, order: 0 }] } });
    await expect(run).rejects.toThrow(VcpuThreadError);
    await expect(run).rejects.toThrow(/^guest d1v1: .*does not fit a page/);
  });

  test("what threaded mode does not run yet is refused with one line", () => {
    expect(threadedUnsupported("domu-domu", { seed: 1, direction: "tx", pktSize: 64, packets: 1 })).toBeUndefined();
    expect(threadedUnsupported("domu-dom0", { seed: 1, direction: "rx", pktSize: 64, packets: 1, xdp: "drop" })).toMatch(/xdp/);
    expect(threadedUnsupported("domu-dom0", { seed: 1, direction: "tx", pktSize: 64, packets: 1, xenstoreSocket: "/tmp/x" })).toBeUndefined();
    expect(threadedUnsupported("domu-dom0", { seed: 1, direction: "rx", pktSize: 64, packets: 1 })).toBeUndefined();
    expect(threadedUnsupported("domu-dom0", { seed: 1, direction: "rx", pktSize: 64, packets: 1, rxBuildSkb: true, flows: 2 })).toBeUndefined();
  });

  test.each(["domu-dom0", "domu-domu"] as const)(
    "%s --rx-build-skb: the receiving guest's thread builds its skbs around the pages, byte-exact, and reports its build_skb counters",
    async (topology) => {
      const packets = 5000;
      const o = { seed: 5, pktSize: 1496, packets, rxBuildSkb: true } as const;
      const r = topology === "domu-dom0" ? await runDomuDom0Threaded({ ...o, direction: "rx" }) : await runDomuDomuThreaded(o);
      expectAllDelivered(r, packets);
      expectCleanTeardown(r);
      expect(r.frontendRxPath?.rxBuildSkb).toBe(packets);
    },
    LONG,
  );

  test(
    "pvnet run --mode threaded --json: the deterministic report's shape plus wall-clock rates; exit 0, no thread left",
    () => {
      const out = execFileSync(process.execPath, [bin, "run", "--mode", "threaded", "--direction", "rx", "--pkt-size", "1496", "--packets", "5000", "--json"], { encoding: "utf8", cwd: REPO_ROOT });
      const r = JSON.parse(out) as Record<string, unknown> & { threaded: { packetsPerSecond: number; gbitPerSecond: number } };
      for (const k of ["topology", "direction", "packetsSent", "packetsDelivered", "bytesDelivered", "counters", "frontend", "hypercalls", "wall", "modelled", "teardown"]) expect(r).toHaveProperty(k);
      expect(r.packetsDelivered).toBe(5000);
      expect(r.threaded.gbitPerSecond).toBeGreaterThan(0);
      let refused: { status: number; stderr: string } | undefined;
      try {
        execFileSync(process.execPath, [bin, "run", "--mode", "threaded", "--xdp", "drop", "--direction", "rx", "--pkt-size", "64", "--packets", "10"], { encoding: "utf8", cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        refused = e as { status: number; stderr: string };
      }
      expect(refused?.status).toBe(2);
      expect(refused?.stderr.trim().split("\n")).toHaveLength(1);
    },
    LONG,
  );
});
