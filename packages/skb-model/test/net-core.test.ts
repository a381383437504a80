import { describe, expect, it } from "vitest";
import {
  CHECKSUM_NONE,
  CHECKSUM_PARTIAL,
  E2BIG,
  EPROTO,
  ETH_HLEN,
  ETH_P_802_2,
  ETH_P_802_3,
  ETH_P_IP,
  ETH_P_IPV6,
  ethTypeTrans,
  FLOW_HASH_SEED,
  jhash2,
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_MULTICAST,
  PACKET_OTHERHOST,
  reciprocalScale,
  SKB_GSO_TCPV4,
  type SkBuff,
  SkBuffHead,
  skbChecksumSetup,
  skbGetHash,
  skbTxHash,
  writePage,
  xenChecksumSetup,
} from "../src/index.js";
import { makeEnv } from "./helpers.js";

const env = makeEnv({ maxSkbs: 64 });
const DEV_MAC = Uint8Array.of(0x00, 0x16, 0x3e, 0x00, 0x00, 0x01);
const PEER_MAC = Uint8Array.of(0x00, 0x16, 0x3e, 0x00, 0x00, 0x02);

/** An skb holding `frame`: its first `linear` bytes in the head, the rest in one page frag. */
function skbOf(frame: Uint8Array, linear = frame.length): SkBuff {
  const skb = env.alloc.allocSkb(256) as SkBuff;
  skb.putData(frame.subarray(0, Math.min(linear, frame.length)));
  if (linear < frame.length) {
    const page = env.pool.allocPage();
    if (page === null) throw new Error("no page");
    writePage(page, 100, frame, linear, frame.length - linear);
    skb.addRxFrag(0, page, 100, frame.length - linear, 4096);
  }
  return skb;
}

function eth(dst: Uint8Array, type: number): number[] {
  return [...dst, ...PEER_MAC, type >>> 8, type & 0xff];
}

function ipv4(proto: number, l4: number[], o: { src?: number[]; dst?: number[]; fragOff?: number; options?: number[] } = {}): number[] {
  const opts = o.options ?? [];
  const ihl = 5 + opts.length / 4;
  const total = ihl * 4 + l4.length;
  const frag = o.fragOff ?? 0x4000; // DF
  return [0x40 | ihl, 0, total >>> 8, total & 0xff, 0, 1, frag >>> 8, frag & 0xff, 64, proto, 0, 0, ...(o.src ?? [10, 0, 0, 1]), ...(o.dst ?? [10, 0, 0, 2]), ...opts, ...l4];
}

function ipv6(nexthdr: number, payload: number[], o: { src?: number[]; dst?: number[]; label?: number; payloadLen?: number } = {}): number[] {
  const label = o.label ?? 0;
  const plen = o.payloadLen ?? payload.length;
  const src = o.src ?? [0xfe, 0x80, ...new Array(13).fill(0), 1];
  const dst = o.dst ?? [0xfe, 0x80, ...new Array(13).fill(0), 2];
  return [0x60 | ((label >>> 16) & 0xf), (label >>> 8) & 0xff, label & 0xff, 0, plen >>> 8, plen & 0xff, nexthdr, 64, ...src, ...dst, ...payload];
}

function tcp(sport: number, dport: number, payload = 32): number[] {
  return [sport >>> 8, sport & 0xff, dport >>> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0xaa, 0xbb, 0, 0, ...new Array(payload).fill(0x5a)];
}

function udp(sport: number, dport: number, payload = 16): number[] {
  const len = 8 + payload;
  return [sport >>> 8, sport & 0xff, dport >>> 8, dport & 0xff, len >>> 8, len & 0xff, 0xcc, 0xdd, ...new Array(payload).fill(0x33)];
}

