/**
 * The netback fuzzer: a seeded malicious frontend drives the real netback through its TX and RX
 * rings while a well-behaved guest on another vif keeps sending. After every step (one burst of
 * requests, run until Dom0 is idle) it checks that nothing escaped the driver, that the good
 * guest's frames arrived byte-exact, that Dom0's memory stays bounded and that nothing of the
 * good guest is left mapped; whenever the bad vif is disabled (and now and then at random) the bad
 * guest disconnects and reconnects, and the disconnect must leave nothing behind (grant mappings,
 * maptrack handles, slot mappings, in-flight packets, skbs, Dom0 pages, event channels).
 *
 * A "ring step" is one slot the malicious frontend writes into its TX ring (a request or an
 * extra-info slot). Deterministic: everything comes from `seed`; a failure throws a
 * `NetbackFuzzFailure` whose message starts with `seed=<seed> step=<n>`.
 */
import { Prng } from "@pvnet/sim";
import {
  NETTXF_csum_blank,
  NETTXF_extra_info,
  NETTXF_more_data,
  newExtraInfo,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
} from "@pvnet/netif";
import type { SkBuff } from "@pvnet/skb-model";
import { XenbusState } from "@pvnet/xenstore";
import { xenvifStartXmit } from "../src/index.js";
import { makeFrame, type RawFrontend, type SlotSpec, World } from "./harness.js";

export interface NetbackFuzzOptions {
  readonly seed: number;
  /** Ring steps to run (slots the malicious frontend writes). */
  readonly steps: number;
}

export interface NetbackFuzzResult {
  readonly seed: number;
  readonly ringSteps: number;
  readonly bursts: number;
  readonly goodFrames: number;
  readonly reconnects: number;
  readonly fatal: number;
  /** Why the bad vif was disabled (numbers replaced by N), and how often. */
  readonly fatalReasons: Readonly<Record<string, number>>;
  readonly badDelivered: number;
  readonly rxOffered: number;
}

export class NetbackFuzzFailure extends Error {
  override readonly name = "NetbackFuzzFailure";
  readonly code = "NETBACK_FUZZ";
  constructor(
    readonly seed: number,
    readonly step: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`seed=${seed} step=${step}: ${message}`, options);
  }
}

/** Pages the malicious guest grants once and reuses in every request (its gref pool). */
const BAD_POOL_PAGES = 16;
/** Frames of the well-behaved guest: one every this many bursts. */
const GOOD_EVERY = 4;
/** The most Dom0 pages the fuzz may have in use at once (the pool is 4096 frames). */
const DOM0_PAGES_BOUND = 3072;
/** The most skbs the Dom0 stack may hold while the fuzz runs (the allocator allows 2048). */
const LIVE_SKBS_BOUND = 1024;
/** Packets of the bad vif the Dom0 stack keeps for a while (so disconnects find them in flight). */
const HELD_MAX = 8;

function randomSize(prng: Prng): number {
  switch (prng.below(8)) {
    case 0:
      return 0;
    case 1:
      return prng.below(16);
    case 2:
      return prng.below(200);
    case 3:
      return prng.below(4097);
    case 4:
      return 4096 - prng.below(64);
    case 5:
      return prng.chance({ numerator: 1, denominator: 32 }) ? prng.below(65536) : prng.below(4097);
    default:
      return 14 + prng.below(1500);
  }
}

