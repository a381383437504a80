/**
 * Test traffic frames: Ethernet + IPv4 + UDP (pktgen-like) or TCP (bulk/GSO flows), whose payload
 * starts with a stamp — flow, sequence number, frame size and a CRC-32 over the L4 header, the stamp
 * and the rest of the payload (the IPv4 header has its own checksum) — so a sink can tell a delivered frame from a lost, duplicated, reordered or corrupted
 * one. Checksums are as Linux sends them, so checksum offload paths see real bytes and capture
 * tools decode the frames cleanly: the IPv4 header checksum, a full UDP checksum (RFC 768), and
 * for TCP (always a GSO packet here, CHECKSUM_PARTIAL) the pseudo-header sum that
 * tcp_v4_send_check leaves for the device or the backend to finish. TCP sequence numbers count
 * payload bytes of the flow, as a real stream's do.
 */
import { Buffer } from "node:buffer";
import { crc32 } from "node:zlib";

/** ETH_HLEN: bytes of an Ethernet header (two MACs and the EtherType). */
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

/** Transport of a generated frame: UDP datagrams (pktgen) or TCP segments (GSO for frames above the MTU). */
export type L4 = "udp" | "tcp";

/**
 * What a generated frame carries: its flow and sequence number (stamped in the payload and checked
 * by the sink), length and transport.
 */
