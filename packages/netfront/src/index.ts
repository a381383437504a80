export {
  addStats,
  COST_GRANT_ACCESS,
  COST_RING_REQUEST,
  COST_RING_RESPONSE,
  type DeferredGrant,
  ETH_HLEN,
  GNTTAB_DEFERRED_MAX_RETRIES,
  GNTTAB_DEFERRED_RETRY_NS,
  INVALID_GRANT_REF,
  isNetfrontError,
  MAX_ALERTS_KEPT,
  MAX_QUEUES_DEFAULT,
  MAX_XEN_SKB_FRAGS,
  NAPI_POLL_WEIGHT,
  NET_RX_RING_SIZE,
  NET_RX_SLOTS_MIN,
  NET_TX_RING_SIZE,
  NETDEV_TX_BUSY,
  NETDEV_TX_OK,
  type NetfrontEnv,
  NetfrontError,
  type NetfrontErrorCode,
  NetfrontInfo,
  type NetfrontOptions,
  NetfrontQueue,
  type NetfrontStats,
  newNetfrontStats,
  RX_COPY_THRESHOLD,
  RX_REFILL_TIMEOUT_NS,
  TX_LINK_NONE,
  TX_PENDING,
} from "./common.js";
export { HZ, JIFFY_NS, type LateEoiState, newLateEoiState, SPURIOUS_THRESHOLD, xenIrqLateeoi, xenIrqNoEoi } from "./events.js";
export { Netfront, type NetfrontOutstanding } from "./netfront.js";
export { persistentGrantsHeld, xennetFreePersistentGnts, xennetInitPersistentGnts } from "./persistent.js";
export { FLOW_HASH_SEED, jhash3Words, skbGetHash, xennetSelectQueue } from "./queue.js";
export { napiSchedule, skbChecksumSetup, xennetAllocRxBuffers, xennetHandleRx, xennetPoll } from "./rx.js";
export { bounceSkb, netfrontTxSlotAvailable, xennetStartXmit, xennetTxBufGc } from "./tx.js";
export { netbackChanged, netfrontProbe, talkToNetback, xennetBusClose, xennetConnect, xennetDisconnectBackend } from "./xenbus.js";
