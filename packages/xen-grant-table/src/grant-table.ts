/**
 * The hypervisor side of grant tables v1 (xen/common/grant_table.c): per-domain table frames, the
 * active entries with their pin counts, GNTTABOP_setup_table / map_grant_ref / unmap_grant_ref /
 * copy, and teardown. Status codes are returned where Xen returns them, in Xen's order of checks.
 *
 * The granting domain's table lives in its own frames (grant_entry_v1, 8 bytes each). Everything
 * read from an entry is read once: the flags+domid word is read and updated with a 32-bit
 * compare-and-swap exactly as _set_status_v1 does, so a guest racing the hypervisor gets what it
 * would get from Xen. Pin counts and the frame being granted (active entries) are hypervisor state.
 */
import type { GrantOps } from "./grant-ops.js";
import {
  DOMID_SELF,
  type Domain,
  type Hypervisor,
  type Machine,
  type MulticallEntry,
  type Vcpu,
  XEN_PAGE_SIZE,
} from "@pvnet/hypervisor";
import { GrantTableError } from "./errors.js";
import { GNTCOPY, GNTMAP, GNTPIN, GNTST, GRANT_ENTRY_V1, GREFS_PER_GRANT_FRAME, GTF } from "./layout.js";
import { COST_MAPTRACK_LOCK, DEFAULT_MAX_MAPTRACK_FRAMES, INVALID_MAPTRACK_HANDLE, Maptrack, type MaptrackVariant } from "./maptrack.js";
import { GrantMapping, type MappingCounters } from "./mapping.js";
import type { LockClock } from "./lock-time.js";
import type { GnttabCopyBatch, GnttabMapBatch, GnttabUnmapBatch } from "./ops.js";

/** Xen's default max_grant_frames (opt_max_grant_frames): 64 frames of 512 v1 entries. */
export const DEFAULT_MAX_GRANT_FRAMES = 64;

/** Unmaps done between two TLB flushes (GNTTAB_UNMAP_BATCH_SIZE in grant_table.c). */
export const GNTTAB_UNMAP_BATCH_SIZE = 32;

/** Retries of the flags compare-and-swap before Xen calls the entry unstable (_set_status_v1). */
const SET_STATUS_RETRIES = 4;

/** Largest host_addr the model accepts: x86_64 canonical user/kernel split (47-bit addresses). */
const MAX_HOST_ADDR = 2 ** 47;

/** Cost kinds charged here (host profiles). */
export const COST_GRANT_MAP = "grant.map";
/** Per op of GNTTABOP_unmap_grant_ref. */
export const COST_GRANT_UNMAP = "grant.unmap";
/** Per op, units = bytes copied. */
export const COST_GRANT_COPY = "grant.copy";
export { COST_TLB_FLUSH } from "@pvnet/hypervisor";

/** Hypercall op names, as counted by the hypervisor's HypercallStats. */
export const OP_MAP_GRANT_REF = "grant_table_op:map_grant_ref";
/** GNTTABOP_unmap_grant_ref, as HypercallStats counts it. */
export const OP_UNMAP_GRANT_REF = "grant_table_op:unmap_grant_ref";
/** GNTTABOP_copy, as HypercallStats counts it. */
export const OP_COPY = "grant_table_op:copy";
/** GNTTABOP_setup_table, as HypercallStats counts it. */
export const OP_SETUP_TABLE = "grant_table_op:setup_table";

/** The hypervisor's grant-table limits: maptrack discipline, max_grant_frames and max_maptrack_frames per domain. */
export interface GrantTablesOptions {
  /** Maptrack free-list discipline (see maptrack.ts); default the per-VCPU lock-free lists. */
  readonly maptrack?: MaptrackVariant;
  /** max_grant_frames per domain. */
  readonly maxGrantFrames?: number;
  /** max_maptrack_frames per domain (× VCPUs for the lock-free variant). */
  readonly maxMaptrackFrames?: number;
  /**
   * "touched" (default): an unmap batch flushes the TLB only if one of its mappings was touched
   * (the motivation of Linux bdab82759b8e); "always": Xen's unconditional gnttab_flush_tlb per batch.
   */
  readonly tlbFlush?: "touched" | "always";
  /**
   * Charge the maptrack locks' hold and wait on the virtual clock (lock-time.ts): a lock one VCPU
   * holds makes another wait on its local clock. Default false (the lock words only).
   */
  readonly lockTime?: boolean;
}

