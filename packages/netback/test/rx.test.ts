import { NETRXF_csum_blank, NETRXF_data_validated, NETRXF_extra_info, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4 } from "@pvnet/netif";
import { CHECKSUM_PARTIAL, SKB_GSO_TCPV4, type SkBuff, SkbComposer, type SkbDesc } from "@pvnet/skb-model";
import { OP_COPY } from "@pvnet/xen-grant-table";
import { describe, expect, test } from "vitest";
import { COPY_BATCH_SIZE } from "../src/common.js";
import { NETDEV_TX_OK, RX_DRAIN_TIMEOUT_MSECS, XENVIF_RX_QUEUE_BYTES, xenvifStartXmit } from "../src/index.js";
import { makeFrame, World } from "./harness.js";

function payload(len: number, seed: number): Uint8Array {
  return makeFrame(len, seed);
}

function compose(w: World, desc: SkbDesc, seed: number): { skb: SkBuff; bytes: Uint8Array } {
  const len = (desc.linearLen ?? 0) + (desc.frags ?? []).reduce((a, f) => a + f.size, 0);
  const bytes = payload(len, seed);
  const skb = new SkbComposer(w.skbs).compose(desc, bytes);
  if (skb === null) throw new Error("compose failed");
  return { skb, bytes };
}

function setup(options: ConstructorParameters<typeof World>[0] = {}) {
  const w = new World(options);
  const fe = w.frontend();
  w.run();
  expect(fe.vif.connected).toBe(true);
  return { w, fe };
}

