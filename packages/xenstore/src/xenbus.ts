/**
 * Xenbus: what Linux drivers/xen/xenbus gives a split driver on top of xenstore — the
 * XenbusState handshake (xenbus_client.c), typed reads and writes (xenbus_xs.c xenbus_scanf,
 * xenbus_printf, xenbus_gather, xenbus_read_unsigned), watches run by a xenwatch dispatcher
 * (xenbus_xs.c register_xenbus_watch, xenwatch_thread), the other end's state watch
 * (xenbus_probe.c watch_otherend/otherend_changed), and the toolstack's device directories
 * (libxl__device_generic_add). Synchronous and callback-driven: the runner decides when a
 * domain runs its watch callbacks (`Xenbus.processWatchEvents`).
 */
import type { Connection, WatchEvent } from "./connection.js";

/**
 * A kernel's xenstore client (the xs_* calls of drivers/xen/xenbus/xenbus_xs.c), implemented by
 * `Connection`; a threaded runner supplies one that talks xenstored's wire protocol.
 */
export type XenstoreClient = Pick<
  Connection,
  "domid" | "read" | "write" | "directory" | "exists" | "rm" | "transactionStart" | "transactionEnd" | "watch" | "unwatch" | "takeWatchEvents" | "pendingWatchEvents"
>;
import { XBT_NIL } from "./connection.js";
import { isXenstoreError, XenstoreError } from "./errors.js";
import type { XsPermissions } from "./perms.js";
import { getDomainPath } from "./path.js";

/** enum xenbus_state (xen/include/public/io/xenbus.h). */
export const XenbusState = Object.freeze({
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const);

/** A value of XenbusState (enum xenbus_state). */
export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];

const STATE_NAMES = Object.keys(XenbusState) as (keyof typeof XenbusState)[];

/** xenbus_strstate */
export function xenbusStrstate(state: number): string {
  return STATE_NAMES[state] ?? "INVALID";
}

/** `dir/node`, or `dir` alone when `node` is empty (xenbus_xs.c join). */
export function xenbusJoin(dir: string, node: string): string {
  return node.length === 0 ? dir : `${dir}/${node}`;
}

/** xenbus_read: the value, or undefined when the node does not exist. */
export function xenbusRead(conn: XenstoreClient, tx: number, dir: string, node: string): string | undefined {
  try {
    return conn.read(xenbusJoin(dir, node), tx);
  } catch (err) {
    if (isXenstoreError(err, "ENOENT")) return undefined;
    throw err;
  }
}

/** Parse a decimal, as the drivers' `%u`/`%d` scanf does for the whole value. */
function parseIntValue(s: string): number | undefined {
  return /^-?[0-9]+$/.test(s.trim()) ? Number(s.trim()) : undefined;
}

/** xenbus_scanf(..., "%d"): ENOENT if missing, EINVAL if not a number. */
export function xenbusScanfInt(conn: XenstoreClient, tx: number, dir: string, node: string): number {
  const v = conn.read(xenbusJoin(dir, node), tx);
  const n = parseIntValue(v);
  if (n === undefined) throw new XenstoreError("EINVAL", `${xenbusJoin(dir, node)} = '${v}' is not a number`);
  return n;
}

/** xenbus_read_unsigned: the number, or `defaultValue` when missing or unparsable. */
export function xenbusReadUnsigned(conn: XenstoreClient, dir: string, node: string, defaultValue: number): number {
  const v = xenbusRead(conn, XBT_NIL, dir, node);
  const n = v === undefined ? undefined : parseIntValue(v);
  return n === undefined || n < 0 ? defaultValue : n;
}

/** A feature flag (`feature-sg`, ...): true when present and non-zero; absent means 0. */
export function xenbusReadFeature(conn: XenstoreClient, dir: string, name: string): boolean {
  return xenbusReadUnsigned(conn, dir, name, 0) !== 0;
}

