/**
 * The allocation side of net/core/skbuff.c: the skbuff_cache of sk_buff structs, the kmalloc
 * caches of heads and the page_frag caches behind alloc_skb, build_skb, napi_alloc_skb and
 * __netdev_alloc_skb, and the freeing side (kfree_skb, skb_release_data, kfree_skbmem).
 */
import { SkbError } from "./errors.js";
import { type BufferRef, Kmalloc, newBufferRef, PAGE_FRAG_CACHE_MAX_SIZE, PageFrag, SKB_FRAG_PAGE_ORDER } from "./page-frag.js";
import { COST_SKB_ALLOC, COST_SKB_FREE, type CostSink, PAGE_SIZE, type Page, type PagePool, putPage } from "./page.js";
import {
  NET_IP_ALIGN,
  NET_SKB_PAD,
  SKB_SHINFO_SIZE,
  SKBFL_MANAGED_FRAG_REFS,
  SkBuff,
  type SkbFrag,
  SkbSharedInfo,
  SMP_CACHE_BYTES,
  skbDataAlign,
  skbHeadAlign,
  skbWithOverhead,
} from "./skbuff.js";

/** Where an skb allocator takes memory from and its bounds (the domain's page pool, the most skbs alive, the costs to charge). */
export interface SkbAllocatorOptions {
  /** Where heads, frag caches and copied pages come from: the domain's page pool. */
  readonly pool: PagePool;
  /**
   * Most sk_buffs alive at once (the skbuff_cache slab's bound here). Allocation past it returns
   * null and the caller drops, so a leak shows up as drops, not unbounded growth.
   */
  readonly maxSkbs: number;
  /** Charged skb.alloc / skb.free / memcpy; may be swapped later through `costs`. */
  readonly costs?: CostSink | null;
}

/** Counters of an allocator. */
export interface SkbAllocatorStats {
  readonly liveSkbs: number;
  readonly allocs: number;
  readonly frees: number;
  /** Allocations that returned null (skb limit or pages exhausted). */
  readonly failures: number;
}

/**
 * The allocation side of net/core/skbuff.c for one kernel: the skbuff_cache of sk_buff structs,
 * the kmalloc caches of heads, and the per-CPU page_frag caches of napi_alloc_frag and
 * netdev_alloc_frag. sk_buff and shinfo objects are recycled: steady-state allocation creates
 * no JS objects.
 */
export class SkbAllocator {
  readonly pool: PagePool;
  readonly kmalloc: Kmalloc;
  /** napi_alloc_cache.page */
  readonly napiFrag: PageFrag;
  /** netdev_alloc_cache */
  readonly netdevFrag: PageFrag;
  readonly maxSkbs: number;
  costs: CostSink | null;
  /** A BufferRef for internal allocations (single-threaded use). */
  readonly scratchRef: BufferRef = newBufferRef();
  private readonly freeSkbs: SkBuff[] = [];
  private readonly freeShinfos: SkbSharedInfo[] = [];
  private created = 0;
  private live = 0;
  private nAllocs = 0;
  private nFrees = 0;
  private nFailures = 0;

  constructor(options: SkbAllocatorOptions) {
    if (!Number.isInteger(options.maxSkbs) || options.maxSkbs < 1) throw new SkbError("EINVAL", `maxSkbs ${options.maxSkbs}`);
    this.pool = options.pool;
    this.maxSkbs = options.maxSkbs;
    this.costs = options.costs ?? null;
    this.kmalloc = new Kmalloc(this.pool);
    this.napiFrag = new PageFrag(this.pool, SKB_FRAG_PAGE_ORDER);
    this.netdevFrag = new PageFrag(this.pool, SKB_FRAG_PAGE_ORDER);
  }

  /** Counters of the allocator: sk_buffs alive, allocations, frees, and allocations that failed. */
  get stats(): SkbAllocatorStats {
    return { liveSkbs: this.live, allocs: this.nAllocs, frees: this.nFrees, failures: this.nFailures };
  }

  /** sk_buffs currently allocated. */
  get liveSkbs(): number {
    return this.live;
  }

  /**
   * alloc_skb(size): a linear skb whose head holds at least `size` bytes (kmalloc_reserve of
   * SKB_HEAD_ALIGN(size), with the shinfo put at the very end of what kmalloc returned). Null on
   * exhaustion.
   */
  allocSkb(size: number): SkBuff | null {
    if (!Number.isInteger(size) || size < 0) throw new SkbError("EINVAL", `alloc_skb(${size})`);
    const skb = this.newSkbStruct();
    if (skb === null) return null;
    const ref = this.scratchRef;
    if (!this.kmalloc.kmallocReserve(skbHeadAlign(size), true, ref)) {
      this.freeSkbStruct(skb);
      this.nFailures++;
      return null;
    }
    skb.initAround(ref.page as Page, ref.offset, ref.size, false, this.newShinfo());
    return skb;
  }

  /**
   * build_skb(data, frag_size): an skb around an existing buffer of `fragSize` bytes at `offset`
   * of `page` (its last SKB_DATA_ALIGN(shinfo) bytes become the shinfo). The skb takes over the
   * caller's page reference (freeing the skb puts it). Null when no sk_buff is left.
   */
  buildSkb(page: Page, offset: number, fragSize: number): SkBuff | null {
    if (!Number.isInteger(fragSize) || fragSize <= skbDataAlign(SKB_SHINFO_SIZE) || !Number.isInteger(offset) || offset < 0 || offset + fragSize > page.size) {
      throw new SkbError("EINVAL", `build_skb of ${fragSize} bytes at ${offset} in a ${page.size}-byte page`);
    }
    if (page.refcount <= 0) throw new SkbError("BUG", "build_skb on a free page");
    const skb = this.newSkbStruct();
    if (skb === null) return null;
    skb.initAround(page, offset, fragSize, true, this.newShinfo());
    return skb;
  }

