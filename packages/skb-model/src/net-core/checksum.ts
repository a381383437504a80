/**
 * skb_checksum_setup (net/core/skbuff.c): for a CHECKSUM_PARTIAL packet from a guest, find the
 * TCP or UDP header behind the IPv4 header or the IPv6 header and its extension headers, point
 * csum_start/csum_offset (and the transport header) at its checksum field, and optionally write
 * the pseudo-header checksum there (~csum_tcpudp_magic / ~csum_ipv6_magic). Both Xen drivers call
 * it from their checksum_setup. Headers are made linear on the way (skb_maybe_pull_tail) as far
 * as Linux pulls them. Returns 0 or Linux's negative errno: -EPROTO for a header it cannot use
 * (an IP fragment, an unknown protocol, an extension header chain that runs past the payload, a
 * header the packet is too short for), -ENOMEM when pulling fails.
 *
 * The model keeps skb->data at the Ethernet header, so every offset below is Linux's plus
 * ETH_HLEN.
 */
import { ENOMEM, EPROTO } from "../errno.js";
import { CHECKSUM_PARTIAL, type SkBuff } from "../skbuff.js";
import { ETH_HLEN, ETH_P_IP, ETH_P_IPV6 } from "./eth.js";
import {
  IP_MF_OFFSET,
  IP6_OFFSET_MF,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HDR_LEN,
  IPV6_HDR_LEN,
} from "./ip.js";

/** sizeof(struct tcphdr) without options. */
export const TCP_HDR_LEN = 20;
/** sizeof(struct udphdr) */
export const UDP_HDR_LEN = 8;
/** offsetof(struct tcphdr, check) */
export const TCP_CSUM_OFFSET = 16;
/** offsetof(struct udphdr, check) */
export const UDP_CSUM_OFFSET = 6;
/** MAX_IP_HDR_LEN: how far skb_checksum_setup_ipv4 pulls at once (a tagged Ethernet header plus maximal IP and TCP/UDP headers). */
export const MAX_IP_HDR_LEN = 128;
/** MAX_TCP_HDR_LEN (15 * 4): a TCP header with all 40 bytes of options. */
export const MAX_TCP_HDR_LEN = 15 * 4;
/** MAX_IPV6_HDR_LEN: how far skb_checksum_setup_ipv6 pulls (IPv6 header, options, maximal TCP/UDP header). */
export const MAX_IPV6_HDR_LEN = 256;
/** sizeof(struct ipv6_opt_hdr): nexthdr, hdrlen. */
const IPV6_OPT_HDR_LEN = 2;
/** sizeof(struct ip_auth_hdr): nexthdr, hdrlen, reserved, spi, seq_no. */
const IP_AUTH_HDR_LEN = 12;
/** sizeof(struct frag_hdr) */
const FRAG_HDR_LEN = 8;

/** Scratch for header bytes (one per module instance: one per thread). */
const hdr = new Uint8Array(IPV6_HDR_LEN);

/** skb_maybe_pull_tail: make `len` bytes linear, pulling up to `max` if a pull is needed. 0 or -errno. */
export function skbMaybePullTail(skb: SkBuff, len: number, max: number): number {
  if (skb.headlen >= len) return 0;
  // If we need to pull up then pull up to the max, so we won't need to do it again.
  if (max > skb.len) max = skb.len;
  if (max > skb.headlen && !skb.pskbPullTail(max - skb.headlen)) return -ENOMEM;
  if (skb.headlen < len) return -EPROTO;
  return 0;
}

/**
 * skb_checksum_setup_ip: the transport header of protocol `proto` at `off` (from skb->data):
 * pull it, skb_partial_csum_set at its check field. The check field's offset, or -errno.
 */
function skbChecksumSetupIp(skb: SkBuff, proto: number, off: number): number {
  let err: number;
  let csumOff: number;
  if (proto === IPPROTO_TCP) {
    err = skbMaybePullTail(skb, off + TCP_HDR_LEN, off + MAX_TCP_HDR_LEN);
    csumOff = TCP_CSUM_OFFSET;
  } else if (proto === IPPROTO_UDP) {
    err = skbMaybePullTail(skb, off + UDP_HDR_LEN, off + UDP_HDR_LEN);
    csumOff = UDP_CSUM_OFFSET;
  } else return -EPROTO;
  if (!err && !skb.partialCsumSet(off, csumOff)) err = -EPROTO;
  return err ? err : off + csumOff;
}

/** Ones' complement sum of the big-endian 16-bit words of `len` header bytes at `off` (linear). */
function sumWords(skb: SkBuff, off: number, len: number): number {
  skb.copyBits(off, hdr, 0, len);
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += ((hdr[i] as number) << 8) | (hdr[i + 1] as number);
  return sum;
}

