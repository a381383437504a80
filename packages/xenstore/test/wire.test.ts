import { abiFacts } from "@pvnet/testkit";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  encodeMessage,
  nulStrings,
  splitNulStrings,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  XS_TYPE,
  XSD_ERRORS,
  XSD_SOCKMSG,
  XsFrameDecoder,
  type XsMessage,
} from "../src/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("xs_wire against abi-facts", () => {
  const facts = abiFacts().xs_wire_h;

  it("message types, errors, header layout and limits", () => {
    for (const [name, value] of Object.entries(facts.xsd_sockmsg_type as Record<string, number>)) {
      expect(XS_TYPE[name.replace(/^XS_/, "") as keyof typeof XS_TYPE], name).toBe(value);
    }
    expect(XSD_ERRORS).toEqual((facts.xsd_errors as { errstring: string }[]).map((e) => e.errstring));
    expect(XSD_SOCKMSG.SIZEOF).toBe(facts.xsd_sockmsg.sizeof);
    const offsets = Object.fromEntries((facts.xsd_sockmsg.fields as { name: string; offset: number }[]).map((f) => [f.name, f.offset]));
    expect([XSD_SOCKMSG.TYPE, XSD_SOCKMSG.REQ_ID, XSD_SOCKMSG.TX_ID, XSD_SOCKMSG.LEN]).toEqual([offsets.type, offsets.req_id, offsets.tx_id, offsets.len]);
    expect(XENSTORE_PAYLOAD_MAX).toBe(facts.constants.XENSTORE_PAYLOAD_MAX);
    expect(XENSTORE_ABS_PATH_MAX).toBe(facts.constants.XENSTORE_ABS_PATH_MAX);
    expect(XENSTORE_REL_PATH_MAX).toBe(facts.constants.XENSTORE_REL_PATH_MAX);
  });

  it("encodes the example frames byte for byte", () => {
    const [write, read] = facts.example_encodings_little_endian as { hex: string }[];
    const enc = new TextEncoder();
    expect(hex(encodeMessage({ type: XS_TYPE.WRITE, reqId: 1, txId: 0, payload: enc.encode("/a\0b") }))).toBe(write!.hex);
    expect(hex(encodeMessage({ type: XS_TYPE.READ, reqId: 2, txId: 0, payload: enc.encode("/a\0") }))).toBe(read!.hex);
  });
});

describe("argument strings", () => {
  it("splits NUL-terminated strings and rejects a missing NUL", () => {
    expect(splitNulStrings(nulStrings("/a", "tok"), 2)).toEqual(["/a", "tok"]);
    expect(() => splitNulStrings(new TextEncoder().encode("/a"), 1)).toThrow(/EINVAL/);
    expect(() => splitNulStrings(new Uint8Array(0), 1)).toThrow(/EINVAL/);
    expect(() => splitNulStrings(nulStrings("/a", "x"), 1)).toThrow(/EINVAL/);
  });
});

describe("frame decoder", () => {
  const arbMsg: fc.Arbitrary<XsMessage> = fc.record({
    type: fc.integer({ min: 0, max: 30 }),
    reqId: fc.nat(),
    txId: fc.nat(),
    payload: fc.uint8Array({ maxLength: 300 }),
  });

  test.prop([fc.array(arbMsg, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 })])(
    "reassembles any split of a byte stream into the same messages",
    (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map((m) => encodeMessage(m)));
      const got: XsMessage[] = [];
      const d = new XsFrameDecoder();
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = cuts[i % cuts.length]!;
        d.push(stream.subarray(at, at + n), (m) => got.push(m), () => expect.unreachable());
        at += n;
      }
      expect(got.map((m) => ({ ...m, payload: hex(m.payload) }))).toEqual(msgs.map((m) => ({ ...m, payload: hex(m.payload) })));
      expect(d.pendingBytes).toBe(0);
    },
  );

  it("reports an oversized frame once and accepts nothing after it", () => {
    const d = new XsFrameDecoder();
    const big = new Uint8Array(16);
    new DataView(big.buffer).setUint32(0, XS_TYPE.READ, true);
    new DataView(big.buffer).setUint32(4, 77, true);
    new DataView(big.buffer).setUint32(12, XENSTORE_PAYLOAD_MAX + 1, true);
    const over: number[] = [];
    const msgs: XsMessage[] = [];
    d.push(big, (m) => msgs.push(m), (h) => over.push(h.reqId, h.len));
    d.push(encodeMessage({ type: 2, reqId: 1, txId: 0, payload: nulStrings("/a") }), (m) => msgs.push(m), () => over.push(-1));
    expect(over).toEqual([77, XENSTORE_PAYLOAD_MAX + 1]);
    expect(msgs).toEqual([]);
    expect(d.failed).toBe(true);
  });
});
