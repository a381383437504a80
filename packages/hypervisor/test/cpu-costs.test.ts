import { describe, expect, test } from "vitest";
import { COST_EVTCHN_SEND, Hypervisor, type Vcpu } from "../src/index.js";

describe("per-CPU cost sinks (cpuCosts)", () => {
  test("work is charged to the domain's VCPU that runs it, and to VCPU 0 outside its work", () => {
    const hv = new Hypervisor({ frames: 64, seed: 1 });
    const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 8, vcpus: 3 });
    const domU = hv.createDomain({ name: "guest", maxPages: 8, vcpus: 1 });
    const sink = hv.cpuCosts(dom0);
    expect(hv.cpuCosts(dom0)).toBe(sink);
    const busy = (v: Vcpu | undefined) => (v as Vcpu).actor.account.busyNs;
    const [v0, v1, v2] = dom0.vcpus;
    sink.charge(COST_EVTCHN_SEND);
    const one = busy(v0);
    expect(one).toBeGreaterThan(0);
    hv.runOn(v2 as Vcpu, 0, () => sink.charge(COST_EVTCHN_SEND));
    // A guest VCPU running does not make the guest pay for Dom0's allocator.
    hv.runOn(domU.vcpus[0] as Vcpu, 0, () => sink.charge(COST_EVTCHN_SEND));
    hv.run();
    expect([busy(v0), busy(v1), busy(v2), busy(domU.vcpus[0])]).toEqual([2 * one, 0, one, 0]);
  });
});
