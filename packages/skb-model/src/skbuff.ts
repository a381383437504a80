/**
 * struct sk_buff and struct skb_shared_info (include/linux/skbuff.h, net/core/skbuff.c), over
 * pages of machine memory.
 *
 * An skb's data buffer is `[head, head + end)` inside `headPage` (a page_frag carve, a kmalloc
 * object or a compound page of its own), followed by the space of its skb_shared_info, reserved
 * exactly as Linux reserves it. The shinfo's fields live in a JS object (`SkbSharedInfo`), shared
 * by clones like the real one; its bytes are not serialised. As with NET_SKBUFF_DATA_USES_OFFSET,
 * `tail` and `end` are offsets from head; here `data` is one too (`data == skb_headroom(skb)`).
 *
 * Constants are those of Linux 6.x on x86_64 with a distro config; each says where it comes from.
 */
import type { SkbAllocator } from "./allocator.js";
import { EFAULT, EINVAL, ENOMEM } from "./errno.js";
import { SkbError } from "./errors.js";
import {
  COST_MEMCPY,
  copyPageToPage,
  getPage,
  PAGE_OFFSET_MASK,
  PAGE_SIZE,
  type Page,
  putPage,
  readPage,
  writePage,
  pageViews,
} from "./page.js";

/** SMP_CACHE_BYTES = L1_CACHE_BYTES on x86_64: the alignment of SKB_DATA_ALIGN. */
export const SMP_CACHE_BYTES = 64;
/**
 * sizeof(struct sk_buff) on x86_64 Linux 6.x (pahole on a distro build: 232 bytes, 4 cache
 * lines); only SKB_DATA_ALIGN of it (256) enters truesize.
 */
export const SIZEOF_SK_BUFF = 232;
/**
 * SKB_SHINFO_SIZE = sizeof(struct skb_shared_info) on x86_64 Linux 6.x: flags, meta_len,
 * nr_frags, tx_flags (4 x u8), gso_size, gso_segs (2 x u16), frag_list (8), hwtstamps union (8),
 * gso_type, tskey, dataref, xdp_frags_size (4 x u32), destructor_arg (8), then
 * frags[MAX_SKB_FRAGS] of 16-byte skb_frag_t: 48 + 17 * 16 = 320 bytes, already cache aligned.
 */
export const SKB_SHINFO_SIZE = 320;
/** MAX_SKB_FRAGS (CONFIG_MAX_SKB_FRAGS default 17): a 64 KiB packet in 4 KiB frags plus one. */
export const MAX_SKB_FRAGS = 17;
/** NET_SKB_PAD = max(32, L1_CACHE_BYTES): headroom drivers reserve in receive buffers. */
export const NET_SKB_PAD = 64;
/** NET_IP_ALIGN: 0 on x86 (arch/x86/include/asm/processor.h), 2 on the generic default. */
export const NET_IP_ALIGN = 0;
/** GSO_LEGACY_MAX_SIZE: the largest packet the Xen PV path carries (64 KiB). */
export const GSO_LEGACY_MAX_SIZE = 65536;
/** __pskb_pull_tail grows a head that lacks tailroom by this much extra (`eat + 128`). */
export const PULL_TAIL_SLACK = 128;

/** SKB_DATA_ALIGN(X): round up to SMP_CACHE_BYTES. */
export function skbDataAlign(x: number): number {
  return (x + SMP_CACHE_BYTES - 1) & ~(SMP_CACHE_BYTES - 1);
}

/** SKB_TRUESIZE(X) = X + SKB_DATA_ALIGN(sizeof(struct sk_buff)) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info)). */
export function skbTruesize(x: number): number {
  return x + skbDataAlign(SIZEOF_SK_BUFF) + skbDataAlign(SKB_SHINFO_SIZE);
}

/** SKB_WITH_OVERHEAD(X): what is left of a buffer of X bytes once the shinfo is carved off. */
export function skbWithOverhead(x: number): number {
  return x - skbDataAlign(SKB_SHINFO_SIZE);
}

/** SKB_HEAD_ALIGN(X): buffer size for X bytes of linear data plus the shinfo. */
export function skbHeadAlign(x: number): number {
  return skbDataAlign(x) + skbDataAlign(SKB_SHINFO_SIZE);
}

/** skb->ip_summed values (include/linux/skbuff.h). */
export const CHECKSUM_NONE = 0;
/** The device validated the checksum: the stack need not. */
export const CHECKSUM_UNNECESSARY = 1;
/** The device gave the packet's full checksum in skb->csum. */
export const CHECKSUM_COMPLETE = 2;
/** The checksum is still to be computed from csum_start / csum_offset (offload on the way out). */
export const CHECKSUM_PARTIAL = 3;

/** skb->pkt_type values (include/uapi/linux/if_packet.h): what eth_type_trans found in the destination MAC. */
export const PACKET_HOST = 0;
/** To every host (ff:ff:ff:ff:ff:ff). */
export const PACKET_BROADCAST = 1;
/** To a multicast group. */
export const PACKET_MULTICAST = 2;
/** To another host (seen in promiscuous mode). */
export const PACKET_OTHERHOST = 3;
/** skb->transport_header while unset ((typeof(skb->transport_header))~0U, skb_transport_header_was_set). */
export const SKB_HEADER_UNSET = 0xffff;

