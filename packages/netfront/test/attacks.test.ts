/**
 * Attack catalogue: netfront facing a malicious backend. One scenario per advisory or bug class;
 * each title names the Xen advisory (XSA) or the Linux commit whose behaviour it replays. The
 * backend is the test backend of peer.ts, driven by hand through its rings and grant operations.
 */
import { DOMID_SELF, type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import {
  NETIF_RSP_OKAY,
  NETRXF_csum_blank,
  NETRXF_extra_info,
  NETRXF_more_data,
  newRxRequest,
  newTxRequest,
  readRxRequest,
  readTxRequest,
  writeRxResponse,
  writeTxResponse,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
} from "@pvnet/netif";
import { putPage } from "@pvnet/skb-model";
import { GNTCOPY, GNTMAP, GNTST, GnttabCopyBatch, GnttabMapBatch, GnttabUnmapBatch } from "@pvnet/xen-grant-table";
import { XenbusState } from "@pvnet/xenstore";
import { describe, expect, it } from "vitest";
import { HZ } from "../src/events.js";
import { NET_RX_RING_SIZE, NETDEV_TX_OK } from "../src/index.js";
import { xennetHandleRx } from "../src/rx.js";
import { frame, makeWorld, type World, craftRxResponses, type CraftedRxResponse } from "./world.js";

type Rsp = CraftedRxResponse;

const CLEAN = { grants: 0, reservedRefs: 0, deferredGrants: 0, txInFlight: 0, rxPosted: 0, evtchns: 0 };

function rxBack(w: World) {
  const back = w.be.queues[0]?.rx;
  if (back === undefined) throw new Error("not connected");
  return back;
}

function txBack(w: World) {
  const back = w.be.queues[0]?.tx;
  if (back === undefined) throw new Error("not connected");
  return back;
}


function send(w: World, bytes: Uint8Array): void {
  const skb = w.composer.compose({ linearLen: bytes.length }, bytes);
  if (skb === null) throw new Error("compose");
  expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
}

/** The backend grant-copies a whole 4 KiB page out of `gref` (what a mapping lets it read). */
function readWholeGrant(w: World, gref: number): Uint8Array {
  const v0 = w.dom0.vcpus[0] as Vcpu;
  const gfn = w.dom0.allocPage();
  const c = new GnttabCopyBatch(1);
  c.add(gref, w.domU.domid, 0, gfn, DOMID_SELF, 0, XEN_PAGE_SIZE, GNTCOPY.source_gref);
  w.grants.copy(v0, c);
  expect(c.status[0]).toBe(GNTST.okay);
  const off = w.dom0.pageOffset(gfn);
  return w.hv.machine.bytes.slice(off, off + XEN_PAGE_SIZE);
}

function mapGrant(w: World, gref: number, flags: number, addr: number): number {
  const m = new GnttabMapBatch(1);
  m.add(addr, flags, gref, w.domU.domid);
  w.grants.mapGrantRef(w.dom0.vcpus[0] as Vcpu, m);
  expect(m.status[0]).toBe(GNTST.okay);
  return m.handle[0] as number;
}

function unmapGrant(w: World, addr: number, handle: number): void {
  const u = new GnttabUnmapBatch(1);
  u.add(addr, handle);
  w.grants.unmapGrantRef(w.dom0.vcpus[0] as Vcpu, u);
}

function freeReceived(w: World): void {
  for (const skb of w.received) skb.free();
  w.received.length = 0;
}

/** Close from the frontend, let both ends reach Closed, and check nothing is left behind. */
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

describe("netfront attack catalogue: runts and malformed RX responses", () => {
  it("runt frames (0..13 bytes) are counted as received and dropped as Linux's stack drops them, never handed up", () => {
    const w = makeWorld();
    w.run();
    for (let len = 0; len < 14; len++) craftRxResponses(w, [{ status: len }]);
    expect(w.received).toHaveLength(0);
    expect(w.fe.stats()).toMatchObject({ rxPackets: 14, rxRunts: 14, rxErrors: 0, rxBytes: (13 * 14) / 2 });
    // With csum_blank the checksum setup fails first (-EPROTO): an rx_error, as in Linux.
    craftRxResponses(w, [{ status: 5, flags: NETRXF_csum_blank }]);
    expect(w.fe.stats()).toMatchObject({ rxPackets: 14, rxRunts: 14, rxErrors: 1 });
    // 14 bytes is a frame.
    const f14 = frame(64).slice(0, 14);
    expect(w.be.sendRx(f14)).toBe(true);
    w.run();
    expect(w.received.map((s) => s.len)).toEqual([14]);
    expect(w.fe.broken).toBe(false);
    teardownIsClean(w);
  });

  it("an Ethernet header split over 6-byte slots (Linux's __skb_pull would BUG) arrives byte-exact with its protocol", () => {
    const w = makeWorld();
    w.run();
    const f = frame(106);
    expect(w.be.sendRx(f, { chunk: 6 })).toBe(true); // 18 slots: the most a short head allows
    w.run();
    expect(w.received).toHaveLength(1);
    const skb = w.received[0];
    expect(skb?.toBytes()).toEqual(f);
    expect(skb?.protocol).toBe(0x0800);
    expect(skb?.headlen).toBeGreaterThanOrEqual(14);
    teardownIsClean(w);
  });

  it("'xen/netfront: don't trust the backend response data blindly' (Linux 2021): offsets and sizes outside the page are dropped, buffers re-posted", () => {
    const w = makeWorld();
    w.run();
    craftRxResponses(w, [{ offset: 4000, status: 200 }]);
    craftRxResponses(w, [{ offset: 0xffff, status: 1 }]);
    craftRxResponses(w, [{ offset: 0, status: 4097 }]);
    craftRxResponses(w, [{ offset: 0, status: -1 }]);
    craftRxResponses(w, [{ status: 100, flags: NETRXF_more_data }, { offset: 4095, status: 2 }]);
    expect(w.received).toHaveLength(0);
    expect(w.fe.stats().rxErrors).toBe(5);
    expect(w.fe.broken).toBe(false);
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    expect(w.be.sendRx(frame(4096))).toBe(true); // offset 0 + 4096 is the whole page: fine
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(frame(4096));
    teardownIsClean(w);
  });

  it("an endless extra-info chain ends at rsp_prod ('Missing extra info'), counted, nothing leaked", () => {
    const w = makeWorld();
    w.run();
    const chain: Rsp[] = [{ status: 100, flags: NETRXF_extra_info }];
    for (let i = 0; i < 40; i++) chain.push({ extra: XEN_NETIF_EXTRA_TYPE_GSO, flags: XEN_NETIF_EXTRA_FLAG_MORE, gsoSize: 1448, gsoType: 1 });
    craftRxResponses(w, chain);
    expect(w.received).toHaveLength(0);
    expect(w.fe.stats().rxErrors).toBe(1);
    expect(w.fe.alerts.at(-1)).toBe("q0: Missing extra info");
    expect(w.fe.broken).toBe(false);
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    teardownIsClean(w);
  });
});

describe("netfront attack catalogue: ids and producer indices", () => {
  it("'xen/netfront: don't trust the backend response data blindly': a TX response id out of range disables the device", () => {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    send(w, frame(60));
    const back = txBack(w);
    back.consumeRequest();
    back.writeResponse(back.produceResponse(), writeTxResponse, { id: 0xffff, status: NETIF_RSP_OKAY });
    back.pushResponses();
    w.be.kickTx();
    w.run();
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Response has incorrect id (65535)");
    teardownIsClean(w);
  });

  it("a duplicated TX response id ('Response for inactive request') disables the device; the packet is freed once", () => {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    send(w, frame(60, 1, 0));
    send(w, frame(60, 1, 1));
    const back = txBack(w);
    const req = newTxRequest();
    back.copyRequest(back.reqCons, readTxRequest, req);
    for (let i = 0; i < 2; i++) {
      back.consumeRequest();
      back.writeResponse(back.produceResponse(), writeTxResponse, { id: req.id, status: NETIF_RSP_OKAY });
    }
    back.pushResponses();
    w.be.kickTx();
    w.run();
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Response for inactive request");
    expect(w.fe.outstanding().txInFlight).toBe(1); // the first response freed its packet, once
    teardownIsClean(w);
  });

  it("RING_RESPONSE_PROD_OVERFLOW: rsp_prod jumping ahead on either ring disables the device without touching memory", () => {
    for (const ring of ["rx", "tx"] as const) {
      const w = makeWorld();
      w.run();
      const sring = ring === "rx" ? rxBack(w).sring : txBack(w).sring;
      sring.rspProd = (sring.rspProd + 0x8000_0000) >>> 0;
      if (ring === "rx") w.be.kickRx();
      else w.be.kickTx();
      w.run();
      expect(w.fe.broken).toBe(true);
      expect(w.fe.alerts).toContain(`q0: Illegal number of responses ${0x8000_0000}`);
      expect(w.received).toHaveLength(0);
      // A disabled device drops what the stack sends (tx_dropped) and still tears down cleanly.
      send(w, frame(60));
      expect(w.fe.stats().txDropped).toBe(1);
      teardownIsClean(w);
    }
  });

  it("'xen/netfront: harden netfront against event channel storms': the RX producer index going backwards disables the device", () => {
    const w = makeWorld();
    w.run();
    w.be.sendRx(frame(60), { notify: false });
    const q = w.fe.info.queues[0];
    if (q === undefined) throw new Error("no queue");
    expect(xennetHandleRx(q)).toBe(true); // the interrupt sees one response
    const sring = rxBack(w).sring;
    sring.rspProd = (sring.rspProd - 1) >>> 0; // withdrawn before NAPI ran
    w.be.kickRx();
    w.run();
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: RX producer index going backwards");
    teardownIsClean(w);
  });
});

describe("netfront attack catalogue: grants the backend keeps (XSA-396)", () => {
  it("XSA-396 (CVE-2022-23037/23042): an RX buffer still mapped at end of access disables the device; its page is held, not reused, until unmapped", () => {
    const w = makeWorld();
    w.run();
    const back = rxBack(w);
    const req = newRxRequest();
    back.copyRequest(back.reqCons, readRxRequest, req);
    const before = readWholeGrant(w, req.gref); // what the mapping shows
    expect(before.every((b) => b === 0)).toBe(true);
    const addr = 0x2000_0000_0000;
    const handle = mapGrant(w, req.gref, GNTMAP.host_map, addr);
    craftRxResponses(w, [{ status: 60 }]);
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Grant still in use by backend domain");
    const held = w.fe.info.deferred[0];
    expect(held?.ref).toBe(req.gref);
    const frameHeld = held?.page.gfns[0];
    // Teardown ends everything else; the mapped page stays allocated and is handed to no one.
    freeReceived(w);
    w.fe.remove();
    w.run();
    w.skbs.drain();
    expect(w.fe.outstanding()).toMatchObject({ deferredGrants: 1, grants: 0, rxPosted: 0, evtchns: 0 });
    expect(w.pool.pagesInUse).toBe(1);
    const grabbed = [];
    for (let p = w.pool.allocPage(); p !== null; p = w.pool.allocPage()) grabbed.push(p);
    expect(grabbed.some((p) => p.gfns[0] === frameHeld)).toBe(false);
    for (const p of grabbed) putPage(p);
    // The backend lets go: the grant is ended and the page freed.
    unmapGrant(w, addr, handle);
    expect(w.fe.outstanding()).toEqual(CLEAN);
    expect(w.pool.pagesInUse).toBe(0);
  });

  it("XSA-396 (CVE-2022-23037/23041): a TX grant still mapped when the response comes disables the device; teardown defers it with its page", () => {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    send(w, frame(60));
    const back = txBack(w);
    const req = newTxRequest();
    back.copyRequest(back.reqCons, readTxRequest, req);
    const addr = 0x2000_0000_0000;
    const handle = mapGrant(w, req.gref, GNTMAP.host_map | GNTMAP.readonly, addr);
    back.consumeRequest();
    back.writeResponse(back.produceResponse(), writeTxResponse, { id: req.id, status: NETIF_RSP_OKAY });
    back.pushResponses();
    w.be.kickTx();
    w.run();
    expect(w.fe.broken).toBe(true);
    expect(w.fe.alerts).toContain("q0: Grant still in use by backend domain");
    w.fe.remove();
    w.run();
    w.skbs.drain();
    expect(w.fe.outstanding()).toMatchObject({ deferredGrants: 1, txInFlight: 0, grants: 0 });
    expect(w.pool.pagesInUse).toBe(1); // the packet's page lives on while the backend maps it
    unmapGrant(w, addr, handle);
    expect(w.fe.outstanding()).toEqual(CLEAN);
    expect(w.pool.pagesInUse).toBe(0);
  });
});

describe("netfront attack catalogue: data leaks through shared pages (XSA-403)", () => {
  it("XSA-403 (CVE-2022-33740): RX buffers are zeroed before they are granted, even when recycled from dirty pages", () => {
    const w = makeWorld();
    // Before the device connects, the guest uses and frees pages full of secrets.
    const dirty = [];
    for (let i = 0; i < 64; i++) {
      const p = w.pool.allocPage();
      if (p === null) throw new Error("pool");
      w.hv.machine.fill(p.addr(0), 0xaa, XEN_PAGE_SIZE);
      dirty.push(p);
    }
    const dirtyFrames = new Set(dirty.map((p) => p.gfns[0]));
    for (const p of dirty) putPage(p);
    w.run(); // connect: 256 RX buffers posted
    const q = w.fe.info.queues[0];
    if (q === undefined) throw new Error("no queue");
    let reused = 0;
    for (let i = 0; i < NET_RX_RING_SIZE; i++) {
      const skb = q.rxSkbs[i];
      if (skb === null || skb === undefined) continue;
      if (dirtyFrames.has(skb.shinfo.frags[0]?.page?.gfns[0])) reused++;
      expect(readWholeGrant(w, q.grantRxRef[i] as number).every((b) => b === 0)).toBe(true);
    }
    expect(reused).toBeGreaterThan(0); // the test did hand dirty pages to the RX ring
    teardownIsClean(w);
  });

  it("XSA-403 (CVE-2022-33741): with trusted=0 a TX packet is bounced, so the granted page shows nothing but the packet", () => {
    for (const trusted of [true, false]) {
      const w = makeWorld({ trusted });
      w.run();
      w.be.autoTx = false;
      const f = frame(200);
      const skb = w.skbs.allocSkb(f.length);
      if (skb === null) throw new Error("alloc");
      skb.putData(f);
      // Other data of the guest shares the packet's 4 KiB page, past the skb's own buffer and
      // its shared info (bounce_skb copies headroom + data and nothing else).
      const head = skb.headPage;
      const past = skb.head + skb.endOffset + 512;
      expect(past).toBeLessThan(XEN_PAGE_SIZE);
      w.hv.machine.fill(head.addr(past), 0x5e, XEN_PAGE_SIZE - past);
      expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
      const back = txBack(w);
      const req = newTxRequest();
      back.copyRequest(back.reqCons, readTxRequest, req);
      const page = readWholeGrant(w, req.gref);
      expect(page.slice(req.offset, req.offset + req.size)).toEqual(f);
      const leaked = page.some((b, i) => (i < req.offset || i >= req.offset + req.size) && b === 0x5e);
      expect(leaked).toBe(trusted); // trusted: the neighbours are visible, as in Linux
      expect(w.fe.stats().txBounced).toBe(trusted ? 0 : 1);
      w.be.processTx();
      w.run();
      teardownIsClean(w);
    }
  });
});

describe("netfront attack catalogue: event storms and double fetches", () => {
  it("XSA-391 (CVE-2021-28712): an event storm is backed off by late EOI: a few interrupts per second, then traffic flows", () => {
    const w = makeWorld();
    w.run();
    const v0 = w.dom0.vcpus[0] as Vcpu;
    const before = w.fe.stats();
    const t0 = v0.actor.nowNs;
    // 10 000 events, one every 100 us of virtual time: one second of storm.
    let left = 10_000;
    const storm = () => {
      w.be.kickRx();
      if (--left > 0) w.hv.setTimer(v0, 100_000, storm);
    };
    storm();
    w.run();
    const after = w.fe.stats();
    const interrupts = after.interrupts - before.interrupts;
    // The channel is masked for 1, 2, 4, ... jiffies up to HZ after each spurious event: the
    // 10 000 events of one second cost about a dozen interrupts, each found no work.
    expect(interrupts).toBeGreaterThan(3);
    expect(interrupts).toBeLessThan(20);
    expect(after.spuriousEvents - before.spuriousEvents).toBe(interrupts);
    expect(after.eoiDelayedJiffies).toBeGreaterThanOrEqual(HZ); // about a second masked in all
    expect(after.napiPolls).toBe(before.napiPolls); // nothing queued: NAPI never ran
    expect(w.fe.broken).toBe(false);
    expect(v0.actor.nowNs - t0).toBeGreaterThanOrEqual(999_900_000);
    // A real packet is delivered once the back-off ends; an interrupt with work resets the count.
    expect(w.be.sendRx(frame(64), { notify: true })).toBe(true);
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(frame(64));
    const q = w.fe.info.queues[0];
    expect(q?.txEoi.spuriousCnt).toBe(0);
    teardownIsClean(w);
  });

  it("XSA-391: a device disabled for a protocol violation never EOIs: one more interrupt, then events cost nothing until it reconnects", () => {
    const w = makeWorld();
    w.run();
    const sring = rxBack(w).sring;
    sring.rspProd = (sring.rspProd + 1000) >>> 0;
    w.be.kickRx();
    w.run();
    expect(w.fe.broken).toBe(true);
    const seen = w.fe.stats().interrupts;
    for (let i = 0; i < 100; i++) {
      w.be.kickRx();
      w.run();
    }
    // NAPI found the violation after that interrupt's EOI: the next event is taken once, its
    // handler sees the device broken and returns without EOI; the channel stays masked.
    expect(w.fe.stats().interrupts).toBe(seen + 1);
    teardownIsClean(w);
    // Connected again, the channels are unmasked when their handlers are bound (startup_dynirq).
    w.fe.reconnect();
    w.run();
    expect(w.fe.connected).toBe(true);
    expect(w.be.sendRx(frame(64), { notify: true })).toBe(true);
    w.run();
    expect(w.received[0]?.toBytes()).toEqual(frame(64));
    teardownIsClean(w);
  });

  it("double fetch ('xen/netfront: read response from backend only once'): RX responses rewritten after netfront read them change nothing", () => {
    const w = makeWorld();
    w.run();
    const f = frame(300);
    const fr = w.fe.info.queues[0]?.rx;
    if (fr === undefined || fr === null) throw new Error("no ring");
    const sring = fr.sring;
    const read = sring.readSlot.bind(sring);
    let rewrites = 0;
    // After every read of a response slot, the backend rewrites that slot to something hostile.
    sring.readSlot = ((idx: number, decode: never, out: never) => {
      const r = read(idx, decode, out);
      rxBack(w).writeResponse(idx, writeRxResponse, { id: 0, offset: 4000, flags: NETRXF_more_data, status: 4000 });
      rewrites++;
      return r;
    }) as typeof sring.readSlot;
    expect(w.be.sendRx(f, { chunk: 100 })).toBe(true); // 3 slots
    w.run();
    sring.readSlot = read;
    expect(rewrites).toBe(3); // each slot read exactly once
    expect(w.received).toHaveLength(1);
    expect(w.received[0]?.toBytes()).toEqual(f);
    expect(w.fe.stats().rxErrors).toBe(0);
    teardownIsClean(w);
  });

  it("double fetch: a TX response rewritten after netfront read it changes nothing", () => {
    const w = makeWorld();
    w.run();
    w.be.autoTx = false;
    send(w, frame(60));
    const fr = w.fe.info.queues[0]?.tx;
    if (fr === undefined || fr === null) throw new Error("no ring");
    const sring = fr.sring;
    const read = sring.readSlot.bind(sring);
    let rewrites = 0;
    sring.readSlot = ((idx: number, decode: never, out: never) => {
      const r = read(idx, decode, out);
      txBack(w).writeResponse(idx, writeTxResponse, { id: 0xffff, status: NETIF_RSP_OKAY });
      rewrites++;
      return r;
    }) as typeof sring.readSlot;
    w.be.processTx();
    w.run();
    sring.readSlot = read;
    expect(rewrites).toBe(1);
    expect(w.fe.broken).toBe(false);
    expect(w.fe.outstanding().txInFlight).toBe(0);
    expect(w.be.packets[0]?.data).toEqual(frame(60));
    teardownIsClean(w);
  });
});
