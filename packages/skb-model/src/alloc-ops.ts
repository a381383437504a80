/**
 * What a driver uses of its kernel's memory allocators, as interfaces: alloc_skb /
 * __netdev_alloc_skb and alloc_page. `SkbAllocator` and `PagePool` implement them. Costs go to
 * the allocator's `costs` sink; a runner gives each kernel a per-CPU sink (the VCPU running the
 * code pays, as on Linux, where the allocator runs on the caller's CPU), so a driver never
 * swaps accounts.
 */
import type { PagePool } from "./page.js";
import type { SkbAllocator } from "./allocator.js";

/** alloc_page(s) of a kernel's page allocator. */
export type PageAllocOps = Pick<PagePool, "allocPage" | "allocPages">;

/** The skb allocation calls a driver makes, and the page allocator beneath them. */
export interface SkbAllocOps extends Pick<SkbAllocator, "allocSkb" | "netdevAllocSkb" | "napiAllocSkb" | "buildSkb"> {
  readonly pool: PageAllocOps;
}