/** skb_shinfo(skb)->gso_type bits (SKB_GSO_*). */
export const SKB_GSO_TCPV4 = 1 << 0;
/** The GSO header came from an untrusted source and must be checked (what netback and netfront set). */
export const SKB_GSO_DODGY = 1 << 1;
/** TCP segmentation with ECN (CWR on the first segment only). */
export const SKB_GSO_TCP_ECN = 1 << 2;
/** TCP over IPv4 segmentation keeping the IP ID fixed. */
export const SKB_GSO_TCP_FIXEDID = 1 << 3;
/** TCP over IPv6 segmentation. */
export const SKB_GSO_TCPV6 = 1 << 4;

/** skb_shinfo(skb)->flags bits (SKBFL_*). */
export const SKBFL_ZEROCOPY_ENABLE = 1 << 0;
/** The frags may be written by someone else (a page shared with another domain): no in-place change. */
export const SKBFL_SHARED_FRAG = 1 << 1;
/** Every frag is a zerocopy buffer (no copied page among them). */
export const SKBFL_PURE_ZEROCOPY = 1 << 2;
/** Do not copy the frags out (skb_orphan_frags) when the skb is queued for the local stack. */
export const SKBFL_DONT_ORPHAN = 1 << 3;
/** The frags' page references are managed by their owner, not the skb. */
export const SKBFL_MANAGED_FRAG_REFS = 1 << 4;
/** SKBFL_ZEROCOPY_FRAG: what xen-netback's ubufs carry. */
export const SKBFL_ZEROCOPY_FRAG = SKBFL_ZEROCOPY_ENABLE | SKBFL_SHARED_FRAG;
/** SKBFL_ALL_ZEROCOPY: cleared by skb_zcopy_clear. */
export const SKBFL_ALL_ZEROCOPY = SKBFL_ZEROCOPY_FRAG | SKBFL_PURE_ZEROCOPY | SKBFL_DONT_ORPHAN | SKBFL_MANAGED_FRAG_REFS;

/** skb_frag_t: a page, the offset of the data in it (may exceed 4 KiB in a compound page), a size. */
export class SkbFrag {
  page: Page | null = null;
  offset = 0;
  size = 0;

  /** Forget the page (the caller has dropped or moved its reference). */
  clear(): void {
    this.page = null;
    this.offset = 0;
    this.size = 0;
  }
}

/**
 * The zerocopy completion of struct ubuf_info (ops->complete): called once when the skb's data is
 * released (`zerocopySuccess` true) or when its frags were copied away (false).
 */
export type UbufCallback = (skb: SkBuff, ubuf: UbufInfo, zerocopySuccess: boolean) => void;

/** struct ubuf_info: the owner of zerocopy frags (netback's pending slots, MSG_ZEROCOPY pages). */
export class UbufInfo {
  /** SKBFL_* flags merged into the shinfo by skb_zcopy_init. */
  flags: number = SKBFL_ZEROCOPY_FRAG;
  /** Completions delivered so far. */
  completions = 0;
  /** References from shinfos (pskb_expand_head of a clone adds one); completion runs at zero. */
  refcnt = 0;

  constructor(
    readonly callback: UbufCallback,
    /** The owner's context (netback: its queue). */
    readonly ctx: unknown = null,
    /** The owner's index (netback: the pending slot). */
    readonly desc: number = 0,
  ) {}
}

/** struct skb_shared_info: lives at skb_end_pointer(); shared by an skb and its clones. */
export class SkbSharedInfo {
  flags = 0;
  nrFrags = 0;
  txFlags = 0;
  gsoSize = 0;
  gsoSegs = 0;
  gsoType = 0;
  fragList: SkBuff | null = null;
  /** References to the data buffer: the skb and its clones. */
  dataref = 0;
  /** destructor_arg: the zerocopy ubuf_info while SKBFL_ZEROCOPY_ENABLE is set. */
  destructorArg: UbufInfo | null = null;
  /** Preallocated, reused: only the first nrFrags are meaningful. */
  readonly frags: SkbFrag[] = [];

  constructor() {
    for (let i = 0; i < MAX_SKB_FRAGS; i++) this.frags.push(new SkbFrag());
  }

  /** memset(shinfo, 0, offsetof(struct skb_shared_info, dataref)); dataref = 1. */
  reset(): void {
    this.flags = 0;
    this.nrFrags = 0;
    this.txFlags = 0;
    this.gsoSize = 0;
    this.gsoSegs = 0;
    this.gsoType = 0;
    this.fragList = null;
    this.destructorArg = null;
    this.dataref = 1;
    for (const f of this.frags) f.clear();
  }
}

/**
 * Move bytes between an skb's page and an external page or array, in either direction; or, with
 * `sg`, append views of the skb page's bytes to it (split where the page's frames are not
 * adjacent in machine memory).
 */
function xfer(skbPage: Page, skbOff: number, n: number, toSkb: boolean, extPage: Page | null, extArr: Uint8Array | null, extOff: number, sg: Uint8Array[] | null): void {
  if (sg !== null) {
    pageViews(skbPage, skbOff, n, sg);
    return;
  }
  if (extPage !== null) {
    if (toSkb) copyPageToPage(skbPage, skbOff, extPage, extOff, n);
    else copyPageToPage(extPage, extOff, skbPage, skbOff, n);
  } else if (toSkb) writePage(skbPage, skbOff, extArr as Uint8Array, extOff, n);
  else readPage(skbPage, skbOff, extArr as Uint8Array, extOff, n);
}

/**
 * The walk of skb_copy_bits / skb_store_bits: `len` bytes at `offset` from skb->data (negative
 * offsets reach into the headroom), through the linear area, the frags and the frag_list.
 * Returns 0, or -EFAULT when the range is outside the packet.
 */