/** What xenbusGather reads each key as. */
export type XenbusGatherType = "int" | "string" | "feature";
/** The type xenbusGather gives a key read as `T`. */
export type GatherValue<T extends XenbusGatherType> = T extends "string" ? string : T extends "feature" ? boolean : number;

/**
 * xenbus_gather: read several keys of `dir` at once. "int" and "string" keys must exist (ENOENT
 * otherwise, EINVAL for a bad number); "feature" keys default to false when absent.
 */
export function xenbusGather<S extends Record<string, XenbusGatherType>>(
  conn: XenstoreClient,
  tx: number,
  dir: string,
  spec: S,
): { [K in keyof S]: GatherValue<S[K]> } {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, type] of Object.entries(spec)) {
    if (type === "string") out[key] = conn.read(xenbusJoin(dir, key), tx);
    else if (type === "int") out[key] = xenbusScanfInt(conn, tx, dir, key);
    else {
      const v = xenbusRead(conn, tx, dir, key);
      out[key] = v !== undefined && (parseIntValue(v) ?? 0) !== 0;
    }
  }
  return out as { [K in keyof S]: GatherValue<S[K]> };
}

/** xenbus_printf / xenbus_write: numbers are written in decimal, booleans as 1/0. */
export function xenbusPrintf(conn: XenstoreClient, tx: number, dir: string, node: string, value: string | number | boolean): void {
  const s = typeof value === "boolean" ? (value ? "1" : "0") : String(value);
  conn.write(xenbusJoin(dir, node), s, tx);
}

/** xenbus_read_driver_state: `path/state`, Unknown when missing or not a state. */
export function xenbusReadDriverState(conn: XenstoreClient, path: string): XenbusStateValue {
  let n: number;
  try {
    n = xenbusReadUnsigned(conn, path, "state", XenbusState.Unknown);
  } catch (err) {
    // Linux: any error of xenbus_gather (a vanished node the reader may no longer see: EACCES)
    // reads as XenbusStateUnknown.
    if (!isXenstoreError(err)) throw err;
    return XenbusState.Unknown;
  }
  return n <= XenbusState.Reconfigured ? (n as XenbusStateValue) : XenbusState.Unknown;
}

/** The callback of a xenbus watch: the path that fired and the watch. */
export type XenbusWatchCallback = (path: string, watch: XenbusWatch) => void;

/** struct xenbus_watch */
export interface XenbusWatch {
  readonly node: string;
  readonly token: string;
  readonly callback: XenbusWatchCallback;
}

/** What a driver uses of its kernel's xenbus: the xenstore client and xenbus watches. */
export type XenbusClient = Pick<Xenbus, "conn" | "domid" | "registerXenbusWatch" | "xenbusWatchPathfmt" | "unregisterXenbusWatch">;

/**
 * A domain's xenbus core: owns its xenstore connection's watches and runs their callbacks when
 * asked (the xenwatch thread). Tokens are `xbw<n>`, numbered per instance, so runs replay.
 */
export class Xenbus {
  private readonly watches = new Map<string, XenbusWatch>();
  private nextToken = 1;

  constructor(readonly conn: XenstoreClient) {}

  /** The domain this xenbus belongs to. */
  get domid(): number {
    return this.conn.domid;
  }

  /** register_xenbus_watch: the callback also runs once for the initial event. */
  registerXenbusWatch(node: string, callback: XenbusWatchCallback): XenbusWatch {
    const token = `xbw${this.nextToken++}`;
    const watch: XenbusWatch = { node, token, callback };
    this.conn.watch(node, token);
    this.watches.set(token, watch);
    return watch;
  }

  /** xenbus_watch_pathfmt: watch `parts` joined with `/`. */
  xenbusWatchPathfmt(callback: XenbusWatchCallback, ...parts: string[]): XenbusWatch {
    return this.registerXenbusWatch(parts.join("/"), callback);
  }