/** Counters of grant-table activity. */
export interface GrantTableStats {
  mapOps: number;
  unmapOps: number;
  copyOps: number;
  copyBytes: number;
  /** TLB flushes done after unmap batches. */
  tlbFlushes: number;
  /** Unmap batches that removed host mappings but needed no flush (none was touched). */
  tlbFlushesAvoided: number;
  /** Mappings touched at least once. */
  touched: number;
}

/** What a domain still holds, for teardown checks. */
export interface GrantOutstanding {
  /** Live mappings this domain holds of others' (or its own) grants. */
  readonly maps: number;
  /** Maptrack handles this domain has handed out. */
  readonly handles: number;
  /** Entries of this domain's table pinned by a mapping or a copy in progress. */
  readonly pins: number;
}

/**
 * struct grant_table + active entries of one domain, in the machine's hypervisor heap: a VCPU
 * thread of the mapping domain and one of the granting domain see the same table.
 */
class DomainGrantTable {
  /** nr_grant_frames (word 0). */
  private readonly header: Int32Array;
  readonly frameGfn: Int32Array;
  /** Absolute byte offset of each table frame. */
  readonly frameBase: Float64Array;
  readonly pin: Uint32Array;
  readonly actDomid: Uint16Array;
  readonly actMfn: Int32Array;
  /** This domain's maptrack, as a mapper (created on its first map). */
  maptrack: Maptrack | undefined;
  /** One view per maptrack handle, created when the maptrack grows. */
  readonly mappings: GrantMapping[] = [];

  constructor(
    readonly domain: Domain,
    maxFrames: number,
    machine: Machine,
  ) {
    this.header = machine.hvArray(Int32Array, 2);
    this.frameGfn = machine.hvArray(Int32Array, maxFrames);
    this.frameBase = machine.hvArray(Float64Array, maxFrames);
    const entries = maxFrames * GREFS_PER_GRANT_FRAME;
    this.pin = machine.hvArray(Uint32Array, entries);
    this.actDomid = machine.hvArray(Uint16Array, entries);
    this.actMfn = machine.hvArray(Int32Array, entries);
  }

  get nrFrames(): number {
    return Atomics.load(this.header, 0);
  }

  set nrFrames(n: number) {
    Atomics.store(this.header, 0, n);
  }

  /** nr_grant_entries. */
  get nrEntries(): number {
    return this.nrFrames * GREFS_PER_GRANT_FRAME;
  }
}

export class GrantTables implements GrantOps {
  readonly machine: Machine;
  readonly variant: MaptrackVariant;
  readonly maxGrantFrames: number;
  readonly maxMaptrackFrames: number;
  readonly stats: GrantTableStats = {
    mapOps: 0,
    unmapOps: 0,
    copyOps: 0,
    copyBytes: 0,
    tlbFlushes: 0,
    tlbFlushesAvoided: 0,
    touched: 0,
  };
  private readonly flushAlways: boolean;
  private readonly lockTime: boolean;
  /**
   * The maptrack locks' virtual clock: the sink a grant operation charges is the VCPU performing
   * it (every `mt.get` / `mt.put` of this file passes it), whose actor is its local clock.
   */
  private readonly lockClock: LockClock = {
    now: (sink) => (sink as Vcpu).actor.nowNs,
    waitUntil: (sink, atNs) => (sink as Vcpu).actor.begin(atNs),
    floor: () => this.hv.sim.clock.now(),
    minHoldNs: () => this.hv.sim.costs.cost(COST_MAPTRACK_LOCK),
  };
  private readonly tables = new Map<number, DomainGrantTable>();
  // Per-op scratch (no allocation per op): the frame found by a claim, the unmaps of a batch.
  private claimMfn = 0;
  private readonly unmapDone = new Int32Array(GNTTAB_UNMAP_BATCH_SIZE);
  private readonly unmapRef = new Int32Array(GNTTAB_UNMAP_BATCH_SIZE);
  private readonly unmapRgt: (DomainGrantTable | undefined)[] = new Array(GNTTAB_UNMAP_BATCH_SIZE).fill(undefined);
  private unmapTouched = false;
  private unmapHost = false;

  constructor(
    readonly hv: Hypervisor,
    options: GrantTablesOptions = {},
  ) {
    this.machine = hv.machine;
    this.variant = options.maptrack ?? "per-vcpu-lockfree";
    this.maxGrantFrames = options.maxGrantFrames ?? DEFAULT_MAX_GRANT_FRAMES;
    this.maxMaptrackFrames = options.maxMaptrackFrames ?? DEFAULT_MAX_MAPTRACK_FRAMES;
    this.flushAlways = options.tlbFlush === "always";
    this.lockTime = options.lockTime === true;
    if (!Number.isInteger(this.maxGrantFrames) || this.maxGrantFrames < 1) throw new RangeError(`bad maxGrantFrames ${this.maxGrantFrames}`);
  }

