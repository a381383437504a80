import { type Domain, Hypervisor, type Machine, type Vcpu } from "@pvnet/hypervisor";
import { PagePool, SkbAllocator, type SkBuff } from "../src/index.js";

export interface Env {
  readonly hv: Hypervisor;
  readonly machine: Machine;
  readonly dom: Domain;
  readonly vcpu: Vcpu;
  readonly pool: PagePool;
  readonly alloc: SkbAllocator;
}

/** A machine with one domain, its page pool and an skb allocator. */
export function makeEnv(options: { frames?: number; limitFrames?: number; maxSkbs?: number; maxPages?: number } = {}): Env {
  const hv = new Hypervisor({ frames: options.frames ?? 4096, seed: 1 });
  const dom = hv.createDomain({ name: "dom0", maxPages: options.maxPages ?? 3000 });
  const vcpu = dom.vcpus[0] as Vcpu;
  const pool = new PagePool(dom, { limitFrames: options.limitFrames ?? 2048, costs: vcpu });
  const alloc = new SkbAllocator({ pool, maxSkbs: options.maxSkbs ?? 256, costs: vcpu });
  return { hv, machine: hv.machine, dom, vcpu, pool, alloc };
}

/** Deterministic payload of `len` bytes from `seed`. */
export function payloadOf(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Every 4 KiB frame each region (linear, each frag) touches, counted region by region. */
export function framesSpanned(skb: SkBuff): number {
  const regions: Array<[import("../src/index.js").Page, number, number]> = [[skb.headPage, skb.head + skb.data, skb.headlen]];
  const sh = skb.shinfo;
  for (let i = 0; i < sh.nrFrags; i++) {
    const f = sh.frags[i]!;
    regions.push([f.page!, f.offset, f.size]);
  }
  let n = 0;
  for (const [page, off, len] of regions) {
    // Walk the region one 4 KiB piece at a time and collect the machine frames it lands in.
    const frames = new Set<number>();
    for (let b = off; b < off + len; b = (b | 4095) + 1) frames.add(page.addr(b) >>> 12);
    n += frames.size;
  }
  return n;
}

/** Byte-array equality that stays fast on 64 KiB packets; the message names the first mismatch. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): string | true {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  if (Buffer.compare(actual, expected) === 0) return true;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  return `first difference at byte ${i}: ${actual[i]} != ${expected[i]}`;
}

/** Free every skb, drain the caches and check that no page is still referenced. */
export function leakCheck(env: Env): { pagesInUse: number; liveSkbs: number } {
  env.alloc.drain();
  return { pagesInUse: env.pool.pagesInUse, liveSkbs: env.alloc.liveSkbs };
}
