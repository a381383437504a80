import { DOMID_SELF } from "@pvnet/hypervisor";
import { describe, expect, test } from "vitest";
import {
  GNTCOPY,
  GNTMAP,
  GNTPIN,
  GNTST,
  GnttabCopyBatch,
  GnttabMapBatch,
  GnttabUnmapBatch,
  GTF,
  isGrantTableError,
  OP_COPY,
  OP_MAP_GRANT_REF,
  OP_UNMAP_GRANT_REF,
} from "../src/index.js";
import { hostAddr, makeWorld, pattern } from "./helpers.js";

const HOST = GNTMAP.host_map;
const HOST_RO = GNTMAP.host_map | GNTMAP.readonly;

function mapOne(w: ReturnType<typeof makeWorld>, ref: number, flags: number, dom = w.domU.domid, addr = hostAddr(ref)) {
  const b = new GnttabMapBatch(1);
  b.add(addr, flags, ref, dom);
  w.gt.mapGrantRef(w.v0, b);
  return { status: b.status[0]!, handle: b.handle[0]!, devBusAddr: b.devBusAddr[0]! };
}

function unmapOne(w: ReturnType<typeof makeWorld>, handle: number, addr: number, devBusAddr = 0) {
  const b = new GnttabUnmapBatch(1);
  b.add(addr, handle, devBusAddr);
  w.gt.unmapGrantRef(w.v0, b);
  return b.status[0]!;
}

function flagsOf(w: ReturnType<typeof makeWorld>, ref: number): number {
  return w.hv.machine.view.getUint16(w.guest.entryOffset(ref), true);
}

function catchCode(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    return isGrantTableError(e) ? e.code : `not a GrantTableError: ${String(e)}`;
  }
  return undefined;
}

