import { firstMessage, startTsWorker } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { DOMID_INVALID, Hypervisor, Machine, XEN_PAGE_SIZE } from "../src/index.js";

describe("Machine", () => {
  test("allocates zeroed frames until memory is exhausted, then -1; frees and refuses double free", () => {
    const m = new Machine(8);
    expect(m.freeFrames).toBe(7); // frame 0 is reserved
    const got: number[] = [];
    for (;;) {
      const mfn = m.allocFrame(3);
      if (mfn < 0) break;
      expect(m.ownerOf(mfn)).toBe(3);
      expect(m.frameBytes(mfn).every((b) => b === 0)).toBe(true);
      m.frameBytes(mfn).fill(0xab);
      got.push(mfn);
    }
    expect(got.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    m.freeFrame(4);
    expect(m.ownerOf(4)).toBe(DOMID_INVALID);
    expect(() => m.freeFrame(4)).toThrow(/double free/);
    expect(m.allocFrame(1)).toBe(4);
    expect(m.frameBytes(4).every((b) => b === 0)).toBe(true); // re-zeroed on allocation
    expect(() => m.frameOffset(8)).toThrow();
    expect(() => m.frameOffset(0)).toThrow();
  });

  test("serialises as a summary, not as its bytes", () => {
    const m = new Machine(4096);
    expect(JSON.stringify({ m })).toBe(`{"m":{"nrFrames":4096,"freeFrames":4095}}`);
  });

  test("copy is memmove across frame boundaries; fill sets bytes", () => {
    const m = new Machine(4);
    const P = XEN_PAGE_SIZE;
    const src = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7 + 1) & 0xff);
    m.bytes.set(src, P + 100);
    m.copy(2 * P + 2000, P + 100, 3000); // crosses from frame 2 into frame 3
    expect(m.bytes.subarray(2 * P + 2000, 2 * P + 5000)).toEqual(src);
    m.copy(P + 110, P + 100, 3000); // overlapping move forward by 10
    expect(m.bytes.subarray(P + 110, P + 3110)).toEqual(src);
    m.fill(P, 0x5a, 16);
    expect(m.bytes.subarray(P, P + 16).every((b) => b === 0x5a)).toBe(true);
    expect(m.bytes[P + 16]).toBe(0);
  });

  test("a worker thread attached to the machine sees and changes the same bytes", async () => {
    const m = new Machine(16);
    const mfn = m.allocFrame(0);
    m.view.setUint32(m.frameOffset(mfn), 0xdeadbeef, true);
    const w = startTsWorker(new URL("./machine.worker.ts", import.meta.url), { workerData: { handle: m.handle(), mfn } });
    const seen = await firstMessage<number>(w);
    await w.terminate();
    expect(seen).toBe(0xdeadbeef);
    expect(m.view.getUint32(m.frameOffset(mfn) + 4, true)).toBe(0xcafef00d);
  });
});

describe("Domain memory", () => {
  test("populates up to maxPages, then ENOMEM; gfn->mfn; free returns the frame", () => {
    const hv = new Hypervisor({ frames: 64 });
    const d = hv.createDomain({ name: "g", maxPages: 3 });
    const gfns = d.allocPages(3);
    expect(gfns).toEqual([0, 1, 2]);
    expect(() => d.allocPage()).toThrow(expect.objectContaining({ name: "XenError", code: "ENOMEM" }));
    const mfn = d.gfnToMfn(1);
    expect(hv.machine.ownerOf(mfn)).toBe(d.domid);
    expect(d.pageOffset(1)).toBe(mfn * XEN_PAGE_SIZE);
    d.freePage(1);
    expect(d.gfnToMfn(1)).toBe(0);
    expect(() => d.pageOffset(1)).toThrow(expect.objectContaining({ code: "EFAULT" }));
    expect(d.gfnToMfn(-1)).toBe(0);
    expect(d.gfnToMfn(99)).toBe(0);
    expect(d.allocPage()).toBe(1);
    expect(d.nrPages).toBe(3);
  });

  test("the machine running out of frames is ENOMEM, not a crash", () => {
    const hv = new Hypervisor({ frames: 8 });
    const d = hv.createDomain({ name: "big", maxPages: 100 }); // takes a shared_info frame
    let n = 0;
    expect(() => {
      for (;;) {
        d.allocPage();
        n++;
      }
    }).toThrow(expect.objectContaining({ code: "ENOMEM" }));
    expect(n).toBe(6);
  });
});

describe("page references (get_page / put_page)", () => {
  test("a frame freed by its owner while referenced is reused only after the last put", () => {
    const m = new Machine(4);
    const a = m.allocFrame(1);
    m.frameBytes(a).fill(0x42);
    expect(m.getPage(a, 2)).toBe(false); // not the owner
    expect(m.getPage(a, 1)).toBe(true);
    expect(m.getPage(a, 1)).toBe(true);
    m.freeFrame(a); // the owner lets go while two references are held
    expect(m.getPage(a, 1)).toBe(false); // a freed frame cannot be newly referenced
    expect(() => m.freeFrame(a)).toThrow(/double free/);
    const others = [m.allocFrame(3), m.allocFrame(3)];
    expect(others).not.toContain(a);
    expect(m.allocFrame(3)).toBe(-1); // the referenced frame is not handed out
    expect(m.frameBytes(a).every((b) => b === 0x42)).toBe(true);
    m.putPage(a);
    expect(m.ownerOf(a)).toBe(1);
    m.putPage(a);
    expect(m.ownerOf(a)).toBe(DOMID_INVALID);
    expect(() => m.putPage(a)).toThrow(/unreferenced/);
    expect(m.allocFrame(3)).toBe(a);
  });
});
