/**
 * Buffers carved out of pages: the page_frag allocator (struct page_frag, skb_page_frag_refill in
 * net/core/sock.c, page_frag_alloc_align in mm/page_frag_cache.c) and the kmalloc caches that hold
 * skb heads (kmalloc_reserve in net/core/skbuff.c, mm/slab_common.c).
 *
 * Every carve takes one reference on its page for the caller, and the cache holds one more while
 * the page is current. A caller frees its buffer with `putPage(page)` (page_frag_free / kfree),
 * so a page returns to its pool when the cache has moved on and every buffer cut from it is gone.
 */
import { SkbError } from "./errors.js";
import { getOrder, getPage, MAX_PAGE_ORDER, PAGE_SIZE, type Page, type PagePool, putPage } from "./page.js";

/**
 * SKB_FRAG_PAGE_ORDER = get_order(32768): page_frag refills try a 32 KiB compound page first, so
 * that many buffers (and linear areas that straddle 4 KiB boundaries) come from one allocation.
 */
export const SKB_FRAG_PAGE_ORDER = 3;
/** PAGE_FRAG_CACHE_MAX_SIZE: the largest buffer a page_frag carve can return. */
export const PAGE_FRAG_CACHE_MAX_SIZE = PAGE_SIZE << SKB_FRAG_PAGE_ORDER;

/** A buffer handed out by an allocator: a page reference and the buffer's offset in it. */
export interface BufferRef {
  page: Page | null;
  offset: number;
  /** Usable bytes (ksize() for kmalloc; the requested size for page_frag). */
  size: number;
}

/** A caller-owned `BufferRef` to pass to allocators (allocation-free hot paths reuse one). */
export function newBufferRef(): BufferRef {
  return { page: null, offset: 0, size: 0 };
}

function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}

/**
 * struct page_frag with skb_page_frag_refill(): the current page, the next free offset and the
 * page's size. `alloc` is page_frag_alloc_align() on top of it (carving upwards, as Linux does
 * since 6.12; older kernels carve downwards, which changes offsets but not sizes or counts).
 */
export class PageFrag {
  page: Page | null = null;
  offset = 0;
  size = 0;

  constructor(
    readonly pool: PagePool,
    /** Order of the compound page tried first; SKB_FRAG_PAGE_ORDER for sockets and NAPI. */
    readonly order: number = SKB_FRAG_PAGE_ORDER,
    /** Fall back to an order-0 page when the compound allocation fails (Linux does). */
    readonly fallback: boolean = true,
  ) {
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) throw new SkbError("EINVAL", `page_frag order ${order}`);
  }

  /**
   * skb_page_frag_refill(sz, pfrag): make sure the current page has `sz` bytes free at `offset`.
   * A page only the cache still references is reused from offset 0; one that is too full is
   * released (the cache's reference) and a fresh one allocated. False when no page is left.
   */
  refill(sz: number): boolean {
    const page = this.page;
    if (page !== null) {
      if (page.refcount === 1 && sz <= this.size) {
        this.offset = 0;
        return true;
      }
      if (this.offset + sz <= this.size) return true;
      putPage(page);
      this.page = null;
    }
    this.offset = 0;
    let fresh = this.order > 0 ? this.pool.allocPages(this.order) : null;
    if (fresh === null && (this.order === 0 || this.fallback)) fresh = this.pool.allocPages(0);
    if (fresh === null) {
      this.size = 0;
      return false;
    }
    this.page = fresh;
    this.size = fresh.size;
    return sz <= this.size;
  }

  /**
   * page_frag_alloc_align(): carve `fragsz` bytes aligned to `align` and take a page reference
   * for the caller, into `out`. False when no page can be had (the caller drops).
   */
  alloc(fragsz: number, align: number, out: BufferRef): boolean {
    if (!Number.isInteger(fragsz) || fragsz <= 0 || fragsz > PAGE_FRAG_CACHE_MAX_SIZE) {
      throw new SkbError("EINVAL", `page_frag carve of ${fragsz} bytes (max ${PAGE_FRAG_CACHE_MAX_SIZE})`);
    }
    if (this.page !== null) this.offset = alignUp(this.offset, align);
    if (!this.refill(fragsz)) return false;
    const page = this.page as Page;
    getPage(page);
    out.page = page;
    out.offset = this.offset;
    out.size = fragsz;
    this.offset += fragsz;
    return true;
  }

  /** page_frag_cache_drain(): drop the cache's own reference on its current page. */
  drain(): void {
    if (this.page !== null) putPage(this.page);
    this.page = null;
    this.offset = 0;
    this.size = 0;
  }
}

