/**
 * The flow hash both drivers pick TX queues with: skb_get_hash (include/linux/skbuff.h,
 * net/core/flow_dissector.c). The flow dissector fills struct flow_keys — basic (n_proto,
 * ip_proto), tags (IPv6 flow label), vlan, keyid, ports, then the IPv4 or IPv6 addresses —
 * __flow_hash_consistentify orders the addresses (and ports) so both directions of a flow hash
 * alike, and __flow_hash_from_keys hashes the key words from `basic` to the end of the addresses
 * with jhash2 under `hashrnd` (the jhash2 form of Linux v4.x, before the hash became siphash;
 * the layout of struct flow_keys is v4.14's). Linux draws hashrnd at boot (net_get_random_once);
 * the model fixes it, FLOW_HASH_SEED, so runs replay. A hash of 0 becomes 1.
 *
 * Words are read as x86 reads them, little-endian from the bytes in network order, so hashes
 * and the consistentify ordering are those of an x86 kernel. Dissected: Ethernet (the protocol
 * from skb->protocol, or the frame's EtherType where the model's sender left it 0), IPv4 (no
 * ports for a fragment: skb_get_hash does not ask FLOW_DISSECTOR_F_PARSE_1ST_FRAG), IPv6 (a
 * non-zero flow label stops the dissection: FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL; hop-by-hop,
 * routing and destination-options headers are walked; a fragment header ends it, without ports), and the ports of TCP, UDP,
 * UDP-Lite, DCCP, SCTP (and the SPI of ESP/AH) via proto_ports_offset. VLAN tags, MPLS, GRE and
 * IP-in-IP are not dissected (their keys stay zero).
 */
import type { SkBuff } from "../skbuff.js";
import { ETH_HLEN, ETH_P_IP, ETH_P_IPV6 } from "./eth.js";
import {
  IP_MF_OFFSET,
  IPPROTO_AH,
  IPPROTO_DCCP,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  IPV6_FLOWLABEL_MASK,
} from "./ip.js";

/** JHASH_INITVAL (include/linux/jhash.h) */
export const JHASH_INITVAL = 0xdeadbeef;
/** The model's hashrnd (Linux: net_get_random_once at first use); fixed so runs replay. */
export const FLOW_HASH_SEED = 0x5eed_f10e;

/** The header bytes the dissector may look at: Ethernet, IPv6 + 256 bytes of extension headers, ports. */
const DISSECT_MAX = ETH_HLEN + 40 + 256 + 8;

/**
 * struct flow_keys from `basic` on, as u32 words (FLOW_KEYS_HASH_OFFSET): 0 basic, 1 tags,
 * 2 vlan, 3 keyid, 4 ports, 5.. addrs (2 words IPv4, 8 words IPv6).
 */
const KEY_BASIC = 0;
const KEY_TAGS = 1;
const KEY_PORTS = 4;
const KEY_ADDRS = 5;
const KEY_WORDS_NO_ADDRS = 5;
const FLOW_DISSECTOR_KEY_NONE = 0;
const FLOW_DISSECTOR_KEY_IPV4_ADDRS = 1;
const FLOW_DISSECTOR_KEY_IPV6_ADDRS = 2;

/** Scratch (one per module instance: one per thread). */
const hdr = new Uint8Array(DISSECT_MAX);
const keys = new Uint32Array(KEY_WORDS_NO_ADDRS + 8);
/** The skb being dissected, its bytes the dissector may read, and how many of them `hdr` holds. */
let dissected: SkBuff | null = null;
let dissectLen = 0;
let dissectHave = 0;

/**
 * __skb_header_pointer: make sure `hdr` holds the packet's first `end` bytes, reading only what
 * is missing — so only the headers are read, never the payload (a frag mapped from a guest is
 * touched only when a header lies in it). False when the packet is shorter.
 */
function need(end: number): boolean {
  if (end > dissectLen) return false;
  if (end > dissectHave) {
    (dissected as SkBuff).copyBits(dissectHave, hdr, dissectHave, end - dissectHave);
    dissectHave = end;
  }
  return true;
}

