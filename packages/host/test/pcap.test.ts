import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { LINKTYPE_ETHERNET, PCAP_MAGIC_NS, PCAP_SNAPLEN, PcapWriter } from "@pvnet/host";

test("PcapWriter writes the classic libpcap header and one record per frame, nanosecond timestamps", () => {
  const dir = mkdtempSync(join(tmpdir(), "pvnet-pcap-"));
  try {
    const path = join(dir, "x.pcap");
    const w = new PcapWriter(path);
    w.writeFrame(Uint8Array.of(1, 2, 3, 4), 4, 3_000_000_123);
    w.writeFrame(Uint8Array.of(9, 8), 2, 3_000_000_456.7);
    w.close();
    w.close();
    expect(w.packets).toBe(2);
    const b = readFileSync(path);
    expect(b.length).toBe(24 + 16 + 4 + 16 + 2);
    expect([b.readUInt32LE(0), b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(16), b.readUInt32LE(20)]).toEqual([PCAP_MAGIC_NS, 2, 4, PCAP_SNAPLEN, LINKTYPE_ETHERNET]);
    expect([b.readUInt32LE(24), b.readUInt32LE(28), b.readUInt32LE(32), b.readUInt32LE(36)]).toEqual([3, 123, 4, 4]);
    expect([...b.subarray(40, 44)]).toEqual([1, 2, 3, 4]);
    expect([b.readUInt32LE(44), b.readUInt32LE(48), b.readUInt32LE(52)]).toEqual([3, 456, 2]);
    expect(() => w.writeFrame(Uint8Array.of(0), 1, 0)).toThrow(/closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
