/**
 * The worker thread of `pvnet run`: runs one scenario with the probe's hooks in its host's runner
 * (progress, Ctrl-C, per-operation time) and posts one message: the report, the error that ended the run, or what
 * was measured before an interrupt. The main thread stays free to draw progress and take signals.
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { type DomuDom0Options, runDomuDom0 } from "../topology/domu-dom0.js";
import { runDomuDomu } from "../topology/domu-domu.js";
import { type ManyGuestsOptions, runManyGuests } from "../topology/many-guests.js";
import { runDomuDom0Threaded, runDomuDomuThreaded } from "../topology/threaded.js";
import { type OperationTimes, type PartialRun, partialRun, RunInterrupted, runProbe } from "./run-probe.js";

export interface RunWorkerData {
  readonly topology: "domu-dom0" | "domu-domu" | "many-guests";
  /** deterministic (one seeded scheduler, this thread) or threaded (a worker_thread per domain kernel). */
  readonly mode: "deterministic" | "threaded";
  readonly options: DomuDom0Options | ManyGuestsOptions;
  readonly progress: SharedArrayBuffer;
  readonly stop: SharedArrayBuffer;
  /** The store's end of the xenstore relay the main thread listens with (`--xenstored`). */
  readonly xenstorePort?: MessagePort;
  /** This module's URL (the boot file of a source checkout imports it). */
  readonly entry: string;
}

export type { PartialRun } from "./run-probe.js";

export type RunWorkerMessage =
  | {
      readonly kind: "report";
      readonly report: Awaited<ReturnType<typeof runDomuDom0>> | Awaited<ReturnType<typeof runDomuDomu>> | Awaited<ReturnType<typeof runManyGuests>>
        | Awaited<ReturnType<typeof runDomuDom0Threaded>>
        | Awaited<ReturnType<typeof runDomuDomuThreaded>>;
      readonly operations: OperationTimes;
    }
  | { readonly kind: "interrupted"; readonly partial: PartialRun }
  | { readonly kind: "error"; readonly name: string; readonly message: string; readonly code: string | undefined; readonly stack: string | undefined };

const data = workerData as RunWorkerData;
const { state, hooks } = runProbe(new Float64Array(data.progress), new Int32Array(data.stop));
const post = (m: RunWorkerMessage) => parentPort?.postMessage(m);

/** The deterministic run: the probe's hooks in the host's runner, the live store between slices. */
async function runDeterministic(): Promise<void> {
  const { xenstorePort } = data;
  // The live store: requests the main thread relays are served between two slices of each run.
  const attached = hooks.attached;
  const options = {
    ...data.options,
    hooks: {
      ...hooks,
      attached: (host: Parameters<NonNullable<typeof attached>>[0]) => {
        attached?.(host);
        if (xenstorePort !== undefined) host.serveXenstorePort(xenstorePort);
      },
    },
  };
  const report =
    data.topology === "many-guests"
      ? await runManyGuests(options as ManyGuestsOptions)
      : data.topology === "domu-domu"
        ? await runDomuDomu(options as DomuDom0Options)
        : await runDomuDom0(options as DomuDom0Options);
  post({ kind: "report", report, operations: state.trafficOps });
}

try {
  if (data.mode === "threaded") {
    // The VCPU threads are this thread's workers; it only coordinates them.
    const options = data.options as DomuDom0Options;
    // With --xenstored the store's end of the relay goes on to Dom0's VCPU thread.
    const store = data.xenstorePort === undefined ? {} : { xenstorePort: data.xenstorePort };
    const report = data.topology === "domu-domu" ? await runDomuDomuThreaded(options, store) : await runDomuDom0Threaded(options, store);
    post({ kind: "report", report, operations: state.trafficOps });
  } else await runDeterministic();
} catch (e) {
  if (e instanceof RunInterrupted) {
    post({ kind: "interrupted", partial: partialRun(state) });
  } else {
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (err as { code?: unknown }).code;
    post({ kind: "error", name: err.name, message: err.message, code: typeof code === "string" ? code : undefined, stack: err.stack });
  }
} finally {
  // Whatever the topology did not close: the port's listener would keep this thread alive.
  data.xenstorePort?.close();
}
