/**
 * xenstore errors: the `xsd_errors` table of xen/include/public/io/xs_wire.h, plus oxenstored's
 * `EQUOTA` (quota exceeded), which travels as an XS_ERROR string like the others.
 */

/** xsd_errors, in table order (new entries are only ever appended). */
export const XSD_ERRORS = Object.freeze([
  "EINVAL",
  "EACCES",
  "EEXIST",
  "EISDIR",
  "ENOENT",
  "ENOMEM",
  "ENOSPC",
  "EIO",
  "ENOTEMPTY",
  "ENOSYS",
  "EROFS",
  "EBUSY",
  "EAGAIN",
  "EISCONN",
  "E2BIG",
  "EPERM",
] as const);

/** One of the names in xs_wire.h's xsd_errors table. */
export type XsdErrorName = (typeof XSD_ERRORS)[number];

/** What a xenstore request can fail with: an xsd_errors name, or oxenstored's `EQUOTA`. */
export type XenstoreErrorCode = XsdErrorName | "EQUOTA";

/**
 * A failed xenstore request. `code` is the string the server puts in its XS_ERROR reply. Match on
 * `name === "XenstoreError"` and `code`, not `instanceof` (two copies of the package may be loaded).
 */
export class XenstoreError extends Error {
  override readonly name = "XenstoreError";
  readonly code: XenstoreErrorCode;

  constructor(code: XenstoreErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message === undefined ? code : `${code}: ${message}`, options);
    this.code = code;
  }
}

/** True when `err` is a XenstoreError (by name), optionally with the given code. */
export function isXenstoreError(err: unknown, code?: XenstoreErrorCode): err is XenstoreError {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === "XenstoreError" && typeof e.code === "string" && (code === undefined || e.code === code);
}
