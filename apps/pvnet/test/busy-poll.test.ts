/**
 * netfront's busyPoll option (the RFC's MiniOS guest) through the whole DomU -> Dom0 topology with
 * the real netback: the frontend never writes rsp_event, the backend stops notifying it, and every
 * frame still arrives byte-exact. (The spin on a full ring is tested in @pvnet/netfront.)
 */
import { BackRing, SharedRing } from "@pvnet/shared-ring";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RunReport, runDomuDom0 } from "../src/topology/domu-dom0.js";

/** Many times the 256-slot TX ring. */
const PACKETS = 3000;
// Fresh stamped frames (no clone_skbs), so the sink checks each one's bytes and order; no window
// (pktgen's way).

/** Counts every store to a shared ring's rsp_event (only a frontend writes it). */
let rspEventWrites = 0;
const rspEvent = Object.getOwnPropertyDescriptor(SharedRing.prototype, "rspEvent") as PropertyDescriptor;
/** Counts the backend's RING_PUSH_RESPONSES_AND_CHECK_NOTIFY calls that asked for a notification. */
let backendNotifies = 0;
const pushResponses = BackRing.prototype.pushResponsesAndCheckNotify;
beforeAll(() => {
  BackRing.prototype.pushResponsesAndCheckNotify = function counted(this: BackRing) {
    const notify = pushResponses.call(this);
    if (notify) backendNotifies++;
    return notify;
  };
  Object.defineProperty(SharedRing.prototype, "rspEvent", {
    ...rspEvent,
    set(this: SharedRing, v: number) {
      rspEventWrites++;
      rspEvent.set?.call(this, v);
    },
  });
});
afterAll(() => {
  BackRing.prototype.pushResponsesAndCheckNotify = pushResponses;
  Object.defineProperty(SharedRing.prototype, "rspEvent", rspEvent);
});

async function run(busyPoll: boolean, persistent: boolean, burst: number): Promise<{ r: RunReport; writes: number; notifies: number }> {
  rspEventWrites = 0;
  backendNotifies = 0;
  const r = await runDomuDom0({ direction: "tx", pktSize: 64, packets: PACKETS, seed: 7, burst, persistent, busyPoll, windowBytes: 0 });
  return { r, writes: rspEventWrites, notifies: backendNotifies };
}

describe("netfront busyPoll (MiniOS's busy-polling TX)", () => {
  test.each([
    [false, 1],
    [true, 8],
  ])("persistent %s, burst %i: no rsp_event write, no TX completion notified, every frame byte-exact", async (persistent, burst) => {
    const linux = await run(false, persistent, burst);
    const poll = await run(true, persistent, burst);
    for (const { r } of [linux, poll]) {
      expect(r.packetsDelivered).toBe(PACKETS);
      expect(r.corrupt).toBe(0);
      // pktgen sends each packet `burst` times: the sink sees burst - 1 of them again.
      expect(r.outOfOrder).toBe(PACKETS - PACKETS / burst);
      expect(r.bytesDelivered).toBe(64 * PACKETS);
      expect(r.counters.persistent_grants).toBe(persistent ? 1 : 0);
    }
    // Linux's netfront re-arms rsp_event after each reap that emptied the ring (on a busy ring,
    // once per batch of completions); the busy poller never writes it.
    expect(linux.writes).toBeGreaterThan(PACKETS / 256);
    expect(poll.writes).toBe(0);
    // Dom0 notifies Linux's netfront of completions, once per batch that crossed rsp_event; the
    // busy poller only once, the first push crossing SHARED_RING_INIT's rsp_event = 1, and it
    // takes that one interrupt only.
    expect(linux.notifies).toBeGreaterThan(PACKETS / 256);
    expect(poll.notifies).toBe(1);
    expect(poll.r.frontend.interrupts).toBe(1);
    // Every TX response was still reaped (by the sender after each push), none is left.
    expect(poll.r.teardown.netfront).toEqual(linux.r.teardown.netfront);
  });
});
