// Attack catalogue of the grant table: one scenario per Xen advisory (or bug class) that applies to
// grant tables v1, each replaying what the advisory's guest did and asserting what today's
// xen/common/grant_table.c answers — the GNTST code, in its order of checks, the pin counts and
// GTF_reading/GTF_writing, and the bytes of frames nobody granted (canaries).
import { DOMID_SELF } from "@pvnet/hypervisor";
import { firstMessage, startTsWorker } from "@pvnet/testkit";
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
  MAPTRACK_VARIANTS,
} from "../src/index.js";
import type { FlagsRacerData } from "./flags-racer.worker.js";
import { hostAddr, makeWorld, pattern, type World } from "./helpers.js";

const HOST = GNTMAP.host_map;
const HOST_RO = GNTMAP.host_map | GNTMAP.readonly;
const DEV = GNTMAP.device_map;
const DEV_RO = GNTMAP.device_map | GNTMAP.readonly;
const S = GNTCOPY.source_gref;
const D = GNTCOPY.dest_gref;

function map(w: World, ref: number, flags: number, opts: { dom?: number; addr?: number; vcpu?: number } = {}) {
  const b = new GnttabMapBatch(1);
  b.add(opts.addr ?? hostAddr(ref), flags, ref, opts.dom ?? w.domU.domid);
  w.gt.mapGrantRef(w.dom0.vcpus[opts.vcpu ?? 0]!, b);
  return { status: b.status[0]!, handle: b.handle[0]!, bus: b.devBusAddr[0]! };
}

function unmap(w: World, handle: number, addr: number, bus = 0, vcpu = 0) {
  const b = new GnttabUnmapBatch(1);
  b.add(addr, handle, bus);
  w.gt.unmapGrantRef(w.dom0.vcpus[vcpu]!, b);
  return b.status[0]!;
}

function copy(w: World, ...args: Parameters<GnttabCopyBatch["add"]>) {
  const b = new GnttabCopyBatch(1);
  b.add(...args);
  w.gt.copy(w.v0, b);
  return b.status[0]!;
}

const flagsOf = (w: World, ref: number) => w.hv.machine.view.getUint16(w.guest.entryOffset(ref), true);

function errorCode(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    return isGrantTableError(e) ? e.code : `not a GrantTableError: ${String(e)}`;
  }
  return undefined;
}

/** Fill one page of each of dom0, domX and the hypervisor-free frames with a canary byte. */
function canaries(w: World): () => number {
  const m = w.hv.machine;
  const spots = [w.dom0.pageOffset(w.dom0.allocPage()), w.domX.pageOffset(w.domX.allocPage()), w.domU.pageOffset(w.domU.allocPage())];
  for (const at of spots) m.bytes.fill(0xc5, at, at + 4096);
  return () => spots.reduce((bad, at) => bad + m.bytes.subarray(at, at + 4096).filter((b) => b !== 0xc5).length, 0);
}

function quiet(w: World): void {
  expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
  expect(w.gt.outstanding(w.domU)).toEqual({ maps: 0, handles: 0, pins: 0 });
  expect(w.gt.outstanding(w.domX)).toEqual({ maps: 0, handles: 0, pins: 0 });
}

