import { fc, test } from "@fast-check/vitest";
import { beforeEach, describe, expect } from "vitest";
import {
  type FragDesc,
  getOrder,
  MAX_SKB_FRAGS,
  PAGE_SIZE,
  SKB_COMPOSE_MAX_LEN,
  type SkBuff,
  SkbComposer,
  type SkbDesc,
  skbDescLen,
  skbTruesize,
  UbufInfo,
  xennetCountSkbSlots,
} from "../src/index.js";
import { framesSpanned, leakCheck, makeEnv, sameBytes } from "./helpers.js";

const ENV_OPTIONS = { frames: 8192, maxPages: 7000, limitFrames: 6000, maxSkbs: 512 };
let env = makeEnv(ENV_OPTIONS);
let composer = new SkbComposer(env.alloc);
const NO_LEAK = { pagesInUse: 0, liveSkbs: 0 };

beforeEach(() => {
  // A run that failed half-way (an assertion thrown before its frees) leaves skbs behind: start the
  // next run on a fresh machine, so it reports its own result instead of that leak.
  const leak = leakCheck(env);
  if (leak.pagesInUse !== 0 || leak.liveSkbs !== 0) {
    env = makeEnv(ENV_OPTIONS);
    composer = new SkbComposer(env.alloc);
  }
});

/** Refcounts return to zero: every page back in its pool, every sk_buff freed. */
function expectNoLeak(): void {
  expect(leakCheck(env)).toEqual(NO_LEAK);
}

/** A frag anywhere inside a page of the smallest order that holds it, or one order more. */
const fragArb: fc.Arbitrary<FragDesc> = fc
  .record({ size: fc.integer({ min: 1, max: 2 * PAGE_SIZE }), extraOrder: fc.integer({ min: 0, max: 1 }), at: fc.nat({ max: 1 << 16 }) })
  .map(({ size, extraOrder, at }) => {
    const order = getOrder(size) + extraOrder;
    return { size, order, offset: at % ((PAGE_SIZE << order) - size + 1) };
  });

const memberArb: fc.Arbitrary<SkbDesc> = fc.record({
  linearLen: fc.integer({ min: 0, max: 3000 }),
  linearOffset: fc.integer({ min: 0, max: 2 * PAGE_SIZE - 1 }),
  frags: fc.array(fragArb, { maxLength: 3 }),
});

/** Random layouts (linear, frags, frag_list), cut down to at most 64 KiB. */
const descArb: fc.Arbitrary<SkbDesc> = fc
  .record({
    linearLen: fc.integer({ min: 0, max: 6000 }),
    linearOffset: fc.integer({ min: 0, max: 2 * PAGE_SIZE - 1 }),
    frags: fc.array(fragArb, { maxLength: MAX_SKB_FRAGS }),
    fragList: fc.array(memberArb, { maxLength: 2 }),
  })
  .map((d) => {
    let budget = SKB_COMPOSE_MAX_LEN - d.linearLen;
    const fits = (n: number): boolean => {
      budget -= n;
      return budget >= 0;
    };
    const frags = d.frags.filter((f) => fits(f.size));
    // An empty frag_list member carries no bytes; Linux never builds one, and skb_linearize leaves
    // it in place (data_len is already 0), so layouts keep members of at least one byte.
    const fragList = d.fragList.filter((m) => skbDescLen(m) > 0 && fits(skbDescLen(m)));
    return { ...d, frags, fragList };
  });

function payloadFor(desc: SkbDesc, seed: number): Uint8Array {
  const p = new Uint8Array(skbDescLen(desc));
  for (let i = 0; i < p.length; i++) p[i] = (i * 131 + seed * 7 + (i >>> 8)) & 0xff;
  return p;
}

