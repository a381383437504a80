import { SkbComposer } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { xenvifDebugfs, xenvifDebugfsIoRing, xenvifDebugfsTree, xenvifStartXmit } from "../src/index.js";
import { makeFrame, slotsOf, World } from "./harness.js";

function connect(persistent: boolean) {
  const w = new World({ persistentGrants: persistent });
  const fe = w.frontend({ persistent });
  w.run();
  expect(fe.vif.connected).toBe(true);
  return { w, fe };
}

describe("debugfs: /sys/kernel/debug/xen-netback/<vif>/", () => {
  test("io_ring_q0 in xenvif_read_io_ring's format after two guest TX packets and four posted RX buffers", () => {
    const { w, fe } = connect(false);
    fe.postRx(4);
    fe.send(makeFrame(1000, 1), slotsOf(1000, 1000));
    fe.send(makeFrame(1000, 2), slotsOf(1000, 1000));
    w.run();
    const q = fe.vif.queues[0]!;
    const text = xenvifDebugfsIoRing(q);
    const tx = fe.queues[0]!.tx.sring;
    expect(text).toBe(
      [
        "Queue 0",
        "TX: nr_ents 256",
        `req prod 2 (0) cons 2 (0) event ${tx.reqEvent} (${tx.reqEvent - 2})`,
        `rsp prod 2 (base) pvt 2 (0) event ${tx.rspEvent} (${tx.rspEvent - 2})`,
        // Both slots were unmapped and returned: the pending ring is full again.
        "pending prod 258 pending cons 2 nr_pending_reqs 0",
        "dealloc prod 2 dealloc cons 2 dealloc_queue 0",
        "",
        "RX: nr_ents 256",
        "req prod 4 (4) cons 0 (0) event 1 (1)",
        "rsp prod 0 (base) pvt 0 (0) event 1 (1)",
        "",
        "NAPI state: 0 NAPI weight: 64 TX queue len 0",
        "Credit timer_pending: 0, credit: 18446744073709551615, usec: 0",
        "remaining: 18446744073709549615, expires: 0, now: 0",
        "",
        "Rx internal queue: len 0 max 524288 pkts 0 running",
        "",
      ].join("\n"),
    );
  });

  test("an RX skb waiting for buffers shows on the RX internal queue; once posted, the RX ring indices move", () => {
    const { w, fe } = connect(false);
    const f = makeFrame(700, 3);
    xenvifStartXmit(fe.vif, new SkbComposer(w.skbs).compose({ linearLen: f.length }, f)!);
    const q = fe.vif.queues[0]!;
    expect(xenvifDebugfsIoRing(q)).toContain("\nRx internal queue: len 700 max 524288 pkts 1 running\n");
    fe.postRx(2);
    w.run();
    const text = xenvifDebugfsIoRing(q);
    expect(text).toContain("RX: nr_ents 256\nreq prod 2 (1) cons 1 (0)");
    expect(text).toContain("rsp prod 1 (base) pvt 1 (0)");
    expect(text).toContain("Rx internal queue: len 0 max 524288 pkts 0 running");
  });

  test("persistent grants: pgrants_q0 shows both trees' entries and lookups, equal to the vif's counters", () => {
    const { w, fe } = connect(true);
    fe.postRx(3);
    fe.send(makeFrame(1000, 1), slotsOf(1000, 1000));
    fe.send(makeFrame(3000, 2), slotsOf(3000, 1000, 2000));
    w.run();
    const f = makeFrame(500, 4);
    xenvifStartXmit(fe.vif, new SkbComposer(w.skbs).compose({ linearLen: f.length }, f)!);
    w.run();
    const q = fe.vif.queues[0]!;
    const c = fe.vif.counters();
    expect(xenvifDebugfsTree(q)).toBe(
      "Queue 0\n" +
        `TX tree: entries ${c.persistent_tx_entries} max 256 hits ${c.persistent_tx_hits} misses ${c.persistent_tx_misses} maps_added ${c.persistent_tx_maps_added} fallbacks 0\n` +
        `RX tree: entries ${c.persistent_rx_entries} max 256 hits ${c.persistent_rx_hits} misses ${c.persistent_rx_misses} maps_added ${c.persistent_rx_maps_added} fallbacks 0\n`,
    );
    expect(c).toMatchObject({ persistent_tx_entries: 3, persistent_tx_misses: 3, persistent_rx_entries: 1, persistent_rx_misses: 1 });
    expect(Object.keys(xenvifDebugfs(fe.vif))).toEqual(["vif1.0/io_ring_q0", "vif1.0/pgrants_q0"]);
  });

  test("one io_ring file per queue, no pgrants file without persistent grants, nothing once disconnected", () => {
    const w = new World({});
    const fe = w.frontend({ queues: 2 });
    w.run();
    const files = xenvifDebugfs(fe.vif);
    expect(Object.keys(files)).toEqual(["vif1.0/io_ring_q0", "vif1.0/io_ring_q1"]);
    expect(files["vif1.0/io_ring_q1"]).toMatch(/^Queue 1\nTX: nr_ents 256\n/);
    fe.switchState(5); // Closing
    w.run();
    expect(xenvifDebugfs(fe.vif)).toEqual({});
  });
});