/** The folded pseudo-header sum, computed here from the bytes (RFC 793 / RFC 8200 section 8.1). */
function pseudo(addrs: number[], proto: number, len: number): number {
  let sum = proto + (len >>> 16) + (len & 0xffff);
  for (let i = 0; i < addrs.length; i += 2) sum += ((addrs[i] as number) << 8) | (addrs[i + 1] as number);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function u16At(skb: SkBuff, off: number): number {
  const b = new Uint8Array(2);
  expect(skb.copyBits(off, b, 0, 2)).toBe(0);
  return (b[0] as number) * 256 + (b[1] as number);
}

function frame(bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

describe("skb_checksum_setup", () => {
  it("IPv4 TCP: csum_start/offset and the transport header at the TCP header, pseudo-header sum written", () => {
    const f = frame([...eth(DEV_MAC, ETH_P_IP), ...ipv4(6, tcp(1000, 80, 100))]);
    const skb = skbOf(f);
    skb.protocol = ETH_P_IP;
    expect(skbChecksumSetup(skb, true)).toBe(0);
    expect(skb.csumStart - skb.data).toBe(ETH_HLEN + 20);
    expect(skb.csumOffset).toBe(16);
    expect(skb.transportOffset).toBe(ETH_HLEN + 20);
    expect(u16At(skb, ETH_HLEN + 20 + 16)).toBe(pseudo([10, 0, 0, 1, 10, 0, 0, 2], 6, 120));
    skb.free();
  });

  it("IPv4 UDP behind IP options, without recalculation: the checksum field is left as sent", () => {
    const f = frame([...eth(DEV_MAC, ETH_P_IP), ...ipv4(17, udp(53, 5353), { options: [1, 1, 1, 0] })]);
    const skb = skbOf(f);
    skb.protocol = ETH_P_IP;
    expect(skbChecksumSetup(skb, false)).toBe(0);
    expect(skb.csumStart - skb.data).toBe(ETH_HLEN + 24);
    expect(skb.csumOffset).toBe(6);
    expect(u16At(skb, ETH_HLEN + 24 + 6)).toBe(0xccdd);
    skb.free();
  });

  it("pulls the headers out of the frags (the TCP header up to MAX_TCP_HDR_LEN)", () => {
    const f = frame([...eth(DEV_MAC, ETH_P_IP), ...ipv4(6, tcp(1, 2, 500))]);
    const skb = skbOf(f, ETH_HLEN);
    skb.protocol = ETH_P_IP;
    expect(skb.headlen).toBe(ETH_HLEN);
    expect(skbChecksumSetup(skb, true)).toBe(0);
    // MAX_IP_HDR_LEN (128) past the network header first, which already covers the TCP header.
    expect(skb.headlen).toBe(ETH_HLEN + 128);
    expect(u16At(skb, ETH_HLEN + 36)).toBe(pseudo([10, 0, 0, 1, 10, 0, 0, 2], 6, 520));
    expect(skb.len).toBe(f.length);
    skb.free();
  });

  it("IPv4 fragments, other protocols, short headers and non-IP frames give -EPROTO", () => {
    const cases: Array<[number, number[]]> = [
      [ETH_P_IP, ipv4(6, tcp(1, 2), { fragOff: 0x2000 })], // MF
      [ETH_P_IP, ipv4(6, tcp(1, 2), { fragOff: 0x0010 })], // offset
      [ETH_P_IP, ipv4(1, [8, 0, 0, 0, 0, 0, 0, 0])], // ICMP
      [ETH_P_IP, ipv4(6, tcp(1, 2).slice(0, 12))], // TCP header cut short
      [ETH_P_IP, [0x45, 0, 0, 20, 0, 0]], // IPv4 header cut short
      [0x0806, ipv4(6, tcp(1, 2))], // ARP
    ];
    for (const [proto, l3] of cases) {
      const skb = skbOf(frame([...eth(DEV_MAC, proto), ...l3]));
      skb.protocol = proto;
      expect(skbChecksumSetup(skb, true)).toBe(-EPROTO);
      expect(skb.transportHeaderWasSet).toBe(false);
      skb.free();
    }
    expect(EPROTO).toBe(71);
    expect(E2BIG).toBe(7);
  });

  it("IPv6: walks hop-by-hop, routing, AH and destination options to the TCP header", () => {
    const hop = [43, 0, 1, 4, 0, 0, 0, 0]; // next routing, 8 bytes
    const routing = [51, 1, 0, 0, ...new Array(12).fill(0)]; // next AH, (1 + 1) * 8 bytes
    const ah = [60, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, ...new Array(12).fill(0)]; // next dstopts, (4 + 2) * 4 bytes
    const dst = [6, 0, 1, 4, 0, 0, 0, 0]; // next TCP, 8 bytes
    const ext = [...hop, ...routing, ...ah, ...dst];
    const l4 = tcp(4000, 443, 64);
    const f = frame([...eth(DEV_MAC, ETH_P_IPV6), ...ipv6(0, [...ext, ...l4])]);
    const skb = skbOf(f, ETH_HLEN + 10);
    skb.protocol = ETH_P_IPV6;
    expect(skbChecksumSetup(skb, true)).toBe(0);
    const off = ETH_HLEN + 40 + ext.length;
    expect(skb.csumStart - skb.data).toBe(off);
    expect(skb.csumOffset).toBe(16);
    const addrs = [...f.subarray(ETH_HLEN + 8, ETH_HLEN + 40)];
    expect(u16At(skb, off + 16)).toBe(pseudo(addrs, 6, l4.length));
    skb.free();
  });

  it("IPv6: an atomic fragment header is walked; a real fragment, an unknown header or a chain past payload_len is -EPROTO", () => {
    const l4 = udp(1, 2);
    const atomic = frame([...eth(DEV_MAC, ETH_P_IPV6), ...ipv6(44, [17, 0, 0, 0, 0, 0, 0, 7, ...l4])]);
    let skb = skbOf(atomic);
    skb.protocol = ETH_P_IPV6;
    expect(skbChecksumSetup(skb, false)).toBe(0);
    expect(skb.csumStart - skb.data).toBe(ETH_HLEN + 48);
    skb.free();
    const bad = [
      ipv6(44, [17, 0, 0, 1, 0, 0, 0, 7, ...l4]), // M flag
      ipv6(44, [17, 0, 0, 8, 0, 0, 0, 7, ...l4]), // offset 1
      ipv6(58, [128, 0, 0, 0]), // ICMPv6: no checksum setup
      ipv6(0, [17, 0, 1, 4, 0, 0, 0, 0, ...l4], { payloadLen: 0 }), // options beyond payload_len
    ];
    for (const l3 of bad) {
      skb = skbOf(frame([...eth(DEV_MAC, ETH_P_IPV6), ...l3]));
      skb.protocol = ETH_P_IPV6;
      expect(skbChecksumSetup(skb, true)).toBe(-EPROTO);
      skb.free();
    }
  });
});

describe("checksum_setup of the Xen drivers", () => {
  it("forces a GSO skb without CHECKSUM_PARTIAL to it, counts the fixup and recalculates; leaves others alone", () => {
    const f = frame([...eth(DEV_MAC, ETH_P_IP), ...ipv4(6, tcp(5, 6, 3000))]);
    const stats = { rxGsoChecksumFixup: 0 };
    const gso = skbOf(f, 100);
    gso.protocol = ETH_P_IP;
    gso.shinfo.gsoSize = 1448;
    gso.shinfo.gsoType = SKB_GSO_TCPV4;
    expect(xenChecksumSetup(gso, stats)).toBe(0);
    expect(stats.rxGsoChecksumFixup).toBe(1);
    expect(gso.ipSummed).toBe(CHECKSUM_PARTIAL);
    expect(u16At(gso, ETH_HLEN + 36)).toBe(pseudo([10, 0, 0, 1, 10, 0, 0, 2], 6, 3020));
    // Already CHECKSUM_PARTIAL: set up, the checksum field not rewritten.
    const partial = skbOf(f, 100);
    partial.protocol = ETH_P_IP;
    partial.ipSummed = CHECKSUM_PARTIAL;
    expect(xenChecksumSetup(partial, stats)).toBe(0);
    expect(u16At(partial, ETH_HLEN + 36)).toBe(0xaabb);
    // Neither GSO nor CHECKSUM_PARTIAL: nothing to set up, even for a frame skb_checksum_setup refuses.
    const plain = skbOf(frame([...eth(DEV_MAC, 0x0806), 1, 2, 3]));
    expect(xenChecksumSetup(plain, stats)).toBe(0);
    expect(plain.ipSummed).toBe(CHECKSUM_NONE);
    plain.ipSummed = CHECKSUM_PARTIAL;
    expect(xenChecksumSetup(plain, stats)).toBe(-EPROTO);
    expect(stats.rxGsoChecksumFixup).toBe(1);
    for (const s of [gso, partial, plain]) s.free();
  });
});

describe("eth_type_trans", () => {
  it("sets pkt_type from the destination MAC and returns the EtherType", () => {
    const cases: Array<[Uint8Array, number]> = [
      [DEV_MAC, PACKET_HOST],
      [Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), PACKET_BROADCAST],
      [Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), PACKET_MULTICAST],
      [PEER_MAC, PACKET_OTHERHOST],
    ];
    for (const [dst, type] of cases) {
      const skb = skbOf(frame([...eth(dst, ETH_P_IPV6), 0, 0]));
      expect(ethTypeTrans(skb, DEV_MAC)).toBe(ETH_P_IPV6);
      expect(skb.pktType).toBe(type);
      skb.free();
    }
  });

  it("802.3 length fields: raw IPX (0xFFFF) is ETH_P_802_3, else ETH_P_802_2; a short frame is 0", () => {
    let skb = skbOf(frame([...eth(DEV_MAC, 46), 0xff, 0xff, 0]));
    expect(ethTypeTrans(skb, DEV_MAC)).toBe(ETH_P_802_3);
    skb.free();
    skb = skbOf(frame([...eth(DEV_MAC, 46), 0xaa, 0xaa, 3]));
    expect(ethTypeTrans(skb, DEV_MAC)).toBe(ETH_P_802_2);
    skb.free();
    skb = skbOf(frame([1, 2, 3]));
    expect(ethTypeTrans(skb, DEV_MAC)).toBe(0);
    skb.free();
  });
});