function rol32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** jhash2(k, length, initval) of include/linux/jhash.h: `length` u32 words of `k`. */
export function jhash2(k: Uint32Array, length: number, initval: number): number {
  let a = (JHASH_INITVAL + (length << 2) + initval) >>> 0;
  let b = a;
  let c = a;
  let i = 0;
  while (length > 3) {
    a = (a + (k[i] as number)) >>> 0;
    b = (b + (k[i + 1] as number)) >>> 0;
    c = (c + (k[i + 2] as number)) >>> 0;
    // __jhash_mix
    a = ((a - c) ^ rol32(c, 4)) >>> 0;
    c = (c + b) >>> 0;
    b = ((b - a) ^ rol32(a, 6)) >>> 0;
    a = (a + c) >>> 0;
    c = ((c - b) ^ rol32(b, 8)) >>> 0;
    b = (b + a) >>> 0;
    a = ((a - c) ^ rol32(c, 16)) >>> 0;
    c = (c + b) >>> 0;
    b = ((b - a) ^ rol32(a, 19)) >>> 0;
    a = (a + c) >>> 0;
    c = ((c - b) ^ rol32(b, 4)) >>> 0;
    b = (b + a) >>> 0;
    length -= 3;
    i += 3;
  }
  if (length === 0) return c;
  if (length === 3) c = (c + (k[i + 2] as number)) >>> 0;
  if (length >= 2) b = (b + (k[i + 1] as number)) >>> 0;
  a = (a + (k[i] as number)) >>> 0;
  // __jhash_final
  c = ((c ^ b) - rol32(b, 14)) >>> 0;
  a = ((a ^ c) - rol32(c, 11)) >>> 0;
  b = ((b ^ a) - rol32(a, 25)) >>> 0;
  c = ((c ^ b) - rol32(b, 16)) >>> 0;
  a = ((a ^ c) - rol32(c, 4)) >>> 0;
  b = ((b ^ a) - rol32(a, 14)) >>> 0;
  c = ((c ^ b) - rol32(b, 24)) >>> 0;
  return c;
}

/** A u32 as x86 loads it from `bytes[off..off+4)`. */
function le32(bytes: Uint8Array, off: number): number {
  return ((bytes[off] as number) | ((bytes[off + 1] as number) << 8) | ((bytes[off + 2] as number) << 16) | ((bytes[off + 3] as number) << 24)) >>> 0;
}

function be16(bytes: Uint8Array, off: number): number {
  return ((bytes[off] as number) << 8) | (bytes[off + 1] as number);
}

/** proto_ports_offset (include/linux/in.h): where the 32 bits of "ports" are, or -1. */
function protoPortsOffset(proto: number): number {
  switch (proto) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_DCCP:
    case IPPROTO_ESP: // SPI
    case IPPROTO_SCTP:
    case IPPROTO_UDPLITE:
      return 0;
    case IPPROTO_AH: // SPI
      return 4;
    default:
      return -1;
  }
}

/**
 * __flow_hash_consistentify + __flow_hash_from_keys over `keys` (addrType says how many address
 * words follow the fixed ones). Never 0.
 */
function flowHashFromKeys(addrType: number, initval: number): number {
  let nAddr = 0;
  if (addrType === FLOW_DISSECTOR_KEY_IPV4_ADDRS) {
    nAddr = 2;
    // addr_diff = (u32)dst - (u32)src as an int; ports compared as the u16 x86 loads.
    const diff = ((keys[KEY_ADDRS + 1] as number) - (keys[KEY_ADDRS] as number)) | 0;
    if (diff < 0 || (diff === 0 && portsDstLess())) swapKeys(1);
  } else if (addrType === FLOW_DISSECTOR_KEY_IPV6_ADDRS) {
    nAddr = 8;
    // memcmp(&dst, &src, 16): byte order, the first differing byte decides.
    let diff = 0;
    for (let i = 0; i < 4 && diff === 0; i++) diff = cmpBytes(keys[KEY_ADDRS + 4 + i] as number, keys[KEY_ADDRS + i] as number);
    if (diff < 0 || (diff === 0 && portsDstLess())) swapKeys(4);
  }
  const h = jhash2(keys, KEY_WORDS_NO_ADDRS + nAddr, initval);
  return h === 0 ? 1 : h;
}

/** memcmp of two words' bytes (little-endian words: byte 0 is the low byte). */
function cmpBytes(x: number, y: number): number {
  for (let s = 0; s < 32; s += 8) {
    const d = ((x >>> s) & 0xff) - ((y >>> s) & 0xff);
    if (d !== 0) return d;
  }
  return 0;
}

/** (u16)keys->ports.dst < (u16)keys->ports.src: the high and the low half of the x86 word. */
function portsDstLess(): boolean {
  const p = keys[KEY_PORTS] as number;
  return p >>> 16 < (p & 0xffff);
}

/** swap(src, dst) of `n` address words each, and swap(ports.src, ports.dst). */
function swapKeys(n: number): void {
  for (let i = 0; i < n; i++) {
    const t = keys[KEY_ADDRS + i] as number;
    keys[KEY_ADDRS + i] = keys[KEY_ADDRS + n + i] as number;
    keys[KEY_ADDRS + n + i] = t;
  }
  const p = keys[KEY_PORTS] as number;
  keys[KEY_PORTS] = ((p >>> 16) | (p << 16)) >>> 0;
}

