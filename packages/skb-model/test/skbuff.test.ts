import { describe, expect, test } from "vitest";
import {
  CHECKSUM_PARTIAL,
  EINVAL,
  ENOMEM,
  fillPage,
  MAX_SKB_FRAGS,
  NET_IP_ALIGN,
  NET_SKB_PAD,
  PAGE_SIZE,
  type Page,
  pageRefCount,
  putPage,
  readPage,
  SKB_GSO_TCPV4,
  SKB_SHINFO_SIZE,
  SKBFL_DONT_ORPHAN,
  SkbComposer,
  skbDataAlign,
  skbHeadAlign,
  skbTruesize,
  skbWithOverhead,
  UbufInfo,
  writePage,
} from "../src/index.js";
import { leakCheck, makeEnv, payloadOf } from "./helpers.js";

const bug = expect.objectContaining({ name: "SkbError", code: "BUG" });

describe("constants (Linux 6.x, x86_64)", () => {
  test("SKB_TRUESIZE, SKB_HEAD_ALIGN, SKB_WITH_OVERHEAD", () => {
    expect(SKB_SHINFO_SIZE).toBe(320);
    expect(skbDataAlign(232)).toBe(256);
    expect(skbTruesize(0)).toBe(576);
    expect(skbTruesize(1728)).toBe(2304);
    expect(skbHeadAlign(1500)).toBe(1856);
    expect(skbWithOverhead(1024)).toBe(704);
    expect(skbWithOverhead(PAGE_SIZE)).toBe(3776);
    expect(NET_SKB_PAD + NET_IP_ALIGN).toBe(64);
  });
});

describe("allocation", () => {
  test("alloc_skb(1500): kmalloc-2048 head, shinfo at the very end, truesize SKB_TRUESIZE(1728)", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(1500)!;
    expect(skb.end).toBe(1728);
    expect(skb.truesize).toBe(2304);
    expect(skb.headroom).toBe(0);
    expect(skb.tailroom).toBe(1728);
    expect(skb.len).toBe(0);
    expect(skb.headFrag).toBe(false);
    expect(skb.shinfo.dataref).toBe(1);
    expect(skb.users).toBe(1);
    skb.free();
  });

  test("alloc_skb of a small size comes from skb_small_head_cache (640 bytes)", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(100)!;
    expect(skb.end).toBe(320);
    expect(skb.truesize).toBe(896);
    skb.free();
  });

  test("build_skb around a virtio-style receive buffer: headroom NET_SKB_PAD + NET_IP_ALIGN, shinfo tailroom", () => {
    const { alloc } = makeEnv();
    const bufLen = skbHeadAlign(NET_SKB_PAD + NET_IP_ALIGN + 1518);
    expect(bufLen).toBe(1920);
    const ref = { page: null, offset: 0, size: 0 } as import("../src/index.js").BufferRef;
    expect(alloc.napiAllocFrag(bufLen, ref)).toBe(true);
    const skb = alloc.buildSkb(ref.page!, ref.offset, bufLen)!;
    expect(skb.headFrag).toBe(true);
    expect(skb.end).toBe(1600);
    expect(skb.truesize).toBe(skbTruesize(1600));
    skb.reserve(NET_SKB_PAD + NET_IP_ALIGN);
    skb.put(1518);
    expect(skb.headroom).toBe(64);
    expect(skb.len).toBe(1518);
    expect(skb.tailroom).toBe(18);
    const page = skb.headPage;
    expect(pageRefCount(page)).toBe(2); // the cache's and the skb's
    skb.free();
    expect(pageRefCount(page)).toBe(1);
    alloc.drain();
  });

  test("build_skb refuses a buffer that cannot hold the shinfo or lies outside its page", () => {
    const { alloc, pool } = makeEnv();
    const p = pool.allocPage()!;
    expect(() => alloc.buildSkb(p, 0, 320)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => alloc.buildSkb(p, 4000, 2048)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    putPage(p);
    expect(pool.pagesInUse).toBe(0);
  });

  test("napi_alloc_skb: page_frag head for mid sizes, kmalloc for small and large ones", () => {
    const env = makeEnv();
    const { alloc } = env;
    const mid = alloc.napiAllocSkb(1500)!;
    expect(mid.headFrag).toBe(true);
    expect(mid.end).toBe(1600);
    expect(mid.truesize).toBe(2176);
    expect(mid.headroom).toBe(64);
    expect(mid.tailroom).toBe(1536);
    const small = alloc.napiAllocSkb(64)!;
    expect(small.headFrag).toBe(false);
    expect(small.end).toBe(320);
    expect(small.truesize).toBe(896);
    expect(small.headroom).toBe(64);
    const large = alloc.napiAllocSkb(3800)!;
    expect(large.headFrag).toBe(false);
    expect(large.end).toBe(7872);
    expect(large.truesize).toBe(8448);
    const nd = alloc.netdevAllocSkb(1500)!;
    expect(nd.headFrag).toBe(true);
    expect(nd.headPage).not.toBe(mid.headPage);
    for (const s of [mid, small, large, nd]) s.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("the sk_buff limit: allocation returns null, counted, and recovers after frees", () => {
    const { alloc } = makeEnv({ maxSkbs: 3 });
    const skbs = [alloc.allocSkb(10)!, alloc.allocSkb(10)!, alloc.allocSkb(10)!];
    expect(alloc.allocSkb(10)).toBeNull();
    expect(skbs[0]!.clone()).toBeNull();
    expect(alloc.stats.failures).toBe(2);
    skbs[0]!.free();
    const again = alloc.allocSkb(10)!;
    expect(again).toBe(skbs[0]); // the struct is recycled
    for (const s of [again, skbs[1]!, skbs[2]!]) s.free();
    expect(alloc.liveSkbs).toBe(0);
  });

  test("use after free and double free are BUGs, not silent corruption", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(10)!;
    skb.free();
    expect(() => skb.put(1)).toThrow(bug);
    expect(() => skb.free()).toThrow(bug);
    expect(skb.live).toBe(false);
  });
});

