/**
 * The tests' oracle: packets as chains of ring slots, the generic wire-rule layer of netif.h (netback's
 * xenvif_count_requests / xenvif_get_extras and netfront's xennet_get_responses apply the same
 * rules with their own reactions on top).
 *
 * TX: first request (its `size` is the WHOLE packet length); if it has NETTXF_extra_info, extra-info
 * slots follow, chained by XEN_NETIF_EXTRA_FLAG_MORE; then one request per further fragment while
 * the previous fragment had NETTXF_more_data. The first fragment's own length is the total minus
 * the later fragments' sizes. RX: the same shape with responses, where each fragment's `status` is
 * its byte count (negative: NETIF_RSP_*), so the packet length is the sum.
 *
 * Parsers read each slot once through a reader into preallocated objects and fill a caller-owned
 * result: they allocate nothing. Builders (for tests and simple producers) allocate their output.
 */
import type { BackRing, FrontRing } from "@pvnet/shared-ring";
import {
  type NetifExtraInfo,
  type NetifRxResponse,
  type NetifTxRequest,
  newExtraInfo,
  newRxResponse,
  newTxRequest,
  readExtraInfo,
  readRxResponse,
  readTxRequest,
  writeExtraInfo,
  writeRxResponse,
  writeTxRequest,
} from "../src/accessors.js";
import {
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_MAX,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
} from "../src/constants.js";

/** Bytes of a granted page: a fragment may not run past its page (XEN_PAGE_SIZE). */
export const NETIF_PAGE_SIZE = 4096;

/** Why a chain is malformed ("ok" when it is not). */
export type NetifChainReason =
  | "ok"
  /** The chain runs past the slots available (more_data / FLAG_MORE on the last one). */
  | "incomplete"
  /** An extra-info slot's type is NONE or >= the extra-type limit. */
  | "extra-type-invalid"
  /** More fragment slots than the slot limit. */
  | "too-many-slots"
  /** TX: later fragments add up to more than the first request's total size. */
  | "size-underflow"
  /** A fragment's offset + length runs past its 4096-byte page. */
  | "crosses-page"
  /** RX: a fragment's status is negative (NETIF_RSP_*). */
  | "error-status"
  /** Builders: packet longer than the size field can carry, or no fragment. */
  | "bad-length";

/** Result of a parse (caller-owned; filled in place). */
export interface NetifChain {
  reason: NetifChainReason;
  /** Slots the packet occupies (fragments + extras); up to the slots available when incomplete. */
  slots: number;
  /** Fragment slots (requests or responses), the first one included. */
  fragments: number;
  extras: number;
  /** Bit `t` set when an extra of type `t` was seen. */
  extraTypes: number;
  /** First slot's flags. */
  flags: number;
  /** TX: the first request's size; RX: the sum of the fragments' byte counts. */
  totalLength: number;
  /** Bytes in the first fragment (TX: total minus the later fragments). */
  firstFragmentLength: number;
  /** Position (0-based, from the first slot) of the slot that made the chain malformed, or -1. */
  badSlot: number;
}

export const newNetifChain = (): NetifChain => ({
  reason: "ok",
  slots: 0,
  fragments: 0,
  extras: 0,
  extraTypes: 0,
  flags: 0,
  totalLength: 0,
  firstFragmentLength: 0,
  badSlot: -1,
});

/** Limits a parse applies. */
export interface NetifChainLimits {
  /** Most fragment slots per packet: XEN_NETIF_NR_SLOTS_MIN unless a larger limit was negotiated. */
  maxSlots: number;
  /** Extra types valid are 1 .. extraTypeMax - 1 (XEN_NETIF_EXTRA_TYPE_MAX, or _MAX_WITH_XDP). */
  extraTypeMax: number;
}
export const DEFAULT_CHAIN_LIMITS: NetifChainLimits = Object.freeze({ maxSlots: XEN_NETIF_NR_SLOTS_MIN, extraTypeMax: XEN_NETIF_EXTRA_TYPE_MAX });

/** Reads tx slot `index` (a ring index: wraps at 2^32) as a request or as an extra-info. */
export interface TxSlotReader {
  readRequest(index: number, out: NetifTxRequest): void;
  readExtra(index: number, out: NetifExtraInfo): void;
}
/** Reads rx slot `index` as a response or as an extra-info. */
export interface RxSlotReader {
  readResponse(index: number, out: NetifRxResponse): void;
  readExtra(index: number, out: NetifExtraInfo): void;
}

