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

/** `/local/domain/<domid>/` at the start of an absolute path (cxenstored scans it with `%5u`). */
const HOME_PREFIX = /^\/local\/domain\/[0-9]{1,5}\//;

/**
 * The length a path counts against the path limit (cxenstored canonicalize + domain_max_chk
 * ACC_PATHLEN; oxenstored Utils.path_validate, XSA-323): the canonical absolute path, less a
 * leading `/local/domain/<domid>/` of any domain. So a domain's relative path counts the same
 * whatever its domid (it stays valid across a migration that changes the domid), and the same
 * whether it is sent relative or absolute.
 */
export function pathLimitLength(abs: string): number {
  const home = HOME_PREFIX.exec(abs);
  return home === null ? abs.length : abs.length - home[0].length;
}

/**
 * Resolve a path as sent by a client of domain `domid` (cxenstored canonicalize): check its
 * characters and shape (no `//`, no trailing `/`), prefix a relative path with the domain's
 * home, and check the result's length as `pathLimitLength` counts it against `pathMax`.
 * `allowSpecial` admits the special `@...` names (GET_PERMS, SET_PERMS and WATCH take them);
 * they are returned unchanged. Throws EINVAL.
 */
export function resolvePath(path: string, domid: number, pathMax: number, allowSpecial = false): string {
  if (path.length === 0) throw new XenstoreError("EINVAL", "empty path");
  if (!VALID_PATH.test(path)) throw new XenstoreError("EINVAL", "invalid character in path");
  if (path.startsWith("@")) {
    // `@...` names a special node only where the request allows one (cxenstored allow_special).
    if (!allowSpecial) throw new XenstoreError("EINVAL", "special path names no node");
    if (path.length > pathMax) throw new XenstoreError("EINVAL", `path longer than ${pathMax}`);
    return path;
  }
  const abs = path.startsWith("/") ? path : `${getDomainPath(domid)}/${path}`;
  if (abs !== "/" && (abs.endsWith("/") || abs.includes("//"))) {
    throw new XenstoreError("EINVAL", "malformed path");
  }
  if (pathLimitLength(abs) > pathMax) throw new XenstoreError("EINVAL", `path longer than ${pathMax}`);
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