describe("linear area: reserve, put, push, pull, trim", () => {
  test("put moves tail and len; push moves data back; pull forward; trim cuts", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(200)!;
    skb.reserve(64);
    expect(skb.headroom).toBe(64);
    expect(skb.put(100)).toBe(0);
    expect(skb.put(20)).toBe(100);
    expect(skb.len).toBe(120);
    expect(skb.tail).toBe(184);
    skb.push(14);
    expect(skb.len).toBe(134);
    expect(skb.headroom).toBe(50);
    expect(skb.pull(14)).toBe(true);
    expect(skb.headroom).toBe(64);
    expect(skb.pull(1000)).toBe(false);
    expect(skb.len).toBe(120);
    skb.trim(50);
    expect(skb.len).toBe(50);
    expect(skb.tail).toBe(114);
    skb.trim(80); // longer than len: nothing
    expect(skb.len).toBe(50);
    skb.free();
  });

  test("put past end is skb_over_panic, push before head skb_under_panic; nothing moves", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(100)!;
    skb.reserve(10);
    expect(() => skb.put(skb.end)).toThrow(expect.objectContaining({ code: "SKB_OVER_PANIC" }));
    expect(() => skb.push(11)).toThrow(expect.objectContaining({ code: "SKB_UNDER_PANIC" }));
    expect(() => skb.put(-1)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(skb.len).toBe(0);
    expect(skb.tail).toBe(10);
    skb.free();
  });

  test("putData writes the bytes at the tail; writes never reach the shinfo area", () => {
    const { alloc, pool } = makeEnv();
    const page = pool.allocPage()!;
    const skb = alloc.buildSkb(page, 0, 2048)!;
    // Canary over the reserved skb_shared_info bytes.
    fillPage(page, skb.end, 0xab, SKB_SHINFO_SIZE);
    skb.reserve(64);
    const data = payloadOf(skb.end - 64, 1);
    skb.putData(data);
    expect(skb.toBytes()).toEqual(data);
    expect(() => skb.put(1)).toThrow(expect.objectContaining({ code: "SKB_OVER_PANIC" }));
    expect(skb.storeBits(0, new Uint8Array(10), 0, 10)).toBe(0);
    expect(skb.storeBits(skb.len - 5, new Uint8Array(10), 0, 10)).toBeLessThan(0);
    const canary = new Uint8Array(SKB_SHINFO_SIZE);
    readPage(page, skb.end, canary, 0, canary.length);
    expect(canary.every((b) => b === 0xab)).toBe(true);
    skb.free();
  });

  test("skb_put on a non-linear skb is a BUG (SKB_LINEAR_ASSERT); tailroom is 0", () => {
    const { alloc, pool } = makeEnv();
    const skb = alloc.allocSkb(100)!;
    skb.addRxFrag(0, pool.allocPage()!, 0, 100, PAGE_SIZE);
    expect(skb.tailroom).toBe(0);
    expect(() => skb.put(1)).toThrow(bug);
    // pull cannot reach into frags; trim does nothing on a non-linear skb.
    expect(skb.pull(1)).toBe(false);
    skb.trim(10);
    expect(skb.len).toBe(100);
    skb.free();
  });
});