describe("map and unmap", () => {
  test("a writable map is a zero-copy view of the granted frame, pinned and flagged until unmapped", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, false);
    const r = mapOne(w, ref, HOST);
    expect(r.status).toBe(GNTST.okay);
    expect(r.devBusAddr).toBe(w.domU.gfnToMfn(w.pages[1]!) * 4096);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.hstw_inc);

    const m = w.gt.mapping(w.dom0, r.handle)!;
    expect(m.readU8(5)).toBe(pattern(1, 5));
    m.writeU32(100, 0xdeadbeef);
    expect(w.hv.machine.view.getUint32(w.domU.pageOffset(w.pages[1]!) + 100, true)).toBe(0xdeadbeef);

    // The granter cannot revoke while mapped.
    expect(w.guest.endForeignAccessRef(ref)).toBe(false);
    expect(w.guest.queryForeignAccess(ref)).toBe(GTF.reading | GTF.writing);

    expect(unmapOne(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    expect(w.gt.pinOf(w.domU, ref)).toBe(0);
    expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
    // Use after unmap faults and reaches nothing.
    expect(catchCode(() => m.readU8(0))).toBe("EFAULT");
    expect(catchCode(() => m.writeU8(0, 1))).toBe("EFAULT");
    expect(w.gt.mapping(w.dom0, r.handle)).toBeUndefined();
    expect(w.guest.endForeignAccessRef(ref)).toBe(true);
    expect(flagsOf(w, ref)).toBe(0);
  });

  test("a page the granter frees while mapped keeps its bytes and is not reused until unmapped", () => {
    const w = makeWorld();
    const gfn = w.pages[2]!;
    const mfn = w.domU.gfnToMfn(gfn);
    const ref = w.guest.grantForeignAccess(w.dom0.domid, gfn, true);
    const r = mapOne(w, ref, HOST | GNTMAP.readonly);
    expect(r.status).toBe(GNTST.okay);
    expect(w.hv.machine.pageRefs(mfn)).toBe(1);
    const free = w.hv.machine.freeFrames;
    w.domU.freePage(gfn); // a misbehaving granter: the page leaves its p2m under the mapping
    expect(w.hv.machine.freeFrames).toBe(free); // ...but the frame is not handed out
    expect(w.gt.mapping(w.dom0, r.handle)!.readU8(9)).toBe(pattern(2, 9));
    // The active entry is still pinned, so a second map of the grant shares it...
    const r2 = mapOne(w, ref, HOST | GNTMAP.readonly, w.domU.domid, hostAddr(ref + 100));
    expect(r2.status).toBe(GNTST.okay);
    expect(unmapOne(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    expect(w.hv.machine.freeFrames).toBe(free); // still mapped once
    expect(unmapOne(w, r2.handle, hostAddr(ref + 100))).toBe(GNTST.okay);
    expect(w.hv.machine.pageRefs(mfn)).toBe(0);
    expect(w.hv.machine.freeFrames).toBe(free + 1); // the last put frees it
    // ...and once unpinned, the grant's frame number names no page: bad_page.
    expect(mapOne(w, ref, HOST | GNTMAP.readonly).status).toBe(GNTST.bad_page);
    expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
  });

  test("a read-only grant maps read-only only; writes through it are refused", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    expect(mapOne(w, ref, HOST).status).toBe(GNTST.general_error);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.readonly);
    const r = mapOne(w, ref, HOST_RO);
    expect(r.status).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.readonly | GTF.reading);
    const m = w.gt.mapping(w.dom0, r.handle)!;
    expect(catchCode(() => m.writeU8(0, 1))).toBe("EACCES");
    expect(m.readU16(0)).toBe(pattern(0, 0) | (pattern(0, 1) << 8));
    expect(catchCode(() => m.readU32(4094))).toBe("ERANGE");
    expect(catchCode(() => m.readU8(-1))).toBe("ERANGE");
    expect(unmapOne(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.readonly);
  });

  test("two read-only maps and one writable share one active entry", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const a = mapOne(w, ref, HOST_RO, w.domU.domid, hostAddr(1));
    const b = mapOne(w, ref, HOST_RO, w.domU.domid, hostAddr(2));
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading);
    const c = mapOne(w, ref, HOST, w.domU.domid, hostAddr(3));
    expect([a.status, b.status, c.status]).toEqual([0, 0, 0]);
    expect(w.gt.pinOf(w.domU, ref)).toBe(2 * GNTPIN.hstr_inc + GNTPIN.hstw_inc);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(unmapOne(w, c.handle, hostAddr(3))).toBe(0);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading);
    expect(unmapOne(w, a.handle, hostAddr(1))).toBe(0);
    expect(unmapOne(w, b.handle, hostAddr(2))).toBe(0);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
  });

  test("map refusals return Xen's codes and leave nothing behind", () => {
    const w = makeWorld();
    const toDom0 = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const toX = w.guest.grantForeignAccess(w.domX.domid, w.pages[0]!, false);
    const hole = w.guest.grantForeignAccess(w.dom0.domid, 60, false); // gfn 60 is not populated
    expect(mapOne(w, toDom0, 0).status).toBe(GNTST.bad_gntref); // neither host nor device map
    expect(mapOne(w, toDom0, HOST, 999).status).toBe(GNTST.bad_domain);
    expect(mapOne(w, toDom0, HOST, DOMID_SELF).status).toBe(GNTST.bad_domain);
    expect(mapOne(w, 1024, HOST).status).toBe(GNTST.bad_gntref); // beyond the 2 frames
    expect(mapOne(w, toX, HOST).status).toBe(GNTST.general_error); // granted to another domain
    expect(mapOne(w, 200, HOST).status).toBe(GNTST.general_error); // never granted
    expect(mapOne(w, hole, HOST).status).toBe(GNTST.bad_page);
    expect(flagsOf(w, hole)).toBe(GTF.permit_access); // reading/writing cleared again
    expect(mapOne(w, toDom0, HOST, w.domU.domid, 0).status).toBe(GNTST.general_error); // no host address
    expect(mapOne(w, toDom0, HOST, w.domU.domid, 4097).status).toBe(GNTST.general_error); // unaligned
    expect(flagsOf(w, toDom0)).toBe(GTF.permit_access);
    expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
    expect(w.gt.outstanding(w.domU)).toEqual({ maps: 0, handles: 0, pins: 0 });
    expect(w.hv.stats.get(OP_MAP_GRANT_REF)).toEqual({ calls: 9, ops: 9 });
  });

  test("another domain cannot map a grant pinned by its grantee (active domid)", () => {
    const w = makeWorld();
    // A grant to domX, pinned by domX, then re-pointed at dom0 by the guest: dom0 is refused.
    const ref = w.guest.grantForeignAccess(w.domX.domid, w.pages[0]!, false);
    const bx = new GnttabMapBatch(1);
    bx.add(hostAddr(0), HOST, ref, w.domU.domid);
    w.gt.mapGrantRef(w.domX.vcpus[0]!, bx);
    expect(bx.status[0]).toBe(GNTST.okay);
    w.hv.machine.view.setUint16(w.guest.entryOffset(ref) + 2, w.dom0.domid, true);
    expect(mapOne(w, ref, HOST).status).toBe(GNTST.general_error);
  });

  test("unmap refusals: bad handles, wrong addresses; host_addr 0 unmaps nothing", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    expect(unmapOne(w, 0, hostAddr(0))).toBe(GNTST.bad_handle); // no maptrack yet
    const r = mapOne(w, ref, HOST);
    expect(unmapOne(w, 100_000, hostAddr(ref))).toBe(GNTST.bad_handle);
    expect(unmapOne(w, r.handle + 1, hostAddr(ref))).toBe(GNTST.bad_handle); // free handle
    expect(unmapOne(w, r.handle, hostAddr(ref) + 4096)).toBe(GNTST.general_error);
    expect(unmapOne(w, r.handle, 0, 4096)).toBe(GNTST.okay); // dev_bus_addr of a host-only mapping: ignored
    expect(unmapOne(w, r.handle, 0)).toBe(GNTST.okay); // nothing to do
    expect(w.gt.mapping(w.dom0, r.handle)?.live).toBe(true);
    expect(unmapOne(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    expect(unmapOne(w, r.handle, hostAddr(ref))).toBe(GNTST.bad_handle); // twice
    expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
  });

  test("device maps pin the device counters and are unmapped by bus address", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const r = mapOne(w, ref, GNTMAP.device_map | GNTMAP.host_map);
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.devw_inc + GNTPIN.hstw_inc);
    expect(unmapOne(w, r.handle, hostAddr(ref))).toBe(0); // host part only
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.devw_inc);
    expect(unmapOne(w, r.handle, 0, r.devBusAddr + 4096)).toBe(GNTST.bad_dev_addr);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(unmapOne(w, r.handle, 0, r.devBusAddr)).toBe(0);
    expect(w.gt.pinOf(w.domU, ref)).toBe(0);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
  });

  test("a full maptrack refuses with GNTST_no_space (Xen >= 4.16) and recovers after unmaps", () => {
    const w = makeWorld({ maxMaptrackFrames: 1, dom0Vcpus: 1 });
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const handles: number[] = [];
    let status = 0;
    for (let i = 0; i < 300 && status === 0; i++) {
      const r = mapOne(w, ref, HOST_RO, w.domU.domid, hostAddr(i));
      status = r.status;
      if (status === 0) handles.push(r.handle);
    }
    expect(status).toBe(GNTST.general_error); // the 8-bit pin counter reached 0x80: the guard refuses
    expect(handles.length).toBe(128);
    for (const [i, h] of handles.entries()) expect(unmapOne(w, h, hostAddr(i))).toBe(0);
    // 255 handles fit in one maptrack page (one stays as the never-empty tail).
    const refs = Array.from({ length: 3 }, (_, p) => w.guest.grantForeignAccess(w.dom0.domid, w.pages[p]!, true));
    let mapped = 0;
    for (let i = 0; i < 300; i++) {
      const r = mapOne(w, refs[i % 3]!, HOST_RO, w.domU.domid, hostAddr(i));
      if (r.status === GNTST.no_space) break;
      expect(r.status).toBe(0);
      mapped++;
    }
    expect(mapped).toBe(255);
    expect(w.gt.outstanding(w.dom0).handles).toBe(255);
  });
});

