import { NETRXF_csum_blank, NETRXF_data_validated, NETRXF_extra_info, NETRXF_more_data, XEN_NETIF_EXTRA_TYPE_XDP, XEN_NETIF_GSO_TYPE_TCPV4 } from "@pvnet/netif";
import { PAGE_SIZE, SKB_GSO_TCPV4, skbTruesize } from "@pvnet/skb-model";
import { XBT_NIL, XenbusState, xenbusRead } from "@pvnet/xenstore";
import { describe, expect, it } from "vitest";
import { NET_RX_RING_SIZE, RX_BUILD_SKB_HEADROOM, RX_BUILD_SKB_MAX_END, RX_BUILD_SKB_TAILROOM, RX_COPY_THRESHOLD } from "../src/index.js";
import { allStats, type CraftedRxResponse, craftRxResponses, frame, makeWorld, type World } from "./world.js";

const CLEAN = { grants: 0, reservedRefs: 0, deferredGrants: 0, txInFlight: 0, rxPosted: 0, evtchns: 0 };

function world(build: boolean, xdpHeadroom = true): World {
  const w = makeWorld({ features: { xdpHeadroom }, netfront: { rxBuildSkb: build } });
  w.run();
  return w;
}

function freeReceived(w: World): void {
  for (const skb of w.received) skb.free();
  w.received.length = 0;
}

function teardownIsClean(w: World): void {
  freeReceived(w);
  w.fe.close();
  w.run();
  expect(w.fe.state).toBe(XenbusState.Closed);
  w.skbs.drain();
  expect(w.fe.outstanding()).toEqual(CLEAN);
  expect(w.pool.pagesInUse).toBe(0);
  expect(w.skbs.liveSkbs).toBe(0);
  expect(w.grants.outstanding(w.domU).pins).toBe(0);
}

/** The three sizes of the issue, GSO for the 64 KiB one. */
function sendThree(w: World): Uint8Array[] {
  const small = frame(64);
  const mid = frame(1496, 2, 0, 6);
  const big = frame(65535, 3, 0, 6);
  expect(w.be.sendRx(small, { flags: NETRXF_data_validated })).toBe(true);
  expect(w.be.sendRx(mid, { flags: NETRXF_csum_blank | NETRXF_data_validated })).toBe(true);
  expect(w.be.sendRx(big, { flags: NETRXF_csum_blank, gso: { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 } })).toBe(true);
  w.run();
  return [small, mid, big];
}

