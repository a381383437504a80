import { Hypervisor } from "@pvnet/hypervisor";
import { describe, expect, test } from "vitest";
import { ENOSPC, GNTMAP, GNTST, GNTTAB_LIST_END, GnttabGuest, GnttabMapBatch, GnttabUnmapBatch, type GrantRefHead, GrantTables, GTF, isGrantTableError } from "../src/index.js";

function world(maxFrames = 2) {
  const hv = new Hypervisor({ frames: 256 });
  const dom0 = hv.createDomain({ name: "dom0", maxPages: 8 });
  const domU = hv.createDomain({ name: "domU", maxPages: 32 });
  const gt = new GrantTables(hv, { maxGrantFrames: 4 });
  const guest = new GnttabGuest(gt, domU.vcpus[0]!, { maxFrames });
  return { hv, dom0, domU, gt, guest };
}

function code(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    return isGrantTableError(e) ? e.code : String(e);
  }
  return undefined;
}

describe("grant reference allocator (gnttab_alloc_grant_references & co)", () => {
  test("starts with one table frame in the domain's own pages, the 8 reserved refs kept back", () => {
    const { guest, gt, domU, hv } = world();
    expect(guest.nrEntries).toBe(512);
    expect(guest.freeCount).toBe(504);
    expect(gt.querySize(domU)).toEqual({ nrFrames: 1, maxNrFrames: 4 });
    const [gfn] = guest.tableFrames();
    expect(hv.machine.ownerOf(domU.gfnToMfn(gfn!))).toBe(domU.domid);
    expect(hv.stats.get("grant_table_op:setup_table").calls).toBe(1);
  });

  test("alloc, claim, release and free move references between the lists", () => {
    const { guest } = world();
    const head: GrantRefHead = { head: GNTTAB_LIST_END };
    expect(guest.allocGrantReferences(3, head)).toBe(0);
    expect(guest.freeCount).toBe(501);
    const a = guest.claimGrantReference(head);
    const b = guest.claimGrantReference(head);
    const c = guest.claimGrantReference(head);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(Math.min(a, b, c)).toBeGreaterThanOrEqual(8);
    expect(guest.claimGrantReference(head)).toBe(ENOSPC);
    guest.releaseGrantReference(head, b);
    expect(guest.claimGrantReference(head)).toBe(b);
    guest.releaseGrantReference(head, a);
    guest.releaseGrantReference(head, b);
    guest.freeGrantReferences(head);
    expect(head.head).toBe(GNTTAB_LIST_END);
    expect(guest.freeCount).toBe(503);
    guest.freeGrantReference(c);
    expect(guest.freeCount).toBe(504);
    expect(code(() => guest.freeGrantReference(c))).toBe("EINVAL");
    expect(code(() => guest.freeGrantReference(3))).toBe("EINVAL"); // reserved
    expect(code(() => guest.grantForeignAccessRef(512, 0, 1, false))).toBe("EINVAL");
  });

  test("grows by table frames up to its maximum, then -ENOSPC", () => {
    const { guest, hv } = world(2);
    const head: GrantRefHead = { head: GNTTAB_LIST_END };
    expect(guest.allocGrantReferences(600, head)).toBe(0);
    expect(guest.nrEntries).toBe(1024);
    expect(guest.freeCount).toBe(1016 - 600);
    expect(guest.allocGrantReferences(417, { head: GNTTAB_LIST_END })).toBe(ENOSPC);
    expect(guest.freeCount).toBe(416);
    // init and one grow; growing past maxFrames is refused by the guest before any hypercall (gnttab_expand).
    expect(hv.stats.get("grant_table_op:setup_table").calls).toBe(2);
  });
});

describe("foreign access", () => {
  test("end of access is refused while mapped and deferred, then completes after the unmap", () => {
    const { guest, gt, dom0, domU } = world();
    const gfn = domU.allocPage();
    const ref = guest.grantForeignAccess(dom0.domid, gfn, false);
    const maps = new GnttabMapBatch(1);
    maps.add(0x1000, GNTMAP.host_map, ref, domU.domid);
    gt.mapGrantRef(dom0.vcpus[0]!, maps);
    expect(maps.status[0]).toBe(GNTST.okay);
    const free = guest.freeCount;
    expect(guest.endForeignAccess(ref)).toBe(false);
    expect(guest.deferredCount).toBe(1);
    expect(guest.handleDeferred()).toBe(0);
    expect(code(() => guest.endForeignAccess(ref))).toBe("EINVAL"); // already deferred
    const m = gt.mapping(dom0, maps.handle[0]!)!;
    m.writeU8(0, 7);
    const un = new GnttabUnmapBatch(1);
    un.add(0x1000, maps.handle[0]!);
    gt.unmapGrantRef(dom0.vcpus[0]!, un);
    expect(guest.handleDeferred()).toBe(1);
    expect(guest.deferredCount).toBe(0);
    expect(guest.freeCount).toBe(free + 1);
    expect(guest.queryForeignAccess(ref)).toBe(0);
    expect(gt.outstanding(domU).pins).toBe(0);
  });

  test("the flags word is written last and revoked to 0", () => {
    const { guest, hv, dom0 } = world();
    const ref = guest.grantForeignAccess(dom0.domid, 5, true);
    const at = guest.entryOffset(ref);
    expect(hv.machine.view.getUint16(at, true)).toBe(GTF.permit_access | GTF.readonly);
    expect(guest.endForeignAccessRef(ref)).toBe(true);
    expect(hv.machine.view.getUint16(at, true)).toBe(0);
    expect(hv.machine.view.getUint32(at + 4, true)).toBe(5);
  });
});
