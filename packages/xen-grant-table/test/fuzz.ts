// Grant-table fuzzer: seeded sequences of grant / end access / hostile entry writes / map / unmap
// / copy / accesses / page frees from 3 domains with 2 VCPUs each, against the real model. After
// every step it checks that no exception escaped (only GNTST codes, and the mapping's own
// EACCES/ERANGE), that canary frames nobody granted are intact, that every pin count equals the
// pins of the live mappings, that maptrack handles match the live mappings (no handle lost or
// handed out twice) and that GTF_reading/GTF_writing follow the pins; at the end, the teardown
// audit: everything unmapped, no page reference left, every frame back in the machine.
import { DOMID_SELF, type Domain, Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import { Prng } from "@pvnet/sim";
import {
  GNTCOPY,
  GNTMAP,
  GNTPIN,
  GNTST,
  GnttabCopyBatch,
  GnttabGuest,
  GnttabMapBatch,
  GnttabUnmapBatch,
  GrantTables,
  GTF,
  isGrantTableError,
  MAPTRACK_VARIANTS,
} from "../src/index.js";

/** Pages each domain may grant (and use as a local copy target). */
const GRANTABLE_PAGES = 4;
/** Batch sizes: up to this many ops per hypercall. */
const MAX_BATCH = 4;
const CANARY = 0xc5;

export interface FuzzResult {
  readonly seed: number;
  readonly steps: number;
  readonly variant: string;
  /** Count of each GNTST code returned, by code. */
  readonly statuses: Readonly<Record<number, number>>;
  readonly okMaps: number;
  readonly okCopies: number;
}

interface Party {
  domain: Domain;
  guest: GnttabGuest;
  /** gfns this domain may grant. */
  grantable: number[];
  /** Refs granted through GnttabGuest (ref -> grantee). */
  granted: Map<number, number>;
  /** Refs whose entry the guest scribbled over (GTF checks skip them until re-granted). */
  tampered: Set<number>;
}

interface LiveMap {
  handle: number;
  granter: Party;
  ref: number;
  /** GNTMAP flags still mapped (host/device halves) plus readonly. */
  flags: number;
  addr: number;
  bus: number;
}

class FuzzFailure extends Error {}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new FuzzFailure(msg);
}

function pinOf(flags: number): number {
  const ro = (flags & GNTMAP.readonly) !== 0;
  let p = 0;
  if (flags & GNTMAP.device_map) p += ro ? GNTPIN.devr_inc : GNTPIN.devw_inc;
  if (flags & GNTMAP.host_map) p += ro ? GNTPIN.hstr_inc : GNTPIN.hstw_inc;
  return p;
}

