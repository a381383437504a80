/**
 * The guest side of grant tables v1 (Linux drivers/xen/grant-table.c): the domain's table frames
 * (set up with GNTTABOP_setup_table), the free list of grant references with its private-list API
 * (gnttab_alloc_grant_references / claim / release / free), granting and ending foreign access.
 *
 * Entries are written as Linux writes them: frame and domid first, then the flags after a write
 * barrier (an Atomics store), so the hypervisor never sees a valid type with a stale frame; access
 * is ended by a compare-and-swap of the flags to 0 that fails while GTF_reading/GTF_writing are set.
 */
import type { Domain, Machine, Vcpu } from "@pvnet/hypervisor";
import { GrantTableError } from "./errors.js";
import type { GrantTables } from "./grant-table.js";
import { GNTST, GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRY_V1, GREFS_PER_GRANT_FRAME, GTF } from "./layout.js";

/** End of a grant-reference list (GNTTAB_LIST_END). */
export const GNTTAB_LIST_END = -1;

/** Linux errno returned when no reference is free and the table cannot grow (-ENOSPC). */
export const ENOSPC = -28;

/** Table frames a guest starts with (Linux: gnttab_init maps 1 frame and expands on demand). */
export const INITIAL_NR_GRANT_FRAMES = 1;

/** A private list of grant references (Linux passes a `grant_ref_t *head`). */
export interface GrantRefHead {
  head: number;
}

/** The guest's grant-table limits: frames mapped at start and the most it may grow to. */
export interface GnttabGuestOptions {
  /** Table frames mapped at start. */
  readonly initialFrames?: number;
  /** Frames the table may grow to (at most the hypervisor's max_grant_frames). */
  readonly maxFrames?: number;
}

/**
 * A guest's grant-table driver (Linux drivers/xen/grant-table.c): the free list of grant
 * references, granting and ending foreign access, with the table in the guest's own frames.
 */
export class GnttabGuest {
  readonly domain: Domain;
  private readonly machine: Machine;
  readonly maxFrames: number;
  private nrFrames = 0;
  /** Absolute byte offset of each table frame. */
  private readonly frameBase: Float64Array;
  private readonly frameList: Int32Array;
  /** gnttab_list: next free reference, or the next in a private list. */
  private readonly next: Int32Array;
  private freeHead = GNTTAB_LIST_END;
  private freeCountValue = 0;
  /** 1 while a reference is on the global free list (catches double frees). */
  private readonly isFree: Uint8Array;
  /** References whose access could not be ended yet (gnttab_add_deferred). */
  private readonly deferred: number[] = [];
  private readonly isDeferred: Uint8Array;

  constructor(
    private readonly gt: GrantTables,
    /** The VCPU issuing the guest's grant-table hypercalls. */
    private readonly vcpu: Vcpu,
    options: GnttabGuestOptions = {},
  ) {
    this.domain = vcpu.domain;
    this.machine = gt.machine;
    this.maxFrames = Math.min(options.maxFrames ?? gt.maxGrantFrames, gt.maxGrantFrames);
    const initial = options.initialFrames ?? INITIAL_NR_GRANT_FRAMES;
    if (!Number.isInteger(initial) || initial < 1 || initial > this.maxFrames) throw new RangeError(`bad initial grant frames ${initial}`);
    this.frameBase = new Float64Array(this.maxFrames);
    this.frameList = new Int32Array(this.maxFrames);
    const entries = this.maxFrames * GREFS_PER_GRANT_FRAME;
    this.next = new Int32Array(entries).fill(GNTTAB_LIST_END);
    this.isFree = new Uint8Array(entries);
    this.isDeferred = new Uint8Array(entries);
    if (this.expand(initial) !== 0) throw new GrantTableError("EINVAL", `d${this.domain.domid}: could not set up ${initial} grant frames`);
  }

  /** Grant references the table holds now. */
  get nrEntries(): number {
    return this.nrFrames * GREFS_PER_GRANT_FRAME;
  }

  /** Grant references on the free list (gnttab_free_count). */
  get freeCount(): number {
    return this.freeCountValue;
  }

