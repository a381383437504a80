export {
  FATAL_SKB_SLOTS_DEFAULT,
  type ForeignPage,
  type HeaderCopyMode,
  isNetbackError,
  MAX_QUEUES_DEFAULT,
  type NetbackConfig,
  type NetbackCredit,
  type NetbackEnv,
  NetbackError,
  type NetbackErrorCode,
  type NetbackOptions,
  NETDEV_TX_OK,
  type NetDeviceStats,
  RX_DRAIN_TIMEOUT_MSECS,
  type TxHypercallMode,
  XEN_NETBACK_TX_COPY_LEN,
  XENVIF_RX_QUEUE_BYTES,
  XENVIF_RX_QUEUE_MAX_SKBS,
  type Xenvif,
  type XenvifCounters,
  type XenvifModelStats,
  type XenvifQueue,
  type XenvifStats,
} from "./common.js";
export { xenvifStartXmit } from "./interface.js";
export { type PersistentGrantStats, XENVIF_MAX_PGRANTS } from "./pgrant.js";
export { type BackendInfo, Netback, type NetbackOutstanding } from "./xenbus.js";
// Types reached through the public API (typedoc documents them beside it).
export type { NetbackContext, XenvifPktState, XenvifRxChunk, XenvifTxCb } from "./common.js";
export type { PersistentGrantTree } from "./pgrant.js";