/** Run `steps` fuzz steps from `seed`; throws an Error whose message starts with `seed=` on failure. */
export function runGrantTableFuzz(seed: number, steps: number): FuzzResult {
  const rng = new Prng(seed);
  const variant = rng.pick(MAPTRACK_VARIANTS);
  const hv = new Hypervisor({ frames: 1024, seed });
  const m = hv.machine;
  const framesAtStart = m.freeFrames;
  const gt = new GrantTables(hv, { maptrack: variant, maxMaptrackFrames: 1, maxGrantFrames: 2 });
  const parties: Party[] = [];
  const canaries: number[] = [];
  for (let d = 0; d < 3; d++) {
    const domain = hv.createDomain({ name: `d${d}`, maxPages: 24, vcpus: 2 });
    const guest = new GnttabGuest(gt, domain.vcpus[0] as Vcpu, { maxFrames: 2 });
    const grantable = domain.allocPages(GRANTABLE_PAGES);
    for (const [p, gfn] of grantable.entries()) m.fill(domain.pageOffset(gfn), (d * 16 + p) & 0xff, 4096);
    const canary = domain.allocPage(); // never granted, never a copy target
    canaries.push(domain.pageOffset(canary));
    parties.push({ domain, guest, grantable, granted: new Map(), tampered: new Set() });
  }
  // A bystander domain that takes part in nothing: all its pages are canaries.
  const bystander = hv.createDomain({ name: "bystander", maxPages: 4 });
  for (const gfn of bystander.allocPages(4)) canaries.push(bystander.pageOffset(gfn));
  for (const at of canaries) m.fill(at, CANARY, 4096);

  const live = new Map<Domain, Map<number, LiveMap>>(parties.map((p) => [p.domain, new Map()]));
  const statuses: Record<number, number> = {};
  let okMaps = 0;
  let okCopies = 0;
  let nextAddr = 1;
  const mapB = new GnttabMapBatch(MAX_BATCH);
  const unB = new GnttabUnmapBatch(MAX_BATCH);
  const cpB = new GnttabCopyBatch(MAX_BATCH);
  const scratch = new Uint8Array(4096);

  const status = (s: number) => {
    check(Number.isInteger(s) && s <= 0 && s >= GNTST.no_space, `status ${s} is not a GNTST code`);
    statuses[s] = (statuses[s] ?? 0) + 1;
  };
  const vcpuOf = (p: Party) => p.domain.vcpus[rng.below(p.domain.vcpus.length)] as Vcpu;
  const hostileU32 = () => rng.pick([0, 1, 7, 8, 511, 512, 1023, 1024, 0xffff, 0x7fffffff, 0xffffffff, rng.nextU32()]);
  /** A gfn a guest may point an entry at: its grantable pages, holes, garbage; never a canary. */
  const entryGfn = (p: Party) => (rng.below(8) === 0 ? rng.pick([500, 0xffffffff, 0x80000000 + rng.below(0x7fffffff)]) : rng.pick(p.grantable));
  /** A ref worth trying against `granter`: mostly one it granted, sometimes anything. */
  const someRef = (granter: Party, to?: Domain) => {
    const mine = to === undefined ? [] : [...granter.granted].filter(([, grantee]) => grantee === to.domid);
    if (mine.length > 0 && rng.below(4) !== 0) return (rng.pick(mine) as [number, number])[0];
    if (granter.granted.size > 0 && rng.below(4) !== 0) return rng.pick([...granter.granted.keys()]);
    return rng.below(3) === 0 ? hostileU32() : rng.below(granter.guest.nrEntries);
  };
  const someDomid = (fallback: number) => (rng.below(12) === 0 ? rng.pick([DOMID_SELF, 999, bystander.domid]) : fallback);

  function grant(p: Party): string {
    const grantee = rng.below(6) === 0 ? rng.pick([999, bystander.domid, p.domain.domid]) : rng.pick(parties).domain.domid;
    const ref = p.guest.grantForeignAccess(grantee, entryGfn(p), rng.below(2) === 0);
    if (ref >= 0) {
      p.granted.set(ref, grantee);
      // Re-granting an entry still pinned (after a tampered end of access) is the guest's own
      // misbehaviour: its flags stay unchecked.
      if (gt.pinOf(p.domain, ref) === 0) p.tampered.delete(ref);
    }
    return `grant d${p.domain.domid} -> d${grantee} ref ${ref}`;
  }

  function endAccess(p: Party): string {
    if (p.granted.size === 0) return "end (nothing granted)";
    const ref = rng.pick([...p.granted.keys()]);
    if (rng.below(2) === 0) {
      const ended = p.guest.endForeignAccess(ref);
      p.granted.delete(ref);
      return `end+free d${p.domain.domid} ref ${ref}: ${ended}`;
    }
    const inUse = p.guest.queryForeignAccess(ref) !== 0;
    const ended = p.guest.endForeignAccessRef(ref);
    check(ended === !inUse, `end access of ref ${ref} returned ${ended} with reading/writing ${inUse}`);
    if (ended) {
      p.granted.delete(ref);
      p.guest.freeGrantReference(ref);
    }
    return `end d${p.domain.domid} ref ${ref}: ${ended}`;
  }

  function tamper(p: Party): string {
    // The guest writes its own table behind the allocator's back: any ref, any word.
    const ref = rng.below(p.guest.nrEntries);
    const at = p.guest.entryOffset(ref);
    const what = rng.below(3);
    if (what === 0) Atomics.store(m.u16, at >>> 1, rng.below(0x10000));
    else if (what === 1) m.view.setUint16(at + 2, rng.pick([...parties.map((q) => q.domain.domid), 999, rng.below(0x10000)]), true);
    else m.view.setUint32(at + 4, entryGfn(p), true);
    p.tampered.add(ref);
    return `tamper d${p.domain.domid} ref ${ref} word ${what}`;
  }

  function mapOps(mapper: Party): string {
    const vcpu = vcpuOf(mapper);
    mapB.clear();
    const n = rng.range(1, MAX_BATCH);
    const granters: Party[] = [];
    for (let i = 0; i < n; i++) {
      const granter = rng.pick(parties);
      granters.push(granter);
      const flags = rng.below(10) === 0 ? rng.below(32) : rng.pick([GNTMAP.host_map, GNTMAP.host_map | GNTMAP.readonly, GNTMAP.device_map, GNTMAP.device_map | GNTMAP.host_map | GNTMAP.readonly]);
      const addr = rng.below(16) === 0 ? rng.pick([0, 4097, 2 ** 47, 123]) : 0x7f00_0000_0000 + nextAddr++ * 4096;
      mapB.add(addr, flags, someRef(granter, mapper.domain), someDomid(granter.domain.domid));
    }
    gt.mapGrantRef(vcpu, mapB);
    const mine = live.get(mapper.domain) as Map<number, LiveMap>;
    for (let i = 0; i < n; i++) {
      const s = mapB.status[i] as number;
      status(s);
      if (s !== GNTST.okay) continue;
      okMaps++;
      const h = mapB.handle[i] as number;
      check(!mine.has(h), `handle ${h} of d${mapper.domain.domid} handed out twice`);
      const granter = parties.find((q) => q.domain.domid === (mapB.dom[i] as number));
      check(granter !== undefined, `map of d${mapB.dom[i]} succeeded`);
      const flags = (mapB.flags[i] as number) & (GNTMAP.host_map | GNTMAP.device_map | GNTMAP.readonly);
      mine.set(h, { handle: h, granter: granter as Party, ref: mapB.ref[i] as number, flags, addr: mapB.hostAddr[i] as number, bus: mapB.devBusAddr[i] as number });
      check((gt.mapping(mapper.domain, h) !== undefined) === ((flags & GNTMAP.host_map) !== 0), `host mapping of handle ${h} exists iff host_map was asked`);
    }
    return `map x${n} by d${mapper.domain.domid}v${vcpu.id}: ${Array.from(mapB.status.subarray(0, n))}`;
  }

  function unmapOps(mapper: Party): string {
    const vcpu = vcpuOf(mapper);
    const mine = live.get(mapper.domain) as Map<number, LiveMap>;
    unB.clear();
    const n = rng.range(1, MAX_BATCH);
    const picked: (LiveMap | undefined)[] = [];
    for (let i = 0; i < n; i++) {
      const l = mine.size > 0 && rng.below(6) !== 0 ? rng.pick([...mine.values()]) : undefined;
      picked.push(l);
      const handle = l?.handle ?? hostileU32();
      const addr = rng.below(5) === 0 ? rng.pick([0, 4096, hostileU32() * 4096]) : (l?.addr ?? 0);
      const bus = rng.below(3) === 0 ? (l?.bus ?? 0) + rng.pick([0, 1, 4096]) : rng.below(2) === 0 ? 0 : (l?.bus ?? 0);
      unB.add(addr, handle, bus);
    }
    gt.unmapGrantRef(vcpu, unB);
    for (let i = 0; i < n; i++) {
      const s = unB.status[i] as number;
      status(s);
      const handle = unB.handle[i] as number;
      const l = mine.get(handle);
      if (l === undefined) {
        check(s === GNTST.bad_handle, `unmap of handle ${handle} nobody holds: ${s}`);
        continue;
      }
      if (s !== GNTST.okay) continue;
      const addr = unB.hostAddr[i] as number;
      const bus = unB.devBusAddr[i] as number;
      if (addr !== 0 && l.flags & GNTMAP.host_map) l.flags &= ~GNTMAP.host_map;
      if (bus !== 0 && l.flags & GNTMAP.device_map) l.flags &= ~GNTMAP.device_map;
      if ((l.flags & (GNTMAP.host_map | GNTMAP.device_map)) === 0) mine.delete(handle);
    }
    return `unmap x${n} by d${mapper.domain.domid}v${vcpu.id}: ${Array.from(unB.status.subarray(0, n))}`;
  }

  function copyOps(caller: Party): string {
    const vcpu = vcpuOf(caller);
    cpB.clear();
    const n = rng.range(1, MAX_BATCH);
    for (let i = 0; i < n; i++) {
      const sg = rng.below(3) !== 0;
      const dg = rng.below(3) === 0;
      const sp = rng.pick(parties);
      const dp = rng.pick(parties);
      const len = rng.pick([0, 1, 64, rng.below(4097), 4096, 4097, 0xffff]);
      const off = () => (rng.below(8) === 0 ? rng.below(0x10000) : rng.below(4096 - Math.min(len, 4096) + 1));
      cpB.add(
        sg ? someRef(sp, caller.domain) : rng.pick(caller.grantable),
        sg ? someDomid(sp.domain.domid) : rng.below(8) === 0 ? caller.domain.domid : DOMID_SELF,
        off(),
        dg ? someRef(dp, caller.domain) : rng.pick(caller.grantable),
        dg ? someDomid(dp.domain.domid) : DOMID_SELF,
        off(),
        len,
        (sg ? GNTCOPY.source_gref : 0) | (dg ? GNTCOPY.dest_gref : 0),
      );
    }
    gt.copy(vcpu, cpB);
    for (let i = 0; i < n; i++) {
      status(cpB.status[i] as number);
      if (cpB.status[i] === GNTST.okay) okCopies++;
    }
    return `copy x${n} by d${caller.domain.domid}v${vcpu.id}: ${Array.from(cpB.status.subarray(0, n))}`;
  }

  function access(mapper: Party): string {
    const hosts = [...(live.get(mapper.domain) as Map<number, LiveMap>).values()].filter((l) => l.flags & GNTMAP.host_map);
    if (hosts.length === 0) return "access (no host mapping)";
    const l = rng.pick(hosts);
    const view = gt.mapping(mapper.domain, l.handle);
    check(view !== undefined, `live host mapping ${l.handle} has no view`);
    const off = rng.below(8) === 0 ? rng.pick([-1, 4095, 4096, 0x10000]) : rng.below(4096);
    const len = rng.pick([1, 2, 4, 100, 4096]);
    const write = rng.below(2) === 0;
    const inRange = off >= 0 && off + len <= 4096;
    let code: string | undefined;
    try {
      if (write) view?.write(off, scratch, 0, len);
      else view?.read(off, scratch, 0, len);
    } catch (e) {
      if (!isGrantTableError(e)) throw e;
      code = e.code;
    }
    const want = !inRange ? "ERANGE" : write && l.flags & GNTMAP.readonly ? "EACCES" : undefined;
    check(code === want, `access ${write ? "write" : "read"} [${off}, +${len}) through handle ${l.handle}: ${code}, expected ${want}`);
    return `access d${mapper.domain.domid} handle ${l.handle}`;
  }

  function freeAndRepopulate(p: Party): string {
    // decrease_reservation of a grantable page (mapped or not), then populate it again.
    const gfn = rng.pick(p.grantable);
    p.domain.freePage(gfn);
    const again = p.domain.allocPage();
    p.grantable[p.grantable.indexOf(gfn)] = again;
    return `free+populate d${p.domain.domid} gfn ${gfn} -> ${again}`;
  }

  function audit(): void {
    for (const at of canaries) {
      const bytes = m.bytes.subarray(at, at + 4096);
      for (let i = 0; i < 4096; i++) if (bytes[i] !== CANARY) check(false, `canary frame at ${at} changed at byte ${i}`);
    }
    // Expected pins per (granter, ref), from the live mappings only (copies leave none behind).
    const want = new Map<Party, Map<number, number>>(parties.map((p) => [p, new Map()]));
    for (const [mapper, mine] of live) {
      let count = 0;
      for (const l of mine.values()) {
        const w = want.get(l.granter) as Map<number, number>;
        w.set(l.ref, (w.get(l.ref) ?? 0) + pinOf(l.flags));
        count++;
      }
      const out = gt.outstanding(mapper);
      check(out.maps === count && out.handles === count, `d${mapper.domid} holds ${out.maps} maps / ${out.handles} handles, expected ${count}`);
      gt.maptrackOf(mapper)?.freeHandles(); // throws on a handle listed twice or a broken list
    }
    for (const p of parties) {
      const w = want.get(p) as Map<number, number>;
      for (let ref = 0; ref < p.guest.nrEntries; ref++) {
        const pin = gt.pinOf(p.domain, ref);
        const expected = w.get(ref) ?? 0;
        check(pin === expected, `d${p.domain.domid} ref ${ref}: pin ${pin.toString(16)}, live mappings say ${expected.toString(16)}`);
        if (p.tampered.has(ref) || !p.granted.has(ref)) continue;
        const flags = Atomics.load(m.u16, p.guest.entryOffset(ref) >>> 1);
        const reading = (flags & GTF.reading) !== 0;
        const writing = (flags & GTF.writing) !== 0;
        const writers = (pin & (GNTPIN.hstw_mask | GNTPIN.devw_mask)) !== 0;
        check(reading === (pin !== 0) && writing === writers, `d${p.domain.domid} ref ${ref}: flags ${flags.toString(16)} with pin ${pin.toString(16)}`);
      }
    }
  }

  let step = 0;
  let what = "setup";
  try {
    for (; step < steps; step++) {
      const p = rng.pick(parties);
      // The middle of a run (30% to 70%) hoards mappings (no unmaps), to fill maptracks and pin counters.
      const hoarding = step >= (steps * 3) / 10 && step < (steps * 7) / 10;
      let r = rng.below(100);
      if (hoarding && r >= 50 && r < 70) r = 26 + (r - 50);
      if (r < 14) what = grant(p);
      else if (r < 22) what = endAccess(p);
      else if (r < 26) what = tamper(p);
      else if (r < 50) what = mapOps(p);
      else if (r < 70) what = unmapOps(p);
      else if (r < 85) what = copyOps(p);
      else if (r < 97) what = access(p);
      else if (r < 98) what = freeAndRepopulate(p);
      else {
        what = `deferred d${p.domain.domid}: ${p.guest.handleDeferred()}`;
      }
      audit();
    }
    // Teardown audit: every mapper releases its mappings, then every domain goes.
    what = "teardown";
    for (const p of parties) {
      gt.releaseMappings(p.domain);
      live.get(p.domain)?.clear();
    }
    audit();
    for (const p of parties) {
      for (const gfn of p.grantable) check(m.pageRefs(p.domain.gfnToMfn(gfn)) === 0, `d${p.domain.domid} gfn ${gfn} still referenced`);
      check(gt.outstanding(p.domain).pins === 0, `d${p.domain.domid} still has pins`);
    }
    for (const p of parties) gt.destroyDomain(p.domain);
    gt.destroyDomain(bystander);
    check(m.freeFrames === framesAtStart, `${framesAtStart - m.freeFrames} frames leaked`);
  } catch (e) {
    const kind = e instanceof FuzzFailure ? "check failed" : "exception escaped";
    throw new Error(`seed=${seed} step=${step} (${variant}) ${kind} after "${what}": ${(e as Error).message}`, { cause: e });
  }
  return { seed, steps, variant, statuses, okMaps, okCopies };
}
