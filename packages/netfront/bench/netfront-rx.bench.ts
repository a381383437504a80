// netfront RX: Linux's copy path against build_skb around the receive page, each with no XDP
// program and with an XDP_DROP program, Dom0 -> DomU at 64 and 1496 bytes, against the minimal
// test backend (feature-xdp-headroom offered) in deterministic mode. For each case: wall-clock
// packets/s of this JavaScript model, the modelled cost per packet charged to the guest's VCPUs
// (Xeon E5-1650 v2 profile), sk_buffs and pages allocated per packet (the kernel's view), and the
// sk_buff objects the JavaScript model created during the measured run (its own allocations).
// Then the truesize overhead of reserving skb_shared_info in every 4 KiB buffer for a 64 KiB
// packet. The virtio-net figures this is read against ("virtio-net: switch to use build_skb()
// for small buffer", 2017): XDP_DROP at 64 B from 11.1 to 14.4 Mpps (1.30x) with build_skb, and
// ~8% more truesize for shinfo per buffer. Writes bench-results/netfront-rx.json.
import { performance } from "node:perf_hooks";
import { XEN_NETIF_GSO_TYPE_TCPV4 } from "@pvnet/netif";
import { PAGE_SIZE, type SkbAllocator } from "@pvnet/skb-model";
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { RX_BUILD_SKB_TAILROOM } from "../src/index.js";
import { frame, makeWorld, type World } from "../test/world.js";

/** Packets per case: all eight cases together run in well under a minute on the 2-core machine. */
const PACKETS: Record<number, number> = { 64: 60_000, 1496: 40_000 };
/** Packets the backend puts on the ring between two runs of the simulation. */
const BURST = 32;
/** Warm-up packets before measuring (caches, pools and the JS engine settle). */
const WARMUP = 2_000;

function guestBusyNs(w: World): number {
  let ns = 0;
  for (const v of w.domU.vcpus) ns += v.actor.account.busyNs;
  return ns;
}

/** sk_buff objects the allocator has created so far (it recycles them; a private count). */
function skbObjectsCreated(skbs: SkbAllocator): number {
  return (skbs as unknown as { created: number }).created;
}

interface CaseResult {
  packets: number;
  wallSeconds: number;
  pps: number;
  modelledGuestNsPerPacket: number;
  skbAllocsPerPacket: number;
  pageAllocsPerPacket: number;
  /** sk_buff JS objects created while measuring (0: the steady state allocates none). */
  skbObjectsCreated: number;
  delivered: number;
  xdpDrop: number;
}

function rx(size: number, build: boolean, xdpDrop: boolean, packets: number): CaseResult {
  const w = makeWorld({ seed: 1, features: { xdpHeadroom: true }, netfront: { rxBuildSkb: build } });
  w.run();
  if (xdpDrop) {
    if (w.fe.setXdp(() => "drop") !== 0) throw new Error("setXdp");
    w.run();
  }
  const data = frame(size, 2, 0, 17);
  let delivered = 0;
  const step = (n: number): void => {
    let sent = 0;
    while (sent < n) {
      for (let i = 0; i < BURST && sent < n; i++, sent++) if (!w.be.sendRx(data)) throw new Error("no rx buffers");
      w.hv.run();
      for (const skb of w.received) {
        delivered++;
        skb.free();
      }
      w.received.length = 0;
    }
  };
  step(WARMUP);
  delivered = 0;
  const busy0 = guestBusyNs(w);
  const skb0 = w.skbs.stats.allocs;
  const page0 = w.pool.stats.allocs;
  const obj0 = skbObjectsCreated(w.skbs);
  const drop0 = w.fe.rxPathStats().xdpDrop;
  const t0 = performance.now();
  step(packets);
  const wall = (performance.now() - t0) / 1000;
  const drops = w.fe.rxPathStats().xdpDrop - drop0;
  if (delivered + drops !== packets) throw new Error(`rx: ${delivered} delivered + ${drops} dropped of ${packets}`);
  return {
    packets,
    wallSeconds: wall,
    pps: packets / wall,
    modelledGuestNsPerPacket: (guestBusyNs(w) - busy0) / packets,
    skbAllocsPerPacket: (w.skbs.stats.allocs - skb0) / packets,
    pageAllocsPerPacket: (w.pool.stats.allocs - page0) / packets,
    skbObjectsCreated: skbObjectsCreated(w.skbs) - obj0,
    delivered,
    xdpDrop: drops,
  };
}

