import { NETIF_RSP_OKAY, writeTxResponse } from "@pvnet/netif";
import { type SkBuff, skbGetHash } from "@pvnet/skb-model";
import { GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRY_V1 } from "@pvnet/xen-grant-table";
import { XenbusState } from "@pvnet/xenstore";
import { describe, expect, it } from "vitest";
import { NETDEV_TX_OK } from "../src/index.js";
import { xennetSelectQueue } from "../src/queue.js";
import { frame, makeWorld, type World } from "./world.js";

function send(w: World, bytes: Uint8Array): void {
  const skb = w.composer.compose({ linearLen: bytes.length }, bytes);
  if (skb === null) throw new Error("compose");
  expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
}

/** Every entry of the guest's grant table is free (flags 0): nothing is granted to anyone. */
function grantTableIsClean(w: World): boolean {
  const view = w.hv.machine.view;
  for (let ref = GNTTAB_NR_RESERVED_ENTRIES; ref < w.gnttab.nrEntries; ref++) {
    if (view.getUint16(w.gnttab.entryOffset(ref) + GRANT_ENTRY_V1.FLAGS, true) !== 0) return false;
  }
  return true;
}

describe("TX: a backend is not trusted", () => {
  function oneInFlight() {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    send(w, frame(60));
    const q = w.be.queues[0];
    if (q === undefined) throw new Error("not connected");
    return { w, back: q.tx };
  }

  it("a response id out of range disables the device", () => {
    const { w, back } = oneInFlight();
    back.consumeRequest();
    back.writeResponse(back.produceResponse(), writeTxResponse, { id: 4000, status: NETIF_RSP_OKAY });
    back.pushResponses();
    w.be.kickTx();
    w.run();
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Response has incorrect id (4000)");
  });

  it("a response for an id not on the ring disables the device", () => {
    const { w, back } = oneInFlight();
    back.consumeRequest();
    back.writeResponse(back.produceResponse(), writeTxResponse, { id: 77, status: NETIF_RSP_OKAY });
    back.pushResponses();
    w.be.kickTx();
    w.run();
    expect(w.fe.alerts).toContain("q0: Response for inactive request");
    expect(w.fe.broken).toBe(true);
  });

  it("responses beyond the requests produced disable the device", () => {
    const { w, back } = oneInFlight();
    back.sring.rspProd = (back.sring.rspProd + 5) >>> 0; // 5 responses for 1 request
    w.be.kickTx();
    w.run();
    expect(w.fe.alerts).toContain("q0: Illegal number of responses 5");
    expect(w.fe.broken).toBe(true);
    // Teardown still ends every grant once the backend has closed.
    w.fe.close();
    w.run();
    expect(w.fe.state).toBe(XenbusState.Closed);
    expect(w.fe.outstanding()).toEqual({ grants: 0, reservedRefs: 0, deferredGrants: 0, txInFlight: 0, rxPosted: 0, evtchns: 0 });
    expect(grantTableIsClean(w)).toBe(true);
  });
});

describe("multi-queue", () => {
  it("spreads flows over queues, keeps each flow on one queue, and writes per-queue keys", () => {
    const w = makeWorld({ features: { maxQueues: 4 }, netfront: { maxQueues: 4 } });
    w.run();
    expect(w.fe.numQueues).toBe(4);
    const conn = w.be.xenbus.conn;
    const dir = w.fe.info.xbdev.nodename;
    expect(conn.read(`${dir}/multi-queue-num-queues`)).toBe("4");
    for (let q = 0; q < 4; q++) {
      expect(Number(conn.read(`${dir}/queue-${q}/tx-ring-ref`))).toBe(w.fe.info.queues[q]?.txRingRef);
      expect(conn.exists(`${dir}/queue-${q}/event-channel`)).toBe(true);
    }
    expect(conn.exists(`${dir}/tx-ring-ref`)).toBe(false);
    // Queues run on VCPUs round robin.
    expect(w.fe.info.queues.map((q) => q.vcpu.id)).toEqual([0, 1, 0, 1]);
    const flows = 16;
    for (let seq = 0; seq < 3; seq++) for (let f = 0; f < flows; f++) send(w, frame(120, f, seq));
    w.run();
    expect(w.be.packets).toHaveLength(flows * 3);
    const queueOfFlow = new Map<number, Set<number>>();
    for (const p of w.be.packets) {
      const flow = new DataView(p.data.buffer).getUint32(26) - 0x0a000001;
      const s = queueOfFlow.get(flow) ?? new Set<number>();
      queueOfFlow.set(flow, s);
      s.add(p.queue);
    }
    for (const s of queueOfFlow.values()) expect(s.size).toBe(1);
    const used = new Set(w.be.packets.map((p) => p.queue));
    expect(used.size).toBeGreaterThan(1);
    // RX on every queue.
    for (let q = 0; q < 4; q++) w.be.sendRx(frame(200, q), { q });
    w.run();
    expect(w.received).toHaveLength(4);
    for (let q = 0; q < 4; q++) expect(w.fe.queueStats(q).rxPackets).toBe(1);
    for (const skb of w.received) skb.free();
  });

  it("the flow hash (skb_get_hash) is direction independent; non-IP frames hash on their protocol alone", () => {
    const w = makeWorld();
    const make = (b: Uint8Array): SkBuff => {
      const s = w.composer.compose({ linearLen: b.length }, b);
      if (s === null) throw new Error("compose");
      return s;
    };
    const fwd = frame(80, 3);
    const rev = fwd.slice();
    const v = new DataView(rev.buffer);
    v.setUint32(26, new DataView(fwd.buffer).getUint32(30));
    v.setUint32(30, new DataView(fwd.buffer).getUint32(26));
    v.setUint16(34, 5001);
    v.setUint16(36, 1003);
    const a = make(fwd);
    const b = make(rev);
    expect(skbGetHash(a)).toBe(skbGetHash(b));
    expect(skbGetHash(a)).not.toBe(0);
    const arp = fwd.slice();
    new DataView(arp.buffer).setUint16(12, 0x0806);
    const c = make(arp);
    // The dissector keys an ARP frame by n_proto only: every ARP frame hashes alike, never to 0.
    const arp2 = arp.slice();
    arp2.fill(0x77, 26, 40);
    const d = make(arp2);
    expect(skbGetHash(c)).not.toBe(0);
    expect(skbGetHash(c)).not.toBe(skbGetHash(a));
    expect(skbGetHash(d)).toBe(skbGetHash(c));
    expect(xennetSelectQueue(c, 4)).toBe(skbGetHash(c) % 4);
    expect(xennetSelectQueue(a, 1)).toBe(0);
    for (const s of [a, b, c, d]) s.free();
  });

  it("uses split event channels when the backend offers them", () => {
    const w = makeWorld({ features: { split: true } });
    w.run();
    const dir = w.fe.info.xbdev.nodename;
    const conn = w.be.xenbus.conn;
    expect(conn.exists(`${dir}/event-channel`)).toBe(false);
    const q = w.fe.info.queues[0];
    expect(Number(conn.read(`${dir}/event-channel-tx`))).toBe(q?.txEvtchn);
    expect(Number(conn.read(`${dir}/event-channel-rx`))).toBe(q?.rxEvtchn);
    expect(q?.txEvtchn).not.toBe(q?.rxEvtchn);
    send(w, frame(500));
    w.be.sendRx(frame(700));
    w.run();
    expect(w.be.packets[0]?.data).toEqual(frame(500));
    expect(w.received[0]?.toBytes()).toEqual(frame(700));
    w.received[0]?.free();
  });
});

