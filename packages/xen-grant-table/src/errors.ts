/**
 * Errors of the grant-table model. Protocol failures are GNTST codes in each op's status; these
 * errors are for misuse of the model's API (an access through a revoked mapping, a grant reference
 * freed twice) and carry `code` so callers match on `name`/`code`, not `instanceof`.
 */

export type GrantTableErrorCode =
  /** Access through a mapping that was unmapped (the mapper's page fault). */
  | "EFAULT"
  /** Write through a read-only mapping. */
  | "EACCES"
  /** Offset/length outside the mapped frame, or a copy target outside the mapper's own frame. */
  | "ERANGE"
  /** Bad argument to a guest-side call (unknown grant ref, double free). */
  | "EINVAL"
  /** Teardown refused while mappings or pins remain. */
  | "EBUSY";

/**
 * Misuse of the grant-table API or a broken invariant of the model (never a guest's doing: guests
 * get GNTST_* statuses), with its code.
 */
export class GrantTableError extends Error {
  override readonly name = "GrantTableError";
  readonly code: GrantTableErrorCode;

  constructor(code: GrantTableErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** True when `e` is a GrantTableError (checked by name, so it holds across bundle copies). */
export function isGrantTableError(e: unknown): e is GrantTableError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "GrantTableError";
}
