/**
 * xen-netback's hash.c: the Toeplitz hash a frontend configures over the control ring (algorithm,
 * flags, key, mapping size, mapping), the per-vif cache of computed hashes, and the hash of an skb
 * that xenvif_select_queue maps to a queue. The key and the two mapping tables live in Dom0 memory
 * (struct xenvif's `hash` member in Linux) and are filled by GNTTABOP_copy from pages the guest
 * granted, as Linux does: every length and offset is checked before a copy is issued, so nothing
 * outside the granted bytes is read and nothing outside the tables is written.
 *
 * Public sources: Linux drivers/net/xen-netback/hash.c (Paul Durrant, "xen-netback: add control
 * protocol implementation", 2016), the fixes "xen-netback: validate queue numbers in
 * xenvif_set_hash_mapping()" (2018, the double-buffered mapping) and "xen-netback: fix input
 * validation in xenvif_set_hash_mapping()" (2018, XSA-270); Xen xen/include/public/io/netif.h
 * (xen_netif_toeplitz_hash, the XEN_NETIF_CTRL_* messages).
 */
import { DOMID_SELF, type Vcpu } from "@pvnet/hypervisor";
import {
  XEN_NETIF_CTRL_HASH_ALGORITHM_NONE,
  XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
  XEN_NETIF_CTRL_HASH_TYPE_IPV4,
  XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
  XEN_NETIF_CTRL_HASH_TYPE_IPV6,
  XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
  XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
  XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
  XEN_NETIF_CTRL_STATUS_SUCCESS,
} from "@pvnet/netif";
import { ETH_HLEN, ETH_P_IP, IP_MF_OFFSET, IPPROTO_TCP, type Page, type SkBuff } from "@pvnet/skb-model";
import { GNTCOPY, GNTST, GnttabCopyBatch, type GrantOps } from "@pvnet/xen-grant-table";

/** XEN_NETBK_MAX_HASH_KEY_SIZE (common.h): the key netback keeps; shorter keys are zero-padded. */
export const XEN_NETBK_MAX_HASH_KEY_SIZE = 40;
/** XEN_NETBK_MAX_HASH_MAPPING_SIZE (common.h): entries of a mapping table (the GET_HASH_MAPPING_SIZE reply). */
export const XEN_NETBK_MAX_HASH_MAPPING_SIZE = 128;
/** XEN_NETBK_HASH_TAG_SIZE (common.h): the largest hashed tuple a cache entry holds (IPv6+TCP is 36). */
export const XEN_NETBK_HASH_TAG_SIZE = 40;
/** XEN_NETBK_HASH_CACHE_SIZE_DEFAULT: module parameter hash_cache_size, entries kept per vif. */
export const XEN_NETBK_HASH_CACHE_SIZE_DEFAULT = 64;
/** XEN_PAGE_SIZE: one grant copy never spans more than a page of the guest's. */
const XEN_PAGE_SIZE = 4096;
/** ETH_P_IPV6 */
const ETH_P_IPV6 = 0x86dd;
/** The hash types Linux supports (xenvif_get_hash_flags' reply). */
const XENVIF_HASH_FLAGS_ALL =
  XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP | XEN_NETIF_CTRL_HASH_TYPE_IPV6 | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;

/** enum pkt_hash_types as __skb_set_sw_hash records it. */
export const PKT_HASH_TYPE_NONE = 0;
/** A hash over the IP addresses. */
export const PKT_HASH_TYPE_L3 = 2;
/** A hash over the IP addresses and the transport ports. */
export const PKT_HASH_TYPE_L4 = 3;

/**
 * Where struct xenvif's hash member sits in the order-1 Dom0 allocation backing it. Linux's
 * struct xenvif lies wherever kzalloc put the netdev's private area; the model places it so that
 * mapping[1] straddles the 4 KiB boundary, which makes xenvif_set_hash_mapping split its copy in
 * two as Linux does when the destination crosses a page.
 */
export const XENVIF_HASH_KEY_OFFSET = 3200;
const XENVIF_HASH_MAPPING_OFFSET: readonly number[] = Object.freeze([XENVIF_HASH_KEY_OFFSET + 64, XENVIF_HASH_KEY_OFFSET + 64 + 4 * XEN_NETBK_MAX_HASH_MAPPING_SIZE]);