function walkBits(skb: SkBuff, offset: number, len: number, toSkb: boolean, extPage: Page | null, extArr: Uint8Array | null, extOff: number, sg: Uint8Array[] | null = null): number {
  if (!Number.isInteger(offset) || !Number.isInteger(len) || len < 0) return -EINVAL;
  if (offset > skb.len - len || offset < -skb.data) return -EFAULT;
  const sh = skb.shinfo;
  let start = skb.headlen;
  let copy = start - offset;
  if (copy > 0) {
    if (copy > len) copy = len;
    xfer(skb.headPage, skb.head + skb.data + offset, copy, toSkb, extPage, extArr, extOff, sg);
    len -= copy;
    if (len === 0) return 0;
    offset += copy;
    extOff += copy;
  }
  for (let i = 0; i < sh.nrFrags; i++) {
    const f = sh.frags[i] as SkbFrag;
    const end = start + f.size;
    copy = end - offset;
    if (copy > 0) {
      if (copy > len) copy = len;
      xfer(f.page as Page, f.offset + offset - start, copy, toSkb, extPage, extArr, extOff, sg);
      len -= copy;
      if (len === 0) return 0;
      offset += copy;
      extOff += copy;
    }
    start = end;
  }
  for (let list = sh.fragList; list !== null; list = list.next) {
    const end = start + list.len;
    copy = end - offset;
    if (copy > 0) {
      if (copy > len) copy = len;
      const rc = walkBits(list, offset - start, copy, toSkb, extPage, extArr, extOff, sg);
      if (rc !== 0) return rc;
      len -= copy;
      if (len === 0) return 0;
      offset += copy;
      extOff += copy;
    }
    start = end;
  }
  return len === 0 ? 0 : -EFAULT;
}

/** struct sk_buff */
export class SkBuff {
  /** List link (frag_list members, queues). */
  next: SkBuff | null = null;
  /** Bytes of packet data: linear part plus frags plus frag_list. */
  len = 0;
  /** Bytes outside the linear area (frags and frag_list). */
  dataLen = 0;
  /** Memory this skb accounts for (SKB_TRUESIZE of the head, plus what frags add). */
  truesize = 0;
  /** refcount_t users: references to this sk_buff (skb_get). 0 while free. */
  users = 0;
  /** The page holding the head buffer; `head` is the buffer's offset in it. */
  private headPage_: Page | null = null;
  head = 0;
  /** skb->data - skb->head (== skb_headroom). */
  data = 0;
  /** skb->tail, offset from head. */
  tail = 0;
  /** skb->end, offset from head: where skb_shared_info starts. */
  end = 0;
  /** skb->cloned: the data may be shared with a clone (see isCloned). */
  cloned = false;
  /** skb->head_frag: the head is a page_frag carve, not a kmalloc object. */
  headFrag = false;
  ipSummed = CHECKSUM_NONE;
  /** Offset from head where checksumming starts (CHECKSUM_PARTIAL). */
  csumStart = 0;
  /** Offset from csumStart where the checksum is stored (CHECKSUM_PARTIAL). */
  csumOffset = 0;
  /** The checksum value (CHECKSUM_COMPLETE). */
  csum = 0;
  /** skb->protocol (ETH_P_*, network byte order as a number). */
  protocol = 0;
  /** skb->pkt_type (PACKET_HOST, ...), set by eth_type_trans. */
  pktType = PACKET_HOST;
  /** skb->transport_header, offset from head; SKB_HEADER_UNSET until set (skb_partial_csum_set sets it). */
  transportHeader = SKB_HEADER_UNSET;
  private shinfo_: SkbSharedInfo | null = null;

  constructor(readonly allocator: SkbAllocator) {}

  /** The head page; using a freed skb is a use-after-free, a BUG. */
  get headPage(): Page {
    const p = this.headPage_;
    if (p === null) throw new SkbError("BUG", "use of a freed skb");
    return p;
  }

  /** skb_shinfo(skb) */
  get shinfo(): SkbSharedInfo {
    const s = this.shinfo_;
    if (s === null) throw new SkbError("BUG", "use of a freed skb");
    return s;
  }

  /** True while the skb is allocated. */
  get live(): boolean {
    return this.shinfo_ !== null;
  }

  /** skb_headlen() */
  get headlen(): number {
    return this.len - this.dataLen;
  }

  /** skb_headroom() */
  get headroom(): number {
    return this.data;
  }

  /** skb_tailroom(): 0 for a non-linear skb. */
  get tailroom(): number {
    return this.dataLen !== 0 ? 0 : this.end - this.tail;
  }

  /** skb_end_offset() */
  get endOffset(): number {
    return this.end;
  }

  /** skb_is_nonlinear() */
  get isNonlinear(): boolean {
    return this.dataLen !== 0;
  }

  /** skb_cloned(): cloned and the data has another reference. */
  get isCloned(): boolean {
    return this.cloned && this.shinfo.dataref !== 1;
  }

  /** skb_shared(): more than one user of this sk_buff. */
  get isShared(): boolean {
    return this.users > 1;
  }

  /** skb_is_gso() */
  get isGso(): boolean {
    return this.shinfo.gsoSize !== 0;
  }

  /** skb_zcopy(): the ubuf of a zerocopy skb, else null. */
  get zcopy(): UbufInfo | null {
    const sh = this.shinfo;
    return (sh.flags & SKBFL_ZEROCOPY_ENABLE) !== 0 ? sh.destructorArg : null;
  }

