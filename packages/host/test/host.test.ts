import { Netback } from "@pvnet/netback";
import { XBT_NIL, XenbusState, xenbusPrintf, xenbusReadDriverState } from "@pvnet/xenstore";
import { describe, expect, test } from "vitest";
import { attachVif, bootForQueues, detachAndAudit, Host, type HostRunner, kernelMemory, type RunHooks, xenMac } from "../src/index.js";

function bootPair(seed = 1, hooks?: RunHooks) {
  const host = new Host({ seed, ...(hooks === undefined ? {} : { hooks }) });
  const dom0 = bootForQueues(host, "Domain-0", 1);
  const guest = bootForQueues(host, "guest", 1);
  const dom0Memory = kernelMemory(host, dom0, 1);
  const guestMemory = kernelMemory(host, guest, 1);
  let created = 0;
  const netback = new Netback(
    { ...host.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    { onReceive: (_vif, skb) => skb.free(), onVifCreated: () => created++ },
  );
  const netfront = attachVif(host, guest, guestMemory, { devid: 0, mac: xenMac(1), queues: 1, onReceive: (skb) => skb.free() });
  return { host, dom0, guest, dom0Memory, guestMemory, netback, netfront, created: () => created };
}

describe("Host", () => {
  test("boots Dom0 and a guest the way libxl does, connects a vif through xenstore, and audits a clean teardown", () => {
    const w = bootPair();
    expect(w.dom0.domain.domid).toBe(0);
    expect(w.host.toolstack.read(`/local/domain/${w.guest.domain.domid}/name`)).toBe("guest");
    w.host.hv.run({ maxEvents: 100_000 });
    expect(w.netfront.connected).toBe(true);
    expect(w.created()).toBe(1);
    const be = `/local/domain/0/backend/vif/${w.guest.domain.domid}/0`;
    expect(xenbusReadDriverState(w.host.toolstack, be)).toBe(XenbusState.Connected);
    const audit = detachAndAudit(w.host, w.dom0, w.dom0Memory, w.netback, [{ kernel: w.guest, memory: w.guestMemory, netfront: w.netfront }]);
    expect(audit).toMatchObject({
      dom0Grants: { maps: 0, handles: 0, pins: 0 },
      guestGrants: { maps: 0, handles: 0, pins: 0 },
      dom0PagesInUse: 0,
      guestPagesInUse: 0,
      eventChannelsOpen: 0,
    });
  });

  test("a guest writing a bogus frontend state gets its vif removed once: the watch loop settles (xenbus_probe_node)", () => {
    for (const state of [0, 9]) {
      const w = bootPair();
      w.host.hv.run({ maxEvents: 100_000 });
      const fe = `/local/domain/${w.guest.domain.domid}/device/vif/0`;
      xenbusPrintf(w.guest.conn, XBT_NIL, fe, "state", state);
      expect(w.host.hv.run({ maxEvents: 20_000 }).reason).toBe("idle");
      expect(w.created()).toBe(1);
    }
  });

  test("the runner is chosen here: only the deterministic one exists", () => {
    expect(new Host({ seed: 1 }).runner).toBe("deterministic");
    expect(() => new Host({ seed: 1, runner: "threaded" as HostRunner })).toThrow(RangeError);
  });

  test("the runner runs in slices and calls the hooks between them: same events, same trace digest as one unbroken run", () => {
    const whole = bootPair(7);
    const r = whole.host.hv.run({ maxEvents: 100_000 });
    expect(r.reason).toBe("idle");
    const calls: string[] = [];
    const between: number[] = [];
    let served = 0;
    const sliced = bootPair(7, {
      sliceEvents: 3,
      attached: () => calls.push("attached"),
      runStarted: () => calls.push("started"),
      betweenSlices: (_h, events) => between.push(events),
      runEnded: (_h, result) => calls.push(`ended ${result.reason} ${result.events}`),
    });
    sliced.host.addService({ poll: () => served++ });
    const s = sliced.host.run({ maxEvents: 100_000 });
    expect(s).toEqual(r);
    expect(r.events).toBeGreaterThan(3 * 3);
    expect(calls).toEqual(["attached", "started", `ended idle ${r.events}`]);
    expect(between).toEqual(Array.from({ length: Math.floor(r.events / 3) - (r.events % 3 === 0 ? 1 : 0) }, (_, i) => (i + 1) * 3));
    expect(served).toBe(between.length + 1); // between every two slices, and once at the end
    expect(sliced.host.hv.sim.trace.digest()).toBe(whole.host.hv.sim.trace.digest());
    expect(sliced.host.hv.sim.trace.length).toBe(whole.host.hv.sim.trace.length);
    expect(sliced.netfront.connected).toBe(true);
  });

  test("a hook that throws between slices ends the run with its error; the limits of one run hold across slices", () => {
    const stop = new Error("stop");
    const w = bootPair(1, {
      sliceEvents: 2,
      betweenSlices: (_h, events) => {
        if (events >= 6) throw stop;
      },
    });
    expect(() => w.host.run({ maxEvents: 100_000 })).toThrow(stop);
    expect(w.host.hv.sim.scheduler.eventsRun).toBe(6);
    const v = bootPair(1, { sliceEvents: 2 });
    expect(v.host.run({ maxEvents: 5 })).toMatchObject({ events: 5, reason: "event-limit" });
    expect(v.host.run({ untilNs: 0 }).reason).toBe("time-limit");
    expect(() => new Host({ seed: 1, hooks: { sliceEvents: 0 } })).toThrow(RangeError);
  });
});
