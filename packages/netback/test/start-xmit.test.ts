import { SkbComposer } from "@pvnet/skb-model";
import { OP_COPY } from "@pvnet/xen-grant-table";
import { describe, expect, test } from "vitest";
import { COST_KTHREAD_WAKEUP } from "../src/common.js";
import { NETDEV_TX_OK, xenvifStartXmit } from "../src/index.js";
import { makeFrame, type RawFrontend, World } from "./harness.js";

const EVTCHN_SEND = "event_channel_op:send";

function connect(persistent: boolean) {
  const w = new World({ persistentGrants: persistent });
  const fe = w.frontend({ persistent });
  w.run();
  expect(fe.vif.connected).toBe(true);
  expect(fe.vif.persistent).toBe(persistent);
  return { w, fe };
}

/** RX kthread wake-ups charged on Dom0's VCPUs so far. */
function kthreadWakes(w: World): number {
  let n = 0;
  for (const v of w.dom0.vcpus) n += v.actor.account.report().byKind[COST_KTHREAD_WAKEUP]?.ops ?? 0;
  return n;
}

/**
 * pktgen's burst: one skb handed to xenvif_start_xmit `burst` times (refcount_add(burst)), with
 * xmit_more on all but the last. Until the last, neither is the RX kthread woken nor a response
 * pushed to the guest. Returns the frame every send carries.
 */
function sendBurst(w: World, fe: RawFrontend, burst: number, seed: number): Uint8Array {
  const frame = makeFrame(64, seed);
  const skb = new SkbComposer(w.skbs).compose({ linearLen: frame.length }, frame);
  if (skb === null) throw new Error("compose failed");
  const queue = fe.vif.queues[0]!;
  const ring = fe.queues[0]!.rx;
  const rspProd = ring.sring.rspProd;
  for (let k = 1; k < burst; k++) skb.get();
  for (let k = 0; k < burst; k++) {
    expect(xenvifStartXmit(fe.vif, skb, undefined, { xmitMore: k < burst - 1 })).toBe(NETDEV_TX_OK);
    if (k < burst - 1) {
      expect(queue.rxThreadScheduled).toBe(false);
      expect(ring.sring.rspProd).toBe(rspProd);
    }
  }
  expect(queue.rxThreadScheduled || ring.sring.rspProd !== rspProd).toBe(true);
  return frame;
}

describe("the RFC's copy in xenvif_start_xmit (persistent grants)", () => {
  test("with buffers posted and persistently mapped, start_xmit copies itself: no RX kthread wake-up, no copy hypercall, bytes exact", () => {
    const { w, fe } = connect(true);
    fe.postRx(8);
    w.run();
    // Map the eight buffers into the tree with one round of packets, then re-post the same grefs.
    const composer = new SkbComposer(w.skbs);
    const warm = Array.from({ length: 8 }, (_, i) => makeFrame(100, 100 + i));
    for (const f of warm) xenvifStartXmit(fe.vif, composer.compose({ linearLen: f.length }, f)!);
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual(warm);
    expect(fe.vif.counters().persistent_rx_entries).toBe(8);
    fe.repostRx();
    w.run();
    const wakes = kthreadWakes(w);
    w.hv.stats.reset();
    const frames = Array.from({ length: 8 }, (_, i) => makeFrame(200 + i, i));
    for (const f of frames) xenvifStartXmit(fe.vif, composer.compose({ linearLen: f.length }, f)!);
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual(frames);
    expect(kthreadWakes(w)).toBe(wakes);
    expect(w.hv.stats.get(OP_COPY).calls).toBe(0);
    expect(fe.vif.counters()).toMatchObject({ model_rx_start_xmit_copies: 16, model_rx_start_xmit_fallbacks: 0, tx_packets: 16, tx_dropped: 0 });
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test("the start_xmit copy runs on the CPU that called ndo_start_xmit: its work is charged there, not to the queue's VCPU", () => {
    const { w, fe } = connect(true);
    fe.postRx(4);
    w.run();
    const [q0, caller] = [w.dom0.vcpus[0]!, w.dom0.vcpus[1]!];
    expect(fe.vif.queues[0]!.vcpu).toBe(q0);
    const ringWork = (v: typeof q0) => v.actor.account.report().byKind["ring.response"]?.ops ?? 0;
    const [before0, before1] = [ringWork(q0), ringWork(caller)];
    const composer = new SkbComposer(w.skbs);
    const frames = [makeFrame(100, 1), makeFrame(200, 2)];
    for (const f of frames) xenvifStartXmit(fe.vif, composer.compose({ linearLen: f.length }, f)!, 0, { cpu: caller });
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual(frames);
    expect(ringWork(caller) - before1).toBe(2);
    expect(ringWork(q0) - before0).toBe(0);
    expect(fe.vif.queues[0]!.rxCpu).toBe(q0);
  });

  test("no buffer posted: the skb falls back to the RX kthread and is delivered once the guest posts", () => {
    const { w, fe } = connect(true);
    const composer = new SkbComposer(w.skbs);
    const f = makeFrame(500, 9);
    const wakes = kthreadWakes(w);
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: f.length }, f)!);
    // A second skb queues behind the first (order kept); the guest posts before the drain timeout.
    const g = makeFrame(600, 10);
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: g.length }, g)!);
    fe.postRx(2);
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual([f, g]);
    expect(kthreadWakes(w)).toBeGreaterThan(wakes);
    expect(fe.vif.counters()).toMatchObject({ model_rx_start_xmit_copies: 0, model_rx_start_xmit_fallbacks: 2, tx_packets: 2 });
  });

  test("without persistent grants every skb goes through the kthread, one wake-up per kick", () => {
    const { w, fe } = connect(false);
    fe.postRx(4);
    w.run();
    const composer = new SkbComposer(w.skbs);
    const wakes = kthreadWakes(w);
    const f = makeFrame(300, 3);
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: f.length }, f)!);
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual([f]);
    expect(kthreadWakes(w)).toBe(wakes + 1);
    expect(fe.vif.counters()).toMatchObject({ model_rx_start_xmit_copies: 0, model_rx_start_xmit_fallbacks: 0 });
  });
});

