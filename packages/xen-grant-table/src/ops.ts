/**
 * Preallocated operation batches for GNTTABOP_map_grant_ref, unmap_grant_ref and copy, like
 * netback's `tx_map_ops` / `tx_copy_ops`: one typed array per struct field (struct of arrays), a
 * fixed capacity, `add()` fills the next slot and the hypercall writes `status` (and handle /
 * dev_bus_addr). Nothing is allocated per op. Values are stored with C's conversions (a ref of -1
 * becomes 0xffffffff, an offset is truncated to 16 bits), so bad input reaches the hypervisor
 * exactly as a guest could send it.
 */

/** Batch capacity netback uses for its TX copy and map arrays (MAX_PENDING_REQS). */
export const MAX_PENDING_REQS = 256;

function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 16) throw new RangeError(`bad batch capacity ${capacity}`);
}

/** Slots of struct gnttab_map_grant_ref. */
export class GnttabMapBatch {
  count = 0;
  readonly hostAddr: Float64Array;
  readonly flags: Uint32Array;
  readonly ref: Uint32Array;
  readonly dom: Uint16Array;
  /** OUT: GNTST_* per op. */
  readonly status: Int16Array;
  /** OUT: maptrack handle per op (valid when status is GNTST_okay). */
  readonly handle: Uint32Array;
  /** OUT: machine address of the frame. */
  readonly devBusAddr: Float64Array;

  constructor(readonly capacity: number) {
    checkCapacity(capacity);
    this.hostAddr = new Float64Array(capacity);
    this.flags = new Uint32Array(capacity);
    this.ref = new Uint32Array(capacity);
    this.dom = new Uint16Array(capacity);
    this.status = new Int16Array(capacity);
    this.handle = new Uint32Array(capacity);
    this.devBusAddr = new Float64Array(capacity);
  }

  /** gnttab_set_map_op: append one op; returns its index. A full batch is the caller's bug. */
  add(hostAddr: number, flags: number, ref: number, dom: number): number {
    const i = this.count;
    if (i >= this.capacity) throw new RangeError(`map batch full (${this.capacity} ops)`);
    this.hostAddr[i] = hostAddr;
    this.flags[i] = flags;
    this.ref[i] = ref;
    this.dom[i] = dom;
    this.status[i] = 0;
    this.handle[i] = 0xffffffff;
    this.devBusAddr[i] = 0;
    this.count = i + 1;
    return i;
  }

  /** Empty the batch for reuse (its arrays are kept). */
  clear(): void {
    this.count = 0;
  }
}

/** Slots of struct gnttab_unmap_grant_ref. */
export class GnttabUnmapBatch {
  count = 0;
  readonly hostAddr: Float64Array;
  readonly devBusAddr: Float64Array;
  readonly handle: Uint32Array;
  readonly status: Int16Array;

  constructor(readonly capacity: number) {
    checkCapacity(capacity);
    this.hostAddr = new Float64Array(capacity);
    this.devBusAddr = new Float64Array(capacity);
    this.handle = new Uint32Array(capacity);
    this.status = new Int16Array(capacity);
  }

  /** gnttab_set_unmap_op: append one op (host_addr of a host mapping, dev_bus_addr of a device one). */
  add(hostAddr: number, handle: number, devBusAddr = 0): number {
    const i = this.count;
    if (i >= this.capacity) throw new RangeError(`unmap batch full (${this.capacity} ops)`);
    this.hostAddr[i] = hostAddr;
    this.devBusAddr[i] = devBusAddr;
    this.handle[i] = handle;
    this.status[i] = 0;
    this.count = i + 1;
    return i;
  }

  /** Empty the batch for reuse (its arrays are kept). */
  clear(): void {
    this.count = 0;
  }
}

/** Slots of struct gnttab_copy. */
export class GnttabCopyBatch {
  count = 0;
  /** source.u: a grant ref (GNTCOPY_source_gref) or a gmfn of the caller. */
  readonly sourceRef: Float64Array;
  readonly sourceDomid: Uint16Array;
  readonly sourceOffset: Uint16Array;
  /** dest.u: a grant ref (GNTCOPY_dest_gref) or a gmfn of the caller. */
  readonly destRef: Float64Array;
  readonly destDomid: Uint16Array;
  readonly destOffset: Uint16Array;
  readonly len: Uint16Array;
  readonly flags: Uint16Array;
  readonly status: Int16Array;

  constructor(readonly capacity: number) {
    checkCapacity(capacity);
    this.sourceRef = new Float64Array(capacity);
    this.sourceDomid = new Uint16Array(capacity);
    this.sourceOffset = new Uint16Array(capacity);
    this.destRef = new Float64Array(capacity);
    this.destDomid = new Uint16Array(capacity);
    this.destOffset = new Uint16Array(capacity);
    this.len = new Uint16Array(capacity);
    this.flags = new Uint16Array(capacity);
    this.status = new Int16Array(capacity);
  }

  /** Append one copy op; returns its index. A full batch is the caller's bug. */
  add(
    sourceRef: number,
    sourceDomid: number,
    sourceOffset: number,
    destRef: number,
    destDomid: number,
    destOffset: number,
    len: number,
    flags: number,
  ): number {
    const i = this.count;
    if (i >= this.capacity) throw new RangeError(`copy batch full (${this.capacity} ops)`);
    this.sourceRef[i] = sourceRef;
    this.sourceDomid[i] = sourceDomid;
    this.sourceOffset[i] = sourceOffset;
    this.destRef[i] = destRef;
    this.destDomid[i] = destDomid;
    this.destOffset[i] = destOffset;
    this.len[i] = len;
    this.flags[i] = flags;
    this.status[i] = 0;
    this.count = i + 1;
    return i;
  }

  /** Empty the batch for reuse (its arrays are kept). */
  clear(): void {
    this.count = 0;
  }
}
