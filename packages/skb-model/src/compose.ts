/**
 * Test traffic: skbs built from a layout description (linear size and page offset, frag sizes,
 * offsets and page orders, frag_list, GSO), and a pktgen-like source that either resends one skb
 * (`clone_skbs`) or builds a fresh one per packet (net/core/pktgen.c, fill_packet and the
 * clone_count logic of pktgen_xmit).
 */
import { SkbError } from "./errors.js";
import type { SkbAllocator } from "./allocator.js";
import { getOrder, MAX_PAGE_ORDER, PAGE_SIZE, type Page, putPage, writePage } from "./page.js";
import {
  GSO_LEGACY_MAX_SIZE,
  MAX_SKB_FRAGS,
  NET_IP_ALIGN,
  NET_SKB_PAD,
  type SkBuff,
  skbDataAlign,
  SKB_SHINFO_SIZE,
} from "./skbuff.js";

/** One frag: `size` bytes at `offset` of a fresh page of `order` (smallest that fits if absent). */
export interface FragDesc {
  readonly size: number;
  readonly offset?: number;
  readonly order?: number;
}

/** GSO metadata stored in the shinfo (gso_size = MSS, gso_type = SKB_GSO_*, gso_segs). */
export interface GsoDesc {
  readonly size: number;
  readonly type: number;
  readonly segs?: number;
}

/** The layout of a composed skb. Bytes run linear, then frags, then frag_list members. */
export interface SkbDesc {
  /** Bytes in the linear area. */
  readonly linearLen: number;
  /**
   * Offset of skb->data inside the head buffer, which starts page aligned: its low 12 bits are
   * offset_in_page(skb->data). Default NET_SKB_PAD + NET_IP_ALIGN.
   */
  readonly linearOffset?: number;
  readonly frags?: readonly FragDesc[];
  /** frag_list members (one level: members have no frag_list of their own). */
  readonly fragList?: readonly SkbDesc[];
  readonly gso?: GsoDesc;
}

/**
 * The largest packet the composer builds: GSO_LEGACY_MAX_SIZE, the 64 KiB bound of a packet on
 * the Xen PV path (netif's 16-bit first-slot size, netback's 64 KiB skbs).
 */
export const SKB_COMPOSE_MAX_LEN = GSO_LEGACY_MAX_SIZE;

/** Total packet bytes a description yields. */
export function skbDescLen(desc: SkbDesc): number {
  let n = desc.linearLen;
  for (const f of desc.frags ?? []) n += f.size;
  for (const m of desc.fragList ?? []) n += skbDescLen(m);
  return n;
}

/**
 * The worst-case 64 KiB-class skb of the netback compound-page notes (Xen Hackathon, May 2013):
 * a 70-byte linear area crossing a page boundary (2 slots),
 * 15 frags of PAGE_SIZE + 2 bytes starting at the last byte of a page so they spill into the
 * pages on both sides (3 slots each, 45), and 2 two-byte frags crossing a boundary (2 slots each,
 * 4): 51 slots, against the 18 a legacy backend accepts.
 */
export const SEED5_WORST_CASE: SkbDesc = Object.freeze({
  linearLen: 70,
  linearOffset: PAGE_SIZE - 35,
  frags: Object.freeze([
    ...Array.from({ length: 15 }, () => Object.freeze({ size: PAGE_SIZE + 2, offset: PAGE_SIZE - 1, order: 2 })),
    ...Array.from({ length: 2 }, () => Object.freeze({ size: 2, offset: PAGE_SIZE - 1, order: 1 })),
  ]),
});

/** The slot count those notes derive for SEED5_WORST_CASE. */
export const SEED5_WORST_CASE_SLOTS = 51;

/** A source of uniform integers: `Prng` of @pvnet/sim fits. */
export interface RandomSource {
  /** Uniform integer in [0, bound). */
  below(bound: number): number;
}

/** Bounds for `randomSkbDesc`. */
export interface RandomSkbDescLimits {
  /** Largest packet (default SKB_COMPOSE_MAX_LEN). */
  readonly maxLen?: number;
  /** Largest number of frags (default MAX_SKB_FRAGS). */
  readonly maxFrags?: number;
  /** Largest frag_list length (default 2). */
  readonly maxFragList?: number;
}

/**
 * A random layout, deterministic from `rng`: linear length and page offset, frags with sizes up
 * to two pages at any offset of pages up to order 2, optionally a short frag_list.
 */
