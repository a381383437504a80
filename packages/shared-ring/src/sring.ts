/**
 * The shared ring page(s) of xen/include/public/io/ring.h (`struct <tag>_sring`): a 64-byte header
 * (req_prod, req_event, rsp_prod, rsp_event, a 4-byte private union and 44 bytes of pad) followed
 * by a power-of-two array of slots, each the union of a request and a response.
 *
 * In ring.h the sring is one virtually contiguous area of nr_pages * 4096 bytes. Here the pages
 * are machine frames that are in general NOT contiguous (a backend grant-maps them page by page),
 * so every slot's absolute byte offset is looked up in a per-ring table built at construction.
 * A slot whose bytes straddle a page boundary (12-byte tx slots do at the 8192-byte boundary of a
 * 4- or 8-page ring: 8192 - 64 is not a multiple of 12) is gathered into / scattered from a small
 * per-ring bounce buffer, so every layout works on every page count.
 *
 * Header fields are read and written with `Atomics` on a `Uint32Array` (seq-cst: the store of a
 * producer index publishes every slot byte written before it, which is what xen_wmb() is for,
 * and a store followed by a load is ordered, which is what xen_mb() is for).
 */
import { XEN_PAGE_SHIFT, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import { RingError } from "./errors.js";

/** Byte layout of the sring header (`struct <tag>_sring` before `ring[]`), from io/ring.h. */
export const SRING_HEADER = Object.freeze({
  /** Bytes before the first slot: 4 indices, the 4-byte pvt union and 44 bytes of pad. */
  SIZEOF: 64,
  REQ_PROD: 0,
  REQ_EVENT: 4,
  RSP_PROD: 8,
  RSP_EVENT: 12,
  /** `union { struct {uint8_t smartpoll_active;} netif; ...; uint8_t pvt_pad[4]; } pvt` */
  PVT: 16,
  PVT_SIZE: 4,
  /** `uint8_t __pad[44]` */
  PAD: 20,
  PAD_SIZE: 44,
  /** `union entry ring[]` */
  RING: 64,
});

// The header's parts tile its 64 bytes exactly (checked once at load).
if (SRING_HEADER.PAD + SRING_HEADER.PAD_SIZE !== SRING_HEADER.RING || SRING_HEADER.RING !== SRING_HEADER.SIZEOF) {
  throw new Error("SRING_HEADER fields do not tile the 64-byte header");
}

/**
 * Page counts a ring may span: 1, 2, 4, 8 (orders 0..3, the orders `XEN_FLEX_RING_SIZE` is listed
 * for in abi-facts.json). Linux netfront/netback use one page per data ring; multi-page rings are
 * for experiments and other ring users. Bounding it bounds the per-ring slot table.
 */
export const RING_PAGE_COUNTS: readonly number[] = Object.freeze([1, 2, 4, 8]);
/** Largest page count (order 3). */
export const MAX_RING_PAGES = 8;
/**
 * Largest slot size accepted: bounds the bounce buffer. Far above netif's slots (tx 12, rx 8,
 * ctrl 16) and still above blkif's 112-byte request, the largest common Xen ring entry.
 */
export const MAX_SLOT_BYTES = 256;

/** What a ring stores in each slot: the sizes of its request and response structs. */
export interface RingLayout {
  /** For messages: e.g. "netif_tx". */
  readonly name: string;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** sizeof(union { req; rsp; }): the larger of the two (every Xen ring's is a multiple of its alignment). */
  readonly slotBytes: number;
}

/** DEFINE_RING_TYPES(name, request, response): a frozen layout whose slot is the union of both. */
export function defineRingLayout(name: string, requestBytes: number, responseBytes: number): RingLayout {
  for (const [what, n] of [
    ["request", requestBytes],
    ["response", responseBytes],
  ] as const) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_SLOT_BYTES) {
      throw new RingError("ERING_LAYOUT", `${name}: ${what} size ${n} not in 1..${MAX_SLOT_BYTES}`);
    }
  }
  return Object.freeze({ name, requestBytes, responseBytes, slotBytes: Math.max(requestBytes, responseBytes) });
}

/**
 * __CONST_RING_SIZE / __RING_SIZE: the number of slots that fit in `ringBytes` after the 64-byte
 * header, rounded DOWN to a power of two so an index is reduced with `idx & (size - 1)`.
 * Returns 0 when not even one slot fits.
 */
export function constRingSize(ringBytes: number, slotBytes: number): number {
  if (!Number.isInteger(ringBytes) || !Number.isInteger(slotBytes) || slotBytes < 1) return 0;
  const raw = Math.floor((ringBytes - SRING_HEADER.SIZEOF) / slotBytes);
  if (raw < 1) return 0;
  // __RD32: the largest power of two <= raw (raw < 2^31 here).
  return 2 ** (31 - Math.clz32(raw));
}

/**
 * The memory a ring lives in: typed views over one buffer, all starting at the same byte (a
 * `Machine` is one: its `bytes`, `u32` and `view` cover all machine memory).
 */
export interface RingMemory {
  readonly bytes: Uint8Array;
  readonly u32: Uint32Array;
  readonly view: DataView;
}

