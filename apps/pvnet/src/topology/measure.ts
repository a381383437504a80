/**
 * Timing of a topology's traffic phase, both ways pvnet reports it: the wall clock of this model
 * on the machine at hand, and the virtual time the cost profile charged (what the modelled host
 * would take), from the phase's start to the last delivery.
 */
import type { Hypervisor } from "@pvnet/hypervisor";
import type { FrameReceiver, Host, TrafficGenerator } from "@pvnet/host";

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
  };
}

export class PhaseMeter {
  private readonly busyBefore: Map<string, number>;
  private readonly t0Ns: number;
  private readonly wall0Ms: number;

  constructor(private readonly hv: Hypervisor) {
    this.busyBefore = new Map(hv.sim.allActors().map((a) => [a.name, a.account.busyNs]));
    this.t0Ns = hv.sim.clock.now();
    this.wall0Ms = performance.now();
  }

  /** End the phase: `packets` frames of `bytes` in all were delivered, the last at `lastDeliveryNs`. */
  finish(packets: number, bytes: number, lastDeliveryNs: number): PhaseTiming {
    const seconds = (performance.now() - this.wall0Ms) / 1000;
    const virtualNs = Math.max(0, lastDeliveryNs - this.t0Ns);
    const busyNs: Record<string, number> = {};
    for (const a of this.hv.sim.allActors()) busyNs[a.name] = Math.round(a.account.busyNs - (this.busyBefore.get(a.name) ?? 0));
    return {
      wall: { seconds, mpps: packets / seconds / 1e6, gbit: (bytes * 8) / seconds / 1e9 },
      modelled: {
        profile: this.hv.sim.costs.profile.name,
        seconds: virtualNs / 1e9,
        mpps: virtualNs > 0 ? packets / (virtualNs / 1e3) : 0,
        gbit: virtualNs > 0 ? (bytes * 8) / virtualNs : 0,
        busyNs,
      },
    };
  }
}

/**
 * The traffic phase of a topology: start the generator, run the simulation until it is idle (at
 * most `maxEvents` events, so a livelocked model stops), and time it from the start to the last
 * delivery. The generator's leftovers are freed.
 */
export function runTrafficPhase(host: Host, generator: TrafficGenerator, receiver: FrameReceiver, maxEvents: number): PhaseTiming {
  const meter = new PhaseMeter(host.hv);
  generator.wake();
  const result = host.run({ maxEvents });
  if (result.reason !== "idle") throw new Error(`the run did not settle: ${result.reason} after ${result.events} events`);
  const { sink } = receiver;
  const timing = meter.finish(sink.delivered, sink.bytes, receiver.lastDeliveryNs);
  generator.finish();
  return timing;
}
