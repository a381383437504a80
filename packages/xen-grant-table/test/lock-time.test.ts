/** Maptrack locks on the virtual clock: a lock held by one VCPU makes another wait, gaps are used, old holds forgotten. */
import type { CostSink } from "@pvnet/sim";
import { expect, test } from "vitest";
import { type LockClock, LockTime } from "../src/index.js";

class FakeVcpu implements CostSink {
  constructor(public nowNs: number) {}
  charge(_kind: string, units = 0): void {
    this.nowNs += 40 + units;
  }
}

function clock(floor: { ns: number }): LockClock {
  return {
    now: (s) => (s as FakeVcpu).nowNs,
    waitUntil: (s, at) => {
      const v = s as FakeVcpu;
      if (at > v.nowNs) v.nowNs = at;
    },
    floor: () => floor.ns,
    minHoldNs: () => 40,
  };
}

test("a VCPU taking a held lock waits until its release; one that fits in a gap before does not wait", () => {
  const floor = { ns: 0 };
  const lt = new LockTime(clock(floor));
  const a = new FakeVcpu(100);
  lt.acquire(1, a);
  a.charge("maptrack.lock");
  lt.release(1, a); // held [100, 140)
  const b = new FakeVcpu(120);
  lt.acquire(1, b);
  expect(b.nowNs).toBe(140);
  b.charge("maptrack.lock");
  lt.release(1, b); // [140, 180)
  const c = new FakeVcpu(50); // an earlier acquisition run later: [50, 90) fits before a's hold
  lt.acquire(1, c);
  expect(c.nowNs).toBe(50);
  c.charge("maptrack.lock");
  lt.release(1, c);
  const d = new FakeVcpu(80); // 40 ns from 90 would overlap a's hold: waits past a and b
  lt.acquire(1, d);
  expect(d.nowNs).toBe(180);
  lt.release(1, d);
  const other = new FakeVcpu(100); // another lock word is independent
  lt.acquire(2, other);
  expect(other.nowNs).toBe(100);
  lt.release(2, other);
  expect(lt.stats).toEqual({ acquisitions: 5, contended: 2, waitNs: 20 + 100, holdNs: 120 });
});

test("holds that ended before the global clock are forgotten", () => {
  const floor = { ns: 0 };
  const lt = new LockTime(clock(floor));
  const a = new FakeVcpu(100);
  lt.acquire(1, a);
  a.charge("maptrack.lock");
  lt.release(1, a);
  floor.ns = 1000;
  const b = new FakeVcpu(1000);
  lt.acquire(1, b);
  expect(b.nowNs).toBe(1000);
  lt.release(1, b);
  expect(lt.stats.contended).toBe(0);
});