/** Stores ~csum_tcpudp_magic / ~csum_ipv6_magic (the folded pseudo-header sum) at `at`. */
function storePseudoSum(skb: SkBuff, at: number, addrSum: number, len: number, proto: number): void {
  let sum = addrSum + proto + (len >>> 16) + (len & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  hdr[0] = sum >>> 8;
  hdr[1] = sum & 0xff;
  skb.storeBits(at, hdr, 0, 2);
}

/** skb_checksum_setup_ipv4 */
function skbChecksumSetupIpv4(skb: SkBuff, recalculate: boolean): number {
  const nh = ETH_HLEN;
  const err = skbMaybePullTail(skb, nh + IPV4_HDR_LEN, nh + MAX_IP_HDR_LEN);
  if (err < 0) return err;
  skb.copyBits(nh, hdr, 0, IPV4_HDR_LEN);
  const fragment = ((((hdr[6] as number) << 8) | (hdr[7] as number)) & IP_MF_OFFSET) !== 0;
  // ip_hdrlen: ihl * 4, taken as it is (Linux does not check ihl >= 5 here).
  const off = ((hdr[0] as number) & 0x0f) * 4;
  const proto = hdr[9] as number;
  if (fragment) return -EPROTO;
  const csum = skbChecksumSetupIp(skb, proto, nh + off);
  if (csum < 0) return csum;
  if (recalculate) storePseudoSum(skb, csum, sumWords(skb, nh + 12, 8), skb.len - nh - off, proto);
  return 0;
}

/** skb_checksum_setup_ipv6: walks hop-by-hop, routing, destination, AH and fragment headers. */
function skbChecksumSetupIpv6(skb: SkBuff, recalculate: boolean): number {
  const nh = ETH_HLEN;
  let off = IPV6_HDR_LEN;
  let err = skbMaybePullTail(skb, nh + off, nh + MAX_IPV6_HDR_LEN);
  if (err < 0) return err;
  skb.copyBits(nh, hdr, 0, IPV6_HDR_LEN);
  let nexthdr = hdr[6] as number;
  const len = IPV6_HDR_LEN + (((hdr[4] as number) << 8) | (hdr[5] as number));
  let fragment = false;
  let done = false;
  while (off <= len && !done) {
    switch (nexthdr) {
      case IPPROTO_DSTOPTS:
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING: {
        err = skbMaybePullTail(skb, nh + off + IPV6_OPT_HDR_LEN, nh + MAX_IPV6_HDR_LEN);
        if (err < 0) return err;
        skb.copyBits(nh + off, hdr, 0, IPV6_OPT_HDR_LEN);
        nexthdr = hdr[0] as number;
        off += ((hdr[1] as number) + 1) << 3; // ipv6_optlen
        break;
      }
      case IPPROTO_AH: {
        err = skbMaybePullTail(skb, nh + off + IP_AUTH_HDR_LEN, nh + MAX_IPV6_HDR_LEN);
        if (err < 0) return err;
        skb.copyBits(nh + off, hdr, 0, 2);
        nexthdr = hdr[0] as number;
        off += ((hdr[1] as number) + 2) << 2; // ipv6_authlen
        break;
      }
      case IPPROTO_FRAGMENT: {
        err = skbMaybePullTail(skb, nh + off + FRAG_HDR_LEN, nh + MAX_IPV6_HDR_LEN);
        if (err < 0) return err;
        skb.copyBits(nh + off, hdr, 0, 4);
        if (((((hdr[2] as number) << 8) | (hdr[3] as number)) & IP6_OFFSET_MF) !== 0) fragment = true;
        nexthdr = hdr[0] as number;
        off += FRAG_HDR_LEN;
        break;
      }
      default:
        done = true;
    }
  }
  if (!done || fragment) return -EPROTO;
  const csum = skbChecksumSetupIp(skb, nexthdr, nh + off);
  if (csum < 0) return csum;
  if (recalculate) storePseudoSum(skb, csum, sumWords(skb, nh + 8, 32), skb.len - nh - off, nexthdr);
  return 0;
}

/**
 * skb_checksum_setup(skb, recalculate): set up the partial checksum of an IPv4 or IPv6 TCP/UDP
 * packet whose protocol is in skb->protocol. 0 or -errno (-EPROTO for any other protocol).
 */
export function skbChecksumSetup(skb: SkBuff, recalculate: boolean): number {
  if (skb.protocol === ETH_P_IP) return skbChecksumSetupIpv4(skb, recalculate);
  if (skb.protocol === ETH_P_IPV6) return skbChecksumSetupIpv6(skb, recalculate);
  return -EPROTO;
}

/** The counter the Xen drivers' checksum_setup bumps (netfront's and netback's rx_gso_checksum_fixup). */
export interface GsoChecksumFixupStats {
  rxGsoChecksumFixup: number;
}

/**
 * checksum_setup of drivers/net/xen-netfront.c and drivers/net/xen-netback/netback.c (the same
 * function in both drivers): a GSO skb must be CHECKSUM_PARTIAL, but a buggy peer may fail to set
 * csum_blank on one — then it is forced to CHECKSUM_PARTIAL, counted in `stats`, and its
 * pseudo-header checksum recalculated. A CHECKSUM_PARTIAL skb then goes through
 * skb_checksum_setup; any other needs no setup. 0 or -errno.
 */
export function xenChecksumSetup(skb: SkBuff, stats: GsoChecksumFixupStats): number {
  let recalculatePartialCsum = false;
  if (skb.ipSummed !== CHECKSUM_PARTIAL && skb.isGso) {
    stats.rxGsoChecksumFixup++;
    skb.ipSummed = CHECKSUM_PARTIAL;
    recalculatePartialCsum = true;
  }
  // A non-CHECKSUM_PARTIAL skb does not require setup.
  if (skb.ipSummed !== CHECKSUM_PARTIAL) return 0;
  return skbChecksumSetup(skb, recalculatePartialCsum);
}
