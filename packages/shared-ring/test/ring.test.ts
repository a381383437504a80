import { Machine } from "@pvnet/hypervisor";
import {
  BackRing,
  defineRingLayout,
  FrontRing,
  isRingError,
  ringMemoryOver,
  SharedRing,
  ThreadedEventChannel,
} from "@pvnet/shared-ring";
import { describe, expect, it } from "vitest";
import { getSeq, makeRing, putSeq, TX_LAYOUT } from "./harness.js";

const layoutError = expect.objectContaining({ name: "RingError", code: "ERING_LAYOUT" });

describe("ring geometry", () => {
  it("12-byte slots straddle a page boundary only in 4- and 8-page rings; 8- and 16-byte slots never", () => {
    const straddles = (slot: number, pages: number) =>
      new SharedRing(ringMemoryOver(new ArrayBuffer(pages * 4096)), Array.from({ length: pages }, (_, i) => i * 4096), defineRingLayout("x", slot, slot))
        .hasStraddlingSlots;
    expect([1, 2, 4, 8].map((p) => straddles(12, p))).toEqual([false, false, true, true]);
    expect([1, 2, 4, 8].map((p) => straddles(8, p))).toEqual([false, false, false, false]);
    expect([1, 2, 4, 8].map((p) => straddles(16, p))).toEqual([false, false, false, false]);
  });

  it("places every slot of a 4-page tx ring over scattered frames where the contiguous C layout puts it", () => {
    const machine = new Machine(16);
    const frames = Array.from({ length: 8 }, () => machine.allocFrame(1));
    const mfns = [frames[5], frames[1], frames[7], frames[3]] as number[]; // not contiguous, not in order
    machine.fill(0, 0xee, machine.nrFrames * 4096); // canaries everywhere
    const sring = SharedRing.overFrames(machine, mfns, TX_LAYOUT);
    sring.init();
    expect(sring.size).toBe(1024);
    const front = new FrontRing(sring).init();
    // One full lap of distinct entries (slot 677 straddles the 8192-byte boundary).
    for (let i = 0; i < sring.size; i++) front.writeRequest(front.produceRequest(), putSeq, 0x01000000 + i);
    // Reassemble the virtual sring (4 pages in ring order) and check every slot at 64 + i*12.
    const virt = new Uint8Array(4 * 4096);
    mfns.forEach((mfn, p) => {
      virt.set(machine.frameBytes(mfn), p * 4096);
    });
    const dv = new DataView(virt.buffer);
    for (let i = 0; i < sring.size; i++) {
      expect(dv.getUint32(64 + i * 12, true)).toBe(0x01000000 + i);
      expect(dv.getUint32(68 + i * 12, true)).toBe(~(0x01000000 + i) >>> 0);
    }
    expect(sring.slotOffset(677)).toBe(-1);
    expect(sring.slotOffset(676)).toBe(machine.frameOffset(mfns[1] as number) + ((64 + 676 * 12) & 4095));
    // Reads go through the bounce buffer for straddling slots and see the same values.
    const back = new BackRing(sring).init();
    const out = { seq: 0, check: 0 };
    for (let i = 0; i < sring.size; i++) {
      back.copyRequest(back.consumeRequest(), getSeq, out);
      expect(out.seq).toBe(0x01000000 + i);
    }
    // Nothing outside the ring's frames (and the slot bytes the entries used) changed.
    for (const mfn of frames.filter((f) => !mfns.includes(f))) expect(machine.frameBytes(mfn).every((b) => b === 0xee)).toBe(true);
    // The last page holds only 64 bytes of slots (64 + 1024 * 12 = 3 * 4096 + 64); the rest is untouched.
    expect(machine.frameBytes(mfns[3] as number).subarray(64).every((b) => b === 0xee)).toBe(true);
  });

  it("SHARED_RING_INIT zeroes the header, pvt and pad and leaves the slots alone", () => {
    const { mem, sring } = makeRing(1, 0);
    const base = sring.pageOffsets[0] as number;
    mem.bytes.fill(0x55, base, base + 4096);
    sring.init();
    expect([...mem.bytes.subarray(base, base + 64)]).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, ...new Array(48).fill(0)]);
    expect(mem.bytes.subarray(base + 64, base + 4096).every((b) => b === 0x55)).toBe(true);
    expect(mem.bytes.subarray(0, base).every((b) => b === 0)).toBe(true); // the guard page before it
  });

  it("rejects memory that cannot hold the ring with ERING_LAYOUT", () => {
    const mem = ringMemoryOver(new ArrayBuffer(4 * 4096));
    expect(() => new SharedRing(mem, [], TX_LAYOUT)).toThrow(layoutError);
    expect(() => new SharedRing(mem, [0, 4096, 8192], TX_LAYOUT)).toThrow(layoutError);
    expect(() => new SharedRing(mem, [4 * 4096], TX_LAYOUT)).toThrow(layoutError); // past the end
    expect(() => new SharedRing(mem, [-4096], TX_LAYOUT)).toThrow(layoutError);
    expect(() => new SharedRing(mem, [0, 2048], TX_LAYOUT)).toThrow(layoutError); // overlapping pages
    expect(() => new SharedRing(mem, [2], TX_LAYOUT)).toThrow(layoutError); // header not 4-aligned
    const other = ringMemoryOver(new ArrayBuffer(4096));
    expect(() => new SharedRing({ ...mem, u32: other.u32 }, [0], TX_LAYOUT)).toThrow(layoutError);
    expect(() => defineRingLayout("huge", 4000, 4)).toThrow(layoutError);
    expect(() => new SharedRing(mem, [0], { name: "big", requestBytes: 4040, responseBytes: 4, slotBytes: 4040 })).toThrow(layoutError);
    let caught: unknown;
    try {
      new SharedRing(mem, [1 << 20], TX_LAYOUT);
    } catch (e) {
      caught = e;
    }
    expect(isRingError(caught)).toBe(true);
  });

  it("refuses to overrun its own ring (our bugs throw, with a code)", () => {
    const { front, back } = makeRing(1, 0xfffffff0);
    expect(() => front.consumeResponse()).toThrow(expect.objectContaining({ code: "ERING_EMPTY" }));
    expect(() => back.produceResponse()).toThrow(expect.objectContaining({ code: "ERING_EMPTY" }));
    for (let i = 0; i < 256; i++) front.produceRequest();
    expect(front.full()).toBe(true);
    expect(() => front.produceRequest()).toThrow(expect.objectContaining({ code: "ERING_FULL" }));
    expect(front.reqProdPvt).toBe((0xfffffff0 + 256) >>> 0);
  });

  it("a bogus req_prod never lets the back end take more than RING_SIZE unanswered requests", () => {
    const { sring, back } = makeRing(1, 0);
    sring.reqProd = 0x80000000;
    expect(back.requestProdOverflow(sring.reqProd)).toBe(true);
    expect(back.unconsumedRequests()).toBe(256);
    for (let i = 0; i < 256; i++) back.consumeRequest();
    expect(back.unconsumedRequests()).toBe(0);
    back.produceResponse();
    expect(back.unconsumedRequests()).toBe(1);
  });
});

describe("ThreadedEventChannel", () => {
  it("returns at once when notified since the snapshot, and reports a wait that nobody ends", () => {
    const chan = ThreadedEventChannel.create();
    const seen = chan.snapshot();
    chan.notify();
    expect(chan.wait(seen)).toBe("notified");
    expect(chan.sleeps).toBe(0);
    expect(chan.wait(chan.snapshot(), 0, 1)).toBe("timed-out");
    expect(chan.sleeps).toBe(1);
    expect(chan.words[1]).toBe(0); // the sleeper count is back to zero
  });

  it("needs shared memory and words inside the array", () => {
    expect(() => new ThreadedEventChannel(new Int32Array(4))).toThrow(TypeError);
    expect(() => new ThreadedEventChannel(new Int32Array(new SharedArrayBuffer(8)), 1)).toThrow(RangeError);
  });
});