  /** offset_in_page(skb->data): where the linear data starts inside its 4 KiB page. */
  get dataPageOffset(): number {
    return (this.head + this.data) & PAGE_OFFSET_MASK;
  }

  /** __skb_pagelen(): bytes in the frags (not the frag_list). */
  get pagelen(): number {
    const sh = this.shinfo;
    let n = 0;
    for (let i = 0; i < sh.nrFrags; i++) n += (sh.frags[i] as SkbFrag).size;
    return n;
  }

  // ---------------------------------------------------------------- linear area

  /** skb_reserve(): move data and tail by `len` in an empty skb (headroom). */
  reserve(len: number): void {
    this.checkLen(len);
    if (this.tail + len > this.end) throw new SkbError("SKB_OVER_PANIC", `reserve ${len}: tail ${this.tail} end ${this.end}`);
    this.data += len;
    this.tail += len;
  }

  /**
   * skb_put(): extend the linear data at the tail by `len`. Returns the offset from skb->data of
   * the added bytes (Linux returns their address). Past the end: skb_over_panic. Only for a
   * linear skb (SKB_LINEAR_ASSERT).
   */
  put(len: number): number {
    this.checkLen(len);
    if (this.dataLen !== 0) throw new SkbError("BUG", "skb_put on a non-linear skb (SKB_LINEAR_ASSERT)");
    if (this.tail + len > this.end) throw new SkbError("SKB_OVER_PANIC", `put ${len}: tail ${this.tail} end ${this.end}`);
    const at = this.tail - this.data;
    this.tail += len;
    this.len += len;
    return at;
  }

  /** skb_put_data(): put `src` at the tail (memcpy). */
  putData(src: Uint8Array): void {
    const at = this.put(src.length);
    writePage(this.headPage, this.head + this.data + at, src, 0, src.length);
    this.allocator.costs?.charge(COST_MEMCPY, src.length);
  }

  /** skb_put_data() from another page: memcpy `len` bytes at `offset` of `page` to the tail. */
  putDataFromPage(page: Page, offset: number, len: number): void {
    const at = this.put(len);
    copyPageToPage(this.headPage, this.head + this.data + at, page, offset, len);
    this.allocator.costs?.charge(COST_MEMCPY, len);
  }

  /** skb_push(): extend the data at the front by `len`. Before head: skb_under_panic. */
  push(len: number): void {
    this.checkLen(len);
    if (len > this.data) throw new SkbError("SKB_UNDER_PANIC", `push ${len} with headroom ${this.data}`);
    this.data -= len;
    this.len += len;
  }

  /**
   * skb_pull(): remove `len` bytes from the front of the linear data. False (Linux: NULL) when
   * `len` exceeds skb->len or would reach into the frags; the skb is then unchanged.
   */
  pull(len: number): boolean {
    this.checkLen(len);
    if (len > this.len) return false;
    if (this.len - len < this.dataLen) return false;
    this.len -= len;
    this.data += len;
    return true;
  }

  /**
   * skb_trim(): cut a linear skb to `len` bytes. On a non-linear skb Linux WARNs and does
   * nothing (use pskbTrim); so does this.
   */
  trim(len: number): void {
    this.checkLen(len);
    if (this.len <= len || this.dataLen !== 0) return;
    this.len = len;
    this.tail = this.data + len;
  }

  /** pskb_may_pull(): make sure the first `len` bytes are linear. */
  pskbMayPull(len: number): boolean {
    this.checkLen(len);
    const headlen = this.headlen;
    if (len <= headlen) return true;
    if (len > this.len) return false;
    return this.pskbPullTail(len - headlen);
  }

  /** pskb_pull(): pull `len` bytes, first making them linear. */
  pskbPull(len: number): boolean {
    this.checkLen(len);
    if (len > this.len) return false;
    if (len > this.headlen && !this.pskbPullTail(len - this.headlen)) return false;
    this.len -= len;
    this.data += len;
    return true;
  }

  /**
   * __pskb_pull_tail(): move `delta` bytes from the frags (and frag_list) to the end of the
   * linear area, growing the head (pskb_expand_head with 128 bytes of slack) when its tailroom is
   * short or its data is shared with a clone. Frags fully pulled are released; a partly pulled
   * frag keeps its page with offset/size moved. False (NULL) when memory runs out.
   */
  pskbPullTail(delta: number): boolean {
    this.checkLen(delta);
    if (delta > this.dataLen) throw new SkbError("BUG", `__pskb_pull_tail(${delta}) with data_len ${this.dataLen}`);
    const eatRoom = this.tail + delta - this.end;
    if (eatRoom > 0 || this.isCloned) {
      if (this.pskbExpandHead(0, eatRoom > 0 ? eatRoom + PULL_TAIL_SLACK : 0) !== 0) return false;
    }
    const sh = this.shinfo;
    // BUG_ON(skb_copy_bits(skb, skb_headlen(skb), skb_tail_pointer(skb), delta))
    if (walkBits(this, this.headlen, delta, false, this.headPage, null, this.head + this.tail) !== 0) {
      throw new SkbError("BUG", "__pskb_pull_tail copy failed");
    }
    this.allocator.costs?.charge(COST_MEMCPY, delta);

    let eat = delta;
    if (sh.fragList !== null) {
      // Estimate the pulled size of the frags; only if they do not cover delta is the list touched.
      let i = 0;
      for (; i < sh.nrFrags; i++) {
        const size = (sh.frags[i] as SkbFrag).size;
        if (size >= eat) break;
        eat -= size;
      }
      if (i === sh.nrFrags && !this.pullFragList(eat)) return false;
    }

    // pull_pages:
    eat = delta;
    let k = 0;
    const nr = sh.nrFrags;
    for (let i = 0; i < nr; i++) {
      const f = sh.frags[i] as SkbFrag;
      const size = f.size;
      if (size <= eat) {
        putPage(f.page as Page);
        eat -= size;
      } else {
        const dst = sh.frags[k] as SkbFrag;
        dst.page = f.page;
        dst.offset = f.offset;
        dst.size = f.size;
        if (eat !== 0) {
          dst.offset += eat;
          dst.size -= eat;
          eat = 0;
        }
        k++;
      }
    }
    for (let i = k; i < nr; i++) (sh.frags[i] as SkbFrag).clear();
    sh.nrFrags = k;
    this.tail += delta;
    this.dataLen -= delta;
    if (this.dataLen === 0) this.zcopyClear(false);
    return true;
  }

