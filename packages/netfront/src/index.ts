export { BUSY_POLL_INTERVAL_NS } from "./busy-poll.js";
export {
  isNetfrontError,
  MAX_QUEUES_DEFAULT,
  MAX_XEN_SKB_FRAGS,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  NETDEV_TX_BUSY,
  NETDEV_TX_OK,
  type NetfrontEnv,
  NetfrontError,
  type NetfrontErrorCode,
  type NetfrontOptions,
  type NetfrontRxPathStats,
  type NetfrontStats,
  RX_COPY_THRESHOLD,
} from "./common.js";
export { type XennetCtrlReply, XennetCtrlRing } from "./ctrl.js";
export { Netfront, type NetfrontOutstanding } from "./netfront.js";
export { RX_BUILD_SKB_HEADROOM, RX_BUILD_SKB_MAX_END, RX_BUILD_SKB_TAILROOM } from "./rx-build-skb.js";
export { XDP_ABORTED, XDP_DROP, XDP_PACKET_HEADROOM, XDP_PASS, XDP_REDIRECT, XDP_TX, type XdpProgram, type XdpVerdict } from "./xdp.js";
// Types reached through the public API (typedoc documents them beside it).
export type { DeferredGrant, NetfrontInfo, NetfrontQueue, NetfrontRxInfo } from "./common.js";
export type { LateEoiState } from "./events.js";
export type { TxReqBuilder } from "./tx.js";