describe("bad references, wrong domains, read-only grants", () => {
  test("bad refs: beyond the table, 0xffffffff, reserved and never-granted entries — GNTST codes, nothing pinned", () => {
    const w = makeWorld();
    const bad = canaries(w);
    for (const ref of [1024, 0xffffffff, 0x80000000, 2 ** 32 - 512]) expect(map(w, ref, HOST).status).toBe(GNTST.bad_gntref);
    expect(map(w, 0, HOST).status).toBe(GNTST.general_error); // reserved console entry, flags 0
    expect(map(w, 300, HOST_RO).status).toBe(GNTST.general_error); // never granted
    const local = w.dom0.allocPage();
    expect(copy(w, 0xffffffff, w.domU.domid, 0, local, DOMID_SELF, 0, 8, S)).toBe(GNTST.bad_gntref);
    expect(copy(w, local, DOMID_SELF, 0, 5000, w.domU.domid, 0, 8, D)).toBe(GNTST.bad_gntref);
    expect(bad()).toBe(0);
    quiet(w);
  });

  test("wrong domains: a grant to dom0 mapped or copied by domX is GNTST_general_error (_set_status_v1's domid check)", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const bx = new GnttabMapBatch(1);
    bx.add(hostAddr(0), HOST, ref, w.domU.domid);
    w.gt.mapGrantRef(w.domX.vcpus[0]!, bx);
    expect(bx.status[0]).toBe(GNTST.general_error);
    const cx = new GnttabCopyBatch(1);
    const xpage = w.domX.allocPage();
    cx.add(ref, w.domU.domid, 0, xpage, DOMID_SELF, 0, 64, S);
    w.gt.copy(w.domX.vcpus[0]!, cx);
    expect(cx.status[0]).toBe(GNTST.general_error);
    expect(w.hv.machine.bytes[w.domX.pageOffset(xpage)]).toBe(0);
    // Unknown domid, DOMID_SELF as the granter of a map, and a frame of a named domain in a copy.
    expect(map(w, ref, HOST, { dom: 4242 }).status).toBe(GNTST.bad_domain);
    expect(map(w, ref, HOST, { dom: DOMID_SELF }).status).toBe(GNTST.bad_domain);
    expect(copy(w, w.pages[0]!, w.domU.domid, 0, w.dom0.allocPage(), DOMID_SELF, 0, 64, 0)).toBe(GNTST.permission_denied);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    quiet(w);
  });

  test("read-only violations: write map, write device map and copy into a read-only grant are refused; writes through a read-only mapping fault", () => {
    const w = makeWorld();
    const ro = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, true);
    expect(map(w, ro, HOST).status).toBe(GNTST.general_error);
    expect(map(w, ro, DEV).status).toBe(GNTST.general_error);
    const local = w.dom0.allocPage();
    w.hv.machine.bytes.fill(0xee, w.dom0.pageOffset(local), w.dom0.pageOffset(local) + 4096);
    expect(copy(w, local, DOMID_SELF, 0, ro, w.domU.domid, 0, 100, D)).toBe(GNTST.general_error);
    const r = map(w, ro, HOST_RO);
    expect(r.status).toBe(GNTST.okay);
    const m = w.gt.mapping(w.dom0, r.handle)!;
    expect(errorCode(() => m.writeU8(0, 1))).toBe("EACCES");
    expect(errorCode(() => m.copyFrom(w.dom0.pageOffset(local), 0, 16))).toBe("EACCES");
    // A writable map of an entry already pinned read-only still checks GTF_readonly.
    expect(map(w, ro, HOST, { addr: hostAddr(99) }).status).toBe(GNTST.general_error);
    const page = w.domU.pageOffset(w.pages[1]!);
    for (let i = 0; i < 4096; i++) expect(w.hv.machine.bytes[page + i]).toBe(pattern(1, i));
    expect(unmap(w, r.handle, hostAddr(ro))).toBe(GNTST.okay);
    expect(flagsOf(w, ro)).toBe(GTF.permit_access | GTF.readonly);
    quiet(w);
  });

  test("lengths crossing the page: copies are GNTST_bad_copy_arg (after both sides are claimed), mapping accesses ERANGE", () => {
    const w = makeWorld();
    const bad = canaries(w);
    const src = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const dst = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, false);
    const local = w.dom0.allocPage();
    for (const [soff, doff, len] of [
      [4095, 0, 2],
      [0, 4095, 2],
      [0, 0, 4097],
      [0xffff, 0, 1],
      [0, 0xfff0, 0x20],
      [1, 1, 0xffff],
    ] as const) {
      expect(copy(w, src, w.domU.domid, soff, local, DOMID_SELF, doff, len, S)).toBe(GNTST.bad_copy_arg);
      expect(copy(w, src, w.domU.domid, soff, dst, w.domU.domid, doff, len, S | D)).toBe(GNTST.bad_copy_arg);
    }
    // A bad ref on the destination is reported before the lengths are looked at.
    expect(copy(w, src, w.domU.domid, 4000, 9999, w.domU.domid, 4000, 200, S | D)).toBe(GNTST.bad_gntref);
    expect(copy(w, src, w.domU.domid, 0, local, DOMID_SELF, 0, 4096, S)).toBe(GNTST.okay);
    const r = map(w, dst, HOST);
    const m = w.gt.mapping(w.dom0, r.handle)!;
    const buf = new Uint8Array(8192);
    expect(errorCode(() => m.read(4000, buf, 0, 97))).toBe("ERANGE");
    expect(errorCode(() => m.write(-1, buf, 0, 1))).toBe("ERANGE");
    expect(errorCode(() => m.readU32(4093))).toBe("ERANGE");
    expect(errorCode(() => m.copyTo(w.dom0.pageOffset(local) + 4000, 0, 200))).toBe("ERANGE"); // past the mapper's own frame
    expect(unmap(w, r.handle, hostAddr(dst))).toBe(GNTST.okay);
    expect(bad()).toBe(0);
    quiet(w);
  });

  test("zero-size copies are ignored whatever their refs, domains and offsets say (Xen 4.19, after XSA-448)", () => {
    const w = makeWorld();
    const ops = new GnttabCopyBatch(4);
    ops.add(0xffffffff, 4242, 0xffff, 0xffffffff, 4243, 0xffff, 0, S | D);
    ops.add(1, w.dom0.domid, 0, 2, w.domX.domid, 0, 0, 0);
    ops.add(300, w.domU.domid, 4096, 301, w.domU.domid, 4096, 0, S | D);
    w.gt.copy(w.v0, ops);
    expect(Array.from(ops.status.subarray(0, 3))).toEqual([GNTST.okay, GNTST.okay, GNTST.okay]);
    expect(w.gt.stats.copyBytes).toBe(0);
    quiet(w);
  });
});

