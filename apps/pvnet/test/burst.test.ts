import { describe, expect, test } from "vitest";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { expectCleanTeardown } from "./expect.js";

const PACKETS = 400;
const BURST = 8;

describe("pktgen burst > 1 (xmit_more), DomU <-> Dom0", () => {
  test.each([
    ["rx", false, 64],
    ["rx", true, 64],
    ["rx", false, 1496],
    ["rx", true, 1496],
    ["tx", false, 64],
    ["tx", true, 64],
  ] as const)("%s, persistent %s, %i bytes: every send arrives byte-exact, one packet per burst", async (direction, persistent, pktSize) => {
    const r = await runDomuDom0({ seed: 3, direction, pktSize, packets: PACKETS, burst: BURST, persistent });
    expect(r.persistent).toBe(persistent);
    expect(r.packetsSent).toBe(PACKETS);
    expect(r.packetsDelivered).toBe(PACKETS);
    expect(r.corrupt).toBe(0);
    expect(r.dropped).toBe(0);
    expect(r.bytesDelivered).toBe(PACKETS * pktSize);
    // Each burst sends one packet BURST times: the sink sees each sequence number BURST times.
    expect(r.outOfOrder).toBe(PACKETS - PACKETS / BURST);
    const c = r.counters;
    if (direction === "rx") {
      // Every send but the last of a burst carried xmit_more and a shared skb: netback cloned it.
      expect(c.model_rx_xmit_more_clones).toBe(PACKETS - PACKETS / BURST);
      expect(c.tx_packets).toBe(PACKETS);
      if (persistent) {
        expect(c.model_rx_start_xmit_copies! + c.model_rx_start_xmit_fallbacks!).toBe(PACKETS);
        expect(c.model_rx_start_xmit_copies).toBeGreaterThan(0);
      } else expect(c.model_rx_start_xmit_copies! + c.model_rx_start_xmit_fallbacks!).toBe(0);
    } else {
      expect(c.rx_packets).toBe(PACKETS);
      expect(c.model_rx_xmit_more_clones).toBe(0);
    }
    expectCleanTeardown(r);
  });

  test("burst 1, guest RX with persistent grants: skbs go by the start_xmit copy, none cloned", async () => {
    const r = await runDomuDom0({ seed: 3, direction: "rx", pktSize: 64, packets: PACKETS, burst: 1, persistent: true });
    expect(r.packetsDelivered).toBe(PACKETS);
    expect(r.outOfOrder).toBe(0);
    expect(r.counters.model_rx_start_xmit_copies).toBeGreaterThan(0);
    expect(r.counters.model_rx_xmit_more_clones).toBe(0);
    expectCleanTeardown(r);
  });
});
