/**
 * Constants of xen/include/public/io/netif.h (Xen 4.17 headers, as abi-facts.json records them),
 * under their C names. `_NAME` is a bit number, `NAME` the mask.
 */

/**
 * XEN_NETIF_NR_SLOTS_MIN: slots per packet a backend must accept when no limit is negotiated
 * (the old Linux MAX_SKB_FRAGS, 18).
 */
export const XEN_NETIF_NR_SLOTS_MIN = 18;
/** XEN_NETIF_MAX_TX_SIZE: largest packet on the tx ring; the first request's 16-bit size holds it. */
export const XEN_NETIF_MAX_TX_SIZE = 0xffff;

// netif_tx_request.flags
/** Bit number of NETTXF_csum_blank. */
export const _NETTXF_csum_blank = 0;
/** Protocol checksum field is blank in the packet (hardware offload). */
export const NETTXF_csum_blank = 1 << _NETTXF_csum_blank;
/** Bit number of NETTXF_data_validated. */
export const _NETTXF_data_validated = 1;
/** Packet data has been validated against the protocol checksum. */
export const NETTXF_data_validated = 1 << _NETTXF_data_validated;
/** Bit number of NETTXF_more_data. */
export const _NETTXF_more_data = 2;
/** Packet continues in the next request. */
export const NETTXF_more_data = 1 << _NETTXF_more_data;
/** Bit number of NETTXF_extra_info. */
export const _NETTXF_extra_info = 3;
/** Packet to be followed by extra descriptor(s). */
export const NETTXF_extra_info = 1 << _NETTXF_extra_info;

// netif_rx_response.flags
/** Bit number of NETRXF_data_validated. */
export const _NETRXF_data_validated = 0;
/** Packet data has been validated against the protocol checksum. */
export const NETRXF_data_validated = 1 << _NETRXF_data_validated;
/** Bit number of NETRXF_csum_blank. */
export const _NETRXF_csum_blank = 1;
/** Protocol checksum field is blank in the packet (hardware offload). */
export const NETRXF_csum_blank = 1 << _NETRXF_csum_blank;
/** Bit number of NETRXF_more_data. */
export const _NETRXF_more_data = 2;
/** Packet continues in the next response. */
export const NETRXF_more_data = 1 << _NETRXF_more_data;
/** Bit number of NETRXF_extra_info. */
export const _NETRXF_extra_info = 3;
/** Packet to be followed by extra info slot(s). */
export const NETRXF_extra_info = 1 << _NETRXF_extra_info;
/** Bit number of NETRXF_gso_prefix. */
export const _NETRXF_gso_prefix = 4;
/** Legacy: GSO prefix descriptor precedes the packet (old netback/netfront pairs). */
export const NETRXF_gso_prefix = 1 << _NETRXF_gso_prefix;

// netif_extra_info.type
/** Never used as an extra's type (an extra of type 0 is invalid). */
export const XEN_NETIF_EXTRA_TYPE_NONE = 0;
/** u.gso: GSO size, type and features of the packet. */
export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
/** u.mcast: add a multicast address to the vif's filter (feature-multicast-control). */
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
/** u.mcast: remove a multicast address from the vif's filter. */
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
/** u.hash: the packet's hash value and type (feature-ctrl-ring hashing). */
export const XEN_NETIF_EXTRA_TYPE_HASH = 4;
/**
 * XEN_NETIF_EXTRA_TYPE_XDP (u.xdp.headroom): NOT in the Xen 4.17 headers abi-facts.json was built
 * from; newer netif.h (and Linux's copy) define it as 5 and raise XEN_NETIF_EXTRA_TYPE_MAX to 6.
 */
export const XEN_NETIF_EXTRA_TYPE_XDP = 5;
/** XEN_NETIF_EXTRA_TYPE_MAX of the 4.17 headers: valid types are 1..4 there. */
export const XEN_NETIF_EXTRA_TYPE_MAX = 5;
/** XEN_NETIF_EXTRA_TYPE_MAX of newer headers that know XDP (valid types 1..5). */
export const XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP = 6;