/** jhash_3words of include/linux/jhash.h, written out on its own (__jhash_nwords + __jhash_final). */
function jhash3WordsRef(a: number, b: number, c: number, initval: number): number {
  const rol = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const iv = (initval + 0xdeadbeef + 12) >>> 0;
  a = (a + iv) >>> 0;
  b = (b + iv) >>> 0;
  c = (c + iv) >>> 0;
  c = ((c ^ b) - rol(b, 14)) >>> 0;
  a = ((a ^ c) - rol(c, 11)) >>> 0;
  b = ((b ^ a) - rol(a, 25)) >>> 0;
  c = ((c ^ b) - rol(b, 16)) >>> 0;
  a = ((a ^ c) - rol(c, 4)) >>> 0;
  b = ((b ^ a) - rol(a, 14)) >>> 0;
  c = ((c ^ b) - rol(b, 24)) >>> 0;
  return c;
}

describe("skb_get_hash", () => {
  it("jhash2: nothing to hash gives JHASH_INITVAL + initval; three words agree with jhash_3words", () => {
    expect(jhash2(new Uint32Array(0), 0, 0)).toBe(0xdeadbeef);
    expect(jhash2(new Uint32Array(0), 0, 1)).toBe(0xdeadbef0);
    for (const [a, b, c, iv] of [
      [1, 2, 3, 0],
      [0xffffffff, 0, 0x12345678, FLOW_HASH_SEED],
      [0x0a000001, 0x0a000002, 0x00500050, 7],
    ] as const) {
      expect(jhash2(Uint32Array.of(a, b, c), 3, iv)).toBe(jhash3WordsRef(a, b, c, iv));
    }
    // More than three words go through __jhash_mix: a change in any word changes the hash.
    const k = Uint32Array.of(1, 2, 3, 4, 5, 6, 7);
    const h = jhash2(k, 7, 0);
    for (let i = 0; i < 7; i++) {
      const k2 = k.slice();
      k2[i] = (k2[i] as number) ^ 1;
      expect(jhash2(k2, 7, 0)).not.toBe(h);
    }
  });

  function tcp4(src: number[], dst: number[], sport: number, dport: number, fragOff?: number): SkBuff {
    return skbOf(frame([...eth(DEV_MAC, ETH_P_IP), ...ipv4(6, tcp(sport, dport, 8), { src, dst, fragOff })]));
  }

  it("is deterministic, never 0, and the same in both directions of a flow", () => {
    const a = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
    const b = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
    const back = tcp4([10, 0, 0, 2], [10, 0, 0, 1], 80, 40000);
    const h = skbGetHash(a);
    expect(h).not.toBe(0);
    expect(skbGetHash(a)).toBe(h);
    expect(skbGetHash(b)).toBe(h);
    expect(skbGetHash(back)).toBe(h);
    // skb->protocol, when the stack set it, is what the dissector starts from.
    a.protocol = ETH_P_IP;
    expect(skbGetHash(a)).toBe(h);
    // Another hashrnd, another hash.
    expect(skbGetHash(a, FLOW_HASH_SEED + 1)).not.toBe(h);
    // The ports are part of the flow...
    const other = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 40001, 80);
    expect(skbGetHash(other)).not.toBe(h);
    // ...but not of a fragment's.
    const f1 = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 0x2000);
    const f2 = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 3, 4, 0x2000);
    expect(skbGetHash(f1)).toBe(skbGetHash(f2));
    for (const s of [a, b, back, other, f1, f2]) s.free();
  });

  it("IPv6: ports hash without a flow label; a flow label stops the dissection before the ports", () => {
    const v6 = (sport: number, label: number) => skbOf(frame([...eth(DEV_MAC, ETH_P_IPV6), ...ipv6(6, tcp(sport, 80, 8), { label })]));
    const [a, b, c, d] = [v6(1000, 0), v6(1001, 0), v6(1000, 0x12345), v6(1001, 0x12345)];
    expect(skbGetHash(a)).not.toBe(skbGetHash(b));
    expect(skbGetHash(c)).toBe(skbGetHash(d));
    expect(skbGetHash(c)).not.toBe(skbGetHash(a));
    for (const s of [a, b, c, d]) s.free();
  });

  it("spreads flows evenly over 4 queues (xennet_select_queue's % and skb_tx_hash's reciprocal_scale)", () => {
    const mod = [0, 0, 0, 0];
    const scaled = [0, 0, 0, 0];
    const flows = 4000;
    for (let i = 0; i < flows; i++) {
      const skb = tcp4([10, 0, (i >>> 8) & 0xff, i & 0xff], [10, 0, 0, 2], 1024 + i, 80);
      const h = skbGetHash(skb);
      mod[h % 4] = (mod[h % 4] as number) + 1;
      const q = skbTxHash(skb, 4);
      expect(q).toBe(reciprocalScale(h, 4));
      scaled[q] = (scaled[q] as number) + 1;
      skb.free();
    }
    for (const n of [...mod, ...scaled]) {
      expect(n).toBeGreaterThan(flows * 0.2);
      expect(n).toBeLessThan(flows * 0.3);
    }
    expect(reciprocalScale(0xffffffff, 4)).toBe(3);
    expect(reciprocalScale(0x3fffffff, 4)).toBe(0);
  });
});

describe("sk_buff_head", () => {
  it("queues at both ends, dequeues in order, and purges", () => {
    const q = new SkBuffHead();
    const [a, b, c] = [skbOf(frame([1])), skbOf(frame([2])), skbOf(frame([3]))];
    expect(q.empty).toBe(true);
    q.queueTail(a);
    q.queueTail(b);
    q.queueHead(c);
    expect(q.length).toBe(3);
    expect(q.peek()).toBe(c);
    expect(q.dequeue()).toBe(c);
    expect(c.next).toBe(null);
    expect(q.dequeue()).toBe(a);
    const live = env.alloc.liveSkbs;
    q.purge();
    expect(env.alloc.liveSkbs).toBe(live - 1);
    expect(q.empty).toBe(true);
    expect(q.dequeue()).toBe(null);
    a.free();
    c.free();
  });
});
