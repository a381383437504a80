/** `modelled.bottleneck`: the resource that saturates first, named. */
import { Hypervisor } from "@pvnet/hypervisor";
import { describe, expect, test } from "vitest";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { PhaseMeter } from "../src/topology/measure.js";
import { expectClonesDelivered } from "./expect.js";

describe("modelled.bottleneck", () => {
  test("guest TX of 1496-byte frames, copy/map baseline: Dom0's netback VCPU saturates, on grant maps and copies", async () => {
    const r = await runDomuDom0({ seed: 3, direction: "tx", pktSize: 1496, packets: 1000, cloneSkbs: 100_000 });
    expectClonesDelivered(r, 1000);
    const b = r.modelled.bottleneck;
    expect(b?.kind).toBe("vcpu");
    expect(b?.vcpu).toBe("d0v0");
    expect(b?.pcpu).toBe(0);
    expect(b?.utilisation).toBeGreaterThan(0.9);
    expect(b?.name).toMatch(/^d0v0 on pCPU 0: grant\.\w+ \d+%$/);
    expect(b?.top.map((t) => t.kind)).toEqual(expect.arrayContaining(["grant.map"]));
    // The named VCPU is the busiest one.
    const busiest = Object.entries(r.modelled.busyNs).sort(([, x], [, y]) => y - x)[0]?.[0];
    expect(busiest).toBe(b?.vcpu);
  });

  test("guest RX of 64-byte frames: the guest's VCPU (netfront and its stack) saturates", async () => {
    const r = await runDomuDom0({ seed: 3, direction: "rx", pktSize: 64, packets: 2000, cloneSkbs: 100_000 });
    expectClonesDelivered(r, 2000);
    expect(r.modelled.bottleneck?.kind).toBe("vcpu");
    expect(r.modelled.bottleneck?.vcpu).toBe("d1v0");
    expect(r.modelled.bottleneck?.top.map((t) => t.kind)).toContain("netif.receive");
  });

  test("a phase in which no VCPU is busy 90% of the time is latency-bound, the busiest named", () => {
    const hv = new Hypervisor({ frames: 64, seed: 1 });
    const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 16, vcpus: 2 });
    const meter = new PhaseMeter(hv);
    const v1 = dom0.vcpus[1]!;
    hv.runOn(v1, 0, (v) => v.charge("grant.copy", 64));
    hv.run();
    const t = meter.finish(1, 64, 10_000);
    expect(t.modelled.bottleneck?.kind).toBe("latency");
    expect(t.modelled.bottleneck?.vcpu).toBe("d0v1");
    expect(t.modelled.bottleneck?.pcpu).toBe(1);
    expect(t.modelled.bottleneck?.name).toMatch(/^latency \(busiest: d0v1 on pCPU 1: grant\.copy 100%, \d+%\)$/);
  });
});
