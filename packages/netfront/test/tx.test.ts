import {
  NETIF_RSP_NULL,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_NR_SLOTS_MIN,
} from "@pvnet/netif";
import {
  CHECKSUM_PARTIAL,
  CHECKSUM_UNNECESSARY,
  type Page,
  putPage,
  SEED5_WORST_CASE,
  SEED5_WORST_CASE_SLOTS,
  type SkBuff,
  type SkbDesc,
  SKB_GSO_TCPV4,
  SKB_GSO_TCPV6,
  xennetCountSkbSlots,
} from "@pvnet/skb-model";
import { GTF } from "@pvnet/xen-grant-table";
import { describe, expect, it } from "vitest";
import { NET_TX_RING_SIZE, NETDEV_TX_BUSY, NETDEV_TX_OK } from "../src/index.js";
import { frame, makeWorld, type World } from "./world.js";

/** The chain Linux builds for `skb`, computed from its layout alone: (offset in page, size) per grant. */
function expectedChunks(skb: SkBuff): { offset: number; size: number }[] {
  const out: { offset: number; size: number }[] = [];
  const add = (off: number, len: number) => {
    while (len > 0) {
      const c = Math.min(len, 4096 - (off & 4095));
      out.push({ offset: off & 4095, size: c });
      off += c;
      len -= c;
    }
  };
  const off = skb.head + skb.data;
  const first = Math.min(skb.headlen, 4096 - (off & 4095));
  out.push({ offset: off & 4095, size: first });
  add(off + first, skb.headlen - first);
  for (let i = 0; i < skb.shinfo.nrFrags; i++) {
    const f = skb.shinfo.frags[i];
    if (f !== undefined) add(f.offset, f.size);
  }
  return out;
}

function compose(w: World, desc: SkbDesc, payload?: Uint8Array): SkBuff {
  const skb = w.composer.compose(desc, payload);
  if (skb === null) throw new Error("compose failed");
  return skb;
}

/** Send `skb`, run, and check the chain the backend saw against Linux's and the bytes it copied. */
function sendAndCheck(w: World, skb: SkBuff, csumFlags: number, gso?: { size: number; type: number }) {
  const chunks = expectedChunks(skb);
  const bytes = skb.toBytes();
  const before = w.be.packets.length;
  expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
  // Every grant in flight is read-only and names the backend's domain.
  const q = w.fe.info.queues[0];
  for (let id = 0; id < NET_TX_RING_SIZE; id++) {
    const ref = q?.grantTxRef[id] as number;
    if (ref < 0) continue;
    const at = w.gnttab.entryOffset(ref);
    expect(w.hv.machine.view.getUint16(at, true) & (GTF.permit_access | GTF.readonly)).toBe(GTF.permit_access | GTF.readonly);
    expect(w.hv.machine.view.getUint16(at + 2, true)).toBe(w.dom0.domid);
  }
  w.run();
  const pkt = w.be.packets[before];
  if (pkt === undefined) throw new Error("backend saw no packet");
  expect(pkt.data).toEqual(bytes);
  expect(pkt.requests.length).toBe(chunks.length);
  const extraFlag = gso ? NETTXF_extra_info : 0;
  pkt.requests.forEach((r, i) => {
    const last = i === chunks.length - 1;
    const c = chunks[i] as { offset: number; size: number };
    expect(r.offset).toBe(c.offset);
    expect(r.size).toBe(i === 0 ? bytes.length : c.size); // the first request carries the total
    const flags = (i === 0 ? csumFlags | extraFlag : 0) | (last ? 0 : NETTXF_more_data);
    expect(r.flags).toBe(flags);
  });
  expect(new Set(pkt.requests.map((r) => r.id)).size).toBe(pkt.requests.length);
  if (gso) {
    expect(pkt.extras).toHaveLength(1);
    expect(pkt.extras[0]).toMatchObject({ type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, gsoSize: gso.size, gsoType: gso.type, gsoFeatures: 0 });
  } else expect(pkt.extras).toHaveLength(0);
  return pkt;
}