/**
 * kmalloc size classes a head can land in (mm/slab_common.c kmalloc_info, with SMP_CACHE_BYTES
 * 64 the smaller classes are never used for heads: the smallest head is 64 + 320 bytes).
 * Heads up to KMALLOC_MAX_CACHE_SIZE come from slabs of order-0 pages (so no object straddles a
 * 4 KiB boundary, like real slab objects); larger ones are kmalloc_large compound pages.
 */
export const KMALLOC_SIZES: readonly number[] = Object.freeze([8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096]);
/** Largest kmalloc served from a slab page here; above it, one compound page per object. */
export const KMALLOC_MAX_CACHE_SIZE = PAGE_SIZE;

/**
 * SKB_SMALL_HEAD_CACHE_SIZE: heads whose SKB_HEAD_ALIGN(size) fits are taken from the dedicated
 * skb_small_head_cache (Linux 6.3+) of this object size. SKB_HEAD_ALIGN(MAX_TCP_HEADER) with a
 * distro x86_64 config (MAX_TCP_HEADER = L1_CACHE_ALIGN(128 + MAX_HEADER) = 320) is 320 + 320;
 * not a power of two, so no cache line is added.
 */
export const SKB_SMALL_HEAD_CACHE_SIZE = 640;

/** kmalloc_size_roundup(size) for the classes above (and whole pages for kmalloc_large). */
export function kmallocSizeRoundup(size: number): number {
  if (size <= KMALLOC_MAX_CACHE_SIZE) {
    for (const s of KMALLOC_SIZES) if (size <= s) return s;
  }
  const order = getOrder(size);
  return order < 0 ? -1 : PAGE_SIZE << order;
}

/**
 * The kmalloc caches behind skb heads. Each size class is a slab: a page_frag over order-0 pages
 * carving objects of exactly that size; a slab page returns to the pool when every object cut
 * from it is freed (`putPage`).
 */
export class Kmalloc {
  private readonly slabs: PageFrag[] = [];
  private readonly small: PageFrag;

  constructor(readonly pool: PagePool) {
    for (let i = 0; i < KMALLOC_SIZES.length; i++) this.slabs.push(new PageFrag(pool, 0, false));
    this.small = new PageFrag(pool, 0, false);
  }

  /**
   * kmalloc_reserve(&size): an object of at least `size` bytes, its real size (ksize) in
   * `out.size`. `smallHead` allows skb_small_head_cache. False when memory is exhausted.
   */
  kmallocReserve(size: number, smallHead: boolean, out: BufferRef): boolean {
    if (!Number.isInteger(size) || size <= 0) throw new SkbError("EINVAL", `kmalloc of ${size} bytes`);
    if (smallHead && size <= SKB_SMALL_HEAD_CACHE_SIZE) {
      if (!this.small.alloc(SKB_SMALL_HEAD_CACHE_SIZE, SKB_SMALL_HEAD_CACHE_SIZE, out)) return false;
      return true;
    }
    const rounded = kmallocSizeRoundup(size);
    if (rounded < 0) throw new SkbError("EINVAL", `kmalloc of ${size} bytes exceeds order ${MAX_PAGE_ORDER}`);
    if (rounded <= KMALLOC_MAX_CACHE_SIZE) {
      const slab = this.slabs[KMALLOC_SIZES.indexOf(rounded)] as PageFrag;
      return slab.alloc(rounded, rounded, out);
    }
    // kmalloc_large: a compound page of its own.
    const page = this.pool.allocPages(getOrder(rounded));
    if (page === null) return false;
    out.page = page;
    out.offset = 0;
    out.size = rounded;
    return true;
  }

  /** Drop the slabs' own references on their current pages. */
  drain(): void {
    for (const s of this.slabs) s.drain();
    this.small.drain();
  }
}
