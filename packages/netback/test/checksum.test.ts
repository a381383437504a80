import { NETIF_RSP_OKAY, NETTXF_csum_blank, newExtraInfo, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV6 } from "@pvnet/netif";
import { CHECKSUM_PARTIAL } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { makeFrame, slotsOf, World } from "./harness.js";

function connected() {
  const w = new World();
  const fe = w.frontend();
  w.run();
  expect(fe.vif.connected).toBe(true);
  return { w, fe };
}

/** Ethernet + IPv6 (one 8-byte hop-by-hop header) + TCP with 12 bytes of options, `len` bytes in all. */
function tcp6WithHopByHop(len: number): Uint8Array {
  const f = makeFrame(len, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  const ip = 14;
  f.set([0x60, 0, 0, 0], ip);
  const plen = len - ip - 40;
  f[ip + 4] = plen >> 8;
  f[ip + 5] = plen & 0xff;
  f[ip + 6] = 0; // hop-by-hop
  f[ip + 7] = 64;
  for (let i = 0; i < 32; i++) f[ip + 8 + i] = i < 16 ? (i === 15 ? 1 : i === 0 ? 0xfe : 0) : i === 31 ? 2 : i === 16 ? 0xfe : 0;
  const hop = ip + 40;
  f.set([6, 0, 1, 4, 0, 0, 0, 0], hop); // next TCP, PadN
  const tcp = hop + 8;
  f[tcp + 12] = 8 << 4; // data offset: 32 bytes
  f[tcp + 16] = 0;
  f[tcp + 17] = 0;
  return f;
}

describe("guest TX checksum setup (skb_checksum_setup from @pvnet/skb-model)", () => {
  test("a GSO TCPv6 packet behind a hop-by-hop header, without csum_blank: fixed up, ~csum_ipv6_magic at the TCP check field, gso_segs from the real header length", () => {
    const { w, fe } = connected();
    const len = 5000;
    const frame = tcp6WithHopByHop(len);
    const gso = { ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: 1200, gsoType: XEN_NETIF_GSO_TYPE_TCPV6 };
    fe.queuePacket(frame, slotsOf(len, 2000), { extras: [gso] });
    fe.pushTx();
    w.run();
    expect(w.received.length).toBe(1);
    const r = w.received[0]!;
    expect(fe.vif.counters().rx_gso_checksum_fixup).toBe(1);
    expect(r.ipSummed).toBe(CHECKSUM_PARTIAL);
    const tcp = 14 + 40 + 8;
    // The pseudo header: both addresses, the upper-layer length (from the TCP header on), next header 6.
    let sum = 0xfe00 + 0x0001 + 0xfe00 + 0x0002 + 6 + (len - tcp);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const expected = frame.slice();
    expected[tcp + 16] = sum >> 8;
    expected[tcp + 17] = sum & 0xff;
    expect(r.bytes).toEqual(expected);
    // skb_tcp_all_headers: 62 bytes to the TCP header plus its 32.
    expect(r.gsoSegs).toBe(Math.ceil((len - tcp - 32) / 1200));
  });

  test("csum_blank on an IPv4 fragment: skb_checksum_setup says -EPROTO, the packet is dropped and logged, its slots still answered OKAY", () => {
    const { w, fe } = connected();
    const frame = makeFrame(600, 2);
    frame[12] = 0x08;
    frame[13] = 0x00;
    frame[14] = 0x45;
    frame[14 + 6] = 0x20; // MF: the first fragment
    frame[14 + 7] = 0;
    frame[14 + 9] = 17;
    fe.send(frame, [{ len: 600 }], { flags: NETTXF_csum_blank });
    w.run();
    expect(w.received.length).toBe(0);
    expect(fe.vif.log.some((m) => m.includes("Can't setup checksum in net_tx_action"))).toBe(true);
    expect(fe.vif.counters().rx_packets).toBe(0);
    expect(fe.txResponses().map((x) => x.status)).toEqual([NETIF_RSP_OKAY]);
    expect(fe.vif.disabled).toBe(false);
  });
});
