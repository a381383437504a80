import { NETRXF_csum_blank } from "@pvnet/netif";
import { CHECKSUM_PARTIAL, PACKET_HOST, PACKET_OTHERHOST, type SkBuff } from "@pvnet/skb-model";
import { describe, expect, it } from "vitest";
import { makeWorld, type World } from "./world.js";

/** Ethernet to `dst` + IPv6 + `ext` extension-header bytes (first next header `first`) + UDP, `size` bytes. */
function udp6(size: number, dst: number[], first: number, ext: number[]): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b.set([...dst, 0x00, 0x16, 0x3e, 0xff, 0x00, 0x01], 0);
  v.setUint16(12, 0x86dd);
  b[14] = 0x60;
  v.setUint16(18, size - 14 - 40);
  b[20] = first;
  b[21] = 64;
  b[22] = 0xfd;
  b[38] = 0xfd;
  b[53] = 2;
  b.set(ext, 54);
  const udp = 54 + ext.length;
  v.setUint16(udp, 7000);
  v.setUint16(udp + 2, 7001);
  v.setUint16(udp + 4, size - udp);
  for (let i = udp + 8; i < size; i++) b[i] = i & 0xff;
  return b;
}

function receiveOne(w: World, f: Uint8Array): SkBuff | undefined {
  expect(w.be.sendRx(f, { flags: NETRXF_csum_blank })).toBe(true);
  w.run();
  return w.received.pop();
}

const OWN_MAC = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x01];

describe("RX checksum setup and eth_type_trans (from @pvnet/skb-model)", () => {
  it("an IPv6 UDP packet behind a routing header: csum_start at the UDP header, pkt_type from the MAC", () => {
    const w = makeWorld();
    w.run();
    // Routing header: next UDP, hdrlen 2 -> 24 bytes.
    const f = udp6(600, OWN_MAC, 43, [17, 2, 0, 0, ...new Array(20).fill(0)]);
    const skb = receiveOne(w, f);
    if (skb === undefined) throw new Error("not delivered");
    expect(skb.toBytes()).toEqual(f);
    expect(skb.protocol).toBe(0x86dd);
    expect(skb.pktType).toBe(PACKET_HOST);
    expect(skb.ipSummed).toBe(CHECKSUM_PARTIAL);
    expect(skb.csumStart - skb.data).toBe(14 + 40 + 24);
    expect(skb.csumOffset).toBe(6);
    skb.free();
    const other = receiveOne(w, udp6(200, [0x00, 0x16, 0x3e, 0x12, 0x34, 0x56], 17, []));
    expect(other?.pktType).toBe(PACKET_OTHERHOST);
    other?.free();
    expect(w.fe.stats().rxErrors).toBe(0);
  });

  it("an IPv6 fragment with csum_blank cannot be set up (-EPROTO): dropped and counted in rx_errors", () => {
    const w = makeWorld();
    w.run();
    // Fragment header: next UDP, offset 0, M set.
    const skb = receiveOne(w, udp6(300, OWN_MAC, 44, [17, 0, 0, 1, 0, 0, 0, 9]));
    expect(skb).toBeUndefined();
    expect(w.fe.stats()).toMatchObject({ rxErrors: 1, rxPackets: 0 });
  });
});
