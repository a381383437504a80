/**
 * The grant operations drivers issue, as interfaces: the backend's GNTTABOP_map_grant_ref /
 * unmap_grant_ref / copy (GrantOps, implemented by `GrantTables`) and the guest's grant-table
 * driver, drivers/xen/grant-table.c (GnttabOps, implemented by `GnttabGuest`). The deterministic
 * runner supplies today's objects; a threaded runner or a test supplies its own.
 */
import type { Domain, MulticallEntry, Vcpu } from "@pvnet/hypervisor";
import type { GnttabGuest } from "./gnttab.js";
import type { GrantOutstanding } from "./grant-table.js";
import type { GrantMapping } from "./mapping.js";
import type { GnttabCopyBatch, GnttabMapBatch, GnttabUnmapBatch } from "./ops.js";

/** HYPERVISOR_grant_table_op as a backend issues it. */
export interface GrantOps {
  /** GNTTABOP_map_grant_ref over a batch; returns the hypercall's rc. */
  mapGrantRef(vcpu: Vcpu, batch: GnttabMapBatch): number;
  /** GNTTABOP_unmap_grant_ref over a batch. */
  unmapGrantRef(vcpu: Vcpu, batch: GnttabUnmapBatch): number;
  /** GNTTABOP_copy over a batch. */
  copy(vcpu: Vcpu, batch: GnttabCopyBatch): number;
  /** A grant op as one entry of HYPERVISOR_multicall. */
  multicallEntry(vcpu: Vcpu, kind: "map", batch: GnttabMapBatch): MulticallEntry;
  /** A map batch as one entry of HYPERVISOR_multicall. */
  multicallEntry(vcpu: Vcpu, kind: "unmap", batch: GnttabUnmapBatch): MulticallEntry;
  /** An unmap batch as one entry of HYPERVISOR_multicall. */
  multicallEntry(vcpu: Vcpu, kind: "copy", batch: GnttabCopyBatch): MulticallEntry;
  /** A copy batch as one entry of HYPERVISOR_multicall. */
  /** The live mapping behind `handle` of `mapper` (what an access through it touches). */
  mapping(mapper: Domain, handle: number): Pick<GrantMapping, "touch"> | undefined;
  /** Maps, handles and pins `domain` still holds (the teardown audit). */
  outstanding(domain: Domain): GrantOutstanding;
}

/** The guest grant-table driver's API (gnttab_* of include/xen/grant_table.h). */
export type GnttabOps = Pick<
  GnttabGuest,
  | "allocGrantReferences"
  | "claimGrantReference"
  | "releaseGrantReference"
  | "freeGrantReferences"
  | "freeGrantReference"
  | "grantForeignAccessRef"
  | "grantForeignAccess"
  | "endForeignAccessRef"
>;
