/**
 * What the toolstack and Dom0 do for a vif on a modelled host: size and boot a domain, give its
 * kernel memory (page pool and skb allocator), add a vif through xenstore as libxl does and
 * probe the guest's netfront on it, and after `xl network-detach` audit what is left.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import type { Netback } from "@pvnet/netback";
import { Netfront, type NetfrontOptions } from "@pvnet/netfront";
import { PagePool, SkbAllocator } from "@pvnet/skb-model";
import { libxlDeviceGenericAdd } from "@pvnet/xenstore";
import { formatMac } from "./frame.js";
import type { Host, Kernel } from "./host.js";

/** Pages for a domain: ring pages and RX buffers (about 260 frames a queue) plus traffic. */
export const PAGES_PER_QUEUE = 2048;

/** Bound on live skbs of one domain's allocator. */
const MAX_SKBS = 4096;

/**
 * A domain's kernel memory: its page pool and skb allocator, charged to the domain's VCPU that
 * runs the allocating or freeing code (the hypervisor's per-CPU cost sink of the domain).
 */
export interface KernelMemory {
  readonly pool: PagePool;
  readonly skbs: SkbAllocator;
}

/**
 * A domain's kernel memory for `queues` vif queues: a page pool bounded to what the rings and RX
 * buffers need plus traffic, and an skb allocator on it, both charging the domain's per-CPU costs.
 */
export function kernelMemory(host: Host, kernel: Kernel, queues: number): KernelMemory {
  const costs = host.hv.cpuCosts(kernel.domain);
  const pool = new PagePool(kernel.domain, { limitFrames: PAGES_PER_QUEUE * (queues + 1), costs });
  return { pool, skbs: new SkbAllocator({ pool, maxSkbs: MAX_SKBS, costs }) };
}

/** Boot a domain sized for `queues` queues: one VCPU per queue plus one for a traffic generator. */
export function bootForQueues(host: Host, name: string, queues: number): Kernel {
  return host.boot(name, PAGES_PER_QUEUE * (queues + 2), queues + 1);
}

/**
 * xl network-attach: the toolstack adds vif `devid` of `guest` (netback, already watching, probes
 * it), then the guest's netfront probes its half. Both walk xenbus to Connected when the
 * simulation runs.
 */
export function attachVif(
  host: Host,
  guest: Kernel,
  memory: KernelMemory,
  options: { readonly devid: number; readonly mac: Uint8Array; readonly queues: number } & Pick<NetfrontOptions, "onReceive" | "onQueueWake" | "persistentGrants" | "busyPoll" | "rxBuildSkb" | "ctrl">,
): Netfront {
  libxlDeviceGenericAdd(host.toolstack, {
    devicetype: "vif",
    frontendDomid: guest.domain.domid,
    devid: options.devid,
    frontendKeys: { mac: formatMac(options.mac) },
  });
  return new Netfront(
    { ...host.hv.kernelOps(), domain: guest.domain, gnttab: guest.gnttab, xenbus: guest.xenbus, skbs: memory.skbs },
    {
      devid: options.devid,
      maxQueues: options.queues,
      onReceive: options.onReceive,
      ...(options.onQueueWake === undefined ? {} : { onQueueWake: options.onQueueWake }),
      ...(options.persistentGrants === true ? { persistentGrants: true } : {}),
      ...(options.busyPoll === true ? { busyPoll: true } : {}),
      ...(options.rxBuildSkb === true ? { rxBuildSkb: true } : {}),
      ...(options.ctrl === undefined ? {} : { ctrl: options.ctrl }),
      vcpuOf: (q) => guest.domain.vcpus[q % options.queues] as Vcpu,
    },
  );
}

/** What is left after every vif was detached: every count is 0 when nothing leaked. */
export interface TeardownAudit {
  readonly dom0Grants: { readonly maps: number; readonly handles: number; readonly pins: number };
  readonly guestGrants: { readonly maps: number; readonly handles: number; readonly pins: number };
  readonly netback: Readonly<Record<string, number>>;
  readonly netfront: Readonly<Record<string, number>>;
  readonly dom0PagesInUse: number;
  readonly guestPagesInUse: number;
  readonly eventChannelsOpen: number;
}

/**
 * Detach every frontend (xl network-detach: the frontend closes, the backend follows), run the
 * teardown to completion, and count what is left, summed over the guests.
 */
export function detachAndAudit(
  host: Host,
  dom0: Kernel,
  dom0Memory: KernelMemory,
  netback: Netback,
  guests: ReadonlyArray<{ readonly kernel: Kernel; readonly memory: KernelMemory; readonly netfront: Netfront }>,
): TeardownAudit {
  const { hv } = host;
  for (const g of guests) g.netfront.remove();
  host.run({ maxEvents: 1_000_000 });
  dom0Memory.skbs.drain();
  const guestGrants = { maps: 0, handles: 0, pins: 0 };
  const netfront: Record<string, number> = {};
  let guestPagesInUse = 0;
  let eventChannelsOpen = hv.evtchnOf(dom0.domain.domid).openPorts().length;
  for (const g of guests) {
    g.memory.skbs.drain();
    const o = host.grants.outstanding(g.kernel.domain);
    guestGrants.maps += o.maps;
    guestGrants.handles += o.handles;
    guestGrants.pins += o.pins;
    for (const [k, v] of Object.entries(g.netfront.outstanding())) netfront[k] = (netfront[k] ?? 0) + v;
    guestPagesInUse += g.memory.pool.pagesInUse;
    eventChannelsOpen += hv.evtchnOf(g.kernel.domain.domid).openPorts().length;
  }
  return {
    dom0Grants: host.grants.outstanding(dom0.domain),
    guestGrants,
    netback: { ...netback.outstanding() },
    netfront,
    dom0PagesInUse: dom0Memory.pool.pagesInUse,
    guestPagesInUse,
    eventChannelsOpen,
  };
}
