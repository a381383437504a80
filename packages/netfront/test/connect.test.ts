import { XenbusState } from "@pvnet/xenstore";
import { describe, expect, it } from "vitest";
import { NET_RX_RING_SIZE } from "../src/index.js";
import { makeWorld } from "./world.js";

describe("xenbus connection", () => {
  it("walks both ends to Connected and writes the frontend keys", () => {
    const w = makeWorld();
    w.run();
    expect(w.fe.state).toBe(XenbusState.Connected);
    expect(w.be.dev.state).toBe(XenbusState.Connected);
    expect(w.fe.connected).toBe(true);
    expect(w.fe.numQueues).toBe(1);
    const conn = w.be.xenbus.conn;
    const dir = w.fe.info.xbdev.nodename;
    expect(conn.read(`${dir}/request-rx-copy`)).toBe("1");
    expect(conn.read(`${dir}/feature-sg`)).toBe("1");
    expect(Number(conn.read(`${dir}/tx-ring-ref`))).toBe(w.fe.info.queues[0]?.txRingRef);
    expect(Number(conn.read(`${dir}/event-channel`))).toBe(w.fe.info.queues[0]?.txEvtchn);
    // The RX ring is filled with posted buffers.
    expect(w.fe.outstanding().rxPosted).toBe(NET_RX_RING_SIZE);
    expect(w.be.queues[0]?.rx.unconsumedRequests()).toBe(NET_RX_RING_SIZE);
  });
});
