/**
 * The mapper's view of a granted frame after GNTTABOP_map_grant_ref with GNTMAP_host_map: in Xen,
 * a PTE at `host_addr` pointing at the granter's frame. Here, a bounds-checked window over exactly
 * that one machine frame (zero copy: reads and writes go straight to the granter's page). Unmap
 * revokes it, so a use after unmap faults instead of reaching memory.
 *
 * Every access goes through a method, which marks the mapping touched: an unmap of a mapping that
 * was never touched needs no TLB flush (the motivation of Linux bdab82759b8e). The object belongs to the maptrack handle
 * and is reused when the handle is handed out again, like a virtual address.
 */
import { type Machine, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import { GrantTableError } from "./errors.js";

/** Counters shared by every mapping of a grant-table instance. */
export interface MappingCounters {
  /** Mappings touched at least once before their unmap. */
  touched: number;
}

/** The mapper's bounds-checked window over one granted frame (GNTMAP_host_map), revoked at unmap (see the module comment). */
export class GrantMapping {
  /** Absolute byte offset of the mapped frame in machine memory; -1 when not mapped. */
  private base = -1;
  private mfn = 0;
  /** Domain whose frame is mapped (its owner must not change while mapped). */
  granter = 0;
  /** Grant reference in the granter's table. */
  ref = 0;
  /** The `host_addr` the mapping was created at (unmap must name it). */
  hostAddr = 0;
  readonly = false;
  touched = false;

  constructor(
    private readonly machine: Machine,
    /** The mapping domain. */
    readonly mapper: number,
    /** The maptrack handle this view belongs to. */
    readonly handle: number,
    private readonly counters: MappingCounters,
  ) {}

  /** True while the mapping is in place. */
  get live(): boolean {
    return this.base >= 0;
  }

  /** Install the mapping (create_grant_host_mapping). Called by the grant table only. */
  bind(mfn: number, hostAddr: number, readonly: boolean, granter: number, ref: number): void {
    this.mfn = mfn;
    this.base = mfn * XEN_PAGE_SIZE;
    this.hostAddr = hostAddr;
    this.readonly = readonly;
    this.granter = granter;
    this.ref = ref;
    this.touched = false;
  }

  /** Remove the mapping (replace_grant_host_mapping); returns whether it had been touched. */
  revoke(): boolean {
    this.base = -1;
    return this.touched;
  }

  /** Access the page without moving data (e.g. a prefetch): it now needs a TLB flush on unmap. */
  touch(): void {
    this.check(0, 0, false);
  }

  /** Read the byte at `offset` of the mapped frame. */
  readU8(offset: number): number {
    return this.machine.view.getUint8(this.check(offset, 1, false));
  }

  /** Read the little-endian u16 at `offset` of the mapped frame. */
  readU16(offset: number): number {
    return this.machine.view.getUint16(this.check(offset, 2, false), true);
  }

  /** Read the little-endian u32 at `offset` of the mapped frame. */
  readU32(offset: number): number {
    return this.machine.view.getUint32(this.check(offset, 4, false), true);
  }

  /** Write the byte at `offset` (faults on a read-only mapping). */
  writeU8(offset: number, value: number): void {
    this.machine.view.setUint8(this.check(offset, 1, true), value);
  }

  /** Write a little-endian u16 at `offset` (faults on a read-only mapping). */
  writeU16(offset: number, value: number): void {
    this.machine.view.setUint16(this.check(offset, 2, true), value, true);
  }

  /** Write a little-endian u32 at `offset` (faults on a read-only mapping). */
  writeU32(offset: number, value: number): void {
    this.machine.view.setUint32(this.check(offset, 4, true), value, true);
  }

  /** Copy `len` bytes at `offset` of the mapped frame into `dst` (ordinary memory of the caller). */
  read(offset: number, dst: Uint8Array, dstOffset: number, len: number): void {
    const at = this.check(offset, len, false);
    if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset + len > dst.length) throw new GrantTableError("ERANGE", "read past the end of the destination");
    const bytes = this.machine.bytes;
    for (let i = 0; i < len; i++) dst[dstOffset + i] = bytes[at + i] as number;
  }

  /** Copy `len` bytes of `src` into the mapped frame at `offset`. */
  write(offset: number, src: Uint8Array, srcOffset: number, len: number): void {
    const at = this.check(offset, len, true);
    if (!Number.isInteger(srcOffset) || srcOffset < 0 || srcOffset + len > src.length) throw new GrantTableError("ERANGE", "write past the end of the source");
    this.machine.bytes.set(src.subarray(srcOffset, srcOffset + len), at);
  }

  /**
   * memcpy from the mapped frame to the mapper's own memory at absolute byte offset `dst` (a
   * frame the mapper owns, e.g. `domain.pageOffset(gfn) + off`), with wasm memory.copy.
   */
  copyTo(dst: number, offset: number, len: number): void {
    const at = this.check(offset, len, false);
    this.checkOwn(dst, len);
    this.machine.copy(dst, at, len);
  }

  /** memcpy from the mapper's own memory at absolute byte offset `src` into the mapped frame. */
  copyFrom(src: number, offset: number, len: number): void {
    const at = this.check(offset, len, true);
    this.checkOwn(src, len);
    this.machine.copy(at, src, len);
  }

  /** Absolute offset of [offset, offset+len) after every check; marks the mapping touched. */
  private check(offset: number, len: number, write: boolean): number {
    if (this.base < 0) throw new GrantTableError("EFAULT", `access through unmapped grant handle ${this.handle} of d${this.mapper}`);
    // The mapping holds the frame: if its owner changed, the model's page accounting broke.
    if (this.machine.ownerOf(this.mfn) !== this.granter) throw new GrantTableError("EFAULT", `mapped frame ${this.mfn} no longer belongs to d${this.granter}`);
    // Bytes outside the frame are not part of this mapping at all: that is checked before what
    // the mapping permits on its own bytes.
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 0 || offset + len > XEN_PAGE_SIZE) {
      throw new GrantTableError("ERANGE", `bytes [${offset}, ${offset}+${len}) are outside the mapped frame`);
    }
    if (write && this.readonly) throw new GrantTableError("EACCES", `write through read-only grant handle ${this.handle}`);
    if (!this.touched) {
      this.touched = true;
      this.counters.touched++;
    }
    return this.base + offset;
  }

  private checkOwn(at: number, len: number): void {
    const frame = Math.floor(at / XEN_PAGE_SIZE);
    if (!Number.isInteger(at) || at < 0 || (at % XEN_PAGE_SIZE) + len > XEN_PAGE_SIZE || this.machine.ownerOf(frame) !== this.mapper) {
      throw new GrantTableError("ERANGE", `bytes at ${at}+${len} are not within one frame of d${this.mapper}`);
    }
  }
}
