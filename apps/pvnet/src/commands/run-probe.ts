/**
 * What `pvnet run` watches while a topology runs, without changing the topology: the scheduler is
 * stepped in slices of `SLICE_EVENTS` (the same events in the same order as one call, so the
 * trace digest and every counter are unchanged); after each slice the probe publishes progress
 * into shared memory and honours a stop request (Ctrl-C) by throwing `RunInterrupted`, which
 * unwinds through the topology's own cleanup (its `finally` closes the host and the xenstore
 * socket). It also records, for the traffic phase, where the modelled time went per operation.
 *
 * It wraps `Hypervisor.prototype.run` and `FrameReceiver.prototype.deliver`, so it is installed
 * only in the worker thread that runs one scenario (`run-worker.ts`), never in a library.
 */
import { Hypervisor } from "@pvnet/hypervisor";
import { type CostReport, DEFAULT_MAX_EVENTS } from "@pvnet/sim";
import { FrameReceiver } from "@pvnet/host";

/** Events per slice: a few milliseconds of model time on a laptop, so Ctrl-C answers at once. */
export const SLICE_EVENTS = 50_000;

/** Slots of the shared progress array (Float64Array). */
export const PROGRESS = { DELIVERED: 0, EVENTS: 1, VIRTUAL_NS: 2, SLOTS: 3 } as const;

/** The run was stopped on request between two slices. */
export class RunInterrupted extends Error {
  override readonly name = "RunInterrupted";
  readonly code = "EINTR";
}

/** Time charged per operation kind, summed over the VCPUs. */
export type OperationTimes = Record<string, { readonly ops: number; readonly ns: number }>;

/** What the probe saw: the last hypervisor, and per-operation time of its busiest run call. */
export interface ProbeState {
  hv: Hypervisor | undefined;
  delivered: number;
  events: number;
  /** Per-operation time of the run call that ran the most events (the traffic phase). */
  trafficOps: OperationTimes;
  trafficEvents: number;
}

function accounts(hv: Hypervisor): CostReport[] {
  return hv.sim.allActors().map((a) => a.account.report());
}

/** Sum over VCPUs of `after - before`, per operation kind. */
function diffOps(before: CostReport[], after: CostReport[]): OperationTimes {
  const out: Record<string, { ops: number; ns: number }> = {};
  after.forEach((a, i) => {
    const b = before[i]?.byKind ?? {};
    for (const [kind, v] of Object.entries(a.byKind)) {
      const ops = v.ops - (b[kind]?.ops ?? 0);
      const ns = v.ns - (b[kind]?.ns ?? 0);
      if (ops === 0 && ns === 0) continue;
      const o = out[kind] ?? { ops: 0, ns: 0 };
      o.ops += ops;
      o.ns += ns;
      out[kind] = o;
    }
  });
  return out;
}

/** Install the probe: progress goes to `progress`, a non-zero `stop[0]` interrupts the run. */
export function installProbe(progress: Float64Array, stop: Int32Array): ProbeState {
  const state: ProbeState = { hv: undefined, delivered: 0, events: 0, trafficOps: {}, trafficEvents: -1 };
  const run = Hypervisor.prototype.run;
  Hypervisor.prototype.run = function slicedRun(this: Hypervisor, limits?: { untilNs?: number; maxEvents?: number }) {
    state.hv = this;
    const maxEvents = limits?.maxEvents ?? DEFAULT_MAX_EVENTS;
    const before = accounts(this);
    let events = 0;
    for (;;) {
      const r = run.call(this, { ...limits, maxEvents: Math.min(SLICE_EVENTS, maxEvents - events) });
      events += r.events;
      state.events += r.events;
      progress[PROGRESS.DELIVERED] = state.delivered;
      progress[PROGRESS.EVENTS] = state.events;
      progress[PROGRESS.VIRTUAL_NS] = this.sim.clock.now();
      if (r.reason !== "event-limit" || events >= maxEvents) {
        if (events > state.trafficEvents) {
          state.trafficEvents = events;
          state.trafficOps = diffOps(before, accounts(this));
        }
        return { ...r, events };
      }
      if (Atomics.load(stop, 0) !== 0) throw new RunInterrupted(`interrupted after ${state.events} events`);
    }
  };
  const deliver = FrameReceiver.prototype.deliver;
  FrameReceiver.prototype.deliver = function countedDeliver(this: FrameReceiver, skb) {
    deliver.call(this, skb);
    state.delivered++;
  };
  return state;
}