describe("build_skb RX: an skb around the receive page", () => {
  it("negotiates the headroom in xenstore: NET_SKB_PAD + NET_IP_ALIGN with build_skb, 0 on the copy path", () => {
    const b = world(true);
    expect(xenbusRead(b.store.connect(0), XBT_NIL, b.fe.info.xbdev.nodename, "xdp-headroom")).toBe(String(RX_BUILD_SKB_HEADROOM));
    expect(b.be.xdpHeadroom).toBe(RX_BUILD_SKB_HEADROOM);
    const c = world(false);
    expect(xenbusRead(c.store.connect(0), XBT_NIL, c.fe.info.xbdev.nodename, "xdp-headroom")).toBe("0");
    expect(c.be.xdpHeadroom).toBe(0);
    expect(RX_BUILD_SKB_TAILROOM).toBe(320);
    expect(RX_BUILD_SKB_MAX_END).toBe(PAGE_SIZE - 320);
  });

  it("delivers 64, 1496 and 65535 bytes byte-exact on both paths; build_skb copies no header of the small ones", () => {
    for (const build of [false, true]) {
      const w = world(build);
      const sent = sendThree(w);
      expect(w.received.map((s) => s.toBytes())).toEqual(sent);
      const [a, b, c] = w.received;
      if (a === undefined || b === undefined || c === undefined) throw new Error("missing");
      expect(c.shinfo.gsoSize).toBe(1448);
      expect(c.shinfo.gsoType & SKB_GSO_TCPV4).not.toBe(0);
      const st = allStats(w);
      expect(st).toMatchObject({ rxPackets: 3, rxBytes: 64 + 1496 + 65535, rxErrors: 0 });
      if (build) {
        // 64 and 1496: the page is the head, the data after the negotiated headroom.
        for (const s of [a, b]) {
          expect(s.shinfo.nrFrags).toBe(0);
          expect(s.headroom).toBe(RX_BUILD_SKB_HEADROOM);
          expect(s.headFrag).toBe(true);
          expect(s.endOffset).toBe(RX_BUILD_SKB_MAX_END);
        }
        expect(b.headlen).toBe(1496);
        // 64 KiB: the backend fills each page to its end, over the shinfo tailroom: a small
        // head and the pages as frags (17 of 4032 bytes), as the copy path lays it out.
        expect(c.headlen).toBe(RX_COPY_THRESHOLD);
        expect(c.shinfo.nrFrags).toBe(17);
        expect(st).toMatchObject({ rxBuildSkb: 2, rxBuildSkbNoTailroom: 1, rxSplitHeaderCopies: 0 });
      } else {
        expect(a.shinfo.nrFrags).toBe(0);
        expect(b.headlen).toBe(RX_COPY_THRESHOLD);
        expect(c.shinfo.nrFrags).toBe(16);
        expect(st).toMatchObject({ rxBuildSkb: 0, rxBuildSkbNoTailroom: 0 });
      }
      expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
      teardownIsClean(w);
    }
  });

  it("accounts truesize as Linux: SKB_TRUESIZE(PAGE_SIZE - shinfo) around the page; head + PAGE_SIZE per frag otherwise", () => {
    const b = world(true);
    sendThree(b);
    const [a, m, c] = b.received;
    // __build_skb_around(data, PAGE_SIZE): truesize = SKB_TRUESIZE(4096 - 320) = 3776 + 256 + 320.
    expect(a?.truesize).toBe(skbTruesize(RX_BUILD_SKB_MAX_END));
    expect(a?.truesize).toBe(4352);
    expect(m?.truesize).toBe(4352);
    // The 64 KiB packet: napi_alloc_skb(RX_COPY_THRESHOLD), a kmalloc head of SKB_TRUESIZE(320)
    // = 896, plus 17 pages of PAGE_SIZE (4032 bytes each after the headroom).
    expect(c?.truesize).toBe(skbTruesize(RX_COPY_THRESHOLD + RX_BUILD_SKB_HEADROOM) + 17 * PAGE_SIZE);
    expect(c?.truesize).toBe(70528);
    const k = world(false);
    sendThree(k);
    const [ka, km, kc] = k.received;
    // Copy path: netdev_alloc_skb(RX_COPY_THRESHOLD)'s head (896) plus the whole page
    // skb_add_rx_frag gave up (still in truesize after the pull emptied the frag).
    expect(ka?.truesize).toBe(896 + PAGE_SIZE);
    expect(km?.truesize).toBe(896 + PAGE_SIZE);
    expect(kc?.truesize).toBe(896 + 16 * PAGE_SIZE);
    // build_skb accounts less for a small packet (one page, no separate head), and the shinfo
    // reserved in every buffer costs the 64 KiB packet one more page.
    expect((ka?.truesize ?? 0) - (a?.truesize ?? 0)).toBe(640);
    expect((c?.truesize ?? 0) - (kc?.truesize ?? 0)).toBe(PAGE_SIZE);
    // The sk_buffs allocated: one per packet on the build_skb path (none posted with the
    // buffers), one per posted buffer plus one per packet on the copy path.
    expect(b.skbs.stats.allocs).toBe(3);
    expect(k.skbs.stats.allocs).toBeGreaterThan(NET_RX_RING_SIZE);
    teardownIsClean(b);
    teardownIsClean(k);
  });

  it("a header split over many tiny buffers is detected and copied into a fresh head; the copy path pulls the first slot only", () => {
    for (const build of [false, true]) {
      const w = world(build);
      const f = frame(300, 4, 0, 6);
      expect(w.be.sendRx(f, { chunk: 20 })).toBe(true); // 15 buffers of 20 bytes
      w.run();
      const skb = w.received[0];
      expect(skb?.toBytes()).toEqual(f);
      if (build) {
        expect(allStats(w).rxSplitHeaderCopies).toBe(1);
        expect(skb?.headlen).toBe(RX_COPY_THRESHOLD); // the headers, whole, in the linear area
      } else {
        expect(skb?.headlen).toBe(20);
      }
      teardownIsClean(w);
    }
  });

  it("works without feature-xdp-headroom: data at offset 0, an skb with no headroom, byte-exact", () => {
    const w = world(true, false);
    const f = frame(1000);
    expect(w.be.sendRx(f)).toBe(true);
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(f);
    expect(w.received[0]?.headroom).toBe(0);
    expect(allStats(w).rxBuildSkb).toBe(1);
    teardownIsClean(w);
  });

  it("a hostile backend's responses are dropped and counted exactly as on the copy path, never thrown", () => {
    const hostile: CraftedRxResponse[][] = [
      [{ offset: 4000, status: 200 }], // past the page
      [{ offset: 0xffff, status: 1 }],
      [{ offset: 0, status: 4097 }],
      [{ offset: 0, status: -1 }],
      [{ status: 100, flags: NETRXF_more_data }, { offset: 4095, status: 2 }],
      // Headroom violation: the XDP extra names a headroom that pushes the data past the page.
      [{ status: 200, flags: NETRXF_extra_info }, { extra: XEN_NETIF_EXTRA_TYPE_XDP, xdpHeadroom: 4000 }],
      // A sane XDP extra: the data at its headroom.
      [{ status: 200, flags: NETRXF_extra_info }, { extra: XEN_NETIF_EXTRA_TYPE_XDP, xdpHeadroom: 64 }],
      // Tailroom violation: data over the shinfo area: valid, delivered (page as a frag).
      [{ offset: 100, status: 3900 }],
      // Headroom ignored: data at 0 instead of the headroom asked for: valid, delivered.
      [{ offset: 0, status: 60 }],
      [{ status: 100, flags: NETRXF_more_data }], // chain cut short at rsp_prod
    ];
    const results = [false, true].map((build) => {
      const w = world(build);
      for (const rsps of hostile) craftRxResponses(w, rsps);
      const st = allStats(w);
      const out = { rxErrors: st.rxErrors, rxPackets: st.rxPackets, lens: w.received.map((s) => s.len), broken: w.fe.broken, alerts: w.fe.alerts.length };
      expect(w.fe.outstanding().rxPosted).toBeGreaterThan(NET_RX_RING_SIZE - 3);
      if (build) expect(st.rxBuildSkbNoTailroom).toBe(1);
      teardownIsClean(w);
      return out;
    });
    expect(results[1]).toEqual(results[0]);
    expect(results[0]?.rxErrors).toBe(7);
    expect(results[0]?.lens).toEqual([200, 3900, 60]);
    expect(results[0]?.broken).toBe(false);
  });
});
