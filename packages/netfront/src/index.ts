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
  type NetfrontStats,
  RX_COPY_THRESHOLD,
} from "./common.js";
export { type XennetCtrlReply, XennetCtrlRing } from "./ctrl.js";
export { Netfront, type NetfrontOutstanding } from "./netfront.js";
