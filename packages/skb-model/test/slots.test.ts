import { describe, expect, test } from "vitest";
import {
  gnttabCountGrant,
  MAX_SKB_FRAGS,
  PAGE_SIZE,
  SEED5_WORST_CASE,
  SEED5_WORST_CASE_SLOTS,
  SkbComposer,
  skbDescLen,
  xennetCountSkbSlots,
} from "../src/index.js";
import { framesSpanned, leakCheck, makeEnv, payloadOf } from "./helpers.js";

describe("gnttab_count_grant", () => {
  test("one slot per 4 KiB page touched, from the offset inside the first page", () => {
    expect(gnttabCountGrant(0, PAGE_SIZE)).toBe(1);
    expect(gnttabCountGrant(1, PAGE_SIZE)).toBe(2);
    expect(gnttabCountGrant(PAGE_SIZE - 1, 2)).toBe(2);
    expect(gnttabCountGrant(PAGE_SIZE - 1, PAGE_SIZE + 2)).toBe(3);
    expect(gnttabCountGrant(3 * PAGE_SIZE + 10, 100)).toBe(1);
    expect(gnttabCountGrant(0, 0)).toBe(0);
    // Linux's XEN_PFN_UP(offset + 0): an empty region at a non-zero offset counts one slot.
    expect(gnttabCountGrant(100, 0)).toBe(1);
  });
});

describe("the 51-slot worst-case skb", () => {
  test("composes to exactly 51 slots, 17 frags, 61544 bytes, and the pages really are 51", () => {
    const env = makeEnv();
    const payload = payloadOf(skbDescLen(SEED5_WORST_CASE), 51);
    const skb = new SkbComposer(env.alloc).compose(SEED5_WORST_CASE, payload)!;
    expect(skb.len).toBe(70 + 15 * (PAGE_SIZE + 2) + 2 * 2);
    expect(skb.shinfo.nrFrags).toBe(MAX_SKB_FRAGS);
    expect(skb.headlen).toBe(70);
    expect(skb.dataPageOffset + skb.headlen).toBeGreaterThan(PAGE_SIZE); // linear crosses a boundary
    expect(xennetCountSkbSlots(skb)).toBe(SEED5_WORST_CASE_SLOTS);
    expect(framesSpanned(skb)).toBe(51);
    expect(skb.toBytes()).toEqual(payload);
    // netfront's answer when slots exceed its limit: skb_linearize, then far fewer slots.
    expect(skb.linearize()).toBe(0);
    expect(xennetCountSkbSlots(skb)).toBe(framesSpanned(skb));
    expect(xennetCountSkbSlots(skb)).toBeLessThanOrEqual(Math.ceil(skb.len / PAGE_SIZE) + 1);
    expect(skb.toBytes()).toEqual(payload);
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("slot counts of ordinary receive skbs match the pages they span", () => {
    const env = makeEnv();
    for (const len of [64, 1500, 3000, 3700]) {
      const skb = env.alloc.napiAllocSkb(len)!;
      skb.put(len);
      expect(xennetCountSkbSlots(skb)).toBe(framesSpanned(skb));
      skb.free();
    }
  });
});
