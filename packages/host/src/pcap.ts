/**
 * Packet capture as tcpdump writes it: classic libpcap files (the format of libpcap's
 * savefile.c / pcap-savefile(5)), Ethernet link type, with nanosecond timestamps from the virtual
 * clock. `VifCapture` keeps one file per vif and direction, as `tcpdump -i vif1.0 -Q in` and
 * `-Q out` would in Dom0: `-tx` holds what the guest's netfront transmitted (netback's TX path
 * took it off the ring), `-rx` what netback queued for the guest (xenvif_start_xmit).
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { SkBuff } from "@pvnet/skb-model";
import { MAX_FRAME } from "./frame.js";

/** pcap-savefile(5): the magic of a file with nanosecond timestamps (0xa1b2c3d4 is microseconds). */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** LINKTYPE_ETHERNET (the link-layer header type registry of tcpdump.org). */
export const LINKTYPE_ETHERNET = 1;
/** The file header: magic u32, version 2.4 (u16 u16), thiszone, sigfigs, snaplen, linktype (u32 each). */
export const PCAP_FILE_HEADER_LEN = 24;
/** Each record's header: ts_sec, ts_nsec, incl_len, orig_len (u32 each). */
export const PCAP_RECORD_HEADER_LEN = 16;
/** Snapshot length: every frame whole (the largest frame netfront sends is 64 KiB - 1). */
export const PCAP_SNAPLEN = MAX_FRAME;
/** Bytes buffered before a write to the file: bounds a capture's memory whatever the run's length. */
const PCAP_BUFFER_BYTES = 1 << 20;

/** One libpcap file being written: records are buffered and written in 1 MiB chunks. */
export class PcapWriter {
  /** Records written so far. */
  packets = 0;
  private fd: number | undefined;
  private readonly buf = new Uint8Array(PCAP_BUFFER_BYTES + PCAP_RECORD_HEADER_LEN + PCAP_SNAPLEN);
  private readonly view = new DataView(this.buf.buffer);
  private used = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
    const v = this.view;
    // Written in the host's order, little-endian, as libpcap does on x86; readers go by the magic.
    v.setUint32(0, PCAP_MAGIC_NS, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true);
    v.setUint32(12, 0, true);
    v.setUint32(16, PCAP_SNAPLEN, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = PCAP_FILE_HEADER_LEN;
  }

  /** Append the frame of `skb` (its bytes are copied, the skb is left as it was) at `timeNs`. */
  writeSkb(skb: SkBuff, timeNs: number): void {
    const len = Math.min(skb.len, PCAP_SNAPLEN);
    const at = this.record(timeNs, len, skb.len);
    skb.copyBits(0, this.buf, at, len);
    this.commit(len);
  }

  /** Append `frame[0, len)` at `timeNs`. */
  writeFrame(frame: Uint8Array, len: number, timeNs: number): void {
    const n = Math.min(len, PCAP_SNAPLEN);
    const at = this.record(timeNs, n, len);
    this.buf.set(frame.subarray(0, n), at);
    this.commit(n);
  }

  /** Write what is buffered and close the file (idempotent). */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }

  private record(timeNs: number, inclLen: number, origLen: number): number {
    if (this.fd === undefined) throw new Error(`pcap file ${this.path} is closed`);
    const v = this.view;
    const t = Math.max(0, Math.floor(timeNs));
    const at = this.used;
    v.setUint32(at, Math.floor(t / 1e9), true);
    v.setUint32(at + 4, t % 1e9, true);
    v.setUint32(at + 8, inclLen, true);
    v.setUint32(at + 12, origLen, true);
    return at + PCAP_RECORD_HEADER_LEN;
  }

  private commit(inclLen: number): void {
    this.used += PCAP_RECORD_HEADER_LEN + inclLen;
    this.packets++;
    if (this.used >= PCAP_BUFFER_BYTES) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined) return;
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }
}

/** Which way a captured frame crossed a vif, named from the guest's side (its netfront's rings). */
export type CaptureDirection = "tx" | "rx";

/**
 * One pcap file per vif and direction in `dir` (created if missing): `vif<domid>.<devid>-tx.pcap`
 * and `-rx.pcap`, opened at the first frame. Timestamps are the virtual clock's.
 */
export class VifCapture {
  private readonly files = new Map<string, PcapWriter>();

  constructor(
    readonly dir: string,
    private readonly now: () => number,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Capture the frame of `skb` crossing vif `name` (e.g. "vif1.0") in `direction`. */
  capture(name: string, direction: CaptureDirection, skb: SkBuff): void {
    this.writer(name, direction).writeSkb(skb, this.now());
  }

  /** Capture `frame[0, len)` crossing vif `name` in `direction`. */
  captureFrame(name: string, direction: CaptureDirection, frame: Uint8Array, len: number): void {
    this.writer(name, direction).writeFrame(frame, len, this.now());
  }

  /** Every file written so far, with its packet count. */
  summary(): Array<{ readonly path: string; readonly packets: number }> {
    return [...this.files.values()].map((w) => ({ path: w.path, packets: w.packets }));
  }

  /** Flush and close every file written (each is a complete libpcap file from then on). */
  close(): void {
    for (const w of this.files.values()) w.close();
  }

  private writer(name: string, direction: CaptureDirection): PcapWriter {
    const key = `${name}-${direction}`;
    let w = this.files.get(key);
    if (w === undefined) {
      w = new PcapWriter(join(this.dir, `${key}.pcap`));
      this.files.set(key, w);
    }
    return w;
  }
}
