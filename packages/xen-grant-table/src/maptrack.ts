/**
 * Maptrack: the mapping domain's table of grant mappings (xen/common/grant_table.c, struct
 * grant_mapping, get_maptrack_handle / put_maptrack_handle / steal_maptrack_handle). A handle is
 * an index into it; free entries are linked through their `ref` field.
 *
 * Three free-list disciplines, selectable, so they can be measured side by side (Xen commit
 * dff515dfea, "gnttab: use per-VCPU maptrack free lists", Malcolm Crossley, 2015):
 * - `"single-locked"`: Xen up to 4.5 — one LIFO free list per domain under the domain's
 *   maptrack lock, for gets and puts alike.
 * - `"per-vcpu-lockfree"`: Xen 4.6 (the per-VCPU free lists of dff515dfea) — a get pops the
 *   local VCPU's list with a compare-and-swap on its head, no lock; a put appends the handle to
 *   its ORIGINAL VCPU's list with a compare-and-swap on the tail, then links the old tail to it.
 *   A list is never empty (its last entry is never handed out), so a remote put always has a tail.
 *   New maptrack pages are allocated under the domain lock; the frame limit is
 *   max_maptrack_frames × VCPUs.
 * - `"per-vcpu-locked"`: Xen since the XSA-228 fixes — the same lists, each under its own
 *   spinlock (maptrack_freelist_lock), and a per-domain frame limit.
 *
 * All state lives in one SharedArrayBuffer (header, per-VCPU heads/tails/locks/counters each on its
 * own 64-byte line, then the entries), so a worker thread running a VCPU attaches to the same table
 * with `Maptrack.attach(shared)`. Locks are spinlocks on words of that buffer (Atomics); a waiter
 * that spins too long sleeps with Atomics.wait, since a worker thread, unlike a Xen pCPU, can be
 * descheduled while it holds the lock.
 */