function reset(out: NetifChain): void {
  out.reason = "ok";
  out.slots = 0;
  out.fragments = 0;
  out.extras = 0;
  out.extraTypes = 0;
  out.flags = 0;
  out.totalLength = 0;
  out.firstFragmentLength = 0;
  out.badSlot = -1;
}
function flag(out: NetifChain, reason: NetifChainReason, slot: number): void {
  if (out.reason === "ok") {
    out.reason = reason;
    out.badSlot = slot;
  }
}

/** Reads the extras after slot k (FLAG_MORE chain); returns the last slot used, or -1 to stop. */
function parseExtras(reader: { readExtra(index: number, out: NetifExtraInfo): void }, extra: NetifExtraInfo, first: number, available: number, limits: NetifChainLimits, out: NetifChain): number {
  let k = 0;
  do {
    k++;
    if (k >= available) {
      flag(out, "incomplete", k);
      out.slots = available;
      return -1;
    }
    reader.readExtra((first + k) >>> 0, extra);
    out.extras++;
    if (extra.type === 0 || extra.type >= limits.extraTypeMax) {
      // Without a valid type the rest of the chain cannot be trusted: stop here (netback: fatal).
      flag(out, "extra-type-invalid", k);
      out.slots = k + 1;
      return -1;
    }
    out.extraTypes |= 1 << extra.type;
  } while (extra.flags & XEN_NETIF_EXTRA_FLAG_MORE);
  return k;
}

const txReq = newTxRequest();
const txExtra = newExtraInfo();
const rxRsp = newRxResponse();
const rxExtra = newExtraInfo();

/**
 * Parse the tx packet starting at ring index `first`, with `available` slots readable (e.g.
 * `back.unconsumedRequests()`). Reads each slot once; fills `out` and returns it. Scanning goes
 * on past a size or page error to find where the packet ends (so it can be answered and skipped);
 * it stops at an invalid extra or at the end of the available slots.
 */
export function parseTxChain(reader: TxSlotReader, first: number, available: number, out: NetifChain, limits: NetifChainLimits = DEFAULT_CHAIN_LIMITS): NetifChain {
  reset(out);
  if (available < 1) {
    flag(out, "incomplete", 0);
    return out;
  }
  reader.readRequest(first >>> 0, txReq);
  const firstOffset = txReq.offset;
  out.flags = txReq.flags;
  out.totalLength = txReq.size;
  out.fragments = 1;
  let k = 0;
  if (txReq.flags & NETTXF_extra_info) {
    k = parseExtras(reader, txExtra, first, available, limits, out);
    if (k < 0) return out;
  }
  let remaining = out.totalLength;
  let more = out.flags & NETTXF_more_data;
  while (more) {
    k++;
    if (k >= available) {
      flag(out, "incomplete", k);
      out.slots = available;
      return out;
    }
    reader.readRequest((first + k) >>> 0, txReq);
    out.fragments++;
    if (out.fragments > limits.maxSlots) flag(out, "too-many-slots", k);
    if (txReq.size > remaining) {
      flag(out, "size-underflow", k);
      remaining = 0;
    } else {
      remaining -= txReq.size;
    }
    if (txReq.offset + txReq.size > NETIF_PAGE_SIZE) flag(out, "crosses-page", k);
    more = txReq.flags & NETTXF_more_data;
  }
  out.slots = k + 1;
  out.firstFragmentLength = remaining;
  if (firstOffset + remaining > NETIF_PAGE_SIZE) flag(out, "crosses-page", 0);
  return out;
}

/** Account one rx fragment response (in `rxRsp`) at chain position `k`. */
function rxFragment(out: NetifChain, k: number): void {
  if (rxRsp.status < 0) {
    flag(out, "error-status", k);
  } else {
    if (rxRsp.offset + rxRsp.status > NETIF_PAGE_SIZE) flag(out, "crosses-page", k);
    out.totalLength += rxRsp.status;
  }
}

/**
 * Parse the rx packet starting at ring index `first` of the responses, `available` readable
 * (e.g. `front.unconsumedResponses()`). Same scanning rules as `parseTxChain`.
 */
