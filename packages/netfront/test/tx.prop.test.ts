import { test } from "@fast-check/vitest";
import { XEN_NETIF_NR_SLOTS_MIN } from "@pvnet/netif";
import { Prng } from "@pvnet/sim";
import { randomSkbDesc, skbDescLen } from "@pvnet/skb-model";
import fc from "fast-check";
import { expect } from "vitest";
import { NETDEV_TX_OK } from "../src/index.js";
import { makeWorld } from "./world.js";

// One world for every run: each run must leave it as it found it (no grant, skb or page kept).
const w = makeWorld({ seed: 7 });
w.run();
const baseSkbs = w.skbs.liveSkbs;

test.prop([fc.integer({ min: 0, max: 0xffffffff }), fc.boolean()], { numRuns: 30 })(
  "any skb layout up to 64 KiB - 1 arrives byte-exact in at most 18 slots, and nothing leaks",
  (seed, shared) => {
    const desc = randomSkbDesc(new Prng(seed), { maxLen: 0xffff, maxFragList: 0 });
    const skb = w.composer.compose(desc);
    if (skb === null) throw new Error("compose");
    const bytes = skb.toBytes();
    if (shared) skb.get();
    const before = w.be.packets.length;
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    w.run();
    if (shared) skb.free();
    const pkt = w.be.packets[before];
    expect(pkt?.data).toEqual(bytes);
    expect(pkt?.requests.length).toBeLessThanOrEqual(XEN_NETIF_NR_SLOTS_MIN);
    expect(pkt?.requests[0]?.size).toBe(skbDescLen(desc));
    expect(w.fe.outstanding().txInFlight).toBe(0);
    expect(w.skbs.liveSkbs).toBe(baseSkbs);
    expect(w.fe.broken).toBe(false);
  },
);

test.prop([fc.integer({ min: 1, max: 6000 }), fc.integer({ min: 64, max: 4096 }), fc.nat(4095), fc.integer({ min: 0, max: 255 })], { numRuns: 60 })(
  "any RX chain within the page is delivered byte-exact or dropped and counted (runts by the stack), never crashing",
  (size, chunkWanted, offWanted, seq) => {
    const offset = Math.min(offWanted, 4096 - 64);
    const chunk = Math.min(chunkWanted, 4096 - offset);
    const data = new Uint8Array(size).map((_, i) => (i * 31 + seq) & 0xff);
    const slots = Math.ceil(size / chunk);
    const { rxErrors: errors, rxRunts: runts } = w.fe.stats();
    expect(w.be.sendRx(data, { chunk, offset })).toBe(true);
    w.run();
    const skb = w.received.shift();
    if (skb !== undefined) {
      expect(skb.toBytes()).toEqual(data);
      skb.free();
    } else if (size < 14) expect(w.fe.stats().rxRunts).toBe(runts + 1); // the stack drops runts
    else expect(w.fe.stats().rxErrors).toBe(errors + 1);
    // MAX_SKB_FRAGS slots always fit; an 18th only if pulling the first slot's bytes (at most
    // RX_COPY_THRESHOLD) frees its frag, as in Linux's xennet_fill_frags.
    if (size >= 14 && (slots <= 17 || (slots === 18 && chunk <= 256))) expect(skb).toBeDefined();
    if (slots > 19) expect(skb).toBeUndefined();
    expect(w.received).toHaveLength(0);
    expect(w.fe.broken).toBe(false);
    expect(w.fe.outstanding().rxPosted).toBe(256);
  },
);