  /** The gfns of the table frames, for checks. */
  tableFrames(): number[] {
    return Array.from(this.frameList.subarray(0, this.nrFrames));
  }

  /** gnttab_expand: grow by `extra` frames through GNTTABOP_setup_table; 0 or -ENOSPC. */
  private expand(extra: number): number {
    const want = this.nrFrames + extra;
    if (want > this.maxFrames) return ENOSPC;
    if (this.gt.setupTable(this.vcpu, want, this.frameList) !== GNTST.okay) return ENOSPC;
    for (let f = this.nrFrames; f < want; f++) this.frameBase[f] = this.domain.pageOffset(this.frameList[f] as number);
    // grow_gnttab_list: new references go to the free list (the reserved ones never do).
    const first = this.nrFrames * GREFS_PER_GRANT_FRAME;
    this.nrFrames = want;
    for (let ref = this.nrEntries - 1; ref >= Math.max(first, GNTTAB_NR_RESERVED_ENTRIES); ref--) this.putFreeEntry(ref);
    return 0;
  }

  private putFreeEntry(ref: number): void {
    this.next[ref] = this.freeHead;
    this.freeHead = ref;
    this.isFree[ref] = 1;
    this.freeCountValue++;
  }

  /** get_free_entries: unlink `count` references as a private list; its head, or -ENOSPC. */
  private getFreeEntries(count: number): number {
    if (this.freeCountValue < count) {
      const extra = Math.ceil((count - this.freeCountValue) / GREFS_PER_GRANT_FRAME);
      if (this.expand(extra) !== 0) return ENOSPC;
    }
    const first = this.freeHead;
    let last = first;
    this.isFree[last] = 0;
    for (let i = 1; i < count; i++) {
      last = this.next[last] as number;
      this.isFree[last] = 0;
    }
    this.freeHead = this.next[last] as number;
    this.next[last] = GNTTAB_LIST_END;
    this.freeCountValue -= count;
    return first;
  }