describe("GNTST codes in grant_table.c's order of checks", () => {
  test("map_grant_ref: flags, domain, maptrack handle, ref bound, active entry, _set_status, page, host address — the first fault wins", () => {
    const w = makeWorld({ maxMaptrackFrames: 1, dom0Vcpus: 1 });
    const ok = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const toX = w.guest.grantForeignAccess(w.domX.domid, w.pages[0]!, true);
    const hole = w.guest.grantForeignAccess(w.dom0.domid, 60, true);
    const bad = hostAddr(0) + 1;
    expect(map(w, 5000, 0, { dom: 4242, addr: bad }).status).toBe(GNTST.bad_gntref); // no host/device flag
    expect(map(w, 5000, HOST_RO, { dom: 4242, addr: bad }).status).toBe(GNTST.bad_domain);
    expect(map(w, 5000, HOST_RO, { addr: bad }).status).toBe(GNTST.bad_gntref);
    expect(map(w, toX, HOST_RO, { addr: bad }).status).toBe(GNTST.general_error);
    expect(map(w, hole, HOST_RO, { addr: bad }).status).toBe(GNTST.bad_page); // the page before the address
    expect(map(w, ok, HOST_RO, { addr: bad }).status).toBe(GNTST.general_error);
    // GTF_sub_page is refused for maps only: a copy (mapflag 0) of the same v1 entry goes through.
    const sub = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, true);
    Atomics.or(w.hv.machine.u16, w.guest.entryOffset(sub) >>> 1, GTF.sub_page);
    expect(map(w, sub, HOST_RO).status).toBe(GNTST.general_error);
    expect(copy(w, sub, w.domU.domid, 0, w.dom0.allocPage(), DOMID_SELF, 0, 8, S)).toBe(GNTST.okay);
    // The maptrack handle is taken before the ref is even bound-checked: a full table is GNTST_no_space.
    const held: number[] = [];
    const refs = [0, 1, 2].map((p) => w.guest.grantForeignAccess(w.dom0.domid, w.pages[p]!, true));
    for (let i = 0; ; i++) {
      const r = map(w, refs[i % 3]!, HOST_RO, { addr: hostAddr(10 + i) });
      if (r.status !== GNTST.okay) {
        expect(r.status).toBe(GNTST.no_space);
        break;
      }
      held.push(r.handle);
    }
    expect(map(w, 5000, HOST_RO, { addr: bad }).status).toBe(GNTST.no_space);
    expect(map(w, ok, HOST_RO, { dom: 4242 }).status).toBe(GNTST.bad_domain); // the domain still comes first
    for (const [i, h] of held.entries()) expect(unmap(w, h, hostAddr(10 + i))).toBe(GNTST.okay);
    quiet(w);
  });

  test("unmap_common: handle bound, free entry, dev_bus_addr before host_addr", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const r = map(w, ref, DEV | HOST);
    expect(unmap(w, 0xffffffff, hostAddr(ref) + 4096, 1)).toBe(GNTST.bad_handle);
    expect(unmap(w, r.handle + 1, hostAddr(ref) + 4096, 1)).toBe(GNTST.bad_handle);
    expect(unmap(w, r.handle, hostAddr(ref) + 4096, r.bus + 1)).toBe(GNTST.bad_dev_addr);
    expect(unmap(w, r.handle, hostAddr(ref) + 4096, r.bus)).toBe(GNTST.general_error); // replace_grant_host_mapping
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.devw_inc + GNTPIN.hstw_inc); // nothing was undone
    expect(unmap(w, r.handle, hostAddr(ref), r.bus)).toBe(GNTST.okay);
    quiet(w);
  });

  test("gnttab_copy: source domain, dest domain, source claim, dest claim, then the page bounds", () => {
    const w = makeWorld();
    const u = w.domU.domid;
    const ro = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const rw = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, false);
    const local = w.dom0.allocPage();
    expect(copy(w, local, u, 0, rw, 4242, 0, 8, D)).toBe(GNTST.permission_denied); // a frame of a named domain, source first
    expect(copy(w, ro, 4242, 0, local, u, 0, 8, S)).toBe(GNTST.bad_domain);
    expect(copy(w, ro, u, 0, local, u, 0, 8, S)).toBe(GNTST.permission_denied); // dest frame of a named domain
    expect(copy(w, ro, u, 0, rw, 4242, 0, 8, S | D)).toBe(GNTST.bad_domain);
    expect(copy(w, 5000, u, 4090, 6000, u, 4090, 100, S | D)).toBe(GNTST.bad_gntref); // source ref first
    expect(copy(w, ro, u, 4090, 6000, u, 4090, 100, S | D)).toBe(GNTST.bad_gntref); // then dest ref
    expect(copy(w, ro, u, 4090, ro, u, 4090, 100, S | D)).toBe(GNTST.general_error); // read-only dest before bounds
    expect(copy(w, 100_000, DOMID_SELF, 0, local, DOMID_SELF, 0, 8, 0)).toBe(GNTST.bad_page); // a gmfn the caller lacks
    expect(copy(w, ro, u, 4090, rw, u, 4090, 100, S | D)).toBe(GNTST.bad_copy_arg);
    expect(flagsOf(w, ro)).toBe(GTF.permit_access | GTF.readonly);
    expect(flagsOf(w, rw)).toBe(GTF.permit_access);
    quiet(w);
  });
});