  /** napi_build_skb(): build_skb from the NAPI cache of sk_buffs (same result here). */
  napiBuildSkb(page: Page, offset: number, fragSize: number): SkBuff | null {
    return this.buildSkb(page, offset, fragSize);
  }

  /** napi_alloc_frag(): a receive buffer carved from the NAPI page_frag cache (cache aligned). */
  napiAllocFrag(fragsz: number, out: BufferRef): boolean {
    return this.napiFrag.alloc(fragsz, SMP_CACHE_BYTES, out);
  }

  /** netdev_alloc_frag(): a receive buffer carved from the netdev page_frag cache. */
  netdevAllocFrag(fragsz: number, out: BufferRef): boolean {
    return this.netdevFrag.alloc(fragsz, SMP_CACHE_BYTES, out);
  }

  /**
   * napi_alloc_skb(napi, len): an skb with NET_SKB_PAD + NET_IP_ALIGN headroom and room for `len`
   * bytes. Small (<= SKB_WITH_OVERHEAD(1024)) and large (> SKB_WITH_OVERHEAD(PAGE_SIZE)) requests
   * go to kmalloc (alloc_skb); the rest are built around a page_frag carve of SKB_HEAD_ALIGN(len).
   */
  napiAllocSkb(len: number): SkBuff | null {
    return this.fragOrKmallocSkb(len, this.napiFrag);
  }

  /** __netdev_alloc_skb(dev, len): as napiAllocSkb, from the netdev page_frag cache. */
  netdevAllocSkb(len: number): SkBuff | null {
    return this.fragOrKmallocSkb(len, this.netdevFrag);
  }

  private fragOrKmallocSkb(len: number, cache: PageFrag): SkBuff | null {
    if (!Number.isInteger(len) || len < 0) throw new SkbError("EINVAL", `alloc of ${len} bytes`);
    len += NET_SKB_PAD + NET_IP_ALIGN;
    let skb: SkBuff | null;
    if (len <= skbWithOverhead(1024) || len > skbWithOverhead(PAGE_SIZE)) {
      skb = this.allocSkb(len);
    } else {
      const size = skbHeadAlign(len);
      const ref = this.scratchRef;
      if (size > PAGE_FRAG_CACHE_MAX_SIZE || !cache.alloc(size, SMP_CACHE_BYTES, ref)) {
        this.nFailures++;
        return null;
      }
      skb = this.buildSkb(ref.page as Page, ref.offset, size);
      if (skb === null) putPage(ref.page as Page);
    }
    if (skb !== null) skb.reserve(NET_SKB_PAD + NET_IP_ALIGN);
    return skb;
  }

  /** kfree_skb(): drop one user; the last frees the sk_buff and (last dataref) its data. */
  kfreeSkb(skb: SkBuff): void {
    if (skb.users <= 0 || skb.allocator !== this) throw new SkbError("BUG", "kfree_skb of a free or foreign skb");
    if (--skb.users > 0) return;
    this.releaseData(skb);
    this.freeSkbStruct(skb);
  }

  /** Give the page_frag and kmalloc caches' current pages back (page refs of the caches). */
  drain(): void {
    this.napiFrag.drain();
    this.netdevFrag.drain();
    this.kmalloc.drain();
  }

  /**
   * skb_release_data(): drop this skb's reference on its data; the last one completes the
   * zerocopy ubuf, puts the frags' pages, frees the frag_list and the head.
   */
  releaseData(skb: SkBuff): void {
    const sh = skb.shinfo;
    if (--sh.dataref > 0) return;
    if (sh.dataref < 0) throw new SkbError("BUG", "dataref below zero");
    let skipUnref = false;
    if (skb.zcopy !== null) {
      skipUnref = (sh.flags & SKBFL_MANAGED_FRAG_REFS) !== 0;
      skb.zcopyClear(true);
    }
    for (let i = 0; i < sh.nrFrags; i++) {
      const f = sh.frags[i] as SkbFrag;
      if (!skipUnref) putPage(f.page as Page);
      f.page = null;
    }
    sh.nrFrags = 0;
    let l = sh.fragList;
    sh.fragList = null;
    while (l !== null) {
      const n = l.next;
      this.kfreeSkb(l);
      l = n;
    }
    putPage(skb.headPage);
    this.freeShinfos.push(sh);
  }

  /** kmem_cache_alloc(skbuff_cache): an sk_buff struct, or null at the limit. */
  newSkbStruct(): SkBuff | null {
    let skb = this.freeSkbs.pop();
    if (skb === undefined) {
      if (this.created >= this.maxSkbs) {
        this.nFailures++;
        return null;
      }
      skb = new SkBuff(this);
      this.created++;
    }
    this.live++;
    this.nAllocs++;
    this.costs?.charge(COST_SKB_ALLOC);
    return skb;
  }

  /** A shinfo object for a new data buffer (reset, dataref 1). */
  newShinfo(): SkbSharedInfo {
    const sh = this.freeShinfos.pop() ?? new SkbSharedInfo();
    sh.reset();
    return sh;
  }

  /** kfree_skbmem() */
  private freeSkbStruct(skb: SkBuff): void {
    skb.detach();
    this.freeSkbs.push(skb);
    this.live--;
    this.nFrees++;
    this.costs?.charge(COST_SKB_FREE);
  }
}