// netif_extra_info.flags
/** Bit number of XEN_NETIF_EXTRA_FLAG_MORE. */
export const _XEN_NETIF_EXTRA_FLAG_MORE = 0;
/** Another extra-info slot follows this one. */
export const XEN_NETIF_EXTRA_FLAG_MORE = 1 << _XEN_NETIF_EXTRA_FLAG_MORE;

// netif_extra_info.u.gso.type
/** No GSO. */
export const XEN_NETIF_GSO_TYPE_NONE = 0;
/** TCP over IPv4 segmentation offload. */
export const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
/** TCP over IPv6 segmentation offload (feature-gso-tcpv6). */
export const XEN_NETIF_GSO_TYPE_TCPV6 = 2;

// netif_tx_response.status / netif_rx_response.status (negative)
/** Packet dropped by the backend (no error). */
export const NETIF_RSP_DROPPED = -2;
/** The request failed (bad request or grant). */
export const NETIF_RSP_ERROR = -1;
/** The request succeeded. */
export const NETIF_RSP_OKAY = 0;
/** Answer to an extra-info tx slot (carries no id). */
export const NETIF_RSP_NULL = 1;

// Control ring: hash types (bit numbers and masks)
/** Bit number of XEN_NETIF_CTRL_HASH_TYPE_IPV4. */
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV4 = 0;
/** Hash IPv4 packets over source and destination address. */
export const XEN_NETIF_CTRL_HASH_TYPE_IPV4 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV4;
/** Bit number of XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP. */
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = 1;
/** Hash TCP over IPv4 over addresses and ports. */
export const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
/** Bit number of XEN_NETIF_CTRL_HASH_TYPE_IPV6. */
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV6 = 2;
/** Hash IPv6 packets over source and destination address. */
export const XEN_NETIF_CTRL_HASH_TYPE_IPV6 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV6;
/** Bit number of XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP. */
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = 3;
/** Hash TCP over IPv6 over addresses and ports. */
export const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;

/** No hashing (the default until a frontend sets an algorithm). */
export const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE = 0;
/** The Toeplitz hash of Microsoft's RSS specification. */
export const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ = 1;

// xen_netif_ctrl_request.type
/** Never valid: answered with XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED. */
export const XEN_NETIF_CTRL_TYPE_INVALID = 0;
/** Ask which hash types the backend supports (the reply's data). */
export const XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS = 1;
/** Enable hash types (data[0]: XEN_NETIF_CTRL_HASH_TYPE_* mask). */
export const XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS = 2;
/** Set the hash key (data[0]: grant of the key's page, data[1]: its length in bytes). */
export const XEN_NETIF_CTRL_TYPE_SET_HASH_KEY = 3;
/** Ask the largest mapping table the backend accepts (the reply's data). */
export const XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE = 4;
/** Set the mapping table's size (data[0]: entries). */
export const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE = 5;
/** Fill mapping entries (data[0]: grant of the page, data[1]: entries, data[2]: first entry). */
export const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING = 6;
/** Select the hash algorithm (data[0]: XEN_NETIF_CTRL_HASH_ALGORITHM_*). */
export const XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM = 7;
/** Ask how many grant mappings the backend keeps for static grants (not implemented by Linux netback). */
export const XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE = 8;
/** Add static grant mappings (not implemented by Linux netback). */
export const XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING = 9;
/** Remove a static grant mapping (not implemented by Linux netback). */
export const XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING = 10;

// xen_netif_ctrl_response.status
/** The request was carried out. */
export const XEN_NETIF_CTRL_STATUS_SUCCESS = 0;
/** The request type (or algorithm) is not supported. */
export const XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED = 1;
/** A parameter is out of range (size, key length, queue number). */
export const XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER = 2;
/** The reply does not fit (a GET with too small a buffer). */
export const XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW = 3;

// xen_netif_gref.flags
/** Bit number of XEN_NETIF_CTRLF_GREF_readonly. */
export const _XEN_NETIF_CTRLF_GREF_readonly = 0;
/** xen_netif_gref.flags: map the grant read-only. */
export const XEN_NETIF_CTRLF_GREF_readonly = 1 << _XEN_NETIF_CTRLF_GREF_readonly;