/** Run the fuzzer; throws NetbackFuzzFailure (with the seed) on the first violated check. */
export function runNetbackFuzz(options: NetbackFuzzOptions): NetbackFuzzResult {
  const { seed, steps } = options;
  const w = new World({ seed });
  const bad = w.frontend();
  const good = w.frontend();
  w.run();
  const prng = new Prng(seed);
  let step = 0;
  const fail = (msg: string, cause?: unknown): never => {
    throw new NetbackFuzzFailure(seed, step, msg, cause === undefined ? undefined : { cause });
  };
  if (!bad.vif.connected || !good.vif.connected) fail("guests did not connect");
  const goodVif = good.vif.name;
  const badDomid = bad.domain.domid;
  let badPool: number[] = [];
  const grantBadPool = (): void => {
    badPool = [];
    for (let i = 0; i < BAD_POOL_PAGES; i++) badPool.push(bad.grantData(makeFrame(4096, seed + i), 0));
  };
  grantBadPool();
  // A gref the good guest granted: valid in its table, meaningless in the bad guest's.
  const foreignRef = good.grantData(makeFrame(64, 1), 0);
  const held: SkBuff[] = [];
  w.keep = [];
  let ringSteps = 0;
  let bursts = 0;
  let goodFrames = 0;
  let reconnects = 0;
  let fatal = 0;
  let badDelivered = 0;
  let rxOffered = 0;
  const fatalReasons: Record<string, number> = {};
  const pendingGood: Uint8Array[] = [];
  let goodSeq = 0;

  const runDom0 = (what: string): void => {
    try {
      w.run();
    } catch (err) {
      fail(`${what}: ${(err as Error)?.stack ?? String(err)}`, err);
    }
  };

  /** Take what the Dom0 stack received: check the good guest's frames, hold some of the bad's. */
  const collect = (): void => {
    const keep = w.keep as NonNullable<World["keep"]>;
    for (let i = 0; i < w.received.length; i++) {
      const r = w.received[i] as World["received"][number];
      const skb = keep[i];
      if (r.vif === goodVif) {
        const want = pendingGood.shift();
        if (want === undefined) fail("the good vif delivered a frame it never sent");
        else if (r.bytes.length !== want.length || r.bytes.some((b, j) => b !== want[j])) fail(`the good vif's frame ${goodFrames} arrived altered`);
        goodFrames++;
        skb?.free();
      } else {
        badDelivered++;
        if (skb !== undefined && held.length < HELD_MAX && prng.chance({ numerator: 1, denominator: 4 })) held.push(skb);
        else skb?.free();
      }
    }
    w.received.length = 0;
    keep.length = 0;
    // The stack lets go of held packets in its own time.
    while (held.length > 0 && prng.chance({ numerator: 1, denominator: 3 })) held.shift()?.free();
  };

  const checkInvariants = (): void => {
    if (pendingGood.length !== 0) fail(`the good vif lost ${pendingGood.length} frame(s)`);
    if (good.vif.disabled) fail(`the good vif was disabled: ${good.vif.fatalReason}`);
    // Nothing of the good guest is left mapped: every page it granted can be taken back.
    const refused = good.releasePages();
    if (refused !== 0) fail(`${refused} page(s) of the good guest still mapped by Dom0`);
    good.txResponses();
    if (w.pool.pagesInUse > DOM0_PAGES_BOUND) fail(`Dom0 uses ${w.pool.pagesInUse} pages`);
    if (w.skbs.liveSkbs > LIVE_SKBS_BOUND) fail(`${w.skbs.liveSkbs} skbs alive`);
    const out = w.netback.outstanding();
    // Each vif's queue holds at most MAX_PENDING_REQS slot mappings (plus its two ring pages).
    if (out.slotMappings > 2 * 256) fail(`${out.slotMappings} slot mappings`);
  };

  /** Close the bad guest's device, let the stack go, and check that nothing of it is left. */
  const reconnectBad = (): void => {
    bad.switchState(XenbusState.Closing);
    runDom0("disconnect");
    for (const skb of held) skb.free();
    held.length = 0;
    runDom0("disconnect teardown");
    collect();
    const out = w.netback.outstanding();
    // Only the good vif's two ring pages stay mapped.
    if (out.maps !== 2 || out.handles !== 2 || out.pins !== 0 || out.slotMappings !== 0 || out.inflightPackets !== 0 || out.dyingQueues !== 0) {
      fail(`disconnect left ${JSON.stringify(out)}`);
    }
    if (!bad.releaseRings()) fail("the bad guest's ring pages are still mapped after disconnect");
    for (const q of bad.queues) {
      bad.domain.freePage(q.txGfn);
      bad.domain.freePage(q.rxGfn);
    }
    if (bad.releasePages() !== 0) fail("a page of the bad guest is still mapped after disconnect");
    const ev = w.hv.evtchnOf(w.dom0.domid);
    const ports = ev.openPorts().filter((p) => ev.remoteDom(p) === badDomid);
    if (ports.length !== 0) fail(`Dom0 still has event channel port(s) ${ports.join(",")} bound to the bad guest`);
    if (w.skbs.liveSkbs !== 0) fail(`${w.skbs.liveSkbs} skbs alive after disconnect`);
    bad.switchState(XenbusState.Initialising);
    runDom0("reconnect");
    if (!bad.vif.connected || bad.vif.disabled) fail("the bad guest did not reconnect");
    grantBadPool();
    reconnects++;
  };

  const badRef = (): number => {
    switch (prng.below(10)) {
      case 0:
        return prng.below(5000); // bad gref
      case 1:
        return foreignRef; // another domain's gref number
      default:
        return badPool[prng.below(badPool.length)] as number;
    }
  };

  /** One malicious packet chain (with extras now and then). Returns the slots written. */
  const writeBadChain = (): number => {
    let written = 0;
    // Mostly short chains; now and then long ones up to 23 slots (dropped above 19, fatal above 20).
    const n = prng.chance({ numerator: 1, denominator: 16 }) ? (prng.chance({ numerator: 1, denominator: 2 }) ? 16 + prng.below(6) : 1 + prng.below(23)) : 1 + prng.below(4);
    const sizes: number[] = [];
    if (n > 1 && prng.chance({ numerator: 2, denominator: 5 })) {
      // A structured chain: every follower of one size class (empty, tiny, small), the shapes of
      // XSA-423 / XSA-432 / XSA-448, now and then with a different last follower.
      const cls = prng.below(4);
      const follower = (): number => (cls === 0 ? 0 : cls === 1 ? 1 + prng.below(8) : cls === 2 ? prng.below(16) : prng.below(200));
      sizes.push(prng.chance({ numerator: 1, denominator: 2 }) ? 14 + prng.below(200) : randomSize(prng));
      for (let i = 1; i < n; i++) sizes.push(follower());
      if (prng.chance({ numerator: 1, denominator: 3 })) sizes[n - 1] = randomSize(prng);
    } else for (let i = 0; i < n; i++) sizes.push(randomSize(prng));
    let total = sizes.reduce((a, b) => a + b, 0);
    // Sizes that do not add up (the first slot's size field is the packet's).
    if (prng.chance({ numerator: 1, denominator: 12 })) total = prng.chance({ numerator: 1, denominator: 64 }) ? prng.below(65536) : Math.max(0, total + prng.range(-64, 64));
    const wantExtras = prng.chance({ numerator: 1, denominator: 10 });
    for (let i = 0; i < n; i++) {
      let flags = i < n - 1 ? NETTXF_more_data : 0;
      if (i === 0) {
        if (wantExtras) flags |= NETTXF_extra_info;
        if (prng.chance({ numerator: 1, denominator: 4 })) flags |= NETTXF_csum_blank;
      }
      // Mostly inside the page (leaving room for a first slot whose size field was bumped by up
      // to 64 bytes); now and then offset + size crosses it (fatal).
      const own = Math.min(sizes[i] as number, 4096 - 64);
      const offset = prng.chance({ numerator: 1, denominator: 200 }) ? prng.below(4200) : prng.below(4097 - 64 - own);
      bad.queueRaw({ gref: badRef(), offset, flags, id: prng.below(65536), size: (i === 0 ? total : (sizes[i] as number)) & 0xffff });
      written++;
      if (i === 0 && wantExtras) {
        // A chain of extras: mostly GSO or multicast, now and then an unknown type or an endless chain.
        const nExtras = prng.chance({ numerator: 1, denominator: 20 }) ? 1 + prng.below(12) : 1;
        for (let e = 0; e < nExtras; e++) {
          const x = newExtraInfo();
          const kind = prng.below(40);
          x.type = kind < 30 ? XEN_NETIF_EXTRA_TYPE_GSO : kind < 35 ? XEN_NETIF_EXTRA_TYPE_MCAST_ADD : kind < 39 ? XEN_NETIF_EXTRA_TYPE_MCAST_DEL : prng.below(256);
          // Mostly a valid GSO request; a zero size or an unknown GSO type (fatal) now and then.
          x.gsoSize = prng.chance({ numerator: 1, denominator: 40 }) ? 0 : 1 + prng.below(9000);
          x.gsoType = prng.chance({ numerator: 1, denominator: 40 }) ? prng.below(256) : 1 + prng.below(2);
          if (e < nExtras - 1 || prng.chance({ numerator: 1, denominator: 100 })) x.flags = 1;
          bad.queueRawExtra(x);
          written++;
        }
      }
    }
    return written;
  };

  /** A well-formed packet of the bad guest itself (so its vif does useful work between attacks). */
  const writeBadGood = (): number => {
    const len = 60 + prng.below(3000);
    const slots: SlotSpec[] = [];
    let left = len;
    while (left > 0) {
      const s = Math.min(left, 1 + prng.below(2048));
      slots.push({ len: s, gref: badPool[prng.below(badPool.length)] as number });
      left -= s;
      if (slots.length === 17) {
        slots.push({ len: left, gref: badPool[0] as number });
        left = 0;
      }
    }
    bad.queuePacket(makeFrame(len, 3), slots.filter((s) => s.len > 0));
    return slots.length;
  };

  const sendGood = (): void => {
    const len = 14 + prng.below(6000);
    const frame = makeFrame(len, goodSeq++ & 0xffff);
    const slots: SlotSpec[] = [];
    let left = len;
    // Random but well-formed: slots of 1..4096 bytes, at most 19, none crossing its page.
    while (left > 0) {
      const room = slots.length === 18 ? left : Math.min(left, 1 + prng.below(4096));
      slots.push({ len: room });
      left -= room;
    }
    if ((slots[0] as SlotSpec).len < 14) slots[0] = { len: Math.min(14, len) };
    const fixed: SlotSpec[] = [];
    let at = 0;
    for (const s of slots) {
      const l = Math.min(s.len, len - at);
      if (l > 0) fixed.push({ len: l });
      at += l;
    }
    if (fixed.some((s) => s.len > 4096)) return;
    good.send(frame, fixed);
    pendingGood.push(frame);
  };

  while (ringSteps < steps) {
    step++;
    bursts++;
    const k = 1 + prng.below(12);
    for (let i = 0; i < k && ringSteps < steps; i++) {
      const a = prng.below(100);
      if (a < 55) ringSteps += writeBadChain();
      else if (a < 85) ringSteps += writeBadGood();
      else if (a < 86 && prng.chance({ numerator: 1, denominator: 4 })) {
        // req_prod jumping ahead of what was written (more than a ring now and then).
        const tx = (bad.queues[0] as RawFrontend["queues"][number]).tx;
        tx.sring.reqProd = (tx.sring.reqProd + (prng.chance({ numerator: 1, denominator: 4 }) ? 257 + prng.below(1000) : prng.below(8))) >>> 0;
        ringSteps++;
      } else if (a < 96) {
        // Dom0 sends to the bad guest, which (mostly) never posts RX buffers.
        const skb = w.skbs.allocSkb(1600);
        if (skb !== null) {
          skb.putData(makeFrame(60 + prng.below(1500), 5));
          xenvifStartXmit(bad.vif, skb);
          rxOffered++;
        }
        if (prng.chance({ numerator: 1, denominator: 20 })) bad.postRx(1 + prng.below(4));
        ringSteps++;
      } else {
        // An event storm: notifications with nothing new.
        const ring = bad.queues[0] as RawFrontend["queues"][number];
        for (let e = 0; e < 8; e++) w.hv.evtchnSend(bad.vcpu, ring.txPort);
        ringSteps++;
      }
    }
    bad.pushTx();
    const port = (bad.queues[0] as RawFrontend["queues"][number]).txPort;
    w.hv.evtchnSend(bad.vcpu, port);
    if (step % GOOD_EVERY === 0) sendGood();
    runDom0("burst");
    collect();
    // The dealloc kthread unmaps what the stack just freed.
    runDom0("dealloc");
    // Consume the responses (a frontend that never does would only fill its own ring).
    bad.txResponses();
    bad.rxPackets();
    if (bad.vif.disabled) {
      fatal++;
      const why = (bad.vif.fatalReason ?? "").replace(/-?\d+/g, "N");
      fatalReasons[why] = (fatalReasons[why] ?? 0) + 1;
    }
    checkInvariants();
    if (bad.vif.disabled || !bad.vif.connected || prng.chance({ numerator: 1, denominator: 500 })) reconnectBad();
  }
  reconnectBad();
  return { seed, ringSteps, bursts, goodFrames, reconnects, fatal, fatalReasons, badDelivered, rxOffered };
}