  /** The frag_list part of __pskb_pull_tail: drop `eat` bytes from the front of the list. */
  private pullFragList(eat: number): boolean {
    const sh = this.shinfo;
    let list = sh.fragList;
    let insp: SkBuff | null = null;
    let clone: SkBuff | null = null;
    // A do-while, as in Linux: even with nothing left to eat the head member is examined, so a
    // zero-byte pull keeps the list (a while loop would free every member).
    do {
      if (list === null) throw new SkbError("BUG", "frag_list holds fewer bytes than the pull needs");
      if (list.len <= eat) {
        eat -= list.len;
        list = list.next;
        insp = list;
      } else {
        if (this.isGso && !list.headFrag && list.headlen !== 0) sh.gsoType |= SKB_GSO_DODGY;
        if (list.isShared) {
          clone = list.clone();
          if (clone === null) return false;
          insp = list.next;
          list = clone;
        } else {
          insp = list;
        }
        if (!list.pskbPull(eat)) {
          clone?.free();
          return false;
        }
        break;
      }
    } while (eat > 0);
    // Free the pulled-out members (consume_skb; a shared member keeps its links for its other
    // holders), then put the clone, if any, at the head of the list.
    for (let l = sh.fragList; l !== insp && l !== null; l = sh.fragList) {
      sh.fragList = l.next;
      l.free();
    }
    if (clone !== null) {
      clone.next = insp;
      sh.fragList = clone;
    }
    return true;
  }

  /** skb_linearize(): make the whole packet linear. 0 or -ENOMEM. */
  linearize(): number {
    if (this.dataLen === 0) return 0;
    return this.pskbPullTail(this.dataLen) ? 0 : -ENOMEM;
  }

  /** pskb_trim(): cut the packet to `len` bytes, frags and frag_list included. 0 or -ENOMEM. */
  pskbTrim(len: number): number {
    this.checkLen(len);
    if (len >= this.len) return 0;
    if (this.dataLen === 0) {
      this.trim(len);
      return 0;
    }
    return this.pskbTrimNonlinear(len);
  }

  /** ___pskb_trim() */
  private pskbTrimNonlinear(len: number): number {
    if (this.isCloned && this.pskbExpandHead(0, 0) !== 0) return -ENOMEM;
    const sh = this.shinfo;
    let offset = this.headlen;
    const nfrags = sh.nrFrags;
    let i = 0;
    let dropPages = offset >= len;
    if (!dropPages) {
      for (; i < nfrags; i++) {
        const f = sh.frags[i] as SkbFrag;
        const end = offset + f.size;
        if (end < len) {
          offset = end;
          continue;
        }
        f.size = len - offset;
        i++;
        dropPages = true;
        break;
      }
    }
    if (dropPages) {
      // drop_pages:
      sh.nrFrags = i;
      for (let j = i; j < nfrags; j++) {
        const f = sh.frags[j] as SkbFrag;
        putPage(f.page as Page);
        f.clear();
      }
      this.dropFragList();
    } else {
      // The cut falls in the frag_list.
      let prev: SkBuff | null = null;
      for (let frag = sh.fragList; frag !== null; frag = frag.next) {
        if (frag.isShared) {
          const nfrag = frag.clone();
          if (nfrag === null) return -ENOMEM;
          nfrag.next = frag.next;
          // consume_skb: the shared original keeps its next link for its other holders.
          frag.free();
          frag = nfrag;
          if (prev === null) sh.fragList = frag;
          else prev.next = frag;
        }
        const end = offset + frag.len;
        if (end < len) {
          offset = end;
          prev = frag;
          continue;
        }
        if (end > len && frag.pskbTrim(len - offset) !== 0) return -ENOMEM;
        let rest = frag.next;
        frag.next = null;
        while (rest !== null) {
          const n = rest.next;
          rest.next = null;
          rest.free();
          rest = n;
        }
        break;
      }
    }
    if (len > this.headlen) {
      this.dataLen -= this.len - len;
      this.len = len;
    } else {
      this.len = len;
      this.dataLen = 0;
      this.tail = this.data + len;
    }
    if (this.dataLen === 0) this.zcopyClear(false);
    return 0;
  }

  /** skb_drop_fraglist(): kfree_skb_list of the frag_list (links left as they are, like Linux). */
  private dropFragList(): void {
    const sh = this.shinfo;
    let l = sh.fragList;
    sh.fragList = null;
    while (l !== null) {
      const n = l.next;
      l.free();
      l = n;
    }
  }

