/**
 * Zero-allocation accessors for the netif.h structs: `readX(view, byteOffset, out)` fills a
 * caller-owned object, `writeX(view, byteOffset, value)` stores one; all fields little-endian.
 * They fit shared-ring's `SlotDecoder` / `SlotEncoder`, e.g.
 * `back.copyRequest(idx, readTxRequest, txreq)` (RING_COPY_REQUEST) then validate `txreq`.
 * Only the `new*()` factories allocate.
 */
import { XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_EXTRA_TYPE_XDP } from "./constants.js";
import { CTRL_GREF, CTRL_REQUEST, CTRL_RESPONSE, EXTRA_INFO, RX_REQUEST, RX_RESPONSE, TX_REQUEST, TX_RESPONSE } from "./layout.js";

/** netif_tx_request */
export interface NetifTxRequest {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  /** First request of a packet: the whole packet's length; later ones: this fragment's. */
  size: number;
}
/** netif_tx_response */
export interface NetifTxResponse {
  id: number;
  /** NETIF_RSP_* (int16) */
  status: number;
}
/** netif_rx_request */
export interface NetifRxRequest {
  id: number;
  gref: number;
}
/** netif_rx_response */
export interface NetifRxResponse {
  id: number;
  offset: number;
  flags: number;
  /** > 0: bytes in this fragment; < 0: NETIF_RSP_* (int16) */
  status: number;
}
/** netif_extra_info, every union member decoded (the reader does not trust `type`). */
export interface NetifExtraInfo {
  type: number;
  flags: number;
  /** u.gso.size: payload bytes per segment (the MSS for TCP). */
  gsoSize: number;
  gsoType: number;
  gsoFeatures: number;
  /** u.mcast.addr: a caller-owned 6-byte array, filled in place. */
  mcastAddr: Uint8Array;
  /** u.hash.type: a _XEN_NETIF_CTRL_HASH_TYPE_* bit number. */
  hashType: number;
  hashAlgorithm: number;
  /** u.hash.value as an unsigned 32-bit number (stored LSB first). */
  hashValue: number;
  /** u.xdp.headroom (newer headers, type XEN_NETIF_EXTRA_TYPE_XDP). */
  xdpHeadroom: number;
}
/** xen_netif_ctrl_request */
export interface XenNetifCtrlRequest {
  id: number;
  type: number;
  data0: number;
  data1: number;
  data2: number;
}
/** xen_netif_ctrl_response */
export interface XenNetifCtrlResponse {
  id: number;
  type: number;
  status: number;
  data: number;
}
/** xen_netif_gref */
export interface XenNetifGref {
  ref: number;
  flags: number;
  status: number;
}

/** A zeroed netif_tx_request, to be filled and written (allocate once, reuse per slot). */
export const newTxRequest = (): NetifTxRequest => ({ gref: 0, offset: 0, flags: 0, id: 0, size: 0 });
/** A zeroed netif_tx_response. */
export const newTxResponse = (): NetifTxResponse => ({ id: 0, status: 0 });
/** A zeroed netif_rx_request. */
export const newRxRequest = (): NetifRxRequest => ({ id: 0, gref: 0 });
/** A zeroed netif_rx_response. */
export const newRxResponse = (): NetifRxResponse => ({ id: 0, offset: 0, flags: 0, status: 0 });
/** A zeroed netif_extra_info (type 0: none). */
export const newExtraInfo = (): NetifExtraInfo => ({
  type: 0,
  flags: 0,
  gsoSize: 0,
  gsoType: 0,
  gsoFeatures: 0,
  mcastAddr: new Uint8Array(EXTRA_INFO.MCAST_ADDR_SIZE),
  hashType: 0,
  hashAlgorithm: 0,
  hashValue: 0,
  xdpHeadroom: 0,
});
/** Copy every field of `from` into the caller-owned `to` (no allocation: mcastAddr is filled in place). */
export function copyExtraInfo(to: NetifExtraInfo, from: NetifExtraInfo): NetifExtraInfo {
  to.type = from.type;
  to.flags = from.flags;
  to.gsoSize = from.gsoSize;
  to.gsoType = from.gsoType;
  to.gsoFeatures = from.gsoFeatures;
  to.mcastAddr.set(from.mcastAddr);
  to.hashType = from.hashType;
  to.hashAlgorithm = from.hashAlgorithm;
  to.hashValue = from.hashValue;
  to.xdpHeadroom = from.xdpHeadroom;
  return to;
}
/** A zeroed xen_netif_ctrl_request. */
export const newCtrlRequest = (): XenNetifCtrlRequest => ({ id: 0, type: 0, data0: 0, data1: 0, data2: 0 });
/** A zeroed xen_netif_ctrl_response. */
export const newCtrlResponse = (): XenNetifCtrlResponse => ({ id: 0, type: 0, status: 0, data: 0 });
/** A zeroed xen_netif_gref (an entry of an ADD_GREF_MAPPING page). */
export const newCtrlGref = (): XenNetifGref => ({ ref: 0, flags: 0, status: 0 });