describe("guest RX: grant copies into posted buffers", () => {
  test.each([
    ["64 bytes, linear", { linearLen: 64 }],
    ["1496 bytes, linear", { linearLen: 1496 }],
    ["1496 bytes over two frags", { linearLen: 54, frags: [{ size: 1000, offset: 3500 }, { size: 442 }] }],
  ] as const)("%s arrives byte-exact, each buffer filled to the page before the next", (_name, desc) => {
    const { w, fe } = setup();
    fe.postRx(4);
    w.run();
    const { skb, bytes } = compose(w, desc, 5);
    expect(xenvifStartXmit(fe.vif, skb)).toBe(NETDEV_TX_OK);
    w.run();
    const pkts = fe.rxPackets();
    expect(pkts.length).toBe(1);
    expect(pkts[0]!.bytes).toEqual(bytes);
    expect(pkts[0]!.sizes).toEqual([bytes.length]);
    expect(fe.vif.counters().tx_packets).toBe(1);
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test("a 65535-byte GSO skb: 16 data slots of up to 4096 bytes and a GSO extra after the first, csum flags", () => {
    const { w, fe } = setup();
    fe.postRx(20);
    w.run();
    const frags = Array.from({ length: 15 }, (_, i) => ({ size: 4096 + (i < 14 ? 0 : 0), offset: 0 }));
    const desc: SkbDesc = { linearLen: 65535 - 15 * 4096, frags, gso: { size: 1448, type: SKB_GSO_TCPV4 } };
    const { skb, bytes } = compose(w, desc, 6);
    skb.ipSummed = CHECKSUM_PARTIAL;
    w.hv.stats.reset();
    xenvifStartXmit(fe.vif, skb);
    w.run();
    const [p] = fe.rxPackets();
    expect(p!.bytes).toEqual(bytes);
    expect(p!.sizes.length).toBe(16);
    expect(p!.sizes.slice(0, 15).every((n) => n === 4096)).toBe(true);
    expect(p!.flags & (NETRXF_csum_blank | NETRXF_data_validated | NETRXF_extra_info)).toBe(NETRXF_csum_blank | NETRXF_data_validated | NETRXF_extra_info);
    expect(p!.extras.map((e) => [e.type, e.gsoType, e.gsoSize])).toEqual([[XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4, 1448]]);
    // The copies are batched COPY_BATCH_SIZE at a time; none crosses a page on either side.
    const copy = w.hv.stats.get(OP_COPY);
    expect(copy.calls).toBe(Math.ceil(copy.ops / COPY_BATCH_SIZE));
    expect(copy.ops).toBeGreaterThanOrEqual(16);
  });

  test("the 51-slot straddling layout: copies split at every page boundary of the source, bytes exact", () => {
    const { w, fe } = setup();
    fe.postRx(20);
    w.run();
    const desc: SkbDesc = {
      linearLen: 70,
      linearOffset: 4096 - 35,
      frags: Array.from({ length: 15 }, () => ({ size: 4096 + 2, offset: 4095, order: 2 })),
    };
    const { skb, bytes } = compose(w, desc, 7);
    w.hv.stats.reset();
    xenvifStartXmit(fe.vif, skb);
    w.run();
    const [p] = fe.rxPackets();
    expect(p!.bytes).toEqual(bytes);
    // 2 pieces for the linear area, 3 per frag, plus one more wherever a guest page fills up.
    expect(w.hv.stats.get(OP_COPY).ops).toBeGreaterThanOrEqual(2 + 15 * 3);
    expect(fe.vif.counters().model_rx_copy_errors).toBe(0);
  });

  test("an skb that does not fit the posted buffers waits, and goes once the guest posts enough", () => {
    const { w, fe } = setup();
    fe.postRx(1);
    w.run();
    const { skb, bytes } = compose(w, { linearLen: 100, frags: [{ size: 4096 }, { size: 4096 }] }, 8);
    xenvifStartXmit(fe.vif, skb);
    w.hv.run({ untilNs: w.hv.sim.clock.now() + 1_000_000 });
    expect(fe.rxPackets()).toEqual([]);
    expect(fe.vif.queues[0]!.rxQueuePackets).toBe(1);
    fe.postRx(2);
    w.hv.run({ untilNs: w.hv.sim.clock.now() + 1_000_000 });
    const pkts = fe.rxPackets();
    expect(pkts.map((p) => p.bytes)).toEqual([bytes]);
  });

  test("a TX skb of one guest forwarded to another: copied straight from the first guest's grant", () => {
    const w = new World();
    const a = w.frontend();
    const b = w.frontend();
    w.run();
    b.postRx(4);
    w.keep = [];
    const frame = makeFrame(3000, 11);
    a.send(frame, [{ len: 3000 }]);
    w.run();
    const skb = w.keep.pop()!;
    w.keep = null;
    xenvifStartXmit(b.vif, skb);
    w.run();
    expect(b.rxPackets().map((p) => p.bytes)).toEqual([frame]);
    // The skb was freed after the copy: a's slot unmapped and answered.
    expect(a.txResponses().map((r) => r.status)).toEqual([0]);
    expect(w.netback.outstanding()).toMatchObject({ slotMappings: 0, inflightPackets: 0 });
  });

  test("XSA-392 (CVE-2021-28715): a guest that posts nothing stalls only its own queue: bounded memory, drops, drain after the timeout", () => {
    const w = new World();
    const stalled = w.frontend();
    const healthy = w.frontend();
    w.run();
    healthy.postRx(200);
    w.run();
    let accepted = 0;
    for (let i = 0; i < 600; i++) {
      const s = compose(w, { linearLen: 1500 }, i).skb;
      const before = stalled.vif.counters().tx_dropped;
      xenvifStartXmit(stalled.vif, s);
      if (stalled.vif.counters().tx_dropped === before) accepted++;
      const h = compose(w, { linearLen: 1500 }, i).skb;
      if (i < 100) xenvifStartXmit(healthy.vif, h);
      else h.free();
      w.hv.run({ untilNs: w.hv.sim.clock.now() + 1000 });
    }
    const q = stalled.vif.queues[0]!;
    // The RX internal queue stopped growing at XENVIF_RX_QUEUE_BYTES; the rest was dropped.
    expect(q.rxQueueLen).toBeLessThanOrEqual(XENVIF_RX_QUEUE_BYTES + 1500);
    expect(accepted).toBe(Math.ceil(XENVIF_RX_QUEUE_BYTES / 1500));
    expect(stalled.vif.counters().tx_dropped).toBe(600 - accepted);
    expect(w.skbs.liveSkbs).toBe(accepted);
    // The healthy guest got all of its packets meanwhile.
    expect(healthy.rxPackets().length).toBe(100);
    // After rx_drain_timeout the queued skbs are dropped and freed.
    const t = w.hv.sim.clock.now();
    w.run();
    expect(w.hv.sim.clock.now() - t).toBeLessThanOrEqual(RX_DRAIN_TIMEOUT_MSECS * 1_000_000);
    expect(q.rxQueuePackets).toBe(0);
    expect(stalled.vif.counters().rx_dropped).toBe(accepted);
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test("the RX kthread's timeout is deleted once its queue drains: the machine idles at the last delivery, not at rx_drain_timeout", () => {
    const { w, fe } = setup();
    // Queued before any buffer is posted: the kthread sleeps with a timeout at the head's expiry.
    for (let i = 0; i < 8; i++) xenvifStartXmit(fe.vif, compose(w, { linearLen: 1000 }, i).skb);
    w.hv.run({ untilNs: w.hv.sim.clock.now() + 1_000_000 });
    const q = fe.vif.queues[0]!;
    expect(q.rxQueuePackets).toBe(8);
    expect(q.rxTimerAtNs).toBeGreaterThan(w.hv.sim.clock.now());
    const t = w.hv.sim.clock.now();
    fe.postRx(16);
    w.run();
    expect(fe.rxPackets().length).toBe(8);
    // schedule_timeout with an empty queue is MAX_SCHEDULE_TIMEOUT: nothing is left to wake it.
    expect(q.rxTimerAtNs).toBe(-1);
    // (Its timer was armed for about rx_drain_timeout after t: the run ends long before.)
    expect(w.hv.sim.clock.now() - t).toBeLessThan((RX_DRAIN_TIMEOUT_MSECS * 1_000_000) / 100);
    expect(fe.vif.counters().rx_dropped).toBe(0);
  });

  test("XSA-392: a queue with no slots for rx_stall_timeout loses the carrier; posting buffers brings it back", () => {
    const { w, fe } = setup();
    const vif = fe.vif;
    // Keep traffic coming for 70 s of virtual time: 1 packet every second.
    for (let s = 0; s < 70; s++) {
      const { skb } = compose(w, { linearLen: 200 }, s);
      xenvifStartXmit(vif, skb);
      w.hv.run({ untilNs: w.hv.sim.clock.now() + 1_000_000_000 });
    }
    expect(vif.log.some((l) => l.endsWith("Guest Rx stalled"))).toBe(true);
    expect(vif.carrier).toBe(false);
    // Down carrier: start_xmit drops at once.
    const dropped = vif.counters().tx_dropped;
    xenvifStartXmit(vif, compose(w, { linearLen: 200 }, 99).skb);
    expect(vif.counters().tx_dropped).toBe(dropped + 1);
    // The guest posts buffers again: the queue is ready and the carrier comes back.
    fe.postRx(8);
    w.run();
    expect(vif.carrier).toBe(true);
    expect(vif.log.some((l) => l.endsWith("Guest Rx ready"))).toBe(true);
    const { skb, bytes } = compose(w, { linearLen: 300 }, 100);
    xenvifStartXmit(vif, skb);
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual([bytes]);
  });
});
