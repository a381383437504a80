/**
 * Byte layouts of the netif.h structs: one frozen object per C struct (offsets and sizeof from
 * xen/include/public/io/netif.h, checked against abi-facts.json by the golden tests and against
 * each other when this module loads), and the ring layouts built from them.
 */
import { defineRingLayout } from "@pvnet/shared-ring";

/** struct netif_tx_request { grant_ref_t gref; uint16_t offset, flags, id, size; } */
export const TX_REQUEST = Object.freeze({ SIZEOF: 12, GREF: 0, OFFSET: 4, FLAGS: 6, ID: 8, SIZE: 10 });
/** struct netif_tx_response { uint16_t id; int16_t status; } */
export const TX_RESPONSE = Object.freeze({ SIZEOF: 4, ID: 0, STATUS: 2 });
/** struct netif_rx_request { uint16_t id; uint16_t pad; grant_ref_t gref; } */
export const RX_REQUEST = Object.freeze({ SIZEOF: 8, ID: 0, PAD: 2, GREF: 4 });
/** struct netif_rx_response { uint16_t id, offset, flags; int16_t status; } */
export const RX_RESPONSE = Object.freeze({ SIZEOF: 8, ID: 0, OFFSET: 2, FLAGS: 4, STATUS: 6 });
/**
 * struct netif_extra_info { uint8_t type, flags; union { gso {uint16_t size; uint8_t type, pad;
 * uint16_t features;}, mcast {uint8_t addr[6];}, hash {uint8_t type, algorithm, value[4];},
 * uint16_t pad[3]; } u; }
 */
export const EXTRA_INFO = Object.freeze({
  SIZEOF: 8,
  TYPE: 0,
  FLAGS: 1,
  U: 2,
  U_SIZE: 6,
  GSO_SIZE: 2,
  GSO_TYPE: 4,
  GSO_PAD: 5,
  GSO_FEATURES: 6,
  MCAST_ADDR: 2,
  MCAST_ADDR_SIZE: 6,
  HASH_TYPE: 2,
  HASH_ALGORITHM: 3,
  HASH_VALUE: 4,
  /** Newer headers only: u.xdp.headroom (XEN_NETIF_EXTRA_TYPE_XDP). */
  XDP_HEADROOM: 2,
});
/** struct xen_netif_ctrl_request { uint16_t id, type; uint32_t data[3]; } */
export const CTRL_REQUEST = Object.freeze({ SIZEOF: 16, ID: 0, TYPE: 2, DATA: 4, DATA_WORDS: 3 });
/** struct xen_netif_ctrl_response { uint16_t id, type; uint32_t status, data; } */
export const CTRL_RESPONSE = Object.freeze({ SIZEOF: 12, ID: 0, TYPE: 2, STATUS: 4, DATA: 8 });
/** struct xen_netif_gref { grant_ref_t ref; uint16_t flags; uint16_t status; } */
export const CTRL_GREF = Object.freeze({ SIZEOF: 8, REF: 0, FLAGS: 4, STATUS: 6 });

/** DEFINE_RING_TYPES(netif_tx, ...): 12-byte slots, 256 per page. */
export const NETIF_TX_RING = defineRingLayout("netif_tx", TX_REQUEST.SIZEOF, TX_RESPONSE.SIZEOF);
/** DEFINE_RING_TYPES(netif_rx, ...): 8-byte slots, 256 per page. */
export const NETIF_RX_RING = defineRingLayout("netif_rx", RX_REQUEST.SIZEOF, RX_RESPONSE.SIZEOF);
/** DEFINE_RING_TYPES(xen_netif_ctrl, ...): 16-byte slots, 128 per page. */
export const NETIF_CTRL_RING = defineRingLayout("xen_netif_ctrl", CTRL_REQUEST.SIZEOF, CTRL_RESPONSE.SIZEOF);

// Layouts checked against each other once, at load: a mistake here would corrupt every ring.
function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`netif layout: ${what}`);
}
check(TX_REQUEST.SIZE + 2 === TX_REQUEST.SIZEOF, "tx request fields tile 12 bytes");
check(RX_RESPONSE.STATUS + 2 === RX_RESPONSE.SIZEOF, "rx response fields tile 8 bytes");
check(RX_REQUEST.GREF + 4 === RX_REQUEST.SIZEOF, "rx request fields tile 8 bytes");
check(EXTRA_INFO.U + EXTRA_INFO.U_SIZE === EXTRA_INFO.SIZEOF, "extra info union ends the struct");
check(EXTRA_INFO.SIZEOF <= RX_REQUEST.SIZEOF && EXTRA_INFO.SIZEOF <= TX_REQUEST.SIZEOF, "an extra-info fits a tx and an rx slot");
check(EXTRA_INFO.HASH_VALUE + 4 === EXTRA_INFO.SIZEOF && EXTRA_INFO.GSO_FEATURES + 2 === EXTRA_INFO.SIZEOF, "union members end at 8");
check(CTRL_REQUEST.DATA + 4 * CTRL_REQUEST.DATA_WORDS === CTRL_REQUEST.SIZEOF, "ctrl request data fills 16 bytes");
check(CTRL_RESPONSE.DATA + 4 === CTRL_RESPONSE.SIZEOF, "ctrl response fields tile 12 bytes");
check(NETIF_TX_RING.slotBytes === 12 && NETIF_RX_RING.slotBytes === 8 && NETIF_CTRL_RING.slotBytes === 16, "ring slot sizes");
