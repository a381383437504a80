import { describe, expect, test } from "vitest";
import {
  copyPageToPage,
  getOrder,
  getPage,
  Kmalloc,
  kmallocSizeRoundup,
  MAX_PAGE_ORDER,
  newBufferRef,
  PAGE_SIZE,
  Page,
  PageFrag,
  PagePool,
  pageRefCount,
  putPage,
  readPage,
  SKB_SMALL_HEAD_CACHE_SIZE,
  writePage,
} from "../src/index.js";
import { makeEnv, payloadOf } from "./helpers.js";

describe("pages", () => {
  test("alloc_pages gives 2^order frames of the domain with one reference; put_page frees", () => {
    const { pool, dom, machine } = makeEnv();
    const p = pool.allocPages(2)!;
    expect(p.size).toBe(4 * PAGE_SIZE);
    expect(pageRefCount(p)).toBe(1);
    for (const mfn of p.mfns) expect(machine.ownerOf(mfn)).toBe(dom.domid);
    expect(new Set(p.mfns).size).toBe(4);
    getPage(p);
    putPage(p);
    expect(pool.pagesInUse).toBe(1);
    putPage(p);
    expect(pageRefCount(p)).toBe(0);
    expect(pool.pagesInUse).toBe(0);
    expect(pool.inUseFrames).toBe(0);
  });

  test("a freed page is reused, and drain() gives its frames back to the domain", () => {
    const { pool, dom } = makeEnv();
    const before = dom.nrPages;
    const p = pool.allocPages(1)!;
    putPage(p);
    expect(pool.allocPages(1)).toBe(p);
    putPage(p);
    expect(dom.nrPages).toBe(before + 2);
    pool.drain();
    expect(dom.nrPages).toBe(before);
    expect(pool.stats.ownedFrames).toBe(0);
  });

  test("byte o of a compound page lives in frame o >> 12 at o & 4095", () => {
    const { pool, machine } = makeEnv();
    const p = pool.allocPages(2)!;
    for (const o of [0, 4095, 4096, 8191, 12288, 16383]) {
      expect(p.addr(o)).toBe(p.mfns[o >> 12]! * PAGE_SIZE + (o & 4095));
    }
    const data = payloadOf(10000, 3);
    writePage(p, 3000, data, 0, data.length);
    for (let i = 0; i < data.length; i++) expect(machine.bytes[p.addr(3000 + i)]).toBe(data[i]);
    const back = new Uint8Array(10000);
    readPage(p, 3000, back, 0, back.length);
    expect(back).toEqual(data);
    putPage(p);
  });

  test("copyPageToPage copies across unaligned boundaries on both sides", () => {
    const { pool } = makeEnv();
    const a = pool.allocPages(2)!;
    const b = pool.allocPages(2)!;
    const data = payloadOf(9000, 7);
    writePage(a, 100, data, 0, data.length);
    copyPageToPage(b, 4000, a, 100, 9000);
    const back = new Uint8Array(9000);
    readPage(b, 4000, back, 0, 9000);
    expect(back).toEqual(data);
    putPage(a);
    putPage(b);
  });

  test("no access outside a page: EFAULT", () => {
    const { pool } = makeEnv();
    const p = pool.allocPage()!;
    expect(() => writePage(p, 4000, new Uint8Array(200), 0, 200)).toThrow(expect.objectContaining({ name: "SkbError", code: "EFAULT" }));
    expect(() => readPage(p, -1, new Uint8Array(2), 0, 1)).toThrow(expect.objectContaining({ code: "EFAULT" }));
    expect(() => copyPageToPage(p, 0, p, 4095, 2)).toThrow(expect.objectContaining({ code: "EFAULT" }));
    putPage(p);
  });

  test("double free and get on a free page are BUGs", () => {
    const { pool } = makeEnv();
    const p = pool.allocPage()!;
    putPage(p);
    expect(() => putPage(p)).toThrow(expect.objectContaining({ code: "BUG" }));
    expect(() => getPage(p)).toThrow(expect.objectContaining({ code: "BUG" }));
  });

  test("the pool limit is never exceeded: allocation returns null and counts a failure", () => {
    const { dom } = makeEnv();
    const pool = new PagePool(dom, { limitFrames: 10 });
    const pages = [pool.allocPages(3)!, pool.allocPages(0)!, pool.allocPages(0)!];
    expect(pool.allocPages(0)).toBeNull();
    expect(pool.allocPages(1)).toBeNull();
    expect(pool.stats.failures).toBe(2);
    expect(pool.stats.ownedFrames).toBe(10);
    // Cached pages of another order are given back to make room.
    putPage(pages[0]!);
    const p1 = pool.allocPages(1)!;
    expect(p1).not.toBeNull();
    expect(pool.stats.ownedFrames).toBeLessThanOrEqual(10);
    for (const p of [pages[1]!, pages[2]!, p1]) putPage(p);
  });

  test("the domain's own limit: allocation returns null, partial compound pages are undone", () => {
    const hvEnv = makeEnv({ maxPages: 6 });
    const pool = new PagePool(hvEnv.dom, { limitFrames: 100 });
    const a = pool.allocPages(2)!;
    expect(pool.allocPages(2)).toBeNull();
    expect(hvEnv.dom.nrPages).toBe(4);
    putPage(a);
    expect(pool.allocPages(2)).toBe(a);
  });

  test("orders above MAX_PAGE_ORDER are refused", () => {
    const { pool } = makeEnv();
    expect(() => pool.allocPages(MAX_PAGE_ORDER + 1)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(getOrder(PAGE_SIZE << MAX_PAGE_ORDER)).toBe(MAX_PAGE_ORDER);
    expect(getOrder((PAGE_SIZE << MAX_PAGE_ORDER) + 1)).toBe(-1);
    expect(getOrder(1)).toBe(0);
    expect(getOrder(4097)).toBe(1);
  });

  test("a wrapped foreign page runs its release hook at the last put", () => {
    const { machine, pool } = makeEnv();
    const backing = pool.allocPage()!;
    let released = 0;
    const w = Page.wrap(machine, [backing.mfns[0]!], () => released++);
    getPage(w);
    putPage(w);
    expect(released).toBe(0);
    putPage(w);
    expect(released).toBe(1);
    // Reused for another frame without a new object; a live or pool page cannot be rewrapped.
    const other = pool.allocPage()!;
    w.rewrap([other.mfns[0]!]);
    expect(pageRefCount(w)).toBe(1);
    expect(w.addr(5)).toBe(other.addr(5));
    expect(() => w.rewrap([other.mfns[0]!])).toThrow(expect.objectContaining({ code: "BUG" }));
    expect(() => backing.rewrap([other.mfns[0]!])).toThrow(expect.objectContaining({ code: "BUG" }));
    putPage(w);
    expect(released).toBe(2);
    putPage(backing);
    putPage(other);
    expect(() => Page.wrap(machine, [1, 2, 3], null)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});

describe("page_frag (skb_page_frag_refill)", () => {
  test("carves aligned buffers from an order-3 page, each holding a page reference", () => {
    const { pool } = makeEnv();
    const pf = new PageFrag(pool);
    const a = newBufferRef();
    const b = newBufferRef();
    expect(pf.alloc(100, 64, a)).toBe(true);
    expect(pf.alloc(100, 64, b)).toBe(true);
    expect(a.page).toBe(b.page);
    expect(a.page!.order).toBe(3);
    expect(a.offset).toBe(0);
    expect(b.offset).toBe(128);
    expect(pageRefCount(a.page!)).toBe(3);
    putPage(a.page!);
    putPage(b.page!);
    pf.drain();
    expect(pool.pagesInUse).toBe(0);
  });

  test("a page only the cache references is reused from offset 0", () => {
    const { pool } = makeEnv();
    const pf = new PageFrag(pool);
    const r = newBufferRef();
    pf.alloc(20000, 64, r);
    const first = r.page!;
    putPage(first);
    pf.alloc(20000, 64, r);
    expect(r.page).toBe(first);
    expect(r.offset).toBe(0);
    putPage(first);
    pf.drain();
  });

  test("a full page still in use is left to its users and a fresh one taken", () => {
    const { pool } = makeEnv();
    const pf = new PageFrag(pool);
    const r1 = newBufferRef();
    const r2 = newBufferRef();
    pf.alloc(20000, 64, r1);
    pf.alloc(20000, 64, r2);
    expect(r2.page).not.toBe(r1.page);
    expect(pageRefCount(r1.page!)).toBe(1); // only the user's reference is left
    putPage(r1.page!);
    expect(pool.pagesInUse).toBe(1);
    putPage(r2.page!);
    pf.drain();
    expect(pool.pagesInUse).toBe(0);
  });

  test("refill falls back to an order-0 page when no compound page is available", () => {
    const { dom } = makeEnv();
    const pool = new PagePool(dom, { limitFrames: 3 });
    const pf = new PageFrag(pool);
    expect(pf.refill(100)).toBe(true);
    expect(pf.page!.order).toBe(0);
    expect(pf.size).toBe(PAGE_SIZE);
    pf.drain();
  });

  test("refill fails cleanly when the pool is exhausted", () => {
    const { dom } = makeEnv();
    const pool = new PagePool(dom, { limitFrames: 1 });
    const hog = pool.allocPage()!;
    const pf = new PageFrag(pool);
    expect(pf.alloc(64, 64, newBufferRef())).toBe(false);
    putPage(hog);
  });
});

describe("kmalloc heads", () => {
  test("kmalloc_size_roundup follows the size classes, then whole pages", () => {
    expect(kmallocSizeRoundup(1)).toBe(8);
    expect(kmallocSizeRoundup(65)).toBe(96);
    expect(kmallocSizeRoundup(700)).toBe(1024);
    expect(kmallocSizeRoundup(1856)).toBe(2048);
    expect(kmallocSizeRoundup(4097)).toBe(8192);
    expect(kmallocSizeRoundup(65856)).toBe(131072);
  });

  test("slab objects never straddle a 4 KiB page; the small head cache holds 640-byte objects", () => {
    const { pool } = makeEnv();
    const km = new Kmalloc(pool);
    const refs = [];
    for (let i = 0; i < 20; i++) {
      const r = newBufferRef();
      expect(km.kmallocReserve(600, true, r)).toBe(true);
      expect(r.size).toBe(SKB_SMALL_HEAD_CACHE_SIZE);
      expect((r.offset % PAGE_SIZE) + r.size).toBeLessThanOrEqual(PAGE_SIZE);
      refs.push(r);
    }
    // 6 objects of 640 bytes per 4 KiB slab page.
    expect(new Set(refs.map((r) => r.page)).size).toBe(4);
    const big = newBufferRef();
    expect(km.kmallocReserve(20000, true, big)).toBe(true);
    expect(big.size).toBe(32768);
    expect(big.page!.order).toBe(3);
    for (const r of [...refs, big]) putPage(r.page!);
    km.drain();
    expect(pool.pagesInUse).toBe(0);
  });
});
