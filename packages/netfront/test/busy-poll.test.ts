import { XEN_NETIF_NR_SLOTS_MIN } from "@pvnet/netif";
import type { SkBuff } from "@pvnet/skb-model";
import { describe, expect, it } from "vitest";
import { NET_TX_RING_SIZE, NETDEV_TX_OK } from "../src/index.js";
import { frame, makeWorld, type World } from "./world.js";

/** Send fresh 60-byte frames until the queue stops; returns the frames sent. */
function fillRing(w: World, from: number): Uint8Array[] {
  const sent: Uint8Array[] = [];
  while (!w.fe.isQueueStopped(0)) {
    const bytes = frame(60, 1, from + sent.length);
    const skb = w.composer.compose({ linearLen: 60 }, bytes) as SkBuff;
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    sent.push(bytes);
    expect(sent.length).toBeLessThanOrEqual(NET_TX_RING_SIZE);
  }
  return sent;
}

describe("busyPoll: MiniOS's busy-polling TX (network_tx_buf_gc, no rsp_event)", () => {
  it("never writes rsp_event; with the ring full the sender spins on rsp_prod and restarts without a notification", () => {
    const w = makeWorld({ netfront: { busyPoll: true } });
    w.run();
    w.be.autoTx = false;
    const q = w.fe.info.queues[0];
    const sring = q?.tx?.sring;
    if (sring === undefined) throw new Error("no TX ring");
    expect(sring.rspEvent).toBe(1); // SHARED_RING_INIT

    const round1 = fillRing(w, 0);
    expect(round1).toHaveLength(NET_TX_RING_SIZE - XEN_NETIF_NR_SLOTS_MIN - 1);
    // Nothing answers yet: the sender keeps spinning (the simulation never goes idle), still stopped.
    expect(w.hv.run({ maxEvents: 2000 }).reason).toBe("event-limit");
    expect(w.fe.isQueueStopped(0)).toBe(true);
    // The backend answers: this first push crosses rsp_event = 1, so it notifies once.
    const before = w.hv.stats.get("event_channel_op:send").calls;
    w.be.processTx();
    expect(w.hv.stats.get("event_channel_op:send").calls).toBe(before + 1);
    w.hv.run({ maxEvents: 2000 });
    expect(w.fe.isQueueStopped(0)).toBe(false);
    expect(w.wakes).toEqual([0]);

    // Second round: rsp_event was never moved, so the backend's push finds it behind and sends
    // nothing; the spinning sender still sees the responses and restarts the queue.
    const round2 = fillRing(w, round1.length);
    const sends = w.hv.stats.get("event_channel_op:send").calls;
    const interrupts = w.fe.stats().interrupts;
    w.be.processTx();
    expect(w.hv.stats.get("event_channel_op:send").calls).toBe(sends);
    w.hv.run({ maxEvents: 2000 });
    expect(w.fe.isQueueStopped(0)).toBe(false);
    expect(w.wakes).toEqual([0, 0]);
    expect(w.fe.stats().interrupts).toBe(interrupts);
    expect(sring.rspEvent).toBe(1);

    // Byte-exact, in order, every id back on the free list.
    const all = [...round1, ...round2];
    expect(w.be.packets).toHaveLength(all.length);
    w.be.packets.forEach((p, i) => {
      expect(p.data).toEqual(all[i]);
    });
    w.run();
    expect(w.fe.outstanding().txInFlight).toBe(0);
    expect(w.fe.stats()).toMatchObject({ txPackets: all.length, txQueueStops: 2, txQueueWakes: 2, txDropped: 0 });
  });

  it("Linux's netfront (the default) re-arms rsp_event when it has reaped everything", () => {
    const w = makeWorld();
    w.run();
    const skb = w.composer.compose({ linearLen: 60 }, frame(60)) as SkBuff;
    expect(w.fe.startXmit(skb)).toBe(NETDEV_TX_OK);
    w.run();
    const tx = w.fe.info.queues[0]?.tx;
    expect(tx?.sring.rspEvent).toBe(((tx?.rspCons ?? 0) + 1) >>> 0);
    expect(tx?.rspCons).toBe(1);
    expect(tx?.sring.rspEvent).toBe(2);
  });
});
