import { GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRY_V1 } from "@pvnet/xen-grant-table";
import { SKB_GSO_TCPV4 } from "@pvnet/skb-model";
import { XenbusState } from "@pvnet/xenstore";
import { describe, expect, it } from "vitest";
import { NET_RX_RING_SIZE, NET_TX_RING_SIZE, NETDEV_TX_OK, RX_COPY_THRESHOLD } from "../src/index.js";
import { frame, makeWorld, type World } from "./world.js";

function world(backend: boolean, frontend: boolean): World {
  const w = makeWorld({ features: { persistent: backend }, netfront: { persistentGrants: frontend } });
  w.run();
  expect(w.fe.connected).toBe(true);
  return w;
}

function grantTableIsClean(w: World): boolean {
  const view = w.hv.machine.view;
  for (let ref = GNTTAB_NR_RESERVED_ENTRIES; ref < w.gnttab.nrEntries; ref++) {
    if (view.getUint16(w.gnttab.entryOffset(ref) + GRANT_ENTRY_V1.FLAGS, true) !== 0) return false;
  }
  return true;
}

describe("feature-persistent negotiation", () => {
  it.each([
    [false, false, undefined],
    [false, true, undefined],
    [true, false, undefined],
    [true, true, "1"],
  ])("backend offers %s, frontend asks %s: frontend key %s", (backend, frontend, key) => {
    const w = world(backend, frontend);
    const path = `${w.fe.info.xbdev.nodename}/feature-persistent`;
    expect(w.be.xenbus.conn.exists(path) ? w.be.xenbus.conn.read(path) : undefined).toBe(key);
    const used = key === "1";
    expect(w.fe.info.persistent).toBe(used);
    expect(w.fe.info.queues[0]?.persistent).toBe(used);
    // Without persistent grants a packet gets a grant of its own: its ref is not a pool ref.
    const skb = w.composer.compose({ linearLen: 600 }, frame(600));
    expect(w.fe.startXmit(skb!)).toBe(NETDEV_TX_OK);
    w.run();
    const gref = w.be.packets[0]?.requests[0]?.gref as number;
    expect([...(w.fe.info.queues[0]?.txPgRef ?? [])].includes(gref)).toBe(used);
    expect(w.fe.stats().txPersistentCopyBytes).toBe(used ? 600 : 0);
  });
});

describe("TX with persistent grants", () => {
  it.each([64, 1496, 9000, 65535])("a %i-byte packet is copied into pool pages, 4 KiB a slot, and arrives byte-exact", (len) => {
    const w = world(true, true);
    const gso = len > 1514;
    const desc = gso ? { linearLen: 70, frags: [{ size: len - 70, offset: 0, order: 4 }], gso: { size: 1448, type: SKB_GSO_TCPV4 } } : { linearLen: len };
    const bytes = frame(len, 1, 0, gso ? 6 : 17);
    const q = w.fe.info.queues[0]!;
    const pool = new Set(q.txPgRef);
    const liveAtStart = w.skbs.liveSkbs;
    for (let round = 0; round < 3; round++) {
      const skb = w.composer.compose(desc, bytes)!;
      if (gso) skb.ipSummed = 3; // CHECKSUM_PARTIAL
      expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
      w.run();
      const pkt = w.be.packets[round]!;
      expect(pkt.data).toEqual(bytes);
      expect(pkt.requests.length).toBe(Math.ceil(len / 4096));
      for (const r of pkt.requests) {
        expect(pool.has(r.gref)).toBe(true);
        expect(r.offset).toBe(0);
      }
      if (gso) expect(pkt.extras.length).toBe(1);
    }
    // The skb was freed once copied; nothing is claimed or ended per packet.
    expect(w.skbs.liveSkbs).toBe(liveAtStart);
    expect(w.fe.stats().txPersistentCopyBytes).toBe(3 * len);
    expect(w.fe.outstanding().txInFlight).toBe(0);
  });

  it("a full ring of packets reuses the pool: ids come back, pool grants stay granted", () => {
    const w = world(true, true);
    for (let i = 0; i < 3 * NET_TX_RING_SIZE; i++) {
      expect(w.fe.startXmit(w.composer.compose({ linearLen: 200 }, frame(200, 1, i))!)).toBe(NETDEV_TX_OK);
      if (i % 50 === 49) w.run();
    }
    w.run();
    expect(w.be.packets.length).toBe(3 * NET_TX_RING_SIZE);
    expect(w.be.packets.every((p, i) => p.data.length === 200 && p.data[p.data.length - 1] === frame(200, 1, i)[199])).toBe(true);
    expect(w.fe.outstanding().grants).toBe(2 + NET_TX_RING_SIZE + NET_RX_RING_SIZE);
  });
});

