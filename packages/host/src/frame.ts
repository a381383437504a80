/**
 * Test traffic frames: Ethernet + IPv4 + UDP (pktgen-like) or TCP (bulk/GSO flows), whose payload
 * starts with a stamp — flow, sequence number, frame size and a CRC-32 over the L4 header, the stamp
 * and the rest of the payload (the IPv4 header has its own checksum) — so a sink can tell a delivered frame from a lost, duplicated, reordered or corrupted
 * one. Header checksums are real (IPv4 header checksum), so checksum offload paths see real bytes.
 */
import { crc32 } from "node:zlib";

export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const IPV4_HLEN = 20;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const UDP_HLEN = 8;
export const TCP_HLEN = 20;
/** Stamp at the start of the L4 payload: flow u32, seq u32, frame size u32, crc32 u32. */
export const STAMP_LEN = 16;
/** The largest frame netfront may send (XEN_NETIF_MAX_TX_SIZE, 64 KiB - 1). */
export const MAX_FRAME = 0xffff;

export type L4 = "udp" | "tcp";

export interface FrameSpec {
  readonly flow: number;
  readonly seq: number;
  /** Frame length in bytes, Ethernet header included. */
  readonly size: number;
  readonly l4: L4;
  /** Ethernet addresses; by default 00:16:3e:00:00:<flow> and 00:16:3e:ff:00:<flow>. */
  readonly dstMac?: Uint8Array;
  readonly srcMac?: Uint8Array;
}

