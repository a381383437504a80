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
  type NetfrontStats,
  RX_COPY_THRESHOLD,
} from "./common.js";
export { Netfront, type NetfrontOutstanding } from "./netfront.js";
// Types reached through the public API (typedoc documents them beside it).
export type { DeferredGrant, NetfrontInfo, NetfrontQueue, NetfrontRxInfo } from "./common.js";
export type { LateEoiState } from "./events.js";
export type { TxReqBuilder } from "./tx.js";