/**
 * skb_get_hash(skb) with the model's hashrnd (or `hashrnd`): dissect the frame at skb->data
 * (Ethernet first) into flow keys and hash them. What cannot be dissected still hashes, as in
 * Linux, over the keys found so far.
 */
export function skbGetHash(skb: SkBuff, hashrnd = FLOW_HASH_SEED): number {
  keys.fill(0);
  dissected = skb;
  dissectLen = Math.min(skb.len, DISSECT_MAX);
  dissectHave = 0;
  const hash = dissect(skb, hashrnd);
  dissected = null;
  return hash;
}

/** __skb_flow_dissect into `keys` (reading headers through `need`), then the flow hash. */
function dissect(skb: SkBuff, hashrnd: number): number {
  let proto = skb.protocol;
  if (proto === 0 && need(ETH_HLEN)) proto = be16(hdr, 12);
  let nhoff = ETH_HLEN;
  let ipProto = 0;
  let addrType = FLOW_DISSECTOR_KEY_NONE;
  let ports = true;
  if (proto === ETH_P_IP && need(nhoff + 20)) {
    const ihl = (hdr[nhoff] as number) & 0x0f;
    if (ihl >= 5) {
      ipProto = hdr[nhoff + 9] as number;
      keys[KEY_ADDRS] = le32(hdr, nhoff + 12);
      keys[KEY_ADDRS + 1] = le32(hdr, nhoff + 16);
      addrType = FLOW_DISSECTOR_KEY_IPV4_ADDRS;
      // ip_is_fragment: no ports (a later fragment has none; the first is not parsed either).
      if (be16(hdr, nhoff + 6) & IP_MF_OFFSET) ports = false;
      nhoff += ihl * 4;
    } else ports = false;
  } else if (proto === ETH_P_IPV6 && need(nhoff + 40)) {
    ipProto = hdr[nhoff + 6] as number;
    for (let i = 0; i < 8; i++) keys[KEY_ADDRS + i] = le32(hdr, nhoff + 8 + 4 * i);
    addrType = FLOW_DISSECTOR_KEY_IPV6_ADDRS;
    const label = ((be16(hdr, nhoff) << 16) | be16(hdr, nhoff + 2)) & IPV6_FLOWLABEL_MASK;
    nhoff += 40;
    if (label !== 0) {
      keys[KEY_TAGS] = label; // key_tags->flow_label = ntohl(flow_label)
      ports = false; // FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL
    } else {
      // The ip_proto loop of __skb_flow_dissect for IPv6 extension headers.
      for (;;) {
        if (ipProto === IPPROTO_HOPOPTS || ipProto === IPPROTO_ROUTING || ipProto === IPPROTO_DSTOPTS) {
          if (!need(nhoff + 2)) {
            ports = false;
            break;
          }
          const next = hdr[nhoff] as number;
          nhoff += ((hdr[nhoff + 1] as number) + 1) << 3; // ipv6_optlen
          ipProto = next;
        } else if (ipProto === IPPROTO_FRAGMENT) {
          if (!need(nhoff + 8)) {
            ports = false;
            break;
          }
          // FLOW_DIS_IS_FRAGMENT for any fragment header: the dissection ends there, without
          // ports (a first fragment is parsed only with FLOW_DISSECTOR_F_PARSE_1ST_FRAG).
          ipProto = hdr[nhoff] as number;
          nhoff += 8;
          ports = false;
          break;
        } else break;
      }
    }
  } else ports = false;
  keys[KEY_BASIC] = (proto >>> 8) | ((proto & 0xff) << 8) | (ipProto << 16);
  if (ports) {
    const poff = protoPortsOffset(ipProto);
    if (poff >= 0 && need(nhoff + poff + 4)) keys[KEY_PORTS] = le32(hdr, nhoff + poff);
  }
  return flowHashFromKeys(addrType, hashrnd);
}

/** reciprocal_scale(val, ep_ro): `val` scaled into [0, ep_ro) by its high bits. */
export function reciprocalScale(val: number, epRo: number): number {
  return Math.floor((val * epRo) / 0x1_0000_0000);
}

/**
 * skb_tx_hash(dev, NULL, skb) for a device with `numTxQueues` queues and no traffic classes and
 * no recorded RX queue: reciprocal_scale(skb_get_hash(skb), num_tx_queues) — what netdev_pick_tx
 * picks without XPS or a socket.
 */
export function skbTxHash(skb: SkBuff, numTxQueues: number): number {
  return reciprocalScale(skbGetHash(skb), numTxQueues);
}
