/**
 * The scenarios `pvnet report` runs: DomU -> Dom0 (tx) and Dom0 -> DomU (rx), one queue, at the
 * three packet sizes the published pktgen rows use, with and without persistent grants, plus one
 * TX run of the 51-slot worst-case layout. Each runs in its own worker thread through `pvnet run`'s
 * worker (`commands/run-worker.ts`), so the per-operation time of its traffic phase is recorded
 * exactly as `pvnet run` records it; a few run side by side.
 */
import { availableParallelism } from "node:os";
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { SEED5_WORST_CASE, skbDescLen } from "@pvnet/skb-model";
import { startRunWorker } from "../commands/run.js";
import type { RunWorkerMessage } from "../commands/run-worker.js";
import type { DomuDom0Options, RunReport } from "../topology/domu-dom0.js";

/** The packet sizes of the published host-A pktgen rows (64 B, a 1500-MTU frame, a 64 KiB GSO packet). */
export const REPORT_SIZES = [64, 1496, 65535] as const;
export const REPORT_DIRECTIONS = ["tx", "rx"] as const;
export const GRANT_MODES = ["baseline", "persistent"] as const;
export type GrantMode = (typeof GRANT_MODES)[number];

/** Default frames per scenario: enough for a steady modelled rate, few enough that the report takes seconds. */
export const DEFAULT_REPORT_PACKETS = 1000;
/** Scenarios run at once: one worker thread each, never more than the cores. */
const MAX_PARALLEL = 4;

/** One scenario of the report. */
export interface ReportScenario {
  /** e.g. "tx-1496-persistent", "tx-seed5-baseline". */
  readonly id: string;
  readonly direction: "tx" | "rx";
  readonly pktSize: number;
  readonly mode: GrantMode;
  /** The 51-slot worst-case layout (`pvnet run --layout seed5`) instead of the default one. */
  readonly seed5Layout: boolean;
}

/** What one scenario measured: the run report and the modelled time per operation of its traffic phase. */
export interface ScenarioResult {
  readonly scenario: ReportScenario;
  readonly report: RunReport;
  readonly operations: Readonly<Record<string, { readonly ops: number; readonly ns: number }>>;
}

/** Conditions every scenario of one report shares. */
export interface ReportConditions {
  readonly packets: number;
  readonly seed: number;
  readonly profile: string;
}

/** Every scenario of the report, in the order they are listed. */
export function reportScenarios(): ReportScenario[] {
  const out: ReportScenario[] = [];
  for (const direction of REPORT_DIRECTIONS) {
    for (const mode of GRANT_MODES) {
      for (const pktSize of REPORT_SIZES) out.push({ id: `${direction}-${pktSize}-${mode}`, direction, pktSize, mode, seed5Layout: false });
    }
  }
  out.push({ id: "tx-seed5-baseline", direction: "tx", pktSize: skbDescLen(SEED5_WORST_CASE), mode: "baseline", seed5Layout: true });
  return out;
}

/** The options `pvnet run` would build for the scenario. */
function runOptions(s: ReportScenario, c: ReportConditions): DomuDom0Options {
  const profile = HOST_PROFILES[c.profile];
  if (profile === undefined) throw new Error(`unknown cost profile '${c.profile}'`);
  return {
    direction: s.direction,
    seed: c.seed,
    pktSize: s.pktSize,
    packets: c.packets,
    profile,
    ...(s.seed5Layout ? { layout: SEED5_WORST_CASE } : {}),
    ...(s.mode === "persistent" ? { persistent: true } : {}),
  };
}

/** Run one scenario in `pvnet run`'s worker thread; rejects with the run's own error. */
function runInWorker(options: DomuDom0Options): Promise<Extract<RunWorkerMessage, { kind: "report" }>> {
  const { worker } = startRunWorker("domu-dom0", options);
  return new Promise((resolve, reject) => {
    let message: RunWorkerMessage | undefined;
    worker.once("message", (m: RunWorkerMessage) => {
      message = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (message === undefined) reject(new Error(`the run's worker exited with code ${code} without a report`));
      else if (message.kind === "report") resolve(message);
      else if (message.kind === "error") reject(Object.assign(new Error(`${message.name}: ${message.message}`), { stack: message.stack }));
      else reject(new Error("the run was interrupted"));
    });
  });
}

/**
 * Run every scenario (a few at once) and return their results in `reportScenarios()` order.
 * `onDone` is called as each one finishes (for a progress line).
 */
export async function runReportScenarios(c: ReportConditions, onDone?: (r: ScenarioResult, done: number, total: number) => void): Promise<ScenarioResult[]> {
  const scenarios = reportScenarios();
  const results: ScenarioResult[] = new Array(scenarios.length);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const s = scenarios[i];
      if (s === undefined) return;
      const m = await runInWorker(runOptions(s, c));
      if (m.report.topology !== "domu-dom0") throw new Error(`scenario ${s.id} ran ${m.report.topology}`);
      const r: ScenarioResult = { scenario: s, report: m.report, operations: m.operations };
      results[i] = r;
      onDone?.(r, ++done, scenarios.length);
    }
  };
  const lanes = Math.max(1, Math.min(MAX_PARALLEL, availableParallelism(), scenarios.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return results;
}