describe("frags", () => {
  test("add_rx_frag grows len, data_len and truesize by what the driver gives", () => {
    const { alloc, pool } = makeEnv();
    const skb = alloc.napiAllocSkb(128)!;
    skb.put(60);
    const t0 = skb.truesize;
    skb.addRxFrag(0, pool.allocPage()!, 100, 1000, PAGE_SIZE);
    skb.addRxFrag(1, pool.allocPages(1)!, 5000, 2000, 2 * PAGE_SIZE);
    expect(skb.len).toBe(3060);
    expect(skb.dataLen).toBe(3000);
    expect(skb.headlen).toBe(60);
    expect(skb.truesize).toBe(t0 + 3 * PAGE_SIZE);
    expect(skb.shinfo.nrFrags).toBe(2);
    expect(skb.isNonlinear).toBe(true);
    expect(skb.pagelen).toBe(3000);
    skb.free();
    expect(alloc.pool.pagesInUse).toBeLessThanOrEqual(1); // only the frag cache's page
  });

  test("frag index and bounds are checked", () => {
    const { alloc, pool } = makeEnv();
    const skb = alloc.allocSkb(10)!;
    const p = pool.allocPage()!;
    expect(() => skb.addRxFrag(MAX_SKB_FRAGS, p, 0, 1, 1)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => skb.addRxFrag(0, p, 4000, 200, 1)).toThrow(expect.objectContaining({ code: "EFAULT" }));
    expect(skb.len).toBe(0);
    skb.free();
    expect(pageRefCount(p)).toBe(1);
    putPage(p);
  });
});

