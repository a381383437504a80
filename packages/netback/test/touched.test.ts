import { type SkBuff, skbGetHash } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { makeFrame, slotsOf, World } from "./harness.js";

const LEN = 1000;

/**
 * A guest sends one 1000-byte frame in one slot: netback copies the first 128 bytes into the
 * skb's head and maps the rest as a frag. Dom0's stack runs `read` on the skb, frees it, and
 * the slot is unmapped; the grant table's counters say whether the unmap needed a TLB flush.
 */
function deliverOne(read: (skb: SkBuff) => void, options: { headerCopy?: "first-slot" } = {}) {
  const w = new World({
    ...options,
    onReceive: (_vif, skb) => {
      read(skb);
      skb.free();
    },
  });
  const fe = w.frontend();
  w.run();
  const frame = makeFrame(LEN, 4);
  const before = { ...w.grants.stats };
  fe.send(frame, slotsOf(LEN, LEN));
  w.run();
  expect(fe.txResponses().map((r) => r.status)).toEqual([0]);
  expect(fe.vif.counters()).toMatchObject({ rx_packets: 1, tx_zerocopy_sent: 1 });
  const s = w.grants.stats;
  return { frame, touched: s.touched - before.touched, flushes: s.tlbFlushes - before.tlbFlushes, avoided: s.tlbFlushesAvoided - before.tlbFlushesAvoided };
}

describe("touched mappings: Dom0's stack reading a mapped frag through an skb", () => {
  test("a receiver that frees the skb unread leaves the mapping untouched: its unmap needs no TLB flush", () => {
    const r = deliverOne(() => {});
    expect(r).toMatchObject({ touched: 0, flushes: 0, avoided: 1 });
  });

  test("a receiver that reads every byte (skb_copy_bits) touches the mapped frag: the unmap flushes", () => {
    let got: Uint8Array | null = null;
    const r = deliverOne((skb) => {
      got = new Uint8Array(skb.len);
      expect(skb.copyBits(0, got, 0, skb.len)).toBe(0);
    });
    expect(got).toEqual(r.frame);
    expect(r).toMatchObject({ touched: 1, flushes: 1, avoided: 0 });
  });

  test("reading only bytes past the copied header touches the mapping too", () => {
    const r = deliverOne((skb) => {
      expect(skb.copyBits(600, new Uint8Array(8), 0, 8)).toBe(0);
    });
    expect(r).toMatchObject({ touched: 1, flushes: 1 });
  });

  test("skb_get_hash reads the headers only (in the copied head): no touch, no flush", () => {
    const r = deliverOne((skb) => {
      skbGetHash(skb);
    });
    expect(r).toMatchObject({ touched: 0, flushes: 0, avoided: 1 });
  });

  test("first-slot header copy (Linux bdab82759b8e): __pskb_pull_tail reads the frag, so it is touched even if the stack reads nothing", () => {
    const r = deliverOne(() => {}, { headerCopy: "first-slot" });
    expect(r.touched).toBe(0); // one slot: its first 128 bytes are copied, no pull needed
    const w = new World({ headerCopy: "first-slot", onReceive: (_vif, skb) => skb.free() });
    const fe = w.frontend();
    w.run();
    // A 20-byte first slot: the rest of the header is pulled out of the mapped follower.
    fe.send(makeFrame(LEN, 5), slotsOf(LEN, 20));
    w.run();
    expect(fe.vif.counters().model_tx_pull_tail).toBe(1);
    expect(w.grants.stats.touched).toBe(1);
    expect(w.grants.stats.tlbFlushes).toBe(1);
  });
});