describe("xmit_more: pktgen burst > 1", () => {
  test.each([false, true])("persistent %s: a burst of 8 of one skb is cloned 7 times, kicked or pushed once, and delivered 8 times byte-exact", (persistent) => {
    const { w, fe } = connect(persistent);
    fe.postRx(32);
    w.run();
    const wakes = kthreadWakes(w);
    w.hv.stats.reset();
    const frame = sendBurst(w, fe, 8, 1);
    w.run();
    const got = fe.rxPackets();
    expect(got.length).toBe(8);
    for (const p of got) expect(p.bytes).toEqual(frame);
    const c = fe.vif.counters();
    expect(c).toMatchObject({ model_rx_xmit_more_clones: 7, tx_packets: 8, tx_bytes: 8 * frame.length, tx_dropped: 0 });
    // The kick (baseline) or the response push (persistent) waited for the last skb: one event.
    expect(w.hv.stats.get(EVTCHN_SEND).calls).toBe(1);
    expect(kthreadWakes(w) - wakes).toBe(persistent ? 0 : 1);
    if (persistent) expect(c.model_rx_start_xmit_copies).toBe(8);
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test.each([false, true])("persistent %s: bursts of 4 over 3 rounds arrive in order, one event per burst", (persistent) => {
    const { w, fe } = connect(persistent);
    fe.postRx(64);
    w.run();
    w.hv.stats.reset();
    const sent: Uint8Array[] = [];
    const got: Uint8Array[] = [];
    for (let r = 0; r < 3; r++) {
      const frame = sendBurst(w, fe, 4, 10 + r);
      for (let k = 0; k < 4; k++) sent.push(frame);
      w.run();
      // The frontend consumes the responses and asks for the next event (RING_FINAL_CHECK_FOR_RESPONSES).
      for (const p of fe.rxPackets()) got.push(p.bytes);
      fe.queues[0]!.rx.finalCheckForResponses();
    }
    expect(got).toEqual(sent);
    expect(w.hv.stats.get(EVTCHN_SEND).calls).toBe(3);
    expect(fe.vif.counters().model_rx_xmit_more_clones).toBe(9);
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test("an skb that is not shared is queued as it is, even with xmit_more", () => {
    const { w, fe } = connect(false);
    fe.postRx(4);
    w.run();
    const composer = new SkbComposer(w.skbs);
    const a = makeFrame(80, 1);
    const b = makeFrame(90, 2);
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: a.length }, a)!, undefined, { xmitMore: true });
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: b.length }, b)!, undefined, { xmitMore: false });
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual([a, b]);
    expect(fe.vif.counters().model_rx_xmit_more_clones).toBe(0);
  });
});
