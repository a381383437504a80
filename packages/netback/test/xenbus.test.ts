import { NETIF_XS_KEY, XenbusState } from "@pvnet/netif";
import { describe, expect, test } from "vitest";
import { MAX_QUEUES_DEFAULT, xenvifStartXmit } from "../src/index.js";
import { makeFrame, World } from "./harness.js";

describe("xenbus backend", () => {
  test("probe writes the features and waits in InitWait; the frontend's Connected connects the rings", () => {
    const w = new World();
    const created: string[] = [];
    const fe = w.frontend();
    const be = fe.paths.backend;
    w.run();
    const read = (k: string) => w.toolstack.read(`${be}/${k}`);
    expect(read(NETIF_XS_KEY.FEATURE_SG)).toBe("1");
    expect(read(NETIF_XS_KEY.FEATURE_GSO_TCPV4)).toBe("1");
    expect(read(NETIF_XS_KEY.FEATURE_GSO_TCPV6)).toBe("1");
    expect(read(NETIF_XS_KEY.FEATURE_RX_COPY)).toBe("1");
    expect(read(NETIF_XS_KEY.FEATURE_RX_FLIP)).toBe("0");
    expect(read(NETIF_XS_KEY.FEATURE_SPLIT_EVENT_CHANNELS)).toBe("1");
    expect(read(NETIF_XS_KEY.MULTI_QUEUE_MAX_QUEUES)).toBe(String(MAX_QUEUES_DEFAULT));
    expect(read(NETIF_XS_KEY.FEATURE_CTRL_RING)).toBe("0");
    expect(read(NETIF_XS_KEY.FEATURE_PERSISTENT)).toBe("0");
    expect(Number(read("state"))).toBe(XenbusState.Connected);
    expect(fe.vif.name).toBe(`vif${fe.domain.domid}.0`);
    expect(fe.vif.canSg).toBe(true);
    expect(fe.vif.gsoMask).toBe(1 << 1);
    expect(fe.vif.mac).toBe("00:16:3e:00:00:01");
    created.push(fe.vif.name);
    expect(created).toEqual(["vif1.0"]);
  });

  test("multi-queue: one ring pair per queue-N directory, each queue on its own Dom0 VCPU, single event channel", () => {
    const w = new World({ dom0Vcpus: 2 });
    const fe = w.frontend({ queues: 2, split: false });
    w.run();
    const vif = fe.vif;
    expect(vif.numQueues).toBe(2);
    expect(vif.queues.map((q) => q.vcpu.id)).toEqual([0, 1]);
    expect(vif.queues.every((q) => q.txPort === q.rxPort)).toBe(true);
    // Traffic on queue 1 is handled (and charged) on VCPU 1.
    const f = makeFrame(500, 1);
    const busy1 = w.dom0.vcpus[1]!.actor.account.busyNs;
    fe.send(f, [{ len: 500 }], { q: 1 });
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([f]);
    expect(w.dom0.vcpus[1]!.actor.account.busyNs).toBeGreaterThan(busy1);
    expect(fe.txResponses(1).length).toBe(1);
  });

  test("a frontend asking for more queues than the maximum gets xenbus_dev_fatal and no rings", () => {
    const w = new World({ maxQueues: 2 });
    const fe = w.frontend({ queues: 3 });
    w.run();
    expect(fe.vif.numQueues).toBe(0);
    expect(w.toolstack.read(`/local/domain/0/error${fe.paths.backend}/error`)).toMatch(/guest requested 3 queues, exceeding the maximum of 2/);
  });

  test("disconnect and reconnect leave no grant mapping, handle, pin, in-flight packet or page behind", () => {
    const w = new World();
    const fe = w.frontend();
    const other = w.frontend();
    w.run();
    const pagesAtStart = w.pool.pagesInUse;
    for (let round = 0; round < 3; round++) {
      // Traffic both ways, some of it still held by the Dom0 stack when the frontend closes.
      fe.postRx(4);
      w.keep = [];
      fe.send(makeFrame(3000, round), [{ len: 1000 }, { len: 2000 }]);
      w.run();
      const held = w.keep;
      w.keep = null;
      const rx = w.skbs.allocSkb(2000)!;
      rx.putData(makeFrame(1000, 9));
      xenvifStartXmit(fe.vif, rx);
      fe.switchState(XenbusState.Closing);
      w.run();
      expect(Number(w.toolstack.read(`${fe.paths.backend}/state`))).toBe(XenbusState.Closed);
      // The stack still holds a packet: its slots stay mapped until it lets go.
      expect(w.netback.outstanding().inflightPackets).toBe(1);
      for (const skb of held) skb.free();
      w.run();
      // Only the other vif's two ring mappings remain.
      expect(w.netback.outstanding()).toEqual({ maps: 2, handles: 2, pins: 0, slotMappings: 0, inflightPackets: 0, dyingQueues: 0 });
      expect(fe.releaseRings()).toBe(true);
      expect(fe.releasePages()).toBe(0);
      expect(w.skbs.liveSkbs).toBe(0);
      w.skbs.drain();
      expect(w.pool.pagesInUse).toBeLessThanOrEqual(pagesAtStart);
      // Reconnect with fresh rings.
      fe.switchState(XenbusState.Initialising);
      w.run();
      expect(fe.vif.connected).toBe(true);
      const f = makeFrame(700, round);
      fe.send(f, [{ len: 700 }]);
      w.run();
      expect(w.received[w.received.length - 1]!.bytes).toEqual(f);
    }
    // Totals survive reconnects: 2 packets per round from this vif.
    expect(fe.vif.counters().rx_packets).toBe(6);
    // Removing both devices leaves Dom0 with nothing mapped at all.
    fe.switchState(XenbusState.Closing);
    other.switchState(XenbusState.Closing);
    w.run();
    expect(w.netback.outstanding()).toEqual({ maps: 0, handles: 0, pins: 0, slotMappings: 0, inflightPackets: 0, dyingQueues: 0 });
    expect(w.grants.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
  });

  test("the toolstack removing the backend directory removes the device", () => {
    const w = new World();
    const fe = w.frontend();
    w.run();
    fe.switchState(XenbusState.Closing);
    w.run();
    // (The raw frontend stops watching first: @pvnet/xenstore's xenbusReadDriverState throws
    // EACCES for the vanished node where Linux's returns XenbusStateUnknown.)
    fe.xenbus.unregisterXenbusWatch(fe.dev.otherendWatch!);
    w.toolstack.rm(fe.paths.backend);
    w.run();
    expect(w.netback.vif(fe.domain.domid, 0)).toBeUndefined();
    expect(w.netback.outstanding()).toMatchObject({ maps: 0, handles: 0 });
  });
});
