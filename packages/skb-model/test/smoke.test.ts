import { expect, test } from "vitest";
import { SEED5_WORST_CASE, SkbComposer, xennetCountSkbSlots } from "../src/index.js";
import { framesSpanned, leakCheck, makeEnv } from "./helpers.js";

test("smoke", () => {
  const env = makeEnv();
  const c = new SkbComposer(env.alloc);
  const skb = c.compose(SEED5_WORST_CASE)!;
  expect(xennetCountSkbSlots(skb)).toBe(51);
  expect(framesSpanned(skb)).toBe(51);
  const bytes = skb.toBytes();
  expect(bytes.length).toBe(61544);
  expect(skb.linearize()).toBe(0);
  const after = skb.toBytes();
  expect(after).toEqual(bytes);
  skb.free();
  expect(leakCheck(env)).toEqual({ pagesInUse: 0, liveSkbs: 0 });
});
