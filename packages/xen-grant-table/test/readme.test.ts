// Mirrors the Usage block of README.md.
import { DOMID_SELF, Hypervisor } from "@pvnet/hypervisor";
import { expect, test } from "vitest";
import { GNTCOPY, GNTMAP, GNTST, GnttabCopyBatch, GnttabGuest, GnttabMapBatch, GnttabUnmapBatch, GrantTables } from "../src/index.js";

test("README usage runs and prints what it says", () => {
  const log: unknown[][] = [];
  const console = { log: (...a: unknown[]) => log.push(a) };

  const hv = new Hypervisor({ frames: 256 });
  const dom0 = hv.createDomain({ name: "dom0", maxPages: 16, vcpus: 2 });
  const domU = hv.createDomain({ name: "domU", maxPages: 16 });
  const gt = new GrantTables(hv, { maptrack: "per-vcpu-lockfree" });

  const guest = new GnttabGuest(gt, domU.vcpus[0]!);
  const page = domU.allocPage();
  hv.machine.bytes[domU.pageOffset(page) + 42] = 7;
  const ref = guest.grantForeignAccess(dom0.domid, page, true);

  const v0 = dom0.vcpus[0]!;
  const maps = new GnttabMapBatch(16);
  maps.add(0x7f0000000000, GNTMAP.host_map | GNTMAP.readonly, ref, domU.domid);
  gt.mapGrantRef(v0, maps);
  const mapping = gt.mapping(dom0, maps.handle[0]!);
  console.log(maps.status[0] === GNTST.okay, mapping?.readU8(42));
  console.log(guest.endForeignAccessRef(ref));
  const unmaps = new GnttabUnmapBatch(16);
  unmaps.add(0x7f0000000000, maps.handle[0]!);
  gt.unmapGrantRef(v0, unmaps);

  const local = dom0.allocPage();
  const copies = new GnttabCopyBatch(256);
  copies.add(ref, domU.domid, 0, local, DOMID_SELF, 0, 64, GNTCOPY.source_gref);
  gt.copy(v0, copies);
  console.log(copies.status[0], hv.machine.bytes[dom0.pageOffset(local) + 42]);
  console.log(guest.endForeignAccessRef(ref), gt.stats.tlbFlushes);

  expect(log).toEqual([[true, 7], [false], [0, 7], [true, 1]]);
});
