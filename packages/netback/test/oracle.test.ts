/**
 * netback against the tests' oracle of netif.h's slot-chain rules (netif's test/chain.ts): for
 * seeded random TX chains, the oracle's verdict predicts netback's reaction — delivered, dropped
 * with NETIF_RSP_ERROR for every slot (too many slots, sizes that do not add up), or the vif
 * disabled (a slot crossing its page). A failure prints the seed that replays it.
 */
import { NETIF_RSP_ERROR, NETTXF_more_data, type NetifTxRequest, XEN_NETIF_EXTRA_TYPE_MAX } from "@pvnet/netif";
import { describe, expect, test } from "vitest";
import { newNetifChain, parseTxChain, type TxChainSlot, txSlotsFromArray } from "../../netif/test/chain.js";
import { XEN_NETBK_LEGACY_SLOTS_MAX } from "../src/common.js";
import { makeFrame, type SlotSpec, World } from "./harness.js";

/**
 * xenvif_count_requests counts the slots that follow the first and drops at
 * XEN_NETBK_LEGACY_SLOTS_MAX of those, so netback takes the first request plus 18 more: one slot
 * more than netif.h's XEN_NETIF_NR_SLOTS_MIN, the oracle's default.
 */
const NETBACK_LIMITS = { maxSlots: XEN_NETBK_LEGACY_SLOTS_MAX + 1, extraTypeMax: XEN_NETIF_EXTRA_TYPE_MAX };

/** xorshift32: the cases' own deterministic stream. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

type Mutation = "none" | "underflow" | "cross";

/** A random chain of `n` slots (first slot at least ETH_HLEN), with at most one mutation. */
function randomCase(seed: number): { slots: SlotSpec[]; total: number; mutation: Mutation } {
  const r = rng(seed);
  const n = 1 + r(20); // 1..20 slots: up to one past what netback takes (see NETBACK_LIMITS)
  const maxLen = Math.floor(65535 / n);
  const slots: SlotSpec[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = Math.max(i === 0 ? 14 : 1, 1 + r(Math.min(maxLen, 4096)));
    const offset = r(4096 - len + 1);
    slots.push({ len, offset });
    total += len;
  }
  let mutation: Mutation = "none";
  // One fault per case: a chain already one slot too long gets no other.
  const pick = n > 1 && n <= NETBACK_LIMITS.maxSlots ? r(3) : 0;
  if (pick === 1) {
    // The last slot claims one byte more than the first request's size has left for it (the
    // first slot's and its own), within its page.
    const len0 = 14 + r(200);
    const last = 1 + r(200);
    total += len0 - (slots[0] as SlotSpec).len + last - (slots[n - 1] as SlotSpec).len;
    slots[0] = { len: len0, offset: Math.min((slots[0] as SlotSpec).offset ?? 0, 4096 - len0) };
    slots[n - 1] = { len: last, offset: 0, size: len0 + last + 1 };
    mutation = "underflow";
  } else if (pick === 2) {
    const k = 1 + r(n - 1);
    const s = slots[k] as SlotSpec;
    slots[k] = { ...s, offset: 4096 - s.len + 1 };
    mutation = "cross";
  }
  return { slots, total, mutation };
}

/** The requests queuePacket writes for `slots`, as the oracle's chain. */
function chainOf(slots: readonly SlotSpec[], total: number): TxChainSlot[] {
  return slots.map((s, i): TxChainSlot => {
    const req: NetifTxRequest = { gref: 1, offset: s.offset ?? 0, flags: i < slots.length - 1 ? NETTXF_more_data : 0, id: i, size: s.size ?? (i === 0 ? total : s.len) };
    return { kind: "request", req };
  });
}

describe("netback's reactions follow the slot-chain oracle", () => {
  test("60 seeded random chains", () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const { slots, total, mutation } = randomCase(seed);
      const chain = parseTxChain(txSlotsFromArray(chainOf(slots, total)), 0, slots.length, newNetifChain(), NETBACK_LIMITS);
      const w = new World();
      const fe = w.frontend();
      w.run();
      const frame = makeFrame(total, seed);
      fe.send(frame, slots);
      w.run();
      seen.add(chain.reason);
      const ctx = `seed=${seed} mutation=${mutation} slots=${slots.length} oracle=${chain.reason}`;
      if (chain.reason === "ok") {
        expect(w.received.map((x) => x.bytes), ctx).toEqual([frame]);
        expect(fe.vif.disabled, ctx).toBe(false);
      } else if (chain.reason === "too-many-slots" || chain.reason === "size-underflow") {
        expect(w.received.length, ctx).toBe(0);
        expect(fe.vif.disabled, ctx).toBe(false);
        const rsps = fe.txResponses();
        expect(rsps.length, ctx).toBe(slots.length);
        expect(rsps.every((x) => x.status === NETIF_RSP_ERROR), ctx).toBe(true);
      } else {
        expect(chain.reason, ctx).toBe("crosses-page");
        expect(w.received.length, ctx).toBe(0);
        expect(fe.vif.disabled, ctx).toBe(true);
      }
    }
    // The seeds reach every verdict.
    expect([...seen].sort()).toEqual(["crosses-page", "ok", "size-underflow", "too-many-slots"]);
  });
});