/** Decode the netif_tx_request at byte `off` of `view` (little-endian, netif.h layout) into `out`. */
export function readTxRequest(view: DataView, off: number, out: NetifTxRequest): NetifTxRequest {
  out.gref = view.getUint32(off + TX_REQUEST.GREF, true);
  out.offset = view.getUint16(off + TX_REQUEST.OFFSET, true);
  out.flags = view.getUint16(off + TX_REQUEST.FLAGS, true);
  out.id = view.getUint16(off + TX_REQUEST.ID, true);
  out.size = view.getUint16(off + TX_REQUEST.SIZE, true);
  return out;
}
/** Encode `v` as a netif_tx_request at byte `off` of `view`. */
export function writeTxRequest(view: DataView, off: number, v: NetifTxRequest): void {
  view.setUint32(off + TX_REQUEST.GREF, v.gref, true);
  view.setUint16(off + TX_REQUEST.OFFSET, v.offset, true);
  view.setUint16(off + TX_REQUEST.FLAGS, v.flags, true);
  view.setUint16(off + TX_REQUEST.ID, v.id, true);
  view.setUint16(off + TX_REQUEST.SIZE, v.size, true);
}

/** Decode the netif_tx_response at byte `off` of `view` into `out` (status is signed). */
export function readTxResponse(view: DataView, off: number, out: NetifTxResponse): NetifTxResponse {
  out.id = view.getUint16(off + TX_RESPONSE.ID, true);
  out.status = view.getInt16(off + TX_RESPONSE.STATUS, true);
  return out;
}
/** Writes the 4 bytes of a tx response; the rest of a 12-byte slot keeps what it held. */
export function writeTxResponse(view: DataView, off: number, v: NetifTxResponse): void {
  view.setUint16(off + TX_RESPONSE.ID, v.id, true);
  view.setInt16(off + TX_RESPONSE.STATUS, v.status, true);
}

/** Decode the netif_rx_request at byte `off` of `view` into `out`. */
export function readRxRequest(view: DataView, off: number, out: NetifRxRequest): NetifRxRequest {
  out.id = view.getUint16(off + RX_REQUEST.ID, true);
  out.gref = view.getUint32(off + RX_REQUEST.GREF, true);
  return out;
}
/** Writes all 8 bytes (pad = 0). */
export function writeRxRequest(view: DataView, off: number, v: NetifRxRequest): void {
  view.setUint16(off + RX_REQUEST.ID, v.id, true);
  view.setUint16(off + RX_REQUEST.PAD, 0, true);
  view.setUint32(off + RX_REQUEST.GREF, v.gref, true);
}

/** Decode the netif_rx_response at byte `off` of `view` into `out` (status is signed: a size or a negative NETIF_RSP_*). */
export function readRxResponse(view: DataView, off: number, out: NetifRxResponse): NetifRxResponse {
  out.id = view.getUint16(off + RX_RESPONSE.ID, true);
  out.offset = view.getUint16(off + RX_RESPONSE.OFFSET, true);
  out.flags = view.getUint16(off + RX_RESPONSE.FLAGS, true);
  out.status = view.getInt16(off + RX_RESPONSE.STATUS, true);
  return out;
}
/** Encode `v` as a netif_rx_response at byte `off` of `view`. */
export function writeRxResponse(view: DataView, off: number, v: NetifRxResponse): void {
  view.setUint16(off + RX_RESPONSE.ID, v.id, true);
  view.setUint16(off + RX_RESPONSE.OFFSET, v.offset, true);
  view.setUint16(off + RX_RESPONSE.FLAGS, v.flags, true);
  view.setInt16(off + RX_RESPONSE.STATUS, v.status, true);
}

/** Decodes type, flags and every union member (gso, mcast, hash, xdp) of the 8 bytes. */
export function readExtraInfo(view: DataView, off: number, out: NetifExtraInfo): NetifExtraInfo {
  out.type = view.getUint8(off + EXTRA_INFO.TYPE);
  out.flags = view.getUint8(off + EXTRA_INFO.FLAGS);
  out.gsoSize = view.getUint16(off + EXTRA_INFO.GSO_SIZE, true);
  out.gsoType = view.getUint8(off + EXTRA_INFO.GSO_TYPE);
  out.gsoFeatures = view.getUint16(off + EXTRA_INFO.GSO_FEATURES, true);
  for (let i = 0; i < EXTRA_INFO.MCAST_ADDR_SIZE; i++) out.mcastAddr[i] = view.getUint8(off + EXTRA_INFO.MCAST_ADDR + i);
  out.hashType = view.getUint8(off + EXTRA_INFO.HASH_TYPE);
  out.hashAlgorithm = view.getUint8(off + EXTRA_INFO.HASH_ALGORITHM);
  out.hashValue = view.getUint32(off + EXTRA_INFO.HASH_VALUE, true);
  out.xdpHeadroom = view.getUint16(off + EXTRA_INFO.XDP_HEADROOM, true);
  return out;
}
/**
 * Writes the 8 bytes of an extra-info: the union member `type` selects (gso, mcast, hash, xdp),
 * zeros for any other type. In a 12-byte tx slot the last 4 bytes are left as they were.
 */
