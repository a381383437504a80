/**
 * The worker thread of `pvnet reproduce`: runs every point of the table one after the other with
 * the run probe's hooks in the host's runner (progress, Ctrl-C), posting one message per finished point, then
 * `done`; an interrupt posts what the unfinished point had measured, an error the error. The main
 * thread stays free to draw progress and take signals, as for `pvnet run`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { runDomuDom0 } from "../topology/domu-dom0.js";
import { runDomuDomu } from "../topology/domu-domu.js";
import { type PartialRun, partialRun, RunInterrupted, runProbe } from "./run-probe.js";
import type { ReproducePoint, ReproducePointResult } from "./reproduce.js";

export interface ReproduceWorkerData {
  readonly points: readonly ReproducePoint[];
  /** The cost profile every point runs on (by name: a profile is plain data). */
  readonly profile: string;
  readonly progress: SharedArrayBuffer;
  readonly stop: SharedArrayBuffer;
  /** This module's URL (the boot file of a source checkout imports it). */
  readonly entry: string;
}

export type ReproduceWorkerMessage =
  | { readonly kind: "point"; readonly index: number; readonly result: ReproducePointResult }
  | { readonly kind: "done" }
  | { readonly kind: "interrupted"; readonly index: number; readonly partial: PartialRun }
  | { readonly kind: "error"; readonly index: number; readonly name: string; readonly message: string; readonly stack: string | undefined };

const data = workerData as ReproduceWorkerData;
const { state, hooks } = runProbe(new Float64Array(data.progress), new Int32Array(data.stop));
const post = (m: ReproduceWorkerMessage) => parentPort?.postMessage(m);
const profile = HOST_PROFILES[data.profile];

/** The resource a run report names as saturating first (a name, or an object naming it), if any. */
function bottleneckName(b: unknown): string | undefined {
  if (typeof b === "string") return b;
  if (typeof b !== "object" || b === null) return undefined;
  const o = b as Record<string, unknown>;
  for (const k of ["name", "resource", "vcpu"]) if (typeof o[k] === "string") return o[k] as string;
  return JSON.stringify(b);
}

let index = 0;
try {
  // Invariant: the main thread resolved the profile by this name before starting the worker.
  if (profile === undefined) throw new Error(`no cost profile '${data.profile}'`);
  for (; index < data.points.length; index++) {
    const p = data.points[index] as ReproducePoint;
    const r = p.topology === "domu-domu" ? await runDomuDomu({ ...p.options, profile, hooks }) : await runDomuDom0({ ...p.options, profile, hooks });
    // DomU <-> DomU: guest A's vif, where its TX enters Dom0, says whether the grants were persistent.
    const counters = r.topology === "domu-domu" ? r.counters.sender : r.counters;
    const bottleneck = bottleneckName((r.modelled as { bottleneck?: unknown }).bottleneck);
    post({
      kind: "point",
      index,
      result: {
        mpps: r.modelled.mpps,
        gbit: r.modelled.gbit,
        packetsDelivered: r.packetsDelivered,
        corrupt: r.corrupt,
        persistentGrants: counters.persistent_grants === 1,
        hypercallsPerPacket: r.hypercalls.entries / Math.max(1, r.packetsDelivered),
        traceDigest: r.traceDigest,
        ...(bottleneck === undefined ? {} : { bottleneck }),
      },
    });
  }
  post({ kind: "done" });
} catch (e) {
  if (e instanceof RunInterrupted) {
    post({ kind: "interrupted", index, partial: partialRun(state) });
  } else {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ kind: "error", index, name: err.name, message: err.message, stack: err.stack });
  }
}