describe("__pskb_pull_tail", () => {
  function withFrags(env: ReturnType<typeof makeEnv>, linear: number, sizes: number[]) {
    const c = new SkbComposer(env.alloc);
    const payload = payloadOf(linear + sizes.reduce((a, b) => a + b, 0), 9);
    const skb = c.compose({ linearLen: linear, frags: sizes.map((size) => ({ size, offset: 10 })) }, payload)!;
    return { skb, payload };
  }

  test("a zero-byte pull of an skb whose data is all in its frag_list keeps the list (Linux's do-while)", () => {
    // Found by the property test (fast-check seed -1988018258): the model used a while loop and
    // freed every frag_list member when there was nothing to eat.
    const env = makeEnv();
    const c = new SkbComposer(env.alloc);
    const skb = c.compose({ linearLen: 0, linearOffset: 0, frags: [], fragList: [{ linearLen: 1, linearOffset: 0, frags: [] }] }, new Uint8Array([0x55]))!;
    expect(skb.pskbPullTail(0)).toBe(true);
    expect(skb.shinfo.fragList?.len).toBe(1);
    expect([...skb.toBytes()]).toEqual([0x55]);
    expect(skb.pskbPullTail(1)).toBe(true);
    expect(skb.shinfo.fragList).toBeNull();
    expect([...skb.toBytes()]).toEqual([0x55]);
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("pulls whole frags (released) and part of the next (offset/size moved), in the tailroom", () => {
    const env = makeEnv();
    const { skb, payload } = withFrags(env, 20, [100, 200, 300]);
    const p0 = skb.shinfo.frags[0]!.page!;
    const t0 = skb.truesize;
    const head0 = skb.headPage;
    expect(skb.pskbPullTail(150)).toBe(true);
    expect(skb.headPage).toBe(head0); // enough tailroom: no reallocation
    expect(pageRefCount(p0)).toBe(0);
    expect(skb.shinfo.nrFrags).toBe(2);
    expect(skb.shinfo.frags[0]!.offset).toBe(60);
    expect(skb.shinfo.frags[0]!.size).toBe(150);
    expect(skb.headlen).toBe(170);
    expect(skb.dataLen).toBe(450);
    expect(skb.truesize).toBe(t0);
    expect(skb.toBytes()).toEqual(payload);
    skb.free();
  });

  test("partial pull of the first frag keeps nr_frags", () => {
    const env = makeEnv();
    const { skb, payload } = withFrags(env, 0, [1000, 10]);
    expect(skb.pskbMayPull(54)).toBe(true);
    expect(skb.shinfo.nrFrags).toBe(2);
    expect(skb.shinfo.frags[0]!.size).toBe(946);
    expect(skb.toBytes()).toEqual(payload);
    expect(skb.pskbMayPull(2000)).toBe(false);
    skb.free();
  });

  test("without tailroom the head is reallocated with 128 bytes of slack and truesize grows", () => {
    const { alloc, pool } = makeEnv();
    const skb = alloc.allocSkb(0)!;
    expect(skb.end).toBe(320);
    skb.put(10);
    const page = pool.allocPage()!;
    const data = payloadOf(2000, 4);
    writePage(page, 0, data, 0, 2000);
    skb.addRxFrag(0, page, 0, 2000, PAGE_SIZE);
    skb.ipSummed = CHECKSUM_PARTIAL;
    skb.csumStart = 4;
    const t0 = skb.truesize;
    expect(skb.pskbPullTail(1000)).toBe(true);
    // eat = 10 + 1000 - 320 = 690; kmalloc(SKB_HEAD_ALIGN(320 + 690 + 128)) = 2048; end = 1728.
    expect(skb.end).toBe(1728);
    expect(skb.truesize).toBe(t0 + 1728 - 320);
    expect(skb.headFrag).toBe(false);
    expect(skb.headlen).toBe(1010);
    expect(skb.csumStart).toBe(4);
    const bytes = skb.toBytes();
    expect(bytes.subarray(10)).toEqual(data);
    skb.free();
  });

  test("a cloned skb gets private data first; the clone is untouched", () => {
    const env = makeEnv();
    const { skb, payload } = withFrags(env, 20, [100, 200]);
    const clone = skb.clone()!;
    expect(skb.isCloned).toBe(true);
    expect(skb.shinfo.dataref).toBe(2);
    const fragPage = skb.shinfo.frags[1]!.page!;
    expect(skb.pskbPullTail(150)).toBe(true);
    expect(skb.isCloned).toBe(false);
    expect(skb.shinfo).not.toBe(clone.shinfo);
    expect(clone.shinfo.dataref).toBe(1);
    expect(clone.headlen).toBe(20);
    expect(clone.shinfo.nrFrags).toBe(2);
    expect(pageRefCount(fragPage)).toBe(2); // both shinfos reference it
    expect(skb.toBytes()).toEqual(payload);
    expect(clone.toBytes()).toEqual(payload);
    skb.free();
    clone.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("pulls through the frag_list: eaten members are freed, a partly eaten one is pulled", () => {
    const env = makeEnv();
    const c = new SkbComposer(env.alloc);
    const payload = payloadOf(1000, 5);
    const skb = c.compose({ linearLen: 10, frags: [{ size: 20 }], fragList: [{ linearLen: 100 }, { linearLen: 200, frags: [{ size: 300 }] }] }, payload)!;
    expect(skb.len).toBe(630);
    expect(env.alloc.liveSkbs).toBe(3);
    expect(skb.pskbPullTail(170)).toBe(true);
    expect(env.alloc.liveSkbs).toBe(2);
    expect(skb.shinfo.nrFrags).toBe(0);
    expect(skb.shinfo.fragList!.len).toBe(450);
    expect(skb.headlen).toBe(180);
    expect(skb.toBytes()).toEqual(payload.subarray(0, 630));
    expect(skb.linearize()).toBe(0);
    expect(skb.shinfo.fragList).toBeNull();
    expect(skb.toBytes()).toEqual(payload.subarray(0, 630));
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("a shared frag_list member is cloned before it is pulled; its other user sees it unchanged", () => {
    const env = makeEnv();
    const c = new SkbComposer(env.alloc);
    const payload = payloadOf(1000, 6);
    const skb = c.compose({ linearLen: 10, fragList: [{ linearLen: 100 }, { linearLen: 200 }] }, payload)!;
    const member = skb.shinfo.fragList!.next!;
    member.get();
    expect(skb.pskbPullTail(150)).toBe(true);
    expect(skb.shinfo.fragList).not.toBe(member);
    expect(skb.shinfo.fragList!.len).toBe(150);
    expect(member.len).toBe(200);
    expect(member.users).toBe(1);
    expect(member.toBytes()).toEqual(payload.subarray(110, 310));
    expect(skb.toBytes()).toEqual(payload.subarray(0, 310));
    skb.free();
    member.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });
});

describe("clone and copy", () => {
  test("skb_clone shares the data: same head, dataref 2, writes visible to both, truesize copied", () => {
    const env = makeEnv();
    const skb = new SkbComposer(env.alloc).compose({ linearLen: 100, frags: [{ size: 500 }] })!;
    const clone = skb.clone()!;
    expect(clone).not.toBe(skb);
    expect(clone.headPage).toBe(skb.headPage);
    expect(clone.shinfo).toBe(skb.shinfo);
    expect(skb.shinfo.dataref).toBe(2);
    expect(clone.isCloned && skb.isCloned).toBe(true);
    expect(clone.truesize).toBe(skb.truesize);
    skb.storeBits(0, new Uint8Array([1, 2, 3]), 0, 3);
    skb.storeBits(200, new Uint8Array([9]), 0, 1);
    const cb = clone.toBytes();
    expect([cb[0], cb[1], cb[2], cb[200]]).toEqual([1, 2, 3, 9]);
    // Headers are private: pulling one does not move the other.
    expect(clone.pull(14)).toBe(true);
    expect(skb.len).toBe(600);
    skb.free();
    expect(clone.shinfo.dataref).toBe(1);
    expect(clone.isCloned).toBe(false);
    clone.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("skb_copy: linear private copy with the same headroom and header fields", () => {
    const env = makeEnv();
    const payload = payloadOf(2000, 2);
    const skb = new SkbComposer(env.alloc).compose({ linearLen: 100, frags: [{ size: 900 }, { size: 1000 }], gso: { size: 1448, type: SKB_GSO_TCPV4 } }, payload)!;
    skb.partialCsumSet(20, 16);
    const n = skb.copy()!;
    expect(n.isNonlinear).toBe(false);
    expect(n.len).toBe(2000);
    expect(n.headroom).toBe(skb.headroom);
    expect(n.headPage).not.toBe(skb.headPage);
    expect(n.toBytes()).toEqual(payload);
    expect(n.shinfo.gsoSize).toBe(1448);
    expect(n.shinfo.gsoType).toBe(SKB_GSO_TCPV4);
    expect(n.ipSummed).toBe(CHECKSUM_PARTIAL);
    expect(n.csumStart).toBe(skb.csumStart);
    // skb_copy allocs skb_end_offset + data_len: truesize follows that head.
    expect(n.end).toBeGreaterThanOrEqual(skb.end + skb.dataLen);
    expect(n.truesize).toBe(skbTruesize(n.end));
    n.storeBits(0, new Uint8Array([0xee]), 0, 1);
    expect(skb.toBytes()[0]).toBe(payload[0]);
    skb.free();
    n.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("skb_get makes an skb shared; it lives until the last kfree_skb", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(10)!;
    skb.get();
    expect(skb.isShared).toBe(true);
    expect(() => skb.pskbExpandHead(0, 0)).toThrow(bug);
    skb.free();
    expect(skb.live).toBe(true);
    skb.free();
    expect(skb.live).toBe(false);
  });
});

describe("zerocopy frags", () => {
  function zskb(env: ReturnType<typeof makeEnv>, sizes: number[], flags?: number) {
    const payload = payloadOf(50 + sizes.reduce((a, b) => a + b, 0), 8);
    const skb = new SkbComposer(env.alloc).compose({ linearLen: 50, frags: sizes.map((size) => ({ size, offset: 7 })) }, payload)!;
    const calls: boolean[] = [];
    const ubuf = new UbufInfo((_s, _u, ok) => calls.push(ok));
    if (flags !== undefined) ubuf.flags |= flags;
    skb.zcopyInit(ubuf);
    return { skb, payload, calls, ubuf };
  }

  test("skb_copy_ubufs copies frags into fresh order-0 pages and completes the ubuf with false", () => {
    const env = makeEnv();
    const { skb, payload, calls } = zskb(env, [3000, 3000, 100]);
    const old = skb.shinfo.frags.slice(0, 3).map((f) => f.page!);
    const t0 = skb.truesize;
    expect(skb.copyUbufs()).toBe(0);
    expect(calls).toEqual([false]);
    expect(skb.zcopy).toBeNull();
    expect(skb.shinfo.nrFrags).toBe(2);
    expect(skb.shinfo.frags[0]!.size).toBe(PAGE_SIZE);
    expect(skb.shinfo.frags[1]!.size).toBe(6100 - PAGE_SIZE);
    expect(skb.shinfo.frags[0]!.page!.order).toBe(0);
    for (const p of old) expect(pageRefCount(p)).toBe(0);
    expect(skb.truesize).toBe(t0);
    expect(skb.toBytes()).toEqual(payload);
    skb.free();
    expect(calls).toEqual([false]);
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("freeing a zerocopy skb completes its ubuf with success", () => {
    const env = makeEnv();
    const { skb, calls, ubuf } = zskb(env, [100]);
    skb.free();
    expect(calls).toEqual([true]);
    expect(ubuf.completions).toBe(1);
  });

  test("skb_clone of a zerocopy skb copies the frags first (skb_orphan_frags)", () => {
    const env = makeEnv();
    const { skb, payload, calls } = zskb(env, [1000, 2000]);
    const clone = skb.clone()!;
    expect(calls).toEqual([false]);
    expect(clone.zcopy).toBeNull();
    expect(clone.toBytes()).toEqual(payload);
    skb.free();
    clone.free();
    expect(calls).toEqual([false]);
  });

  test("SKBFL_DONT_ORPHAN frags are shared by clones and completed once, at the last release", () => {
    const env = makeEnv();
    const { skb, calls } = zskb(env, [1000], SKBFL_DONT_ORPHAN);
    const clone = skb.clone()!;
    expect(calls).toEqual([]);
    expect(clone.zcopy).not.toBeNull();
    // Private data for skb: its new shinfo takes another reference on the ubuf.
    expect(skb.unclone()).toBe(0);
    skb.free();
    expect(calls).toEqual([]);
    clone.free();
    expect(calls).toEqual([true]);
  });

  test("skb_copy_ubufs refuses a shared skb and fails cleanly when pages run out", () => {
    const env = makeEnv();
    const { skb, calls, payload } = zskb(env, [3000, 3000]);
    skb.get();
    expect(skb.copyUbufs()).toBe(-EINVAL);
    skb.free();
    const hog: Page[] = [];
    for (let p = env.pool.allocPage(); p !== null; p = env.pool.allocPage()) hog.push(p);
    expect(skb.copyUbufs()).toBe(-ENOMEM);
    expect(skb.zcopy).not.toBeNull();
    expect(skb.toBytes()).toEqual(payload);
    expect(calls).toEqual([]);
    for (const p of hog) putPage(p);
    expect(skb.copyUbufs()).toBe(0);
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });
});

describe("trim and checksum", () => {
  test("pskb_trim cuts inside a frag and drops the rest; into the linear area drops all frags", () => {
    const env = makeEnv();
    const payload = payloadOf(3100, 3);
    const skb = new SkbComposer(env.alloc).compose({ linearLen: 100, frags: [{ size: 1000 }, { size: 1000 }, { size: 1000 }] }, payload)!;
    const third = skb.shinfo.frags[2]!.page!;
    expect(skb.pskbTrim(1500)).toBe(0);
    expect(skb.len).toBe(1500);
    expect(skb.dataLen).toBe(1400);
    expect(skb.shinfo.nrFrags).toBe(2);
    expect(skb.shinfo.frags[1]!.size).toBe(400);
    expect(pageRefCount(third)).toBe(0);
    expect(skb.toBytes()).toEqual(payload.subarray(0, 1500));
    expect(skb.pskbTrim(50)).toBe(0);
    expect(skb.shinfo.nrFrags).toBe(0);
    expect(skb.dataLen).toBe(0);
    expect(skb.tail - skb.data).toBe(50);
    expect(skb.toBytes()).toEqual(payload.subarray(0, 50));
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("pskb_trim into the frag_list trims the member and frees those after it", () => {
    const env = makeEnv();
    const payload = payloadOf(1000, 4);
    const skb = new SkbComposer(env.alloc).compose({ linearLen: 10, frags: [{ size: 10 }], fragList: [{ linearLen: 100 }, { linearLen: 100 }, { linearLen: 100 }] }, payload)!;
    expect(skb.pskbTrim(150)).toBe(0);
    expect(skb.len).toBe(150);
    expect(env.alloc.liveSkbs).toBe(3);
    expect(skb.toBytes()).toEqual(payload.subarray(0, 150));
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("skb_partial_csum_set checks bounds; csum_start follows the head on expansion", () => {
    const { alloc } = makeEnv();
    const skb = alloc.allocSkb(200)!;
    skb.reserve(64);
    skb.put(100);
    expect(skb.partialCsumSet(20, 16)).toBe(true);
    expect(skb.ipSummed).toBe(CHECKSUM_PARTIAL);
    expect(skb.csumStart).toBe(84);
    expect(skb.csumOffset).toBe(16);
    expect(skb.partialCsumSet(90, 16)).toBe(false);
    expect(skb.pskbExpandHead(32, 0)).toBe(0);
    expect(skb.csumStart).toBe(116);
    expect(skb.headroom).toBe(96);
    skb.free();
  });
});
