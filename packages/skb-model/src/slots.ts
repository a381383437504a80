/**
 * Ring slots an skb needs on the Xen TX ring: one grant per 4 KiB page its data touches, counted
 * as xen-netfront counts them before transmitting (drivers/net/xen-netfront.c,
 * xennet_count_skb_slots; include/xen/grant_table.h, gnttab_count_grant).
 */
import { XEN_PAGE_SHIFT, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import type { SkBuff, SkbFrag } from "./skbuff.js";

/** xen_offset_in_page(p): the offset of `p` inside its 4 KiB Xen page. */
export function xenOffsetInPage(offset: number): number {
  return offset & (XEN_PAGE_SIZE - 1);
}

/**
 * gnttab_count_grant(start, len) = XEN_PFN_UP(xen_offset_in_page(start) + len): grants (slots)
 * for `len` bytes starting at `start`. Like Linux, an empty region at a non-zero offset counts one.
 */
export function gnttabCountGrant(start: number, len: number): number {
  return (xenOffsetInPage(start) + len + XEN_PAGE_SIZE - 1) >>> XEN_PAGE_SHIFT;
}

/**
 * xennet_count_skb_slots(): slots for the linear area (from offset_in_page(skb->data), headlen
 * bytes) plus, per frag, slots from the frag's offset inside its first 4 KiB page. A compound
 * page is page aligned, so `offset & ~PAGE_MASK` is the offset within the 4 KiB page the frag
 * starts in. The frag_list is not counted (netfront does not advertise NETIF_F_FRAGLIST).
 */
export function xennetCountSkbSlots(skb: SkBuff): number {
  let slots = gnttabCountGrant(skb.dataPageOffset, skb.headlen);
  const sh = skb.shinfo;
  for (let i = 0; i < sh.nrFrags; i++) {
    const f = sh.frags[i] as SkbFrag;
    slots += gnttabCountGrant(f.offset, f.size);
  }
  return slots;
}