  // ---------------------------------------------------------------- bytes

  /** skb_copy_bits(): copy `len` packet bytes at `offset` (from skb->data) to `to`. 0 or -EFAULT. */
  copyBits(offset: number, to: Uint8Array, toOffset: number, len: number): number {
    if (toOffset < 0 || toOffset + len > to.length) return -EFAULT;
    return walkBits(this, offset, len, false, null, to, toOffset);
  }

  /** skb_store_bits(): write `len` bytes of `from` into the packet at `offset`. 0 or -EFAULT. */
  storeBits(offset: number, from: Uint8Array, fromOffset: number, len: number): number {
    if (fromOffset < 0 || fromOffset + len > from.length) return -EFAULT;
    return walkBits(this, offset, len, true, null, from, fromOffset);
  }

  /**
   * skb_to_sgvec(): views of the machine memory behind `len` bytes at `offset`, appended to `out`
   * in packet order, one per run of adjacent bytes (a writev's iovecs). Copies nothing: the views
   * alias the pages, so they are read before the skb is freed. The number appended, or -EFAULT
   * when the range is outside the packet (out then holds what was appended before the gap).
   */
  toSgvec(offset: number, len: number, out: Uint8Array[]): number {
    const before = out.length;
    const rc = walkBits(this, offset, len, false, null, null, 0, out);
    return rc !== 0 ? rc : out.length - before;
  }

  /** skb_copy_bits() into a page (machine memory to machine memory, no allocation). */
  copyBitsToPage(offset: number, page: Page, pageOffset: number, len: number): number {
    return walkBits(this, offset, len, false, page, null, pageOffset);
  }