describe("disconnect and reconnect", () => {
  it("ends every grant, returns every page and closes every channel; reconnects cleanly", () => {
    const w = makeWorld();
    const basePages = w.pool.pagesInUse;
    for (let round = 0; round < 2; round++) {
      if (round === 1) w.fe.reconnect();
      w.run();
      expect(w.fe.state).toBe(XenbusState.Connected);
      expect(w.be.dev.state).toBe(XenbusState.Connected);
      // Traffic both ways, some TX left in flight at the close.
      send(w, frame(1500, 1, round));
      w.be.sendRx(frame(900, 2, round));
      w.run();
      expect(w.be.packets.at(-1)?.data).toEqual(frame(1500, 1, round));
      expect(w.received.at(-1)?.toBytes()).toEqual(frame(900, 2, round));
      w.be.autoTx = false;
      send(w, frame(3000, 1, 9));
      expect(w.fe.outstanding().txInFlight).toBe(1);
      w.be.autoTx = true;

      w.fe.close();
      w.run();
      expect(w.fe.state).toBe(XenbusState.Closed);
      expect(w.be.dev.state).toBe(XenbusState.Closed);
      expect(w.fe.connected).toBe(false);
      expect(w.fe.outstanding()).toEqual({ grants: 0, reservedRefs: 0, deferredGrants: 0, txInFlight: 0, rxPosted: 0, evtchns: 0 });
      expect(w.grants.outstanding(w.domU)).toEqual({ maps: 0, handles: 0, pins: 0 });
      expect(w.grants.outstanding(w.dom0).maps).toBe(0);
      expect(grantTableIsClean(w)).toBe(true);
      // Every reference is back on the free list (the table grew at connect; it never shrinks).
      expect(w.gnttab.freeCount).toBe(w.gnttab.nrEntries - GNTTAB_NR_RESERVED_ENTRIES);
      expect(w.hv.evtchnOf(w.domU.domid).openPorts()).toEqual([]);
      for (const skb of w.received) skb.free();
      w.received.length = 0;
      w.skbs.drain();
      expect(w.pool.pagesInUse).toBe(basePages);
    }
    // Counters survive the reconnect.
    expect(w.fe.stats().txPackets).toBe(4);
    expect(w.fe.stats().rxPackets).toBe(2);
  });

  it("remove() while the backend still maps a ring defers that grant until it lets go", () => {
    const w = makeWorld();
    w.run();
    w.fe.remove();
    const out = w.fe.outstanding();
    expect(out.deferredGrants).toBe(2); // both ring pages are still mapped by the backend
    expect(out.grants + out.rxPosted + out.txInFlight + out.evtchns).toBe(0);
    expect(w.fe.state).toBe(XenbusState.Closed);
    w.run(); // the backend sees Closed and unmaps
    expect(w.fe.outstanding().deferredGrants).toBe(0);
    expect(grantTableIsClean(w)).toBe(true);
    w.skbs.drain();
    expect(w.pool.pagesInUse).toBe(0);
  });

  it("refuses a backend without feature-rx-copy", () => {
    const w = makeWorld({ features: { rxCopy: false } });
    w.run();
    expect(w.fe.connected).toBe(false);
    expect(w.fe.state).toBe(XenbusState.Initialising);
    expect(w.fe.alerts).toContain("backend does not support copying receive path");
  });
});