function invariants(skb: SkBuff): void {
  expect(skb.len).toBe(skb.headlen + skb.dataLen);
  expect(skb.tail - skb.data).toBe(skb.headlen);
  expect(skb.tail).toBeLessThanOrEqual(skb.end);
  let fragBytes = skb.pagelen;
  for (let l = skb.shinfo.fragList; l !== null; l = l.next) fragBytes += l.len;
  expect(skb.dataLen).toBe(fragBytes);
  expect(xennetCountSkbSlots(skb)).toBe(framesSpanned(skb) + (skb.headlen === 0 && skb.dataPageOffset !== 0 ? 1 : 0));
}

describe("composed skbs", () => {
  test.prop([descArb, fc.nat()])("bytes, lengths, truesize and slots match the description", (desc, seed) => {
    const payload = payloadFor(desc, seed);
    const skb = composer.compose(desc, payload)!;
    expect(sameBytes(skb.toBytes(), payload)).toBe(true);
    invariants(skb);
    let truesize = skbTruesize(skb.end);
    for (let i = 0; i < skb.shinfo.nrFrags; i++) truesize += skb.shinfo.frags[i]!.page!.size;
    for (let l = skb.shinfo.fragList; l !== null; l = l.next) truesize += l.truesize;
    expect(skb.truesize).toBe(truesize);
    skb.free();
    expectNoLeak();
  });
});

