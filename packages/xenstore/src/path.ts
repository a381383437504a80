/**
 * xenstore paths: validation and resolution of relative paths against a domain's home
 * (C xenstored's is_valid_nodename/canonicalize; oxenstored's store.ml Path module).
 */
import { XenstoreError } from "./errors.js";

/** Characters a node path may contain (C xenstored valid_chars). */
const VALID_PATH = /^[A-Za-z0-9\-/_@]+$/;

/** `/local/domain/<domid>`: a domain's home, against which relative paths resolve. */
export function getDomainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** True for the special watch paths (`@introduceDomain`, `@releaseDomain`, ...). */
export function isSpecialPath(path: string): boolean {
  return path.startsWith("@");
}

/**
 * Resolve a path as sent by a client of domain `domid`: check its length (`pathMax`, applied to
 * the path as given, as oxenstored does), its characters and shape (no `//`, no trailing `/`),
 * and prefix a relative path with the domain's home. Throws EINVAL.
 */
export function resolvePath(path: string, domid: number, pathMax: number): string {
  if (path.length === 0) throw new XenstoreError("EINVAL", "empty path");
  if (path.length > pathMax) throw new XenstoreError("EINVAL", `path longer than ${pathMax}`);
  if (!VALID_PATH.test(path)) throw new XenstoreError("EINVAL", "invalid character in path");
  // `@...` names only watches (isSpecialPath), never a node.
  if (path.startsWith("@")) throw new XenstoreError("EINVAL", "special path names no node");
  const abs = path.startsWith("/") ? path : `${getDomainPath(domid)}/${path}`;
  if (abs !== "/" && (abs.endsWith("/") || abs.includes("//"))) {
    throw new XenstoreError("EINVAL", "malformed path");
  }
  return abs;
}

/** The parent of an absolute path (`/` is its own parent). */
export function parentPath(abs: string): string {
  const i = abs.lastIndexOf("/");
  return i <= 0 ? "/" : abs.slice(0, i);
}

/** The last component of an absolute path (`""` for `/`). */
export function baseName(abs: string): string {
  return abs.slice(abs.lastIndexOf("/") + 1);
}

/** `parent/name` for an absolute parent. */
export function childPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** True when `path` is `ancestor` or lies below it (component-wise). */
export function isPathBelowOrEqual(path: string, ancestor: string): boolean {
  if (ancestor === "/") return path.startsWith("/");
  return path === ancestor || path.startsWith(`${ancestor}/`);
}