  private table(domain: Domain): DomainGrantTable {
    let t = this.tables.get(domain.domid);
    if (t === undefined || t.domain !== domain) {
      t = new DomainGrantTable(domain, this.maxGrantFrames, this.machine);
      this.tables.set(domain.domid, t);
    }
    return t;
  }

  /** rcu_lock_domain_by_id (DOMID_SELF is not accepted). */
  private byId(domid: number): Domain | undefined {
    return domid === DOMID_SELF ? undefined : this.hv.getDomain(domid);
  }

  /** The maptrack of `domain` as a mapper (undefined before its first map). */
  maptrackOf(domain: Domain): Maptrack | undefined {
    return this.tables.get(domain.domid)?.maptrack;
  }

  // ------------------------------------------------------------------ setup

  /**
   * GNTTABOP_setup_table for the caller's own table: grow it to `nrFrames` frames (new frames are
   * pages of the domain) and write their gfns to `frameList`. Returns a GNTST code.
   */
  setupTable(vcpu: Vcpu, nrFrames: number, frameList: Int32Array | number[]): number {
    return this.hv.hypercall(vcpu, OP_SETUP_TABLE, 1, () => {
      const t = this.table(vcpu.domain);
      if (!Number.isInteger(nrFrames) || nrFrames < 0 || nrFrames > this.maxGrantFrames) return GNTST.general_error;
      if (frameList.length < nrFrames) return GNTST.bad_virt_addr;
      while (t.nrFrames < nrFrames) {
        let gfn: number;
        try {
          gfn = vcpu.domain.allocPage();
        } catch {
          return GNTST.general_error; // gnttab_grow_table: allocation failure
        }
        t.frameGfn[t.nrFrames] = gfn;
        t.frameBase[t.nrFrames] = vcpu.domain.pageOffset(gfn);
        t.nrFrames++;
      }
      for (let i = 0; i < nrFrames; i++) frameList[i] = t.frameGfn[i] as number;
      return GNTST.okay;
    });
  }

  /** GNTTABOP_query_size for `domain`. */
  querySize(domain: Domain): { nrFrames: number; maxNrFrames: number } {
    return { nrFrames: this.tables.get(domain.domid)?.nrFrames ?? 0, maxNrFrames: this.maxGrantFrames };
  }

  /**
   * Absolute byte offset of entry `ref` of `t`, or -1 when `ref` is outside the table (or its
   * frame no longer belongs to the domain, which Xen's own xenheap frames cannot do).
   */
  private entryAt(t: DomainGrantTable, ref: number): number {
    if (ref >= t.nrEntries) return -1;
    const frame = (ref / GREFS_PER_GRANT_FRAME) | 0;
    const base = t.frameBase[frame] as number;
    if (this.machine.ownerOf(base / XEN_PAGE_SIZE) !== t.domain.domid) return -1;
    return base + (ref % GREFS_PER_GRANT_FRAME) * GRANT_ENTRY_V1.SIZEOF;
  }

  // ------------------------------------------------------------------ entry status

  /**
   * _set_status_v1: set GTF_reading (and GTF_writing unless `readonly`) with a compare-and-swap of
   * the flags+domid word, checking type and domid when the entry is not pinned yet.
   */
  private setStatusV1(at: number, pinned: boolean, readonly: boolean, mapflag: boolean, ldomid: number): number {
    const u32 = this.machine.u32;
    const word = at >>> 2;
    const mask = GTF.type_mask | (mapflag ? GTF.sub_page : 0);
    let scombo = Atomics.load(u32, word);
    for (let retries = 0; ; retries++) {
      const flags = scombo & 0xffff;
      const domid = scombo >>> 16;
      if (!pinned && ((flags & mask) !== GTF.permit_access || domid !== ldomid)) return GNTST.general_error;
      let nflags = flags | GTF.reading;
      if (!readonly) {
        nflags |= GTF.writing;
        // Attempt to write-pin a read-only grant entry.
        if (flags & GTF.readonly) return GNTST.general_error;
      }
      const prev = Atomics.compareExchange(u32, word, scombo, ((scombo & 0xffff0000) | nflags) >>> 0);
      if (prev === scombo) return GNTST.okay;
      // The guest can change the word faster than we retry: give up, "unstable".
      if (retries === SET_STATUS_RETRIES) return GNTST.general_error;
      scombo = prev;
    }
  }

