import {
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  newRxRequest,
  readRxRequest,
  writeRxResponse,
  XEN_NETIF_GSO_TYPE_TCPV4,
} from "@pvnet/netif";
import { CHECKSUM_NONE, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, type Page, putPage, SKB_GSO_DODGY, SKB_GSO_TCPV4 } from "@pvnet/skb-model";
import { GNTMAP, GNTST, GnttabMapBatch, GnttabUnmapBatch } from "@pvnet/xen-grant-table";
import { describe, expect, it } from "vitest";
import { NET_RX_SLOTS_MIN, RX_REFILL_TIMEOUT_NS } from "../src/common.js";
import { NET_RX_RING_SIZE, RX_COPY_THRESHOLD } from "../src/index.js";
import { xennetHandleRx } from "../src/rx.js";
import { frame, makeWorld, type World, craftRxResponses, type CraftedRxResponse } from "./world.js";

type Rsp = CraftedRxResponse;


function freeReceived(w: World): void {
  for (const skb of w.received) skb.free();
  w.received.length = 0;
}

describe("RX: refill and skb assembly", () => {
  it("delivers 64, 1496 and 65535-byte (GSO) packets byte-exact, headers pulled up to 256 bytes", () => {
    const w = makeWorld();
    w.run();
    const small = frame(64);
    expect(w.be.sendRx(small, { flags: NETRXF_data_validated })).toBe(true);
    const mid = frame(1496, 2, 0, 6);
    expect(w.be.sendRx(mid, { flags: NETRXF_csum_blank | NETRXF_data_validated })).toBe(true);
    const big = frame(65535, 3, 0, 6);
    expect(w.be.sendRx(big, { flags: NETRXF_csum_blank, gso: { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 } })).toBe(true);
    w.run();
    expect(w.received).toHaveLength(3);
    const [a, b, c] = w.received;
    if (a === undefined || b === undefined || c === undefined) throw new Error("missing");
    expect(a.toBytes()).toEqual(small);
    expect(a.headlen).toBe(64);
    expect(a.shinfo.nrFrags).toBe(0); // the whole packet was copied; its page went back
    expect(a.ipSummed).toBe(CHECKSUM_UNNECESSARY);
    expect(a.protocol).toBe(0x0800);

    expect(b.toBytes()).toEqual(mid);
    expect(b.headlen).toBe(RX_COPY_THRESHOLD);
    expect(b.shinfo.nrFrags).toBe(1);
    expect(b.shinfo.frags[0]?.size).toBe(1496 - RX_COPY_THRESHOLD);
    expect(b.ipSummed).toBe(CHECKSUM_PARTIAL);
    expect(b.csumStart - b.data).toBe(14 + 20); // TCP header after Ethernet + IPv4
    expect(b.csumOffset).toBe(16);

    expect(c.len).toBe(65535);
    expect(c.toBytes()).toEqual(big);
    expect(c.headlen).toBe(RX_COPY_THRESHOLD);
    expect(c.shinfo.nrFrags).toBe(16);
    expect(c.shinfo.gsoSize).toBe(1448);
    expect(c.shinfo.gsoType).toBe(SKB_GSO_TCPV4 | SKB_GSO_DODGY);
    expect(c.shinfo.gsoSegs).toBe(0);

    const st = w.fe.stats();
    expect(st).toMatchObject({ rxPackets: 3, rxBytes: 64 + 1496 + 65535, rxErrors: 0, rxGsoChecksumFixup: 0 });
    // The ring was refilled: every slot holds a granted buffer again.
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    expect(w.be.queues[0]?.rx.unconsumedRequests()).toBe(NET_RX_RING_SIZE);
    freeReceived(w);
  });

  it("fixes up a GSO packet without csum_blank (rx_gso_checksum_fixup) with the pseudo-header sum", () => {
    const w = makeWorld();
    w.run();
    const f = frame(3000, 5, 0, 6);
    w.be.sendRx(f, { gso: { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 } });
    w.run();
    const skb = w.received[0];
    if (skb === undefined) throw new Error("missing");
    expect(w.fe.stats().rxGsoChecksumFixup).toBe(1);
    expect(skb.ipSummed).toBe(CHECKSUM_PARTIAL);
    // ~csum_tcpudp_magic(saddr, daddr, len, TCP, 0): the folded pseudo-header sum.
    const v = new DataView(f.buffer);
    let sum = v.getUint16(26) + v.getUint16(28) + v.getUint16(30) + v.getUint16(32) + 6 + (3000 - 34);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const out = skb.toBytes();
    expect((out[50] as number) * 256 + (out[51] as number)).toBe(sum);
    freeReceived(w);
  });

  it("polls with a budget: 150 packets in one notification take several NAPI polls", () => {
    const w = makeWorld({ netfront: { napiBudget: 64 } });
    w.run();
    const polls = w.fe.stats().napiPolls;
    for (let i = 0; i < 150; i++) expect(w.be.sendRx(frame(100, 1, i), { notify: i === 149 })).toBe(true);
    w.run();
    expect(w.received).toHaveLength(150);
    w.received.forEach((skb, i) => {
      expect(skb.toBytes()).toEqual(frame(100, 1, i));
    });
    expect(w.fe.stats().napiPolls - polls).toBeGreaterThanOrEqual(3);
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    freeReceived(w);
  });

  it("arms the refill timer when buffers cannot be allocated and refills once memory is back", () => {
    const w = makeWorld();
    w.run();
    const hog: Page[] = [];
    for (let p = w.pool.allocPage(); p !== null; p = w.pool.allocPage()) hog.push(p);
    // 1000-byte packets keep their pages as frags, so the pool cannot give them back.
    for (let i = 0; i < 240; i++) w.be.sendRx(frame(1000, 1, i), { notify: i === 239 });
    w.hv.run({ untilNs: w.hv.sim.clock.now() + RX_REFILL_TIMEOUT_NS / 2 });
    expect(w.received).toHaveLength(240);
    expect(w.fe.stats().rxRefillShort).toBeGreaterThan(0);
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE - 240);
    expect(w.fe.outstanding().rxPosted).toBeLessThan(NET_RX_SLOTS_MIN);
    freeReceived(w);
    for (const p of hog) putPage(p);
    w.run(); // the timer fires, NAPI refills
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    expect(w.be.queues[0]?.rx.unconsumedRequests()).toBe(NET_RX_RING_SIZE);
  });
});