  /** The whole packet (linear + frags + frag_list) as a new array. Allocates: for tests and checks. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    if (this.copyBits(0, out, 0, this.len) !== 0) throw new SkbError("BUG", "skb bytes do not add up to skb->len");
    return out;
  }

  // ---------------------------------------------------------------- frags

  /** __skb_fill_page_desc(): set frag `i` (no length accounting, no nr_frags change). */
  fillPageDescNoacc(i: number, page: Page, offset: number, size: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= MAX_SKB_FRAGS) throw new SkbError("EINVAL", `frag index ${i} (MAX_SKB_FRAGS ${MAX_SKB_FRAGS})`);
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0 || offset + size > page.size) {
      throw new SkbError("EFAULT", `frag [${offset}, ${offset + size}) outside a ${page.size}-byte page`);
    }
    const f = this.shinfo.frags[i] as SkbFrag;
    f.page = page;
    f.offset = offset;
    f.size = size;
  }

  /** skb_fill_page_desc(): set frag `i` and make nr_frags i + 1. The frag takes over a page reference. */
  fillPageDesc(i: number, page: Page, offset: number, size: number): void {
    this.fillPageDescNoacc(i, page, offset, size);
    this.shinfo.nrFrags = i + 1;
  }

  /**
   * skb_add_rx_frag(): attach `size` bytes at `offset` of `page` as frag `i`; len, data_len grow
   * by size and truesize by `truesize` (what the driver gave up: often the whole buffer). The
   * frag takes over the caller's page reference.
   */
  addRxFrag(i: number, page: Page, offset: number, size: number, truesize: number): void {
    this.fillPageDesc(i, page, offset, size);
    this.len += size;
    this.dataLen += size;
    this.truesize += truesize;
  }

  /**
   * skb_partial_csum_set(): CHECKSUM_PARTIAL at `start` (from data), checksum at start + off; the
   * transport header is set at `start` too.
   */
  partialCsumSet(start: number, off: number): boolean {
    const csumEnd = start + off + 2;
    const csumStart = this.data + start;
    if (start < 0 || off < 0 || csumStart >= 0xffff || csumEnd > this.headlen) return false;
    this.ipSummed = CHECKSUM_PARTIAL;
    this.csumStart = csumStart;
    this.csumOffset = off;
    this.transportHeader = csumStart;
    return true;
  }

  /** skb_transport_header_was_set() */
  get transportHeaderWasSet(): boolean {
    return this.transportHeader !== SKB_HEADER_UNSET;
  }

  /** skb_transport_offset(): where the transport header is, from skb->data. */
  get transportOffset(): number {
    return this.transportHeader - this.data;
  }

  // ---------------------------------------------------------------- sharing

  /** skb_get(): take another reference on this sk_buff. */
  get(): this {
    this.assertLive();
    this.users++;
    return this;
  }

  /** kfree_skb() / consume_skb(): drop a reference; the last one frees the skb and, if last, its data. */
  free(): void {
    this.allocator.kfreeSkb(this);
  }

  /**
   * skb_clone(): a new sk_buff sharing this one's data (dataref + 1, both marked cloned).
   * Zerocopy frags whose owner did not ask to keep them (no SKBFL_DONT_ORPHAN) are copied first
   * (skb_orphan_frags -> skb_copy_ubufs). Null when memory runs out.
   */
  clone(): SkBuff | null {
    if (this.orphanFrags() !== 0) return null;
    const n = this.allocator.newSkbStruct();
    if (n === null) return null;
    const sh = this.shinfo;
    n.attachClone(this, sh);
    sh.dataref++;
    this.cloned = true;
    return n;
  }

  /** __skb_clone's field copy. */
  private attachClone(from: SkBuff, sh: SkbSharedInfo): void {
    this.headPage_ = from.headPage;
    this.shinfo_ = sh;
    this.head = from.head;
    this.copyHeader(from);
    this.data = from.data;
    this.tail = from.tail;
    this.end = from.end;
    this.len = from.len;
    this.dataLen = from.dataLen;
    this.truesize = from.truesize;
    this.headFrag = from.headFrag;
    this.cloned = true;
    this.users = 1;
    this.next = null;
  }

  /** __copy_skb_header's per-packet metadata. */
  private copyHeader(from: SkBuff): void {
    this.ipSummed = from.ipSummed;
    this.csumStart = from.csumStart;
    this.csumOffset = from.csumOffset;
    this.csum = from.csum;
    this.protocol = from.protocol;
    this.pktType = from.pktType;
    this.transportHeader = from.transportHeader;
  }

  /**
   * skb_copy(): a private, fully linear copy: head of skb_end_offset + data_len bytes, the same
   * headroom, every byte (headroom included) copied, header and GSO fields copied. Null on ENOMEM.
   */
  copy(): SkBuff | null {
    const headerlen = this.headroom;
    const size = this.end + this.dataLen;
    const n = this.allocator.allocSkb(size);
    if (n === null) return null;
    n.reserve(headerlen);
    n.put(this.len);
    if (walkBits(this, -headerlen, headerlen + this.len, false, n.headPage, null, n.head) !== 0) {
      throw new SkbError("BUG", "skb_copy: bytes do not add up");
    }
    this.allocator.costs?.charge(COST_MEMCPY, headerlen + this.len);
    n.copyHeader(this);
    const sh = this.shinfo;
    const nsh = n.shinfo;
    nsh.gsoSize = sh.gsoSize;
    nsh.gsoSegs = sh.gsoSegs;
    nsh.gsoType = sh.gsoType;
    return n;
  }

  /** skb_unclone(): give this skb private data if it shares it. 0 or -ENOMEM. */
  unclone(): number {
    return this.isCloned ? this.pskbExpandHead(0, 0) : 0;
  }

  /**
   * pskb_expand_head(): a new head with `nhead` more bytes of headroom and `ntail` more of
   * tailroom (kmalloc_reserve rounding applies), the old head..tail copied over. If the data was
   * shared with clones, this skb takes its own shinfo (frag references taken); else the shinfo
   * moves. truesize grows by the growth of the buffer (no socket owns our skbs). 0 or -ENOMEM.
   */
  pskbExpandHead(nhead: number, ntail: number): number {
    this.checkLen(nhead);
    this.checkLen(ntail);
    if (this.isShared) throw new SkbError("BUG", "pskb_expand_head on a shared skb");
    const alloc = this.allocator;
    const osize = this.end;
    const ref = alloc.scratchRef;
    if (!alloc.kmalloc.kmallocReserve(skbHeadAlign(nhead + osize + ntail), true, ref)) return -ENOMEM;
    const newPage = ref.page as Page;
    const newHead = ref.offset;
    const size = skbWithOverhead(ref.size);
    const oldSh = this.shinfo;
    // memcpy(data + nhead, skb->head, skb_tail_pointer(skb) - skb->head)
    copyPageToPage(newPage, newHead + nhead, this.headPage, this.head, this.tail);
    alloc.costs?.charge(COST_MEMCPY, this.tail);
    if (this.isCloned) {
      if (this.orphanFrags() !== 0) {
        putPage(newPage);
        return -ENOMEM;
      }
      const sh = alloc.newShinfo();
      sh.flags = oldSh.flags;
      sh.txFlags = oldSh.txFlags;
      sh.gsoSize = oldSh.gsoSize;
      sh.gsoSegs = oldSh.gsoSegs;
      sh.gsoType = oldSh.gsoType;
      sh.destructorArg = oldSh.destructorArg;
      if (sh.destructorArg !== null && (sh.flags & SKBFL_ZEROCOPY_ENABLE) !== 0) sh.destructorArg.refcnt++;
      sh.nrFrags = oldSh.nrFrags;
      for (let i = 0; i < oldSh.nrFrags; i++) {
        const f = oldSh.frags[i] as SkbFrag;
        const g = sh.frags[i] as SkbFrag;
        getPage(f.page as Page);
        g.page = f.page;
        g.offset = f.offset;
        g.size = f.size;
      }
      // skb_clone_fraglist: the new shinfo holds its own reference on every list member.
      sh.fragList = oldSh.fragList;
      for (let l = sh.fragList; l !== null; l = l.next) l.get();
      alloc.releaseData(this);
      this.shinfo_ = sh;
    } else {
      // skb_free_head: the shinfo (a JS object) moves with the data.
      putPage(this.headPage);
    }
    this.headPage_ = newPage;
    this.head = newHead;
    this.headFrag = false;
    this.data += nhead;
    this.tail += nhead;
    this.end = size;
    if (this.ipSummed === CHECKSUM_PARTIAL) this.csumStart += nhead;
    // skb_headers_offset_update
    if (this.transportHeader !== SKB_HEADER_UNSET) this.transportHeader += nhead;
    this.cloned = false;
    this.shinfo.dataref = 1;
    this.truesize += size - osize;
    return 0;
  }

  // ---------------------------------------------------------------- zerocopy

  /** skb_zcopy_init(): attach a zerocopy owner; its completion runs when the data is released. */
  zcopyInit(ubuf: UbufInfo): void {
    // A zerocopy skb is never cloned before its ubuf is attached (skb_clone orphans first).
    if (this.isCloned) throw new SkbError("BUG", "skb_zcopy_init on a cloned skb");
    ubuf.refcnt++;
    const sh = this.shinfo;
    sh.destructorArg = ubuf;
    sh.flags |= ubuf.flags | SKBFL_ZEROCOPY_ENABLE;
  }

  /** skb_zcopy_clear(): complete the ubuf (if any) and clear the zerocopy flags. */
  zcopyClear(zerocopySuccess: boolean): void {
    const ubuf = this.zcopy;
    const sh = this.shinfo;
    if (ubuf !== null) {
      sh.destructorArg = null;
      sh.flags &= ~SKBFL_ALL_ZEROCOPY;
      if (--ubuf.refcnt <= 0) {
        ubuf.refcnt = 0;
        ubuf.completions++;
        ubuf.callback(this, ubuf, zerocopySuccess);
      }
    }
  }

  /** skb_orphan_frags(): copy zerocopy frags unless their owner keeps them (SKBFL_DONT_ORPHAN). */
  orphanFrags(): number {
    if (this.zcopy === null) return 0;
    if ((this.shinfo.flags & SKBFL_DONT_ORPHAN) !== 0) return 0;
    return this.copyUbufs();
  }

  /**
   * skb_copy_ubufs(): copy the zerocopy frags into fresh pages (order 0 unless the frags would
   * not fit MAX_SKB_FRAGS pages) and complete the ubuf with zerocopy_success = false. This is the
   * extra memcpy behind netfront's RX regression with persistent grants. -EINVAL on a shared skb
   * or one whose data cannot be made private; -ENOMEM when pages run out (nothing changed).
   */
  copyUbufs(): number {
    // unclone cannot recurse back here: a cloned skb's zerocopy frags were orphaned at clone time
    // unless SKBFL_DONT_ORPHAN, in which case orphanFrags does not copy.
    if (this.isShared || this.unclone() !== 0) return -EINVAL;
    const sh = this.shinfo;
    const numFrags = sh.nrFrags;
    if (numFrags !== 0) {
      const pagelen = this.pagelen;
      let order = 0;
      while ((PAGE_SIZE << order) * MAX_SKB_FRAGS < pagelen) order++;
      const psize = PAGE_SIZE << order;
      const newFrags = Math.ceil(pagelen / psize);
      const pool = this.allocator.pool;
      // Allocate all pages first, chained through page_private, so failure changes nothing.
      let first: Page | null = null;
      let last: Page | null = null;
      for (let i = 0; i < newFrags; i++) {
        const p = pool.allocPages(order);
        if (p === null) {
          for (let q = first; q !== null; ) {
            const nx: Page | null = q.private_;
            q.private_ = null;
            putPage(q);
            q = nx;
          }
          return -ENOMEM;
        }
        if (last === null) first = p;
        else last.private_ = p;
        last = p;
      }
      let page = first as Page;
      let dOff = 0;
      for (let i = 0; i < numFrags; i++) {
        const f = sh.frags[i] as SkbFrag;
        let done = 0;
        while (done < f.size) {
          if (dOff === psize) {
            dOff = 0;
            page = page.private_ as Page;
          }
          const n = Math.min(psize - dOff, f.size - done);
          copyPageToPage(page, dOff, f.page as Page, f.offset + done, n);
          done += n;
          dOff += n;
        }
      }
      this.allocator.costs?.charge(COST_MEMCPY, pagelen);
      for (let i = 0; i < numFrags; i++) putPage((sh.frags[i] as SkbFrag).page as Page);
      let p = first as Page;
      for (let i = 0; i < newFrags; i++) {
        const nx = p.private_;
        p.private_ = null;
        this.fillPageDescNoacc(i, p, 0, i < newFrags - 1 ? psize : dOff);
        if (nx !== null) p = nx;
      }
      for (let i = newFrags; i < numFrags; i++) (sh.frags[i] as SkbFrag).clear();
      sh.nrFrags = newFrags;
    }
    this.zcopyClear(false);
    return 0;
  }

  // ---------------------------------------------------------------- allocator internals

  /** @internal __build_skb_around(): set up a fresh sk_buff around a buffer of `size` bytes (shinfo included). */
  initAround(page: Page, offset: number, size: number, headFrag: boolean, sh: SkbSharedInfo): void {
    const end = skbWithOverhead(size);
    this.headPage_ = page;
    this.head = offset;
    this.data = 0;
    this.tail = 0;
    this.end = end;
    this.len = 0;
    this.dataLen = 0;
    this.truesize = skbTruesize(end);
    this.users = 1;
    this.cloned = false;
    this.headFrag = headFrag;
    this.ipSummed = CHECKSUM_NONE;
    this.csumStart = 0;
    this.csumOffset = 0;
    this.csum = 0;
    this.protocol = 0;
    this.pktType = PACKET_HOST;
    this.transportHeader = SKB_HEADER_UNSET;
    this.next = null;
    sh.reset();
    this.shinfo_ = sh;
  }

  /** @internal Detach from data and head when the sk_buff itself is freed (kfree_skbmem). */
  detach(): void {
    this.headPage_ = null;
    this.shinfo_ = null;
    this.users = 0;
    this.next = null;
  }

  private checkLen(len: number): void {
    if (!Number.isInteger(len) || len < 0) throw new SkbError("EINVAL", `length ${len}`);
    this.assertLive();
  }

  private assertLive(): void {
    if (this.shinfo_ === null) throw new SkbError("BUG", "use of a freed skb");
  }
}