describe("TLB flush on unmap (only for touched mappings)", () => {
  test("unmapping an untouched mapping needs no flush; a touched one does", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const a = mapOne(w, ref, HOST);
    expect(unmapOne(w, a.handle, hostAddr(ref))).toBe(0);
    expect(w.gt.stats.tlbFlushes).toBe(0);
    expect(w.gt.stats.tlbFlushesAvoided).toBe(1);
    const b = mapOne(w, ref, HOST);
    w.gt.mapping(w.dom0, b.handle)!.touch();
    expect(unmapOne(w, b.handle, hostAddr(ref))).toBe(0);
    expect(w.gt.stats.tlbFlushes).toBe(1);
    expect(w.v0.actor.account.report().byKind["tlb.flush"]?.ops).toBe(1);
  });

  test("one flush per group of 32 unmaps, only for groups with a touched mapping", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const maps = new GnttabMapBatch(64);
    for (let i = 0; i < 64; i++) maps.add(hostAddr(i), HOST_RO, ref, w.domU.domid);
    // 64 read-only pins would overflow the 8-bit counter guard at 0x80: use two grants.
    const ref2 = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, true);
    for (let i = 32; i < 64; i++) maps.ref[i] = ref2;
    w.gt.mapGrantRef(w.v0, maps);
    expect(Array.from(maps.status).every((s) => s === 0)).toBe(true);
    w.gt.mapping(w.dom0, maps.handle[40]!)!.readU8(0);
    const unmaps = new GnttabUnmapBatch(64);
    for (let i = 0; i < 64; i++) unmaps.add(hostAddr(i), maps.handle[i]!);
    w.gt.unmapGrantRef(w.v0, unmaps);
    expect(Array.from(unmaps.status).every((s) => s === 0)).toBe(true);
    expect(w.gt.stats.tlbFlushes).toBe(1);
    expect(w.gt.stats.tlbFlushesAvoided).toBe(1);
    expect(w.hv.stats.get(OP_UNMAP_GRANT_REF)).toEqual({ calls: 1, ops: 64 });
  });

  test('tlbFlush: "always" flushes after every group, as Xen without the optimisation', () => {
    const w = makeWorld({ tlbFlush: "always" });
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const a = mapOne(w, ref, HOST);
    unmapOne(w, a.handle, hostAddr(ref));
    expect(w.gt.stats.tlbFlushes).toBe(1);
  });
});

