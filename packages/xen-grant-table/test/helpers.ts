import { type Domain, Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import { GnttabGuest, GrantTables, type GrantTablesOptions } from "../src/index.js";

export interface World {
  hv: Hypervisor;
  gt: GrantTables;
  dom0: Domain;
  domU: Domain;
  /** A third domain, never granted anything. */
  domX: Domain;
  v0: Vcpu;
  guest: GnttabGuest;
  /** Data pages of domU, filled with a pattern (byte i of page p = (p * 31 + i) & 0xff). */
  pages: number[];
}

export function pattern(p: number, i: number): number {
  return (p * 31 + i) & 0xff;
}

export function makeWorld(options: GrantTablesOptions & { dom0Vcpus?: number; nrPages?: number } = {}): World {
  const hv = new Hypervisor({ frames: 512 });
  const dom0 = hv.createDomain({ name: "dom0", maxPages: 64, vcpus: options.dom0Vcpus ?? 2 });
  const domU = hv.createDomain({ name: "domU", maxPages: 64 });
  const domX = hv.createDomain({ name: "domX", maxPages: 8 });
  const gt = new GrantTables(hv, options);
  const guest = new GnttabGuest(gt, domU.vcpus[0]!, { maxFrames: 2 });
  const pages: number[] = [];
  for (let p = 0; p < (options.nrPages ?? 4); p++) {
    const gfn = domU.allocPage();
    const at = domU.pageOffset(gfn);
    for (let i = 0; i < 4096; i++) hv.machine.bytes[at + i] = pattern(p, i);
    pages.push(gfn);
  }
  return { hv, gt, dom0, domU, domX, v0: dom0.vcpus[0]!, guest, pages };
}

/** Host addresses the mapper uses: one page-aligned address per slot. */
export function hostAddr(slot: number): number {
  return 0x7f00_0000_0000 + slot * 4096;
}
