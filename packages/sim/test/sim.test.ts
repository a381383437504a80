import { describe, expect, test } from "vitest";
import { CostModel, FaultPlan, formatTraceMode, MAX_TRACE_SAMPLE, Prng, ratio, Simulation, Trace } from "../src/index.js";

const PROFILE = { name: "t", costs: { work: { fixedNs: 100, perUnitNs: 2 }, tick: { fixedNs: 7 } } };

/** A small scenario: actors ping each other with random delays and work sizes; faults drop pings. */
function scenario(seed: number): Simulation {
  const sim = new Simulation({ seed, profile: PROFILE, traceCapacity: 64 });
  sim.faults.define("drop", ratio(1, 5));
  const workload = sim.prng.fork("workload");
  const actors = [sim.actor("a"), sim.actor("b"), sim.actor("c")];
  let sent = 0;
  const ping = (from: number) => {
    const a = actors[from]!;
    sim.runOn(a, sim.clock.now() + workload.below(1000), (self) => {
      self.charge("work", workload.below(1500));
      sim.traceEvent(self.id, "ping", from, Math.floor(self.nowNs));
      if (sent++ < 300 && !sim.faults.fire("drop")) ping(workload.below(actors.length));
      else if (sent < 300) ping(from);
    });
  };
  ping(0);
  sim.run();
  return sim;
}

describe("Simulation", () => {
  test("same (scenario, seed), same trace bit for bit; another seed, another trace", () => {
    const a = scenario(1234);
    const b = scenario(1234);
    const c = scenario(1235);
    expect(a.trace.length).toBeGreaterThan(300);
    expect(a.trace.digest()).toBe(b.trace.digest());
    expect(a.trace.format()).toBe(b.trace.format());
    expect(a.clock.now()).toBe(b.clock.now());
    expect(a.trace.digest()).not.toBe(c.trace.digest());
    expect(a.faults.stats()["drop"]!.fired).toBeGreaterThan(0);
  });

  test("an actor's local clock moves with the work charged to it", () => {
    const sim = new Simulation({ seed: 1, profile: PROFILE });
    const a = sim.actor("a");
    const seen: number[] = [];
    sim.runOn(a, 1000, (self) => {
      self.charge("work", 50); // 100 + 2*50
      seen.push(self.nowNs);
    });
    // Queued for 1100 while `a` is busy until 1200: starts at 1200.
    sim.runOn(a, 1100, (self) => {
      seen.push(self.nowNs);
      self.charge("tick");
      seen.push(self.nowNs);
    });
    sim.run();
    expect(seen).toEqual([1200, 1200, 1207]);
    expect(a.account.report()).toEqual({
      busyNs: 207,
      byKind: { tick: { ops: 1, units: 0, ns: 7 }, work: { ops: 1, units: 50, ns: 200 } },
    });
    expect(() => a.charge("unknown")).toThrow(/no cost for 'unknown'/);
  });

  test("work at a fractional local time is scheduled at the next whole nanosecond", () => {
    const sim = new Simulation({ seed: 1, profile: { name: "frac", costs: { copy: { fixedNs: 0, perUnitNs: 0.08 } } } });
    const a = sim.actor("a");
    const seen: number[] = [];
    sim.runOn(a, 0, (self) => {
      self.charge("copy", 1001); // 80.08 ns
      sim.runOn(self, self.nowNs, () => seen.push(sim.clock.now()));
    });
    sim.run();
    expect(seen).toEqual([81]);
  });
});

describe("Trace", () => {
  test("keeps the last `capacity` records and digests them all", () => {
    const t = new Trace(4);
    const u = new Trace(1000);
    for (let i = 0; i < 10; i++) {
      t.event(i, 0, "e", i, -i);
      u.event(i, 0, "e", i, -i);
    }
    expect(t.length).toBe(10);
    expect(t.records().map((r) => r.a)).toEqual([6, 7, 8, 9]);
    expect(t.digest()).toBe(u.digest());
    const v = new Trace(1000);
    for (let i = 0; i < 10; i++) v.event(i, 0, "e", i, i === 3 ? 0 : -i);
    expect(v.digest()).not.toBe(u.digest());
  });

  test("sampled keeps one event in N (the 1st, N+1th, ...) and digests those; off keeps nothing; every mode counts every event", () => {
    const full = new Trace(1000);
    const sampled = new Trace(1000, { sample: 3 });
    const kept = new Trace(1000);
    const off = new Trace(1000, "off");
    for (let i = 0; i < 10; i++) {
      for (const t of [full, sampled, off]) t.event(i, 1, "e", i, -i);
      if (i % 3 === 0) kept.event(i, 1, "e", i, -i);
    }
    expect(sampled.records().map((r) => r.a)).toEqual([0, 3, 6, 9]);
    expect(sampled.length).toBe(4);
    expect(sampled.digest()).toBe(`sample:3:${kept.digest()}`);
    expect(off.records()).toEqual([]);
    expect(off.digest()).toBe("off");
    for (const t of [full, sampled, off]) expect(t.events).toBe(10);
    expect(new Trace(8, { sample: 1 }).digest()).toBe(new Trace(8).digest());
    expect(formatTraceMode({ sample: 3 })).toBe("sample:3");
    for (const bad of [0, 1.5, MAX_TRACE_SAMPLE + 1]) expect(() => new Trace(8, { sample: bad })).toThrow(RangeError);
    expect(new Simulation({ seed: 1, trace: "off" }).trace.mode).toBe("off");
  });
});

describe("FaultPlan", () => {
  test("points fire at their rate, independently, and heal", () => {
    const run = (withB: boolean) => {
      const f = new FaultPlan(new Prng(77));
      f.define("a", ratio(1, 3));
      if (withB) f.define("b", ratio(1, 2));
      const out: boolean[] = [];
      for (let i = 0; i < 300; i++) {
        out.push(f.fire("a"));
        f.fire("b");
      }
      return { out, f };
    };
    const x = run(false);
    const y = run(true);
    expect(x.out).toEqual(y.out); // enabling b does not move a's draws
    const fired = x.out.filter(Boolean).length;
    expect(fired).toBeGreaterThan(60);
    expect(fired).toBeLessThan(140);
    expect(x.f.fire("undeclared")).toBe(false);
    y.f.heal();
    for (let i = 0; i < 100; i++) expect(y.f.fire("a")).toBe(false);
  });
});

describe("CostModel", () => {
  test("fixed plus per-unit costs; negative costs are refused", () => {
    const m = new CostModel(PROFILE);
    expect(m.cost("work", 10)).toBe(120);
    expect(m.cost("tick")).toBe(7);
    expect(() => new CostModel({ name: "bad", costs: { x: { fixedNs: -1 } } })).toThrow(RangeError);
  });
});
