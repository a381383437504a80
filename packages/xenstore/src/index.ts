export type { ConnectOptions, DirectoryPart, WatchEvent, WatchRegistration } from "./connection.js";
export { Connection, XBT_NIL } from "./connection.js";
export type { XenstoreErrorCode, XsdErrorName } from "./errors.js";
export { isXenstoreError, XenstoreError, XSD_ERRORS } from "./errors.js";
export {
  baseName,
  childPath,
  getDomainPath,
  isPathBelowOrEqual,
  isSpecialPath,
  parentPath,
  pathLimitLength,
  resolvePath,
} from "./path.js";
export type { XsPermission, XsPermissions, XsPermLevel } from "./perms.js";
export {
  DOMID_FIRST_RESERVED,
  formatPermission,
  inheritPermissions,
  parsePermission,
  permForDomain,
  XS_PERM,
} from "./perms.js";
export type { ProcessHooks } from "./process.js";
export { errorReply, processRequest, watchEventMessage } from "./process.js";
export type { XenstoreQuota } from "./quota.js";
export { DEFAULT_QUOTA } from "./quota.js";
export type { RelayReply, RelayRequest, XenstoredPortServerOptions } from "./relay.js";
export { createXenstoredRelay, XenstoredPortServer } from "./relay.js";
export type { XenstoredServer, XenstoredServerOptions, XenstoredSessionIo } from "./server.js";
export { createXenstoredServer, DEFAULT_MAX_OUTPUT_BYTES, XenstoredSession } from "./server.js";
export type { XenStoreOptions, XsNodeDump } from "./store.js";
export { checkDomid, SPECIAL_NODES, WATCH_INTRODUCE_DOMAIN, WATCH_RELEASE_DOMAIN, XenStore } from "./store.js";
export type { XsFrameOversize, XsMessage } from "./wire.js";
export {
  encodeMessage,
  latin1Bytes,
  latin1String,
  nulStrings,
  splitNulStrings,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  XS_TYPE,
  XSD_SOCKMSG,
  XsFrameDecoder,
} from "./wire.js";
export type {
  XenbusClient,
  XenbusDevice,
  XenbusDevicePaths,
  XenbusDeviceSpec,
  XenbusGatherType,
  XenbusStateValue,
  XenbusWatch,
  XenbusWatchCallback,
  XenstoreClient,
} from "./xenbus.js";
export {
  libxlDeviceGenericAdd,
  libxlDomainMake,
  Xenbus,
  XenbusState,
  xenbusBackendDevice,
  xenbusBackendPath,
  xenbusDevError,
  xenbusDevFatal,
  xenbusFrontendDevice,
  xenbusFrontendPath,
  xenbusGather,
  xenbusJoin,
  xenbusPrintf,
  xenbusRead,
  xenbusReadDriverState,
  xenbusReadFeature,
  xenbusReadOtherendDetails,
  xenbusReadUnsigned,
  xenbusScanfInt,
  xenbusStrstate,
  xenbusSwitchState,
  xenbusTransaction,
  xenbusWatchOtherend,
} from "./xenbus.js";
export { type XenbusKernel, type XenwatchRunner, xenbusInit } from "./xenwatch.js";
// Types reached through the public API (typedoc documents them beside it).
export type { Actor } from "./tree.js";
export type { GatherValue } from "./xenbus.js";
