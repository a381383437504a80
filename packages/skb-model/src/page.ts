/**
 * `struct page` and the page allocator of one domain (include/linux/mm.h, mm/page_alloc.c).
 *
 * A page is 2^order 4 KiB frames of machine memory that the owning kernel sees as one contiguous
 * virtual range (a compound page when order > 0). Machine frames handed out by Xen are not
 * contiguous, so a page keeps the list of its frames: byte `o` of the page lives in frame
 * `mfns[o >> 12]` at `o & 4095`. Every byte access goes through the helpers below, which walk the
 * 4 KiB boundaries; this is what makes data that straddles pages, and slot counting, real.
 *
 * Reference counts follow Linux: `allocPages` returns a page with `page_ref_count == 1`,
 * `getPage`/`putPage` move it, and the put that reaches zero frees the page back to its pool.
 */
import type { Domain, Machine } from "@pvnet/hypervisor";
import { SkbError } from "./errors.js";

/** PAGE_SHIFT on x86: Linux pages and Xen frames are both 4 KiB. */
export const PAGE_SHIFT = 12;
/** PAGE_SIZE: 4096 bytes. */
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** Mask of the byte offset inside a 4 KiB page (`~PAGE_MASK` in Linux). */
export const PAGE_OFFSET_MASK = PAGE_SIZE - 1;
/**
 * Largest order this allocator serves. Linux goes to MAX_PAGE_ORDER (10); the largest thing the
 * network stack allocates here is a 64 KiB skb head plus its skb_shared_info (kmalloc_large of
 * 65536 + 320 bytes is order 5, 128 KiB), so order 5 bounds every request and the frame lists.
 */
export const MAX_PAGE_ORDER = 5;

/** Something that can be charged for work: a `Vcpu`, or an `Actor`/`CostAccount` of @pvnet/sim. */
export interface CostSink {
  /** Charge one operation of `kind` covering `units` (bytes, pages) on the CPU running now. */
  charge(kind: string, units?: number): void;
}

/** Cost kinds charged by this package (all in the host profiles of @pvnet/hypervisor). */
export const COST_PAGE_ALLOC = "page.alloc";
/** Freeing a page back to the pool. */
export const COST_PAGE_FREE = "page.free";
/** A memcpy; units = bytes copied. */
export const COST_MEMCPY = "memcpy";
/** Allocating an sk_buff (the struct, and its head when there is one). */
export const COST_SKB_ALLOC = "skb.alloc";
/** Freeing an sk_buff. */
export const COST_SKB_FREE = "skb.free";

/** get_order(size): the smallest order whose page holds `size` bytes (-1 if above MAX_PAGE_ORDER). */
export function getOrder(size: number): number {
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) if (size <= PAGE_SIZE << order) return order;
  return -1;
}

/** struct page: one (compound) page of 2^order frames with a reference count. */
export class Page {
  /** page_ref_count(): 0 while the page sits free in its pool. */
  refcount = 0;
  /** Frame numbers, in the order the owner sees them (virtually contiguous). */
  readonly mfns: Int32Array;
  /** The owner domain's gfns for those frames (-1 for a page not from a pool). */
  readonly gfns: Int32Array;
  /** page_private(): a link drivers may use to chain pages (skb_copy_ubufs does). */
  private_: Page | null = null;
  /**
   * Called whenever this kernel reads the page's bytes (readPage, the source of copyPageToPage):
   * a backend hooks a page over a granted frame to mark the grant mapping touched, since reading
   * through the mapping loads it into the TLB (the unmap then needs a flush). Null: nobody cares.
   */
  access: ((page: Page) => void) | null = null;