describe("RX with persistent grants", () => {
  it.each([
    [64, 4096],
    [1496, 4096],
    [9000, 4096],
    [3000, 1000],
  ])("a %i-byte packet in %i-byte slots leaves the pool pages (pulled, or copied out) and arrives byte-exact", (len, chunk) => {
    const w = world(true, true);
    const q = w.fe.info.queues[0]!;
    const bytes = frame(len);
    for (let round = 0; round < 3; round++) {
      expect(w.be.sendRx(bytes, { chunk })).toBe(true);
      w.run();
      expect(w.received.length).toBe(round + 1);
      expect(w.received[round]!.toBytes()).toEqual(bytes);
    }
    // Every posted buffer is a pool grant whose page is the buffer's frag (a zerocopy skb: no page
    // of its own); the pool is full again (one page per posted slot).
    const pool = new Set(q.rxPgPage);
    for (let id = 0; id < NET_RX_RING_SIZE; id++) {
      const k = q.rxPgRef.indexOf(q.grantRxRef[id] as number);
      expect(k).toBeGreaterThanOrEqual(0);
      const posted = q.rxSkbs[id]!;
      expect(posted.shinfo.frags[0]?.page).toBe(q.rxPgPage[k]);
      expect(posted.zcopy).not.toBeNull();
    }
    expect(q.rxPgFreeCount).toBe(0);
    // What reaches the stack holds no pool page: a short packet is all in the head, a longer one
    // in pages of its own.
    for (const skb of w.received) {
      expect(skb.zcopy).toBeNull();
      expect(skb.shinfo.nrFrags).toBe(len > RX_COPY_THRESHOLD ? Math.ceil((len - RX_COPY_THRESHOLD) / 4096) : 0);
      for (let i = 0; i < skb.shinfo.nrFrags; i++) expect(pool.has(skb.shinfo.frags[i]!.page)).toBe(false);
    }
    // The RX regression: beyond RX_COPY_THRESHOLD every byte is copied once more.
    const s = w.fe.stats();
    expect(s.rxPersistentExtraCopies).toBe(len > RX_COPY_THRESHOLD ? 3 : 0);
    expect(s.rxPersistentCopyBytes).toBe(3 * Math.max(0, len - RX_COPY_THRESHOLD));
    for (const skb of w.received) skb.free();
  });
});

describe("teardown with persistent grants", () => {
  it("ends access to every pool grant and frees every pool page", () => {
    const w = world(true, true);
    const pagesAtStart = w.pool.pagesInUse;
    expect(pagesAtStart).toBeGreaterThanOrEqual(NET_TX_RING_SIZE + NET_RX_RING_SIZE);
    expect(w.fe.startXmit(w.composer.compose({ linearLen: 300 }, frame(300))!)).toBe(NETDEV_TX_OK);
    w.be.sendRx(frame(2000));
    w.run();
    for (const skb of w.received) skb.free();
    w.fe.close();
    w.run();
    expect(w.fe.state).toBe(XenbusState.Closed);
    expect(w.fe.outstanding()).toEqual({ grants: 0, reservedRefs: 0, deferredGrants: 0, txInFlight: 0, rxPosted: 0, evtchns: 0 });
    expect(grantTableIsClean(w)).toBe(true);
    w.skbs.drain();
    expect(w.pool.pagesInUse).toBe(0);
  });
});
