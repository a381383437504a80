/** A frame checked in pieces (an skb's pages) gives the verdict of the same frame checked whole. */
import { expect, test } from "vitest";
import { frameHeaderLen, payloadOffset, verifyFrame, verifyFrameViews, writeFrame } from "../src/index.js";

function pieces(frame: Uint8Array, cuts: number[]): [Uint8Array, Uint8Array[]] {
  const head = frame.slice(0, frameHeaderLen(frame.length));
  const rest: Uint8Array[] = [];
  let at = head.length;
  for (const cut of [...cuts, frame.length]) {
    const c = Math.min(cut, frame.length);
    if (c <= at) continue;
    rest.push(frame.subarray(at, c));
    at = c;
  }
  return [head, rest];
}

test.each([
  ["udp", 1514, [100, 1000, 1001]],
  ["tcp", 65535, [4096, 8192, 40000]],
  ["udp", 70, []],
] as const)("%s, %i bytes in views: verified as the whole frame is; any byte changed fails", (l4, size, cuts) => {
  const frame = new Uint8Array(size);
  writeFrame(frame, { flow: 3, seq: 9, size, l4 });
  const [head, rest] = pieces(frame, [...cuts]);
  expect(verifyFrameViews(head, head.length, rest, size)).toEqual(verifyFrame(frame));
  expect(verifyFrame(frame).ok).toBe(true);
  if (rest.length > 0) {
    const last = rest[rest.length - 1]!;
    last[last.length - 1] = (last[last.length - 1]! + 1) & 0xff;
    expect(verifyFrameViews(head, head.length, rest, size)).toEqual({ ok: false, reason: "payload CRC mismatch (flow 3 seq 9)" });
  }
  // A byte changed in the head's last byte, in the first view, or in the stamp's CRC fails too.
  for (const [where, at] of [
    ["head", head.length - 1],
    ["view", 0],
    ["crc", payloadOffset(l4) + 12],
  ] as const) {
    const h = head.slice();
    const r = rest.map((v) => v.slice());
    const target = where === "view" ? r[0] : h;
    if (target === undefined) continue;
    target[at] = (target[at] as number) ^ (where === "view" ? 0x40 : 0x01);
    expect(verifyFrameViews(h, h.length, r, size).ok, where).toBe(false);
  }
  // Pieces that do not add up to the frame are not it.
  expect(verifyFrameViews(head, head.length, rest.slice(1), size).ok).toBe(rest.length === 0);
  expect(() => verifyFrameViews(head, 10, rest, size)).toThrow(RangeError);
});

test("a generated frame's stamp CRC (a kept pattern CRC joined by crc32_combine) is the one its bytes give", () => {
  for (const l4 of ["udp", "tcp"] as const) {
    for (const size of [600, 1514, 4096, 9000, 65535]) {
      for (let i = 0; i < 40; i++) {
        const frame = new Uint8Array(size);
        writeFrame(frame, { flow: i % 7, seq: i * 37, size, l4 });
        expect(verifyFrame(frame)).toMatchObject({ ok: true, flow: i % 7, seq: i * 37, size });
      }
    }
  }
});