/**
 * xen_netif_toeplitz_hash (netif.h): the Toeplitz hash of `len` bytes of `data` under `keyLen`
 * bytes of `key` (missing key bytes read as zero). Each set bit of the input XORs in the 32-bit
 * window of the key starting at that bit.
 */
export function toeplitzHash(key: Uint8Array, keyLen: number, data: Uint8Array, len: number): number {
  // prefix: a 64-bit window of the key, as two u32 halves.
  let hi = 0;
  let lo = 0;
  let keyi = 0;
  for (; keyi < 8; keyi++) {
    const b = keyi < keyLen ? (key[keyi] as number) : 0;
    hi = ((hi << 8) | (lo >>> 24)) >>> 0;
    lo = ((lo << 8) | b) >>> 0;
  }
  let hash = 0;
  for (let i = 0; i < len; i++) {
    let byte = data[i] as number;
    for (let bit = 0; bit < 8; bit++) {
      if (byte & 0x80) hash = (hash ^ hi) >>> 0; // the valid part of the hash is the upper 32 bits
      hi = ((hi << 1) | (lo >>> 31)) >>> 0;
      lo = (lo << 1) >>> 0;
      byte = (byte << 1) & 0xff;
    }
    // prefix was shifted by 8: OR in the next key byte.
    lo = (lo | (keyi < keyLen ? (key[keyi] as number) : 0)) >>> 0;
    keyi++;
  }
  return hash;
}

/** struct xenvif_hash_cache_entry, preallocated. */
interface XenvifHashCacheEntry {
  readonly tag: Uint8Array;
  len: number;
  val: number;
  seq: number;
  used: boolean;
}

/** Counters of the hash machinery (the model's; Linux exposes them only through debugfs). */
export interface XenvifHashStats {
  /** Hashes computed with Toeplitz (cache misses, or every hash when the cache is off). */
  computed: number;
  /** Hashes found in the cache. */
  cacheHits: number;
  /** Entries evicted because the cache was full. */
  cacheEvictions: number;
}

/** struct xenvif_hash: what the control ring configures, backed by Dom0 memory. */
export class XenvifHash {
  /** XEN_NETIF_CTRL_HASH_ALGORITHM_*. */
  alg = XEN_NETIF_CTRL_HASH_ALGORITHM_NONE;
  /** XEN_NETIF_CTRL_HASH_TYPE_* bits enabled. */
  flags = 0;
  /** Entries of the mapping in use (0: hash modulo the queue count). */
  size = 0;
  /** Which of the two mapping tables is live (the other one receives a SET_HASH_MAPPING). */
  mappingSel = 0;
  /** xenvif_hash_cache_size (0 disables the cache). */
  readonly cacheSize: number;
  readonly stats: XenvifHashStats = { computed: 0, cacheHits: 0, cacheEvictions: 0 };
  /** The key, mirrored from Dom0 memory after each SET_HASH_KEY (the hash reads it per packet). */
  readonly key = new Uint8Array(XEN_NETBK_MAX_HASH_KEY_SIZE);
  private readonly cache: XenvifHashCacheEntry[] = [];
  private cacheCount = 0;
  private cacheSeq = 0;
  /** The result of the last xenvifSetSkbHash (skb->hash, skb->l4_hash as a PKT_HASH_TYPE_*). */
  skbHash = 0;
  skbHashType = PKT_HASH_TYPE_NONE;
  /** One copy batch: SET_HASH_MAPPING needs two ops when its destination crosses a page. */
  readonly copyOps = new GnttabCopyBatch(2);
  /** Header bytes xenvifSetSkbHash dissects (Ethernet + IPv6 + TCP ports). */
  readonly hdr = new Uint8Array(ETH_HLEN + 40 + 4);
  readonly tuple = new Uint8Array(XEN_NETBK_HASH_TAG_SIZE);

  constructor(
    /** Order-1 Dom0 page holding the key and both mapping tables (zeroed by the owner). */
    readonly page: Page,
    cacheSize = XEN_NETBK_HASH_CACHE_SIZE_DEFAULT,
  ) {
    if (page.size < (XENVIF_HASH_MAPPING_OFFSET[1] as number) + 4 * XEN_NETBK_MAX_HASH_MAPPING_SIZE) throw new RangeError("hash page too small");
    this.cacheSize = cacheSize;
    // kmalloc per new entry in Linux; one more than the size, since an add evicts after inserting.
    for (let i = 0; i <= cacheSize; i++) this.cache.push({ tag: new Uint8Array(XEN_NETBK_HASH_TAG_SIZE), len: 0, val: 0, seq: 0, used: false });
  }