describe("XSA advisories", () => {
  test("XSA-218 (unmap pin accounting race): a grant mapped twice stays GTF_reading|GTF_writing until the second unmap", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const a = map(w, ref, HOST, { addr: hostAddr(1), vcpu: 0 });
    const b = map(w, ref, HOST, { addr: hostAddr(2), vcpu: 1 });
    expect(w.gt.pinOf(w.domU, ref)).toBe(2 * GNTPIN.hstw_inc);
    // The two unmaps in one batch from VCPU 1 and VCPU 0: the frontend must not be told "unused" early.
    expect(unmap(w, a.handle, hostAddr(1), 0, 1)).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(w.guest.endForeignAccessRef(ref)).toBe(false);
    expect(unmap(w, b.handle, hostAddr(2), 0, 0)).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    expect(w.guest.endForeignAccessRef(ref)).toBe(true);
    quiet(w);
  });

  test("XSA-218 (double put of a maptrack entry): the same handle unmapped twice in one batch is put once, the second op GNTST_bad_handle", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const r = map(w, ref, HOST);
    const b = new GnttabUnmapBatch(4);
    b.add(hostAddr(ref), r.handle);
    b.add(hostAddr(ref), r.handle);
    b.add(hostAddr(ref), 0xffffffff); // correct maptrack table accesses: any handle >= maptrack_limit
    b.add(hostAddr(ref), 0x7fffffff);
    w.gt.unmapGrantRef(w.v0, b);
    expect(Array.from(b.status.subarray(0, 4))).toEqual([GNTST.okay, GNTST.bad_handle, GNTST.bad_handle, GNTST.bad_handle]);
    expect(w.gt.pinOf(w.domU, ref)).toBe(0);
    const mt = w.gt.maptrackOf(w.dom0)!;
    expect(new Set(mt.freeHandles()).size).toBe(mt.freeHandles().length);
    // The handle goes out once more, not twice.
    const again = [map(w, ref, HOST_RO, { addr: hostAddr(5) }), map(w, ref, HOST_RO, { addr: hostAddr(6) })];
    expect(again[0]!.handle).not.toBe(again[1]!.handle);
    for (const [i, x] of again.entries()) expect(unmap(w, x.handle, hostAddr(5 + i))).toBe(GNTST.okay);
    quiet(w);
  });

  test("XSA-224 (device+host map, host-only unmap): the device pin and GTF_writing stay; dev_bus_addr 0 leaves the device half alone", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[2]!, false);
    const r = map(w, ref, DEV | HOST);
    expect(r.status).toBe(GNTST.okay);
    // Repeated host-only and empty unmaps must not drop the device pin (the advisory's page free).
    expect(unmap(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    for (let i = 0; i < 4; i++) expect(unmap(w, r.handle, 0, 0)).toBe(GNTST.okay);
    expect(unmap(w, r.handle, hostAddr(ref))).toBe(GNTST.okay); // host half already gone: nothing done
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.devw_inc);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    const mfn = w.domU.gfnToMfn(w.pages[2]!);
    expect(w.hv.machine.pageRefs(mfn)).toBeGreaterThan(0);
    // The full bus address is compared, low 12 bits included.
    expect(unmap(w, r.handle, 0, r.bus + 1)).toBe(GNTST.bad_dev_addr);
    expect(unmap(w, r.handle, 0, r.bus + 4096)).toBe(GNTST.bad_dev_addr);
    expect(unmap(w, r.handle, 0, r.bus)).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    quiet(w);
  });

  test("XSA-224 (never create a host mapping unless asked to): a device-only map leaves no host mapping", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const r = map(w, ref, DEV_RO, { addr: hostAddr(7) });
    expect(r.status).toBe(GNTST.okay);
    expect(w.gt.mapping(w.dom0, r.handle)).toBeUndefined();
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.devr_inc);
    expect(unmap(w, r.handle, hostAddr(7))).toBe(GNTST.okay); // host_addr of a device-only mapping: nothing done
    expect(w.gt.pinOf(w.domU, ref)).toBe(GNTPIN.devr_inc);
    expect(unmap(w, r.handle, 0, r.bus)).toBe(GNTST.okay);
    quiet(w);
  });

  test("XSA-227 class (misaligned PTEs; no GNTMAP_contains_pte here, so host_addr itself): not page aligned, zero or beyond 2^47 is GNTST_general_error, nothing pinned", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    for (const addr of [hostAddr(0) + 8, hostAddr(0) + 4095, 0, 2 ** 47, 2 ** 53 - 4096]) {
      expect(map(w, ref, HOST, { addr }).status).toBe(GNTST.general_error);
      expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    }
    quiet(w);
  });

  test.each(MAPTRACK_VARIANTS)("XSA-228 (maptrack free-list race), %s: handles got on one VCPU and put on another are never lost nor handed out twice", (variant) => {
    const w = makeWorld({ maptrack: variant, maxMaptrackFrames: 2, dom0Vcpus: 2 });
    const refs = [0, 1, 2].map((p) => w.guest.grantForeignAccess(w.dom0.domid, w.pages[p]!, true));
    const live = new Map<number, number>(); // handle -> host address
    let addr = 0;
    let refused = 0;
    // A fixed interleaving: maps alternate VCPUs, unmaps go to the other VCPU (remote puts).
    for (let step = 0; step < 3000; step++) {
      const v = step & 1;
      if (step % 7 < 4 || live.size === 0) {
        const r = map(w, refs[step % 3]!, HOST_RO, { addr: hostAddr(++addr % 100_000), vcpu: v });
        if (r.status === GNTST.okay) {
          expect(live.has(r.handle)).toBe(false);
          live.set(r.handle, hostAddr(addr % 100_000));
        } else {
          expect([GNTST.no_space, GNTST.general_error]).toContain(r.status); // full maptrack, or a pin counter at 0x80
          refused++;
        }
      } else {
        const [h, a] = live.entries().next().value as [number, number];
        expect(unmap(w, h, a, 0, 1 - v)).toBe(GNTST.okay);
        live.delete(h);
      }
    }
    const mt = w.gt.maptrackOf(w.dom0)!;
    expect(mt.inUse()).toBe(live.size);
    for (const [h, a] of live) expect(unmap(w, h, a)).toBe(GNTST.okay);
    expect(refused).toBeGreaterThan(0);
    quiet(w);
  });

  test("XSA-230 (premature clearing of GTF_writing/GTF_reading): a copy through a device-mapped grant keeps both flags", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const local = w.dom0.allocPage();
    const r = map(w, ref, DEV);
    expect(copy(w, local, DOMID_SELF, 0, ref, w.domU.domid, 0, 16, D)).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(copy(w, ref, w.domU.domid, 0, local, DOMID_SELF, 0, 16, S)).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(w.guest.endForeignAccessRef(ref)).toBe(false);
    expect(unmap(w, r.handle, 0, r.bus)).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    // Read-only device map + read copy: GTF_reading is kept until the last pin goes.
    const ro = w.guest.grantForeignAccess(w.dom0.domid, w.pages[1]!, true);
    const d = map(w, ro, DEV_RO);
    expect(copy(w, ro, w.domU.domid, 0, local, DOMID_SELF, 0, 16, S)).toBe(GNTST.okay);
    expect(flagsOf(w, ro)).toBe(GTF.permit_access | GTF.readonly | GTF.reading);
    expect(unmap(w, d.handle, 0, d.bus)).toBe(GNTST.okay);
    expect(flagsOf(w, ro)).toBe(GTF.permit_access | GTF.readonly);
    quiet(w);
  });

  test("XSA-236 (pin count / page reference race): while any pin is held the frame keeps a reference and cannot be reused", () => {
    const w = makeWorld();
    const gfn = w.pages[3]!;
    const mfn = w.domU.gfnToMfn(gfn);
    const ref = w.guest.grantForeignAccess(w.dom0.domid, gfn, true);
    const r = map(w, ref, HOST_RO);
    const refsWhileMapped = w.hv.machine.pageRefs(mfn);
    expect(refsWhileMapped).toBeGreaterThan(0);
    // The granter gives the page back (decrease_reservation) while it is mapped and copied from.
    w.domU.freePage(gfn);
    const local = w.dom0.allocPage();
    const other = w.domX.allocPage();
    expect(w.domX.gfnToMfn(other)).not.toBe(mfn);
    expect(copy(w, ref, w.domU.domid, 0, local, DOMID_SELF, 0, 64, S)).toBe(GNTST.okay); // still pinned: act->mfn
    expect(w.gt.mapping(w.dom0, r.handle)!.readU8(10)).toBe(pattern(3, 10));
    expect(unmap(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    expect(w.hv.machine.pageRefs(mfn)).toBe(0);
    // Unpinned, the entry's gfn is now a hole: a new map finds no page.
    expect(map(w, ref, HOST_RO).status).toBe(GNTST.bad_page);
    quiet(w);
  });

  test("pin counter overflow (GNTPIN_incr2oflow_mask): only the counters a pin increments are checked", () => {
    const w = makeWorld({ dom0Vcpus: 1 });
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const ro: number[] = [];
    for (let i = 0; i < 128; i++) {
      const r = map(w, ref, HOST_RO, { addr: hostAddr(i) });
      expect(r.status).toBe(GNTST.okay);
      ro.push(r.handle);
    }
    expect(w.gt.pinOf(w.domU, ref)).toBe(128 * GNTPIN.hstr_inc);
    expect(map(w, ref, HOST_RO, { addr: hostAddr(500) }).status).toBe(GNTST.general_error); // hstr at 0x80
    const local = w.dom0.allocPage();
    expect(copy(w, ref, w.domU.domid, 0, local, DOMID_SELF, 0, 8, S)).toBe(GNTST.general_error); // a copy pins hstr too
    const rw = map(w, ref, HOST, { addr: hostAddr(501) }); // hstw is 0: allowed, as in Xen
    expect(rw.status).toBe(GNTST.okay);
    const dev = map(w, ref, DEV_RO, { addr: hostAddr(502) });
    expect(dev.status).toBe(GNTST.okay);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(unmap(w, rw.handle, hostAddr(501))).toBe(GNTST.okay);
    expect(unmap(w, dev.handle, 0, dev.bus)).toBe(GNTST.okay);
    for (const [i, h] of ro.entries()) expect(unmap(w, h, hostAddr(i))).toBe(GNTST.okay);
    expect(w.gt.pinOf(w.domU, ref)).toBe(0);
    quiet(w);
  });
});

