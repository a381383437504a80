/**
 * hash.c: the Toeplitz hash against the verification vectors of Microsoft's "Verifying the RSS
 * Hash Calculation" (the standard 40-byte key, IPv4/IPv6 with and without ports), and the
 * control messages' handlers with their range checks and error codes, through real grant copies.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import {
  XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
  XEN_NETIF_CTRL_HASH_TYPE_IPV4,
  XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
  XEN_NETIF_CTRL_HASH_TYPE_IPV6,
  XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
  XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
  XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
  XEN_NETIF_CTRL_STATUS_SUCCESS,
} from "@pvnet/netif";
import { SkbComposer } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import {
  PKT_HASH_TYPE_L3,
  PKT_HASH_TYPE_L4,
  toeplitzHash,
  XEN_NETBK_MAX_HASH_KEY_SIZE,
  XenvifHash,
  type XenvifHashContext,
  xenvifGetHashFlags,
  xenvifSetHashAlg,
  xenvifSetHashFlags,
  xenvifSetHashKey,
  xenvifSetHashMapping,
  xenvifSetHashMappingSize,
  xenvifSetSkbHash,
} from "../src/hash.js";
import { MS_KEY, World } from "./harness.js";


const ip4 = (s: string) => s.split(".").map(Number);
function ip6(s: string): number[] {
  const [a, b] = s.split("::") as [string, string | undefined];
  const head = a === "" ? [] : a.split(":");
  const tail = b === undefined || b === "" ? [] : b.split(":");
  const words = [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail].map((w) => Number.parseInt(w, 16));
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}
const port = (p: number) => [p >> 8, p & 0xff];

/** Microsoft's RSS verification suite: [dst, dstPort, src, srcPort, hash with ports, hash of addresses]. */
const V4: [string, number, string, number, number, number][] = [
  ["161.142.100.80", 1766, "66.9.149.187", 2794, 0x51ccc178, 0x323e8fc2],
  ["65.69.140.83", 4739, "199.92.111.2", 14230, 0xc626b0ea, 0xd718262a],
  ["12.22.207.184", 38024, "24.19.198.95", 12898, 0x5c2b394a, 0xd2d0a5de],
  ["209.142.163.6", 2217, "38.27.205.30", 48228, 0xafc7327f, 0x82989176],
  ["202.188.127.2", 1303, "153.39.163.191", 44251, 0x10e828a2, 0x5d1809c5],
];
const V6: [string, number, string, number, number, number][] = [
  ["3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x40207d3d, 0x2cc18cd5],
  ["ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0xdde51bbf, 0x0f0c461c],
  ["fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x02d1feef, 0x4b61e985],
];

describe("toeplitzHash (xen_netif_toeplitz_hash)", () => {
  test.each(V4)("IPv4 %s:%i <- %s:%i", (dst, dp, src, sp, withPorts, addrs) => {
    const a = [...ip4(src), ...ip4(dst)];
    expect(toeplitzHash(MS_KEY, 40, Uint8Array.from(a), 8)).toBe(addrs);
    expect(toeplitzHash(MS_KEY, 40, Uint8Array.from([...a, ...port(sp), ...port(dp)]), 12)).toBe(withPorts);
  });
  test.each(V6)("IPv6 %s:%i <- %s:%i", (dst, dp, src, sp, withPorts, addrs) => {
    const a = [...ip6(src), ...ip6(dst)];
    expect(toeplitzHash(MS_KEY, 40, Uint8Array.from(a), 32)).toBe(addrs);
    expect(toeplitzHash(MS_KEY, 40, Uint8Array.from([...a, ...port(sp), ...port(dp)]), 36)).toBe(withPorts);
  });
  test("a short key reads as zero-padded", () => {
    const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const padded = new Uint8Array(40);
    padded.set(MS_KEY.subarray(0, 10));
    expect(toeplitzHash(MS_KEY, 10, data, 8)).toBe(toeplitzHash(padded, 40, data, 8));
    expect(toeplitzHash(MS_KEY, 10, data, 8)).not.toBe(toeplitzHash(MS_KEY, 40, data, 8));
  });
});

/** A backend's hash state for a guest, and a page the guest granted to Dom0. */
function setup(numQueues = 4, cacheSize?: number) {
  const w = new World();
  const fe = w.frontend();
  const page = w.pool.allocPages(1);
  if (page === null) throw new Error("no page");
  const hash = new XenvifHash(page, cacheSize);
  for (let i = 0; i < page.size; i++) page.machine.bytes[page.addr(i)] = 0;
  const gfn = fe.domain.allocPage();
  const gref = fe.gnttab.grantForeignAccess(w.dom0.domid, gfn, true);
  const guest = w.hv.machine.frameBytes(fe.domain.gfnToMfn(gfn));
  const ctx: XenvifHashContext = { hash, domid: fe.domain.domid, numQueues, grants: w.grants, vcpu: w.dom0.vcpus[0] as Vcpu };
  /** The Dom0 bytes of the whole order-1 page, to check nothing outside the tables changed. */
  const dom0 = () => Array.from({ length: page.size }, (_, i) => page.machine.bytes[page.addr(i)] as number);
  return { w, fe, ctx, hash, gref, guest, dom0 };
}

function putMapping(guest: Uint8Array, entries: readonly number[]): void {
  const dv = new DataView(guest.buffer, guest.byteOffset, guest.byteLength);
  for (const [i, q] of entries.entries()) dv.setUint32(4 * i, q >>> 0, true);
}

describe("hash.c control handlers", () => {
  test("algorithm and flags: NONE refuses flags, unknown algorithms and flags are INVALID_PARAMETER", () => {
    const { ctx } = setup();
    const out = { data: 0 };
    expect(xenvifGetHashFlags(ctx, out)).toBe(XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);
    expect(xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV4)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashAlg(ctx, 2)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashAlg(ctx, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(xenvifGetHashFlags(ctx, out)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(out.data).toBe(0xf);
    expect(xenvifSetHashFlags(ctx, 0x10)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashFlags(ctx, 0xffffffff)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(ctx.hash.flags).toBe(XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP);
  });

  test("SET_HASH_KEY copies the key from the grant, zero-pads a short one, refuses > 40 bytes and a bad gref", () => {
    const { ctx, hash, gref, guest } = setup();
    guest.set(MS_KEY, 0);
    guest.fill(0xee, 40, 100);
    expect(xenvifSetHashKey(ctx, gref, 40)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(Array.from(hash.key)).toEqual(Array.from(MS_KEY));
    expect(xenvifSetHashKey(ctx, gref, XEN_NETBK_MAX_HASH_KEY_SIZE + 1)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashKey(ctx, gref, 0xffffffff)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(Array.from(hash.key)).toEqual(Array.from(MS_KEY));
    expect(xenvifSetHashKey(ctx, gref, 16)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(Array.from(hash.key)).toEqual([...MS_KEY.subarray(0, 16), ...new Array(24).fill(0)]);
    expect(xenvifSetHashKey(ctx, 0xdead, 16)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashKey(ctx, gref, 0)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(Array.from(hash.key)).toEqual(new Array(40).fill(0));
  });

  test("mapping size: at most 128, zeroes the live table", () => {
    const { ctx, hash } = setup();
    expect(xenvifSetHashMappingSize(ctx, 129)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashMappingSize(ctx, 0xffffffff)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashMappingSize(ctx, 128)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(hash.liveMapping()).toEqual(new Array(128).fill(0));
  });

  test("SET_HASH_MAPPING: copied across the page boundary, range-checked, queue numbers checked after the copy", () => {
    const { ctx, hash, gref, guest } = setup(4);
    expect(xenvifSetHashMappingSize(ctx, 128)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    const table = Array.from({ length: 128 }, (_, i) => (i * 7) % 4);
    putMapping(guest, table);
    expect(xenvifSetHashMapping(ctx, gref, 128, 0)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(hash.liveMapping()).toEqual(table);
    // A partial update at an offset keeps the rest.
    putMapping(guest, [3, 3]);
    expect(xenvifSetHashMapping(ctx, gref, 2, 10)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    expect(hash.liveMapping()).toEqual(table.map((q, i) => (i === 10 || i === 11 ? 3 : q)));
    const before = hash.liveMapping();
    // A queue that does not exist: refused, and the live table is the previous one.
    putMapping(guest, [1, 4]);
    expect(xenvifSetHashMapping(ctx, gref, 2, 0)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(hash.liveMapping()).toEqual(before);
    // Past the mapping size, and len beyond a page.
    expect(xenvifSetHashMapping(ctx, gref, 1, 128)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(xenvifSetHashMapping(ctx, gref, 1025, 0)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    // A bad gref: the copy fails.
    putMapping(guest, [0]);
    expect(xenvifSetHashMapping(ctx, 0xdead, 1, 0)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    expect(hash.liveMapping()).toEqual(before);
  });

  test("XSA-270: off + len wrapping around 2^32 is refused and nothing outside the tables is written", () => {
    const { ctx, hash, gref, guest, dom0 } = setup(4);
    expect(xenvifSetHashMappingSize(ctx, 8)).toBe(XEN_NETIF_CTRL_STATUS_SUCCESS);
    putMapping(guest, new Array(1024).fill(0x41414141));
    const snapshot = dom0();
    for (const [len, off] of [
      [2, 0xffffffff],
      [0x40000001, 0],
      [0x80000000, 0x80000000],
      [1, 0xfffffff8],
    ] as const) {
      expect(xenvifSetHashMapping(ctx, gref, len, off)).toBe(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    }
    expect(dom0()).toEqual(snapshot);
    expect(hash.liveMapping()).toEqual(new Array(8).fill(0));
  });

  test("xenvifSetSkbHash hashes the tuple the flags select, with the MS vectors; the cache holds at most its size", () => {
    const { w, ctx, hash, gref, guest } = setup(4, 2);
    xenvifSetHashAlg(ctx, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
    guest.set(MS_KEY, 0);
    xenvifSetHashKey(ctx, gref, 40);
    const composer = new SkbComposer(w.skbs);
    const frame4 = (src: string, dst: string, sp: number, dp: number, frag = 0) => {
      const f = new Uint8Array(14 + 20 + 20);
      f.set([0, 0x16, 0x3e, 0, 0, 1, 0, 0x16, 0x3e, 0, 0, 2, 0x08, 0x00]);
      f.set([0x45, 0, 0, 40, 0, 0, frag >> 8, frag & 0xff, 64, 6, 0, 0, ...ip4(src), ...ip4(dst)], 14);
      f.set([...port(sp), ...port(dp)], 34);
      return composer.compose({ linearLen: f.length }, f)!;
    };
    const frame6 = (src: string, dst: string, sp: number, dp: number) => {
      const f = new Uint8Array(14 + 40 + 20);
      f.set([0, 0x16, 0x3e, 0, 0, 1, 0, 0x16, 0x3e, 0, 0, 2, 0x86, 0xdd]);
      f.set([0x60, 0, 0, 0, 0, 20, 6, 64, ...ip6(src), ...ip6(dst)], 14);
      f.set([...port(sp), ...port(dp)], 54);
      return composer.compose({ linearLen: f.length }, f)!;
    };
    const [dst, dp, src, sp, withPorts, addrs] = V4[0]!;
    const skb = frame4(src, dst, sp, dp);
    xenvifSetSkbHash(hash, skb); // flags 0: nothing enabled
    expect(hash.skbHashType).toBe(0);
    xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV4);
    xenvifSetSkbHash(hash, skb);
    expect([hash.skbHash, hash.skbHashType]).toEqual([addrs, PKT_HASH_TYPE_L3]);
    xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
    xenvifSetSkbHash(hash, skb);
    expect([hash.skbHash, hash.skbHashType]).toEqual([withPorts, PKT_HASH_TYPE_L4]);
    // A fragment has no TCP header to hash.
    const fragment = frame4(src, dst, sp, dp, 0x2000);
    xenvifSetSkbHash(hash, fragment);
    expect([hash.skbHash, hash.skbHashType]).toEqual([addrs, PKT_HASH_TYPE_L3]);
    // IPv4 flags do not hash IPv6.
    const [d6, dp6, s6, sp6, withPorts6, addrs6] = V6[2]!;
    const skb6 = frame6(s6, d6, sp6, dp6);
    xenvifSetSkbHash(hash, skb6);
    expect(hash.skbHashType).toBe(0);
    xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV6);
    xenvifSetSkbHash(hash, skb6);
    expect([hash.skbHash, hash.skbHashType]).toEqual([addrs6, PKT_HASH_TYPE_L3]);
    xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV6 | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP);
    xenvifSetSkbHash(hash, skb6);
    expect([hash.skbHash, hash.skbHashType]).toEqual([withPorts6, PKT_HASH_TYPE_L4]);
    // The cache (size 2): a repeat hits, a third tuple evicts the least recently used.
    expect(hash.cached).toBe(2);
    const hits = hash.stats.cacheHits;
    xenvifSetSkbHash(hash, skb6);
    expect(hash.stats.cacheHits).toBe(hits + 1);
    xenvifSetHashFlags(ctx, XEN_NETIF_CTRL_HASH_TYPE_IPV4);
    xenvifSetSkbHash(hash, skb);
    expect(hash.cached).toBe(2);
    expect(hash.stats.cacheEvictions).toBeGreaterThan(0);
    // A new key flushes the cache.
    xenvifSetHashKey(ctx, gref, 40);
    expect(hash.cached).toBe(0);
    for (const s of [skb, fragment, skb6]) s.free();
  });
});