describe("xennet_start_xmit: slot chains", () => {
  it("sends 64-byte, 1496-byte and 65535-byte GSO packets as Linux chains them, byte-exact", () => {
    const w = makeWorld();
    w.run();
    const baseSkbs = w.skbs.liveSkbs;
    const basePages = w.pool.pagesInUse;

    const small = compose(w, { linearLen: 64 }, frame(64));
    sendAndCheck(w, small, 0);

    const mid = compose(w, { linearLen: 1496 }, frame(1496));
    mid.ipSummed = CHECKSUM_PARTIAL;
    sendAndCheck(w, mid, NETTXF_csum_blank | NETTXF_data_validated);

    // 65535 bytes: 66 bytes of headers linear, 15 full pages and a partial one as frags.
    const big: SkbDesc = {
      linearLen: 66,
      frags: [...Array.from({ length: 15 }, () => ({ size: 4096, offset: 0, order: 0 })), { size: 65535 - 66 - 15 * 4096, offset: 0 }],
      gso: { size: 1448, type: SKB_GSO_TCPV4 },
    };
    const gso = compose(w, big, frame(65535, 3, 0, 6));
    gso.ipSummed = CHECKSUM_PARTIAL;
    expect(gso.len).toBe(65535);
    const pkt = sendAndCheck(w, gso, NETTXF_csum_blank | NETTXF_data_validated, { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 });
    expect(pkt.requests).toHaveLength(17);

    // IPv6 GSO and data_validated-only packets.
    const v6 = compose(w, { linearLen: 200, frags: [{ size: 3000, offset: 2000, order: 1 }], gso: { size: 1440, type: SKB_GSO_TCPV6 } });
    v6.ipSummed = CHECKSUM_PARTIAL;
    sendAndCheck(w, v6, NETTXF_csum_blank | NETTXF_data_validated, { size: 1440, type: XEN_NETIF_GSO_TYPE_TCPV6 });
    const validated = compose(w, { linearLen: 100, linearOffset: 4000, frags: [{ size: 5000, offset: 3000, order: 2 }] });
    validated.ipSummed = CHECKSUM_UNNECESSARY;
    const p = sendAndCheck(w, validated, NETTXF_data_validated);
    expect(p.requests.map((r) => r.size)).toEqual([5100, 4, 1096, 3904]);

    // Completion ended every grant and freed every skb and page.
    const st = w.fe.stats();
    expect(st.txPackets).toBe(5);
    expect(st.txBytes).toBe(64 + 1496 + 65535 + 3200 + 5100);
    expect(st.txExtras).toBe(2);
    expect(w.fe.outstanding().txInFlight).toBe(0);
    expect(w.skbs.liveSkbs).toBe(baseSkbs);
    expect(w.pool.pagesInUse).toBe(basePages);
    expect(w.grants.outstanding(w.domU).pins).toBe(2); // only the two mapped ring pages
  });

  it("straightens the 51-slot worst case and it arrives intact", () => {
    const w = makeWorld();
    w.run();
    const skb = compose(w, SEED5_WORST_CASE);
    expect(xennetCountSkbSlots(skb)).toBe(SEED5_WORST_CASE_SLOTS);
    const bytes = skb.toBytes();
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    w.run();
    const pkt = w.be.packets[0];
    expect(pkt?.data).toEqual(bytes);
    expect(pkt?.requests.length).toBeLessThanOrEqual(XEN_NETIF_NR_SLOTS_MIN);
    const st = w.fe.stats();
    expect(st.txLinearized).toBe(1);
    expect(st.txDropped).toBe(0);
  });

  it("straightens a shared skb by copying it (the caller keeps its reference)", () => {
    const w = makeWorld();
    w.run();
    const skb = compose(w, SEED5_WORST_CASE);
    const bytes = skb.toBytes();
    skb.get(); // pktgen's clone_skbs: the skb is shared
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    w.run();
    expect(w.be.packets[0]?.data).toEqual(bytes);
    expect(w.fe.stats()).toMatchObject({ txLinearized: 1, txBounced: 1, txDropped: 0 });
    expect(skb.users).toBe(1);
    expect(xennetCountSkbSlots(skb)).toBe(SEED5_WORST_CASE_SLOTS); // untouched
    skb.free();
  });

  it("drops what cannot be straightened, counted", () => {
    const w = makeWorld();
    w.run();
    // Too long for the 16-bit first size.
    const tooBig = compose(w, { linearLen: 0, frags: Array.from({ length: 16 }, () => ({ size: 4096, offset: 0, order: 0 })) });
    expect(tooBig.len).toBe(65536);
    expect(w.fe.startXmit(tooBig)).toBe(NETDEV_TX_OK);
    // No memory to linearize into.
    const skb = compose(w, SEED5_WORST_CASE);
    const hog: Page[] = [];
    for (let p = w.pool.allocPage(); p !== null; p = w.pool.allocPage()) hog.push(p);
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    for (const p of hog) putPage(p);
    w.run();
    expect(w.be.packets).toHaveLength(0);
    expect(w.fe.stats()).toMatchObject({ txDropped: 2, txDropTooBig: 1, txDropNoMem: 1, txPackets: 0 });
    expect(w.fe.outstanding().txInFlight).toBe(0);
  });

  it("drops GSO the backend did not offer, and bounces for an untrusted backend", () => {
    const w = makeWorld({ features: { gsoTcpv4: false }, trusted: false });
    w.run();
    const gso = compose(w, { linearLen: 2000, gso: { size: 1448, type: SKB_GSO_TCPV4 } });
    gso.ipSummed = CHECKSUM_PARTIAL;
    expect(w.fe.startXmit(gso)).toBe(NETDEV_TX_OK);
    expect(w.fe.stats().txDropFeatures).toBe(1);
    const skb = compose(w, { linearLen: 300, linearOffset: 4090 }, frame(300));
    const bytes = skb.toBytes();
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    w.run();
    expect(w.be.packets[0]?.data).toEqual(bytes);
    // Bounced into a fresh page-aligned buffer with the same headroom (bounce_skb keeps it).
    expect(w.be.packets[0]?.requests.map((r) => [r.offset, r.size])).toEqual([
      [4090, 300],
      [0, 294],
    ]);
    // Both were bounced (Linux bounces before it checks features).
    expect(w.fe.stats().txBounced).toBe(2);
  });
});

