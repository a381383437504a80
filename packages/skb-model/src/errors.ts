/**
 * Errors of the sk_buff model. Three tiers as in the drivers: allocation failures are returned
 * (`null`, `-ENOMEM`), Linux's documented soft failures are returned as Linux returns them
 * (`skb_pull` past the end gives `null`), and what Linux treats as a kernel BUG (`skb_over_panic`,
 * freeing a free page) or a misuse of this API throws an `SkbError` with a `code`.
 */

/** Codes carried by `SkbError`: errno names, or the Linux BUG the call would have hit. */
export type SkbErrorCode =
  /** Bad argument (negative length, order out of range, a description that cannot be built). */
  | "EINVAL"
  /** Access outside a page or an skb's buffer. */
  | "EFAULT"
  /** skb_over_panic: put/reserve past skb->end. */
  | "SKB_OVER_PANIC"
  /** skb_under_panic: push before skb->head. */
  | "SKB_UNDER_PANIC"
  /** A kernel BUG_ON: freeing a free page, using a freed skb, operating on a shared skb. */
  | "BUG";

/** Misuse of the skb API or a broken skb invariant (what would be a BUG() in Linux), with its code. */
export class SkbError extends Error {
  override readonly name = "SkbError";
  readonly code: SkbErrorCode;

  constructor(code: SkbErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** Match on `name`, not `instanceof` (two installed copies of the package would not agree). */
export function isSkbError(e: unknown): e is SkbError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "SkbError";
}