export function parseRxChain(reader: RxSlotReader, first: number, available: number, out: NetifChain, limits: NetifChainLimits = DEFAULT_CHAIN_LIMITS): NetifChain {
  reset(out);
  if (available < 1) {
    flag(out, "incomplete", 0);
    return out;
  }
  reader.readResponse(first >>> 0, rxRsp);
  out.flags = rxRsp.flags;
  out.fragments = 1;
  rxFragment(out, 0);
  out.firstFragmentLength = Math.max(rxRsp.status, 0);
  let more = rxRsp.flags & NETRXF_more_data;
  let k = 0;
  if (rxRsp.flags & NETRXF_extra_info) {
    k = parseExtras(reader, rxExtra, first, available, limits, out);
    if (k < 0) return out;
  }
  while (more) {
    k++;
    if (k >= available) {
      flag(out, "incomplete", k);
      out.slots = available;
      return out;
    }
    reader.readResponse((first + k) >>> 0, rxRsp);
    out.fragments++;
    if (out.fragments > limits.maxSlots) flag(out, "too-many-slots", k);
    rxFragment(out, k);
    more = rxRsp.flags & NETRXF_more_data;
  }
  out.slots = k + 1;
  return out;
}

/** One slot of a built chain. */
export type TxChainSlot = { kind: "request"; req: NetifTxRequest } | { kind: "extra"; extra: NetifExtraInfo };
export type RxChainSlot = { kind: "response"; rsp: NetifRxResponse } | { kind: "extra"; extra: NetifExtraInfo };

/** A piece of a packet in one granted page. */
export interface NetifChunk {
  gref: number;
  /** Where the data starts in the page. */
  offset: number;
  length: number;
  /** The slot's id (TX: request id; RX: response id). */
  id: number;
}

export type BuildResult<S> = { ok: true; slots: S[] } | { ok: false; reason: NetifChainReason; index: number };

function checkChunks(chunks: readonly NetifChunk[], maxSlots: number): BuildResult<never> | undefined {
  if (chunks.length === 0) return { ok: false, reason: "bad-length", index: -1 };
  if (chunks.length > maxSlots) return { ok: false, reason: "too-many-slots", index: maxSlots };
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as NetifChunk;
    if (!Number.isInteger(c.length) || c.length < 0 || !Number.isInteger(c.offset) || c.offset < 0) return { ok: false, reason: "bad-length", index: i };
    if (c.offset + c.length > NETIF_PAGE_SIZE) return { ok: false, reason: "crosses-page", index: i };
  }
  return undefined;
}
function checkExtras(extras: readonly NetifExtraInfo[], extraTypeMax: number): BuildResult<never> | undefined {
  for (let i = 0; i < extras.length; i++) {
    const t = (extras[i] as NetifExtraInfo).type;
    if (t === 0 || t >= extraTypeMax) return { ok: false, reason: "extra-type-invalid", index: i };
  }
  return undefined;
}
function chainExtras(extras: readonly NetifExtraInfo[]): NetifExtraInfo[] {
  return extras.map((e, i) => ({
    ...e,
    mcastAddr: Uint8Array.from(e.mcastAddr),
    flags: i < extras.length - 1 ? e.flags | XEN_NETIF_EXTRA_FLAG_MORE : e.flags & ~XEN_NETIF_EXTRA_FLAG_MORE,
  }));
}

/**
 * Build the tx request chain of one packet: `chunks` in order (the first is the linear part),
 * `flags` for the first request (NETTXF_csum_blank / data_validated; more_data and extra_info are
 * set here), then `extras`. Rejects, with a reason, what the wire cannot carry. Allocates.
 */
export function buildTxChain(chunks: readonly NetifChunk[], flags: number, extras: readonly NetifExtraInfo[] = [], limits: NetifChainLimits = DEFAULT_CHAIN_LIMITS): BuildResult<TxChainSlot> {
  const bad = checkChunks(chunks, limits.maxSlots) ?? checkExtras(extras, limits.extraTypeMax);
  if (bad) return bad;
  let total = 0;
  for (const c of chunks) total += c.length;
  if (total > XEN_NETIF_MAX_TX_SIZE) return { ok: false, reason: "bad-length", index: 0 };
  const slots: TxChainSlot[] = [];
  chunks.forEach((c, i) => {
    const more = i < chunks.length - 1 ? NETTXF_more_data : 0;
    const f = i === 0 ? (flags & ~(NETTXF_more_data | NETTXF_extra_info)) | more | (extras.length > 0 ? NETTXF_extra_info : 0) : more;
    slots.push({ kind: "request", req: { gref: c.gref, offset: c.offset, flags: f, id: c.id, size: i === 0 ? total : c.length } });
    if (i === 0) for (const extra of chainExtras(extras)) slots.push({ kind: "extra", extra });
  });
  return { ok: true, slots };
}