  /** gnttab_clear_flags on the entry's flags halfword. */
  private clearFlags(at: number, flags: number): void {
    Atomics.and(this.machine.u16, at >>> 1, ~flags & 0xffff);
  }

  /** reduce_status_for_pin: drop GTF_writing / GTF_reading once no pin needs them. */
  private reduceStatusForPin(at: number, pin: number, readonly: boolean): void {
    let clear = pin === 0 ? GTF.reading : 0;
    if (!readonly && (pin & (GNTPIN.hstw_mask | GNTPIN.devw_mask)) === 0) clear |= GTF.writing;
    if (clear !== 0) this.clearFlags(at, clear);
  }

  /**
   * Pin entry `ref` of `rgt` for domain `ldomid`, the common part of map_grant_ref and
   * acquire_grant_for_copy. On GNTST_okay the entry's frame is in `claimMfn` and the pin counted.
   */
  private pinEntry(rgt: DomainGrantTable, ref: number, ldomid: number, readonly: boolean, mapflag: boolean, inc: number): number {
    const at = this.entryAt(rgt, ref);
    if (at < 0) return GNTST.bad_gntref;
    const pin = rgt.pin[ref] as number;
    // Already pinned: by the same domain only, and none of the counters this pin increments near
    // overflow (GNTPIN_incr2oflow_mask: only those, so 128 read-only maps do not block a write map).
    if (pin !== 0 && (rgt.actDomid[ref] !== ldomid || (pin & incr2oflowMask(inc)) !== 0)) return GNTST.general_error;
    if (pin === 0 || (!readonly && (pin & (GNTPIN.hstw_mask | GNTPIN.devw_mask)) === 0)) {
      const rc = this.setStatusV1(at, pin !== 0, readonly, mapflag, ldomid);
      if (rc !== GNTST.okay) return rc;
      if (pin === 0) {
        // get_paged_frame: the frame is read after the status is set (the guest may not change it now).
        const gfn = this.machine.view.getUint32(at + GRANT_ENTRY_V1.FRAME, true);
        const mfn = rgt.domain.gfnToMfn(gfn);
        // The active entry holds a page reference while pinned, so a granter that frees the
        // page under a mapping or copy cannot have it handed to anyone else meanwhile.
        if (mfn === 0 || !this.machine.getPage(mfn, rgt.domain.domid)) {
          this.reduceStatusForPin(at, 0, readonly);
          return GNTST.bad_page;
        }
        rgt.actDomid[ref] = ldomid;
        rgt.actMfn[ref] = mfn;
      }
    }
    rgt.pin[ref] = pin + inc;
    this.claimMfn = rgt.actMfn[ref] as number;
    return GNTST.okay;
  }

  /** Undo a pin (release_grant_for_copy, unmap_common_complete, map's undo path). */
  private unpinEntry(rgt: DomainGrantTable, ref: number, dec: number, readonly: boolean): void {
    const pin = ((rgt.pin[ref] as number) - dec) >>> 0;
    rgt.pin[ref] = pin;
    if (pin === 0 && dec !== 0) this.machine.putPage(rgt.actMfn[ref] as number);
    const at = this.entryAt(rgt, ref);
    if (at >= 0) this.reduceStatusForPin(at, pin, readonly);
  }

  // ------------------------------------------------------------------ GNTTABOP_map_grant_ref

  /** GNTTABOP_map_grant_ref for the batch's ops, as one hypercall. Statuses are per op. */
  mapGrantRef(vcpu: Vcpu, batch: GnttabMapBatch): number {
    return this.hv.hypercall(vcpu, OP_MAP_GRANT_REF, batch.count, () => this.doMapGrantRef(vcpu, batch));
  }

  /** The body of map_grant_ref without the hypercall entry (for multicalls). */
  doMapGrantRef(vcpu: Vcpu, batch: GnttabMapBatch): number {
    for (let i = 0; i < batch.count; i++) batch.status[i] = this.mapOne(vcpu, batch, i);
    return 0;
  }