describe("guest races against the hypervisor", () => {
  test("ending access while mapped is refused, the frame stays granted and the deferred free completes after the unmap", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const r = map(w, ref, HOST);
    expect(w.guest.endForeignAccess(ref)).toBe(false);
    expect(w.guest.deferredCount).toBe(1);
    const m = w.gt.mapping(w.dom0, r.handle)!;
    expect(m.readU8(1)).toBe(pattern(0, 1));
    expect(w.guest.handleDeferred()).toBe(0);
    expect(unmap(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    expect(w.guest.handleDeferred()).toBe(1);
    expect(flagsOf(w, ref)).toBe(0);
    // After the access is ended the old handle and the ref both refuse.
    expect(w.gt.mapping(w.dom0, r.handle)).toBeUndefined();
    expect(errorCode(() => m.readU8(0))).toBe("EFAULT");
    expect(map(w, ref, HOST).status).toBe(GNTST.general_error);
    quiet(w);
  });

  test("a guest rewriting frame and domid of an entry in use changes nothing: the pinned active entry is used (read once)", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const r = map(w, ref, HOST);
    const at = w.guest.entryOffset(ref);
    // Point the live entry at another page and at domX; a second map and a copy still reach page 0.
    w.hv.machine.view.setUint32(at + 4, w.pages[1]!, true);
    const r2 = map(w, ref, HOST_RO, { addr: hostAddr(77) });
    expect(r2.status).toBe(GNTST.okay);
    expect(r2.bus).toBe(r.bus);
    const local = w.dom0.allocPage();
    expect(copy(w, ref, w.domU.domid, 5, local, DOMID_SELF, 0, 4, S)).toBe(GNTST.okay);
    expect(w.hv.machine.bytes[w.dom0.pageOffset(local)]).toBe(pattern(0, 5));
    w.hv.machine.view.setUint16(at + 2, w.domX.domid, true);
    expect(map(w, ref, HOST_RO, { addr: hostAddr(78) }).status).toBe(GNTST.okay); // pinned: active domid decides
    const bx = new GnttabMapBatch(1);
    bx.add(hostAddr(0), HOST_RO, ref, w.domU.domid);
    w.gt.mapGrantRef(w.domX.vcpus[0]!, bx);
    expect(bx.status[0]).toBe(GNTST.general_error);
    w.gt.releaseMappings(w.dom0);
    expect(flagsOf(w, ref) & (GTF.reading | GTF.writing)).toBe(0);
    quiet(w);
  });

  test("a guest writing every flag bit into a pinned entry: the unmap clears only the GTF_reading it needs to", () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, true);
    const r = map(w, ref, HOST_RO);
    const at = w.guest.entryOffset(ref);
    // A hostile guest writes flags 0xffff (every bit) into the pinned entry, then unmaps happen.
    Atomics.store(w.hv.machine.u16, at >>> 1, 0xffff);
    expect(unmap(w, r.handle, hostAddr(ref))).toBe(GNTST.okay);
    // reduce_status_for_pin clears GTF_reading only (read-only pin): GTF_writing was the guest's.
    expect(flagsOf(w, ref)).toBe(0xffff & ~GTF.reading);
    quiet(w);
  });

  test("XSA-295 (unbounded atomics on guest memory): a guest thread flipping GTF_readonly during 3 000 maps gets okay or GNTST_general_error, never a hang; pins and flags balance", async () => {
    const w = makeWorld();
    const ref = w.guest.grantForeignAccess(w.dom0.domid, w.pages[0]!, false);
    const control = new SharedArrayBuffer(8);
    const ctl = new Int32Array(control);
    const workerData: FlagsRacerData = { machine: w.hv.machine.handle(), entry: w.guest.entryOffset(ref), control };
    const racer = startTsWorker(new URL("./flags-racer.worker.ts", import.meta.url), { workerData });
    const done = firstMessage<number>(racer);
    while (Atomics.load(ctl, 0) === 0) Atomics.wait(ctl, 0, 0, 50);
    const seen = new Set<number>();
    try {
      for (let i = 0; i < 3000; i++) {
        const r = map(w, ref, i % 3 === 0 ? HOST_RO : HOST, { addr: hostAddr(1) });
        seen.add(r.status);
        if (r.status === GNTST.okay) expect(unmap(w, r.handle, hostAddr(1))).toBe(GNTST.okay);
        expect(w.gt.pinOf(w.domU, ref)).toBe(0);
      }
    } finally {
      Atomics.store(ctl, 1, 1);
    }
    expect(await done.finally(() => racer.terminate())).toBeGreaterThan(0);
    expect([...seen].every((s) => s === GNTST.okay || s === GNTST.general_error)).toBe(true);
    expect(seen.has(GNTST.okay)).toBe(true);
    expect(flagsOf(w, ref)).toBe(GTF.permit_access);
    quiet(w);
  });
});