/** Views over a whole (Shared)ArrayBuffer, for rings outside a `Machine` (tests, threaded benches). */
export function ringMemoryOver(buffer: ArrayBufferLike): RingMemory {
  const len = buffer.byteLength & ~3;
  return { bytes: new Uint8Array(buffer, 0, len), u32: new Uint32Array(buffer, 0, len >>> 2), view: new DataView(buffer, 0, len) };
}

/** Decodes one slot from `view` at `byteOffset` into the caller-owned `out` (e.g. netif's readTxRequest). */
export type SlotDecoder<T> = (view: DataView, byteOffset: number, out: T) => unknown;
/** Encodes `value` into one slot of `view` at `byteOffset` (e.g. netif's writeTxRequest). */
export type SlotEncoder<T> = (view: DataView, byteOffset: number, value: T) => unknown;

/**
 * One shared ring (`struct <tag>_sring`) over `pageOffsets.length` pages of `memory`. Holds no
 * private producer/consumer state: that is `FrontRing` / `BackRing`, one on each side.
 */
export class SharedRing {
  readonly layout: RingLayout;
  readonly memory: RingMemory;
  /** Absolute byte offsets (in `memory.bytes`) of the ring's pages, in ring order. */
  readonly pageOffsets: readonly number[];
  /** RING_SIZE: number of slots, a power of two. */
  readonly size: number;
  /** True when at least one slot straddles a page boundary (then `slotOffset` returns -1 for it). */
  readonly hasStraddlingSlots: boolean;
  private readonly mask: number;
  private readonly slotBytes: number;
  private readonly u32: Uint32Array;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  /** u32 index of req_prod; the other header words follow. */
  private readonly hdr: number;
  /** Absolute byte offset of each slot, or -1 when the slot straddles two pages. */
  private readonly slotOffsets: Int32Array;
  /** Bounce buffer for straddling slots (preallocated: the copy path allocates nothing). */
  private readonly bounce: Uint8Array;
  private readonly bounceView: DataView;

  constructor(memory: RingMemory, pageOffsets: readonly number[], layout: RingLayout) {
    const { bytes, u32, view } = memory;
    if (u32.buffer !== bytes.buffer || view.buffer !== bytes.buffer) {
      throw new RingError("ERING_LAYOUT", "bytes, u32 and view must cover the same buffer");
    }
    if (u32.byteOffset !== bytes.byteOffset || view.byteOffset !== bytes.byteOffset) {
      throw new RingError("ERING_LAYOUT", "bytes, u32 and view must start at the same byte");
    }
    const nPages = pageOffsets.length;
    if (!RING_PAGE_COUNTS.includes(nPages)) {
      throw new RingError("ERING_LAYOUT", `${layout.name}: ${nPages} pages; a ring spans ${RING_PAGE_COUNTS.join(", ")} pages`);
    }
    if (layout.slotBytes < 1 || layout.slotBytes > MAX_SLOT_BYTES) {
      throw new RingError("ERING_LAYOUT", `${layout.name}: slot of ${layout.slotBytes} bytes`);
    }
    const limit = Math.min(bytes.length, u32.length * 4, view.byteLength);
    for (let p = 0; p < nPages; p++) {
      const off = pageOffsets[p] as number;
      if (!Number.isInteger(off) || off < 0 || off + XEN_PAGE_SIZE > limit) {
        throw new RingError("ERING_LAYOUT", `${layout.name}: page ${p} at ${off} is outside the ring memory`);
      }
      // Pages are whole, distinct frames: overlapping pages would alias slots.
      for (let q = 0; q < p; q++) {
        if (Math.abs(off - (pageOffsets[q] as number)) < XEN_PAGE_SIZE) {
          throw new RingError("ERING_LAYOUT", `${layout.name}: pages ${q} and ${p} overlap`);
        }
      }
    }
    if ((pageOffsets[0] as number) % 4 !== 0) {
      throw new RingError("ERING_LAYOUT", `${layout.name}: header at ${pageOffsets[0]} is not 4-byte aligned (Atomics)`);
    }
    const size = constRingSize(nPages * XEN_PAGE_SIZE, layout.slotBytes);
    if (size === 0) throw new RingError("ERING_LAYOUT", `${layout.name}: no slot fits in ${nPages} pages`);

    this.layout = layout;
    this.memory = memory;
    this.pageOffsets = Object.freeze([...pageOffsets]);
    this.size = size;
    this.mask = size - 1;
    this.slotBytes = layout.slotBytes;
    this.u32 = u32;
    this.view = view;
    this.bytes = bytes;
    this.hdr = (pageOffsets[0] as number) >>> 2;
    this.slotOffsets = new Int32Array(size);
    let straddles = false;
    for (let i = 0; i < size; i++) {
      const v = SRING_HEADER.RING + i * layout.slotBytes;
      const first = v >>> XEN_PAGE_SHIFT;
      const last = (v + layout.slotBytes - 1) >>> XEN_PAGE_SHIFT;
      if (first === last) {
        this.slotOffsets[i] = (pageOffsets[first] as number) + (v & (XEN_PAGE_SIZE - 1));
      } else {
        this.slotOffsets[i] = -1;
        straddles = true;
      }
    }
    this.hasStraddlingSlots = straddles;
    this.bounce = new Uint8Array(layout.slotBytes);
    this.bounceView = new DataView(this.bounce.buffer);
  }

