import { describe, expect, test } from "vitest";
import {
  EFAULT,
  MAX_SKB_FRAGS,
  PAGE_SIZE,
  PagePool,
  Pktgen,
  randomSkbDesc,
  SKB_COMPOSE_MAX_LEN,
  SKB_GSO_TCPV6,
  SkbAllocator,
  SkbComposer,
  skbDescLen,
  skbTruesize,
} from "../src/index.js";
import { leakCheck, makeEnv, payloadOf } from "./helpers.js";

const einval = expect.objectContaining({ name: "SkbError", code: "EINVAL" });

describe("composer", () => {
  test("lays out linear data, frags at their offsets and orders, GSO; truesize adds the frag pages", () => {
    const env = makeEnv();
    const payload = payloadOf(10000, 1);
    const skb = new SkbComposer(env.alloc).compose(
      { linearLen: 200, linearOffset: 4000, frags: [{ size: 3000, offset: 2000, order: 1 }, { size: 10 }], gso: { size: 1400, type: SKB_GSO_TCPV6 } },
      payload,
    )!;
    expect(skb.len).toBe(3210);
    expect(skb.headlen).toBe(200);
    expect(skb.headroom).toBe(4000);
    expect(skb.dataPageOffset).toBe(4000);
    const sh = skb.shinfo;
    expect(sh.frags[0]!.offset).toBe(2000);
    expect(sh.frags[0]!.page!.order).toBe(1);
    expect(sh.frags[1]!.page!.order).toBe(0);
    expect(sh.gsoSize).toBe(1400);
    expect(sh.gsoType).toBe(SKB_GSO_TCPV6);
    expect(sh.gsoSegs).toBe(3);
    expect(skb.truesize).toBe(skbTruesize(skb.end) + 3 * PAGE_SIZE);
    expect(skb.toBytes()).toEqual(payload.subarray(0, 3210));
    skb.free();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("impossible descriptions are refused with EINVAL and leave nothing allocated", () => {
    const env = makeEnv();
    const c = new SkbComposer(env.alloc);
    expect(() => c.compose({ linearLen: 10, frags: Array.from({ length: MAX_SKB_FRAGS + 1 }, () => ({ size: 1 })) })).toThrow(einval);
    expect(() => c.compose({ linearLen: 10, frags: [{ size: 4000, offset: 200, order: 0 }] })).toThrow(einval);
    expect(() => c.compose({ linearLen: SKB_COMPOSE_MAX_LEN + 1 })).toThrow(einval);
    expect(() => c.compose({ linearLen: 10, fragList: [{ linearLen: 1, fragList: [{ linearLen: 1 }] }] })).toThrow(einval);
    expect(() => c.compose({ linearLen: 100 }, new Uint8Array(10))).toThrow(einval);
    expect(() => c.compose({ linearLen: -1 })).toThrow(einval);
    expect(() => c.compose({ linearLen: 10, frags: [{ size: 0 }] })).toThrow(einval);
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("when memory runs out mid-build, compose returns null and frees what it took", () => {
    const env = makeEnv();
    const pool = new PagePool(env.dom, { limitFrames: 8 });
    const alloc = new SkbAllocator({ pool, maxSkbs: 4 });
    const c = new SkbComposer(alloc);
    expect(c.compose({ linearLen: 100, frags: Array.from({ length: 10 }, () => ({ size: 100 })) })).toBeNull();
    expect(pool.pagesInUse).toBe(0);
    expect(alloc.liveSkbs).toBe(0);
    expect(c.compose({ linearLen: 100, fragList: Array.from({ length: 5 }, () => ({ linearLen: 1 })) })).toBeNull();
    expect(pool.pagesInUse).toBe(0);
    expect(alloc.liveSkbs).toBe(0);
  });

  test("randomSkbDesc is deterministic from the PRNG and stays within the limits", () => {
    const a = makeEnv().hv.sim.prng.fork("layouts");
    const b = makeEnv().hv.sim.prng.fork("layouts");
    for (let i = 0; i < 50; i++) {
      const da = randomSkbDesc(a);
      expect(da).toEqual(randomSkbDesc(b));
      expect(skbDescLen(da)).toBeLessThanOrEqual(SKB_COMPOSE_MAX_LEN);
      expect((da.frags ?? []).length).toBeLessThanOrEqual(MAX_SKB_FRAGS);
    }
  });

  test("toSgvec: views of any range of any layout, joined, are the packet's bytes there; nothing is copied", () => {
    const env = makeEnv();
    const rng = env.hv.sim.prng.fork("sgvec");
    const c = new SkbComposer(env.alloc);
    for (let i = 0; i < 60; i++) {
      const desc = randomSkbDesc(rng);
      const len = skbDescLen(desc);
      const skb = c.compose(desc, payloadOf(len, i))!;
      const bytes = skb.toBytes();
      const off = rng.below(len + 1);
      const n = rng.below(len - off + 1);
      const views: Uint8Array[] = [];
      const count = skb.toSgvec(off, n, views);
      expect(count).toBe(views.length);
      expect(Buffer.concat(views)).toEqual(Buffer.from(bytes.subarray(off, off + n)));
      // The views alias the skb's pages: a write through one shows in the packet.
      if (n > 0) {
        const v = views[0]!;
        v[0] = (v[0]! + 1) & 0xff;
        expect(skb.toBytes()[off]).toBe((bytes[off]! + 1) & 0xff);
      }
      expect(skb.toSgvec(off, len - off + 1, [])).toBe(-EFAULT);
      skb.free();
    }
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });
});

describe("pktgen", () => {
  test("clone_skbs resends one skb that many times, then fills a fresh one with the next sequence number", () => {
    const env = makeEnv();
    const seqs: number[] = [];
    const gen = new Pktgen(new SkbComposer(env.alloc), {
      desc: { linearLen: 60, frags: [{ size: 1000 }] },
      cloneSkbs: 3,
      fill: (seq, payload) => {
        seqs.push(seq);
        new DataView(payload.buffer).setUint32(0, seq);
      },
    });
    const got = [];
    for (let i = 0; i < 7; i++) {
      const skb = gen.next()!;
      expect(skb.users).toBe(2); // pktgen's and the driver's
      got.push(skb);
      const b = new Uint8Array(4);
      skb.copyBits(0, b, 0, 4);
      expect(new DataView(b.buffer).getUint32(0)).toBe(Math.floor(i / 3));
      skb.free(); // the driver's kfree_skb after xmit
    }
    expect(got[0]).toBe(got[2]);
    expect(seqs).toEqual([0, 1, 2]);
    expect(gen.sent).toBe(7);
    expect(env.alloc.liveSkbs).toBe(1);
    gen.stop();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });

  test("clone_skbs 0 builds a fresh skb per packet", () => {
    const env = makeEnv();
    const gen = new Pktgen(new SkbComposer(env.alloc), { desc: { linearLen: 1496 } });
    for (let i = 0; i < 5; i++) gen.next()!.free();
    expect(gen.seq).toBe(5);
    gen.stop();
    expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
  });
});
