/**
 * Byte layouts and constants of xen/include/public/grant_table.h (x86_64), checked against
 * the repository's `abi/abi-facts.json` by the golden tests. One frozen object per C struct; offsets in
 * bytes; every multi-byte field little-endian.
 */
import { XEN_PAGE_SIZE } from "@pvnet/hypervisor";

/** grant_entry_v1_t (grant_table.h): 8 bytes in the granting domain's table frames. */
export const GRANT_ENTRY_V1 = Object.freeze({ SIZEOF: 8, FLAGS: 0, DOMID: 2, FRAME: 4 });

/** Grant entries v1 per 4 KiB table frame (GRANT_ENTRY_V1 per page). */
export const GREFS_PER_GRANT_FRAME = XEN_PAGE_SIZE / GRANT_ENTRY_V1.SIZEOF;

/** struct gnttab_map_grant_ref (GNTTABOP_map_grant_ref). */
export const GNTTAB_MAP_GRANT_REF = Object.freeze({
  SIZEOF: 32,
  HOST_ADDR: 0,
  FLAGS: 8,
  REF: 12,
  DOM: 16,
  STATUS: 18,
  HANDLE: 20,
  DEV_BUS_ADDR: 24,
});

/** struct gnttab_unmap_grant_ref (GNTTABOP_unmap_grant_ref). */
export const GNTTAB_UNMAP_GRANT_REF = Object.freeze({ SIZEOF: 24, HOST_ADDR: 0, DEV_BUS_ADDR: 8, HANDLE: 16, STATUS: 20 });

/** struct gnttab_copy_ptr: `u.ref` or `u.gmfn` (8 bytes on x86_64), domid, offset. */
export const GNTTAB_COPY_PTR = Object.freeze({ SIZEOF: 16, REF: 0, GMFN: 0, DOMID: 8, OFFSET: 10 });

/** struct gnttab_copy (GNTTABOP_copy). */
export const GNTTAB_COPY = Object.freeze({ SIZEOF: 40, SOURCE: 0, DEST: 16, LEN: 32, FLAGS: 34, STATUS: 36 });

/** GNTTABOP_* hypercall sub-ops. */
export const GNTTABOP = Object.freeze({
  map_grant_ref: 0,
  unmap_grant_ref: 1,
  setup_table: 2,
  dump_table: 3,
  transfer: 4,
  copy: 5,
  query_size: 6,
  unmap_and_replace: 7,
  set_version: 8,
  get_status_frames: 9,
  get_version: 10,
  swap_grant_ref: 11,
  cache_flush: 12,
});

/** GTF_* flags of a grant entry (low 16 bits of its first word). */
export const GTF = Object.freeze({
  invalid: 0,
  permit_access: 1,
  accept_transfer: 2,
  transitive: 3,
  type_mask: 3,
  readonly: 1 << 2,
  /** Set by Xen while the grantee has the frame mapped or is copying from/to it. */
  reading: 1 << 3,
  writing: 1 << 4,
  PWT: 1 << 5,
  PCD: 1 << 6,
  PAT: 1 << 7,
  sub_page: 1 << 8,
});

/** GNTMAP_* flags of a map request. */
export const GNTMAP = Object.freeze({
  device_map: 1 << 0,
  host_map: 1 << 1,
  readonly: 1 << 2,
  application_map: 1 << 3,
  contains_pte: 1 << 4,
});

/** GNTCOPY_* flags: which side of a copy is a grant reference (otherwise a frame of DOMID_SELF). */
export const GNTCOPY = Object.freeze({ source_gref: 1 << 0, dest_gref: 1 << 1 });

/** Reserved grant references (GNTTAB_NR_RESERVED_ENTRIES): console and xenstore rings. */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
/** GNTTAB_RESERVED_CONSOLE: the reference of the console ring page. */
export const GNTTAB_RESERVED_CONSOLE = 0;
/** GNTTAB_RESERVED_XENSTORE: the reference of the xenstore ring page. */
export const GNTTAB_RESERVED_XENSTORE = 1;

