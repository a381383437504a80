/**
 * xs_wire: the message framing shared by the unix socket and the xenstore ring
 * (xen/include/public/io/xs_wire.h; oxenstored's lib/xb.ml and partial.ml).
 */
import { XenstoreError } from "./errors.js";

/** enum xsd_sockmsg_type (xs_wire.h). Value 20 is unused (a removed message type). */
export const XS_TYPE = Object.freeze({
  CONTROL: 0,
  DEBUG: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  TYPE_COUNT: 23,
  INVALID: 0xffff,
} as const);

/** struct xsd_sockmsg (xs_wire.h): four little-endian uint32 fields, then `len` payload bytes. */
export const XSD_SOCKMSG = Object.freeze({ SIZEOF: 16, TYPE: 0, REQ_ID: 4, TX_ID: 8, LEN: 12 });

/** XENSTORE_PAYLOAD_MAX (xs_wire.h): the largest `len` a message may carry, either way. */
export const XENSTORE_PAYLOAD_MAX = 4096;
/** XENSTORE_ABS_PATH_MAX (xs_wire.h): longest absolute path. */
export const XENSTORE_ABS_PATH_MAX = 3072;
/**
 * XENSTORE_REL_PATH_MAX (xs_wire.h): longest relative path. Both daemons apply it to the
 * canonical path less its `/local/domain/<domid>/` prefix (see `pathLimitLength`), so the longest
 * absolute path is that prefix plus this, well inside XENSTORE_ABS_PATH_MAX.
 */
export const XENSTORE_REL_PATH_MAX = 2048;

/** One decoded message: the xsd_sockmsg header fields and a payload it owns. */
export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

/** Encode one message (header + payload) into a new buffer. */
export function encodeMessage(msg: XsMessage): Uint8Array {
  const out = new Uint8Array(XSD_SOCKMSG.SIZEOF + msg.payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(XSD_SOCKMSG.TYPE, msg.type >>> 0, true);
  view.setUint32(XSD_SOCKMSG.REQ_ID, msg.reqId >>> 0, true);
  view.setUint32(XSD_SOCKMSG.TX_ID, msg.txId >>> 0, true);
  view.setUint32(XSD_SOCKMSG.LEN, msg.payload.length, true);
  out.set(msg.payload, XSD_SOCKMSG.SIZEOF);
  return out;
}

/** Bytes of a string, one byte per UTF-16 unit (latin1), so tokens round-trip byte for byte. */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** A string with one UTF-16 unit per byte (latin1): the inverse of `latin1Bytes`. */
export function latin1String(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = "";
  // Chunked so that String.fromCharCode never gets more arguments than the engine allows.
  for (let i = start; i < end; i += 1024) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 1024)));
  }
  return s;
}

/** A payload made of NUL-terminated strings (`"a\0b\0"`), as most requests and replies are. */
export function nulStrings(...parts: string[]): Uint8Array {
  return latin1Bytes(parts.map((p) => `${p}\0`).join(""));
}

/**
 * Split a payload into its NUL-terminated strings. Throws EINVAL when the payload does not end
 * with a NUL (a path without its NUL) or holds a different number of strings than expected.
 */
export function splitNulStrings(payload: Uint8Array, min: number, max = min): string[] {
  if (payload.length === 0 || payload[payload.length - 1] !== 0) {
    throw new XenstoreError("EINVAL", "argument not NUL-terminated");
  }
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      if (out.length === max) throw new XenstoreError("EINVAL", "too many arguments");
      out.push(latin1String(payload, start, i));
      start = i + 1;
    }
  }
  if (out.length < min) throw new XenstoreError("EINVAL", "too few arguments");
  return out;
}

/** What `XsFrameDecoder.push` reports besides whole messages. */
export interface XsFrameOversize {
  type: number;
  reqId: number;
  txId: number;
  len: number;
}

/**
 * Reassembles xsd_sockmsg frames from a byte stream (oxenstored's partial.ml). Holds at most one
 * header plus XENSTORE_PAYLOAD_MAX bytes; a header announcing more is reported once and the
 * decoder then refuses all further input (the stream can no longer be trusted to be in step).
 */
export class XsFrameDecoder {
  private readonly header = new Uint8Array(XSD_SOCKMSG.SIZEOF);
  private readonly headerView = new DataView(this.header.buffer);
  private headerHave = 0;
  private payload: Uint8Array | undefined;
  private payloadHave = 0;
  private broken = false;

  /** True after an oversized header: the connection must be closed. */
  get failed(): boolean {
    return this.broken;
  }

  /** Bytes of an unfinished frame held (0 between frames). */
  get pendingBytes(): number {
    return this.headerHave + this.payloadHave;
  }

  /** Feed bytes; calls `onMessage` per whole frame in order, `onOversize` at most once. */
  push(chunk: Uint8Array, onMessage: (msg: XsMessage) => void, onOversize: (hdr: XsFrameOversize) => void): void {
    let at = 0;
    while (at < chunk.length && !this.broken) {
      if (this.payload === undefined) {
        const take = Math.min(XSD_SOCKMSG.SIZEOF - this.headerHave, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerHave);
        this.headerHave += take;
        at += take;
        if (this.headerHave < XSD_SOCKMSG.SIZEOF) return;
        const len = this.headerView.getUint32(XSD_SOCKMSG.LEN, true);
        if (len > XENSTORE_PAYLOAD_MAX) {
          this.broken = true;
          onOversize({ ...this.readHeaderFields(), len });
          return;
        }
        this.payload = new Uint8Array(len);
        this.payloadHave = 0;
      }
      const take = Math.min(this.payload.length - this.payloadHave, chunk.length - at);
      this.payload.set(chunk.subarray(at, at + take), this.payloadHave);
      this.payloadHave += take;
      at += take;
      if (this.payloadHave === this.payload.length) {
        const msg: XsMessage = { ...this.readHeaderFields(), payload: this.payload };
        this.payload = undefined;
        this.payloadHave = 0;
        this.headerHave = 0;
        onMessage(msg);
      }
    }
  }

  private readHeaderFields(): { type: number; reqId: number; txId: number } {
    return {
      type: this.headerView.getUint32(XSD_SOCKMSG.TYPE, true),
      reqId: this.headerView.getUint32(XSD_SOCKMSG.REQ_ID, true),
      txId: this.headerView.getUint32(XSD_SOCKMSG.TX_ID, true),
    };
  }
}
