/**
 * Host cost profiles: data files under `profiles/`, one per modelled host. Each cost kind that
 * model code charges must appear in every profile (a missing kind is reported as our bug).
 */
import type { CostProfile } from "@pvnet/sim";
import xeonE51650v2 from "./profiles/xeon-e5-1650v2.json" with { type: "json" };

/** Host A of the persistent-grants RFC ("Persistent grant maps for xen net drivers", May 2015). */
export const XEON_E5_1650V2: CostProfile = Object.freeze(xeonE51650v2 as CostProfile);

/** Every bundled host profile, by name. */
export const HOST_PROFILES: Readonly<Record<string, CostProfile>> = Object.freeze({
  [XEON_E5_1650V2.name]: XEON_E5_1650V2,
});

/** The profile used when none is named. */
export const DEFAULT_PROFILE: CostProfile = XEON_E5_1650V2;
