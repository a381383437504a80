import { describe, expect, test } from "vitest";
import { COST_CONTEXT_SWITCH, Simulation } from "../src/index.js";

const PROFILE = { name: "t", costs: { work: { fixedNs: 1000 }, [COST_CONTEXT_SWITCH]: { fixedNs: 50 } } };

/** A simulation with `pcpus` pCPUs and two actors pinned on pCPUs `pa` and `pb`. */
function twoActors(pcpus: number, pa: number, pb: number, names: [string, string] = ["a", "b"]) {
  const sim = new Simulation({ seed: 1, profile: PROFILE, pcpus });
  const a = sim.actor(names[0]);
  const b = sim.actor(names[1]);
  sim.placeActor(a, pa);
  sim.placeActor(b, pb);
  return { sim, a, b };
}

describe("pCPUs under the actors", () => {
  test("two actors on one pCPU take turns: the second waits, and is charged a context switch", () => {
    const { sim, a, b } = twoActors(1, 0, 0);
    const started: [string, number][] = [];
    sim.runOn(a, 0, (self) => {
      started.push([self.name, sim.clock.now()]);
      self.charge("work");
    });
    sim.runOn(b, 10, (self) => {
      started.push([self.name, sim.clock.now()]);
      self.charge("work");
    });
    sim.run();
    expect(started).toEqual([
      ["a", 0],
      ["b", 1000],
    ]);
    expect(b.account.report().byKind[COST_CONTEXT_SWITCH]?.ops).toBe(1);
    expect(b.nowNs).toBe(2050);
    const p = sim.pcpus?.pcpus[0];
    expect(p?.switches).toBe(1);
    expect(p?.contentionNs).toBe(990);
    expect(p?.busyNs).toBe(2050);
  });

  test("actors on pCPUs of their own overlap in virtual time, no switch", () => {
    const { sim, a, b } = twoActors(2, 0, 1);
    sim.runOn(a, 0, (self) => self.charge("work"));
    sim.runOn(b, 0, (self) => self.charge("work"));
    sim.run();
    expect([a.nowNs, b.nowNs]).toEqual([1000, 1000]);
    expect(sim.pcpus?.pcpus.map((p) => p.switches)).toEqual([0, 0]);
  });

  test("a job due while its actor is busy runs when it is free and sees what others wrote meanwhile", () => {
    const { sim, a: consumer, b: producer } = twoActors(2, 0, 1, ["consumer", "producer"]);
    const ring: number[] = [];
    const batches: number[] = [];
    // The consumer is busy until 1000; a job for it comes due at 100; the producer writes at 100..900.
    sim.runOn(consumer, 0, (self) => self.charge("work"));
    sim.runOn(consumer, 100, () => batches.push(ring.splice(0).length));
    for (let t = 100; t < 1000; t += 100) sim.runOn(producer, t, () => ring.push(t));
    sim.run();
    expect(batches).toEqual([9]);
  });

  test("placing on a pCPU the host lacks, or without pCPUs, is refused", () => {
    const sim = new Simulation({ seed: 1, profile: PROFILE, pcpus: 2 });
    expect(() => sim.placeActor(sim.actor("a"), 2)).toThrow(RangeError);
    const none = new Simulation({ seed: 1, profile: PROFILE });
    expect(() => none.placeActor(none.actor("a"), 0)).toThrow(/no pCPUs/);
  });

  test("timerOn: a timer deleted before its time, or after it was queued again behind its busy actor, never runs and leaves the machine idle", () => {
    const { sim, a } = twoActors(1, 0, 0);
    const ran: string[] = [];
    const early = sim.timerOn(a, 5_000, () => ran.push("early"));
    early.cancel();
    // Due at 100 while `a` works until 1000: queued again for 1000, then deleted at 500.
    sim.runOn(a, 0, (self) => self.charge("work"));
    const late = sim.timerOn(a, 100, () => ran.push("late"));
    const kept = sim.timerOn(a, 200, () => ran.push("kept"));
    sim.run({ untilNs: 500 });
    late.cancel();
    const r = sim.run();
    expect(ran).toEqual(["kept"]);
    expect(r.reason).toBe("idle");
    expect(sim.clock.now()).toBeLessThan(5_000);
    kept.cancel(); // after it ran: nothing
  });
});