/**
 * Build the rx response chain of one packet: each chunk's `length` becomes its status, `flags`
 * (NETRXF_data_validated / csum_blank) go on the first response with more_data / extra_info set
 * here, extras follow the first response. Allocates.
 */
export function buildRxChain(chunks: readonly NetifChunk[], flags: number, extras: readonly NetifExtraInfo[] = [], limits: NetifChainLimits = DEFAULT_CHAIN_LIMITS): BuildResult<RxChainSlot> {
  const bad = checkChunks(chunks, limits.maxSlots) ?? checkExtras(extras, limits.extraTypeMax);
  if (bad) return bad;
  // status is int16: a fragment fits a page, so it is always positive (<= 4096).
  const slots: RxChainSlot[] = [];
  chunks.forEach((c, i) => {
    const more = i < chunks.length - 1 ? NETRXF_more_data : 0;
    const f = i === 0 ? (flags & ~(NETRXF_more_data | NETRXF_extra_info)) | more | (extras.length > 0 ? NETRXF_extra_info : 0) : more;
    slots.push({ kind: "response", rsp: { id: c.id, offset: c.offset, flags: f, status: c.length } });
    if (i === 0) for (const extra of chainExtras(extras)) slots.push({ kind: "extra", extra });
  });
  return { ok: true, slots };
}

/** 12 bytes, one tx slot (the union netif_tx_sring_entry), for the array readers. */
const txScratch = new DataView(new ArrayBuffer(12));
const rxScratch = new DataView(new ArrayBuffer(8));

/**
 * A reader over built tx slots, indexed from `base`: each slot is encoded as the wire would carry
 * it and decoded as the parser asks (a request read as an extra sees the request's bytes).
 */
export function txSlotsFromArray(slots: readonly TxChainSlot[], base = 0): TxSlotReader {
  const encode = (index: number) => {
    const s = slots[(index - base) >>> 0];
    for (let i = 0; i < 12; i++) txScratch.setUint8(i, 0);
    if (s?.kind === "request") writeTxRequest(txScratch, 0, s.req);
    else if (s?.kind === "extra") writeExtraInfo(txScratch, 0, s.extra);
  };
  return {
    readRequest: (index, out) => {
      encode(index);
      readTxRequest(txScratch, 0, out);
    },
    readExtra: (index, out) => {
      encode(index);
      readExtraInfo(txScratch, 0, out);
    },
  };
}

/** A reader over built rx slots, indexed from `base` (see `txSlotsFromArray`). */
export function rxSlotsFromArray(slots: readonly RxChainSlot[], base = 0): RxSlotReader {
  const encode = (index: number) => {
    const s = slots[(index - base) >>> 0];
    for (let i = 0; i < 8; i++) rxScratch.setUint8(i, 0);
    if (s?.kind === "response") writeRxResponse(rxScratch, 0, s.rsp);
    else if (s?.kind === "extra") writeExtraInfo(rxScratch, 0, s.extra);
  };
  return {
    readResponse: (index, out) => {
      encode(index);
      readRxResponse(rxScratch, 0, out);
    },
    readExtra: (index, out) => {
      encode(index);
      readExtraInfo(rxScratch, 0, out);
    },
  };
}

/** The back end's tx reader: each slot copied out once (RING_COPY_REQUEST). */
export function txSlotsFromRing(back: BackRing): TxSlotReader {
  return {
    readRequest: (index, out) => {
      back.copyRequest(index, readTxRequest, out);
    },
    readExtra: (index, out) => {
      back.copyRequest(index, readExtraInfo, out);
    },
  };
}

/** The front end's rx reader: each response copied out once (RING_COPY_RESPONSE). */
export function rxSlotsFromRing(front: FrontRing): RxSlotReader {
  return {
    readResponse: (index, out) => {
      front.copyResponse(index, readRxResponse, out);
    },
    readExtra: (index, out) => {
      front.copyResponse(index, readExtraInfo, out);
    },
  };
}
