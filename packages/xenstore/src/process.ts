/**
 * One xs_wire request in, one reply out (oxenstored's process.ml; C xenstored's
 * process_message). Argument parsing follows libxenstore's encodings; every failure becomes an
 * XS_ERROR reply carrying the error's name and the request's req_id and tx_id.
 */
import type { Connection } from "./connection.js";
import { isXenstoreError, XenstoreError } from "./errors.js";
import { formatPermission, parsePermission } from "./perms.js";
import {
  latin1Bytes,
  latin1String,
  nulStrings,
  splitNulStrings,
  XENSTORE_PAYLOAD_MAX,
  XS_TYPE,
  type XsMessage,
} from "./wire.js";

/** Hooks the request processor calls: an access log and what XS_CONTROL `print` prints. */
export interface ProcessHooks {
  /** Access log: one line per request processed. */
  readonly log?: (line: string) => void;
}

const OK = nulStrings("OK");
const EMPTY = new Uint8Array(0);

/** The type names used in the access log. */
const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(XS_TYPE)
    .filter(([k]) => k !== "DEBUG")
    .map(([k, v]) => [v, k.toLowerCase()]),
);

function parseDomid(s: string): number {
  if (!/^[0-9]{1,5}$/.test(s)) throw new XenstoreError("EINVAL", `bad domain id '${s}'`);
  return Number(s);
}

/** The one path argument of READ, DIRECTORY, GET_PERMS, MKDIR and RM: nothing may follow its NUL. */
function onePath(payload: Uint8Array): string {
  return splitNulStrings(payload, 1)[0]!;
}

/** Build the XS_ERROR reply for a request. */
export function errorReply(req: { reqId: number; txId: number }, code: string): XsMessage {
  return { type: XS_TYPE.ERROR, reqId: req.reqId, txId: req.txId, payload: nulStrings(code) };
}

/** Process one request on `conn` and return its reply. Never throws for a client's mistake. */
export function processRequest(conn: Connection, msg: XsMessage, hooks: ProcessHooks = {}): XsMessage {
  const log = hooks.log;
  try {
    const payload = handle(conn, msg, log);
    if (payload.length > XENSTORE_PAYLOAD_MAX) throw new XenstoreError("E2BIG", "reply too large");
    log?.(`${conn.id} ${TYPE_NAMES[msg.type] ?? msg.type} tx=${msg.txId} ${describe(msg.payload)} ok`);
    return { type: msg.type, reqId: msg.reqId, txId: msg.txId, payload };
  } catch (err) {
    if (!isXenstoreError(err)) throw err;
    log?.(`${conn.id} ${TYPE_NAMES[msg.type] ?? msg.type} tx=${msg.txId} ${describe(msg.payload)} error ${err.code}`);
    return errorReply(msg, err.code);
  }
}

