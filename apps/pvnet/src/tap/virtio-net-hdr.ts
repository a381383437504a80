/**
 * struct virtio_net_hdr (include/uapi/linux/virtio_net.h), the 10-byte header a TAP device with
 * IFF_VNET_HDR puts before each frame, mapped onto an sk_buff's GSO and checksum state and back
 * as Linux's virtio_net_hdr_to_skb / virtio_net_hdr_from_skb do (include/linux/virtio_net.h).
 * netfront then carries that state as netif's GSO extra info and NETTXF_csum_blank /
 * NETTXF_data_validated, netback as NETRXF_csum_blank / NETRXF_data_validated and its GSO extra.
 */
import { CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, SKB_GSO_TCP_ECN, SKB_GSO_TCPV4, SKB_GSO_TCPV6, type SkBuff } from "@pvnet/skb-model";

/** The layout: flags u8, gso_type u8, hdr_len, gso_size, csum_start, csum_offset (u16, little-endian: TUNSETVNETLE's default on x86). */
export const VIRTIO_NET_HDR = { SIZEOF: 10, FLAGS: 0, GSO_TYPE: 1, HDR_LEN: 2, GSO_SIZE: 4, CSUM_START: 6, CSUM_OFFSET: 8 } as const;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

const u16 = (b: Uint8Array, off: number) => (b[off] as number) | ((b[off + 1] as number) << 8);
function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}

/**
 * virtio_net_hdr_to_skb: apply the header at `hdr[off...]` to `skb` (its frame already in place).
 * False for a header Linux rejects (-EINVAL): a checksum outside the linear data, a GSO type
 * other than TCP, a GSO packet with a zero gso_size.
 */
export function vnetHdrToSkb(hdr: Uint8Array, off: number, skb: SkBuff): boolean {
  const flags = hdr[off + VIRTIO_NET_HDR.FLAGS] as number;
  const gsoType = hdr[off + VIRTIO_NET_HDR.GSO_TYPE] as number;
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
    if (!skb.partialCsumSet(u16(hdr, off + VIRTIO_NET_HDR.CSUM_START), u16(hdr, off + VIRTIO_NET_HDR.CSUM_OFFSET))) return false;
  } else if ((flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0) {
    skb.ipSummed = CHECKSUM_UNNECESSARY;
  }
  const type = gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
  if (type === VIRTIO_NET_HDR_GSO_NONE) return true;
  const gsoSize = u16(hdr, off + VIRTIO_NET_HDR.GSO_SIZE);
  if (gsoSize === 0) return false;
  let skbType: number;
  if (type === VIRTIO_NET_HDR_GSO_TCPV4) skbType = SKB_GSO_TCPV4;
  else if (type === VIRTIO_NET_HDR_GSO_TCPV6) skbType = SKB_GSO_TCPV6;
  else return false;
  if ((gsoType & VIRTIO_NET_HDR_GSO_ECN) !== 0) skbType |= SKB_GSO_TCP_ECN;
  skb.shinfo.gsoSize = gsoSize;
  skb.shinfo.gsoType = skbType;
  // gso_segs is computed by the stack (0: not known yet), as virtio_net_hdr_to_skb leaves it.
  skb.shinfo.gsoSegs = 0;
  return true;
}

/** virtio_net_hdr_from_skb: the header of `skb` into `hdr[off, off + 10)`. */
export function vnetHdrFromSkb(skb: SkBuff, hdr: Uint8Array, off: number): void {
  hdr.fill(0, off, off + VIRTIO_NET_HDR.SIZEOF);
  const sh = skb.shinfo;
  if (sh.gsoSize !== 0) {
    const type = (sh.gsoType & SKB_GSO_TCPV6) !== 0 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    hdr[off + VIRTIO_NET_HDR.GSO_TYPE] = type | ((sh.gsoType & SKB_GSO_TCP_ECN) !== 0 ? VIRTIO_NET_HDR_GSO_ECN : 0);
    put16(hdr, off + VIRTIO_NET_HDR.HDR_LEN, skb.headlen);
    put16(hdr, off + VIRTIO_NET_HDR.GSO_SIZE, sh.gsoSize);
  }
  if (skb.ipSummed === CHECKSUM_PARTIAL) {
    hdr[off + VIRTIO_NET_HDR.FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    put16(hdr, off + VIRTIO_NET_HDR.CSUM_START, skb.csumStart - skb.data);
    put16(hdr, off + VIRTIO_NET_HDR.CSUM_OFFSET, skb.csumOffset);
  } else if (skb.ipSummed === CHECKSUM_UNNECESSARY) {
    hdr[off + VIRTIO_NET_HDR.FLAGS] = VIRTIO_NET_HDR_F_DATA_VALID;
  }
}
