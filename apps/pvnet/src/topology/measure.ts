/**
 * Timing of a topology's traffic phase, both ways pvnet reports it: the wall clock of this model
 * on the machine at hand, and the virtual time the cost profile charged (what the modelled host
 * would take), from the phase's start to the last delivery.
 */
import type { Hypervisor } from "@pvnet/hypervisor";
import type { FrameReceiver, Host } from "@pvnet/host";
import type { Actor } from "@pvnet/sim";

/**
 * The resource that saturates first: the VCPU (and the pCPU it runs on) busiest during the
 * traffic phase, with the operations that took most of its time. Below `SATURATED` of the phase
 * no CPU is saturated and the run is bound by latency (a window, a timer, a notification chain).
 */
export interface Bottleneck {
  /** e.g. "d0v0 on pCPU 0: grant.copy 31%" (its largest operation), or "latency (busiest: ..., 42%)". */
  readonly name: string;
  readonly kind: "vcpu" | "latency";
  readonly vcpu: string;
  readonly pcpu: number | null;
  /** Busy share of the phase, 0..1. */
  readonly utilisation: number;
  /** The VCPU's three largest operations in the phase, with their shares of its busy time. */
  readonly top: readonly { readonly kind: string; readonly share: number }[];
  /** Virtual time its jobs waited for a pCPU another VCPU held (contention). */
  readonly contentionNs: number;
}

/** A VCPU busy this share of the phase or more is saturated. */
export const SATURATED = 0.9;

export interface PhaseTiming {
  /** Wall-clock speed of the model on this machine. */
  readonly wall: { readonly seconds: number; readonly mpps: number; readonly gbit: number };
  /** What the cost profile predicts a real host would do. */
  readonly modelled: {
    readonly profile: string;
    readonly seconds: number;
    readonly mpps: number;
    readonly gbit: number;
    /** Time charged to each VCPU during the phase. */
    readonly busyNs: Readonly<Record<string, number>>;
    /** What saturates first (absent when nothing was charged). */
    readonly bottleneck?: Bottleneck;
  };
}

type KindTotals = Map<string, number>;
const kindTotals = (a: Actor): KindTotals => new Map(Object.entries(a.account.report().byKind).map(([k, v]) => [k, v.ns]));

export class PhaseMeter {
  private readonly busyBefore: Map<string, number>;
  private readonly kindsBefore: Map<string, KindTotals>;
  private readonly contentionBefore: number[];
  private readonly t0Ns: number;
  private readonly wall0Ms: number;

  constructor(private readonly hv: Hypervisor) {
    this.busyBefore = new Map(hv.sim.allActors().map((a) => [a.name, a.account.busyNs]));
    this.kindsBefore = new Map(hv.sim.allActors().map((a) => [a.name, kindTotals(a)]));
    this.contentionBefore = hv.sim.pcpus?.pcpus.map((p) => p.contentionNs) ?? [];
    this.t0Ns = hv.sim.clock.now();
    this.wall0Ms = performance.now();
  }

  /** End the phase: `packets` frames of `bytes` in all were delivered, the last at `lastDeliveryNs`. */
  finish(packets: number, bytes: number, lastDeliveryNs: number): PhaseTiming {
    const seconds = (performance.now() - this.wall0Ms) / 1000;
    const virtualNs = Math.max(0, lastDeliveryNs - this.t0Ns);
    const busyNs: Record<string, number> = {};
    let busiest: Actor | undefined;
    for (const a of this.hv.sim.allActors()) {
      busyNs[a.name] = Math.round(a.account.busyNs - (this.busyBefore.get(a.name) ?? 0));
      if (busiest === undefined || (busyNs[a.name] as number) > (busyNs[busiest.name] as number)) busiest = a;
    }
    const bottleneck = busiest === undefined || virtualNs === 0 ? undefined : this.bottleneck(busiest, busyNs[busiest.name] as number, virtualNs);
    return {
      wall: { seconds, mpps: packets / seconds / 1e6, gbit: (bytes * 8) / seconds / 1e9 },
      modelled: {
        profile: this.hv.sim.costs.profile.name,
        seconds: virtualNs / 1e9,
        mpps: virtualNs > 0 ? packets / (virtualNs / 1e3) : 0,
        gbit: virtualNs > 0 ? (bytes * 8) / virtualNs : 0,
        busyNs,
        ...(bottleneck === undefined ? {} : { bottleneck }),
      },
    };
  }

  private bottleneck(a: Actor, busy: number, virtualNs: number): Bottleneck {
    const before = this.kindsBefore.get(a.name) ?? new Map<string, number>();
    const top = [...kindTotals(a)]
      .map(([kind, ns]) => ({ kind, ns: ns - (before.get(kind) ?? 0) }))
      .filter((k) => k.ns > 0)
      .sort((x, y) => y.ns - x.ns || (x.kind < y.kind ? -1 : 1))
      .slice(0, 3)
      .map((k) => ({ kind: k.kind, share: busy > 0 ? k.ns / busy : 0 }));
    const p = this.hv.sim.pcpus?.pcpuOf(a);
    const lead = top[0] === undefined ? "" : `: ${top[0].kind} ${(100 * top[0].share).toFixed(0)}%`;
    const where = `${p === undefined ? a.name : `${a.name} on pCPU ${p.id}`}${lead}`;
    const utilisation = Math.min(1, busy / virtualNs);
    const contentionNs = p === undefined ? 0 : p.contentionNs - (this.contentionBefore[p.id] ?? 0);
    const saturated = utilisation >= SATURATED;
    return {
      name: saturated ? where : `latency (busiest: ${where}, ${(100 * utilisation).toFixed(0)}%)`,
      kind: saturated ? "vcpu" : "latency",
      vcpu: a.name,
      pcpu: p?.id ?? null,
      utilisation,
      top,
      contentionNs,
    };
  }
}

/**
 * The traffic phase of a topology: start the generator, run the simulation until it is idle (at
 * most `maxEvents` events, so a livelocked model stops), and time it from the start to the last
 * delivery. The generator's leftovers are freed. The generator is pktgen's (TrafficGenerator) or
 * iperf's (TcpBulkSender).
 */
export function runTrafficPhase(host: Host, generator: { wake(): void; finish(): void }, receiver: FrameReceiver, maxEvents: number): PhaseTiming {
  const meter = new PhaseMeter(host.hv);
  generator.wake();
  const result = host.run({ maxEvents });
  if (result.reason !== "idle") throw new Error(`the run did not settle: ${result.reason} after ${result.events} events`);
  const { sink } = receiver;
  const timing = meter.finish(sink.delivered, sink.bytes, receiver.lastDeliveryNs);
  generator.finish();
  return timing;
}
