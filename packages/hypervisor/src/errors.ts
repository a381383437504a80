/**
 * Errors of the hypervisor model. Hypercalls report failures the way Xen does, as negative errno
 * values; `XenError` carries the errno name as `code` so callers match on `code`, not `instanceof`.
 */

/** Linux/Xen errno numbers used by the hypercalls we model (xen/include/public/errno.h). */
export const XEN_ERRNO = Object.freeze({
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  E2BIG: 7,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ENOSYS: 38,
});

/** A Xen errno name (EINVAL, ENOMEM, ENOSPC, ...), key of XEN_ERRNO. */
export type XenErrnoName = keyof typeof XEN_ERRNO;

/** A hypercall error: the errno name and the negative value the hypercall returns (xen/include/public/errno.h). */
export class XenError extends Error {
  override readonly name = "XenError";
  readonly code: XenErrnoName;
  /** The value the hypercall returns: minus the errno. */
  readonly rc: number;

  constructor(code: XenErrnoName, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
    this.rc = -XEN_ERRNO[code];
  }
}

/** True when `e` is a XenError (checked by name, so it also holds across worker threads and bundle copies). */
export function isXenError(e: unknown): e is XenError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "XenError";
}