  private checkRef(ref: number): void {
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.nrEntries) throw new GrantTableError("EINVAL", `grant ref ${ref} outside d${this.domain.domid}'s table of ${this.nrEntries}`);
  }

  /** Absolute byte offset of entry `ref`. */
  entryOffset(ref: number): number {
    this.checkRef(ref);
    return (this.frameBase[(ref / GREFS_PER_GRANT_FRAME) | 0] as number) + (ref % GREFS_PER_GRANT_FRAME) * GRANT_ENTRY_V1.SIZEOF;
  }

  // ------------------------------------------------------------------ reference allocator

  /** gnttab_alloc_grant_references: reserve `count` references into `head`; 0 or -ENOSPC. */
  allocGrantReferences(count: number, head: GrantRefHead): number {
    if (!Number.isInteger(count) || count < 1) throw new GrantTableError("EINVAL", `bad reference count ${count}`);
    const h = this.getFreeEntries(count);
    if (h < 0) return h;
    head.head = h;
    return 0;
  }

  /** gnttab_claim_grant_reference: take one reference of a private list; it or -ENOSPC. */
  claimGrantReference(head: GrantRefHead): number {
    const g = head.head;
    if (g === GNTTAB_LIST_END) return ENOSPC;
    head.head = this.next[g] as number;
    return g;
  }

  /** gnttab_release_grant_reference: give a claimed reference back to the private list. */
  releaseGrantReference(head: GrantRefHead, ref: number): void {
    this.checkRef(ref);
    if (this.isFree[ref]) throw new GrantTableError("EINVAL", `grant ref ${ref} is already free`);
    this.next[ref] = head.head;
    head.head = ref;
  }

  /** gnttab_free_grant_references: return a whole private list to the free list. */
  freeGrantReferences(head: GrantRefHead): void {
    let ref = head.head;
    // Bounded: a list cannot hold more references than the table.
    for (let n = 0; ref !== GNTTAB_LIST_END && n < this.nrEntries; n++) {
      const nxt = this.next[ref] as number;
      if (this.isFree[ref]) throw new GrantTableError("EINVAL", `grant ref ${ref} is already free`);
      this.putFreeEntry(ref);
      ref = nxt;
    }
    head.head = GNTTAB_LIST_END;
  }

  /** gnttab_free_grant_reference: put one reference back on the free list. */
  freeGrantReference(ref: number): void {
    this.checkRef(ref);
    if (ref < GNTTAB_NR_RESERVED_ENTRIES || this.isFree[ref] || this.isDeferred[ref]) throw new GrantTableError("EINVAL", `grant ref ${ref} cannot be freed`);
    this.putFreeEntry(ref);
  }

  // ------------------------------------------------------------------ foreign access

  /** gnttab_grant_foreign_access_ref (gnttab_update_entry_v1): let `domid` access `gfn`. */
  grantForeignAccessRef(ref: number, domid: number, gfn: number, readonly: boolean): void {
    const at = this.entryOffset(ref);
    const view = this.machine.view;
    view.setUint16(at + GRANT_ENTRY_V1.DOMID, domid, true);
    view.setUint32(at + GRANT_ENTRY_V1.FRAME, gfn, true);
    // wmb(): flags last, with a store the hypervisor (any thread) sees after domid and frame.
    Atomics.store(this.machine.u16, at >>> 1, GTF.permit_access | (readonly ? GTF.readonly : 0));
  }

  /** gnttab_grant_foreign_access: take a free reference and grant it; the ref or -ENOSPC. */
  grantForeignAccess(domid: number, gfn: number, readonly: boolean): number {
    const ref = this.getFreeEntries(1);
    if (ref < 0) return ref;
    this.grantForeignAccessRef(ref, domid, gfn, readonly);
    return ref;
  }

  /** gnttab_query_foreign_access: GTF_reading|GTF_writing bits (non-zero while in use). */
  queryForeignAccess(ref: number): number {
    return Atomics.load(this.machine.u16, this.entryOffset(ref) >>> 1) & (GTF.reading | GTF.writing);
  }

  /**
   * gnttab_end_foreign_access_ref: revoke the grant by a compare-and-swap of its flags to 0, only
   * if it is not in use. False (refused) while the grantee maps it or copies from/to it.
   */
  endForeignAccessRef(ref: number): boolean {
    const u16 = this.machine.u16;
    const idx = this.entryOffset(ref) >>> 1;
    let flags = Atomics.load(u16, idx);
    for (;;) {
      if (flags & (GTF.reading | GTF.writing)) return false;
      const prev = Atomics.compareExchange(u16, idx, flags, 0);
      if (prev === flags) return true;
      flags = prev;
    }
  }

  /**
   * gnttab_end_foreign_access: end access and free the reference; if the grant is still in use the
   * reference is deferred (gnttab_add_deferred) and freed by a later `handleDeferred()`.
   * Returns true when the reference was freed now.
   */
  endForeignAccess(ref: number): boolean {
    this.checkRef(ref);
    if (this.isFree[ref] || this.isDeferred[ref]) throw new GrantTableError("EINVAL", `grant ref ${ref} is not in use`);
    if (this.endForeignAccessRef(ref)) {
      if (ref >= GNTTAB_NR_RESERVED_ENTRIES) this.putFreeEntry(ref);
      return true;
    }
    this.isDeferred[ref] = 1;
    this.deferred.push(ref);
    return false;
  }

  /** gnttab_handle_deferred: retry deferred references; returns how many were freed. */
  handleDeferred(): number {
    let freed = 0;
    let kept = 0;
    for (let i = 0; i < this.deferred.length; i++) {
      const ref = this.deferred[i] as number;
      if (this.endForeignAccessRef(ref)) {
        this.isDeferred[ref] = 0;
        if (ref >= GNTTAB_NR_RESERVED_ENTRIES) this.putFreeEntry(ref);
        freed++;
      } else this.deferred[kept++] = ref;
    }
    this.deferred.length = kept;
    return freed;
  }

  /** References waiting in the deferred list. */
  get deferredCount(): number {
    return this.deferred.length;
  }
}
