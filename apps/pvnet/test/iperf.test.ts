/**
 * `pvnet run --flows N`: bulk TCP like iperf -P N over DomU <-> Dom0, both directions, and
 * DomU <-> DomU through the bridge, 1..N queues: every segment delivered once, byte-exact and in order per flow whichever queue the flow
 * took, every segment ACKed, back-pressure from full queues with zero drops, and equal runs for
 * equal (scenario, seed).
 */
import { describe, expect, test } from "vitest";
import { PROGRESS, runProbe } from "../src/commands/run-probe.js";
import { type DomuDom0Options, type RunReport, runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDomu } from "../src/topology/domu-domu.js";
import { expectAllDelivered, expectCleanTeardown, pvnetRun } from "./expect.js";

function expectTcpComplete(r: RunReport, packets: number, flows: number): void {
  expectAllDelivered(r, packets);
  expect(r.tcp?.complete).toBe(true);
  expect(r.tcp?.flows).toBe(flows);
  expect(r.tcp?.receiver.outOfSequence).toBe(0);
  expect(r.tcp?.sender.badAcks).toBe(0);
  expect(r.counters.tx_dropped).toBe(0);
  expect(r.frontend.txDropped).toBe(0);
  expect(r.frontend.rxErrors).toBe(0);
  expect(r.counters.model_tx_errors).toBe(0);
  expect(r.queuePackets?.reduce((a, b) => a + b, 0)).toBe(packets);
  expectCleanTeardown(r);
}

