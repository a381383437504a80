/**
 * A seeded malicious backend driving the real netfront: every ring step it writes a random RX or
 * TX response (ids, statuses, offsets, flags, extra-info slots), rewrites responses already
 * written, jumps or rewinds rsp_prod, keeps grants mapped, or storms the event channels; the
 * guest keeps transmitting. After every step: no exception escaped, memory stays bounded, what
 * reached the stack is a frame of the guest's own pages, and Dom0 frames never granted are
 * untouched. A device disabled for a protocol violation is torn
 * down (checked leak-free: grants, pages, skbs, event channels) and connected again. Everything
 * comes from one seed, so a failure prints `seed=` and replays.
 */
import { type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import {
  newExtraInfo,
  newRxRequest,
  newTxRequest,
  readRxRequest,
  readTxRequest,
  writeExtraInfo,
  writeRxResponse,
  writeTxResponse,
} from "@pvnet/netif";
import type { BackRing } from "@pvnet/shared-ring";
import { Prng } from "@pvnet/sim";
import { GNTMAP, GNTST, GnttabMapBatch, GnttabUnmapBatch } from "@pvnet/xen-grant-table";
import { XenbusState } from "@pvnet/xenstore";
import { NET_RX_RING_SIZE, NET_TX_RING_SIZE, NETDEV_TX_OK } from "../src/index.js";
import { frame, makeWorld } from "./world.js";

export interface FuzzResult {
  readonly steps: number;
  /** Connections torn down and checked leak-free (each ends broken, or at the end of the run). */
  readonly episodes: number;
  /** Episodes that ended with the device disabled by netfront ("Disabled for further use"). */
  readonly broken: number;
  readonly delivered: number;
  readonly rxErrors: number;
  readonly rxRunts: number;
  readonly txPackets: number;
  /** build_skb RX and XDP counters of the run. */
  readonly rxBuildSkb: number;
  readonly xdpPackets: number;
  readonly xdpTx: number;
  readonly xdpAborted: number;
  /** Persistent grants: packets copied out of the RX pool pages (skb_copy_ubufs). */
  readonly rxPersistentExtraCopies: number;
  readonly maxPagesInUse: number;
  readonly maxLiveSkbs: number;
}

/** Memory bounds checked after every step: two rings of buffers, in-flight TX, received skbs. */
const MAX_PAGES_IN_USE = 2 * NET_RX_RING_SIZE + 2 * NET_TX_RING_SIZE + 64;
const MAX_LIVE_SKBS = NET_RX_RING_SIZE + NET_TX_RING_SIZE + 64;
/** Grants the malicious backend keeps mapped at once. */
const MAX_HELD = 4;
/** Events one step may run before the simulation must be idle (an event storm is bounded by the fuzzer). */
const MAX_EVENTS_PER_STEP = 20_000;
const CANARY_PAGES = 4;
const CANARY = 0xc5;
const HOLD_ADDR = 0x3000_0000_0000;

class FuzzFailure extends Error {}

interface Held {
  addr: number;
  handle: number;
}

/** Run `steps` ring steps from `seed`; throws with `seed=` in the message on any failure. */
/** What the frontend runs with: build_skb RX, and an XDP program whose verdicts the frame's bytes pick (throws and garbage included). */
export interface FuzzOptions {
  readonly rxBuildSkb?: boolean;
  readonly xdp?: boolean;
  /** Persistent grants negotiated: RX buffers are zerocopy skbs over the pool pages. */
  readonly persistent?: boolean;
}

/** XDP verdicts (and misbehaviours) the fuzzer's program picks from a frame's bytes. */
const XDP_CHOICES: readonly unknown[] = ["pass", "pass", "drop", "tx", "aborted", "throw", "garbage", 4, 2, 1];

export function fuzzNetfront(seed: number, steps: number, opts: FuzzOptions = {}): FuzzResult {
  try {
    return run(seed, steps, opts);
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new FuzzFailure(`netfront fuzz failed: seed=${seed} steps=${steps} options=${JSON.stringify(opts)}: ${msg}`, { cause: e });
  }
}

function run(seed: number, steps: number, opts: FuzzOptions): FuzzResult {
  const rng = new Prng(seed);
  const persistent = opts.persistent === true;
  const w = makeWorld({
    seed: (seed >>> 0) + 1,
    features: { xdpHeadroom: opts.xdp === true || opts.rxBuildSkb === true, persistent },
    netfront: { rxBuildSkb: opts.rxBuildSkb === true, persistentGrants: persistent },
  });
  const v0 = w.dom0.vcpus[0] as Vcpu;
  w.be.autoTx = false; // the fuzzer decides when the backend answers TX
  // Dom0 frames the backend never grants or copies into: netfront must not touch them.
  const canary: number[] = [];
  for (let i = 0; i < CANARY_PAGES; i++) {
    const gfn = w.dom0.allocPage();
    w.hv.machine.bytes.fill(CANARY, w.dom0.pageOffset(gfn), w.dom0.pageOffset(gfn) + XEN_PAGE_SIZE);
    canary.push(gfn);
  }
  const held: Held[] = [];
  let nextHold = 0;
  const stats = { episodes: 0, broken: 0, delivered: 0, maxPagesInUse: 0, maxLiveSkbs: 0 };
  const rxReq = newRxRequest();
  const txReq = newTxRequest();
  const rxRsp = { id: 0, offset: 0, flags: 0, status: 0 };
  const txRsp = { id: 0, status: 0 };
  const extra = newExtraInfo();
  let seq = 0;
  /** Set once the backend wrote behind its BackRing's back: its bookkeeping is void until reconnect. */
  let desync = false;

  const settle = () => {
    const r = w.hv.run({ maxEvents: MAX_EVENTS_PER_STEP });
    if (r.reason === "event-limit") throw new Error("simulation did not go idle");
  };
  const connect = () => {
    settle();
    if (!w.fe.connected) throw new Error(`not connected (state ${w.fe.state})`);
    if (w.fe.info.persistent !== persistent) throw new Error(`persistent grants ${w.fe.info.persistent}, asked ${persistent}`);
    if (opts.xdp === true && w.fe.xdpProgram === null) {
      w.fe.setXdp((fr) => {
        const v = XDP_CHOICES[((fr[fr.length - 1] ?? 0) + fr.length) % XDP_CHOICES.length];
        if (v === "throw") throw new Error("program bug");
        return v as "pass";
      });
      settle();
    }
  };
  const unmapAll = () => {
    for (const h of held.splice(0)) {
      const u = new GnttabUnmapBatch(1);
      u.add(h.addr, h.handle);
      w.grants.unmapGrantRef(v0, u);
    }
  };
  const canaryPage = new Uint8Array(XEN_PAGE_SIZE).fill(CANARY);
  const checkCanary = () => {
    const mem = w.hv.machine.bytes;
    for (const gfn of canary) {
      const off = w.dom0.pageOffset(gfn);
      if (Buffer.compare(mem.subarray(off, off + XEN_PAGE_SIZE), canaryPage) !== 0) throw new Error(`dom0 frame ${gfn} (never granted) was written`);
    }
  };
  const teardown = () => {
    checkCanary();
    for (const skb of w.received) skb.free();
    w.received.length = 0;
    w.fe.close();
    settle();
    if (w.fe.state !== XenbusState.Closed) throw new Error(`close ended in state ${w.fe.state}`);
    unmapAll();
    w.skbs.drain();
    const o = w.fe.outstanding();
    if (o.grants + o.reservedRefs + o.deferredGrants + o.txInFlight + o.rxPosted + o.evtchns !== 0) throw new Error(`leak after disconnect: ${JSON.stringify(o)}`);
    if (w.pool.pagesInUse !== 0) throw new Error(`${w.pool.pagesInUse} pages leaked`);
    if (w.skbs.liveSkbs !== 0) throw new Error(`${w.skbs.liveSkbs} skbs leaked`);
    const g = w.grants.outstanding(w.domU);
    if (g.pins !== 0) throw new Error(`${g.pins} grant entries still pinned`);
    if (w.be.mappedRings !== 0) throw new Error("backend still maps rings");
    stats.episodes++;
  };

  const hold = (gref: number, readonly: boolean) => {
    if (held.length >= MAX_HELD) return;
    const m = new GnttabMapBatch(1);
    const addr = HOLD_ADDR + nextHold++ * XEN_PAGE_SIZE;
    m.add(addr, GNTMAP.host_map | (readonly ? GNTMAP.readonly : 0), gref, w.domU.domid);
    w.grants.mapGrantRef(v0, m);
    if (m.status[0] === GNTST.okay) held.push({ addr, handle: m.handle[0] as number });
  };

  /** A status biased towards the edges: errors, 0, runts, the page size and beyond. */
  const status = (): number => {
    switch (rng.below(6)) {
      case 0:
        return rng.range(-2, 14);
      case 1:
        return rng.range(4090, 4200);
      case 2:
        return rng.range(-32768, 32767);
      default:
        return rng.range(14, 1600);
    }
  };
  const offset = (): number => (rng.below(3) === 0 ? rng.below(0x10000) : rng.below(2) === 0 ? 0 : rng.range(0, 4095));

  /** The next response slot, written whether or not a request was consumed for it. */
  const produce = (back: BackRing): number => {
    const at = back.rspProdPvt;
    back.rspProdPvt = (at + 1) >>> 0;
    return at;
  };
  /** The test backend's own (well-behaved) paths need its ring bookkeeping intact. */
  const consistent = (back: BackRing): boolean => !desync && back.rspProdPvt === back.reqCons;

  /** A request is there and consuming it keeps the BackRing's own invariant (no slot owes two). */
  const canConsume = (back: BackRing): boolean => back.unconsumedRequests() > 0 && ((back.reqCons - back.rspProdPvt) >>> 0) < 255;

  const rxStep = (back: BackRing) => {
    // Consume a request if one is there (a backend may also answer requests never made).
    if (canConsume(back) && rng.below(64) !== 0) {
      back.copyRequest(back.consumeRequest(), readRxRequest, rxReq);
      if (rng.below(256) === 0) hold(rxReq.gref, false);
    } else if (rng.below(64) !== 0) return; // mostly a backend answers what was asked
    else desync = true;
    const at = produce(back);
    if (rng.below(5) === 0) {
      extra.type = rng.below(8) === 0 ? rng.below(256) : rng.range(1, 4);
      extra.flags = rng.below(2);
      extra.gsoSize = rng.below(4) === 0 ? 0 : rng.range(1, 9000);
      extra.gsoType = rng.below(4);
      extra.gsoFeatures = rng.below(256);
      extra.xdpHeadroom = rng.below(0x10000);
      back.sring.writeSlot(at, writeExtraInfo, extra);
    } else {
      rxRsp.id = rng.below(4) === 0 ? rng.below(0x10000) : rxReq.id;
      rxRsp.offset = offset();
      rxRsp.flags = rng.below(16);
      rxRsp.status = status();
      back.sring.writeSlot(at, writeRxResponse, rxRsp);
    }
  };

  const txStep = (back: BackRing) => {
    if (canConsume(back) && rng.below(64) !== 0) {
      back.copyRequest(back.consumeRequest(), readTxRequest, txReq);
      if (rng.below(256) === 0) hold(txReq.gref, true);
    } else if (rng.below(64) !== 0) return;
    else desync = true;
    txRsp.id = rng.below(64) === 0 ? rng.below(0x10000) : txReq.id;
    txRsp.status = rng.range(-2, 1);
    back.sring.writeSlot(produce(back), writeTxResponse, txRsp);
  };

  const check = () => {
    checkCanary();
    if (w.pool.pagesInUse > stats.maxPagesInUse) stats.maxPagesInUse = w.pool.pagesInUse;
    if (w.skbs.liveSkbs > stats.maxLiveSkbs) stats.maxLiveSkbs = w.skbs.liveSkbs;
    if (w.pool.pagesInUse > MAX_PAGES_IN_USE) throw new Error(`${w.pool.pagesInUse} pages in use`);
    if (w.skbs.liveSkbs > MAX_LIVE_SKBS) throw new Error(`${w.skbs.liveSkbs} skbs live`);
    if (w.fe.info.alerts.length > 32) throw new Error("alert log unbounded");
    // Persistent grants: a pool page is either free or behind a posted buffer, never held elsewhere.
    for (const q of w.fe.info.queues) {
      if (!q.persistent) continue;
      const posted = q.rxSkbs.filter((b) => b !== null).length;
      if (posted + q.rxPgFreeCount !== q.rxPgPage.length) throw new Error(`rx pool: ${posted} posted + ${q.rxPgFreeCount} free of ${q.rxPgPage.length}`);
    }
    // What reaches the stack is a frame of the guest's own pages, within the protocol's bounds.
    for (const skb of w.received) {
      if (skb.len < 14 || skb.len > 18 * XEN_PAGE_SIZE) throw new Error(`delivered a ${skb.len}-byte skb`);
      if (skb.headPage.pool !== w.pool) throw new Error("delivered a head not of the guest's pool");
      for (let i = 0; i < skb.shinfo.nrFrags; i++) if (skb.shinfo.frags[i]?.page?.pool !== w.pool) throw new Error("delivered a frag not of the guest's pool");
      skb.free();
      stats.delivered++;
    }
    w.received.length = 0;
  };

  connect();
  for (let step = 0; step < steps; step++) {
    const q = w.be.queues[0];
    if (q === undefined) throw new Error("backend lost its queue");
    const r = rng.below(100);
    if (r < 45) rxStep(q.rx);
    else if (r < 60) txStep(q.tx);
    else if (r < 72) {
      // Publish what was written, sometimes without telling.
      q.rx.pushResponses();
      if (rng.below(4) !== 0) w.be.kickRx();
    } else if (r < 80) {
      q.tx.pushResponses();
      if (rng.below(4) !== 0) w.be.kickTx();
    } else if (r < 88) {
      // The guest transmits (the backend may answer legitimately).
      const f = frame(rng.range(60, 3000), 1, seq++);
      const skb = w.composer.compose({ linearLen: f.length }, f);
      if (skb !== null && w.fe.startXmit(skb) !== NETDEV_TX_OK) skb.free();
      if (rng.below(2) === 0 && consistent(q.tx)) w.be.processTx(q);
    } else if (r < 92) {
      // Rewrite an already published response (double fetch); the slot may hold a new request by now.
      desync = true;
      const ring = rng.below(2) === 0 ? q.rx : q.tx;
      const idx = (ring.rspProdPvt - 1 - rng.below(4)) >>> 0;
      if (ring === q.rx) {
        rxRsp.offset = offset();
        rxRsp.status = status();
        rxRsp.flags = rng.below(16);
        ring.sring.writeSlot(idx, writeRxResponse, rxRsp);
      } else {
        txRsp.id = rng.below(0x10000);
        ring.sring.writeSlot(idx, writeTxResponse, txRsp);
      }
    } else if (r < 94 && rng.below(16) === 0) {
      // rsp_prod jumps (or goes back).
      const ring = rng.below(2) === 0 ? q.rx : q.tx;
      ring.sring.rspProd = (ring.sring.rspProd + rng.range(-3, 300)) >>> 0;
      desync = true;
      w.be.kickRx();
    } else if (r < 97) {
      // An event storm.
      for (let i = rng.range(1, 50); i > 0; i--) (rng.below(2) === 0 ? w.be.kickRx() : w.be.kickTx());
    } else if (r < 99) {
      // Let go of a held grant.
      const h = held.pop();
      if (h !== undefined) {
        const u = new GnttabUnmapBatch(1);
        u.add(h.addr, h.handle);
        w.grants.unmapGrantRef(v0, u);
      }
    } else if (r === 99 && consistent(q.rx)) {
      // The backend sends a well-formed packet through the normal path.
      w.be.sendRx(frame(rng.range(64, 9000), 2, seq++), { chunk: rng.range(64, 4096) });
    }
    settle();
    check();
    if (w.fe.broken || step === steps - 1 || rng.below(20_000) === 0) {
      if (w.fe.broken) stats.broken++;
      teardown();
      if (step < steps - 1) {
        w.fe.reconnect();
        connect();
        desync = false;
      }
    }
  }
  w.fe.remove();
  settle();
  const bus = w.fe.info.env.xenbus as unknown as { watches: Map<string, unknown> };
  if (w.fe.info.xbdev.otherendWatch !== undefined || bus.watches.size !== 0) throw new Error("xenbus watch left after remove");
  checkCanary();
  const st = w.fe.stats();
  const xs = w.fe.rxPathStats();
  return { steps, ...stats, rxErrors: st.rxErrors, rxRunts: st.rxRunts, txPackets: st.txPackets, rxBuildSkb: xs.rxBuildSkb, xdpPackets: xs.xdpPackets, xdpTx: xs.xdpTx, xdpAborted: xs.xdpAborted, rxPersistentExtraCopies: st.rxPersistentExtraCopies };
}
