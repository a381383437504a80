import type { Vcpu } from "@pvnet/hypervisor";
import { Pktgen, type SkBuff, SkbComposer } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { bootForQueues, defaultLayout, Host, kernelMemory, TrafficGenerator, writeFrame } from "../src/index.js";

interface Sent {
  readonly skb: SkBuff;
  readonly users: number;
  readonly xmitMore: boolean;
}

/** A generator on Dom0's VCPU 1 whose driver records each start_xmit and delivers the frame. */
function setup(options: { packets: number; burst: number; cloneSkbs?: number; busyAt?: number; stopAfter?: number }) {
  const host = new Host({ seed: 1 });
  const dom0 = bootForQueues(host, "Domain-0", 1);
  const memory = kernelMemory(host, dom0, 1);
  const receiver = host.frameReceiver();
  const pktgen = new Pktgen(new SkbComposer(memory.skbs), {
    desc: defaultLayout(64),
    cloneSkbs: options.cloneSkbs ?? 0,
    fill: (seq, payload) => writeFrame(payload, { flow: 0, seq, size: payload.length, l4: "udp" }),
  });
  const sent: Sent[] = [];
  let calls = 0;
  let stopped = false;
  const generator = new TrafficGenerator({
    hv: host.hv,
    vcpu: dom0.domain.vcpus[1] as Vcpu,
    pktgen,
    packets: options.packets,
    burst: options.burst,
    window: Number.POSITIVE_INFINITY,
    receiver,
    transmit: (skb, _v, xmitMore) => {
      if (calls++ === options.busyAt) return false; // NETDEV_TX_BUSY once
      sent.push({ skb, users: skb.users, xmitMore });
      receiver.deliver(skb); // the driver consumes one reference
      if (sent.length === options.stopAfter) stopped = true;
      return true;
    },
    stopped: () => stopped,
    dropped: () => 0,
  });
  const wake = () => {
    stopped = false; // the driver's queue woke
    generator.wake();
  };
  return { host, memory, receiver, generator, pktgen, sent, wake };
}

describe("TrafficGenerator: pktgen's burst", () => {
  test("burst 4: each xmit loop hands one skb out 4 times, xmit_more on all but the last, then a fresh one", () => {
    const w = setup({ packets: 12, burst: 4 });
    w.generator.wake();
    w.host.hv.run();
    expect(w.sent.map((s) => s.xmitMore)).toEqual([true, true, true, false, true, true, true, false, true, true, true, false]);
    // One packet per loop: the same skb 4 times (refcount_add(burst)), its users counting down.
    for (let b = 0; b < 3; b++) {
      const loop = w.sent.slice(4 * b, 4 * b + 4);
      expect(new Set(loop.map((s) => s.skb)).size).toBe(1);
      expect(loop.map((s) => s.users)).toEqual([5, 4, 3, 2]); // pktgen's own reference + 4
    }
    expect(w.pktgen.seq).toBe(3);
    expect(w.generator.sent).toBe(12);
    expect(w.receiver.sink).toMatchObject({ delivered: 12, bytes: 12 * 64, corrupt: 0, outOfOrder: 9 });
    w.generator.finish();
    expect(w.memory.skbs.liveSkbs).toBe(0);
  });

  test("the run's packet count ends a burst early: the last send of the run has no xmit_more", () => {
    const w = setup({ packets: 6, burst: 4 });
    w.generator.wake();
    w.host.hv.run();
    expect(w.sent.map((s) => s.xmitMore)).toEqual([true, true, true, false, true, false]);
    w.generator.finish();
    expect(w.memory.skbs.liveSkbs).toBe(0);
  });

  test("clone_skbs 2 with burst 3: the same skb serves two xmit loops (six sends) before a fresh one", () => {
    const w = setup({ packets: 12, burst: 3, cloneSkbs: 2 });
    w.generator.wake();
    w.host.hv.run();
    expect(new Set(w.sent.slice(0, 6).map((s) => s.skb)).size).toBe(1);
    expect(w.pktgen.seq).toBe(2);
    expect(w.receiver.sink).toMatchObject({ delivered: 12, corrupt: 0 });
    w.generator.finish();
    expect(w.memory.skbs.liveSkbs).toBe(0);
  });

  test("NETDEV_TX_BUSY mid-burst: the unsent references are dropped, the skb is held and resent when the queue wakes", () => {
    const w = setup({ packets: 8, burst: 4, busyAt: 2 });
    w.generator.wake();
    w.host.hv.run();
    expect(w.sent.length).toBe(2);
    const held = w.sent[0]!.skb;
    expect(held.users).toBe(2); // pktgen's own and the held one
    w.wake();
    w.host.hv.run();
    expect(w.sent.length).toBe(8);
    expect(w.sent[2]!.skb).toBe(held);
    expect(w.receiver.sink).toMatchObject({ delivered: 8, corrupt: 0 });
    w.generator.finish();
    expect(w.memory.skbs.liveSkbs).toBe(0);
  });

  test("the queue stops mid-burst: the loop ends (netif_xmit_frozen_or_drv_stopped) and its other references go", () => {
    const w = setup({ packets: 8, burst: 4, stopAfter: 2 });
    w.generator.wake();
    w.host.hv.run();
    expect(w.sent.map((s) => s.xmitMore)).toEqual([true, true]);
    expect(w.sent[0]!.skb.users).toBe(1); // pktgen's own only
    w.wake();
    w.host.hv.run();
    expect(w.generator.sent).toBe(8);
    expect(w.receiver.sink.delivered).toBe(8);
    w.generator.finish();
    expect(w.memory.skbs.liveSkbs).toBe(0);
  });
});