function handle(conn: Connection, msg: XsMessage, log: ((line: string) => void) | undefined): Uint8Array {
  const p = msg.payload;
  const tx = msg.txId;
  switch (msg.type) {
    case XS_TYPE.READ:
      return conn.readBytes(onePath(p), tx);
    case XS_TYPE.WRITE: {
      const nul = p.indexOf(0);
      if (nul < 0) throw new XenstoreError("EINVAL", "path not NUL-terminated");
      conn.write(latin1String(p, 0, nul), p.subarray(nul + 1), tx);
      return OK;
    }
    case XS_TYPE.MKDIR:
      conn.mkdir(onePath(p), tx);
      return OK;
    case XS_TYPE.RM:
      conn.rm(onePath(p), tx);
      return OK;
    case XS_TYPE.DIRECTORY: {
      const names = conn.directory(onePath(p), tx);
      return names.length === 0 ? EMPTY : nulStrings(...names);
    }
    case XS_TYPE.DIRECTORY_PART: {
      const [path, off] = splitNulStrings(p, 2);
      if (!/^[0-9]{1,10}$/.test(off!)) throw new XenstoreError("EINVAL", "bad offset");
      const part = conn.directoryPart(path!, Number(off), tx);
      return nulStrings(String(part.generation), ...part.children, ...(part.complete ? [""] : []));
    }
    case XS_TYPE.GET_PERMS:
      return nulStrings(...conn.getPerms(onePath(p), tx).map(formatPermission));
    case XS_TYPE.SET_PERMS: {
      const [path, ...perms] = splitNulStrings(p, 2, Number.POSITIVE_INFINITY);
      conn.setPerms(path!, perms.map(parsePermission), tx);
      return OK;
    }
    case XS_TYPE.WATCH: {
      const [path, token] = splitNulStrings(p, 2);
      conn.watch(path!, token!);
      return OK;
    }
    case XS_TYPE.UNWATCH: {
      const [path, token] = splitNulStrings(p, 2);
      conn.unwatch(path!, token!);
      return OK;
    }
    case XS_TYPE.RESET_WATCHES:
      // libxenstore sends "\0"; an empty payload is accepted too (oxenstored stalls on it).
      conn.resetWatches();
      return OK;
    case XS_TYPE.TRANSACTION_START:
      if (tx !== 0) {
        // Nested transactions do not exist; an unknown id is EIO as for any other request.
        conn.transactionIsOpen(tx);
        throw new XenstoreError("EBUSY", "already in a transaction");
      }
      if (p.length > 1 || (p.length === 1 && p[0] !== 0)) throw new XenstoreError("EINVAL", "unexpected argument");
      return nulStrings(String(conn.transactionStart()));
    case XS_TYPE.TRANSACTION_END: {
      const [arg] = splitNulStrings(p, 1);
      if (arg !== "T" && arg !== "F") throw new XenstoreError("EINVAL", `bad transaction end '${arg}'`);
      conn.transactionEnd(tx, arg === "T");
      return OK;
    }
    case XS_TYPE.GET_DOMAIN_PATH:
      return nulStrings(conn.getDomainPath(parseDomid(splitNulStrings(p, 1)[0]!)));
    case XS_TYPE.IS_DOMAIN_INTRODUCED:
      return nulStrings(conn.isDomainIntroduced(parseDomid(splitNulStrings(p, 1)[0]!)) ? "T" : "F");
    case XS_TYPE.INTRODUCE: {
      // "domid\0mfn\0port\0": there is no ring to map in this model, so only the domid counts.
      const [domid, mfn, port] = splitNulStrings(p, 3);
      if (!/^[0-9]{1,20}$/.test(mfn!) || !/^[0-9]{1,10}$/.test(port!)) throw new XenstoreError("EINVAL", "bad mfn or port");
      const id = parseDomid(domid!);
      if (id === 0) throw new XenstoreError("EINVAL", "dom0 cannot be introduced");
      conn.introduceDomain(id);
      return OK;
    }
    case XS_TYPE.RELEASE:
      conn.releaseDomain(parseDomid(splitNulStrings(p, 1)[0]!));
      return OK;
    case XS_TYPE.RESUME: {
      const id = parseDomid(splitNulStrings(p, 1)[0]!);
      if (!conn.privileged) throw new XenstoreError("EACCES", "privileged operation");
      if (!conn.isDomainIntroduced(id)) throw new XenstoreError("EINVAL", `domain ${id} not introduced`);
      return OK;
    }
    case XS_TYPE.SET_TARGET: {
      const [domid, target] = splitNulStrings(p, 2);
      conn.setTarget(parseDomid(domid!), parseDomid(target!));
      return OK;
    }
    case XS_TYPE.CONTROL: {
      // oxenstored answers OK to every control command; `print` goes to the log.
      if (!conn.privileged) throw new XenstoreError("EACCES", "privileged operation");
      const [cmd, ...args] = splitNulStrings(p, 1, Number.POSITIVE_INFINITY);
      if (cmd === "print") log?.(`${conn.id} control print ${args.join(" ")}`);
      return OK;
    }
    default:
      // Unknown types, and the server-to-client ones (WATCH_EVENT, ERROR) sent by a client.
      throw new XenstoreError("ENOSYS", `message type ${msg.type}`);
  }
}

/** The XS_WATCH_EVENT frame for an event: req_id and tx_id 0, payload "path\0token\0". */
export function watchEventMessage(path: string, token: string): XsMessage {
  return { type: XS_TYPE.WATCH_EVENT, reqId: 0, txId: 0, payload: latin1Bytes(`${path}\0${token}\0`) };
}

/** A request payload for the access log: NULs shown as spaces, cut at 64 characters. */
function describe(payload: Uint8Array): string {
  const s = latin1String(payload, 0, Math.min(payload.length, 64)).replace(/\0/g, " ").trimEnd();
  return payload.length > 64 ? `${s}...` : s;
}
