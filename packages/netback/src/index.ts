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
export { XENVIF_DEBUGFS_HZ, xenvifDebugfs, xenvifDebugfsIoRing, xenvifDebugfsTree } from "./debugfs.js";
export { type XenvifXmitOptions, xenvifSelectQueue, xenvifStartXmit, xenvifStopQueue } from "./interface.js";
export { type PersistentGrantStats, XENVIF_MAX_PGRANTS } from "./pgrant.js";
export { type BackendInfo, Netback, type NetbackOutstanding } from "./xenbus.js";
export {
  PKT_HASH_TYPE_L3,
  PKT_HASH_TYPE_L4,
  PKT_HASH_TYPE_NONE,
  toeplitzHash,
  XEN_NETBK_HASH_CACHE_SIZE_DEFAULT,
  XEN_NETBK_HASH_TAG_SIZE,
  XEN_NETBK_MAX_HASH_KEY_SIZE,
  XEN_NETBK_MAX_HASH_MAPPING_SIZE,
  XenvifHash,
  type XenvifHashContext,
  type XenvifHashStats,
  xenvifGetHashFlags,
  xenvifSetHashAlg,
  xenvifSetHashFlags,
  xenvifSetHashKey,
  xenvifSetHashMapping,
  xenvifSetHashMappingSize,
  xenvifSetSkbHash,
} from "./hash.js";
export {
  XENVIF_CTRL_ACTION_BUDGET_RINGS,
  XenvifCtrl,
  type XenvifCtrlStats,
  xenvifConnectCtrl,
  xenvifCtrl,
  xenvifDisconnectCtrl,
  xenvifHashSelectQueue,
} from "./ctrl.js";
// Types reached through the public API (typedoc documents them beside it).
export type { NetbackContext, XenvifPktState, XenvifRxChunk, XenvifTxCb } from "./common.js";
export type { PersistentGrantTree } from "./pgrant.js";
