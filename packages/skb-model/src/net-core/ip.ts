/**
 * IP protocol numbers and header fields the net core reads (include/uapi/linux/in.h, in6.h,
 * include/net/ip.h, include/net/ipv6.h).
 */

/** IPv6 hop-by-hop options header (the same number is IPPROTO_IP for IPv4). */
export const IPPROTO_HOPOPTS = 0;
/** Transmission Control Protocol. */
export const IPPROTO_TCP = 6;
/** User Datagram Protocol. */
export const IPPROTO_UDP = 17;
/** Datagram Congestion Control Protocol. */
export const IPPROTO_DCCP = 33;
/** IPv6 routing header. */
export const IPPROTO_ROUTING = 43;
/** IPv6 fragment header. */
export const IPPROTO_FRAGMENT = 44;
/** Encapsulating Security Payload. */
export const IPPROTO_ESP = 50;
/** Authentication Header. */
export const IPPROTO_AH = 51;
/** IPv6 destination options header. */
export const IPPROTO_DSTOPTS = 60;
/** Stream Control Transmission Protocol. */
export const IPPROTO_SCTP = 132;
/** UDP-Lite. */
export const IPPROTO_UDPLITE = 136;

/** sizeof(struct iphdr) without options. */
export const IPV4_HDR_LEN = 20;
/** sizeof(struct ipv6hdr) */
export const IPV6_HDR_LEN = 40;
/** IP_MF | IP_OFFSET of iphdr.frag_off (host order): ip_is_fragment. */
export const IP_MF_OFFSET = 0x3fff;
/** IP6_OFFSET | IP6_MF of frag_hdr.frag_off (host order). */
export const IP6_OFFSET_MF = 0xfff9;
/** IPV6_FLOWLABEL_MASK (host order) */
export const IPV6_FLOWLABEL_MASK = 0x000fffff;
