import { Hypervisor } from "@pvnet/hypervisor";
import { PagePool, SkbAllocator, type SkBuff } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { BRIDGE_FDB_MAX, type BridgePort, LearningBridge } from "@pvnet/host";
import { runDomuDomu } from "../src/topology/domu-domu.js";
import { expectAllDelivered, expectCleanTeardown } from "./expect.js";

describe("DomU -> DomU through Dom0's bridge", () => {
  test.each([
    [64, 800],
    [1496, 800],
    [65535, 80],
  ])("%i-byte frames from guest A all reach guest B byte-exact, and nothing is left behind", async (pktSize, packets) => {
    const r = await runDomuDomu({ seed: 11, pktSize, packets });
    expectAllDelivered(r, packets);
    // Guest B's announcement was flooded once; every data frame went straight to B's port.
    expect(r.bridge).toMatchObject({ forwarded: packets, flooded: 1, filtered: 0, learned: 2 });
    expect(r.counters.sender.rx_packets).toBe(packets);
    expect(r.counters.receiver.tx_packets).toBe(packets);
    // B's RX path grant-copies every frame into B's buffers (from A's pages, still mapped).
    expect(r.counters.receiver.model_rx_copy_ops).toBeGreaterThanOrEqual(packets);
    expectCleanTeardown(r);
  });

  test("pktgen without a window: B's vif queue stops, its qdisc holds what the bridge forwards meanwhile", async () => {
    const r = await runDomuDomu({ seed: 1, pktSize: 65535, packets: 300, windowBytes: 0, burst: 32 });
    // Each time B's RX internal queue fills, netback drops the skb that found it full and stops
    // the queue (xenvif_rx_queue_tail); the frames after it wait in the qdisc instead of being
    // dropped too (without the qdisc, 195 of the 300 arrive).
    expect(r.packetsDelivered + r.dropped).toBe(300);
    expect(r.dropped).toBe(r.counters.receiver.tx_dropped);
    expect(r.dropped).toBeGreaterThan(0);
    expect(r.packetsDelivered).toBeGreaterThan(195);
    expect(r.corrupt).toBe(0);
    expectCleanTeardown(r);
  });

  test("two queues, reproducible from the seed", async () => {
    const strip = ({ wall: _w, ...rest }: Awaited<ReturnType<typeof runDomuDomu>>) => rest;
    const a = await runDomuDomu({ seed: 12, pktSize: 700, packets: 300, queues: 2 });
    expect(a).toMatchObject({ queues: 2, packetsDelivered: 300, corrupt: 0 });
    expect(strip(await runDomuDomu({ seed: 12, pktSize: 700, packets: 300, queues: 2 }))).toEqual(strip(a));
  });
});

describe("LearningBridge", () => {
  function env() {
    const hv = new Hypervisor({ frames: 512, seed: 1 });
    const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 256 });
    const skbs = new SkbAllocator({ pool: new PagePool(dom0, { limitFrames: 128 }), maxSkbs: 64 });
    const frame = (dst: number, src: number) => {
      const skb = skbs.allocSkb(60)!;
      const b = new Uint8Array(60);
      b.set([0, 0x16, 0x3e, (dst >>> 16) & 0xff, (dst >>> 8) & 0xff, dst & 0xff], 0);
      b.set([0, 0x16, 0x3e, (src >>> 16) & 0xff, (src >>> 8) & 0xff, src & 0xff], 6);
      skb.putData(b);
      return skb;
    };
    const port = (name: string, got: string[]): BridgePort => ({
      name,
      transmit: (skb: SkBuff) => {
        got.push(name);
        skb.free();
      },
    });
    return { skbs, frame, port };
  }

  test("floods unknown destinations, forwards learned ones, filters same-port traffic", () => {
    const { skbs, frame, port } = env();
    const got: string[] = [];
    const br = new LearningBridge();
    const [p1, p2, p3] = [port("p1", got), port("p2", got), port("p3", got)];
    for (const p of [p1, p2, p3]) br.addPort(p);
    br.receive(p1, frame(2, 1)); // 2 unknown: flood to p2, p3; learn 1 on p1
    expect(got.splice(0)).toEqual(["p2", "p3"]);
    br.receive(p2, frame(1, 2)); // 1 known on p1; learn 2 on p2
    expect(got.splice(0)).toEqual(["p1"]);
    br.receive(p1, frame(1, 3)); // destination behind the ingress port: filtered
    expect(got.splice(0)).toEqual([]);
    expect(br.stats).toMatchObject({ received: 3, forwarded: 1, flooded: 1, filtered: 1, learned: 3 });
    br.removePort(p2);
    br.receive(p1, frame(2, 1)); // p2's entry went with it: flood to p3 only
    expect(got.splice(0)).toEqual(["p3"]);
    expect(skbs.liveSkbs).toBe(0);
  });

  test("the forwarding database stays bounded whatever the sources", () => {
    const { skbs, frame, port } = env();
    const got: string[] = [];
    const br = new LearningBridge();
    const p1 = port("p1", got);
    br.addPort(p1);
    br.addPort(port("p2", got));
    for (let src = 1; src <= BRIDGE_FDB_MAX + 500; src++) br.receive(p1, frame(0xffffff, src));
    expect(br.fdbSize).toBe(BRIDGE_FDB_MAX);
    expect(skbs.liveSkbs).toBe(0);
  });
});
