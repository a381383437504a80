import { Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import { describe, expect, it } from "vitest";
import { COST_LOCK_REMOTE, LockLine } from "../src/common.js";

function twoCpus(): [Vcpu, Vcpu] {
  const hv = new Hypervisor({ frames: 64, seed: 1 });
  const d = hv.createDomain({ name: "Domain-0", maxPages: 16, vcpus: 2 });
  return [d.vcpus[0] as Vcpu, d.vcpus[1] as Vcpu];
}

const at = (cpu: Vcpu, ns: number) => cpu.actor.begin(ns);
const remoteNs = (cpu: Vcpu) => cpu.actor.account.report().byKind[COST_LOCK_REMOTE]?.ops ?? 0;

describe("LockLine: a spinlock's cache line on the virtual clock", () => {
  it("a CPU retaking the lock keeps the line; the other CPU's take in between moves it", () => {
    const [a, b] = twoCpus();
    const l = new LockLine();
    at(a, 100);
    expect(l.take(a)).toBe(false); // the first take anywhere: nobody held it
    at(a, 200);
    expect(l.take(a)).toBe(false);
    at(b, 300);
    expect(l.take(b)).toBe(true); // a held it last
    at(b, 400);
    expect(l.take(b)).toBe(false);
    at(a, 500);
    expect(l.take(a)).toBe(true);
    expect(remoteNs(a)).toBe(1);
    expect(remoteNs(b)).toBe(1);
  });

  it("is judged by virtual time, not by the order of the calls: takes recorded ahead do not count before their time", () => {
    const [a, b] = twoCpus();
    const l = new LockLine();
    // CPU a ran ahead: its takes at 1000..1300 are recorded first.
    for (const t of [1000, 1100, 1200, 1300]) {
      at(a, t);
      l.take(a);
    }
    // CPU b's takes at 100 and 200 come before all of them: the line is b's (after its first
    // take, which finds it nowhere).
    at(b, 100);
    expect(l.take(b)).toBe(false);
    at(b, 200);
    expect(l.take(b)).toBe(false);
    // At 1150, a took it at 1000 and 1100 since b's take at 200.
    at(b, 1150);
    expect(l.take(b)).toBe(true);
    at(b, 1160);
    expect(l.take(b)).toBe(false);
  });
});
