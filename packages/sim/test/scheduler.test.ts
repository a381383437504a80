import { describe, expect, test } from "vitest";
import { Prng, Scheduler, VirtualClock } from "../src/index.js";

function make(seed = 1) {
  const clock = new VirtualClock();
  return { clock, sched: new Scheduler(clock, new Prng(seed)) };
}

describe("Scheduler", () => {
  test("runs events in time order and advances the clock", () => {
    const { clock, sched } = make();
    const seen: Array<[string, number]> = [];
    sched.at(30, () => seen.push(["c", clock.now()]));
    sched.at(10, () => seen.push(["a", clock.now()]));
    sched.at(20, () => {
      seen.push(["b", clock.now()]);
      sched.after(5, () => seen.push(["b+5", clock.now()]));
    });
    const r = sched.run();
    expect(seen).toEqual([
      ["a", 10],
      ["b", 20],
      ["b+5", 25],
      ["c", 30],
    ]);
    expect(r).toEqual({ events: 4, reason: "idle", nowNs: 30 });
  });

  test("ties are broken by the seed, reproducibly", () => {
    const order = (seed: number) => {
      const { sched } = make(seed);
      const out: number[] = [];
      for (let i = 0; i < 8; i++) sched.at(100, () => out.push(i));
      sched.run();
      return out;
    };
    expect(order(11)).toEqual(order(11));
    const distinct = new Set([1, 2, 3, 4, 5, 6].map((s) => order(s).join(",")));
    expect(distinct.size).toBeGreaterThan(1);
    expect([...order(11)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test("cancel, time limit and event limit", () => {
    const { clock, sched } = make();
    let ran = 0;
    const h = sched.at(5, () => ran++);
    sched.cancel(h);
    sched.at(50, () => ran++);
    expect(sched.run({ untilNs: 40 })).toEqual({ events: 0, reason: "time-limit", nowNs: 40 });
    expect(clock.now()).toBe(40);
    expect(ran).toBe(0);
    // A self-perpetuating event is stopped by the event limit.
    const tick = () => {
      ran++;
      sched.after(1, tick);
    };
    sched.after(0, tick);
    const r = sched.run({ maxEvents: 100 });
    expect(r.reason).toBe("event-limit");
    expect(r.events).toBe(100);
  });

  test("refuses to schedule in the past", () => {
    const { sched } = make();
    sched.at(10, () => {
      expect(() => sched.at(5, () => {})).toThrow(RangeError);
    });
    sched.run();
  });
});
