/**
 * What `pvnet run` watches while a topology runs, without changing the topology: hooks of the
 * host's runner (@pvnet/host `RunHooks`), which steps the scheduler in slices of `SLICE_EVENTS`
 * (the same events in the same order as one call, so the trace digest and every counter are
 * unchanged). After each slice the probe publishes progress into shared memory and honours a stop
 * request (Ctrl-C) by throwing `RunInterrupted`, which unwinds through the topology's own cleanup
 * (its `finally` closes the host). It also records, for the traffic phase (the run call with the
 * most events), where the modelled time went per operation.
 */
import { DEFAULT_SLICE_EVENTS, type Host, type RunHooks } from "@pvnet/host";
import type { Hypervisor } from "@pvnet/hypervisor";
import type { CostReport } from "@pvnet/sim";

/** Events per slice: a few milliseconds of wall time here, so Ctrl-C and xenstore peers are answered at once. */
export const SLICE_EVENTS = DEFAULT_SLICE_EVENTS;

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

/**
 * The probe as the host runner's hooks: progress goes to `progress`, a non-zero `stop[0]`
 * interrupts the run between two slices. Pass `hooks` in the topology's options.
 */
export function runProbe(progress: Float64Array, stop: Int32Array, sliceEvents = SLICE_EVENTS): { state: ProbeState; hooks: RunHooks } {
  const state: ProbeState = { hv: undefined, delivered: 0, events: 0, trafficOps: {}, trafficEvents: -1 };
  let before: CostReport[] = [];
  let eventsBefore = 0;
  const publish = (h: Host, events: number): void => {
    state.events = eventsBefore + events;
    state.delivered = h.delivered();
    progress[PROGRESS.DELIVERED] = state.delivered;
    progress[PROGRESS.EVENTS] = state.events;
    progress[PROGRESS.VIRTUAL_NS] = h.hv.sim.clock.now();
  };
  const hooks: RunHooks = {
    sliceEvents,
    attached(h) {
      state.hv = h.hv;
    },
    runStarted(h) {
      before = accounts(h.hv);
      eventsBefore = state.events;
    },
    betweenSlices(h, events) {
      publish(h, events);
      if (Atomics.load(stop, 0) !== 0) throw new RunInterrupted(`interrupted after ${state.events} events`);
    },
    runEnded(h, result) {
      publish(h, result.events);
      if (result.events > state.trafficEvents) {
        state.trafficEvents = result.events;
        state.trafficOps = diffOps(before, accounts(h.hv));
      }
    },
  };
  return { state, hooks };
}

/** What was measured when a run was interrupted. */
export interface PartialRun {
  readonly delivered: number;
  readonly events: number;
  readonly virtualNs: number;
  readonly hypercalls: unknown;
  readonly busyNs: Record<string, number>;
}

/** The partial measurement a worker posts when Ctrl-C stopped its run (pvnet run and reproduce). */
export function partialRun(state: ProbeState): PartialRun {
  const hv = state.hv;
  return {
    delivered: state.delivered,
    events: state.events,
    virtualNs: hv?.sim.clock.now() ?? 0,
    hypercalls: hv?.stats.snapshot(),
    busyNs: Object.fromEntries((hv?.sim.allActors() ?? []).map((a) => [a.name, Math.round(a.account.busyNs)])),
  };
}
