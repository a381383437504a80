/**
 * Host cost profiles: data files under `profiles/`, one per measured host, and hosts derived from
 * them. Each cost kind that model code charges must appear in every profile (a missing kind is
 * reported as our bug), and each says where its figure comes from (`source`).
 */
import { type CostProfile, deriveHost } from "@pvnet/sim";
import hostA from "./profiles/host-a.json" with { type: "json" };

/** Host A of the persistent-grants RFC ("Persistent grant maps for xen net drivers", May 2015): Xeon E5-1650 v2. */
export const HOST_A: CostProfile = Object.freeze(hostA as CostProfile);

/**
 * Host B of the RFC: Xeon E5-2697 v2 (Ivy Bridge EP like host A), 2.7 GHz, 12 cores per socket,
 * 30 MiB L3. Derived from host A by clock, core count and cache sizes only (`deriveHost`).
 */
export const HOST_B: CostProfile = deriveHost(HOST_A, {
  name: "hostB",
  aliases: ["xeon-e5-2697v2"],
  description: "Host B of the persistent-grants RFC of May 2015: Xeon E5-2697 v2 @ 2.7 GHz, 12 cores per socket, derived from hostA by clock, core count and cache sizes only.",
  model: "Intel Xeon E5-2697 v2",
  clockGhz: 2.7,
  pcpus: 12,
  caches: { l1: 32768, l2: 262144, l3: 31457280 },
});

/** The old name of host A's profile, kept for back-compat. */
export const XEON_E5_1650V2: CostProfile = HOST_A;

/** Every bundled host profile, by name and by alias. */
export const HOST_PROFILES: Readonly<Record<string, CostProfile>> = Object.freeze(
  Object.fromEntries([HOST_A, HOST_B].flatMap((p) => [p.name, ...(p.aliases ?? [])].map((n) => [n, p]))),
);

/** The profile used when none is named. */
export const DEFAULT_PROFILE: CostProfile = HOST_A;