  constructor(
    readonly machine: Machine,
    /** compound_order(): 0 for an ordinary page. */
    readonly order: number,
    /** The pool the page returns to when its count reaches zero; null for a wrapped foreign page. */
    readonly pool: PagePool | null,
    /** Called instead of a pool when a wrapped page's count reaches zero. */
    readonly release: ((page: Page) => void) | null = null,
  ) {
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) throw new SkbError("EINVAL", `page order ${order}`);
    this.mfns = new Int32Array(1 << order);
    this.gfns = new Int32Array(1 << order).fill(-1);
  }

  /**
   * A page over frames this kernel did not allocate from a pool (a backend's view of a granted
   * frame). `release` runs when the last reference goes. The page starts with one reference.
   */
  static wrap(machine: Machine, mfns: readonly number[], release: ((page: Page) => void) | null = null): Page {
    const order = Math.log2(mfns.length);
    if (!Number.isInteger(order)) throw new SkbError("EINVAL", `a page spans 2^n frames, got ${mfns.length}`);
    const page = new Page(machine, order, null, release);
    for (let i = 0; i < mfns.length; i++) {
      if (!machine.validMfn(mfns[i] as number)) throw new SkbError("EINVAL", `mfn ${mfns[i]} outside machine memory`);
      page.mfns[i] = mfns[i] as number;
    }
    page.refcount = 1;
    return page;
  }

  /**
   * Point a released wrapped page at other frames and give it one reference again, so a backend
   * keeps one Page per pending slot (netback's mmap_pages) instead of allocating per packet.
   */
  rewrap(mfns: ArrayLike<number>): void {
    if (this.pool !== null || this.refcount !== 0) throw new SkbError("BUG", "rewrap of a pool page or a page still referenced");
    if (mfns.length !== this.mfns.length) throw new SkbError("EINVAL", `rewrap with ${mfns.length} frames, page has ${this.mfns.length}`);
    for (let i = 0; i < mfns.length; i++) {
      if (!this.machine.validMfn(mfns[i] as number)) throw new SkbError("EINVAL", `mfn ${mfns[i]} outside machine memory`);
    }
    for (let i = 0; i < mfns.length; i++) this.mfns[i] = mfns[i] as number;
    this.refcount = 1;
  }

  /** page_size(): bytes in this (compound) page. */
  get size(): number {
    return PAGE_SIZE << this.order;
  }

  /** Absolute machine byte offset of byte `off` of this page (`off` in [0, size)). */
  addr(off: number): number {
    return (this.mfns[off >>> PAGE_SHIFT] as number) * PAGE_SIZE + (off & PAGE_OFFSET_MASK);
  }
}

/** get_page(): take a reference. Taking one on a free page is a use-after-free: a BUG. */
export function getPage(page: Page): void {
  if (page.refcount <= 0) throw new SkbError("BUG", "get_page on a free page");
  page.refcount++;
}

/** put_page(): drop a reference; the last one frees the page. */
export function putPage(page: Page): void {
  if (page.refcount <= 0) throw new SkbError("BUG", "put_page on a free page (double free)");
  if (--page.refcount === 0) {
    if (page.pool !== null) page.pool.freePages(page);
    else page.release?.(page);
  }
}

/** page_ref_count() */
export function pageRefCount(page: Page): number {
  return page.refcount;
}

/** The bounds and costs of a page pool: most frames, cached free frames, and the cost sink. */
export interface PagePoolOptions {
  /**
   * Most frames the pool may hold from its domain (in use plus cached free). A pool never grows
   * past it: allocation returns null and the caller drops, as Linux drops on GFP_ATOMIC failure.
   */
  readonly limitFrames: number;
  /** Charged page.alloc / page.free; may be swapped later through `costs`. */
  readonly costs?: CostSink | null;
}

/** Counters of a pool, for checks and reports. */
export interface PagePoolStats {
  /** Frames taken from the domain: in use plus cached free. */
  readonly ownedFrames: number;
  /** Frames of pages with a non-zero reference count. */
  readonly inUseFrames: number;
  /** Pages with a non-zero reference count. */
  readonly pagesInUse: number;
  readonly allocs: number;
  readonly frees: number;
  /** Allocations that returned null (pool limit or domain out of memory). */
  readonly failures: number;
}

/**
 * The page allocator of one domain (alloc_pages / __free_pages over the domain's p2m). Freed pages
 * are cached per order and reused (a buddy allocator keeps freed pages too); the cache is given
 * back to the domain when another order needs its frames or on `drain()`.
 */
export class PagePool {
  readonly machine: Machine;
  readonly limitFrames: number;
  costs: CostSink | null;
  private readonly freeByOrder: Page[][] = [];
  private owned = 0;
  private inUse = 0;
  private live = 0;
  private nAllocs = 0;
  private nFrees = 0;
  private nFailures = 0;

  constructor(
    readonly domain: Domain,
    options: PagePoolOptions,
  ) {
    if (!Number.isInteger(options.limitFrames) || options.limitFrames < 1) throw new SkbError("EINVAL", `limitFrames ${options.limitFrames}`);
    this.machine = domain.machine;
    this.limitFrames = options.limitFrames;
    this.costs = options.costs ?? null;
    for (let o = 0; o <= MAX_PAGE_ORDER; o++) this.freeByOrder.push([]);
  }

