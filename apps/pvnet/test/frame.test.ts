import { fc, test as propTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { crc32 } from "node:zlib";
import { l4ChecksumOffset, MAX_FRAME, minFrameSize, payloadOffset, STAMP_LEN, TrafficSink, verifyFrame, writeFrame } from "@pvnet/host";

describe("test traffic frames", () => {
  test("the stamp's CRC is zlib's CRC-32 over the L4 header (less its checksum), the stamp's first 12 bytes and the payload, at every size", () => {
    for (const [size, l4] of [
      [58, "udp"],
      [64, "udp"],
      [600, "udp"],
      [1514, "udp"],
      [1515, "tcp"],
      [65535, "tcp"],
    ] as const) {
      const buf = new Uint8Array(size + 8);
      writeFrame(buf, { flow: 3, seq: 77, size, l4 });
      const p = payloadOffset(l4);
      const csum = l4ChecksumOffset(l4);
      let want = crc32(buf.subarray(34, csum));
      want = crc32(buf.subarray(csum + 2, p + STAMP_LEN - 4), want);
      want = crc32(buf.subarray(p + STAMP_LEN, size), want);
      expect(new DataView(buf.buffer).getUint32(p + 12)).toBe(want);
      // verifyFrame of the first `size` bytes of a longer buffer, as the receiver calls it.
      expect(verifyFrame(buf, size)).toEqual({ ok: true, flow: 3, seq: 77, size });
      expect(verifyFrame(buf.subarray(0, size))).toEqual({ ok: true, flow: 3, seq: 77, size });
      buf[size - 1] = (buf[size - 1] as number) ^ 1;
      expect(verifyFrame(buf, size)).toMatchObject({ ok: false });
    }
  });

  test("64, 1496 and 65535-byte frames verify", () => {
    for (const [size, l4] of [
      [64, "udp"],
      [1496, "udp"],
      [65535, "tcp"],
    ] as const) {
      const buf = new Uint8Array(size);
      writeFrame(buf, { flow: 3, seq: 77, size, l4 });
      expect(verifyFrame(buf)).toEqual({ ok: true, flow: 3, seq: 77, size });
    }
    expect(() => writeFrame(new Uint8Array(100), { flow: 0, seq: 0, size: minFrameSize("udp") - 1, l4: "udp" })).toThrow(RangeError);
    expect(() => writeFrame(new Uint8Array(MAX_FRAME + 1), { flow: 0, seq: 0, size: MAX_FRAME + 1, l4: "tcp" })).toThrow(RangeError);
  });

  propTest.prop([fc.integer({ min: 70, max: 9000 }), fc.nat(), fc.nat({ max: 1000 }), fc.boolean()])(
    "flipping any byte, or truncating, is detected",
    (size, where, seq, udp) => {
      const buf = new Uint8Array(size);
      writeFrame(buf, { flow: 1, seq, size, l4: udp ? "udp" : "tcp" });
      const i = where % size;
      // MAC addresses carry no stamp, and the L4 checksum field may be filled in by offload.
      const csum = l4ChecksumOffset(udp ? "udp" : "tcp");
      if (i >= 12 && i !== csum && i !== csum + 1) {
        const bad = buf.slice();
        bad[i]! ^= 0x01;
        expect(verifyFrame(bad).ok).toBe(false);
      }
      expect(verifyFrame(buf.subarray(0, size - 1)).ok).toBe(false);
    },
  );

  test("the sink counts delivered, corrupt, gaps and out-of-order per flow", () => {
    const sink = new TrafficSink();
    const frame = (flow: number, seq: number) => {
      const b = new Uint8Array(128);
      writeFrame(b, { flow, seq, size: 128, l4: "udp" });
      return b;
    };
    for (const [flow, seq] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [0, 3],
      [0, 2],
    ] as const)
      sink.receive(frame(flow, seq));
    const bad = frame(1, 1);
    bad[100]! ^= 0xff;
    expect(sink.receive(bad)).toBe(false);
    expect({ delivered: sink.delivered, bytes: sink.bytes, corrupt: sink.corrupt, gaps: sink.gaps, outOfOrder: sink.outOfOrder }).toEqual({
      delivered: 5,
      bytes: 640,
      corrupt: 1,
      gaps: 1,
      outOfOrder: 1,
    });
    expect(sink.flowCount()).toBe(2);
  });
});
