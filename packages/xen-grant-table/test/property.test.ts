// Random sequences of grant / end-access / map / unmap / copy / access against a plain model of
// what Xen answers. After every step: each status equals the model's, the bytes of every page
// equal the model's shadow (nothing outside a granted frame was read or written), and the grant
// flags are what the pins imply. At the end everything is unmapped: no handle or pin leaks.
import { fc, test } from "@fast-check/vitest";
import { DOMID_SELF } from "@pvnet/hypervisor";
import { expect } from "vitest";
import { GNTCOPY, GNTMAP, GNTST, GnttabCopyBatch, GnttabMapBatch, GnttabUnmapBatch, type GrantRefHead, GTF, isGrantTableError } from "../src/index.js";
import { hostAddr, makeWorld } from "./helpers.js";

const NR_PAGES = 4;
/** Page index NR_PAGES stands for a gfn the granter never populated. */
const HOLE = NR_PAGES;
const HOLE_GFN = 60;
const NR_REFS = 6;
/** Ref slots NR_REFS and NR_REFS+1: a ref beyond the table and a reserved ref never granted. */
const BAD_REF = 5000;
const UNGRANTED_REF = 3;

type Op =
  | { t: "grant"; r: number; page: number; ro: boolean; toX: boolean }
  | { t: "end"; r: number }
  | { t: "map"; r: number; kind: number; badDom: boolean }
  | { t: "unmap"; i: number; host: boolean; dev: boolean; wrongAddr: boolean }
  | { t: "copy"; src: number; dst: number; soff: number; doff: number; len: number; namedLocal: boolean }
  | { t: "access"; i: number; off: number; write: boolean; value: number };

const refSlot = fc.integer({ min: 0, max: NR_REFS + 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant("grant" as const), r: fc.integer({ min: 0, max: NR_REFS - 1 }), page: fc.integer({ min: 0, max: NR_PAGES }), ro: fc.boolean(), toX: fc.boolean() }),
  fc.record({ t: fc.constant("end" as const), r: fc.integer({ min: 0, max: NR_REFS - 1 }) }),
  fc.record({ t: fc.constant("map" as const), r: refSlot, kind: fc.integer({ min: 0, max: 5 }), badDom: fc.boolean() }),
  fc.record({ t: fc.constant("unmap" as const), i: fc.nat(), host: fc.boolean(), dev: fc.boolean(), wrongAddr: fc.boolean() }),
  fc.record({
    t: fc.constant("copy" as const),
    src: fc.integer({ min: -1, max: NR_REFS + 1 }),
    dst: fc.integer({ min: -1, max: NR_REFS + 1 }),
    soff: fc.integer({ min: 0, max: 4096 }),
    doff: fc.integer({ min: 0, max: 4096 }),
    len: fc.integer({ min: 0, max: 4096 }),
    namedLocal: fc.boolean(),
  }),
  fc.record({ t: fc.constant("access" as const), i: fc.nat(), off: fc.integer({ min: -2, max: 4097 }), write: fc.boolean(), value: fc.integer({ min: 0, max: 255 }) }),
);

/** GNTMAP flags for map kinds: none, host rw, host ro, device rw, device+host ro, device ro. */
const MAP_KINDS = [0, GNTMAP.host_map, GNTMAP.host_map | GNTMAP.readonly, GNTMAP.device_map, GNTMAP.device_map | GNTMAP.host_map | GNTMAP.readonly, GNTMAP.device_map | GNTMAP.readonly];

interface Entry {
  granted: boolean;
  toDom0: boolean;
  page: number;
  ro: boolean;
  hr: number;
  hw: number;
  dr: number;
  dw: number;
  /** Page index the active entry points at while pinned. */
  actPage: number;
}
interface LiveMap {
  handle: number;
  slot: number;
  ro: boolean;
  host: boolean;
  dev: boolean;
  addr: number;
  bus: number;
}

const pinned = (e: Entry) => e.hr + e.hw + e.dr + e.dw > 0;
const writers = (e: Entry) => e.hw + e.dw > 0;

