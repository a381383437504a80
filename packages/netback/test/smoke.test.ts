import { describe, expect, test } from "vitest";
import { makeFrame, slotsOf, World } from "./harness.js";

describe("smoke", () => {
  test("connects and delivers one 64-byte packet", () => {
    const w = new World();
    const fe = w.frontend();
    w.run();
    expect(fe.vif.connected).toBe(true);
    const frame = makeFrame(64);
    fe.send(frame, slotsOf(64, 64));
    w.run();
    expect(w.received.length).toBe(1);
    expect(w.received[0]?.bytes).toEqual(frame);
    expect(fe.txResponses()).toEqual([{ id: 0, status: 0 }]);
  });
});