  /** map_grant_ref for op `i`. */
  private mapOne(vcpu: Vcpu, b: GnttabMapBatch, i: number): number {
    vcpu.charge(COST_GRANT_MAP);
    this.stats.mapOps++;
    const flags = b.flags[i] as number;
    const ld = vcpu.domain;
    if ((flags & (GNTMAP.device_map | GNTMAP.host_map)) === 0) return GNTST.bad_gntref;
    const rd = this.byId(b.dom[i] as number);
    if (rd === undefined) return GNTST.bad_domain;
    const lgt = this.table(ld);
    lgt.maptrack ??= Maptrack.create({
      variant: this.variant,
      nrVcpus: ld.vcpus.length,
      maxMaptrackFrames: this.maxMaptrackFrames,
      heap: this.machine,
      ...(this.lockTime ? { lockClock: this.lockClock } : {}),
    });
    const mt = lgt.maptrack;
    const handle = mt.get(vcpu.id, vcpu);
    // GNTST_no_space since Xen 4.16 ("gnttab: maptrack handle shortage is not IOMMU related",
    // 2021); GNTST_no_device_space before.
    if (handle === INVALID_MAPTRACK_HANDLE) return GNTST.no_space;
    const rgt = this.table(rd);
    const ref = b.ref[i] as number;
    const readonly = (flags & GNTMAP.readonly) !== 0;
    let inc = 0;
    if (flags & GNTMAP.device_map) inc += readonly ? GNTPIN.devr_inc : GNTPIN.devw_inc;
    if (flags & GNTMAP.host_map) inc += readonly ? GNTPIN.hstr_inc : GNTPIN.hstw_inc;
    const rc = this.pinEntry(rgt, ref, ld.domid, readonly, true, inc);
    if (rc !== GNTST.okay) {
      mt.put(vcpu.id, handle, vcpu);
      return rc;
    }
    const mfn = this.claimMfn;
    const hostAddr = b.hostAddr[i] as number;
    if (flags & GNTMAP.host_map) {
      // create_grant_host_mapping: a page-aligned address the mapper can hold a PTE for.
      if (!Number.isInteger(hostAddr) || hostAddr <= 0 || hostAddr >= MAX_HOST_ADDR || hostAddr % XEN_PAGE_SIZE !== 0) {
        this.unpinEntry(rgt, ref, inc, readonly);
        mt.put(vcpu.id, handle, vcpu);
        return GNTST.general_error;
      }
      while (lgt.mappings.length < mt.limit) lgt.mappings.push(new GrantMapping(this.machine, ld.domid, lgt.mappings.length, this.stats as MappingCounters));
      (lgt.mappings[handle] as GrantMapping).bind(mfn, hostAddr, readonly, rd.domid, ref);
    }
    // Users of the entry check flags first: they are stored last.
    mt.setEntry(handle, ref, rd.domid, flags & 0x1f);
    b.handle[i] = handle;
    b.devBusAddr[i] = mfn * XEN_PAGE_SIZE;
    return GNTST.okay;
  }

  /** The host mapping behind `handle` of `mapper`, while it is mapped; undefined otherwise. */
  mapping(mapper: Domain, handle: number): GrantMapping | undefined {
    const m = this.tables.get(mapper.domid)?.mappings[handle];
    return m?.live ? m : undefined;
  }

  // ------------------------------------------------------------------ GNTTABOP_unmap_grant_ref

  /**
   * GNTTABOP_unmap_grant_ref as one hypercall: ops are done in groups of GNTTAB_UNMAP_BATCH_SIZE,
   * each followed by one TLB flush — skipped when no mapping of the group was touched, unless
   * `tlbFlush: "always"` — and then by the pin releases (unmap_common_complete).
   */
  unmapGrantRef(vcpu: Vcpu, batch: GnttabUnmapBatch): number {
    return this.hv.hypercall(vcpu, OP_UNMAP_GRANT_REF, batch.count, () => this.doUnmapGrantRef(vcpu, batch));
  }

  /**
   * gnttab_unmap_grant_ref over a batch (in chunks of GNTTAB_UNMAP_BATCH_SIZE, one TLB flush per
   * chunk that touched a mapping); each entry's GNTST_* in `batch.status`. Returns the hypercall's
   * rc.
   */
  doUnmapGrantRef(vcpu: Vcpu, batch: GnttabUnmapBatch): number {
    for (let start = 0; start < batch.count; start += GNTTAB_UNMAP_BATCH_SIZE) {
      const n = Math.min(GNTTAB_UNMAP_BATCH_SIZE, batch.count - start);
      this.unmapTouched = false;
      this.unmapHost = false;
      for (let j = 0; j < n; j++) batch.status[start + j] = this.unmapCommon(vcpu, batch, start + j, j);
      if (this.unmapTouched || this.flushAlways) {
        // flush_tlb_mask(d->domain_dirty_cpumask): locally, and by IPI where the domain ran.
        this.hv.flushTlbMask(vcpu);
        this.stats.tlbFlushes++;
      } else if (this.unmapHost) this.stats.tlbFlushesAvoided++;
      for (let j = 0; j < n; j++) this.unmapComplete(j);
    }
    return 0;
  }

