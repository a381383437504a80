import { Netback } from "@pvnet/netback";
import { describe, expect, test } from "vitest";
import { attachVif, bootForQueues, detachAndAudit, Host, kernelMemory, writeFrame, xenMac } from "../src/index.js";

const FRAMES = 5;

/** A guest sends FRAMES stamped frames of SIZE bytes to a Dom0 FrameReceiver built with `readPayload`. */
function run(readPayload: boolean | undefined, SIZE = 1000) {
  const host = new Host({ seed: 2 });
  const dom0 = bootForQueues(host, "Domain-0", 1);
  const guest = bootForQueues(host, "guest", 1);
  const dom0Memory = kernelMemory(host, dom0, 1);
  const guestMemory = kernelMemory(host, guest, 1);
  const receiver = host.frameReceiver(readPayload === undefined ? {} : { readPayload });
  const netback = new Netback(
    { ...host.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    { onReceive: (_vif, skb) => receiver.deliver(skb) },
  );
  const netfront = attachVif(host, guest, guestMemory, { devid: 0, mac: xenMac(1), queues: 1, onReceive: (skb) => skb.free() });
  host.hv.run();
  expect(netfront.connected).toBe(true);
  const before = { ...host.grants.stats };
  const frame = new Uint8Array(SIZE);
  for (let seq = 0; seq < FRAMES; seq++) {
    const skb = guestMemory.skbs.allocSkb(SIZE);
    if (skb === null) throw new Error("no memory");
    writeFrame(frame, { flow: 0, seq, size: SIZE, l4: "udp" });
    skb.putData(frame);
    netfront.startXmit(skb, guest.vcpu0);
    host.hv.run();
  }
  const s = host.grants.stats;
  const result = { sink: receiver.sink, touched: s.touched - before.touched, flushes: s.tlbFlushes - before.tlbFlushes };
  detachAndAudit(host, dom0, dom0Memory, netback, [{ kernel: guest, memory: guestMemory, netfront }]);
  return result;
}

describe("FrameReceiver: reading payloads or not", () => {
  test.each([1000, 3000])("by default every payload is read and CRC-checked: each mapped frag is touched, each unmap flushes the TLB (%i-byte frames)", (size) => {
    // 3000 bytes: the payload is checked in the skb's pages (toSgvec), which reads them all the same.
    const r = run(undefined, size);
    expect(r.sink).toMatchObject({ delivered: FRAMES, bytes: FRAMES * size, corrupt: 0, outOfOrder: 0 });
    expect(r.touched).toBe(FRAMES);
    expect(r.flushes).toBeGreaterThan(0);
  });

  test("readPayload: false reads headers and stamps only: frames still counted in order, no mapping touched, no flush", () => {
    const r = run(false);
    expect(r.sink).toMatchObject({ delivered: FRAMES, bytes: FRAMES * 1000, corrupt: 0, outOfOrder: 0, gaps: 0 });
    expect(r.touched).toBe(0);
    expect(r.flushes).toBe(0);
  });
});
