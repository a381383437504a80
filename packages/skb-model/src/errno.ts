/**
 * The Linux errno values the model returns negated, as the kernel's int-returning functions do
 * (include/uapi/asm-generic/errno-base.h and errno.h). One table for every package.
 */

/** No such file or directory (a xenstore node that is not there). */
export const ENOENT = 2;
/** I/O error. */
export const EIO = 5;
/** Argument list too long (netback: a frontend using more slots than fatal_skb_slots). */
export const E2BIG = 7;
/** Out of memory. */
export const ENOMEM = 12;
/** Bad address. */
export const EFAULT = 14;
/** No such device. */
export const ENODEV = 19;
/** Invalid argument. */
export const EINVAL = 22;
/** Invalid request descriptor. */
export const EBADR = 53;
/** No data available. */
export const ENODATA = 61;
/** Protocol error (skb_checksum_setup on a header it cannot use). */
export const EPROTO = 71;
