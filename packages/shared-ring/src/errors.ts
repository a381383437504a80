/**
 * Errors of the shared-ring package. Only our own broken invariants throw (a ring built over
 * memory that cannot hold it, a producer that overruns its own ring); a peer's bad indices are
 * reported by the overflow checks and the capped counts, never by an exception.
 */

/** Codes a `RingError` carries; callers match on `code`, not `instanceof`. */
export type RingErrorCode =
  /** The ring's geometry or its memory is unusable (page count, slot size, bounds, alignment). */
  | "ERING_LAYOUT"
  /** A producer tried to queue a request into a full ring (RING_FULL was not checked). */
  | "ERING_FULL"
  /** A consumer tried to take an entry the ring does not hold (count not checked first). */
  | "ERING_EMPTY"
  /** The back end would consume a request whose slot still owes a response (RING_REQUEST_CONS_OVERFLOW). */
  | "ERING_CONS_OVERFLOW";

/** Misuse of the ring API or a ring whose indices make no sense (what ring.h leaves undefined), with its code. */
export class RingError extends Error {
  override readonly name = "RingError";
  readonly code: RingErrorCode;

  constructor(code: RingErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** True for a `RingError` from any copy of this package (matches on `name`). */
export function isRingError(e: unknown): e is RingError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "RingError";
}