  /** unmap_common for op `i`, remembering in slot `j` what to complete after the flush. */
  private unmapCommon(vcpu: Vcpu, b: GnttabUnmapBatch, i: number, j: number): number {
    vcpu.charge(COST_GRANT_UNMAP);
    this.stats.unmapOps++;
    this.unmapDone[j] = 0;
    const lgt = this.tables.get(vcpu.domain.domid);
    const mt = lgt?.maptrack;
    const handle = b.handle[i] as number;
    if (lgt === undefined || mt === undefined || handle >= mt.limit) return GNTST.bad_handle;
    const flags = mt.entryFlags(handle);
    if (flags === 0) return GNTST.bad_handle;
    const rd = this.byId(mt.entryDomid(handle));
    // Xen crashes the mapping domain here (its granter vanished under a mapping); the model
    // reports it instead. GrantTables.destroyDomain refuses to let that happen.
    if (rd === undefined) return GNTST.bad_domain;
    const rgt = this.table(rd);
    const ref = mt.entryRef(handle);
    if (ref >= rgt.nrEntries) return GNTST.bad_handle;
    const mfn = rgt.actMfn[ref] as number;
    const hostAddr = b.hostAddr[i] as number;
    const devBusAddr = b.devBusAddr[i] as number;
    // Only a device mapping is checked against dev_bus_addr, in full (XSA-224's "fix handling of
    // dev_bus_addr during unmap"); a mismatch is GNTST_bad_dev_addr.
    if (devBusAddr !== 0 && flags & GNTMAP.device_map && devBusAddr !== mfn * XEN_PAGE_SIZE) return GNTST.bad_dev_addr;
    let left = flags;
    let done = 0;
    if (hostAddr !== 0 && flags & GNTMAP.host_map) {
      const m = lgt.mappings[handle] as GrantMapping;
      // replace_grant_host_mapping: the PTE at host_addr must map this frame.
      if (hostAddr !== m.hostAddr) return GNTST.general_error;
      if (m.revoke()) this.unmapTouched = true;
      this.unmapHost = true;
      left &= ~GNTMAP.host_map;
      done |= GNTMAP.host_map | (flags & GNTMAP.readonly);
    }
    if (devBusAddr !== 0 && flags & GNTMAP.device_map) {
      left &= ~GNTMAP.device_map;
      done |= GNTMAP.device_map | (flags & GNTMAP.readonly);
    }
    if ((left & (GNTMAP.device_map | GNTMAP.host_map)) === 0) {
      mt.setEntryFlags(handle, 0);
      mt.put(vcpu.id, handle, vcpu);
    } else mt.setEntryFlags(handle, left);
    this.unmapDone[j] = done;
    this.unmapRef[j] = ref;
    this.unmapRgt[j] = rgt;
    return GNTST.okay;
  }

  /** unmap_common_complete for slot `j`: drop the pins, clear GTF_writing/reading when unused. */
  private unmapComplete(j: number): void {
    const done = this.unmapDone[j] as number;
    const rgt = this.unmapRgt[j];
    this.unmapRgt[j] = undefined;
    if (done === 0 || rgt === undefined) return;
    const readonly = (done & GNTMAP.readonly) !== 0;
    let dec = 0;
    if (done & GNTMAP.device_map) dec += readonly ? GNTPIN.devr_inc : GNTPIN.devw_inc;
    if (done & GNTMAP.host_map) dec += readonly ? GNTPIN.hstr_inc : GNTPIN.hstw_inc;
    this.unpinEntry(rgt, this.unmapRef[j] as number, dec, readonly);
  }

  // ------------------------------------------------------------------ GNTTABOP_copy

  /** GNTTABOP_copy for the batch's ops, as one hypercall. */
  copy(vcpu: Vcpu, batch: GnttabCopyBatch): number {
    return this.hv.hypercall(vcpu, OP_COPY, batch.count, () => this.doCopy(vcpu, batch));
  }

  /** gnttab_copy over a batch; each entry's GNTST_* in `batch.status`. Returns the hypercall's rc (0). */
  doCopy(vcpu: Vcpu, batch: GnttabCopyBatch): number {
    for (let i = 0; i < batch.count; i++) batch.status[i] = this.copyOne(vcpu, batch, i);
    return 0;
  }