export interface FrameSpec {
  readonly flow: number;
  readonly seq: number;
  /** Frame length in bytes, Ethernet header included. */
  readonly size: number;
  readonly l4: L4;
  /** TCP: the header's sequence number (default `seq`); a bulk flow gives its byte offset. */
  readonly tcpSeq?: number;
  /** Ethernet addresses; by default 00:16:3e:00:00:<flow> and 00:16:3e:ff:00:<flow>. */
  readonly dstMac?: Uint8Array;
  readonly srcMac?: Uint8Array;
  /** IPv4 addresses as 32-bit numbers; by default 10.0.x.y and 10.128.x.y with x.y = 1 + flow. */
  readonly srcAddr?: number;
  readonly dstAddr?: number;
  /** The L4 source port; by default 9000 + flow (UDP) or 40000 + flow (TCP). */
  readonly srcPort?: number;
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

/**
 * Below this many bytes a loop beats a typed-array view (each view is an allocation, per frame):
 * the pattern fill and the CRC use byte loops for small ranges, native copies/zlib above.
 */
const SMALL_RANGE = 512;

/** The shift k of a frame's payload pattern: its byte i is PATTERN[i + k]. */
function patternShift(flow: number, seq: number): number {
  return Math.imul((Math.imul(seq, 31) + flow) & 0xff, 183) & 0xff;
}

function fillPattern(buf: Uint8Array, from: number, to: number, flow: number, seq: number): void {
  const k = patternShift(flow, seq);
  if (to - from < SMALL_RANGE) {
    for (let i = from; i < to; i++) buf[i] = PATTERN[i + k] as number;
  } else buf.set(PATTERN.subarray(from + k, to + k), from);
}

/** CRC-32 (IEEE 802.3, zlib's) lookup table. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** zlib's crc32(buf[from, to), crc), without a view of the range for small ones. */
function crc32Range(buf: Uint8Array, from: number, to: number, crc = 0): number {
  if (to - from >= SMALL_RANGE) return crc32(buf.subarray(from, to), crc);
  let c = ~crc;
  for (let i = from; i < to; i++) c = (CRC_TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

function get16(buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number);
}

function get32(buf: Uint8Array, off: number): number {
  return (((buf[off] as number) << 24) | ((buf[off + 1] as number) << 16) | ((buf[off + 2] as number) << 8) | (buf[off + 3] as number)) >>> 0;
}

/** Write a frame into `buf[0, spec.size)`. Allocates nothing (it runs once per generated frame). */
export function writeFrame(buf: Uint8Array, spec: FrameSpec): void {
  const { flow, seq, size, l4 } = spec;
  if (size < minFrameSize(l4) || size > MAX_FRAME || size > buf.length) throw new RangeError(`bad frame size ${size}`);
  // Ethernet: dst and src (by default 00:16:3e:00:00:<flow> and 00:16:3e:ff:00:<flow>), IPv4.
  if (spec.dstMac !== undefined) buf.set(spec.dstMac, 0);
  else defaultMac(buf, 0, 0x00, flow);
  if (spec.srcMac !== undefined) buf.set(spec.srcMac, 6);
  else defaultMac(buf, 6, 0xff, flow);
  put16(buf, 12, ETH_P_IP);
  // IPv4 header, no options.
  const ip = ETH_HLEN;
  buf.fill(0, ip, ip + IPV4_HLEN);
  buf[ip] = 0x45;
  put16(buf, ip + 2, size - ETH_HLEN);
  put16(buf, ip + 4, seq & 0xffff);
  buf[ip + 8] = 64;
  buf[ip + 9] = l4 === "udp" ? IPPROTO_UDP : IPPROTO_TCP;
  put32(buf, ip + 12, (spec.srcAddr ?? 0x0a000001 + (flow & 0xffff)) >>> 0); // 10.0.x.y
  put32(buf, ip + 16, (spec.dstAddr ?? 0x0a800001 + (flow & 0xffff)) >>> 0); // 10.128.x.y
  put16(buf, ip + 10, ipv4HeaderChecksum(buf, ip));
  const l4off = ip + IPV4_HLEN;
  if (l4 === "udp") {
    put16(buf, l4off, spec.srcPort ?? 9000 + (flow & 0xfff));
    put16(buf, l4off + 2, 9);
    put16(buf, l4off + 4, size - l4off);
    put16(buf, l4off + 6, 0); // filled in below, over the stamped payload
  } else {
    buf.fill(0, l4off, l4off + TCP_HLEN);
    put16(buf, l4off, spec.srcPort ?? 40000 + (flow & 0xfff));
    put16(buf, l4off + 2, 5001);
    // Byte sequence number: the flow's own (TCP flows), else 1 + the payload bytes of the frames before (all of this size), mod 2^32.
    put32(buf, l4off + 4, (spec.tcpSeq ?? (1 + seq * (size - l4off - TCP_HLEN)) % 0x1_0000_0000) >>> 0);
    buf[l4off + 12] = (TCP_HLEN / 4) << 4;
    buf[l4off + 13] = 0x18; // PSH|ACK
    put16(buf, l4off + 14, 0xffff);
  }
  const p = payloadOffset(l4);
  fillPattern(buf, p + STAMP_LEN, size, flow, seq);
  put32(buf, p, flow >>> 0);
  put32(buf, p + 4, seq >>> 0);
  put32(buf, p + 8, size);
  put32(buf, p + 12, generatedStampCrc(buf, l4, size, flow, seq));
  const l4len = size - l4off;
  const pseudo = IPPROTO_OF[l4] + l4len + onesSum(buf, ip + 12, ip + 20, 0);
  if (l4 === "udp") {
    // RFC 768: a computed 0 is sent as 0xffff (0 means no checksum).
    put16(buf, l4off + 6, ~fold(onesSum(buf, l4off, size, pseudo)) & 0xffff || 0xffff);
  } else {
    // CHECKSUM_PARTIAL: th->check = ~tcp_v4_check(len, saddr, daddr, 0), the folded pseudo-header sum.
    put16(buf, l4off + 16, fold(pseudo));
  }
}

const IPPROTO_OF: Readonly<Record<L4, number>> = { udp: IPPROTO_UDP, tcp: IPPROTO_TCP };

/** One's-complement sum (unfolded) of the big-endian 16-bit words of buf[from, to), plus `sum`. */
function onesSum(buf: Uint8Array, from: number, to: number, sum: number): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += ((buf[i] as number) << 8) | (buf[i + 1] as number);
  if (i < to) sum += (buf[i] as number) << 8;
  return sum;
}

/** Fold a one's-complement sum to 16 bits. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** 00:16:3e:<b3>:00:<flow> at `off`. */
function defaultMac(buf: Uint8Array, off: number, b3: number, flow: number): void {
  buf[off] = 0x00;
  buf[off + 1] = 0x16;
  buf[off + 2] = 0x3e;
  buf[off + 3] = b3;
  buf[off + 4] = 0x00;
  buf[off + 5] = flow & 0xff;
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
  return crc32Range(buf, payloadOffset(l4) + STAMP_LEN, size, stampHeadCrc(buf, l4));
}

/** The part of stampCrc before the payload: the L4 header but its checksum field, and the stamp's flow/seq/size. */
function stampHeadCrc(buf: Uint8Array, l4: L4): number {
  const csum = l4ChecksumOffset(l4);
  return crc32Range(buf, csum + 2, payloadOffset(l4) + STAMP_LEN - 4, crc32Range(buf, ETH_HLEN + IPV4_HLEN, csum));
}

/**
 * stampCrc of a frame writeFrame just wrote, without reading its payload: the payload after the
 * stamp is PATTERN[from + k, to + k), whose CRC-32 depends only on (k, from, to) and is kept,
 * then joined to the CRC of the header part with crc32_combine. The same value as stampCrc.
 */
function generatedStampCrc(buf: Uint8Array, l4: L4, size: number, flow: number, seq: number): number {
  const from = payloadOffset(l4) + STAMP_LEN;
  if (size - from < SMALL_RANGE) return stampCrc(buf, l4, size);
  const head = stampHeadCrc(buf, l4);
  const k = patternShift(flow, seq);
  const key = (k * 0x10000 + from) * 0x10000 + size;
  let tail = PATTERN_CRC.get(key);
  if (tail === undefined) {
    tail = crc32(PATTERN.subarray(from + k, size + k));
    if (PATTERN_CRC.size >= PATTERN_CRC_MAX) PATTERN_CRC.clear();
    PATTERN_CRC.set(key, tail);
  }
  return crc32Combine(head, tail, size - from);
}

/** PATTERN as a Buffer: `Buffer#compare` is a memcmp, several times faster here than a CRC over the same bytes. */
const PATTERN_BUF = Buffer.from(PATTERN.buffer, PATTERN.byteOffset, PATTERN.length);

/**
 * Whether a frame's payload after the stamp, held as `head[payloadOffset + STAMP_LEN, headLen)`
 * then the views `rest`, gives the stamp's CRC (verifyFrame's payload check). A payload of
 * SMALL_RANGE bytes or more is compared with the pattern writeFrame writes for (flow, seq)
 * (memcmp) and its stamp CRC with the one writeFrame gave it (generatedStampCrc): then stampCrc
 * over the bytes is that CRC too, without running a CRC over the payload.
 */
function payloadMatches(head: Uint8Array, headLen: number, rest: readonly Uint8Array[], l4: L4, size: number, flow: number, seq: number): boolean {
  const p = payloadOffset(l4);
  let i = p + STAMP_LEN;
  if (size - i < SMALL_RANGE) {
    let crc = crc32Range(head, i, headLen, stampHeadCrc(head, l4));
    for (const r of rest) crc = crc32(r, crc);
    return get32(head, p + 12) === crc;
  }
  if (get32(head, p + 12) !== generatedStampCrc(head, l4, size, flow, seq)) return false;
  const k = patternShift(flow, seq);
  if (headLen - i >= SMALL_RANGE) {
    if (PATTERN_BUF.compare(head, i, headLen, i + k, headLen + k) !== 0) return false;
    i = headLen;
  }
  for (; i < headLen; i++) if (head[i] !== PATTERN[i + k]) return false;
  for (const r of rest) {
    if (PATTERN_BUF.compare(r, 0, r.length, i + k, i + k + r.length) !== 0) return false;
    i += r.length;
  }
  return true;
}

const NO_VIEWS: readonly Uint8Array[] = [];

/** CRC-32s of pattern runs by (k, from, to); bounded (cleared when full). */
const PATTERN_CRC = new Map<number, number>();
const PATTERN_CRC_MAX = 4096;

/** x^(2^n) mod P(x) for n = 0..31, the table of zlib's x2nmodp (CRC-32, reflected). */
const X2N_TABLE = (() => {
  const t = new Uint32Array(32);
  let p = 1 << 30; // x^1
  t[0] = p;
  for (let n = 1; n < 32; n++) t[n] = p = multModP(p, p);
  return t;
})();

/** a(x) * b(x) mod P(x), zlib's multmodp (reflected bit order). */
function multModP(a: number, b: number): number {
  let m = 1 << 31;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ 0xedb88320 : b >>> 1;
  }
  return p >>> 0;
}