describe("operations preserve the packet's bytes", () => {
  test.prop([descArb, fc.nat(), fc.nat()])("__pskb_pull_tail", (desc, seed, at) => {
    const payload = payloadFor(desc, seed);
    const skb = composer.compose(desc, payload)!;
    const delta = skb.dataLen === 0 ? 0 : at % (skb.dataLen + 1);
    const headlen = skb.headlen;
    expect(skb.pskbPullTail(delta)).toBe(true);
    expect(skb.headlen).toBe(headlen + delta);
    expect(sameBytes(skb.toBytes(), payload)).toBe(true);
    invariants(skb);
    skb.free();
    expectNoLeak();
  });

  test.prop([descArb, fc.nat()])("skb_linearize", (desc, seed) => {
    const payload = payloadFor(desc, seed);
    const skb = composer.compose(desc, payload)!;
    expect(skb.linearize()).toBe(0);
    expect(skb.dataLen).toBe(0);
    expect(skb.shinfo.nrFrags).toBe(0);
    expect(skb.shinfo.fragList === null).toBe(true); // no object diff: an skb reaches all of memory
    expect(sameBytes(skb.toBytes(), payload)).toBe(true);
    invariants(skb);
    skb.free();
    expectNoLeak();
  });

  test.prop([descArb, fc.nat(), fc.nat(), fc.boolean()])("skb_clone, then changes to one side", (desc, seed, at, freeOriginalFirst) => {
    const payload = payloadFor(desc, seed);
    const skb = composer.compose(desc, payload)!;
    const clone = skb.clone()!;
    expect(sameBytes(clone.toBytes(), payload)).toBe(true);
    // Pulling on the original gives it private data; the clone keeps its view.
    const delta = skb.dataLen === 0 ? 0 : at % (skb.dataLen + 1);
    expect(skb.pskbPullTail(delta)).toBe(true);
    expect(skb.pskbTrim(Math.floor(skb.len / 2))).toBe(0);
    expect(sameBytes(skb.toBytes(), payload.subarray(0, Math.floor(payload.length / 2)))).toBe(true);
    expect(sameBytes(clone.toBytes(), payload)).toBe(true);
    invariants(skb);
    invariants(clone);
    if (freeOriginalFirst) skb.free();
    clone.free();
    if (!freeOriginalFirst) skb.free();
    expectNoLeak();
  });

  test.prop([descArb, fc.nat()])("skb_copy", (desc, seed) => {
    const payload = payloadFor(desc, seed);
    const skb = composer.compose(desc, payload)!;
    const n = skb.copy()!;
    expect(sameBytes(n.toBytes(), payload)).toBe(true);
    expect(n.isNonlinear).toBe(false);
    expect(n.headroom).toBe(skb.headroom);
    invariants(n);
    skb.free();
    expect(sameBytes(n.toBytes(), payload)).toBe(true);
    n.free();
    expectNoLeak();
  });

  test.prop([descArb, fc.nat()])("skb_copy_ubufs", (desc, seed) => {
    const payload = payloadFor(desc, seed);
    const skb = composer.compose(desc, payload)!;
    const results: boolean[] = [];
    skb.zcopyInit(new UbufInfo((_s, _u, ok) => results.push(ok)));
    const pagelen = skb.pagelen;
    expect(skb.copyUbufs()).toBe(0);
    expect(results).toEqual([false]);
    expect(skb.shinfo.nrFrags).toBe(Math.ceil(pagelen / PAGE_SIZE));
    expect(sameBytes(skb.toBytes(), payload)).toBe(true);
    invariants(skb);
    skb.free();
    expect(results).toEqual([false]);
    expectNoLeak();
  });

  type Op =
    | { op: "mayPull" | "pull" | "trim"; n: number }
    | { op: "clone" | "copy" | "linearize" | "copyUbufs" | "freeClone" }
    | { op: "push"; n: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constantFrom("mayPull" as const, "pull" as const, "trim" as const), n: fc.nat({ max: 70000 }) }),
    fc.record({ op: fc.constantFrom("clone" as const, "copy" as const, "linearize" as const, "copyUbufs" as const, "freeClone" as const) }),
    fc.record({ op: fc.constant("push" as const), n: fc.nat({ max: 100 }) }),
  );

  test.prop([descArb, fc.nat(), fc.boolean(), fc.array(opArb, { maxLength: 12 })], { numRuns: 60 })(
    "a random sequence of operations against a byte-array model",
    (desc, seed, zerocopy, ops) => {
      const payload = payloadFor(desc, seed);
      const skb = composer.compose(desc, payload)!;
      let model = payload.slice();
      let completions = 0;
      if (zerocopy) skb.zcopyInit(new UbufInfo(() => completions++));
      const clones: Array<{ skb: SkBuff; bytes: Uint8Array }> = [];
      for (const o of ops) {
        switch (o.op) {
          case "mayPull":
            expect(skb.pskbMayPull(o.n)).toBe(o.n <= model.length);
            break;
          case "pull":
            expect(skb.pskbPull(o.n)).toBe(o.n <= model.length);
            if (o.n <= model.length) model = model.slice(o.n);
            break;
          case "trim":
            expect(skb.pskbTrim(o.n)).toBe(0);
            model = model.slice(0, Math.min(o.n, model.length));
            break;
          case "push": {
            const n = Math.min(o.n, skb.headroom);
            skb.push(n);
            const front = new Uint8Array(n);
            expect(skb.copyBits(0, front, 0, n)).toBe(0);
            const m = new Uint8Array(model.length + n);
            m.set(front, 0);
            m.set(model, n);
            model = m;
            break;
          }
          case "clone": {
            const c = skb.clone()!;
            clones.push({ skb: c, bytes: model.slice() });
            break;
          }
          case "freeClone":
            clones.shift()?.skb.free();
            break;
          case "copy": {
            const n = skb.copy()!;
            expect(sameBytes(n.toBytes(), model)).toBe(true);
            n.free();
            break;
          }
          case "linearize":
            expect(skb.linearize()).toBe(0);
            break;
          case "copyUbufs":
            if (!skb.isCloned || skb.zcopy === null) expect(skb.copyUbufs()).toBe(0);
            break;
        }
        expect(sameBytes(skb.toBytes(), model)).toBe(true);
        invariants(skb);
        for (const c of clones) expect(sameBytes(c.skb.toBytes(), c.bytes)).toBe(true);
      }
      for (const c of clones) c.skb.free();
      skb.free();
      if (zerocopy) expect(completions).toBe(1);
      expectNoLeak();
    },
  );
});