describe("GNTTABOP_copy", () => {
  function copyOne(w: ReturnType<typeof makeWorld>, args: Parameters<GnttabCopyBatch["add"]>) {
    const b = new GnttabCopyBatch(1);
    b.add(...args);
    w.gt.copy(w.v0, b);
    return b.status[0]!;
  }

  test("copies between a grant and a local frame, both ways, and charges per byte", () => {
    const w = makeWorld();
    const src = w.guest.grantForeignAccess(w.dom0.domid, w.pages[2]!, true);
    const dst = w.guest.grantForeignAccess(w.dom0.domid, w.pages[3]!, false);
    const local = w.dom0.allocPage();
    const lat = w.dom0.pageOffset(local);
    expect(copyOne(w, [src, w.domU.domid, 100, local, DOMID_SELF, 10, 1000, GNTCOPY.source_gref])).toBe(0);
    for (let i = 0; i < 1000; i++) expect(w.hv.machine.bytes[lat + 10 + i]).toBe(pattern(2, 100 + i));
    expect(w.hv.machine.bytes[lat + 9]).toBe(0);
    expect(w.hv.machine.bytes[lat + 1010]).toBe(0);
    w.hv.machine.bytes.fill(0xab, lat, lat + 4096);
    expect(copyOne(w, [local, DOMID_SELF, 0, dst, w.domU.domid, 4000, 96, GNTCOPY.dest_gref])).toBe(0);
    const dat = w.domU.pageOffset(w.pages[3]!);
    expect(w.hv.machine.bytes[dat + 3999]).toBe(pattern(3, 3999));
    expect(w.hv.machine.bytes[dat + 4000]).toBe(0xab);
    expect(w.hv.machine.bytes[dat + 4095]).toBe(0xab);
    // Flags are back to the grant's own after the copies.
    expect(flagsOf(w, src)).toBe(GTF.permit_access | GTF.readonly);
    expect(flagsOf(w, dst)).toBe(GTF.permit_access);
    expect(w.gt.stats.copyBytes).toBe(1096);
    expect(w.v0.actor.account.report().byKind["grant.copy"]).toMatchObject({ ops: 2, units: 1096 });
    expect(w.hv.stats.get(OP_COPY)).toEqual({ calls: 2, ops: 2 });
  });

  test("grant to grant copy", () => {
    const w = makeWorld();
    const src = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const dst = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, false);
    expect(copyOne(w, [src, w.domU.domid, 0, dst, w.domU.domid, 0, 4096, GNTCOPY.source_gref | GNTCOPY.dest_gref])).toBe(0);
    const dat = w.domU.pageOffset(w.pages[1]!);
    expect(w.hv.machine.bytes[dat + 4095]).toBe(pattern(0, 4095));
  });

  test("refusals return Xen's codes in Xen's order and copy nothing", () => {
    const w = makeWorld();
    const ro = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const rw = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, false);
    const toX = w.guest.grantForeignAccess(w.domX.domid, w.pages[1]!, false);
    const local = w.dom0.allocPage();
    const S = GNTCOPY.source_gref;
    const D = GNTCOPY.dest_gref;
    const u = w.domU.domid;
    const before = Buffer.from(w.hv.machine.bytes).toString("base64");
    expect(copyOne(w, [ro, u, 0, local, DOMID_SELF, 4000, 200, S])).toBe(GNTST.bad_copy_arg);
    expect(copyOne(w, [ro, u, 4000, local, DOMID_SELF, 0, 97, S])).toBe(GNTST.bad_copy_arg);
    expect(copyOne(w, [local, DOMID_SELF, 0, ro, u, 0, 10, D])).toBe(GNTST.general_error); // read-only destination
    expect(copyOne(w, [local, w.dom0.domid, 0, rw, u, 0, 10, D])).toBe(GNTST.permission_denied); // frame of a named domain
    expect(copyOne(w, [ro, 999, 0, local, DOMID_SELF, 0, 10, S])).toBe(GNTST.bad_domain);
    expect(copyOne(w, [ro, u, 0, rw, 999, 0, 10, S | D])).toBe(GNTST.bad_domain);
    expect(copyOne(w, [5000, u, 0, local, DOMID_SELF, 0, 10, S])).toBe(GNTST.bad_gntref);
    expect(copyOne(w, [-1, u, 0, local, DOMID_SELF, 0, 10, S])).toBe(GNTST.bad_gntref);
    expect(copyOne(w, [toX, u, 0, local, DOMID_SELF, 0, 10, S])).toBe(GNTST.general_error);
    expect(copyOne(w, [ro, u, 0, 63, DOMID_SELF, 0, 10, S])).toBe(GNTST.bad_page); // unpopulated local gfn
    // A source claim failure comes before the crossing check.
    expect(copyOne(w, [5000, u, 4000, local, DOMID_SELF, 0, 200, S])).toBe(GNTST.bad_gntref);
    expect(Buffer.from(w.hv.machine.bytes).toString("base64")).toBe(before);
    expect(w.gt.outstanding(w.domU).pins).toBe(0);
  });

  test("copy and map batches go through one multicall (one VM exit)", () => {
    const w = makeWorld();
    const hdr = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const frag = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, true);
    const local = w.dom0.allocPage();
    const copies = new GnttabCopyBatch(256);
    const maps = new GnttabMapBatch(256);
    copies.add(hdr, w.domU.domid, 0, local, DOMID_SELF, 0, 128, GNTCOPY.source_gref);
    maps.add(hostAddr(9), HOST_RO, frag, w.domU.domid);
    const entries = [w.gt.multicallEntry(w.v0, "copy", copies), w.gt.multicallEntry(w.v0, "map", maps)];
    const results = new Int32Array(2);
    const entriesBefore = w.hv.stats.entries;
    w.hv.multicall(w.v0, entries, results);
    expect(w.hv.stats.entries - entriesBefore).toBe(1);
    expect(Array.from(results)).toEqual([0, 0]);
    expect([copies.status[0], maps.status[0]]).toEqual([0, 0]);
    expect(w.hv.stats.get(OP_COPY)).toEqual({ calls: 1, ops: 1 });
    expect(w.hv.stats.get(OP_MAP_GRANT_REF)).toEqual({ calls: 1, ops: 1 });
    expect(w.gt.mapping(w.dom0, maps.handle[0]!)!.readU8(7)).toBe(pattern(1, 7));
  });
});

describe("teardown", () => {
  test("destroying a granter is refused while mapped; releasing the mapper's mappings frees it", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    mapOne(w, ref, HOST);
    expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 1, handles: 1, pins: 0 });
    expect(w.gt.outstanding(w.domU)).toEqual({ maps: 0, handles: 0, pins: 1 });
    expect(catchCode(() => w.gt.destroyDomain(w.domU))).toBe("EBUSY");
    expect(w.gt.releaseMappings(w.dom0)).toBe(1);
    expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    w.gt.destroyDomain(w.domU);
    expect(w.hv.getDomain(w.domU.domid)).toBeUndefined();
  });
});
