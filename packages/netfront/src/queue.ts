/**
 * Queue selection (xennet_select_queue): one queue, or skb_get_hash(skb) % num_queues. The hash is
 * the flow dissector's (net/core/flow_dissector.c): Ethernet, then IPv4 or IPv6 addresses and, for
 * unfragmented TCP/UDP, the ports, made direction-independent (__flow_hash_consistentify) and
 * hashed. Linux hashes the keys with siphash under a boot-time random key; the model uses
 * jhash_3words under a fixed seed so runs replay. Every packet of one flow lands on one queue.
 */
import type { SkBuff } from "@pvnet/skb-model";

/** JHASH_INITVAL (include/linux/jhash.h). */
const JHASH_INITVAL = 0xdeadbeef;
/** The model's hashrnd (Linux: get_random_bytes at boot); fixed so runs replay. */
export const FLOW_HASH_SEED = 0x5eed_f10e;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
/** Bytes of headers the dissector may look at: Ethernet 14 + IPv4 with options 60 (IPv6 40) + ports 4. */
const DISSECT_BYTES = 14 + 60 + 4;

// Scratch for the headers (one per module: drivers run one VCPU per thread).
const hdr = new Uint8Array(DISSECT_BYTES);
const hdrView = new DataView(hdr.buffer);

function rol32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** jhash_3words(a, b, c, initval) of include/linux/jhash.h. */
export function jhash3Words(a: number, b: number, c: number, initval: number): number {
  const iv = (initval + JHASH_INITVAL + (3 << 2)) >>> 0;
  a = (a + iv) >>> 0;
  b = (b + iv) >>> 0;
  c = (c + iv) >>> 0;
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

/**
 * skb_get_hash: the flow hash of the frame in `skb` (data at the Ethernet header). Never 0 for a
 * hashed flow (Linux maps 0 to 1); 0 for a frame the dissector cannot parse.
 */
export function skbGetHash(skb: SkBuff, seed = FLOW_HASH_SEED): number {
  const n = Math.min(skb.len, DISSECT_BYTES);
  if (n < 14 || skb.copyBits(0, hdr, 0, n) !== 0) return 0;
  const proto = hdrView.getUint16(12);
  let src = 0;
  let dst = 0;
  let l4 = -1;
  let ipProto = 0;
  if (proto === ETH_P_IP && n >= 14 + 20) {
    const ihl = (hdr[14] as number) & 0x0f;
    if (ihl < 5 || 14 + ihl * 4 > n) return 0;
    ipProto = hdr[14 + 9] as number;
    src = hdrView.getUint32(14 + 12);
    dst = hdrView.getUint32(14 + 16);
    const fragOff = hdrView.getUint16(14 + 6) & 0x3fff; // IP_MF | IP_OFFSET
    if (fragOff === 0) l4 = 14 + ihl * 4;
  } else if (proto === ETH_P_IPV6 && n >= 14 + 40) {
    ipProto = hdr[14 + 6] as number;
    // The dissector hashes the 128-bit addresses; fold each to 32 bits (ipv6_addr_hash).
    for (let i = 0; i < 4; i++) {
      src ^= hdrView.getUint32(14 + 8 + 4 * i);
      dst ^= hdrView.getUint32(14 + 24 + 4 * i);
    }
    src >>>= 0;
    dst >>>= 0;
    l4 = 14 + 40;
  } else return 0;
  let ports = 0;
  if ((ipProto === IPPROTO_TCP || ipProto === IPPROTO_UDP) && l4 >= 0 && l4 + 4 <= n) {
    let sport = hdrView.getUint16(l4);
    let dport = hdrView.getUint16(l4 + 2);
    // __flow_hash_consistentify: both directions of a flow hash alike.
    if (dst < src || (dst === src && dport < sport)) {
      const t = src;
      src = dst;
      dst = t;
      const p = sport;
      sport = dport;
      dport = p;
    }
    ports = ((sport << 16) | dport) >>> 0;
  } else if (dst < src) {
    const t = src;
    src = dst;
    dst = t;
  }
  const h = jhash3Words(src, dst, (ports ^ ipProto) >>> 0, seed);
  return h === 0 ? 1 : h;
}

/** xennet_select_queue: queue 0 with one queue, else skb_get_hash(skb) % num_queues. */
export function xennetSelectQueue(skb: SkBuff, numQueues: number): number {
  if (numQueues <= 1) return 0;
  return skbGetHash(skb) % numQueues;
}
