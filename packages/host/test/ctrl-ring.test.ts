/**
 * The control ring end to end in the DomU <-> Dom0 topology: netback offering feature-ctrl-ring,
 * a guest netfront with the opt-in control client (what a Windows PV driver does; Linux netfront
 * has none) setting a Toeplitz key, flags and mapping over 4 queues; Dom0's packets to the guest
 * then arrive on the queue each flow's hash maps to, byte-exact.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import { toeplitzHash, xenvifCtrl, xenvifStartXmit } from "@pvnet/netback";
import { Netback } from "@pvnet/netback";
import { Netfront, XennetCtrlRing } from "@pvnet/netfront";
import { SkbComposer } from "@pvnet/skb-model";
import { libxlDeviceGenericAdd } from "@pvnet/xenstore";
import { expect, test } from "vitest";
import { bootForQueues, Host, kernelMemory } from "../src/index.js";

/** netif.h: XEN_NETIF_CTRL_HASH_TYPE_IPV4 / _IPV4_TCP, XEN_NETIF_CTRL_STATUS_SUCCESS (this package does not depend on @pvnet/netif). */
const XEN_NETIF_CTRL_HASH_TYPE_IPV4 = 1;
const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = 2;
const XEN_NETIF_CTRL_STATUS_SUCCESS = 0;

const MS_KEY = Uint8Array.from(Buffer.from("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa", "hex"));

test("ctrl-ring hash negotiation end to end: 4 queues, RX flows on the queues the Toeplitz mapping names, byte-exact", () => {
  const QUEUES = 4;
  const host = new Host({ seed: 3 });
  const dom0 = bootForQueues(host, "Domain-0", QUEUES);
  const guest = bootForQueues(host, "guest", QUEUES);
  const dom0Memory = kernelMemory(host, dom0, QUEUES);
  const guestMemory = kernelMemory(host, guest, QUEUES);
  const netback = new Netback(
    { ...host.kernelOps(), domain: dom0.domain, grants: host.grants, xenbus: dom0.xenbus, skbs: dom0Memory.skbs },
    { ctrlRing: true, onReceive: (_vif, skb) => skb.free() },
  );
  libxlDeviceGenericAdd(host.toolstack, { devicetype: "vif", frontendDomid: guest.domain.domid, devid: 0, frontendKeys: { mac: "00:16:3e:00:00:01" } });
  const ctrl = new XennetCtrlRing();
  const got: Uint8Array[][] = [[], [], [], []];
  const netfront = new Netfront(
    { ...host.hv.kernelOps(), domain: guest.domain, gnttab: guest.gnttab, xenbus: guest.xenbus, skbs: guestMemory.skbs },
    {
      devid: 0,
      maxQueues: QUEUES,
      ctrl,
      onReceive: (skb, q) => {
        got[q]!.push(skb.toBytes());
        skb.free();
      },
      vcpuOf: (q) => guest.domain.vcpus[q % QUEUES] as Vcpu,
    },
  );
  host.hv.run({ maxEvents: 200_000 });
  expect(netfront.connected && netfront.numQueues === QUEUES).toBe(true);
  expect(ctrl.connected).toBe(true);
  const vif = netback.vif(guest.domain.domid, 0)!;
  expect(xenvifCtrl(vif)).toBeDefined();
  const table = [2, 0, 3, 1, 1, 3, 0, 2, 0, 1, 2, 3, 3, 2, 1, 0];
  expect(ctrl.setToeplitz(MS_KEY, XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, table)).toBe(true);
  host.hv.run({ maxEvents: 200_000 });
  expect(ctrl.replies.map((r) => r.status)).toEqual(new Array(5).fill(XEN_NETIF_CTRL_STATUS_SUCCESS));
  expect(xenvifCtrl(vif)!.hash.liveMapping()).toEqual(table);

  const composer = new SkbComposer(dom0Memory.skbs);
  const expected: Uint8Array[][] = [[], [], [], []];
  for (let flow = 0; flow < 24; flow++) {
    const src = [192, 168, 0, 1 + flow];
    const dst = [192, 168, 1, 2];
    const sp = 33000 + 13 * flow;
    const dp = 5201;
    const q = table[toeplitzHash(MS_KEY, 40, Uint8Array.from([...src, ...dst, sp >> 8, sp & 0xff, dp >> 8, dp & 0xff]), 12) % table.length]!;
    for (let seq = 0; seq < 3; seq++) {
      const f = new Uint8Array(14 + 20 + 20 + 200);
      f.set([0, 0x16, 0x3e, 0, 0, 1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00]);
      f.set([0x45, 0, 0, 240, 0, 0, 0x40, 0, 64, 6, 0, 0, ...src, ...dst], 14);
      f.set([sp >> 8, sp & 0xff, dp >> 8, dp & 0xff], 34);
      f.fill((flow * 3 + seq) & 0xff, 54);
      expected[q]!.push(f);
      xenvifStartXmit(vif, composer.compose({ linearLen: f.length }, f)!);
    }
    host.hv.run({ maxEvents: 200_000 });
  }
  for (let q = 0; q < QUEUES; q++) expect(got[q]).toEqual(expected[q]);
  expect(expected.filter((e) => e.length > 0).length).toBeGreaterThanOrEqual(3);
});