describe("RX: a backend is not trusted", () => {
  it("drops a response whose offset + size crosses the page, and re-posts its buffer", () => {
    const w = makeWorld();
    w.run();
    craftRxResponses(w, [{ offset: 4000, status: 200 }]);
    expect(w.received).toHaveLength(0);
    expect(w.fe.stats().rxErrors).toBe(1);
    expect(w.fe.broken).toBe(false);
    expect(w.fe.alerts.at(-1)).toMatch(/rx->offset: 4000, size: 200/);
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    // Still works afterwards.
    w.be.sendRx(frame(80));
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(frame(80));
    freeReceived(w);
  });

  it("drops error statuses, bad extras, incomplete and over-long chains, counted as rx_errors", () => {
    const w = makeWorld();
    w.run();
    craftRxResponses(w, [{ status: -1 }]); // NETIF_RSP_ERROR
    craftRxResponses(w, [{ status: 100, flags: NETRXF_extra_info }, { extra: 9 }]); // invalid extra type
    craftRxResponses(w, [{ status: 100, flags: NETRXF_extra_info }, { extra: 1, gsoSize: 0, gsoType: 1 }]); // GSO size 0
    craftRxResponses(w, [{ status: 100, flags: NETRXF_more_data }]); // chain runs past rsp_prod
    const long: Rsp[] = Array.from({ length: 20 }, (_, i) => ({ status: 100, flags: i < 19 ? NETRXF_more_data : 0 }));
    craftRxResponses(w, long); // 20 slots > 18 + 1
    expect(w.received).toHaveLength(0);
    expect(w.fe.stats().rxErrors).toBe(5);
    expect(w.fe.broken).toBe(false);
    expect(w.fe.alerts.join("\n")).toMatch(/Invalid extra type: 9[\s\S]*Need more slots[\s\S]*Too many slots/);
    // Every slot was consumed and every buffer is posted again; traffic flows.
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    w.be.sendRx(frame(300));
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(frame(300));
    freeReceived(w);
  });

  it("ignores the response id (buffers are found by ring position, as in Linux)", () => {
    const w = makeWorld();
    w.run();
    const f = frame(64);
    const back = w.be.queues[0]?.rx;
    if (back === undefined) throw new Error("not connected");
    // Fill the first posted buffer properly, then give the response a bogus id.
    w.be.sendRx(f, { notify: false });
    const at = back.rspProdPvt - 1;
    back.writeResponse(at, writeRxResponse, { id: 999, offset: 0, flags: 0, status: 64 });
    w.be.kickRx();
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(f);
    freeReceived(w);
  });

  it("disables the device when rsp_prod jumps past the ring, without touching memory", () => {
    const w = makeWorld();
    w.run();
    const sring = w.be.queues[0]?.rx.sring;
    if (sring === undefined) throw new Error("not connected");
    sring.rspProd = (sring.rspProd + 1000) >>> 0;
    w.be.kickRx();
    w.run();
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Illegal number of responses 1000");
    expect(w.received).toHaveLength(0);
    // A broken device drops what it is asked to send.
    const skb = w.composer.compose({ linearLen: 60 }, frame(60));
    if (skb === null) throw new Error("compose");
    w.fe.startXmit(skb);
    expect(w.fe.stats().txDropped).toBe(1);
  });

  it("disables the device when the RX producer index goes backwards", () => {
    const w = makeWorld();
    w.run();
    const q = w.fe.info.queues[0];
    const sring = w.be.queues[0]?.rx.sring;
    if (q === undefined || sring === undefined) throw new Error("not connected");
    w.be.sendRx(frame(60), { notify: false });
    expect(xennetHandleRx(q)).toBe(true); // sees one response
    sring.rspProd = (sring.rspProd - 1) >>> 0;
    expect(xennetHandleRx(q)).toBe(false);
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: RX producer index going backwards");
    w.run();
    expect(w.received).toHaveLength(0);
  });

  it("disables the device when the backend keeps a buffer mapped, and releases it once unmapped", () => {
    const w = makeWorld();
    w.run();
    const back = w.be.queues[0]?.rx;
    if (back === undefined) throw new Error("not connected");
    const req = newRxRequest();
    back.copyRequest(back.reqCons, readRxRequest, req);
    const map = new GnttabMapBatch(1);
    map.add(0x2000_0000_0000, GNTMAP.host_map, req.gref, w.domU.domid);
    w.grants.mapGrantRef(w.dom0.vcpus[0]!, map);
    expect(map.status[0]).toBe(GNTST.okay);
    craftRxResponses(w, [{ status: 60 }]);
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Grant still in use by backend domain");
    expect(w.fe.outstanding().deferredGrants).toBe(1);
    // The backend lets go; the deferred grant is ended and its page freed.
    const unmap = new GnttabUnmapBatch(1);
    unmap.add(0x2000_0000_0000, map.handle[0] as number);
    w.grants.unmapGrantRef(w.dom0.vcpus[0]!, unmap);
    expect(w.fe.outstanding().deferredGrants).toBe(0);
    expect(CHECKSUM_NONE).toBe(0);
  });
});

describe("RX: MAX_SKB_FRAGS", () => {
  it("an 18-slot chain fits only when pulling the first slot frees its frag (xennet_fill_frags)", () => {
    const w = makeWorld();
    w.run();
    const small = new Uint8Array(18 * 200).map((_, i) => i & 0xff);
    w.be.sendRx(small, { chunk: 200 }); // first slot 200 <= 256: pulled whole, its frag freed
    const big = new Uint8Array(18 * 300).map((_, i) => (i * 3) & 0xff);
    w.be.sendRx(big, { chunk: 300 }); // first slot 300: 256 pulled, 17 frags stay: dropped
    w.run();
    expect(w.received).toHaveLength(1);
    expect(w.received[0]?.toBytes()).toEqual(small);
    expect(w.received[0]?.shinfo.nrFrags).toBe(17);
    expect(w.fe.stats().rxErrors).toBe(1);
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    freeReceived(w);
  });
});
