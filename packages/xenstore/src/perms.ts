/**
 * Node permissions (C xenstored's perm_for_conn; oxenstored's perms.ml; libxenstore's
 * struct xs_permissions). Entry 0 names the owner and the access of every domain not listed;
 * the others grant one domain a level.
 */
import { XenstoreError } from "./errors.js";

/** XS_PERM_NONE / READ / WRITE / READ|WRITE, in their wire letters. */
export type XsPermLevel = "n" | "r" | "w" | "b";

/** One entry of a node's permission list (`struct xs_permissions`). */
export interface XsPermission {
  readonly id: number;
  readonly perms: XsPermLevel;
}

/** A node's permissions: entry 0 is the owner and the default for everyone else. */
export type XsPermissions = readonly XsPermission[];

/** DOMID_FIRST_RESERVED (xen.h): domain ids at or above it are not real domains. */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/** Access bits, as perm_for_conn computes them. */
export const XS_PERM = Object.freeze({ READ: 1, WRITE: 2, OWNER: 4 });

const LEVEL_BITS: Readonly<Record<XsPermLevel, number>> = { n: 0, r: XS_PERM.READ, w: XS_PERM.WRITE, b: 3 };

/** Parse one wire entry (`r5`). Throws EINVAL. */
export function parsePermission(s: string): XsPermission {
  const level = s[0];
  const digits = s.slice(1);
  if ((level !== "n" && level !== "r" && level !== "w" && level !== "b") || !/^[0-9]{1,5}$/.test(digits)) {
    throw new XenstoreError("EINVAL", `bad permission '${s}'`);
  }
  const id = Number(digits);
  if (id >= DOMID_FIRST_RESERVED) throw new XenstoreError("EINVAL", `bad domain id in '${s}'`);
  return { id, perms: level };
}

/** Format one entry for the wire (`r5`). */
export function formatPermission(p: XsPermission): string {
  return `${p.perms}${p.id}`;
}

/**
 * The access bits a domain has on a node (perm_for_conn): everything when privileged, when it
 * owns the node or when it is the device model of (has as target) the owner; otherwise its own
 * entry, or entry 0's level.
 */
export function permForDomain(perms: XsPermissions, domid: number, privileged: boolean, target?: number): number {
  const owner = perms[0];
  // Invariant: a node's permission list is never empty (setPerms rejects an empty list).
  if (privileged || owner === undefined || owner.id === domid || (target !== undefined && owner.id === target)) {
    return XS_PERM.READ | XS_PERM.WRITE | XS_PERM.OWNER;
  }
  for (let i = 1; i < perms.length; i++) {
    const p = perms[i]!;
    if (p.id === domid || (target !== undefined && p.id === target)) return LEVEL_BITS[p.perms];
  }
  return LEVEL_BITS[owner.perms];
}

/**
 * The permissions of a node created below `parent` by `creator` (C xenstored construct_node):
 * a copy of the parent's, except that an unprivileged creator becomes the owner.
 */
export function inheritPermissions(parent: XsPermissions, creator: number, privileged: boolean): XsPermissions {
  if (privileged || parent[0] === undefined || parent[0].id === creator) return parent;
  return [{ id: creator, perms: parent[0].perms }, ...parent.slice(1)];
}
