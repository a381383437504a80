/**
 * The Ethernet layer of the Linux net core both drivers use: include/uapi/linux/if_ether.h and
 * eth_type_trans (net/ethernet/eth.c). The model leaves skb->data at the Ethernet header (Linux
 * pulls ETH_HLEN): callers count network-header offsets from ETH_HLEN.
 */
import { PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, type SkBuff } from "../skbuff.js";

/** ETH_ALEN: octets in one Ethernet address. */
export const ETH_ALEN = 6;
/** ETH_HLEN: the Ethernet header (two addresses and the type). */
export const ETH_HLEN = 14;
/** ETH_P_802_3_MIN: a type/length field below this is an 802.3 length, not an EtherType. */
export const ETH_P_802_3_MIN = 0x0600;
/** ETH_P_802_3: dummy type for 802.3 frames (Novell raw IPX). */
export const ETH_P_802_3 = 0x0001;
/** ETH_P_802_2: dummy type for 802.2 LLC frames. */
export const ETH_P_802_2 = 0x0004;
/** ETH_P_IP: IPv4. */
export const ETH_P_IP = 0x0800;
/** ETH_P_ARP: Address Resolution Protocol. */
export const ETH_P_ARP = 0x0806;
/** ETH_P_8021Q: an 802.1Q VLAN tag. */
export const ETH_P_8021Q = 0x8100;
/** ETH_P_IPV6: IPv6. */
export const ETH_P_IPV6 = 0x86dd;

/** Scratch for the header bytes (one per module instance: one per thread). */
const ethHdr = new Uint8Array(ETH_HLEN + 2);

/**
 * eth_type_trans(skb, dev): set skb->pkt_type from the destination MAC against the device's
 * address `devAddr` (left as allocated, PACKET_HOST, when it is ours; else PACKET_BROADCAST, PACKET_MULTICAST or PACKET_OTHERHOST) and return
 * the protocol: the EtherType, or ETH_P_802_3 / ETH_P_802_2 for an 802.3 length field (0xFFFF
 * after it marks raw IPX). A frame shorter than ETH_HLEN has no header to read: Linux's
 * skb_pull_inline refuses it and reads bytes past the data; the model leaves pkt_type as it is
 * and returns 0, which no protocol handler takes.
 */
export function ethTypeTrans(skb: SkBuff, devAddr: Uint8Array): number {
  if (skb.len < ETH_HLEN) return 0;
  const n = skb.len >= ETH_HLEN + 2 ? ETH_HLEN + 2 : ETH_HLEN;
  skb.copyBits(0, ethHdr, 0, n);
  if (!etherAddrEqual(ethHdr, 0, devAddr)) {
    // is_multicast_ether_addr: the group bit, the low bit of the first octet.
    if ((ethHdr[0] as number) & 1) skb.pktType = isBroadcast(ethHdr) ? PACKET_BROADCAST : PACKET_MULTICAST;
    else skb.pktType = PACKET_OTHERHOST;
  }
  const proto = ((ethHdr[12] as number) << 8) | (ethHdr[13] as number);
  // eth_proto_is_802_3
  if (proto >= ETH_P_802_3_MIN) return proto;
  if (n === ETH_HLEN + 2 && ethHdr[14] === 0xff && ethHdr[15] === 0xff) return ETH_P_802_3;
  return ETH_P_802_2;
}

/** ether_addr_equal(bytes[off..off+6), addr) */
function etherAddrEqual(bytes: Uint8Array, off: number, addr: Uint8Array): boolean {
  for (let i = 0; i < ETH_ALEN; i++) if (bytes[off + i] !== addr[i]) return false;
  return true;
}

/** ether_addr_equal(h_dest, dev->broadcast): ff:ff:ff:ff:ff:ff. */
function isBroadcast(bytes: Uint8Array): boolean {
  for (let i = 0; i < ETH_ALEN; i++) if (bytes[i] !== 0xff) return false;
  return true;
}