describe("xennet_start_xmit: the first request holds the Ethernet header", () => {
  it("bounces a packet whose data starts fewer than ETH_HLEN bytes before a page end", () => {
    const w = makeWorld();
    w.run();
    // Data 6 bytes before the end of its page: the first request could not hold ETH_HLEN.
    const skb = compose(w, { linearLen: 200, linearOffset: 4090 }, frame(200));
    const bytes = skb.toBytes();
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    w.run();
    expect(w.be.packets[0]?.data).toEqual(bytes);
    expect(w.fe.stats()).toMatchObject({ txBounced: 1, txDropped: 0 });
    // A packet with enough of its first page is sent from its own pages.
    const ok = compose(w, { linearLen: 200, linearOffset: 4082 }, frame(200));
    w.fe.startXmit(ok);
    w.run();
    expect(w.fe.stats().txBounced).toBe(1);
    expect(w.be.packets[1]?.requests.map((r) => r.offset)).toEqual([4082, 0]);
  });
});

describe("xennet_start_xmit: notification and flow control", () => {
  it("notifies only when the backend asked (req_event), not on every push", () => {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    const events = w.be.txEvents;
    for (let i = 0; i < 10; i++) w.fe.startXmit(compose(w, { linearLen: 60 }, frame(60, 1, i)));
    let st = w.fe.stats();
    expect(st.txPushes).toBe(10);
    expect(st.txNotifies).toBe(1); // only the first push crossed req_event
    w.run();
    expect(w.be.txEvents - events).toBe(1);
    // The backend catches up and re-arms req_event: the next push notifies again.
    expect(w.be.processTx()).toBe(10);
    w.run();
    w.fe.startXmit(compose(w, { linearLen: 60 }, frame(60)));
    st = w.fe.stats();
    expect(st.txPushes).toBe(11);
    expect(st.txNotifies).toBe(2);
    const sends = w.hv.stats.get("event_channel_op:send").calls;
    expect(sends).toBeGreaterThanOrEqual(2);
  });

  it("stops the queue when a worst-case packet no longer fits and wakes it on completions", () => {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    let sent = 0;
    while (!w.fe.isQueueStopped(0)) {
      expect(w.fe.startXmit(compose(w, { linearLen: 60 }, frame(60, 1, sent)))).toBe(NETDEV_TX_OK);
      sent++;
      expect(sent).toBeLessThanOrEqual(NET_TX_RING_SIZE);
    }
    // Stopped with exactly RING_SIZE - (18 + 1) requests outstanding.
    expect(sent).toBe(NET_TX_RING_SIZE - XEN_NETIF_NR_SLOTS_MIN - 1);
    const held = compose(w, { linearLen: 60 }, frame(60));
    expect(w.fe.startXmit(held)).toBe(NETDEV_TX_BUSY);
    expect(held.users).toBe(1); // still the caller's
    expect(w.fe.stats().txQueueStops).toBe(1);
    w.be.processTx();
    w.run();
    expect(w.fe.isQueueStopped(0)).toBe(false);
    expect(w.wakes).toEqual([0]);
    expect(w.fe.startXmit(held)).toBe(NETDEV_TX_OK);
    w.be.processTx();
    w.run();
    expect(w.be.packets).toHaveLength(sent + 1);
    expect(w.fe.stats()).toMatchObject({ txQueueWakes: 1, txPackets: sent + 1, txDropped: 0 });
    expect(w.fe.outstanding().txInFlight).toBe(0);
  });

  it("counts error responses and ignores NULL ones", () => {
    const w = makeWorld();
    w.run();
    w.be.txStatus = -1;
    w.fe.startXmit(compose(w, { linearLen: 5000, linearOffset: 64 }, frame(5000)));
    w.run();
    expect(w.fe.stats().txRspError).toBe(2);
    expect(NETIF_RSP_NULL).toBe(1);
    expect(w.fe.outstanding().txInFlight).toBe(0);
    expect(w.fe.broken).toBe(false);
  });
});