/** GNTST_* status codes, as returned in each op's `status` field. */
export const GNTST = Object.freeze({
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
  no_space: -13,
});

/** GNTTABOP_error_msgs: the message for status `s` is entry `-s`. */
export const GNTTABOP_ERROR_MSGS: readonly string[] = Object.freeze([
  "okay",
  "undefined error",
  "unrecognised domain id",
  "invalid grant reference",
  "invalid mapping handle",
  "invalid virtual address",
  "invalid device address",
  "no spare translation slot in the I/O MMU",
  "permission denied",
  "bad page",
  "copy arguments cross page boundary",
  "page address size too large",
  "operation not done; try again",
  "out of space",
]);

/** Message of a GNTST code (Linux gnttabop_error); "unknown status" outside the table. */
export function gnttabStatusMessage(status: number): string {
  return GNTTABOP_ERROR_MSGS[-status] ?? `unknown status ${status}`;
}

/**
 * Active-entry pin counts (xen/common/grant_table.c, struct active_grant_entry.pin): four 8-bit
 * counters in one word. Xen refuses a new pin when any counter reaches 0x80 (overflow guard).
 */
export const GNTPIN = Object.freeze({
  hstw_inc: 1 << 0,
  hstw_mask: 0xff << 0,
  hstr_inc: 1 << 8,
  hstr_mask: 0xff << 8,
  devw_inc: 1 << 16,
  devw_mask: 0xff << 16,
  devr_inc: 1 << 24,
  devr_mask: (0xff << 24) >>> 0,
  /**
   * The top bit of every counter. Xen refuses a new pin only when a counter it would increment has
   * this bit set (GNTPIN_incr2oflow_mask(inc) = inc << 7), not when any counter has.
   */
  overflow_mask: 0x80808080,
});

/** A grant entry v1 as read once from shared memory. */
export interface GrantEntryV1 {
  flags: number;
  domid: number;
  frame: number;
}

/** Read the grant entry at absolute byte offset `at` into `out` (setup and tests; Xen reads the flags+domid word atomically). */
export function readGrantEntryV1(view: DataView, at: number, out: GrantEntryV1): GrantEntryV1 {
  out.flags = view.getUint16(at + GRANT_ENTRY_V1.FLAGS, true);
  out.domid = view.getUint16(at + GRANT_ENTRY_V1.DOMID, true);
  out.frame = view.getUint32(at + GRANT_ENTRY_V1.FRAME, true);
  return out;
}

/** Fields of one GNTTABOP_copy op, for encoding into the real 40-byte struct. */
export interface GnttabCopyOp {
  /** Grant reference (when the GNTCOPY_*_gref flag is set) or gmfn. */
  sourceRef: number;
  sourceDomid: number;
  sourceOffset: number;
  destRef: number;
  destDomid: number;
  destOffset: number;
  len: number;
  flags: number;
  status: number;
}

/** Encode a gnttab_copy at absolute byte offset `at` (layout checks, guest-memory batches). */
export function writeGnttabCopy(view: DataView, at: number, op: GnttabCopyOp): void {
  writePtr(view, at + GNTTAB_COPY.SOURCE, op.sourceRef, op.sourceDomid, op.sourceOffset);
  writePtr(view, at + GNTTAB_COPY.DEST, op.destRef, op.destDomid, op.destOffset);
  view.setUint16(at + GNTTAB_COPY.LEN, op.len, true);
  view.setUint16(at + GNTTAB_COPY.FLAGS, op.flags, true);
  view.setInt16(at + GNTTAB_COPY.STATUS, op.status, true);
  view.setUint16(at + GNTTAB_COPY.STATUS + 2, 0, true); // tail padding to 8-byte alignment
}

