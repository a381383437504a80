/**
 * Persistent grants (the RFC "Persistent grant maps for xen net drivers", May 2015; the interface
 * is blkback's `struct persistent_gnt` and its rb-tree, drivers/block/xen-blkback/blkback.c):
 * a bounded tree, keyed by grant reference, of the frontend's grants that this queue mapped once
 * and keeps mapped until disconnect. Netback memcpys through a mapping it finds here instead of
 * issuing a grant copy or a map/unmap pair per packet.
 *
 * The "tree" is a Map keyed by gref (the model needs lookup, insert and walk-all, not order);
 * each entry owns one fixed slot of preallocated arrays (handle, frame, host_addr), so a lookup
 * or an insert allocates nothing. Maps for misses are gathered in a preallocated batch and issued
 * as one GNTTABOP_map_grant_ref; teardown unmaps the whole tree in one batched hypercall.
 */
import type { Domain, Vcpu } from "@pvnet/hypervisor";
import { GNTMAP, GNTST, GnttabMapBatch, GnttabUnmapBatch, type GrantOps } from "@pvnet/xen-grant-table";

/**
 * XENVIF_MAX_PGRANTS: mappings one tree (one queue, one direction) may hold. The frontend of the
 * RFC grants one page per ring slot, and a ring has 256 slots, so a well-behaved frontend never
 * needs more; a frontend that sends ever new grefs cannot grow Dom0's mappings (and maptrack)
 * beyond this — past it netback falls back to grant copy. It also fits one host_addr window.
 */
export const XENVIF_MAX_PGRANTS = 256;

/** No slot: a miss (or a map still in flight). */
export const PERSISTENT_GRANT_NONE = -1;

/** Counters of one tree (the RFC's debugfs file per queue). */
export interface PersistentGrantStats {
  /** Lookups that found a mapping (memcpy instead of a grant op). */
  hits: number;
  /** Lookups that found none. */
  misses: number;
  /** Grants mapped and inserted into the tree. */
  mapsAdded: number;
  /** Misses that could not be mapped (tree full, or the map failed): served by grant copy. */
  fallbacks: number;
}

export function newPersistentGrantStats(): PersistentGrantStats {
  return { hits: 0, misses: 0, mapsAdded: 0, fallbacks: 0 };
}

/** The persistent grant tree of one queue and direction (struct persistent_gnt + the rb-tree root). */
export class PersistentGrantTree {
  /** gref -> slot. A slot whose mfn is -1 has its map op queued but not yet issued. */
  private readonly byGref = new Map<number, number>();
  private readonly slotGref = new Int32Array(XENVIF_MAX_PGRANTS);
  private readonly slotHandle = new Int32Array(XENVIF_MAX_PGRANTS).fill(-1);
  private readonly slotMfn = new Float64Array(XENVIF_MAX_PGRANTS).fill(-1);
  private readonly freeSlots = new Uint16Array(XENVIF_MAX_PGRANTS);
  private nFree = XENVIF_MAX_PGRANTS;
  /** Maps queued by `prepareMap`, issued by `flushMaps`; the slot of each op. */
  private readonly maps = new GnttabMapBatch(XENVIF_MAX_PGRANTS);
  private readonly mapSlot = new Uint16Array(XENVIF_MAX_PGRANTS);
  private readonly unmaps = new GnttabUnmapBatch(XENVIF_MAX_PGRANTS);

  constructor(
    /** First host_addr of this tree's window (XENVIF_MAX_PGRANTS pages). */
    private readonly kaddrBase: number,
    /** The frontend's domid. */
    private readonly otherend: number,
    /** Map read-only (guest TX pages) or writable (guest RX pages). */
    private readonly readonly: boolean,
    /** Where the tree counts (the queue's, so totals survive the tree). */
    readonly stats: PersistentGrantStats = newPersistentGrantStats(),
  ) {
    for (let i = 0; i < XENVIF_MAX_PGRANTS; i++) this.freeSlots[i] = XENVIF_MAX_PGRANTS - 1 - i;
  }

  /** Mappings in the tree (issued or queued). */
  get size(): number {
    return this.byGref.size;
  }

  /** Map ops queued and not issued yet. */
  get pendingMaps(): number {
    return this.maps.count;
  }

  /** The machine byte offset of `gref`'s mapped frame, or -1; counts nothing. */
  addrOf(gref: number): number {
    const slot = this.byGref.get(gref);
    if (slot === undefined) return -1;
    const mfn = this.slotMfn[slot] as number;
    return mfn >= 0 ? mfn * 4096 : -1;
  }

  /**
   * get_persistent_gnt: the machine byte offset of the mapped frame of `gref`, counting a hit,
   * or -1 (a miss, counted) when it is not mapped yet.
   */
  lookup(gref: number): number {
    const slot = this.byGref.get(gref);
    if (slot !== undefined) {
      const mfn = this.slotMfn[slot] as number;
      if (mfn >= 0) {
        this.stats.hits++;
        return mfn * 4096;
      }
    }
    this.stats.misses++;
    return -1;
  }

  /**
   * Prepare a map of `gref` into the tree (add_persistent_gnt once the map succeeds). False, and
   * a fallback counted, when the tree is full; true (nothing queued) when it is already there or
   * queued.
   */
  prepareMap(gref: number): boolean {
    if (this.byGref.has(gref)) return true;
    if (this.nFree === 0) {
      this.stats.fallbacks++;
      return false;
    }
    const slot = this.freeSlots[--this.nFree] as number;
    this.slotGref[slot] = gref;
    this.slotMfn[slot] = -1;
    this.byGref.set(gref, slot);
    const i = this.maps.add(this.kaddrBase + slot * 4096, GNTMAP.host_map | (this.readonly ? GNTMAP.readonly : 0), gref, this.otherend);
    this.mapSlot[i] = slot;
    return true;
  }

  /** Issue the queued maps as one GNTTABOP_map_grant_ref and insert those that succeeded. */
  flushMaps(vcpu: Vcpu, grants: GrantOps, domain: Domain): void {
    const maps = this.maps;
    if (maps.count === 0) return;
    grants.mapGrantRef(vcpu, maps);
    for (let i = 0; i < maps.count; i++) {
      const slot = this.mapSlot[i] as number;
      if (maps.status[i] === GNTST.okay) {
        this.slotHandle[slot] = maps.handle[i] as number;
        this.slotMfn[slot] = Math.floor((maps.devBusAddr[i] as number) / 4096);
        // Netback reads (or writes) the page through this mapping from now on.
        grants.mapping(domain, maps.handle[i] as number)?.touch();
        this.stats.mapsAdded++;
      } else {
        // A bad gref from the frontend: nothing is kept; the packet's own grant op reports it.
        this.byGref.delete(this.slotGref[slot] as number);
        this.freeSlots[this.nFree++] = slot;
        this.stats.fallbacks++;
      }
    }
    maps.clear();
  }

  /** xenvif_free_persistent_gnts: unmap every mapping in one batched hypercall and empty the tree. */
  unmapAll(vcpu: Vcpu, grants: GrantOps): void {
    const unmaps = this.unmaps;
    unmaps.clear();
    for (const slot of this.byGref.values()) {
      if ((this.slotMfn[slot] as number) >= 0) unmaps.add(this.kaddrBase + slot * 4096, this.slotHandle[slot] as number);
      this.slotHandle[slot] = -1;
      this.slotMfn[slot] = -1;
      this.freeSlots[this.nFree++] = slot;
    }
    this.byGref.clear();
    this.maps.clear();
    if (unmaps.count > 0) grants.unmapGrantRef(vcpu, unmaps);
  }
}