  /** gnttab_copy_one for op `i`: lock domains, claim source then dest, check bounds, copy. */
  private copyOne(vcpu: Vcpu, b: GnttabCopyBatch, i: number): number {
    this.stats.copyOps++;
    // A zero-size copy is ignored entirely, none of its fields checked ("gnttab: fully ignore
    // zero-size copy requests", Xen 4.19, after XSA-448).
    if (b.len[i] === 0) return this.copyDone(vcpu, GNTST.okay, 0);
    const ld = vcpu.domain;
    const flags = b.flags[i] as number;
    const srcGref = (flags & GNTCOPY.source_gref) !== 0;
    const dstGref = (flags & GNTCOPY.dest_gref) !== 0;
    const srcDomid = b.sourceDomid[i] as number;
    const dstDomid = b.destDomid[i] as number;
    // gnttab_copy_lock_domain: only DOMID_SELF may name a frame; then the domain must exist.
    if (srcDomid !== DOMID_SELF && !srcGref) return this.copyDone(vcpu, GNTST.permission_denied, 0);
    const sd = srcDomid === DOMID_SELF ? ld : this.hv.getDomain(srcDomid);
    if (sd === undefined) return this.copyDone(vcpu, GNTST.bad_domain, 0);
    if (dstDomid !== DOMID_SELF && !dstGref) return this.copyDone(vcpu, GNTST.permission_denied, 0);
    const dd = dstDomid === DOMID_SELF ? ld : this.hv.getDomain(dstDomid);
    if (dd === undefined) return this.copyDone(vcpu, GNTST.bad_domain, 0);

    // gnttab_copy_claim_buf, source (read-only).
    const srcRef = toU32(b.sourceRef[i] as number);
    let smfn: number;
    const sgt = srcGref ? this.table(sd) : undefined;
    if (sgt !== undefined) {
      const rc = this.pinEntry(sgt, srcRef, ld.domid, true, false, GNTPIN.hstr_inc);
      if (rc !== GNTST.okay) return this.copyDone(vcpu, rc, 0);
      smfn = this.claimMfn;
    } else {
      smfn = sd.gfnToMfn(b.sourceRef[i] as number);
      if (smfn === 0) return this.copyDone(vcpu, GNTST.bad_page, 0);
    }
    // Dest (writable).
    const dstRef = toU32(b.destRef[i] as number);
    let dmfn: number;
    const dgt = dstGref ? this.table(dd) : undefined;
    if (dgt !== undefined) {
      const rc = this.pinEntry(dgt, dstRef, ld.domid, false, false, GNTPIN.hstw_inc);
      if (rc !== GNTST.okay) {
        if (sgt !== undefined) this.unpinEntry(sgt, srcRef, GNTPIN.hstr_inc, true);
        return this.copyDone(vcpu, rc, 0);
      }
      dmfn = this.claimMfn;
    } else {
      dmfn = dd.gfnToMfn(b.destRef[i] as number);
      if (dmfn === 0) {
        if (sgt !== undefined) this.unpinEntry(sgt, srcRef, GNTPIN.hstr_inc, true);
        return this.copyDone(vcpu, GNTST.bad_page, 0);
      }
    }
    // gnttab_copy_buf.
    const len = b.len[i] as number;
    const soff = b.sourceOffset[i] as number;
    const doff = b.destOffset[i] as number;
    let rc: number = GNTST.okay;
    if (soff + len > XEN_PAGE_SIZE || doff + len > XEN_PAGE_SIZE) rc = GNTST.bad_copy_arg;
    else this.machine.copy(dmfn * XEN_PAGE_SIZE + doff, smfn * XEN_PAGE_SIZE + soff, len);
    // gnttab_copy_release_buf.
    if (sgt !== undefined) this.unpinEntry(sgt, srcRef, GNTPIN.hstr_inc, true);
    if (dgt !== undefined) this.unpinEntry(dgt, dstRef, GNTPIN.hstw_inc, false);
    return this.copyDone(vcpu, rc, rc === GNTST.okay ? len : 0);
  }

  private copyDone(vcpu: Vcpu, rc: number, bytes: number): number {
    vcpu.charge(COST_GRANT_COPY, bytes);
    this.stats.copyBytes += bytes;
    return rc;
  }

  // ------------------------------------------------------------------ multicall