import type { CostSink } from "@pvnet/sim";
import { type Machine, MAX_VIRT_CPUS, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import { type LockClock, LockTime, type LockTimeStats } from "./lock-time.js";

/**
 * Maptrack free-list discipline: Xen 4.5's single locked list, Xen 4.6's per-VCPU lock-free lists,
 * or per-VCPU lists under a lock (see the module comment).
 */
export type MaptrackVariant = "per-vcpu-lockfree" | "single-locked" | "per-vcpu-locked";

/** Every maptrack discipline, for benches and CLI choices. */
export const MAPTRACK_VARIANTS: readonly MaptrackVariant[] = Object.freeze(["single-locked", "per-vcpu-lockfree", "per-vcpu-locked"]);

/** struct grant_mapping (Xen-internal): 16 bytes, the size rounded to a power of two by `pad`. */
export const GRANT_MAPPING = Object.freeze({ SIZEOF: 16, REF: 0, FLAGS: 4, DOMID: 6, VCPU: 8, PAD: 12 });

/** Maptrack entries per 4 KiB maptrack page (MAPTRACK_PER_PAGE). */
export const MAPTRACK_PER_PAGE = XEN_PAGE_SIZE / GRANT_MAPPING.SIZEOF;

/** End of a free list (MAPTRACK_TAIL, ~0u), as an int32. */
export const MAPTRACK_TAIL = -1;

/** No handle available (INVALID_MAPTRACK_HANDLE, UINT_MAX), as an int32. */
export const INVALID_MAPTRACK_HANDLE = -1;

/** Xen's default max_maptrack_frames (opt_max_maptrack_frames, DEFAULT_MAX_MAPTRACK_FRAMES). */
export const DEFAULT_MAX_MAPTRACK_FRAMES = 1024;

/** Spins on a held lock before sleeping on it (a worker may be descheduled while holding it). */
const SPINS_BEFORE_WAIT = 128;

/** Cost kinds charged by the maptrack (host profiles). */
export const COST_MAPTRACK_GET = "maptrack.get";
/** put_maptrack_handle: returning a handle to its VCPU's free list. */
export const COST_MAPTRACK_PUT = "maptrack.put";
/** Taking the domain's maptrack lock (the locked variants, and growing the table). */
export const COST_MAPTRACK_LOCK = "maptrack.lock";
/** Allocating and linking a new maptrack frame. */
export const COST_MAPTRACK_GROW = "maptrack.grow";

const VARIANT_CODE: Readonly<Record<MaptrackVariant, number>> = Object.freeze({
  "single-locked": 0,
  "per-vcpu-lockfree": 1,
  "per-vcpu-locked": 2,
});

// Header, in int32 words. The domain lock and the single list head share one 64-byte line.
const H_VARIANT = 0;
const H_NR_VCPUS = 1;
const H_MAX_FRAMES = 2;
const H_NR_FRAMES = 3;
/** maptrack_limit: handles below it exist (read by unmap's bound check). */
const H_LIMIT = 4;
const H_LOCK = 16;
const H_HEAD = 17;
// Per-VCPU block: 16 words (64 bytes) per VCPU so two VCPUs never share a cache line.
const VCPU_BASE = 32;
const VCPU_STRIDE = 16;
const V_HEAD = 0;
const V_TAIL = 1;
const V_LOCK = 2;
const V_GETS = 4;
const V_PUTS = 5;
const V_STEALS = 6;
const V_CONTENDED = 7;
const V_GROWS = 8;
const V_FAILS = 9;
const V_STEAL_NEXT = 10;
/** First entry, in int32 words. */
const ENTRIES_BASE = VCPU_BASE + MAX_VIRT_CPUS * VCPU_STRIDE;
const ENTRY_WORDS = GRANT_MAPPING.SIZEOF / 4;

/** What a worker needs to attach to a maptrack. */
export interface MaptrackShared {
  readonly buffer: SharedArrayBuffer;
  /** Where the maptrack starts in `buffer` (the machine's hypervisor heap) and its bytes; default all of it. */
  readonly byteOffset?: number;
  readonly byteLength?: number;
}

/** A maptrack table's discipline, VCPU count and frame limit. */
export interface MaptrackOptions {
  readonly variant: MaptrackVariant;
  readonly nrVcpus: number;
  /** max_maptrack_frames; the per-VCPU lock-free variant multiplies it by the VCPU count. */
  readonly maxMaptrackFrames?: number;
  /** Charge lock hold and wait on the virtual clock (lock-time.ts); absent: the lock words only. */
  readonly lockClock?: LockClock;
  /** Where the table lives: the machine's hypervisor heap (`Machine.hvArray`); its own SharedArrayBuffer by default. */
  readonly heap?: Pick<Machine, "hvArray">;
}

/** Counters summed over VCPUs (each VCPU counts what it did, in its own cache line). */
export interface MaptrackStats {
  readonly gets: number;
  readonly puts: number;
  /** Handles taken from another VCPU's list. */
  readonly steals: number;
  /** Lock acquisitions that found the lock held. */
  readonly contended: number;
  /** Maptrack pages allocated. */
  readonly grows: number;
  /** Gets that found no handle (maptrack full). */
  readonly failures: number;
  readonly frames: number;
  /** maptrack_limit: handles that exist. */
  readonly limit: number;
}

/**
 * A domain's maptrack table (struct grant_mapping entries, get/put/steal_maptrack_handle) in shared
 * memory (see the module comment).
 */
export class Maptrack {
  readonly variant: MaptrackVariant;
  readonly nrVcpus: number;
  /** Frame limit of this table (max_maptrack_frames, × VCPUs for the lock-free variant). */
  readonly maxFrames: number;
  private readonly i32: Int32Array;
  private readonly u16: Uint16Array;
  private readonly buffer: SharedArrayBuffer;
  private readonly perVcpu: boolean;
  private readonly locked: boolean;
  /** The locks on the virtual clock, when created with a lockClock (not shared with workers). */
  private lockTime: LockTime | undefined;

  private readonly byteOffset: number;
  private readonly byteLength: number;

  private constructor(buffer: SharedArrayBuffer, byteOffset = 0, byteLength = buffer.byteLength - byteOffset) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.byteLength = byteLength;
    this.i32 = new Int32Array(buffer, byteOffset, byteLength / 4);
    this.u16 = new Uint16Array(buffer, byteOffset, byteLength / 2);
    const code = this.i32[H_VARIANT] as number;
    const variant = MAPTRACK_VARIANTS.find((v) => VARIANT_CODE[v] === code);
    if (variant === undefined) throw new Error(`maptrack buffer has unknown variant ${code}`);
    this.variant = variant;
    this.nrVcpus = this.i32[H_NR_VCPUS] as number;
    this.maxFrames = this.i32[H_MAX_FRAMES] as number;
    this.perVcpu = variant !== "single-locked";
    this.locked = variant === "per-vcpu-locked";
  }

  /** A new, empty maptrack (no pages yet: the first get grows it, as in Xen). */
  static create(options: MaptrackOptions): Maptrack {
    const { variant, nrVcpus } = options;
    const maxMaptrackFrames = options.maxMaptrackFrames ?? DEFAULT_MAX_MAPTRACK_FRAMES;
    if (!(variant in VARIANT_CODE)) throw new RangeError(`unknown maptrack variant ${String(variant)}`);
    if (!Number.isInteger(nrVcpus) || nrVcpus < 1 || nrVcpus > MAX_VIRT_CPUS) throw new RangeError(`bad vcpu count ${nrVcpus}`);
    if (!Number.isInteger(maxMaptrackFrames) || maxMaptrackFrames < 1) throw new RangeError(`bad max_maptrack_frames ${maxMaptrackFrames}`);
    const maxFrames = variant === "per-vcpu-lockfree" ? maxMaptrackFrames * nrVcpus : maxMaptrackFrames;
    // Handles are int32 and MAPTRACK_TAIL is -1: stay well inside 2^31 handles.
    if (maxFrames * MAPTRACK_PER_PAGE >= 2 ** 30) throw new RangeError(`maptrack limit of ${maxFrames} frames is too large`);
    // The buffer is sized for the limit up front (workers cannot see a buffer swapped later); the
    // OS commits its pages only when touched, so an unused limit costs address space only.
    const bytes = ENTRIES_BASE * 4 + maxFrames * XEN_PAGE_SIZE;
    const i32 = options.heap === undefined ? new Int32Array(new SharedArrayBuffer(bytes)) : options.heap.hvArray(Int32Array, bytes / 4);
    i32[H_VARIANT] = VARIANT_CODE[variant];
    i32[H_NR_VCPUS] = nrVcpus;
    i32[H_MAX_FRAMES] = maxFrames;
    i32[H_HEAD] = MAPTRACK_TAIL;
    for (let v = 0; v < nrVcpus; v++) {
      i32[VCPU_BASE + v * VCPU_STRIDE + V_HEAD] = MAPTRACK_TAIL;
      i32[VCPU_BASE + v * VCPU_STRIDE + V_TAIL] = MAPTRACK_TAIL;
    }
    const mt = new Maptrack(i32.buffer as SharedArrayBuffer, i32.byteOffset, i32.byteLength);
    if (options.lockClock !== undefined) mt.lockTime = new LockTime(options.lockClock);
    return mt;
  }

  /** Lock hold and wait on the virtual clock (created with a lockClock), else undefined. */
  lockTimeStats(): Readonly<LockTimeStats> | undefined {
    return this.lockTime === undefined ? undefined : { ...this.lockTime.stats };
  }

  /** Attach to a maptrack created in another thread. */
  static attach(shared: MaptrackShared): Maptrack {
    return new Maptrack(shared.buffer, shared.byteOffset, shared.byteLength);
  }

  /** What another thread needs to attach to this table (its shared buffer). */
  shared(): MaptrackShared {
    return { buffer: this.buffer, byteOffset: this.byteOffset, byteLength: this.byteLength };
  }

  /** maptrack_limit: every handle below it exists. */
  get limit(): number {
    return Atomics.load(this.i32, H_LIMIT);
  }

  /** Maptrack frames allocated so far. */
  get frames(): number {
    return Atomics.load(this.i32, H_NR_FRAMES);
  }

  // ------------------------------------------------------------------ entries

  /** Record a mapping in `handle`'s entry; flags are stored last (users check flags first). */
  setEntry(handle: number, ref: number, domid: number, flags: number): void {
    const w = ENTRIES_BASE + handle * ENTRY_WORDS;
    Atomics.store(this.i32, w + 0, ref | 0);
    Atomics.store(this.u16, w * 2 + 3, domid);
    Atomics.store(this.u16, w * 2 + 2, flags);
  }

  /** The GNTMAP_* flags of the mapping behind `handle`. */
  entryFlags(handle: number): number {
    return Atomics.load(this.u16, (ENTRIES_BASE + handle * ENTRY_WORDS) * 2 + 2);
  }

  /** Set the GNTMAP_* flags of the mapping behind `handle`. */
  setEntryFlags(handle: number, flags: number): void {
    Atomics.store(this.u16, (ENTRIES_BASE + handle * ENTRY_WORDS) * 2 + 2, flags);
  }

  /** The grant reference mapped through `handle`. */
  entryRef(handle: number): number {
    return Atomics.load(this.i32, ENTRIES_BASE + handle * ENTRY_WORDS) >>> 0;
  }

  /** The domid that granted the reference mapped through `handle`. */
  entryDomid(handle: number): number {
    return Atomics.load(this.u16, (ENTRIES_BASE + handle * ENTRY_WORDS) * 2 + 3);
  }

  /** The VCPU whose free list the handle goes back to. */
  entryVcpu(handle: number): number {
    return Atomics.load(this.i32, ENTRIES_BASE + handle * ENTRY_WORDS + 2);
  }

  // ------------------------------------------------------------------ get / put

  /**
   * get_maptrack_handle, run on VCPU `vcpu`: a free handle, or INVALID_MAPTRACK_HANDLE when the
   * table is at its limit and nothing can be stolen. `sink` is charged (none in worker benches).
   */
  get(vcpu: number, sink?: CostSink): number {
    sink?.charge(COST_MAPTRACK_GET);
    const vb = VCPU_BASE + vcpu * VCPU_STRIDE;
    const i32 = this.i32;
    i32[vb + V_GETS] = (i32[vb + V_GETS] as number) + 1;
    let handle: number;
    if (!this.perVcpu) handle = this.getSingle(vcpu, sink);
    else {
      handle = this.getFromList(vcpu, vcpu, sink);
      if (handle === INVALID_MAPTRACK_HANDLE) handle = this.getSlow(vcpu, sink);
    }
    if (handle === INVALID_MAPTRACK_HANDLE) i32[vb + V_FAILS] = (i32[vb + V_FAILS] as number) + 1;
    return handle;
  }

  /** put_maptrack_handle, run on VCPU `vcpu` (which need not be the handle's own). */
  put(vcpu: number, handle: number, sink?: CostSink): void {
    if (!Number.isInteger(handle) || handle < 0 || handle >= this.limit) throw new Error(`put of maptrack handle ${handle} outside the table`);
    sink?.charge(COST_MAPTRACK_PUT);
    const i32 = this.i32;
    const vb = VCPU_BASE + vcpu * VCPU_STRIDE;
    i32[vb + V_PUTS] = (i32[vb + V_PUTS] as number) + 1;
    const e = ENTRIES_BASE + handle * ENTRY_WORDS;
    if (!this.perVcpu) {
      this.lock(H_LOCK, vb, sink);
      i32[e] = i32[H_HEAD] as number;
      i32[H_HEAD] = handle;
      this.unlock(H_LOCK, sink);
      return;
    }
    // 1. The entry becomes a tail.
    Atomics.store(i32, e, MAPTRACK_TAIL);
    // 2. Append it to the list of the VCPU it came from (it may be running elsewhere).
    const owner = VCPU_BASE + Atomics.load(i32, e + 2) * VCPU_STRIDE;
    if (this.locked) this.lock(owner + V_LOCK, vb, sink);
    let cur = Atomics.load(i32, owner + V_TAIL);
    let prev: number;
    do {
      prev = cur;
      cur = Atomics.compareExchange(i32, owner + V_TAIL, prev, handle);
    } while (cur !== prev);
    // 3. Link the old tail to it. The old tail exists: a list is never empty.
    Atomics.store(i32, ENTRIES_BASE + prev * ENTRY_WORDS, handle);
    if (this.locked) this.unlock(owner + V_LOCK, sink);
  }

  /** _get_maptrack_handle / __get_maptrack_handle: pop `victim`'s list, keeping its last entry. */
  private getFromList(victim: number, caller: number, sink: CostSink | undefined): number {
    const i32 = this.i32;
    const vb = VCPU_BASE + victim * VCPU_STRIDE;
    if (this.locked) this.lock(vb + V_LOCK, VCPU_BASE + caller * VCPU_STRIDE, sink);
    let result = INVALID_MAPTRACK_HANDLE;
    for (;;) {
      const head = Atomics.load(i32, vb + V_HEAD);
      // No maptrack page for this VCPU yet.
      if (head === MAPTRACK_TAIL) break;
      // The list is never empty: its last entry is not handed out, so a remote put can append.
      const next = Atomics.load(i32, ENTRIES_BASE + head * ENTRY_WORDS);
      if (next === MAPTRACK_TAIL) break;
      if (Atomics.compareExchange(i32, vb + V_HEAD, head, next) === head) {
        result = head;
        break;
      }
    }
    if (this.locked) this.unlock(vb + V_LOCK, sink);
    return result;
  }

  /** get_maptrack_handle's slow path: grow by one maptrack page, or steal when at the limit. */
  private getSlow(vcpu: number, sink: CostSink | undefined): number {
    const i32 = this.i32;
    const vb = VCPU_BASE + vcpu * VCPU_STRIDE;
    this.lock(H_LOCK, vb, sink);
    if ((i32[H_NR_FRAMES] as number) >= this.maxFrames) {
      // No other VCPU adds a frame once the limit is reached: the lock can go.
      this.unlock(H_LOCK, sink);
      if (i32[vb + V_TAIL] === MAPTRACK_TAIL) {
        // Uninitialised free list: steal an extra entry for the tail sentinel.
        const sentinel = this.steal(vcpu, sink);
        if (sentinel === INVALID_MAPTRACK_HANDLE) return sentinel;
        if (this.locked) this.lock(vb + V_LOCK, vb, sink);
        Atomics.store(i32, ENTRIES_BASE + sentinel * ENTRY_WORDS, MAPTRACK_TAIL);
        Atomics.store(i32, vb + V_TAIL, sentinel);
        if (Atomics.load(i32, vb + V_HEAD) === MAPTRACK_TAIL) Atomics.store(i32, vb + V_HEAD, sentinel);
        if (this.locked) this.unlock(vb + V_LOCK, sink);
      }
      return this.steal(vcpu, sink);
    }
    const handle = this.allocPage(vcpu, sink);
    const last = ENTRIES_BASE + (handle + MAPTRACK_PER_PAGE - 1) * ENTRY_WORDS;
    // Set the tail directly if this is the VCPU's first page.
    if (i32[vb + V_TAIL] === MAPTRACK_TAIL) Atomics.store(i32, vb + V_TAIL, handle + MAPTRACK_PER_PAGE - 1);
    if (this.locked) {
      this.unlock(H_LOCK, sink);
      this.lock(vb + V_LOCK, vb, sink);
      i32[last] = i32[vb + V_HEAD] as number;
      Atomics.store(i32, vb + V_HEAD, handle + 1);
      this.unlock(vb + V_LOCK, sink);
      return handle;
    }
    // Lock-free: put the rest of the page in front of the current head.
    let head: number;
    do {
      head = Atomics.load(i32, vb + V_HEAD);
      Atomics.store(i32, last, head);
    } while (Atomics.compareExchange(i32, vb + V_HEAD, head, handle + 1) !== head);
    this.unlock(H_LOCK, sink);
    return handle;
  }

  /** steal_maptrack_handle: take a handle from some VCPU's list; it becomes the thief's. */
  private steal(vcpu: number, sink: CostSink | undefined): number {
    const i32 = this.i32;
    const vb = VCPU_BASE + vcpu * VCPU_STRIDE;
    // Xen picks the first victim at random; the model rotates it, so runs replay exactly.
    const first = ((i32[vb + V_STEAL_NEXT] as number) + vcpu + 1) % this.nrVcpus;
    i32[vb + V_STEAL_NEXT] = (i32[vb + V_STEAL_NEXT] as number) + 1;
    let i = first;
    do {
      const handle = this.getFromList(i, vcpu, sink);
      if (handle !== INVALID_MAPTRACK_HANDLE) {
        Atomics.store(i32, ENTRIES_BASE + handle * ENTRY_WORDS + 2, vcpu);
        i32[vb + V_STEALS] = (i32[vb + V_STEALS] as number) + 1;
        return handle;
      }
      i = (i + 1) % this.nrVcpus;
    } while (i !== first);
    return INVALID_MAPTRACK_HANDLE;
  }

  /** The older single free list: pop under the domain lock, growing while it is empty. */
  private getSingle(vcpu: number, sink: CostSink | undefined): number {
    const i32 = this.i32;
    const vb = VCPU_BASE + vcpu * VCPU_STRIDE;
    this.lock(H_LOCK, vb, sink);
    let handle = i32[H_HEAD] as number;
    if (handle === MAPTRACK_TAIL && (i32[H_NR_FRAMES] as number) < this.maxFrames) {
      const first = this.allocPage(vcpu, sink);
      // The new page's last entry links to the old (empty) list; the first entry is handed out.
      i32[ENTRIES_BASE + (first + MAPTRACK_PER_PAGE - 1) * ENTRY_WORDS] = i32[H_HEAD] as number;
      i32[H_HEAD] = first + 1;
      handle = first;
    } else if (handle !== MAPTRACK_TAIL) {
      i32[H_HEAD] = i32[ENTRIES_BASE + handle * ENTRY_WORDS] as number;
    }
    this.unlock(H_LOCK, sink);
    return handle === MAPTRACK_TAIL ? INVALID_MAPTRACK_HANDLE : handle;
  }

  /** alloc_xenheap_page for the maptrack, under the domain lock: entries chained, owned by `vcpu`. */
  private allocPage(vcpu: number, sink: CostSink | undefined): number {
    sink?.charge(COST_MAPTRACK_GROW);
    const i32 = this.i32;
    const vb = VCPU_BASE + vcpu * VCPU_STRIDE;
    i32[vb + V_GROWS] = (i32[vb + V_GROWS] as number) + 1;
    const handle = i32[H_LIMIT] as number;
    for (let i = 0; i < MAPTRACK_PER_PAGE; i++) {
      const e = ENTRIES_BASE + (handle + i) * ENTRY_WORDS;
      i32[e] = handle + i + 1;
      i32[e + 1] = 0;
      i32[e + 2] = vcpu;
      i32[e + 3] = 0;
    }
    i32[H_NR_FRAMES] = (i32[H_NR_FRAMES] as number) + 1;
    // Publish the page's entries before the limit that makes them valid handles.
    Atomics.store(i32, H_LIMIT, handle + MAPTRACK_PER_PAGE);
    return handle;
  }

  // ------------------------------------------------------------------ locks

  /** spin_lock on word `at`; counts a contended acquisition against the caller's block `vb`. */
  private lock(at: number, vb: number, sink: CostSink | undefined): void {
    // On the virtual clock first: the lock's own cost is part of its hold.
    if (sink !== undefined) this.lockTime?.acquire(at, sink);
    sink?.charge(COST_MAPTRACK_LOCK);
    const i32 = this.i32;
    if (Atomics.compareExchange(i32, at, 0, 1) === 0) return;
    i32[vb + V_CONTENDED] = (i32[vb + V_CONTENDED] as number) + 1;
    for (let spins = 0; spins < SPINS_BEFORE_WAIT; spins++) {
      if (Atomics.load(i32, at) === 0 && Atomics.compareExchange(i32, at, 0, 1) === 0) return;
    }
    // 2 = held with sleepers (Drepper's futex mutex): the unlocker then wakes one.
    while (Atomics.exchange(i32, at, 2) !== 0) Atomics.wait(i32, at, 2);
  }

  private unlock(at: number, sink: CostSink | undefined): void {
    if (sink !== undefined) this.lockTime?.release(at, sink);
    if (Atomics.exchange(this.i32, at, 0) === 2) Atomics.notify(this.i32, at, 1);
  }

  // ------------------------------------------------------------------ checks

  /** Counters summed over VCPUs. */
  stats(): MaptrackStats {
    const i32 = this.i32;
    let gets = 0;
    let puts = 0;
    let steals = 0;
    let contended = 0;
    let grows = 0;
    let failures = 0;
    for (let v = 0; v < this.nrVcpus; v++) {
      const vb = VCPU_BASE + v * VCPU_STRIDE;
      gets += i32[vb + V_GETS] as number;
      puts += i32[vb + V_PUTS] as number;
      steals += i32[vb + V_STEALS] as number;
      contended += i32[vb + V_CONTENDED] as number;
      grows += i32[vb + V_GROWS] as number;
      failures += i32[vb + V_FAILS] as number;
    }
    return { gets, puts, steals, contended, grows, failures, frames: this.frames, limit: this.limit };
  }

  /**
   * Walk every free list (only while no thread uses the table) and return the free handles, in
   * list order; throws if a handle appears twice, a list does not end at its tail, or a link leaves
   * the table. Handles below `limit` that are not returned are in use.
   */
  freeHandles(): number[] {
    const i32 = this.i32;
    const limit = this.limit;
    const seen = new Uint8Array(limit);
    const out: number[] = [];
    const walk = (head: number, tail: number | undefined, label: string): void => {
      let h = head;
      let last = MAPTRACK_TAIL;
      while (h !== MAPTRACK_TAIL) {
        if (h < 0 || h >= limit) throw new Error(`${label}: link to ${h} outside the table (limit ${limit})`);
        if (seen[h]) throw new Error(`${label}: handle ${h} is on the free lists twice`);
        seen[h] = 1;
        out.push(h);
        last = h;
        h = i32[ENTRIES_BASE + h * ENTRY_WORDS] as number;
      }
      if (tail !== undefined && last !== tail) throw new Error(`${label}: list ends at ${last}, tail says ${tail}`);
    };
    if (!this.perVcpu) walk(i32[H_HEAD] as number, undefined, "free list");
    else {
      for (let v = 0; v < this.nrVcpus; v++) {
        const vb = VCPU_BASE + v * VCPU_STRIDE;
        walk(i32[vb + V_HEAD] as number, i32[vb + V_TAIL] as number, `vcpu ${v} free list`);
      }
    }
    return out;
  }

  /** Handles currently handed out (limit minus free entries, sentinels included). Quiescent only. */
  inUse(): number {
    return this.limit - this.freeHandles().length;
  }
}