  /** unregister_xenbus_watch: pending events for it are discarded when processed. */
  unregisterXenbusWatch(watch: XenbusWatch): void {
    if (!this.watches.delete(watch.token)) return;
    try {
      this.conn.unwatch(watch.node, watch.token);
    } catch (err) {
      if (!isXenstoreError(err)) throw err;
    }
  }

  /**
   * xenwatch_thread: run the callbacks of up to `max` pending events, oldest first. Returns how
   * many events were taken.
   */
  processWatchEvents(max = Number.POSITIVE_INFINITY): number {
    const events: WatchEvent[] = this.conn.takeWatchEvents(max);
    for (const ev of events) {
      const w = this.watches.get(ev.token);
      if (w !== undefined) w.callback(ev.path, w);
    }
    return events.length;
  }
}

/** struct xenbus_device: one end of a split device. */
export interface XenbusDevice {
  readonly xenbus: XenbusClient;
  readonly devicetype: string;
  /** This end's directory. */
  readonly nodename: string;
  /** The other end's directory and domain (xenbus_read_otherend_details). */
  otherend: string;
  otherendId: number;
  /** The state this end last switched to. */
  state: XenbusStateValue;
  otherendWatch: XenbusWatch | undefined;
}

/** Bound on the transaction retries of xenbusSwitchState; EAGAIN past it is returned. */
const SWITCH_STATE_MAX_RETRIES = 64;

/**
 * xenbus_switch_state: write `nodename/state` in a transaction (retried on EAGAIN). As in Linux,
 * nothing is written when the state node has vanished (the device is being torn down). Returns
 * false then.
 */
export function xenbusSwitchState(dev: XenbusDevice, state: XenbusStateValue): boolean {
  if (state === dev.state) return true;
  const conn = dev.xenbus.conn;
  for (let attempt = 0; ; attempt++) {
    const tx = conn.transactionStart();
    if (xenbusRead(conn, tx, dev.nodename, "state") === undefined) {
      conn.transactionEnd(tx, false);
      return false;
    }
    xenbusPrintf(conn, tx, dev.nodename, "state", state);
    try {
      conn.transactionEnd(tx, true);
      dev.state = state;
      return true;
    } catch (err) {
      if (!isXenstoreError(err, "EAGAIN") || attempt + 1 >= SWITCH_STATE_MAX_RETRIES) throw err;
    }
  }
}

/** xenbus_dev_error: record `errno message` under /local/domain/<me>/error/<nodename>/error. */
export function xenbusDevError(dev: XenbusDevice, errno: number, message: string): void {
  const conn = dev.xenbus.conn;
  const path = `${getDomainPath(conn.domid)}/error${dev.nodename}`;
  try {
    conn.write(`${path}/error`, `${errno} ${message}`);
  } catch (err) {
    if (!isXenstoreError(err)) throw err;
  }
}

/** xenbus_dev_fatal: xenbus_dev_error, then switch to Closing. */
export function xenbusDevFatal(dev: XenbusDevice, errno: number, message: string): void {
  xenbusDevError(dev, errno, message);
  xenbusSwitchState(dev, XenbusState.Closing);
}

/** Read `<nodename>/<idNode>` and `<nodename>/<pathNode>` (xenbus_read_otherend_details). */
export function xenbusReadOtherendDetails(dev: XenbusDevice, idNode: string, pathNode: string): void {
  const got = xenbusGather(dev.xenbus.conn, XBT_NIL, dev.nodename, { [idNode]: "int", [pathNode]: "string" } as Record<
    string,
    XenbusGatherType
  >);
  dev.otherendId = got[idNode] as number;
  dev.otherend = got[pathNode] as string;
  if (dev.otherend.length === 0) throw new XenstoreError("ENOENT", `${dev.nodename}: empty ${pathNode}`);
}

/**
 * watch_otherend + otherend_changed: call `onChanged(dev, state)` with the other end's state
 * whenever `<otherend>/state` fires (and once for the initial event). Events for paths outside
 * the current other end are ignored, as Linux ignores stale ones.
 */