  /**
   * A multicall entry running `batch` on `vcpu` (map, unmap or copy, by `kind`). Create it once
   * and reuse it: its `count` follows the batch.
   */
  multicallEntry(vcpu: Vcpu, kind: "map", batch: GnttabMapBatch): MulticallEntry;
  multicallEntry(vcpu: Vcpu, kind: "unmap", batch: GnttabUnmapBatch): MulticallEntry;
  multicallEntry(vcpu: Vcpu, kind: "copy", batch: GnttabCopyBatch): MulticallEntry;
  multicallEntry(vcpu: Vcpu, kind: "map" | "unmap" | "copy", batch: GnttabMapBatch | GnttabUnmapBatch | GnttabCopyBatch): MulticallEntry {
    const op = kind === "map" ? OP_MAP_GRANT_REF : kind === "unmap" ? OP_UNMAP_GRANT_REF : OP_COPY;
    const run =
      kind === "map"
        ? () => this.doMapGrantRef(vcpu, batch as GnttabMapBatch)
        : kind === "unmap"
          ? () => this.doUnmapGrantRef(vcpu, batch as GnttabUnmapBatch)
          : () => this.doCopy(vcpu, batch as GnttabCopyBatch);
    return {
      op,
      get count() {
        return batch.count;
      },
      run,
    };
  }

  // ------------------------------------------------------------------ teardown

  /** Pin count of entry `ref` of `granter`'s table (GNTPIN_* counters in one word). */
  pinOf(granter: Domain, ref: number): number {
    return this.tables.get(granter.domid)?.pin[ref] ?? 0;
  }

  /** What `domain` still holds: its live mappings and handles, and the pins on its own table. */
  outstanding(domain: Domain): GrantOutstanding {
    const t = this.tables.get(domain.domid);
    if (t === undefined) return { maps: 0, handles: 0, pins: 0 };
    let maps = 0;
    const mt = t.maptrack;
    if (mt !== undefined) for (let h = 0; h < mt.limit; h++) if (mt.entryFlags(h) !== 0) maps++;
    let pins = 0;
    for (let r = 0; r < t.nrEntries; r++) if (t.pin[r] !== 0) pins++;
    // Sentinel tails of the per-VCPU lists are on the free lists: inUse() counts handed-out handles only.
    return { maps, handles: mt === undefined ? 0 : mt.inUse(), pins };
  }

  /**
   * gnttab_release_mappings: unmap everything `domain` has mapped (as its destruction does), on
   * its VCPU 0. Returns how many mappings were removed.
   */
  releaseMappings(domain: Domain): number {
    const t = this.tables.get(domain.domid);
    const mt = t?.maptrack;
    const vcpu = domain.vcpus[0];
    if (t === undefined || mt === undefined || vcpu === undefined) return 0;
    let released = 0;
    for (let h = 0; h < mt.limit; h++) {
      const flags = mt.entryFlags(h);
      if (flags === 0) continue;
      const rd = this.byId(mt.entryDomid(h));
      const ref = mt.entryRef(h);
      const m = t.mappings[h];
      if (m?.live) m.revoke();
      mt.setEntryFlags(h, 0);
      mt.put(vcpu.id, h);
      released++;
      if (rd === undefined) continue;
      const rgt = this.table(rd);
      const readonly = (flags & GNTMAP.readonly) !== 0;
      let dec = 0;
      if (flags & GNTMAP.device_map) dec += readonly ? GNTPIN.devr_inc : GNTPIN.devw_inc;
      if (flags & GNTMAP.host_map) dec += readonly ? GNTPIN.hstr_inc : GNTPIN.hstw_inc;
      if (ref < rgt.nrEntries) this.unpinEntry(rgt, ref, dec, readonly);
    }
    return released;
  }

  /**
   * Destroy `domain` through the hypervisor once its grants are quiet: its own mappings are
   * released, but while another domain still maps or copies one of its grants the destruction is
   * refused (EBUSY) — Xen would keep it a zombie until they are unmapped.
   */
  destroyDomain(domain: Domain): void {
    this.releaseMappings(domain);
    const pins = this.outstanding(domain).pins;
    if (pins !== 0) throw new GrantTableError("EBUSY", `d${domain.domid} still has ${pins} pinned grant entries`);
    this.tables.delete(domain.domid);
    this.hv.destroyDomain(domain.domid);
  }
}

/** GNTPIN_incr2oflow_mask: the top bit of each 8-bit counter that `inc` increments. */
function incr2oflowMask(inc: number): number {
  return (inc << 7) >>> 0;
}

/** grant_ref_t from a 64-bit union field: C takes the low 32 bits; garbage becomes an invalid ref. */
function toU32(value: number): number {
  return Number.isInteger(value) && value >= 0 ? value % 0x100000000 : 0xffffffff;
}