/** zlib's crc32_combine: the CRC-32 of A then B from crc(A), crc(B) and B's length in bytes. */
function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  // x^(8 lenB) mod P: x2nmodp(lenB, 3).
  let p = 1 << 31; // x^0
  let k = 3;
  for (let n = lenB; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) p = multModP(X2N_TABLE[k & 31] as number, p);
  }
  return (multModP(p, crcA) ^ crcB) >>> 0;
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

/** Bytes of a `len`-byte frame that hold its headers and stamp (the most a header-only check reads). */
export function frameHeaderLen(len: number): number {
  return Math.min(len, minFrameSize("tcp"));
}

/** The sink's check of one delivered frame: its flow, sequence number and size when every byte is as generated, else why not. */
export type FrameVerdict =
  | { readonly ok: true; readonly flow: number; readonly seq: number; readonly size: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Check a received frame `buf[0, len)`: headers, stamp, length and payload CRC. A payload of
 * 512 bytes or more is compared with the pattern its stamp names (a memcmp) and the stamp CRC
 * with the one that pattern gives, which is the same check without a CRC over the payload. With
 * `checkPayload` false only the headers and the stamp are checked (`buf` need hold no more
 * than `frameHeaderLen(len)` bytes of the frame).
 */
export function verifyFrame(buf: Uint8Array, len = buf.length, checkPayload = true): FrameVerdict {
  if ((checkPayload ? len : frameHeaderLen(len)) > buf.length) throw new RangeError(`frame of ${len} bytes in a buffer of ${buf.length}`);
  if (len < ETH_HLEN + IPV4_HLEN) return { ok: false, reason: `runt frame of ${len} bytes` };
  if (get16(buf, 12) !== ETH_P_IP) return { ok: false, reason: "not IPv4" };
  const ip = ETH_HLEN;
  if (buf[ip] !== 0x45) return { ok: false, reason: "bad IPv4 version/IHL" };
  if (get16(buf, ip + 10) !== ipv4HeaderChecksum(buf, ip)) return { ok: false, reason: "bad IPv4 header checksum" };
  const proto = buf[ip + 9] as number;
  const l4: L4 | undefined = proto === IPPROTO_UDP ? "udp" : proto === IPPROTO_TCP ? "tcp" : undefined;
  if (l4 === undefined) return { ok: false, reason: `unexpected IP protocol ${proto}` };
  if (len < minFrameSize(l4)) return { ok: false, reason: `short ${l4} frame of ${len} bytes` };
  if (get16(buf, ip + 2) !== len - ETH_HLEN) return { ok: false, reason: `IP length ${get16(buf, ip + 2)} vs frame ${len}` };
  const p = payloadOffset(l4);
  const flow = get32(buf, p);
  const seq = get32(buf, p + 4);
  const size = get32(buf, p + 8);
  if (size !== len) return { ok: false, reason: `stamped size ${size} vs frame ${len}` };
  if (checkPayload && !payloadMatches(buf, size, NO_VIEWS, l4, size, flow, seq)) return { ok: false, reason: `payload CRC mismatch (flow ${flow} seq ${seq})` };
  return { ok: true, flow, seq, size };
}

/**
 * verifyFrame for a frame held in pieces: its first `headLen` bytes in `head` (at least
 * `frameHeaderLen(len)`: the headers and the stamp), the rest in the views `rest`, in order (an
 * skb's pages, from `SkBuff.toSgvec`). The payload is checked in the views, so nothing is copied
 * to join them.
 */
export function verifyFrameViews(head: Uint8Array, headLen: number, rest: readonly Uint8Array[], len: number): FrameVerdict {
  if (headLen < frameHeaderLen(len) || headLen > head.length) throw new RangeError(`a head of ${headLen} bytes for a ${len}-byte frame`);
  let restLen = 0;
  for (const r of rest) restLen += r.length;
  if (headLen + restLen !== len) return { ok: false, reason: `frame pieces of ${headLen + restLen} bytes for ${len}` };
  const hv = verifyFrame(head, len, false);
  if (!hv.ok) return hv;
  const l4: L4 = head[ETH_HLEN + 9] === IPPROTO_UDP ? "udp" : "tcp";
  if (!payloadMatches(head, headLen, rest, l4, len, hv.flow, hv.seq)) return { ok: false, reason: `payload CRC mismatch (flow ${hv.flow} seq ${hv.seq})` };
  return hv;
}
