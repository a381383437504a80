import { Netback } from "@pvnet/netback";
import { XBT_NIL, XenbusState, xenbusPrintf, xenbusReadDriverState } from "@pvnet/xenstore";
import { describe, expect, test } from "vitest";
import { attachVif, bootForQueues, detachAndAudit, Host, type HostRunner, kernelMemory, xenMac } from "../src/index.js";

function bootPair(seed = 1) {
  const host = new Host({ seed });
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
});