export function randomSkbDesc(rng: RandomSource, limits: RandomSkbDescLimits = {}): SkbDesc {
  const maxLen = Math.min(limits.maxLen ?? SKB_COMPOSE_MAX_LEN, SKB_COMPOSE_MAX_LEN);
  let budget = maxLen;
  const one = (withList: boolean): SkbDesc => {
    const linearLen = rng.below(Math.min(budget, 2 * PAGE_SIZE) + 1);
    budget -= linearLen;
    const linearOffset = rng.below(2 * PAGE_SIZE);
    const frags: FragDesc[] = [];
    const nFrags = rng.below((limits.maxFrags ?? MAX_SKB_FRAGS) + 1);
    for (let i = 0; i < nFrags && budget > 0; i++) {
      const size = 1 + rng.below(Math.min(budget, 2 * PAGE_SIZE));
      const order = getOrder(size) + rng.below(2);
      const offset = rng.below((PAGE_SIZE << order) - size + 1);
      frags.push({ size, offset, order });
      budget -= size;
    }
    const fragList: SkbDesc[] = [];
    if (withList) {
      const n = rng.below((limits.maxFragList ?? 2) + 1);
      for (let i = 0; i < n && budget > 0; i++) fragList.push(one(false));
    }
    return { linearLen, linearOffset, frags, fragList };
  };
  return one(true);
}

function orderFor(bytes: number): number {
  const order = getOrder(bytes);
  if (order < 0) throw new SkbError("EINVAL", `${bytes} bytes exceed a page of order ${MAX_PAGE_ORDER}`);
  return order;
}

/**
 * Builds skbs from descriptions in one allocator's memory. Payload bytes come from the caller
 * (any Uint8Array at least as long as the packet) or from a default pattern (byte i = i & 0xff).
 */
export class SkbComposer {
  private readonly pattern = new Uint8Array(SKB_COMPOSE_MAX_LEN);

  constructor(readonly allocator: SkbAllocator) {
    for (let i = 0; i < this.pattern.length; i++) this.pattern[i] = i & 0xff;
  }

  /**
   * Build the skb `desc` describes, its bytes taken in order from `payload`. Null when memory or
   * sk_buffs run out (nothing is leaked); an impossible description throws EINVAL.
   */
  compose(desc: SkbDesc, payload: Uint8Array = this.pattern): SkBuff | null {
    const total = skbDescLen(desc);
    if (total > SKB_COMPOSE_MAX_LEN) throw new SkbError("EINVAL", `packet of ${total} bytes > ${SKB_COMPOSE_MAX_LEN}`);
    if (payload.length < total) throw new SkbError("EINVAL", `payload of ${payload.length} bytes for a ${total}-byte packet`);
    this.check(desc, true);
    const gso = desc.gso;
    if (gso !== undefined && (!Number.isInteger(gso.size) || gso.size < 1 || gso.size > 0xffff)) {
      throw new SkbError("EINVAL", `gso_size ${gso.size}`);
    }
    const skb = this.composeOne(desc, payload, 0);
    if (skb === null) return null;
    if (gso !== undefined) {
      const sh = skb.shinfo;
      sh.gsoSize = gso.size;
      sh.gsoType = gso.type;
      sh.gsoSegs = gso.segs ?? Math.ceil(total / gso.size);
    }
    return skb;
  }