  /** A ring over machine frames `mfns` (in ring order) of anything shaped like a `Machine`. */
  static overFrames(
    machine: RingMemory & { frameOffset(mfn: number): number },
    mfns: readonly number[],
    layout: RingLayout,
  ): SharedRing {
    return new SharedRing(
      machine,
      mfns.map((mfn) => machine.frameOffset(mfn)),
      layout,
    );
  }

  /**
   * SHARED_RING_INIT (frontend only): req_prod = rsp_prod = 0, req_event = rsp_event = 1, the pvt
   * union and the pad zeroed. Slot contents are left as they are.
   */
  init(): void {
    const h = this.hdr;
    Atomics.store(this.u32, h, 0);
    Atomics.store(this.u32, h + 2, 0);
    Atomics.store(this.u32, h + 1, 1);
    Atomics.store(this.u32, h + 3, 1);
    const base = this.pageOffsets[0] as number;
    this.bytes.fill(0, base + SRING_HEADER.PVT, base + SRING_HEADER.RING);
  }

  /** Shared `req_prod` (written by the front end). */
  get reqProd(): number {
    return Atomics.load(this.u32, this.hdr);
  }
  /** Publish `req_prod` (a store-release: the requests before it are visible first). */
  set reqProd(v: number) {
    Atomics.store(this.u32, this.hdr, v >>> 0);
  }
  /** Shared `req_event`: the back end asks to be notified when req_prod passes it. */
  get reqEvent(): number {
    return Atomics.load(this.u32, this.hdr + 1);
  }
  /** Write `req_event`. */
  set reqEvent(v: number) {
    Atomics.store(this.u32, this.hdr + 1, v >>> 0);
  }
  /** Shared `rsp_prod` (written by the back end). */
  get rspProd(): number {
    return Atomics.load(this.u32, this.hdr + 2);
  }
  /** Publish `rsp_prod` (a store-release: the responses before it are visible first). */
  set rspProd(v: number) {
    Atomics.store(this.u32, this.hdr + 2, v >>> 0);
  }
  /** Shared `rsp_event`: the front end asks to be notified when rsp_prod passes it. */
  get rspEvent(): number {
    return Atomics.load(this.u32, this.hdr + 3);
  }
  /** Write `rsp_event`. */
  set rspEvent(v: number) {
    Atomics.store(this.u32, this.hdr + 3, v >>> 0);
  }

  /** Index of the slot that ring index `idx` maps to (`idx & (RING_SIZE - 1)`). */
  slotIndex(idx: number): number {
    return idx & this.mask;
  }

  /**
   * Absolute byte offset in `memory` of the slot for ring index `idx` (RING_GET_REQUEST /
   * RING_GET_RESPONSE), or -1 when that slot straddles two pages: then use `readSlot`/`writeSlot`.
   * `hasStraddlingSlots` false guarantees a real offset for every index.
   */
  slotOffset(idx: number): number {
    return this.slotOffsets[idx & this.mask] as number;
  }

  /**
   * RING_COPY_REQUEST / RING_COPY_RESPONSE: decode the slot for `idx` once into the caller-owned
   * `out`, which is then the only copy to validate and use (the peer may still change the slot).
   * Allocates nothing.
   */
  readSlot<T>(idx: number, decode: SlotDecoder<T>, out: T): T {
    const off = this.slotOffsets[idx & this.mask] as number;
    if (off >= 0) {
      decode(this.view, off, out);
    } else {
      this.gather(idx & this.mask);
      decode(this.bounceView, 0, out);
    }
    return out;
  }

  /** Encode `value` into the slot for `idx`. Allocates nothing. */
  writeSlot<T>(idx: number, encode: SlotEncoder<T>, value: T): void {
    const off = this.slotOffsets[idx & this.mask] as number;
    if (off >= 0) {
      encode(this.view, off, value);
    } else {
      const slot = idx & this.mask;
      this.gather(slot); // keep the bytes the encoder does not write (e.g. a response's tail)
      encode(this.bounceView, 0, value);
      this.scatter(slot);
    }
  }

  /** Where byte `k` of slot `slot` lives (absolute offset). */
  private byteAt(slot: number, k: number): number {
    const v = SRING_HEADER.RING + slot * this.slotBytes + k;
    return (this.pageOffsets[v >>> XEN_PAGE_SHIFT] as number) + (v & (XEN_PAGE_SIZE - 1));
  }

  private gather(slot: number): void {
    for (let k = 0; k < this.slotBytes; k++) this.bounce[k] = this.bytes[this.byteAt(slot, k)] as number;
  }

  private scatter(slot: number): void {
    for (let k = 0; k < this.slotBytes; k++) this.bytes[this.byteAt(slot, k)] = this.bounce[k] as number;
  }
}
