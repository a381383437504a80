import { reciprocalScale, type SkBuff, skbGetHash } from "@pvnet/skb-model";
import { expect, test } from "vitest";
import { xenvifSelectQueue } from "../src/interface.js";
import { makeTcpFrame, World } from "./harness.js";

test("xenvif_select_queue without a hash algorithm: skb_tx_hash of skb_get_hash, the same per flow and its reverse, spread over the queues", () => {
  const w = new World();
  const fe = w.frontend({ queues: 2 });
  const single = w.frontend();
  w.run();
  expect(fe.vif.queues.length).toBe(2);
  const skbOf = (sport: number, dport: number, reverse = false): SkBuff => {
    const f = makeTcpFrame(200, 1);
    if (reverse) f.set([10, 0, 0, 2, 10, 0, 0, 1], 26);
    f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], 34);
    const skb = w.skbs.allocSkb(256);
    if (skb === null) throw new Error("no skb");
    skb.putData(f);
    return skb;
  };
  const perQueue = [0, 0];
  const flows = 2000;
  for (let i = 0; i < flows; i++) {
    const skb = skbOf(1024 + i, 80);
    const q = xenvifSelectQueue(fe.vif, skb);
    expect(q).toBe(reciprocalScale(skbGetHash(skb), 2));
    perQueue[q] = (perQueue[q] as number) + 1;
    const back = skbOf(80, 1024 + i, true);
    expect(xenvifSelectQueue(fe.vif, back)).toBe(q);
    expect(xenvifSelectQueue(single.vif, skb)).toBe(0);
    skb.free();
    back.free();
  }
  for (const n of perQueue) {
    expect(n).toBeGreaterThan(flows * 0.4);
    expect(n).toBeLessThan(flows * 0.6);
  }
});
