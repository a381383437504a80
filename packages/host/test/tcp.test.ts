/** The TCP bulk flows' frames: real headers, the partial checksum Linux leaves for the device, ACKs that parse back. */
import { expect, test } from "vitest";
import { Prng } from "@pvnet/sim";
import { ACK_FRAME, IPERF_PORT, parseTcpAck, tcpPayload, tcpPseudoHeaderSum, tcpSegmentLayout, verifyFrame, writeFrame, writeTcpAck } from "../src/index.js";
import { ephemeralPorts } from "../src/tcp.js";

/** RFC 1071 one's-complement sum of 16-bit words of buf[from, to), folded. */
function sum16(buf: Uint8Array, from: number, to: number, start = 0): number {
  let s = start;
  for (let i = from; i < to; i += 2) s += ((buf[i] as number) << 8) | (i + 1 < to ? (buf[i + 1] as number) : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

test("a segment's th->check holds the pseudo-header sum; the device's completion makes a valid TCP checksum", () => {
  const size = 1514;
  const frame = new Uint8Array(size);
  writeFrame(frame, { flow: 3, seq: 7, size, l4: "tcp", tcpSeq: 7 * tcpPayload(size) });
  const partial = tcpPseudoHeaderSum(frame, size - 34);
  frame[50] = partial >> 8;
  frame[51] = partial & 0xff;
  // What the device does for CHECKSUM_PARTIAL: csum from csum_start to the end, complement, store.
  const full = ~sum16(frame, 34, size) & 0xffff;
  frame[50] = full >> 8;
  frame[51] = full & 0xff;
  // A receiver's check: pseudo header (computed apart) + segment sums to 0xffff.
  const pseudo = sum16(Uint8Array.from([...frame.subarray(26, 34), 0, 6, (size - 34) >> 8, (size - 34) & 0xff]), 0, 12);
  expect(sum16(frame, 34, size, pseudo)).toBe(0xffff);
  // The byte sequence number is in the header; the stamp still verifies.
  expect(((frame[38]! << 24) | (frame[39]! << 16) | (frame[40]! << 8) | frame[41]!) >>> 0).toBe(7 * 1460);
  expect(verifyFrame(frame)).toMatchObject({ ok: true, flow: 3, seq: 7 });
});

test("an ACK goes back with swapped addresses and ports and parses to its flow and number; others do not parse", () => {
  const data = new Uint8Array(200);
  writeFrame(data, { flow: 5, seq: 0, size: 200, l4: "tcp" });
  const ack = new Uint8Array(ACK_FRAME);
  writeTcpAck(ack, data, 123456, 1 << 20);
  expect([...ack.subarray(0, 6)]).toEqual([...data.subarray(6, 12)]);
  expect([...ack.subarray(26, 30)]).toEqual([...data.subarray(30, 34)]);
  expect((ack[34]! << 8) | ack[35]!).toBe(IPERF_PORT);
  expect((ack[48]! << 8) | ack[49]!).toBe(0xffff); // no window scaling: capped
  expect(parseTcpAck(ack, ACK_FRAME)).toEqual({ flow: 5, ack: 123456 });
  expect(parseTcpAck(data, 200)).toBeNull(); // a data segment is from the flow's port, not to it
  expect(parseTcpAck(ack, 20)).toBeNull();
  const udp = new Uint8Array(100);
  writeFrame(udp, { flow: 5, seq: 0, size: 100, l4: "udp" });
  expect(parseTcpAck(udp, 100)).toBeNull();
});

test("segments above the MTU are GSO skbs of MSS-sized pieces in 32 KiB frags", () => {
  expect(tcpSegmentLayout(1514)).toEqual({ linearLen: 1514 });
  const gso = tcpSegmentLayout(65535);
  expect(gso.gso?.size).toBe(1448);
  expect(gso.frags?.map((f) => f.size)).toEqual([32768, 65535 - 70 - 32768]);
});

test("iperf's flows get source ports as Linux's connect() picks them: even, in ip_local_port_range, climbing by 2 to 16, reproducible from the seed", () => {
  const ports = ephemeralPorts(64, new Prng(7));
  expect(ephemeralPorts(64, new Prng(7))).toEqual(ports);
  expect(ephemeralPorts(64, new Prng(8))).not.toEqual(ports);
  expect(new Set(ports).size).toBe(64);
  for (const [i, p] of ports.entries()) {
    expect(p % 2).toBe(0);
    expect(p).toBeGreaterThanOrEqual(32768);
    expect(p).toBeLessThanOrEqual(60999);
    if (i > 0) {
      // Wrapping in the range aside, each port is 2..16 above the one before.
      const step = (p - (ports[i - 1] as number) + 28232) % 28232;
      expect(step).toBeGreaterThanOrEqual(2);
      expect(step).toBeLessThanOrEqual(16);
    }
  }
  // More flows than the range has room for between wraps still get distinct ports.
  expect(new Set(ephemeralPorts(4096, new Prng(1))).size).toBe(4096);
});

test("an ACK to an ephemeral port parses to the flow that owns it; one to a port of no flow does not", () => {
  const size = 200;
  const data = new Uint8Array(size);
  writeFrame(data, { flow: 2, seq: 0, size, l4: "tcp", srcPort: 45678, srcAddr: 0x0a000001, dstAddr: 0x0a800001 });
  const ack = new Uint8Array(ACK_FRAME);
  writeTcpAck(ack, data, 1000, 65535);
  expect(parseTcpAck(ack, ACK_FRAME, new Map([[45678, 2]]))).toEqual({ flow: 2, ack: 1000 });
  expect(parseTcpAck(ack, ACK_FRAME, new Map([[45680, 2]]))).toBeNull();
  expect(verifyFrame(data).ok).toBe(true);
});