  /** alloc_pages(gfp, order) with __GFP_COMP: a page with one reference, or null when exhausted. */
  allocPages(order: number): Page | null {
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) throw new SkbError("EINVAL", `page order ${order}`);
    let page = this.freeByOrder[order]!.pop() ?? null;
    if (page === null) page = this.grow(order);
    if (page === null) {
      this.nFailures++;
      return null;
    }
    page.refcount = 1;
    page.private_ = null;
    this.inUse += 1 << order;
    this.live++;
    this.nAllocs++;
    this.costs?.charge(COST_PAGE_ALLOC);
    return page;
  }

  /** alloc_page(gfp) */
  allocPage(): Page | null {
    return this.allocPages(0);
  }

  /** __free_pages: called by putPage when the count reaches zero. */
  freePages(page: Page): void {
    if (page.pool !== this || page.refcount !== 0) throw new SkbError("BUG", "freeing a page that is referenced or not ours");
    this.inUse -= 1 << page.order;
    this.live--;
    this.nFrees++;
    this.freeByOrder[page.order]!.push(page);
    this.costs?.charge(COST_PAGE_FREE);
  }

  /** Give every cached free page's frames back to the domain. */
  drain(): void {
    for (let o = 0; o <= MAX_PAGE_ORDER; o++) {
      const list = this.freeByOrder[o]!;
      while (list.length > 0) this.releaseToDomain(list.pop()!);
    }
  }

  /** Counters of the pool: frames owned and in use, pages in use, allocations, frees, and allocations that failed. */
  get stats(): PagePoolStats {
    return {
      ownedFrames: this.owned,
      inUseFrames: this.inUse,
      pagesInUse: this.live,
      allocs: this.nAllocs,
      frees: this.nFrees,
      failures: this.nFailures,
    };
  }

  /** Frames of pages currently referenced. */
  get inUseFrames(): number {
    return this.inUse;
  }

  /** Pages currently referenced. */
  get pagesInUse(): number {
    return this.live;
  }

  private grow(order: number): Page | null {
    const n = 1 << order;
    // Make room under the limit from cached pages of other orders before giving up.
    for (let o = MAX_PAGE_ORDER; o >= 0 && this.owned + n > this.limitFrames; o--) {
      const list = this.freeByOrder[o]!;
      while (list.length > 0 && this.owned + n > this.limitFrames) this.releaseToDomain(list.pop()!);
    }
    if (this.owned + n > this.limitFrames) return null;
    let page = this.takeFromDomain(order);
    if (page === null && this.owned > this.inUse) {
      // The domain (or the machine) is out of memory: give our cache back and retry once.
      this.drain();
      page = this.takeFromDomain(order);
    }
    return page;
  }

  private takeFromDomain(order: number): Page | null {
    const n = 1 << order;
    const page = new Page(this.machine, order, this);
    for (let i = 0; i < n; i++) {
      let gfn: number;
      try {
        gfn = this.domain.allocPage();
      } catch {
        // ENOMEM from the domain limit or the machine: undo the partial page.
        for (let j = 0; j < i; j++) this.domain.freePage(page.gfns[j] as number);
        this.owned -= i;
        return null;
      }
      page.gfns[i] = gfn;
      page.mfns[i] = this.domain.gfnToMfn(gfn);
      this.owned++;
    }
    return page;
  }

  private releaseToDomain(page: Page): void {
    for (let i = 0; i < page.mfns.length; i++) this.domain.freePage(page.gfns[i] as number);
    this.owned -= page.mfns.length;
  }
}

function checkRange(page: Page, off: number, len: number): void {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > page.size) {
    throw new SkbError("EFAULT", `bytes [${off}, ${off + len}) outside a ${page.size}-byte page`);
  }
}

/**
 * memcpy between two pages of the same machine, one `machine.copy` per piece that crosses no
 * 4 KiB boundary on either side. Allocates nothing. Callers charge the memcpy.
 */