export function xenbusWatchOtherend(dev: XenbusDevice, onChanged: (dev: XenbusDevice, state: XenbusStateValue) => void): XenbusWatch {
  if (dev.otherendWatch !== undefined) dev.xenbus.unregisterXenbusWatch(dev.otherendWatch);
  const watch = dev.xenbus.xenbusWatchPathfmt(
    (path) => {
      if (path !== dev.otherend && !path.startsWith(`${dev.otherend}/`)) return;
      onChanged(dev, xenbusReadDriverState(dev.xenbus.conn, dev.otherend));
    },
    dev.otherend,
    "state",
  );
  dev.otherendWatch = watch;
  return watch;
}

/** /local/domain/<fe>/device/<type>/<devid> */
export function xenbusFrontendPath(frontendDomid: number, devicetype: string, devid: number): string {
  return `${getDomainPath(frontendDomid)}/device/${devicetype}/${devid}`;
}

/** /local/domain/<be>/backend/<type>/<fe>/<devid> */
export function xenbusBackendPath(backendDomid: number, devicetype: string, frontendDomid: number, devid: number): string {
  return `${getDomainPath(backendDomid)}/backend/${devicetype}/${frontendDomid}/${devid}`;
}

/** The frontend's device (xenbus_probe_frontend): reads `backend-id` and `backend`. */
export function xenbusFrontendDevice(xenbus: XenbusClient, devicetype: string, devid: number): XenbusDevice {
  const dev: XenbusDevice = {
    xenbus,
    devicetype,
    nodename: xenbusFrontendPath(xenbus.domid, devicetype, devid),
    otherend: "",
    otherendId: 0,
    state: XenbusState.Initialising,
    otherendWatch: undefined,
  };
  xenbusReadOtherendDetails(dev, "backend-id", "backend");
  return dev;
}

/** The backend's device (xenbus_probe_backend): reads `frontend-id` and `frontend`. */
export function xenbusBackendDevice(xenbus: XenbusClient, devicetype: string, frontendDomid: number, devid: number): XenbusDevice {
  const dev: XenbusDevice = {
    xenbus,
    devicetype,
    nodename: xenbusBackendPath(xenbus.domid, devicetype, frontendDomid, devid),
    otherend: "",
    otherendId: 0,
    state: XenbusState.Initialising,
    otherendWatch: undefined,
  };
  xenbusReadOtherendDetails(dev, "frontend-id", "frontend");
  return dev;
}

/** What libxlDeviceGenericAdd creates. */
export interface XenbusDeviceSpec {
  readonly devicetype: string;
  readonly frontendDomid: number;
  readonly backendDomid?: number;
  readonly devid: number;
  /** Extra frontend keys (libxl's `fents`, e.g. `mac`, `handle`). */
  readonly frontendKeys?: Readonly<Record<string, string>>;
  /** Extra backend keys (libxl's `bents`, e.g. `mac`, `bridge`, `script`). */
  readonly backendKeys?: Readonly<Record<string, string>>;
}

/** Where a device's directories are. */
export interface XenbusDevicePaths {
  readonly frontend: string;
  readonly backend: string;
}

/** Bound on the toolstack's transaction retries. */
const TOOLSTACK_MAX_RETRIES = 64;

/** Run `body` in a transaction, retrying on EAGAIN (libxl's `for (;;) { t = xs_transaction_start ... }`). */
export function xenbusTransaction<T>(conn: XenstoreClient, body: (tx: number) => T): T {
  for (let attempt = 0; ; attempt++) {
    const tx = conn.transactionStart();
    let result: T;
    try {
      result = body(tx);
    } catch (err) {
      conn.transactionEnd(tx, false);
      throw err;
    }
    try {
      conn.transactionEnd(tx, true);
      return result;
    } catch (err) {
      if (!isXenstoreError(err, "EAGAIN") || attempt + 1 >= TOOLSTACK_MAX_RETRIES) throw err;
    }
  }
}