test.prop([fc.array(opArb, { maxLength: 60 })], { numRuns: 150 })("grant table agrees with the plain model and leaks nothing", (ops) => {
  const w = makeWorld({ nrPages: NR_PAGES, dom0Vcpus: 1, maxMaptrackFrames: 1 });
  const m = w.hv.machine;
  const head: GrantRefHead = { head: -1 };
  w.guest.allocGrantReferences(NR_REFS, head);
  const refs = Array.from({ length: NR_REFS }, () => w.guest.claimGrantReference(head));
  refs.push(BAD_REF, UNGRANTED_REF);
  const entries: Entry[] = refs.map(() => ({ granted: false, toDom0: false, page: 0, ro: false, hr: 0, hw: 0, dr: 0, dw: 0, actPage: -1 }));
  const local = w.dom0.allocPage();
  // Shadow of every page that may legitimately change, and of two that must never change.
  const pageGfn = [...w.pages, HOLE_GFN];
  const watched = [...w.pages.map((g) => w.domU.pageOffset(g)), w.dom0.pageOffset(local), w.domX.pageOffset(w.domX.allocPage())];
  for (let i = 0; i < 4096; i++) m.bytes[watched[NR_PAGES + 1]! + i] = 0x5a;
  const shadow = watched.map((at) => m.bytes.slice(at, at + 4096));
  const LOCAL = NR_PAGES; // shadow index of dom0's local page
  let live: LiveMap[] = [];
  let nextAddr = 1;

  const mapB = new GnttabMapBatch(1);
  const unB = new GnttabUnmapBatch(1);
  const cpB = new GnttabCopyBatch(1);

  /** The model's map_grant_ref / acquire_grant_for_copy pin check; GNTST code. */
  function pinCheck(slot: number, ro: boolean): number {
    if (slot >= NR_REFS + 1) return GNTST.general_error; // reserved ref never granted (flags 0)
    if (slot === NR_REFS) return GNTST.bad_gntref;
    const e = entries[slot]!;
    if (!pinned(e) || (!ro && !writers(e))) {
      if (!pinned(e) && (!e.granted || !e.toDom0)) return GNTST.general_error;
      if (!ro && e.granted && e.ro) return GNTST.general_error;
      if (!pinned(e) && e.page === HOLE) return GNTST.bad_page;
      if (!pinned(e)) e.actPage = e.page;
    }
    return GNTST.okay;
  }

  for (const op of ops) {
    switch (op.t) {
      case "grant": {
        const e = entries[op.r]!;
        if (pinned(e)) break; // a well-behaved guest does not rewrite an entry in use
        w.guest.grantForeignAccessRef(refs[op.r]!, op.toX ? w.domX.domid : w.dom0.domid, pageGfn[op.page]!, op.ro);
        Object.assign(e, { granted: true, toDom0: !op.toX, page: op.page, ro: op.ro });
        break;
      }
      case "end": {
        const e = entries[op.r]!;
        expect(w.guest.endForeignAccessRef(refs[op.r]!)).toBe(!pinned(e));
        if (!pinned(e)) e.granted = false;
        break;
      }
      case "map": {
        const flags = MAP_KINDS[op.kind]!;
        const ro = (flags & GNTMAP.readonly) !== 0;
        let expected: number;
        if ((flags & (GNTMAP.host_map | GNTMAP.device_map)) === 0) expected = GNTST.bad_gntref;
        else if (op.badDom) expected = GNTST.bad_domain;
        else expected = pinCheck(op.r, ro);
        const addr = hostAddr(nextAddr++);
        mapB.clear();
        mapB.add(addr, flags, refs[op.r]!, op.badDom ? 777 : w.domU.domid);
        w.gt.mapGrantRef(w.v0, mapB);
        expect(mapB.status[0]).toBe(expected);
        if (expected === GNTST.okay) {
          const e = entries[op.r]!;
          const host = (flags & GNTMAP.host_map) !== 0;
          const dev = (flags & GNTMAP.device_map) !== 0;
          if (host) ro ? e.hr++ : e.hw++;
          if (dev) ro ? e.dr++ : e.dw++;
          expect(mapB.devBusAddr[0]).toBe(w.domU.gfnToMfn(pageGfn[e.actPage]!) * 4096);
          expect(live.some((l) => l.handle === mapB.handle[0])).toBe(false);
          live.push({ handle: mapB.handle[0]!, slot: op.r, ro, host, dev, addr, bus: mapB.devBusAddr[0]! });
        }
        break;
      }
      case "unmap": {
        // Mostly a live handle; sometimes a handle nobody holds.
        const l = live.length > 0 && op.i % 5 !== 4 ? live[op.i % live.length] : undefined;
        const handle = l?.handle ?? 200 + (op.i % 400);
        const addr = op.host ? (l?.addr ?? hostAddr(0)) + (op.wrongAddr ? 4096 : 0) : 0;
        const bus = op.dev ? (l?.bus ?? 4096) : 0;
        const cur = live.find((x) => x.handle === handle);
        let expected: number = GNTST.okay;
        if (cur === undefined) expected = GNTST.bad_handle;
        else if (bus !== 0 && cur.dev && bus !== cur.bus) expected = GNTST.bad_dev_addr;
        else if (addr !== 0 && cur.host && addr !== cur.addr) expected = GNTST.general_error;
        unB.clear();
        unB.add(addr, handle, bus);
        w.gt.unmapGrantRef(w.v0, unB);
        expect(unB.status[0]).toBe(expected);
        if (cur !== undefined && expected === GNTST.okay) {
          const e = entries[cur.slot]!;
          if (addr !== 0 && cur.host) {
            cur.host = false;
            cur.ro ? e.hr-- : e.hw--;
          }
          if (bus !== 0 && cur.dev) {
            cur.dev = false;
            cur.ro ? e.dr-- : e.dw--;
          }
          if (!cur.host && !cur.dev) live = live.filter((x) => x !== cur);
        }
        break;
      }
      case "copy": {
        const S = op.src >= 0;
        const D = op.dst >= 0;
        const flags = (S ? GNTCOPY.source_gref : 0) | (D ? GNTCOPY.dest_gref : 0);
        const localDom = op.namedLocal ? w.dom0.domid : DOMID_SELF;
        let expected: number = GNTST.okay;
        let srcPage = LOCAL;
        let dstPage = LOCAL;
        const undo: (() => void)[] = [];
        if (!S && op.namedLocal) expected = GNTST.permission_denied;
        else if (!D && op.namedLocal) expected = GNTST.permission_denied;
        if (expected === GNTST.okay && S) {
          expected = pinCheck(op.src, true);
          if (expected === GNTST.okay) {
            const e = entries[op.src]!;
            e.hr++;
            undo.push(() => e.hr--);
            srcPage = e.actPage;
          }
        }
        if (expected === GNTST.okay && D) {
          expected = pinCheck(op.dst, false);
          if (expected === GNTST.okay) {
            const e = entries[op.dst]!;
            e.hw++;
            undo.push(() => e.hw--);
            dstPage = e.actPage;
          }
        }
        const soff = op.soff & 0xffff;
        const doff = op.doff & 0xffff;
        if (expected === GNTST.okay && (soff + op.len > 4096 || doff + op.len > 4096)) expected = GNTST.bad_copy_arg;
        if (expected === GNTST.okay && srcPage === dstPage) shadow[dstPage]!.copyWithin(doff, soff, soff + op.len);
        else if (expected === GNTST.okay) shadow[dstPage]!.set(shadow[srcPage]!.subarray(soff, soff + op.len), doff);
        for (const u of undo) u();
        // A zero-size copy is ignored whatever its other fields say.
        if (op.len === 0) expected = GNTST.okay;
        cpB.clear();
        cpB.add(S ? refs[op.src]! : local, S ? w.domU.domid : localDom, soff, D ? refs[op.dst]! : local, D ? w.domU.domid : localDom, doff, op.len, flags);
        w.gt.copy(w.v0, cpB);
        expect(cpB.status[0]).toBe(expected);
        break;
      }
      case "access": {
        const l = live.filter((x) => x.host)[op.i % Math.max(1, live.length)];
        if (l === undefined) break;
        const view = w.gt.mapping(w.dom0, l.handle)!;
        const page = entries[l.slot]!.actPage;
        const inRange = op.off >= 0 && op.off < 4096;
        let code: string | undefined;
        try {
          if (op.write) view.writeU8(op.off, op.value);
          else expect(view.readU8(op.off)).toBe(shadow[page]![op.off]);
        } catch (e) {
          code = isGrantTableError(e) ? e.code : String(e);
        }
        const expectedCode = !inRange ? "ERANGE" : op.write && l.ro ? "EACCES" : undefined;
        expect(code).toBe(expectedCode);
        if (op.write && expectedCode === undefined) shadow[page]![op.off] = op.value;
        break;
      }
    }
    // Bytes: every watched page equals its shadow.
    for (let p = 0; p < watched.length; p++) expect(Buffer.compare(m.bytes.subarray(watched[p]!, watched[p]! + 4096), shadow[p]!)).toBe(0);
    // Flags: what the guest wrote, plus reading/writing exactly while pins need them.
    for (let s = 0; s < NR_REFS; s++) {
      const e = entries[s]!;
      const base = e.granted ? GTF.permit_access | (e.ro ? GTF.readonly : 0) : 0;
      const want = base | (pinned(e) ? GTF.reading : 0) | (writers(e) ? GTF.writing : 0);
      expect(m.view.getUint16(w.guest.entryOffset(refs[s]!), true)).toBe(want);
    }
  }

  // Teardown: unmap everything; no handle, map or pin is left.
  expect(w.gt.outstanding(w.dom0).maps).toBe(live.length);
  for (const l of live) {
    unB.clear();
    unB.add(l.host ? l.addr : 0, l.handle, l.dev ? l.bus : 0);
    w.gt.unmapGrantRef(w.v0, unB);
    expect(unB.status[0]).toBe(GNTST.okay);
  }
  expect(w.gt.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
  expect(w.gt.outstanding(w.domU)).toEqual({ maps: 0, handles: 0, pins: 0 });
  for (let s = 0; s < NR_REFS; s++) expect(w.guest.queryForeignAccess(refs[s]!)).toBe(0);
});