/** A MAC address in Xen's OUI (00:16:3e, what libxl gives vifs): 00:16:3e:xx:yy:zz. */
export function xenMac(n: number): Uint8Array {
  return Uint8Array.of(0x00, 0x16, 0x3e, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** "00:16:3e:00:00:01" for xenstore's `mac` key. */
export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The smallest frame that carries headers and the stamp. */
export function minFrameSize(l4: L4): number {
  return ETH_HLEN + IPV4_HLEN + (l4 === "udp" ? UDP_HLEN : TCP_HLEN) + STAMP_LEN;
}

/** Offset of the L4 payload (the stamp) in a frame. */
export function payloadOffset(l4: L4): number {
  return ETH_HLEN + IPV4_HLEN + (l4 === "udp" ? UDP_HLEN : TCP_HLEN);
}

/**
 * Payload byte i of a frame is (seq * 31 + flow + 7 * i) mod 256. Since 7 is invertible mod 256
 * (7 * 183 = 1 + 5 * 256), that is PATTERN[i + k] with PATTERN[j] = 7j mod 256 and
 * k = 183 * (seq * 31 + flow) mod 256: one copy out of a table instead of a loop per byte.
 */
const PATTERN = Uint8Array.from({ length: 0x10000 + 256 }, (_, j) => (j * 7) & 0xff);

function fillPattern(buf: Uint8Array, from: number, to: number, flow: number, seq: number): void {
  const k = Math.imul((Math.imul(seq, 31) + flow) & 0xff, 183) & 0xff;
  buf.set(PATTERN.subarray(from + k, to + k), from);
}

/** Write a frame into `buf[0, spec.size)`. */
export function writeFrame(buf: Uint8Array, spec: FrameSpec): void {
  const { flow, seq, size, l4 } = spec;
  if (size < minFrameSize(l4) || size > MAX_FRAME || size > buf.length) throw new RangeError(`bad frame size ${size}`);
  const v = new DataView(buf.buffer, buf.byteOffset, size);
  // Ethernet: dst and src (by default 00:16:3e:00:00:<flow> and 00:16:3e:ff:00:<flow>), IPv4.
  if (spec.dstMac !== undefined) buf.set(spec.dstMac, 0);
  else buf.set([0x00, 0x16, 0x3e, 0x00, 0x00, flow & 0xff], 0);
  if (spec.srcMac !== undefined) buf.set(spec.srcMac, 6);
  else buf.set([0x00, 0x16, 0x3e, 0xff, 0x00, flow & 0xff], 6);
  v.setUint16(12, ETH_P_IP);
  // IPv4 header, no options.
  const ip = ETH_HLEN;
  buf.fill(0, ip, ip + IPV4_HLEN);
  v.setUint8(ip, 0x45);
  v.setUint16(ip + 2, size - ETH_HLEN);
  v.setUint16(ip + 4, seq & 0xffff);
  v.setUint8(ip + 8, 64);
  v.setUint8(ip + 9, l4 === "udp" ? IPPROTO_UDP : IPPROTO_TCP);
  v.setUint32(ip + 12, 0x0a000001 + (flow & 0xffff)); // 10.0.x.y
  v.setUint32(ip + 16, 0x0a800001 + (flow & 0xffff)); // 10.128.x.y
  v.setUint16(ip + 10, ipv4HeaderChecksum(buf, ip));
  const l4off = ip + IPV4_HLEN;
  if (l4 === "udp") {
    v.setUint16(l4off, 9000 + (flow & 0xfff));
    v.setUint16(l4off + 2, 9);
    v.setUint16(l4off + 4, size - l4off);
    v.setUint16(l4off + 6, 0); // no UDP checksum
  } else {
    buf.fill(0, l4off, l4off + TCP_HLEN);
    v.setUint16(l4off, 40000 + (flow & 0xfff));
    v.setUint16(l4off + 2, 5001);
    v.setUint32(l4off + 4, seq >>> 0);
    v.setUint8(l4off + 12, (TCP_HLEN / 4) << 4);
    v.setUint8(l4off + 13, 0x18); // PSH|ACK
    v.setUint16(l4off + 14, 0xffff);
  }
  const p = payloadOffset(l4);
  fillPattern(buf, p + STAMP_LEN, size, flow, seq);
  v.setUint32(p, flow >>> 0);
  v.setUint32(p + 4, seq >>> 0);
  v.setUint32(p + 8, size);
  v.setUint32(p + 12, stampCrc(buf, l4, size));
}

/** Offset of the L4 checksum field in a frame: checksum offload may rewrite it on the way. */
export function l4ChecksumOffset(l4: L4): number {
  return ETH_HLEN + IPV4_HLEN + (l4 === "udp" ? 6 : 16);
}

/**
 * CRC-32 over the L4 header (but its checksum field, which a backend's checksum_setup fills in for
 * a NETTXF_csum_blank packet), the stamp's flow/seq/size and the payload after the stamp.
 */
function stampCrc(buf: Uint8Array, l4: L4, size: number): number {
  const p = payloadOffset(l4);
  const csum = l4ChecksumOffset(l4);
  let crc = crc32(buf.subarray(ETH_HLEN + IPV4_HLEN, csum));
  crc = crc32(buf.subarray(csum + 2, p + STAMP_LEN - 4), crc);
  return crc32(buf.subarray(p + STAMP_LEN, size), crc);
}

/** RFC 791 header checksum over `IPV4_HLEN` bytes at `off` (with the checksum field as stored). */
export function ipv4HeaderChecksum(buf: Uint8Array, off: number): number {
  let sum = 0;
  for (let i = 0; i < IPV4_HLEN; i += 2) {
    if (i === 10) continue;
    sum += ((buf[off + i] as number) << 8) | (buf[off + i + 1] as number);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export type FrameVerdict =
  | { readonly ok: true; readonly flow: number; readonly seq: number; readonly size: number }
  | { readonly ok: false; readonly reason: string };

/** Check a received frame: headers, stamp, length and payload CRC. */
export function verifyFrame(buf: Uint8Array): FrameVerdict {
  if (buf.length < ETH_HLEN + IPV4_HLEN) return { ok: false, reason: `runt frame of ${buf.length} bytes` };
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (v.getUint16(12) !== ETH_P_IP) return { ok: false, reason: "not IPv4" };
  const ip = ETH_HLEN;
  if (v.getUint8(ip) !== 0x45) return { ok: false, reason: "bad IPv4 version/IHL" };
  if (v.getUint16(ip + 10) !== ipv4HeaderChecksum(buf, ip)) return { ok: false, reason: "bad IPv4 header checksum" };
  const proto = v.getUint8(ip + 9);
  const l4: L4 | undefined = proto === IPPROTO_UDP ? "udp" : proto === IPPROTO_TCP ? "tcp" : undefined;
  if (l4 === undefined) return { ok: false, reason: `unexpected IP protocol ${proto}` };
  if (buf.length < minFrameSize(l4)) return { ok: false, reason: `short ${l4} frame of ${buf.length} bytes` };
  if (v.getUint16(ip + 2) !== buf.length - ETH_HLEN) return { ok: false, reason: `IP length ${v.getUint16(ip + 2)} vs frame ${buf.length}` };
  const p = payloadOffset(l4);
  const flow = v.getUint32(p);
  const seq = v.getUint32(p + 4);
  const size = v.getUint32(p + 8);
  if (size !== buf.length) return { ok: false, reason: `stamped size ${size} vs frame ${buf.length}` };
  if (v.getUint32(p + 12) !== stampCrc(buf, l4, size)) return { ok: false, reason: `payload CRC mismatch (flow ${flow} seq ${seq})` };
  return { ok: true, flow, seq, size };
}
