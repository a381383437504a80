import { describe, expect, test } from "vitest";
import { EVTCHN_NR_PORTS, EVTCHNSTAT, Hypervisor, type Vcpu } from "../src/index.js";

function twoDomains(seed = 1) {
  const hv = new Hypervisor({ frames: 256, seed });
  const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 32, vcpus: 2 });
  const domU = hv.createDomain({ name: "guest", maxPages: 32, vcpus: 2 });
  return { hv, dom0, domU, d0: dom0.vcpus[0] as Vcpu, u0: domU.vcpus[0] as Vcpu };
}

const xenError = (code: string) => expect.objectContaining({ name: "XenError", code });

describe("event channels", () => {
  test("alloc_unbound + bind_interdomain connect both ends; status shows it", () => {
    const { hv, dom0, domU, d0, u0 } = twoDomains();
    const bport = hv.evtchnAllocUnbound(d0, domU.domid);
    expect(hv.evtchnStatus(d0, dom0.domid, bport)).toMatchObject({ status: EVTCHNSTAT.unbound, remoteDom: domU.domid });
    const fport = hv.evtchnBindInterdomain(u0, dom0.domid, bport);
    expect(hv.evtchnStatus(u0, domU.domid, fport)).toEqual({ status: EVTCHNSTAT.interdomain, vcpu: 0, remoteDom: 0, remotePort: bport });
    expect(hv.evtchnStatus(d0, dom0.domid, bport)).toEqual({ status: EVTCHNSTAT.interdomain, vcpu: 0, remoteDom: domU.domid, remotePort: fport });
  });

  test("binding a port not offered to you, or not unbound, is EINVAL", () => {
    const { hv, domU, d0, u0 } = twoDomains();
    const third = hv.createDomain({ name: "other", maxPages: 8 });
    const bport = hv.evtchnAllocUnbound(d0, third.domid);
    expect(() => hv.evtchnBindInterdomain(u0, 0, bport)).toThrow(xenError("EINVAL"));
    expect(() => hv.evtchnBindInterdomain(u0, 0, 999)).toThrow(xenError("EINVAL"));
    expect(() => hv.evtchnBindInterdomain(u0, 0, 0)).toThrow(xenError("EINVAL"));
    expect(() => hv.evtchnBindInterdomain(u0, 77, 1)).toThrow(xenError("ESRCH"));
    const p2 = hv.evtchnAllocUnbound(d0, domU.domid);
    hv.evtchnBindInterdomain(u0, 0, p2);
    expect(() => hv.evtchnBindInterdomain(u0, 0, p2)).toThrow(xenError("EINVAL"));
  });

  test("send delivers an upcall to the bound VCPU of the peer, which runs the port's handler", () => {
    const { hv, dom0, domU, d0, u0 } = twoDomains();
    const bport = hv.evtchnAllocUnbound(d0, domU.domid);
    const fport = hv.evtchnBindInterdomain(u0, dom0.domid, bport);
    const seen: string[] = [];
    hv.bindHandler(dom0, bport, (port, vcpu) => seen.push(`${vcpu}:${port}`));
    hv.evtchnBindVcpu(d0, bport, 1);
    // Far enough apart that the first upcall has run before the second send.
    hv.runOn(u0, 10_000, (v) => hv.evtchnSend(v, fport));
    hv.runOn(u0, 20_000, (v) => hv.evtchnSend(v, fport));
    hv.run();
    expect(seen).toEqual([`d0v1:${bport}`, `d0v1:${bport}`]);
  });

  test("sends while the upcall is pending coalesce into one handler call", () => {
    const { hv, dom0, domU, d0, u0 } = twoDomains();
    const bport = hv.evtchnAllocUnbound(d0, domU.domid);
    const fport = hv.evtchnBindInterdomain(u0, dom0.domid, bport);
    let calls = 0;
    hv.bindHandler(dom0, bport, () => calls++);
    hv.runOn(u0, 100, (v) => {
      for (let i = 0; i < 5; i++) hv.evtchnSend(v, fport);
    });
    hv.run();
    expect(calls).toBe(1);
    expect(hv.stats.get("event_channel_op:send")).toEqual({ calls: 5, ops: 5 });
  });

  test("a masked port stays pending; unmask redelivers it", () => {
    const { hv, dom0, domU, d0, u0 } = twoDomains();
    const bport = hv.evtchnAllocUnbound(d0, domU.domid);
    const fport = hv.evtchnBindInterdomain(u0, dom0.domid, bport);
    let calls = 0;
    hv.bindHandler(dom0, bport, () => calls++);
    hv.maskEvtchn(dom0, bport);
    hv.runOn(u0, 100, (v) => hv.evtchnSend(v, fport));
    hv.run();
    expect(calls).toBe(0);
    expect(hv.evtchnOf(0).isPending(bport)).toBe(true);
    hv.runOn(d0, 1000, (v) => hv.evtchnUnmask(v, bport));
    hv.run();
    expect(calls).toBe(1);
    expect(hv.evtchnOf(0).isPending(bport)).toBe(false);
  });

  test("close returns the peer to unbound; send on closed is EINVAL, on unbound a no-op", () => {
    const { hv, dom0, domU, d0, u0 } = twoDomains();
    const bport = hv.evtchnAllocUnbound(d0, domU.domid);
    const fport = hv.evtchnBindInterdomain(u0, dom0.domid, bport);
    hv.evtchnClose(u0, fport);
    expect(hv.evtchnStatus(d0, 0, bport)).toMatchObject({ status: EVTCHNSTAT.unbound, remoteDom: domU.domid });
    expect(() => hv.evtchnSend(u0, fport)).toThrow(xenError("EINVAL"));
    expect(() => hv.evtchnClose(u0, fport)).toThrow(xenError("EINVAL"));
    hv.evtchnSend(d0, bport); // unbound: dropped silently
    // the guest can bind again (reconnect)
    const again = hv.evtchnBindInterdomain(u0, 0, bport);
    expect(hv.evtchnStatus(u0, domU.domid, again).status).toBe(EVTCHNSTAT.interdomain);
  });

  test("a domain runs out of ports with ENOSPC, not a crash", () => {
    const { hv, domU, d0 } = twoDomains();
    for (let i = 1; i < EVTCHN_NR_PORTS; i++) hv.evtchnAllocUnbound(d0, domU.domid);
    expect(() => hv.evtchnAllocUnbound(d0, domU.domid)).toThrow(xenError("ENOSPC"));
  });

  test("destroying a domain closes its channels and returns every frame", () => {
    const { hv, dom0, domU, d0, u0 } = twoDomains();
    const before = hv.machine.freeFrames;
    const guest2 = hv.createDomain({ name: "g2", maxPages: 16 });
    guest2.allocPages(10);
    const v = guest2.vcpus[0] as Vcpu;
    const bport = hv.evtchnAllocUnbound(d0, guest2.domid);
    hv.evtchnBindInterdomain(v, dom0.domid, bport);
    hv.destroyDomain(guest2.domid);
    expect(hv.machine.freeFrames).toBe(before);
    expect(hv.evtchnStatus(d0, 0, bport).status).toBe(EVTCHNSTAT.unbound);
    expect(hv.getDomain(guest2.domid)).toBeUndefined();
    expect(() => hv.evtchnAllocUnbound(u0, guest2.domid)).not.toThrow();
    expect(() => hv.destroyDomain(guest2.domid)).toThrow(xenError("ESRCH"));
    void domU;
  });

  test("the same seed replays the same trace", () => {
    const run = (seed: number) => {
      const { hv, dom0, domU, d0, u0 } = twoDomains(seed);
      const bport = hv.evtchnAllocUnbound(d0, domU.domid);
      const fport = hv.evtchnBindInterdomain(u0, dom0.domid, bport);
      const back = hv.evtchnAllocUnbound(u0, dom0.domid);
      const backBound = hv.evtchnBindInterdomain(d0, domU.domid, back);
      let pings = 0;
      hv.bindHandler(dom0, bport, (_p, v) => {
        if (pings++ < 200) hv.evtchnSend(v, backBound);
      });
      hv.bindHandler(domU, back, (_p, v) => hv.evtchnSend(v, fport));
      for (let i = 0; i < 3; i++) hv.runOn(u0, i * 10, (v) => hv.evtchnSend(v, fport));
      hv.run({ maxEvents: 10_000 });
      return hv.sim.trace.digest();
    };
    expect(run(5)).toBe(run(5));
  });
});

describe("hypercall entry", () => {
  test("counts calls by op and multicall as one entry with each result", () => {
    const { hv, d0 } = twoDomains();
    hv.stats.reset();
    const results = new Int32Array(3);
    hv.multicall(
      d0,
      [
        { op: "grant_table_op:copy", count: 7, run: () => 0 },
        { op: "grant_table_op:map_grant_ref", count: 2, run: () => 0 },
        { op: "grant_table_op:copy", count: 1, run: () => -22 },
      ],
      results,
    );
    hv.hypercall(d0, "grant_table_op:copy", 4, () => 0);
    expect([...results]).toEqual([0, 0, -22]);
    expect(hv.stats.snapshot()).toEqual({
      entries: 2,
      multicalls: 1,
      byOp: { "grant_table_op:copy": { calls: 3, ops: 12 }, "grant_table_op:map_grant_ref": { calls: 1, ops: 2 } },
    });
    expect(d0.actor.account.report().byKind["hypercall"]?.ops).toBe(2);
    expect(d0.actor.account.report().byKind["multicall.entry"]?.ops).toBe(3);
  });
});