  /** vif->hash.mapping[sel][i], read from Dom0 memory. */
  mapping(sel: number, i: number): number {
    const bytes = this.page.machine.bytes;
    const off = (XENVIF_HASH_MAPPING_OFFSET[sel] as number) + 4 * i;
    let v = 0;
    for (let b = 3; b >= 0; b--) v = (v << 8) | (bytes[this.page.addr(off + b)] as number);
    return v >>> 0;
  }

  private setMapping(sel: number, i: number, v: number): void {
    const bytes = this.page.machine.bytes;
    const off = (XENVIF_HASH_MAPPING_OFFSET[sel] as number) + 4 * i;
    for (let b = 0; b < 4; b++) bytes[this.page.addr(off + b)] = (v >>> (8 * b)) & 0xff;
  }

  /** The live mapping table, as an array (tests, debugfs's xenvif_dump_hash_info). */
  liveMapping(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.mapping(this.mappingSel, i));
    return out;
  }

  /** Entries in the hash cache. */
  get cached(): number {
    return this.cacheCount;
  }

  /** Refresh the key mirror from Dom0 memory. */
  loadKey(): void {
    const bytes = this.page.machine.bytes;
    for (let i = 0; i < XEN_NETBK_MAX_HASH_KEY_SIZE; i++) this.key[i] = bytes[this.page.addr(XENVIF_HASH_KEY_OFFSET + i)] as number;
  }

  /** memset(key + len, 0, ...) */
  clearKeyFrom(len: number): void {
    const bytes = this.page.machine.bytes;
    for (let i = len; i < XEN_NETBK_MAX_HASH_KEY_SIZE; i++) bytes[this.page.addr(XENVIF_HASH_KEY_OFFSET + i)] = 0;
  }

  /** memset(mapping[sel], 0, 4 * size) */
  clearMapping(sel: number, size: number): void {
    for (let i = 0; i < size; i++) this.setMapping(sel, i, 0);
  }

  /** memcpy(mapping[to], mapping[from], 4 * size) */
  copyMapping(to: number, from: number, size: number): void {
    for (let i = 0; i < size; i++) this.setMapping(to, i, this.mapping(from, i));
  }

  /** The Dom0 frame and offset of byte `off` of the hash area: (gfn, offset in page). */
  gfnAt(off: number): number {
    return this.page.gfns[off >>> 12] as number;
  }

  /** xenvif_add_hash */
  private addHash(tag: Uint8Array, len: number, val: number): void {
    let found = false;
    let oldest: XenvifHashCacheEntry | null = null;
    let free: XenvifHashCacheEntry | null = null;
    for (const e of this.cache) {
      if (!e.used) {
        free ??= e;
        continue;
      }
      // Make sure we don't add duplicate entries.
      if (e.len === len && sameBytes(e.tag, tag, len)) found = true;
      if (oldest === null || e.seq < oldest.seq) oldest = e;
    }
    if (found || free === null) return;
    free.tag.set(tag.subarray(0, len));
    free.len = len;
    free.val = val;
    free.seq = ++this.cacheSeq;
    free.used = true;
    if (++this.cacheCount > this.cacheSize && oldest !== null) {
      oldest.used = false;
      this.cacheCount--;
      this.stats.cacheEvictions++;
    }
  }

  /** xenvif_new_hash */
  private newHash(data: Uint8Array, len: number): number {
    const val = toeplitzHash(this.key, XEN_NETBK_MAX_HASH_KEY_SIZE, data, len);
    this.stats.computed++;
    if (this.cacheSize !== 0) this.addHash(data, len, val);
    return val;
  }

  /** xenvif_flush_hash */
  flush(): void {
    for (const e of this.cache) e.used = false;
    this.cacheCount = 0;
  }

  /** xenvif_find_hash */
  findHash(data: Uint8Array, len: number): number {
    if (len >= XEN_NETBK_HASH_TAG_SIZE) return 0;
    if (this.cacheSize === 0) return this.newHash(data, len);
    for (const e of this.cache) {
      if (e.used && e.len === len && sameBytes(e.tag, data, len)) {
        e.seq = ++this.cacheSeq;
        this.stats.cacheHits++;
        return e.val;
      }
    }
    return this.newHash(data, len);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the hash functions need of the vif: the frontend's domid, the queue count, the grant ops. */
export interface XenvifHashContext {
  readonly hash: XenvifHash;
  /** The frontend's domid (the grant copies' source domain). */
  readonly domid: number;
  /** vif->num_queues */
  readonly numQueues: number;
  readonly grants: GrantOps;
  /** The Dom0 VCPU running the control ring's handler. */
  readonly vcpu: Vcpu;
}

/** xenvif_set_hash_alg */
export function xenvifSetHashAlg(ctx: XenvifHashContext, alg: number): number {
  if (alg !== XEN_NETIF_CTRL_HASH_ALGORITHM_NONE && alg !== XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  ctx.hash.alg = alg;
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

/** xenvif_get_hash_flags: the supported flags in `out.data`. */
export function xenvifGetHashFlags(ctx: XenvifHashContext, out: { data: number }): number {
  if (ctx.hash.alg === XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) return XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
  out.data = XENVIF_HASH_FLAGS_ALL;
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

/** xenvif_set_hash_flags */
export function xenvifSetHashFlags(ctx: XenvifHashContext, flags: number): number {
  if ((flags >>> 0) & ~XENVIF_HASH_FLAGS_ALL) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  if (ctx.hash.alg === XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  ctx.hash.flags = flags >>> 0;
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

/** xenvif_set_hash_key: grant-copy `len` bytes of the key from the guest's `gref` (offset 0). */
export function xenvifSetHashKey(ctx: XenvifHashContext, gref: number, len: number): number {
  const hash = ctx.hash;
  len >>>= 0;
  if (len > XEN_NETBK_MAX_HASH_KEY_SIZE) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  if (len !== 0) {
    const ops = hash.copyOps;
    ops.clear();
    // Invariant: the key area does not cross a page (3200 + 40 < 4096).
    ops.add(gref >>> 0, ctx.domid, 0, hash.gfnAt(XENVIF_HASH_KEY_OFFSET), DOMID_SELF, XENVIF_HASH_KEY_OFFSET & 0xfff, len, GNTCOPY.source_gref);
    ctx.grants.copy(ctx.vcpu, ops);
    if (ops.status[0] !== GNTST.okay) {
      hash.loadKey(); // a failed copy may have written nothing or everything; the mirror follows memory
      return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
    }
  }
  // Clear any remaining key octets.
  if (len < XEN_NETBK_MAX_HASH_KEY_SIZE) hash.clearKeyFrom(len);
  hash.loadKey();
  hash.flush();
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

/** xenvif_set_hash_mapping_size */
export function xenvifSetHashMappingSize(ctx: XenvifHashContext, size: number): number {
  size >>>= 0;
  if (size > XEN_NETBK_MAX_HASH_MAPPING_SIZE) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  ctx.hash.size = size;
  ctx.hash.clearMapping(ctx.hash.mappingSel, size);
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

/**
 * xenvif_set_hash_mapping: `len` u32 queue numbers from the guest's `gref` (offset 0) into entries
 * [off, off + len) of the spare table, which becomes live only when every entry names an existing
 * queue. The range checks are those of the XSA-270 fix: `off + len` must not wrap around 2^32
 * (before it, off = 0xffffffff, len = 2 passed `off + len <= size` and wrote before the table) and
 * `len` must fit one page (before it, `len * 4` could wrap the copy length).
 */
export function xenvifSetHashMapping(ctx: XenvifHashContext, gref: number, len: number, off: number): number {
  const hash = ctx.hash;
  len >>>= 0;
  off >>>= 0;
  const end = (off + len) >>> 0; // u32 arithmetic, as in C
  if (end < off || end > hash.size || len > XEN_PAGE_SIZE / 4) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  const spare = hash.mappingSel ^ 1;
  const destOff = (XENVIF_HASH_MAPPING_OFFSET[spare] as number) + 4 * off;
  const ops = hash.copyOps;
  ops.clear();
  const total = 4 * len;
  const inPage = destOff & 0xfff;
  if (inPage + total > XEN_PAGE_SIZE) {
    // The destination crosses a page of Dom0: two copies, the second from where the first stopped.
    const first = XEN_PAGE_SIZE - inPage;
    ops.add(gref >>> 0, ctx.domid, 0, hash.gfnAt(destOff), DOMID_SELF, inPage, first, GNTCOPY.source_gref);
    ops.add(gref >>> 0, ctx.domid, first, hash.gfnAt(destOff + first), DOMID_SELF, 0, total - first, GNTCOPY.source_gref);
  } else if (total !== 0) {
    ops.add(gref >>> 0, ctx.domid, 0, hash.gfnAt(destOff), DOMID_SELF, inPage, total, GNTCOPY.source_gref);
  }
  hash.copyMapping(spare, hash.mappingSel, hash.size);
  if (ops.count !== 0) {
    ctx.grants.copy(ctx.vcpu, ops);
    if (ops.status[0] !== GNTST.okay || ops.status[ops.count - 1] !== GNTST.okay) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  }
  for (let i = off; i < end; i++) if (hash.mapping(spare, i) >= ctx.numQueues) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  hash.mappingSel = spare;
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

/**
 * xenvif_set_skb_hash: the Toeplitz hash of the packet's IPv4/IPv6 addresses (and TCP ports when
 * the flags ask for them and the packet is not a fragment), recorded in `hash.skbHash` /
 * `hash.skbHashType` (skb->hash, skb->l4_hash). Other protocols clear it.
 */
export function xenvifSetSkbHash(hash: XenvifHash, skb: SkBuff): void {
  const flags = hash.flags;
  hash.skbHash = 0;
  hash.skbHashType = PKT_HASH_TYPE_NONE;
  const hdr = hash.hdr;
  const n = Math.min(skb.len, hdr.length);
  if (n > 0) skb.copyBits(0, hdr, 0, n);
  let proto = skb.protocol;
  if (proto === 0 && n >= ETH_HLEN) proto = ((hdr[12] as number) << 8) | (hdr[13] as number);
  // Quick rejection: no enabled hash type for this protocol.
  if (proto === ETH_P_IP) {
    if (!(flags & (XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP | XEN_NETIF_CTRL_HASH_TYPE_IPV4))) return;
  } else if (proto === ETH_P_IPV6) {
    if (!(flags & (XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP | XEN_NETIF_CTRL_HASH_TYPE_IPV6))) return;
  } else return;
  const t = hash.tuple;
  const nh = ETH_HLEN;
  if (proto === ETH_P_IP) {
    // skb_flow_dissect_flow_keys: a header that does not fit fails the dissection.
    if (nh + 20 > skb.len) return;
    const ihl = (hdr[nh] as number) & 0x0f;
    if (ihl < 5) return;
    const frag = ((((hdr[nh + 6] as number) << 8) | (hdr[nh + 7] as number)) & IP_MF_OFFSET) !== 0;
    const tcp = (hdr[nh + 9] as number) === IPPROTO_TCP && !frag;
    for (let i = 0; i < 8; i++) t[i] = hdr[nh + 12 + i] as number;
    const l4 = nh + ihl * 4;
    if (tcp && flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP && readPorts(skb, l4, t, 8)) {
      hash.skbHash = hash.findHash(t, 12);
      hash.skbHashType = PKT_HASH_TYPE_L4;
    } else if (flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4) {
      hash.skbHash = hash.findHash(t, 8);
      hash.skbHashType = PKT_HASH_TYPE_L3;
    }
  } else {
    if (nh + 40 > skb.len) return;
    // The next header right after the fixed header: extension headers are not walked here, so a
    // packet with one is hashed on its addresses only (Linux's dissector walks them; the model's
    // traffic carries none).
    const tcp = (hdr[nh + 6] as number) === IPPROTO_TCP;
    for (let i = 0; i < 32; i++) t[i] = hdr[nh + 8 + i] as number;
    if (tcp && flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP && readPorts(skb, nh + 40, t, 32)) {
      hash.skbHash = hash.findHash(t, 36);
      hash.skbHashType = PKT_HASH_TYPE_L4;
    } else if (flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6) {
      hash.skbHash = hash.findHash(t, 32);
      hash.skbHashType = PKT_HASH_TYPE_L3;
    }
  }
}

/** flow.ports: source and destination port of the TCP header at `l4`, into t[at..at+4). */
function readPorts(skb: SkBuff, l4: number, t: Uint8Array, at: number): boolean {
  if (l4 + 4 > skb.len) return false;
  skb.copyBits(l4, t, at, 4);
  return true;
}