/** A 64 KiB GSO packet on each path: its truesize as delivered. */
function truesize64k(build: boolean): { truesize: number; frags: number } {
  const w = makeWorld({ seed: 1, features: { xdpHeadroom: true }, netfront: { rxBuildSkb: build } });
  w.run();
  w.be.sendRx(frame(65535, 3, 0, 6), { gso: { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 } });
  w.run();
  const skb = w.received[0];
  if (skb === undefined) throw new Error("64 KiB packet not delivered");
  const r = { truesize: skb.truesize, frags: skb.shinfo.nrFrags };
  skb.free();
  return r;
}

const cases: Record<string, Record<string, CaseResult>> = {};
for (const size of [64, 1496]) {
  const n = PACKETS[size] as number;
  cases[size] = {
    copy: rx(size, false, false, n),
    buildSkb: rx(size, true, false, n),
    copyXdpDrop: rx(size, false, true, n),
    buildSkbXdpDrop: rx(size, true, true, n),
  };
}
const ratios: Record<string, Record<string, number>> = {};
for (const size of ["64", "1496"]) {
  const c = cases[size] as Record<string, CaseResult>;
  const m = (k: string) => (c[k] as CaseResult).modelledGuestNsPerPacket;
  const p = (k: string) => (c[k] as CaseResult).pps;
  ratios[size] = {
    // > 1: the second is cheaper (modelled cost ratio) or faster (wall pps ratio).
    modelledCopyOverBuildSkb: m("copy") / m("buildSkb"),
    modelledXdpDropCopyOverBuildSkb: m("copyXdpDrop") / m("buildSkbXdpDrop"),
    modelledNoXdpOverXdpDropBuildSkb: m("buildSkb") / m("buildSkbXdpDrop"),
    modelledNoXdpOverXdpDropCopy: m("copy") / m("copyXdpDrop"),
    wallBuildSkbOverCopy: p("buildSkb") / p("copy"),
    wallXdpDropBuildSkbOverCopy: p("buildSkbXdpDrop") / p("copyXdpDrop"),
  };
}
// Reserving skb_shared_info at the end of every 4 KiB buffer: the share of each buffer given up,
// the buffers a 64 KiB packet then needs, and the truesize the two paths account for one.
const copy64k = truesize64k(false);
const build64k = truesize64k(true);
const truesize = {
  shinfoPerBuffer: RX_BUILD_SKB_TAILROOM,
  shinfoShareOfBuffer: RX_BUILD_SKB_TAILROOM / PAGE_SIZE,
  buffersFor64KiB: { whole: Math.ceil(65536 / PAGE_SIZE), shinfoReserved: Math.ceil(65536 / (PAGE_SIZE - RX_BUILD_SKB_TAILROOM)) },
  delivered65535: { copy: copy64k, buildSkb: build64k, overhead: build64k.truesize / copy64k.truesize - 1 },
};
const result = {
  what: "netfront RX, Dom0 -> DomU, against a minimal test backend with feature-xdp-headroom, deterministic mode; wall = this JS model, modelled = guest VCPU cost (xeon-e5-1650v2 profile)",
  host: benchHost(),
  burst: BURST,
  warmup: WARMUP,
  cases,
  ratios,
  truesize,
  virtio2017: { xdpDrop64Mpps: { copy: 11.1, buildSkb: 14.4, ratio: 14.4 / 11.1 }, shinfoTruesizeOverhead: 0.08 },
};
const path = writeBenchResult("netfront-rx", result);
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${path}`);
