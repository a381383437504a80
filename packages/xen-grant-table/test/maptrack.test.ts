import { firstMessage, startTsWorker } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { INVALID_MAPTRACK_HANDLE, MAPTRACK_PER_PAGE, MAPTRACK_VARIANTS, Maptrack, type MaptrackVariant } from "../src/index.js";
import type { MaptrackWorkerData, MaptrackWorkerResult } from "./maptrack.worker.js";

describe("maptrack free lists, one thread", () => {
  test.each(MAPTRACK_VARIANTS)("%s: grows by pages, reuses handles, refuses at the limit", (variant) => {
    const mt = Maptrack.create({ variant, nrVcpus: 2, maxMaptrackFrames: 1 });
    const perVcpu = variant !== "single-locked";
    const got = new Set<number>();
    for (;;) {
      const h = mt.get(0);
      if (h === INVALID_MAPTRACK_HANDLE) break;
      expect(got.has(h)).toBe(false);
      got.add(h);
    }
    // Lock-free: limit = 1 frame x 2 VCPUs; VCPU 0 grows twice, then steals nothing (lists keep a sentinel).
    const frames = variant === "per-vcpu-lockfree" ? 2 : 1;
    expect(mt.frames).toBe(frames);
    expect(got.size).toBe(frames * MAPTRACK_PER_PAGE - (perVcpu ? 1 : 0));
    expect(mt.stats().failures).toBe(1);
    for (const h of got) mt.put(1, h); // remote puts go back to VCPU 0's list
    expect(mt.inUse()).toBe(0);
    expect(mt.freeHandles().length).toBe(mt.limit);
    const s = mt.stats();
    expect(s.puts).toBe(got.size);
    expect(s.grows).toBe(frames);
  });

  test("a VCPU without pages steals from another once the table is at its limit", () => {
    const mt = Maptrack.create({ variant: "per-vcpu-locked", nrVcpus: 2, maxMaptrackFrames: 1 });
    const h0 = mt.get(0); // VCPU 0 takes the only page
    const h1 = mt.get(1); // VCPU 1: no page left, steals a sentinel and a handle from VCPU 0
    expect(h1).not.toBe(INVALID_MAPTRACK_HANDLE);
    expect(mt.entryVcpu(h1)).toBe(1);
    expect(mt.stats().steals).toBe(2);
    mt.put(1, h1);
    mt.put(0, h0);
    expect(mt.inUse()).toBe(0);
  });

  test("a handle outside the table is refused as our bug", () => {
    const mt = Maptrack.create({ variant: "single-locked", nrVcpus: 1 });
    expect(() => mt.put(0, 5)).toThrow(/outside the table/);
    expect(() => Maptrack.create({ variant: "nope" as MaptrackVariant, nrVcpus: 1 })).toThrow(RangeError);
  });
});

async function runWorkers(variant: MaptrackVariant, workers: number, opsPerWorker: number) {
  const mt = Maptrack.create({ variant, nrVcpus: workers, maxMaptrackFrames: 64 });
  const mailbox = new SharedArrayBuffer(16 * 4);
  const owner = new SharedArrayBuffer(mt.maxFrames * MAPTRACK_PER_PAGE * 4);
  const results = await Promise.all(
    Array.from({ length: workers }, (_, vcpu) => {
      const workerData: MaptrackWorkerData = { shared: mt.shared(), vcpu, ops: opsPerWorker, seed: 0x9e3779b9 + vcpu, mode: "check", mailbox, owner };
      const w = startTsWorker(new URL("./maptrack.worker.ts", import.meta.url), { workerData });
      return firstMessage<MaptrackWorkerResult>(w).finally(() => w.terminate());
    }),
  );
  // Handles left in the mailbox go back too.
  const box = new Int32Array(mailbox);
  const own = new Int32Array(owner);
  let badPuts = 0;
  for (let i = 0; i < box.length; i++) {
    const h = (box[i] as number) - 1;
    if (h < 0) continue;
    if (Atomics.compareExchange(own, h, 1, 0) !== 1) badPuts++;
    mt.put(0, h);
  }
  return { mt, results, badPuts, own };
}

describe("maptrack under two worker threads (>= 100 000 operations)", () => {
  test.each(MAPTRACK_VARIANTS)("%s: no handle lost or handed out twice", async (variant) => {
    const { mt, results, badPuts, own } = await runWorkers(variant, 2, 60_000);
    const total = results.reduce((n, r) => n + r.gets + r.puts, 0);
    expect(total).toBeGreaterThanOrEqual(100_000);
    for (const r of results) {
      expect(r.doubleGets, `vcpu ${r.vcpu} got a handle someone held`).toBe(0);
      expect(r.badPuts, `vcpu ${r.vcpu} put a handle nobody held`).toBe(0);
      expect(r.failures).toBe(0);
    }
    expect(badPuts).toBe(0);
    if (variant !== "single-locked") expect(results.reduce((n, r) => n + r.remotePuts, 0)).toBeGreaterThan(0);
    // Quiescent: every handle is back on exactly one free list (freeHandles throws on duplicates).
    expect(mt.freeHandles().length).toBe(mt.limit);
    expect(mt.inUse()).toBe(0);
    expect(own.every((v) => v === 0)).toBe(true);
    const s = mt.stats();
    expect(s.gets - s.failures).toBe(s.puts);
  });
});
