/**
 * build_skb vs alloc_skb + copy for receive buffers of 64 and 1500 bytes (Linux f6b10209b90d,
 * "virtio-net: switch to use build_skb() for small buffer", 2017). Both paths run side by side in
 * one process on tinybench (warm-up rounds, then ROUNDS timed rounds of ROUND_SKBS skbs each); the
 * median round of each is reported with its variance and margin of error, and the ratio. Also
 * reports the modelled cost per skb on the Xeon E5-1650 v2 host profile (deterministic: the sum of the charged operation costs).
 *
 * build_skb: carve a receive buffer from the NAPI page_frag cache (headroom NET_SKB_PAD +
 *   NET_IP_ALIGN, tailroom for skb_shared_info), build the skb around it, reserve, put, free.
 * alloc_skb + copy: the receive buffer stays with the driver; allocate an skb (kmalloc head),
 *   reserve, memcpy the packet into it (skb_put_data), free.
 * The device's write of the packet into the buffer is not part of either path.
 */
import { Hypervisor, type Vcpu, XEON_E5_1650V2 } from "@pvnet/hypervisor";
import { Bench, benchHost, benchOptions, benchStats, writeBenchResult } from "@pvnet/testkit";
import { NET_IP_ALIGN, NET_SKB_PAD, newBufferRef, type Page, PagePool, SkbAllocator, skbHeadAlign } from "../src/index.js";

const SIZES = [64, 1500] as const;
/** skbs per timed round; timed rounds per path; warm-up rounds per path (JIT, page caches). */
const ROUND_SKBS = 200_000;
const ROUNDS = 7;
const WARMUP_ROUNDS = 2;
const MODEL_SKBS = 10_000;

const hv = new Hypervisor({ frames: 8192, seed: 1, profile: XEON_E5_1650V2 });
const dom0 = hv.createDomain({ name: "dom0", maxPages: 4096 });
const vcpu = dom0.vcpus[0] as Vcpu;
const pool = new PagePool(dom0, { limitFrames: 2048, costs: vcpu });
const alloc = new SkbAllocator({ pool, maxSkbs: 1024, costs: vcpu });
const ref = newBufferRef();
const headroom = NET_SKB_PAD + NET_IP_ALIGN;

// The receive buffer the copy path reads from: a page the device filled.
const rxPage = pool.allocPage() as Page;
for (let i = 0; i < 4096; i++) hv.machine.bytes[rxPage.addr(i)] = i & 0xff;

function buildSkbPath(len: number, n: number): void {
  const bufLen = skbHeadAlign(headroom + len);
  for (let i = 0; i < n; i++) {
    if (!alloc.napiAllocFrag(bufLen, ref)) throw new Error("out of receive buffers");
    const skb = alloc.napiBuildSkb(ref.page as Page, ref.offset, bufLen);
    if (skb === null) throw new Error("out of skbs");
    skb.reserve(headroom);
    skb.put(len);
    skb.free();
  }
}

function allocCopyPath(len: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const skb = alloc.allocSkb(headroom + len);
    if (skb === null) throw new Error("out of skbs");
    skb.reserve(headroom);
    skb.putDataFromPage(rxPage, 0, len);
    skb.free();
  }
}

function modelledNs(fn: (len: number, n: number) => void, len: number): number {
  vcpu.actor.account.reset();
  fn(len, MODEL_SKBS);
  return vcpu.actor.account.busyNs / MODEL_SKBS;
}

const results: Record<string, unknown> = {};
const started = process.hrtime.bigint();
for (const len of SIZES) {
  const bench = new Bench({ name: `skb ${len}`, ...benchOptions(ROUNDS, WARMUP_ROUNDS) });
  bench.add("build_skb", () => buildSkbPath(len, ROUND_SKBS));
  bench.add("alloc_skb + copy", () => allocCopyPath(len, ROUND_SKBS));
  bench.runSync();
  const [buildTask, copyTask] = bench.tasks;
  if (buildTask === undefined || copyTask === undefined) throw new Error("bench lost a task");
  const build = benchStats(buildTask, ROUND_SKBS);
  const copy = benchStats(copyTask, ROUND_SKBS);
  const b = build.opsPerSecMedian;
  const c = copy.opsPerSecMedian;
  const mb = modelledNs(buildSkbPath, len);
  const mc = modelledNs(allocCopyPath, len);
  results[String(len)] = {
    buildSkb: { skbsPerSec: b, nsPerSkb: +(1e9 / b).toFixed(1), modelledNsPerSkb: +mb.toFixed(2), wall: build },
    allocSkbCopy: { skbsPerSec: c, nsPerSkb: +(1e9 / c).toFixed(1), modelledNsPerSkb: +mc.toFixed(2), wall: copy },
    ratioBuildOverCopy: +(b / c).toFixed(3),
    modelledRatioBuildOverCopy: +(mc / mb).toFixed(3),
  };
}
alloc.drain();

const out = {
  name: "skb",
  what: "build_skb vs alloc_skb + copy of a received packet, skbs/s (median of the timed rounds) and modelled ns/skb",
  method: {
    roundSkbs: ROUND_SKBS,
    rounds: ROUNDS,
    warmupRounds: WARMUP_ROUNDS,
    harness: "tinybench (wall.* per skb: median, mean, variance, sd, rme of the timed rounds)",
    modelSkbs: MODEL_SKBS,
    headroom,
    profile: XEON_E5_1650V2.name,
    note: "wall-clock rates are of this JavaScript model on this machine, not of Linux; modelled ns are the profile's charged costs",
  },
  host: benchHost(),
  results,
  wallSeconds: +(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1),
};
const path = writeBenchResult("skb", out);
console.log(JSON.stringify(out.results, null, 2));
console.log(`wrote ${path}`);