export function copyPageToPage(dst: Page, dstOff: number, src: Page, srcOff: number, len: number): void {
  checkRange(dst, dstOff, len);
  checkRange(src, srcOff, len);
  if (len !== 0) src.access?.(src);
  const machine = dst.machine;
  while (len > 0) {
    const n = Math.min(len, PAGE_SIZE - (dstOff & PAGE_OFFSET_MASK), PAGE_SIZE - (srcOff & PAGE_OFFSET_MASK));
    machine.copy(dst.addr(dstOff), src.addr(srcOff), n);
    dstOff += n;
    srcOff += n;
    len -= n;
  }
}

/**
 * V8 copies between machine memory (a SharedArrayBuffer) and ordinary memory with a relaxed
 * memcpy that moves words only where both addresses agree modulo 8, and bytes otherwise: a
 * misaligned page copies about 6x slower (3 against 20 GB/s on the development machine). A copy
 * of REALIGN_MIN bytes or more whose ends disagree goes through REALIGN instead, placed to agree
 * with the machine side; the ordinary-to-ordinary leg is a plain memmove. A copy per call, no
 * allocation but the views. ArrayBuffers start 8-byte aligned, so a view's alignment is its offset's.
 */
const REALIGN = new Uint8Array(PAGE_SIZE + 8);
const REALIGN_MIN = 256;

/** dst[dstOff, +n) = src[srcOff, +n), at most a page, realigned (above) between machine memory and ordinary memory. */
function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  const d = dst.byteOffset + dstOff;
  const s = src.byteOffset + srcOff;
  const dstShared = dst.buffer instanceof SharedArrayBuffer;
  if (n >= REALIGN_MIN && ((d - s) & 7) !== 0 && dstShared !== src.buffer instanceof SharedArrayBuffer) {
    const r = (dstShared ? d : s) & 7;
    REALIGN.set(src.subarray(srcOff, srcOff + n), r);
    dst.set(REALIGN.subarray(r, r + n), dstOff);
  } else dst.set(src.subarray(srcOff, srcOff + n), dstOff);
}

/** Copy bytes of a page out to a Uint8Array (tests, checks, payload reads). */
export function readPage(page: Page, off: number, dst: Uint8Array, dstOff: number, len: number): void {
  checkRange(page, off, len);
  if (dstOff < 0 || dstOff + len > dst.length) throw new SkbError("EFAULT", "destination too short");
  if (len !== 0) page.access?.(page);
  const bytes = page.machine.bytes;
  while (len > 0) {
    const n = Math.min(len, PAGE_SIZE - (off & PAGE_OFFSET_MASK));
    const a = page.addr(off);
    copyBytes(dst, dstOff, bytes, a, n);
    off += n;
    dstOff += n;
    len -= n;
  }
}

/**
 * Views of `len` bytes at `off` of a page, appended to `out`: one per run of frames adjacent in
 * machine memory (a compound page's frames need not be). Counts as a read of the page (`access`),
 * like readPage.
 */
export function pageViews(page: Page, off: number, len: number, out: Uint8Array[]): void {
  checkRange(page, off, len);
  if (len === 0) return;
  page.access?.(page);
  const bytes = page.machine.bytes;
  let start = page.addr(off);
  let end = start;
  while (len > 0) {
    const n = Math.min(len, PAGE_SIZE - (off & PAGE_OFFSET_MASK));
    const a = page.addr(off);
    if (a !== end) {
      out.push(bytes.subarray(start, end));
      start = a;
    }
    end = a + n;
    off += n;
    len -= n;
  }
  out.push(bytes.subarray(start, end));
}

/** Copy bytes from a Uint8Array into a page (payload fills). */
export function writePage(page: Page, off: number, src: Uint8Array, srcOff: number, len: number): void {
  checkRange(page, off, len);
  if (srcOff < 0 || srcOff + len > src.length) throw new SkbError("EFAULT", "source too short");
  const bytes = page.machine.bytes;
  while (len > 0) {
    const n = Math.min(len, PAGE_SIZE - (off & PAGE_OFFSET_MASK));
    const a = page.addr(off);
    copyBytes(bytes, a, src, srcOff, n);
    off += n;
    srcOff += n;
    len -= n;
  }
}

/** memset on a page. */
export function fillPage(page: Page, off: number, value: number, len: number): void {
  checkRange(page, off, len);
  while (len > 0) {
    const n = Math.min(len, PAGE_SIZE - (off & PAGE_OFFSET_MASK));
    page.machine.fill(page.addr(off), value, n);
    off += n;
    len -= n;
  }
}