/** xs_rm whose failure libxl ignores (the parent may not exist yet). */
function rmIgnoringEnoent(conn: XenstoreClient, path: string, tx: number): void {
  try {
    conn.rm(path, tx);
  } catch (err) {
    if (!isXenstoreError(err, "ENOENT")) throw err;
  }
}

/**
 * The toolstack's libxl__device_generic_add, run by a privileged connection: one transaction
 * creates the frontend directory (owned by the frontend, readable by the backend) with
 * `backend`, `backend-id`, `state` = Initialising, and the backend directory (owned by the
 * backend, readable by the frontend) with `frontend`, `frontend-id`, `online` = 1, `state` =
 * Initialising; extra keys beside them.
 */
export function libxlDeviceGenericAdd(toolstack: Connection, spec: XenbusDeviceSpec): XenbusDevicePaths {
  const fe = spec.frontendDomid;
  const be = spec.backendDomid ?? 0;
  const frontend = xenbusFrontendPath(fe, spec.devicetype, spec.devid);
  const backend = xenbusBackendPath(be, spec.devicetype, fe, spec.devid);
  const frontendPerms: XsPermissions = [
    { id: fe, perms: "n" },
    { id: be, perms: "r" },
  ];
  const backendPerms: XsPermissions = [
    { id: be, perms: "n" },
    { id: fe, perms: "r" },
  ];
  xenbusTransaction(toolstack, (tx) => {
    rmIgnoringEnoent(toolstack, frontend, tx);
    toolstack.mkdir(frontend, tx);
    toolstack.setPerms(frontend, frontendPerms, tx);
    toolstack.write(`${frontend}/backend`, backend, tx);
    const fents = { "backend-id": String(be), state: String(XenbusState.Initialising), ...spec.frontendKeys };
    for (const [k, v] of Object.entries(fents)) {
      toolstack.write(`${frontend}/${k}`, v, tx);
      toolstack.setPerms(`${frontend}/${k}`, frontendPerms, tx);
    }
    rmIgnoringEnoent(toolstack, backend, tx);
    toolstack.mkdir(backend, tx);
    toolstack.setPerms(backend, backendPerms, tx);
    toolstack.write(`${backend}/frontend`, frontend, tx);
    const bents = { "frontend-id": String(fe), online: "1", state: String(XenbusState.Initialising), ...spec.backendKeys };
    for (const [k, v] of Object.entries(bents)) toolstack.write(`${backend}/${k}`, v, tx);
  });
  return { frontend, backend };
}

/**
 * The xenstore part of libxl__domain_make: /local/domain/<domid> readable by the domain
 * (`n0 r<domid>`), its `device`, `data`, `error` and `control/shutdown` writable by it, and the
 * `name` and `domid` keys. The domain is then introduced (as xc_domain + XS_INTRODUCE do).
 */
export function libxlDomainMake(toolstack: Connection, domid: number, name: string): string {
  const dom = getDomainPath(domid);
  const roperm: XsPermissions = [
    { id: 0, perms: "n" },
    { id: domid, perms: "r" },
  ];
  const rwperm: XsPermissions = [{ id: domid, perms: "n" }];
  xenbusTransaction(toolstack, (tx) => {
    rmIgnoringEnoent(toolstack, dom, tx);
    toolstack.mkdir(dom, tx);
    toolstack.setPerms(dom, roperm, tx);
    for (const sub of ["device", "data", "error", "drivers", "feature", "attr"]) {
      toolstack.mkdir(`${dom}/${sub}`, tx);
      toolstack.setPerms(`${dom}/${sub}`, rwperm, tx);
    }
    toolstack.mkdir(`${dom}/control`, tx);
    toolstack.setPerms(`${dom}/control`, roperm, tx);
    toolstack.mkdir(`${dom}/control/shutdown`, tx);
    toolstack.setPerms(`${dom}/control/shutdown`, rwperm, tx);
    toolstack.write(`${dom}/name`, name, tx);
    toolstack.write(`${dom}/domid`, String(domid), tx);
  });
  toolstack.introduceDomain(domid);
  return dom;
}