export function writeExtraInfo(view: DataView, off: number, v: NetifExtraInfo): void {
  view.setUint8(off + EXTRA_INFO.TYPE, v.type);
  view.setUint8(off + EXTRA_INFO.FLAGS, v.flags);
  view.setUint16(off + EXTRA_INFO.U, 0, true);
  view.setUint32(off + EXTRA_INFO.U + 2, 0, true);
  switch (v.type) {
    case XEN_NETIF_EXTRA_TYPE_GSO:
      view.setUint16(off + EXTRA_INFO.GSO_SIZE, v.gsoSize, true);
      view.setUint8(off + EXTRA_INFO.GSO_TYPE, v.gsoType);
      view.setUint16(off + EXTRA_INFO.GSO_FEATURES, v.gsoFeatures, true);
      break;
    case XEN_NETIF_EXTRA_TYPE_MCAST_ADD:
    case XEN_NETIF_EXTRA_TYPE_MCAST_DEL:
      for (let i = 0; i < EXTRA_INFO.MCAST_ADDR_SIZE; i++) view.setUint8(off + EXTRA_INFO.MCAST_ADDR + i, v.mcastAddr[i] ?? 0);
      break;
    case XEN_NETIF_EXTRA_TYPE_HASH:
      view.setUint8(off + EXTRA_INFO.HASH_TYPE, v.hashType);
      view.setUint8(off + EXTRA_INFO.HASH_ALGORITHM, v.hashAlgorithm);
      view.setUint32(off + EXTRA_INFO.HASH_VALUE, v.hashValue, true);
      break;
    case XEN_NETIF_EXTRA_TYPE_XDP:
      view.setUint16(off + EXTRA_INFO.XDP_HEADROOM, v.xdpHeadroom, true);
      break;
  }
}

/** Decode the xen_netif_ctrl_request at byte `off` of `view` into `out`. */
export function readCtrlRequest(view: DataView, off: number, out: XenNetifCtrlRequest): XenNetifCtrlRequest {
  out.id = view.getUint16(off + CTRL_REQUEST.ID, true);
  out.type = view.getUint16(off + CTRL_REQUEST.TYPE, true);
  out.data0 = view.getUint32(off + CTRL_REQUEST.DATA, true);
  out.data1 = view.getUint32(off + CTRL_REQUEST.DATA + 4, true);
  out.data2 = view.getUint32(off + CTRL_REQUEST.DATA + 8, true);
  return out;
}
/** Encode `v` as a xen_netif_ctrl_request at byte `off` of `view`. */
export function writeCtrlRequest(view: DataView, off: number, v: XenNetifCtrlRequest): void {
  view.setUint16(off + CTRL_REQUEST.ID, v.id, true);
  view.setUint16(off + CTRL_REQUEST.TYPE, v.type, true);
  view.setUint32(off + CTRL_REQUEST.DATA, v.data0, true);
  view.setUint32(off + CTRL_REQUEST.DATA + 4, v.data1, true);
  view.setUint32(off + CTRL_REQUEST.DATA + 8, v.data2, true);
}

/** Decode the xen_netif_ctrl_response at byte `off` of `view` into `out`. */
export function readCtrlResponse(view: DataView, off: number, out: XenNetifCtrlResponse): XenNetifCtrlResponse {
  out.id = view.getUint16(off + CTRL_RESPONSE.ID, true);
  out.type = view.getUint16(off + CTRL_RESPONSE.TYPE, true);
  out.status = view.getUint32(off + CTRL_RESPONSE.STATUS, true);
  out.data = view.getUint32(off + CTRL_RESPONSE.DATA, true);
  return out;
}
/** Encode `v` as a xen_netif_ctrl_response at byte `off` of `view`. */
export function writeCtrlResponse(view: DataView, off: number, v: XenNetifCtrlResponse): void {
  view.setUint16(off + CTRL_RESPONSE.ID, v.id, true);
  view.setUint16(off + CTRL_RESPONSE.TYPE, v.type, true);
  view.setUint32(off + CTRL_RESPONSE.STATUS, v.status, true);
  view.setUint32(off + CTRL_RESPONSE.DATA, v.data, true);
}

/** Decode the xen_netif_gref at byte `off` of `view` into `out`. */
export function readCtrlGref(view: DataView, off: number, out: XenNetifGref): XenNetifGref {
  out.ref = view.getUint32(off + CTRL_GREF.REF, true);
  out.flags = view.getUint16(off + CTRL_GREF.FLAGS, true);
  out.status = view.getUint16(off + CTRL_GREF.STATUS, true);
  return out;
}
/** Encode `v` as a xen_netif_gref at byte `off` of `view`. */
export function writeCtrlGref(view: DataView, off: number, v: XenNetifGref): void {
  view.setUint32(off + CTRL_GREF.REF, v.ref, true);
  view.setUint16(off + CTRL_GREF.FLAGS, v.flags, true);
  view.setUint16(off + CTRL_GREF.STATUS, v.status, true);
}