/** Decode a gnttab_copy at absolute byte offset `at` into `out`. */
export function readGnttabCopy(view: DataView, at: number, out: GnttabCopyOp): GnttabCopyOp {
  out.sourceRef = readU64(view, at + GNTTAB_COPY.SOURCE + GNTTAB_COPY_PTR.GMFN);
  out.sourceDomid = view.getUint16(at + GNTTAB_COPY.SOURCE + GNTTAB_COPY_PTR.DOMID, true);
  out.sourceOffset = view.getUint16(at + GNTTAB_COPY.SOURCE + GNTTAB_COPY_PTR.OFFSET, true);
  out.destRef = readU64(view, at + GNTTAB_COPY.DEST + GNTTAB_COPY_PTR.GMFN);
  out.destDomid = view.getUint16(at + GNTTAB_COPY.DEST + GNTTAB_COPY_PTR.DOMID, true);
  out.destOffset = view.getUint16(at + GNTTAB_COPY.DEST + GNTTAB_COPY_PTR.OFFSET, true);
  out.len = view.getUint16(at + GNTTAB_COPY.LEN, true);
  out.flags = view.getUint16(at + GNTTAB_COPY.FLAGS, true);
  out.status = view.getInt16(at + GNTTAB_COPY.STATUS, true);
  return out;
}

function writePtr(view: DataView, at: number, refOrGmfn: number, domid: number, offset: number): void {
  writeU64(view, at + GNTTAB_COPY_PTR.GMFN, refOrGmfn);
  view.setUint16(at + GNTTAB_COPY_PTR.DOMID, domid, true);
  view.setUint16(at + GNTTAB_COPY_PTR.OFFSET, offset, true);
  view.setUint32(at + GNTTAB_COPY_PTR.OFFSET + 2, 0, true);
}

/** Fields of one GNTTABOP_map_grant_ref op. */
export interface GnttabMapOp {
  hostAddr: number;
  flags: number;
  ref: number;
  dom: number;
  status: number;
  handle: number;
  devBusAddr: number;
}

/** Encode a gnttab_map_grant_ref at absolute byte offset `at`. */
export function writeGnttabMapGrantRef(view: DataView, at: number, op: GnttabMapOp): void {
  writeU64(view, at + GNTTAB_MAP_GRANT_REF.HOST_ADDR, op.hostAddr);
  view.setUint32(at + GNTTAB_MAP_GRANT_REF.FLAGS, op.flags, true);
  view.setUint32(at + GNTTAB_MAP_GRANT_REF.REF, op.ref, true);
  view.setUint16(at + GNTTAB_MAP_GRANT_REF.DOM, op.dom, true);
  view.setInt16(at + GNTTAB_MAP_GRANT_REF.STATUS, op.status, true);
  view.setUint32(at + GNTTAB_MAP_GRANT_REF.HANDLE, op.handle >>> 0, true);
  writeU64(view, at + GNTTAB_MAP_GRANT_REF.DEV_BUS_ADDR, op.devBusAddr);
}

/** Decode a gnttab_map_grant_ref at absolute byte offset `at` into `out`. */
export function readGnttabMapGrantRef(view: DataView, at: number, out: GnttabMapOp): GnttabMapOp {
  out.hostAddr = readU64(view, at + GNTTAB_MAP_GRANT_REF.HOST_ADDR);
  out.flags = view.getUint32(at + GNTTAB_MAP_GRANT_REF.FLAGS, true);
  out.ref = view.getUint32(at + GNTTAB_MAP_GRANT_REF.REF, true);
  out.dom = view.getUint16(at + GNTTAB_MAP_GRANT_REF.DOM, true);
  out.status = view.getInt16(at + GNTTAB_MAP_GRANT_REF.STATUS, true);
  out.handle = view.getUint32(at + GNTTAB_MAP_GRANT_REF.HANDLE, true);
  out.devBusAddr = readU64(view, at + GNTTAB_MAP_GRANT_REF.DEV_BUS_ADDR);
  return out;
}

/** 64-bit fields hold addresses and frame numbers below 2^53: exact as JS numbers. */
function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / 0x100000000) >>> 0, true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
}

// Layouts checked against each other at load: a copy_ptr fits its slot, fields do not overlap.
if (GNTTAB_COPY.DEST - GNTTAB_COPY.SOURCE !== GNTTAB_COPY_PTR.SIZEOF || GREFS_PER_GRANT_FRAME !== 512) {
  throw new Error("grant_table.h layouts are inconsistent");
}