  /** Check a whole description before anything is allocated. */
  private check(desc: SkbDesc, top: boolean): void {
    const frags = desc.frags ?? [];
    const linearOffset = desc.linearOffset ?? NET_SKB_PAD + NET_IP_ALIGN;
    if (!Number.isInteger(desc.linearLen) || desc.linearLen < 0) throw new SkbError("EINVAL", `linearLen ${desc.linearLen}`);
    if (!Number.isInteger(linearOffset) || linearOffset < 0) throw new SkbError("EINVAL", `linearOffset ${linearOffset}`);
    orderFor(skbDataAlign(linearOffset + desc.linearLen) + skbDataAlign(SKB_SHINFO_SIZE));
    if (frags.length > MAX_SKB_FRAGS) throw new SkbError("EINVAL", `${frags.length} frags > MAX_SKB_FRAGS ${MAX_SKB_FRAGS}`);
    if (!top && (desc.fragList?.length ?? 0) > 0) throw new SkbError("EINVAL", "nested frag_list");
    for (const f of frags) {
      const offset = f.offset ?? 0;
      if (!Number.isInteger(f.size) || f.size < 1 || !Number.isInteger(offset) || offset < 0) {
        throw new SkbError("EINVAL", `frag size ${f.size} offset ${offset}`);
      }
      const order = f.order ?? orderFor(offset + f.size);
      if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER || offset + f.size > PAGE_SIZE << order) {
        throw new SkbError("EINVAL", `frag of ${f.size} bytes at ${offset} does not fit a page of order ${order}`);
      }
    }
    for (const m of desc.fragList ?? []) this.check(m, false);
  }

  private composeOne(desc: SkbDesc, payload: Uint8Array, pos: number): SkBuff | null {
    const frags = desc.frags ?? [];
    const linearOffset = desc.linearOffset ?? NET_SKB_PAD + NET_IP_ALIGN;

    // The head: a page-aligned buffer with skb->data at linearOffset, built like build_skb does.
    const bufSize = skbDataAlign(linearOffset + desc.linearLen) + skbDataAlign(SKB_SHINFO_SIZE);
    const alloc = this.allocator;
    const headPage = alloc.pool.allocPages(orderFor(bufSize));
    if (headPage === null) return null;
    const skb = alloc.buildSkb(headPage, 0, headPage.size);
    if (skb === null) {
      putPage(headPage);
      return null;
    }
    skb.reserve(linearOffset);
    skb.put(desc.linearLen);
    writePage(headPage, linearOffset, payload, pos, desc.linearLen);
    pos += desc.linearLen;

    for (let i = 0; i < frags.length; i++) {
      const f = frags[i] as FragDesc;
      const offset = f.offset ?? 0;
      const page: Page | null = alloc.pool.allocPages(f.order ?? orderFor(offset + f.size));
      if (page === null) {
        skb.free();
        return null;
      }
      writePage(page, offset, payload, pos, f.size);
      skb.addRxFrag(i, page, offset, f.size, page.size);
      pos += f.size;
    }

    let last: SkBuff | null = null;
    for (const m of desc.fragList ?? []) {
      const member = this.composeOne(m, payload, pos);
      if (member === null) {
        skb.free();
        return null;
      }
      if (last === null) skb.shinfo.fragList = member;
      else last.next = member;
      last = member;
      skb.len += member.len;
      skb.dataLen += member.len;
      skb.truesize += member.truesize;
      pos += member.len;
    }
    return skb;
  }
}

/** Options of a pktgen source. */
export interface PktgenOptions {
  /** The layout of every packet. */
  readonly desc: SkbDesc;
  /**
   * clone_skbs: how many times one skb is handed out before a fresh one is built (pktgen's
   * clone_skbs; 0 builds a fresh skb per packet). The persistent-grants RFC (May 2015) used 100000 to avoid allocation costs.
   */
  readonly cloneSkbs?: number;
  /** Stamp a fresh packet's payload (sequence number, checksums) before it is composed. */
  readonly fill?: (seq: number, payload: Uint8Array) => void;
}

/**
 * pktgen's packet source. `next()` returns an skb holding a reference for the caller (pktgen's
 * refcount_add on skb->users); the caller (the driver's start_xmit) frees it after sending. With
 * clone_skbs the same skb comes back until its count is used up, then a fresh one is filled.
 */
export class Pktgen {
  /** Fresh packets built so far (the sequence number of the next one). */
  seq = 0;
  /** Packets handed out. */
  sent = 0;
  private skb: SkBuff | null = null;
  private cloneCount = 0;
  private readonly payload: Uint8Array;
  private readonly cloneSkbs: number;

  constructor(
    readonly composer: SkbComposer,
    readonly options: PktgenOptions,
  ) {
    this.cloneSkbs = options.cloneSkbs ?? 0;
    if (!Number.isInteger(this.cloneSkbs) || this.cloneSkbs < 0) throw new SkbError("EINVAL", `clone_skbs ${this.cloneSkbs}`);
    const len = skbDescLen(options.desc);
    if (len > SKB_COMPOSE_MAX_LEN) throw new SkbError("EINVAL", `packet of ${len} bytes > ${SKB_COMPOSE_MAX_LEN}`);
    this.payload = new Uint8Array(len);
    for (let i = 0; i < len; i++) this.payload[i] = i & 0xff;
  }

  /** The next packet, or null when memory runs out (pktgen counts an error and retries). */
  next(): SkBuff | null {
    if (this.skb === null || ++this.cloneCount >= this.cloneSkbs) {
      if (this.skb !== null) this.skb.free();
      this.skb = null;
      this.options.fill?.(this.seq, this.payload);
      const skb = this.composer.compose(this.options.desc, this.payload);
      if (skb === null) return null;
      this.skb = skb;
      this.seq++;
      this.cloneCount = 0;
    }
    this.sent++;
    return this.skb.get();
  }

  /** Drop pktgen's own reference on the current skb. */
  stop(): void {
    if (this.skb !== null) this.skb.free();
    this.skb = null;
  }
}
