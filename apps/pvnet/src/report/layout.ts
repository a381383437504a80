/**
 * The 51-slot worst-case skb (`pvnet run --layout seed5`) before and after the straightening
 * xen-netfront applies to it: xennet_start_xmit (drivers/net/xen-netfront.c) counts the slots
 * with xennet_count_skb_slots and, when there are more than the backend accepts
 * (XEN_NETIF_NR_SLOTS_MIN, 18), calls skb_linearize ("xennet: skb rides the rocket") and counts
 * again. Here skb-model's composer builds the skb, the same counting runs region by region, and
 * the skb is linearized as netfront does it.
 */
import { Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import { XEN_NETIF_NR_SLOTS_MIN } from "@pvnet/netif";
import { gnttabCountGrant, PagePool, SEED5_WORST_CASE, type SkbDesc, SkbAllocator, type SkBuff, SkbComposer, type SkbFrag, xennetCountSkbSlots, xenOffsetInPage } from "@pvnet/skb-model";

/** Machine frames for the one-domain machine the skb is built on: the skb needs under 70 pages. */
const LAYOUT_FRAMES = 1024;
/** Pages that domain's pool may hold. */
const LAYOUT_POOL_FRAMES = 512;

/** Slots of one region of the skb (the linear area or one frag). */
export interface SlotRegion {
  /** "linear" or "frag N". */
  readonly region: string;
  readonly bytes: number;
  /** Offset of the region's first byte in its 4 KiB page. */
  readonly pageOffset: number;
  /** gnttab_count_grant(offset, len). */
  readonly slots: number;
}

export interface SlotLayout {
  readonly region: readonly SlotRegion[];
  /** xennet_count_skb_slots: the sum of the regions. */
  readonly slots: number;
}

/** What straightening did to the layout. */
export interface StraighteningLayout {
  readonly packetBytes: number;
  readonly before: SlotLayout;
  readonly after: SlotLayout;
  /** The backend's limit: XEN_NETIF_NR_SLOTS_MIN. */
  readonly maxSlots: number;
}

/** xennet_count_skb_slots, region by region. */
export function slotRegions(skb: SkBuff): SlotLayout {
  const region: SlotRegion[] = [{ region: "linear", bytes: skb.headlen, pageOffset: xenOffsetInPage(skb.dataPageOffset), slots: gnttabCountGrant(skb.dataPageOffset, skb.headlen) }];
  const sh = skb.shinfo;
  for (let i = 0; i < sh.nrFrags; i++) {
    const f = sh.frags[i] as SkbFrag;
    region.push({ region: `frag ${i}`, bytes: f.size, pageOffset: xenOffsetInPage(f.offset), slots: gnttabCountGrant(f.offset, f.size) });
  }
  const slots = xennetCountSkbSlots(skb);
  // Invariant: the regions are what xennet_count_skb_slots sums.
  if (region.reduce((n, r) => n + r.slots, 0) !== slots) throw new Error("slot regions do not add up to xennet_count_skb_slots");
  return { region, slots };
}

/** Compose `desc` (default: the seed-5 worst case), count its slots, straighten it as netfront does, count again. */
export function straightenedLayout(desc: SkbDesc = SEED5_WORST_CASE): StraighteningLayout {
  const hv = new Hypervisor({ frames: LAYOUT_FRAMES, seed: 1 });
  const dom = hv.createDomain({ name: "guest", maxPages: LAYOUT_POOL_FRAMES });
  const vcpu = dom.vcpus[0] as Vcpu;
  const pool = new PagePool(dom, { limitFrames: LAYOUT_POOL_FRAMES, costs: vcpu });
  const skbs = new SkbAllocator({ pool, maxSkbs: 4, costs: vcpu });
  const skb = new SkbComposer(skbs).compose(desc);
  if (skb === null) throw new Error("the layout's skb did not fit the machine built for it");
  try {
    const before = slotRegions(skb);
    if (before.slots > XEN_NETIF_NR_SLOTS_MIN && skb.linearize() !== 0) throw new Error("skb_linearize failed: no memory");
    return { packetBytes: skb.len, before, after: slotRegions(skb), maxSlots: XEN_NETIF_NR_SLOTS_MIN };
  } finally {
    skb.free();
  }
}