describe("--flows: bulk TCP", () => {
  test.each([
    ["tx", 1],
    ["tx", 3],
    ["rx", 1],
    ["rx", 3],
  ] as const)("%s over %i queue(s): 6 flows of 64 KiB GSO segments, in order per flow, all ACKed, zero drops", async (direction, queues) => {
    const packets = 240;
    const r = await runDomuDom0({ seed: 4, direction, queues, pktSize: 65535, packets, flows: 6, windowBytes: 6 * 65536 });
    expectTcpComplete(r, packets, 6);
    expect(r.tcp?.sender.acks).toBe(packets); // one ACK per GRO'd 64 KiB segment
    if (queues > 1) expect(r.queuePackets?.filter((n) => n > 0).length).toBeGreaterThan(1);
    // The GSO extra-info slot of each segment (guest TX), or the RX path's copies into guest pages.
    if (direction === "tx") expect(r.frontend.txExtras).toBe(packets);
    else expect(r.counters.model_rx_copy_ops).toBeGreaterThanOrEqual(16 * packets);
  });

  test("the TCP stacks' work is charged to the VCPUs that do it: tcp_sendmsg and its copy on the sender's, tcp_v4_rcv and the read on the receiver's", async () => {
    const { state, hooks } = runProbe(new Float64Array(PROGRESS.SLOTS), new Int32Array(1));
    const packets = 40;
    const r = await runDomuDom0({ seed: 2, direction: "rx", queues: 1, pktSize: 65535, packets, flows: 2, hooks });
    expectTcpComplete(r, packets, 2);
    const payload = packets * (r.tcp?.segmentPayload as number);
    const byDomain = (d: number, kind: string) => {
      let ops = 0;
      let units = 0;
      for (const a of state.hv?.sim.allActors() ?? []) {
        if (!a.name.startsWith(`d${d}v`)) continue;
        const k = a.account.report().byKind[kind];
        ops += k?.ops ?? 0;
        units += k?.units ?? 0;
      }
      return { ops, units };
    };
    const tcp = r.tcp as NonNullable<RunReport["tcp"]>;
    // Dom0 sends (pktgen's VCPU d0v1 runs iperf's client), the guest receives and ACKs.
    expect(byDomain(0, "tcp.sendmsg").ops).toBe(packets);
    expect(byDomain(0, "usercopy").units).toBe(payload);
    expect(byDomain(0, "tcp.ack").ops).toBe(tcp.sender.acks + tcp.sender.badAcks);
    expect(byDomain(1, "tcp.rcv").ops).toBe(packets);
    expect(byDomain(1, "usercopy").units).toBe(payload);
    expect(byDomain(1, "tcp.xmit").ops).toBe(tcp.receiver.acksSent + tcp.receiver.acksDeferred);
    expect(byDomain(0, "tcp.xmit").ops).toBe(packets);
    expect(byDomain(1, "tcp.sendmsg").ops).toBe(0);
  });

  test("RX back-pressure: netback's RX queue stops, the Dom0 stack requeues, nothing is dropped", async () => {
    const r = await runDomuDom0({ seed: 1, direction: "rx", queues: 1, pktSize: 300, packets: 3000, flows: 8, windowBytes: 512 * 1024 });
    expectTcpComplete(r, 3000, 8);
    expect(r.tcp?.sender.requeued).toBeGreaterThan(0);
  });

  test("TX back-pressure: the ACKs find Dom0's queue to the guest stopped, are resent on its wake, nothing is dropped", async () => {
    // Small segments: the guest's RX ring (its ACK path) is refilled slower than the ACKs come.
    // Many flows, so that many ACKs are due at once.
    const r = await runDomuDom0({ seed: 1, direction: "tx", queues: 1, pktSize: 70, packets: 20_000, flows: 256, windowBytes: 512 * 1024 });
    expectTcpComplete(r, 20_000, 256);
    expect(r.tcp?.receiver.acksDeferred).toBeGreaterThan(0);
    expect(r.tcp?.sender.acks).toBeLessThan(20_000); // cumulative ACKs stand for the deferred ones
  });

  test("reproducible from (scenario, seed): equal reports but wall clock", async () => {
    const o: DomuDom0Options = { seed: 9, direction: "rx", queues: 2, pktSize: 65535, packets: 80, flows: 4 };
    const strip = (r: RunReport) => ({ ...r, wall: undefined });
    const [a, b] = [await runDomuDom0(o), await runDomuDom0(o)];
    expect(strip(a)).toEqual(strip(b));
    expect(a.traceDigest).toBe(b.traceDigest);
  });

  test("bad combinations are usage errors on the command line", () => {
    const run = pvnetRun;
    expect(run("--flows", "8", "--pkt-size", "65535", "--packets", "10").err).toContain("leaves each of 8 flows less than one 65481-byte segment");
    expect(run("--flows", "2", "--pkt-size", "65535", "--packets", "10", "--window-bytes", "1048576").err).toContain("--window-bytes is at most 524288");
    expect(run("--flows", "2", "--pkt-size", "1496", "--packets", "10", "--burst", "4").err).toContain("no --layout, --clone-skbs, --burst or --xdp");
    expect(run("--flows", "2", "--pkt-size", "60", "--packets", "10").err).toContain("--pkt-size must be at least 70");
    const ok = run("--flows", "2", "--queues", "2", "--pkt-size", "65535", "--packets", "20", "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ packetsDelivered: 20, dropped: 0, tcp: { flows: 2, complete: true } });
  });
});

describe("--flows --topology domu-domu: guest A's flows to guest B through the bridge", () => {
  test.each([1, 3])("%i queue(s): 64 KiB GSO segments in order per flow, ACKed back through the bridge, zero drops", async (queues) => {
    const packets = 180;
    const r = await runDomuDomu({ seed: 2, queues, pktSize: 65535, packets, flows: 6, windowBytes: 6 * 65536 });
    expectAllDelivered(r, packets);
    expect(r.tcp).toMatchObject({ flows: 6, complete: true, receiver: { outOfSequence: 0 }, sender: { badAcks: 0, acks: packets } });
    expect(r.counters.sender.model_tx_errors).toBe(0);
    expect(r.counters.receiver.tx_dropped).toBe(0);
    // The ACKs went back the other way (Dom0's view: received on guest B's vif, sent on guest A's),
    // with guest B's announcement, the one frame flooded: A's address was learnt from its first segment.
    const acks = r.tcp?.receiver.acksSent as number;
    expect(acks).toBeGreaterThan(0);
    expect(r.counters.receiver.rx_packets).toBe(acks + 1);
    expect(r.counters.sender.tx_packets).toBe(acks + 1);
    expect(r.bridge.flooded).toBe(1);
    expect(r.queuePackets?.reduce((a, b) => a + b, 0)).toBe(packets);
    if (queues > 1) expect(r.queuePackets?.filter((n) => n > 0).length).toBeGreaterThan(1);
    expectCleanTeardown(r);
  });

  test("small segments: back-pressure on both vifs, nothing dropped, reproducible from (scenario, seed)", async () => {
    const o = { seed: 3, queues: 1, pktSize: 300, packets: 3000, flows: 8, windowBytes: 512 * 1024 } as const;
    const [a, b] = [await runDomuDomu(o), await runDomuDomu(o)];
    expectAllDelivered(a, 3000);
    expect(a.tcp?.complete).toBe(true);
    expect(a.tcp?.sender.requeued).toBeGreaterThan(0);
    expect({ ...a, wall: undefined }).toEqual({ ...b, wall: undefined });
  });

  test("on the command line", () => {
    const ok = pvnetRun("--topology", "domu-domu", "--flows", "2", "--queues", "2", "--pkt-size", "65535", "--packets", "20", "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ topology: "domu-domu", packetsDelivered: 20, dropped: 0, tcp: { flows: 2, complete: true } });
  });
});
