/**
 * A DomU with netfront and a Dom0 with the test backend, wired as the app wires them: a toolstack
 * creates the device directories, each domain's xenbus watches run on its VCPU 0.
 */
import { type Domain, Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import { newExtraInfo, newRxRequest, readRxRequest, writeExtraInfo, writeRxResponse } from "@pvnet/netif";
import { PagePool, type SkBuff, SkbAllocator, SkbComposer } from "@pvnet/skb-model";
import { GnttabGuest, GrantTables } from "@pvnet/xen-grant-table";
import { libxlDeviceGenericAdd, libxlDomainMake, XenStore, xenbusInit } from "@pvnet/xenstore";
import { Netfront, type NetfrontOptions } from "../src/index.js";
import { type PeerFeatures, TestBackend } from "./peer.js";

export const MAC = "00:16:3e:00:00:01";

export interface World {
  hv: Hypervisor;
  dom0: Domain;
  domU: Domain;
  grants: GrantTables;
  gnttab: GnttabGuest;
  pool: PagePool;
  skbs: SkbAllocator;
  composer: SkbComposer;
  store: XenStore;
  fe: Netfront;
  be: TestBackend;
  received: SkBuff[];
  wakes: number[];
  /** Run the simulation until idle (bounded). */
  run(maxEvents?: number): void;
}

export interface WorldOptions {
  seed?: number;
  vcpus?: number;
  features?: PeerFeatures;
  netfront?: Partial<NetfrontOptions>;
  poolFrames?: number;
  trusted?: boolean;
}

export function makeWorld(opts: WorldOptions = {}): World {
  const hv = new Hypervisor({ frames: 16384, seed: opts.seed ?? 1 });
  const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 4096 });
  const domU = hv.createDomain({ name: "domU", maxPages: 8192, vcpus: opts.vcpus ?? 2 });
  const grants = new GrantTables(hv);
  const store = new XenStore();
  const toolstack = store.connect(0);
  libxlDomainMake(toolstack, domU.domid, "domU");
  const trusted: Record<string, string> = opts.trusted === false ? { trusted: "0" } : {};
  libxlDeviceGenericAdd(toolstack, {
    devicetype: "vif",
    frontendDomid: domU.domid,
    devid: 0,
    frontendKeys: { mac: MAC, handle: "0", ...trusted },
    backendKeys: { mac: MAC, handle: "0", bridge: "xenbr0" },
  });
  const v0 = dom0.vcpus[0] as Vcpu;
  const u0 = domU.vcpus[0] as Vcpu;
  const beBus = xenbusInit(store, 0, { clock: hv.sim.clock, work: hv, cpu: v0 }).xenbus;
  const feBus = xenbusInit(store, domU.domid, { clock: hv.sim.clock, work: hv, cpu: u0 }).xenbus;
  const gnttab = new GnttabGuest(grants, u0);
  const pool = new PagePool(domU, { limitFrames: opts.poolFrames ?? 6000, costs: hv.cpuCosts(domU) });
  const skbs = new SkbAllocator({ pool, maxSkbs: 4096, costs: hv.cpuCosts(domU) });
  const be = new TestBackend(hv, dom0, grants, beBus, domU.domid, 0, opts.features ?? {});
  const received: SkBuff[] = [];
  const wakes: number[] = [];
  const fe = new Netfront(
    { ...hv.kernelOps(), domain: domU, gnttab, xenbus: feBus, skbs },
    {
      devid: 0,
      onReceive: (skb) => received.push(skb),
      onQueueWake: (q) => wakes.push(q),
      ...opts.netfront,
    },
  );
  return {
    hv,
    dom0,
    domU,
    grants,
    gnttab,
    pool,
    skbs,
    composer: new SkbComposer(skbs),
    store,
    fe,
    be,
    received,
    wakes,
    run(maxEvents = 1_000_000) {
      const r = hv.run({ maxEvents });
      if (r.reason === "event-limit") throw new Error("simulation did not go idle");
    },
  };
}

/** A frame: Ethernet + IPv4 + UDP/TCP headers for flow `flow`, then a pattern, `size` bytes. */
export function frame(size: number, flow = 1, seq = 0, proto = 17): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b.set([0x00, 0x16, 0x3e, 0x00, 0x00, 0x01, 0x00, 0x16, 0x3e, 0xff, 0x00, 0x01], 0);
  v.setUint16(12, 0x0800);
  b[14] = 0x45;
  v.setUint16(16, size - 14);
  b[22] = 64;
  b[23] = proto;
  v.setUint32(26, 0x0a000001 + flow);
  v.setUint32(30, 0x0a800001);
  v.setUint16(34, 1000 + flow);
  v.setUint16(36, 5001);
  for (let i = 42; i < size; i++) b[i] = (i * 7 + seq * 13 + flow) & 0xff;
  return b;
}

/** A hand-made RX response (or extra-info slot) of a malicious or sloppy backend. */
export type CraftedRxResponse = { offset?: number; flags?: number; status: number; id?: number } | { extra: number; flags?: number; gsoSize?: number; gsoType?: number; xdpHeadroom?: number };

/** Answer posted RX requests of queue 0 with hand-made responses, then (by default) kick and run. */
export function craftRxResponses(w: World, rsps: readonly CraftedRxResponse[], kick = true): void {
  const back = w.be.queues[0]?.rx;
  if (back === undefined) throw new Error("not connected");
  const req = newRxRequest();
  for (const r of rsps) {
    const idx = back.consumeRequest();
    back.copyRequest(idx, readRxRequest, req);
    const at = back.produceResponse();
    if ("extra" in r) back.writeResponse(at, writeExtraInfo, { ...newExtraInfo(), type: r.extra, flags: r.flags ?? 0, gsoSize: r.gsoSize ?? 0, gsoType: r.gsoType ?? 0, xdpHeadroom: r.xdpHeadroom ?? 0 });
    else back.writeResponse(at, writeRxResponse, { id: r.id ?? req.id, offset: r.offset ?? 0, flags: r.flags ?? 0, status: r.status });
  }
  back.pushResponses();
  if (kick) w.be.kickRx();
  w.run();
}

/** netfront's counters and its build_skb/XDP counters in one object. */
export function allStats(w: World): ReturnType<World["fe"]["stats"]> & ReturnType<World["fe"]["rxPathStats"]> {
  return { ...w.fe.stats(), ...w.fe.rxPathStats() };
}
