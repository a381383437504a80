/**
 * `pvnet reproduce`: the persistent-grants RFC's pktgen table ("[RFC PATCH 00/13] Persistent grant
 * maps for xen net drivers", xen-devel, May 2015) run on a host profile: DomU <-> Dom0, one queue,
 * pktgen `burst 1` with `clone_skbs`, 64 / 1496 / 65535 bytes, TX and RX seen from the guest, each
 * in the copy/map baseline and with persistent grants, next to the published figures; and the RFC's
 * MiniOS row (a guest busy-polling its TX ring, pktgen `burst 8`, 64 bytes). Every point
 * is one `runDomuDom0`, the same run `pvnet run` and the benches make, in a worker thread so that
 * this thread draws a progress bar and takes Ctrl-C. Prints a table, or a JSON array with --json.
 */
import { Worker } from "node:worker_threads";
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { SingleBar } from "cli-progress";
import { Command, Option } from "commander";
import { decimalInteger } from "../cli-options.js";
import { formatCount, table } from "../cli-format.js";
import type { DomuDom0Options } from "../topology/domu-dom0.js";
import { CliError, EXIT, usageError } from "./command.js";
import { IPERF_WINDOW_BYTES, iperfRows } from "./iperf-rows.js";
import { PUBLISHED_BASELINE_MPPS, PUBLISHED_MINIOS_PERSISTENT_MPPS, PUBLISHED_PERSISTENT_MPPS } from "./published.js";
import type { ReproduceWorkerData, ReproduceWorkerMessage } from "./reproduce-worker.js";
import { PROGRESS } from "./run-probe.js";
import { MAX_PACKETS, MAX_SEED } from "./run.js";

/** The hosts of the RFC: host A (Xeon E5-1650 v2, where the table was measured) and host B (Xeon E5-2697 v2). */
export const REPRODUCE_HOSTS = ["hostA", "hostB"] as const;
export type ReproduceHost = (typeof REPRODUCE_HOSTS)[number];

/** The cost profile a host runs on: the bundled profile of that name (hostB is derived from hostA). */
export function reproduceProfileName(host: ReproduceHost): string {
  if (HOST_PROFILES[host] !== undefined) return host;
  throw usageError(`no cost profile for --host ${host} in this build (profiles: ${Object.keys(HOST_PROFILES).join(", ")})`);
}

/**
 * Frames per point unless --packets says otherwise: enough that the traffic phase dwarfs its ramp
 * (a full ring, a few NAPI budgets), the whole table in a few minutes here.
 */
export const DEFAULT_REPRODUCE_PACKETS: Readonly<Record<number, number>> = Object.freeze({ 64: 30_000, 1496: 20_000, 65535: 2_000 });
/** pktgen clone_skbs of the RFC's runs: one skb resent this many times, so skb allocation costs nothing. */
export const RFC_CLONE_SKBS = 100_000;
/** The RFC's pktgen rows: burst 1. */
export const RFC_BURST = 1;
/** pktgen burst of the RFC's MiniOS row (throughput grows with the batch, the RFC notes). */
export const MINIOS_BURST = 8;
/** The MiniOS row's frame size. */
export const MINIOS_PKT_SIZE = 64;
/** The packet sizes of the RFC's table (Ethernet frame, header included; 65535 is a GSO packet). */
export const RFC_PKT_SIZES = [64, 1496, 65535] as const;

/** One row of the table: its shape and the figures the RFC published for it (Mpps), if any. */
export interface ReproduceRowSpec {
  /** pktgen rows are in Mpps; iperf rows (iperf-rows.ts) in Gbit/s. */
  readonly kind: "pktgen" | "iperf";
  readonly test: string;
  /** pktgen rows and host A's iperf table: DomU <-> Dom0; the DomU <-> DomU iperf rows: guest A to guest B. */
  readonly topology: "domu-dom0" | "domu-domu";
  readonly direction: "tx" | "rx";
  readonly queues: number;
  readonly pktSize: number;
  readonly burst: number;
  readonly cloneSkbs: number;
  /** The guest's netfront busy-polls its TX ring (never sets rsp_event), as the RFC's MiniOS guest. */
  readonly busyPoll: boolean;
  /** iperf rows: TCP flows (`pvnet run --flows`). */
  readonly flows?: number;
  readonly packets: number;
  readonly publishedBaseline: number | null;
  readonly publishedPersistent: number | null;
}

/** One run of the table: a row in one grant mode. Plain data (it crosses to the worker). */
export interface ReproducePoint {
  readonly row: number;
  readonly mode: "baseline" | "persistent";
  readonly topology: ReproduceRowSpec["topology"];
  readonly options: Omit<DomuDom0Options, "profile">;
}

/** What the worker keeps of one point's run report. */
export interface ReproducePointResult {
  readonly mpps: number;
  readonly gbit: number;
  readonly packetsDelivered: number;
  readonly corrupt: number;
  /** The vif's persistent_grants counter: whether persistent grants were in use. */
  readonly persistentGrants: boolean;
  readonly hypercallsPerPacket: number;
  readonly traceDigest: string;
  /** `modelled.bottleneck` of the run report, when the cost model names one. */
  readonly bottleneck?: string;
}

/** A row of `pvnet reproduce --json`. */
export interface ReproduceRow extends ReproduceRowSpec {
  readonly host: ReproduceHost;
  readonly profile: string;
  readonly unit: "Mpps" | "Gbit/s";
  /** Modelled, copy/map baseline and persistent grants (null: not measured, the run was interrupted). */
  readonly baseline: number | null;
  readonly persistent: number | null;
  /** persistent / baseline, modelled and published. */
  readonly ratio: number | null;
  readonly publishedRatio: number | null;
  /** Relative errors of the model against the RFC: modelled / published - 1. */
  readonly ratioError: number | null;
  readonly baselineError: number | null;
  readonly persistentError: number | null;
  readonly bottleneckBaseline: string | null;
  readonly bottleneckPersistent: string | null;
  readonly delivered: number;
  readonly corrupt: number;
}

/** The table's rows for `host` (published figures on host A only), `packets` frames per point if given. */
export function reproduceRows(host: ReproduceHost, packets?: number): ReproduceRowSpec[] {
  const rows: ReproduceRowSpec[] = [];
  for (const direction of ["tx", "rx"] as const) {
    for (const pktSize of RFC_PKT_SIZES) {
      const key = `${direction}-${pktSize}`;
      rows.push({
        kind: "pktgen",
        test: `1 queue ${direction.toUpperCase()}, pkt ${pktSize}`,
        topology: "domu-dom0",
        direction,
        queues: 1,
        pktSize,
        burst: RFC_BURST,
        cloneSkbs: RFC_CLONE_SKBS,
        busyPoll: false,
        packets: packets ?? (DEFAULT_REPRODUCE_PACKETS[pktSize] as number),
        publishedBaseline: host === "hostA" ? (PUBLISHED_BASELINE_MPPS[key] ?? null) : null,
        publishedPersistent: host === "hostA" ? (PUBLISHED_PERSISTENT_MPPS[key] ?? null) : null,
      });
    }
  }
  rows.push({
    kind: "pktgen",
    test: `MiniOS TX, pkt ${MINIOS_PKT_SIZE}, burst ${MINIOS_BURST}, busy-poll`,
    topology: "domu-dom0",
    direction: "tx",
    queues: 1,
    pktSize: MINIOS_PKT_SIZE,
    burst: MINIOS_BURST,
    cloneSkbs: RFC_CLONE_SKBS,
    busyPoll: true,
    packets: packets ?? (DEFAULT_REPRODUCE_PACKETS[MINIOS_PKT_SIZE] as number),
    publishedBaseline: null,
    publishedPersistent: host === "hostA" ? PUBLISHED_MINIOS_PERSISTENT_MPPS : null,
  });
  rows.push(...iperfRows(host, packets));
  return rows;
}

/** The runs of `rows`: each row in the baseline, then with persistent grants. */
export function reproducePoints(rows: readonly ReproduceRowSpec[], seed: number): ReproducePoint[] {
  return rows.flatMap((r, row) =>
    (["baseline", "persistent"] as const).map((mode) => ({
      row,
      mode,
      topology: r.topology,
      options: {
        direction: r.direction,
        seed,
        pktSize: r.pktSize,
        packets: r.packets,
        queues: r.queues,
        burst: r.burst,
        cloneSkbs: r.cloneSkbs,
        // pktgen has no window: it sends while the driver's queue is awake.
        windowBytes: 0,
        ...(r.busyPoll ? { busyPoll: true } : {}),
        ...(r.flows === undefined ? {} : { flows: r.flows, windowBytes: IPERF_WINDOW_BYTES }),
        ...(mode === "persistent" ? { persistent: true } : {}),
      },
    })),
  );
}

const relError = (model: number | null, published: number | null) => (model === null || published === null || published === 0 ? null : model / published - 1);

/** The rows with what was measured of them (a row none of whose points ran is left out). */
export function reproduceResults(
  host: ReproduceHost,
  profile: string,
  rows: readonly ReproduceRowSpec[],
  points: readonly ReproducePoint[],
  results: ReadonlyMap<number, ReproducePointResult>,
): ReproduceRow[] {
  const out: ReproduceRow[] = [];
  rows.forEach((spec, row) => {
    const of = (mode: ReproducePoint["mode"]) => {
      const i = points.findIndex((p) => p.row === row && p.mode === mode);
      return results.get(i);
    };
    const b = of("baseline");
    const p = of("persistent");
    if (b === undefined && p === undefined) return;
    const figure = (x: ReproducePointResult | undefined) => (x === undefined ? null : spec.kind === "iperf" ? x.gbit : x.mpps);
    const baseline = figure(b);
    const persistent = figure(p);
    const ratio = baseline !== null && persistent !== null && baseline > 0 ? persistent / baseline : null;
    const publishedRatio = spec.publishedBaseline !== null && spec.publishedPersistent !== null ? spec.publishedPersistent / spec.publishedBaseline : null;
    out.push({
      ...spec,
      host,
      profile,
      unit: spec.kind === "iperf" ? "Gbit/s" : "Mpps",
      baseline,
      persistent,
      ratio,
      publishedRatio,
      ratioError: relError(ratio, publishedRatio),
      baselineError: relError(baseline, spec.publishedBaseline),
      persistentError: relError(persistent, spec.publishedPersistent),
      bottleneckBaseline: b?.bottleneck ?? null,
      bottleneckPersistent: p?.bottleneck ?? null,
      delivered: (b?.packetsDelivered ?? 0) + (p?.packetsDelivered ?? 0),
      corrupt: (b?.corrupt ?? 0) + (p?.corrupt ?? 0),
    });
  });
  return out;
}

const mpps = (x: number | null) => (x === null ? "" : x >= 1 ? x.toFixed(2) : x.toPrecision(3));
const times = (x: number | null) => (x === null ? "" : `${x.toFixed(2)}x`);
const signed = (x: number | null) => (x === null ? "" : `${x >= 0 ? "+" : ""}${(100 * x).toFixed(0)}%`);

/** The table a person reads. */
export function printReproduce(rows: readonly ReproduceRow[], conditions: { readonly host: string; readonly profile: string; readonly seed: number }): string {
  const body = rows.map((r) => {
    const abs = r.baselineError === null && r.persistentError === null ? "" : `${signed(r.baselineError) || "-"} / ${signed(r.persistentError) || "-"}`;
    const bn = r.bottleneckBaseline === r.bottleneckPersistent ? (r.bottleneckBaseline ?? "") : `${r.bottleneckBaseline ?? "-"} / ${r.bottleneckPersistent ?? "-"}`;
    return [r.test, mpps(r.publishedBaseline), mpps(r.publishedPersistent), mpps(r.baseline), mpps(r.persistent), times(r.publishedRatio), times(r.ratio), signed(r.ratioError), abs, bn];
  });
  const title = `pvnet reproduce --host ${conditions.host}: DomU <-> Dom0 unless the test says, pktgen in Mpps, iperf in Gbit/s (profile ${conditions.profile}, seed ${conditions.seed})`;
  const headers = ["test", "pub base", "pub pers", "model base", "model pers", "pub ratio", "model ratio", "error", "error base/pers", "bottleneck"];
  const align = ["left", "right", "right", "right", "right", "right", "right", "right", "right", "left"] as const;
  const frames = rows.reduce((s, r) => s + r.delivered, 0);
  return `${table(title, headers, body, align)}  error: model / published - 1, of the persistent/baseline ratio; then of each absolute figure.\n  ${formatCount(frames)} frames delivered in all, ${formatCount(rows.reduce((s, r) => s + r.corrupt, 0))} corrupt.\n`;
}

/** A run longer than this shows a progress bar (PVNET_PROGRESS_AFTER_MS overrides it, as for `pvnet run`). */
const PROGRESS_AFTER_MS = ((v) => (Number.isSafeInteger(v) && v >= 0 ? v : 1000))(Number(process.env.PVNET_PROGRESS_AFTER_MS ?? Number.NaN));
/** How often the progress bar is redrawn. */
const PROGRESS_EVERY_MS = 100;

/** Start the table's points in one worker (the boot file of `pvnet run` loads it in a source checkout). */
function startReproduceWorker(points: readonly ReproducePoint[], profile: string): { worker: Worker; progress: SharedArrayBuffer; stop: SharedArrayBuffer } {
  const progress = new SharedArrayBuffer(PROGRESS.SLOTS * Float64Array.BYTES_PER_ELEMENT);
  const stop = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = fromSource ? new URL("./reproduce-worker.ts", import.meta.url) : new URL("./reproduce-worker.js", import.meta.url);
  const data: ReproduceWorkerData = { points, profile, progress, stop, entry: entry.href };
  const worker = new Worker(fromSource ? new URL("./run-worker-boot.mjs", import.meta.url) : entry, { workerData: data });
  return { worker, progress, stop };
}

interface ReproduceOutcome {
  readonly results: Map<number, ReproducePointResult>;
  readonly end: Extract<ReproduceWorkerMessage, { kind: "done" | "interrupted" | "error" }>;
}

/**
 * Run every point in the worker; Ctrl-C asks it to stop between two slices of the simulation.
 * `onPoint` hears of each finished point, with `stop` to ask the same as Ctrl-C.
 */
export function runReproduce(
  points: readonly ReproducePoint[],
  profile: string,
  showProgress: boolean,
  onPoint?: (index: number, result: ReproducePointResult, stop: () => void) => void,
): Promise<ReproduceOutcome> {
  const { worker, progress, stop } = startReproduceWorker(points, profile);
  const seen = new Float64Array(progress);
  const total = points.reduce((s, p) => s + p.options.packets, 0);
  const results = new Map<number, ReproducePointResult>();
  let bar: SingleBar | undefined;
  let redraw: NodeJS.Timeout | undefined;
  const startBar = setTimeout(() => {
    if (!showProgress) return;
    bar = new SingleBar({ format: "{bar} {percentage}% | point {point}/{points} | {value}/{total} frames | {eta_formatted} left", hideCursor: true, clearOnComplete: true });
    bar.start(total, seen[PROGRESS.DELIVERED] ?? 0, { point: results.size + 1, points: points.length });
    redraw = setInterval(() => bar?.update(seen[PROGRESS.DELIVERED] ?? 0, { point: Math.min(points.length, results.size + 1) }), PROGRESS_EVERY_MS);
  }, PROGRESS_AFTER_MS);
  const onSigint = () => Atomics.store(new Int32Array(stop), 0, 1);
  process.on("SIGINT", onSigint);
  return new Promise<ReproduceOutcome>((resolve, reject) => {
    let end: ReproduceOutcome["end"] | undefined;
    worker.on("message", (m: ReproduceWorkerMessage) => {
      if (m.kind === "point") {
        results.set(m.index, m.result);
        onPoint?.(m.index, m.result, onSigint);
      } else end = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      clearTimeout(startBar);
      if (redraw !== undefined) clearInterval(redraw);
      bar?.stop();
      process.off("SIGINT", onSigint);
      if (end !== undefined) resolve({ results, end });
      else reject(new Error(`the reproduce worker exited with code ${code} without a result`));
    });
  });
}

interface ReproduceOptions {
  host: ReproduceHost;
  packets?: number;
  seed: number;
  json: boolean;
  progress: boolean;
}

async function action(o: ReproduceOptions): Promise<void> {
  const profile = reproduceProfileName(o.host);
  const rows = reproduceRows(o.host, o.packets);
  const points = reproducePoints(rows, o.seed);
  const showProgress = o.progress && !o.json && process.stdout.isTTY === true;
  const { results, end } = await runReproduce(points, profile, showProgress);
  const measured = reproduceResults(o.host, profile, rows, points, results);
  if (end.kind === "error") {
    const p = points[end.index];
    const what = p === undefined ? "" : ` (${rows[p.row]?.test}, ${p.mode})`;
    throw new CliError(`${end.name}: ${end.message}${what}`, EXIT.FAILED, { cause: Object.assign(new Error(end.message), { name: end.name, stack: end.stack }) });
  }
  if (o.json) process.stdout.write(`${JSON.stringify(measured)}\n`);
  else process.stdout.write(printReproduce(measured, { host: o.host, profile, seed: o.seed }));
  if (end.kind === "interrupted") {
    process.stderr.write(`pvnet reproduce: interrupted during point ${end.index + 1} of ${points.length}; ${results.size} measured\n`);
    process.exitCode = EXIT.INTERRUPTED;
    return;
  }
  if (measured.some((r) => r.corrupt !== 0)) process.exitCode = EXIT.FAILED;
}

export function reproduceCommand(): Command {
  return new Command("reproduce")
    .summary("run the persistent-grants RFC's pktgen and iperf tables on a host profile, next to the published figures")
    .description(
      "Runs the pktgen rows of the persistent-grants RFC (xen-devel, May 2015): DomU <-> Dom0, one queue, burst 1, " +
        `clone_skbs ${RFC_CLONE_SKBS}, ${RFC_PKT_SIZES.join(" / ")} bytes, guest TX and RX, each in the copy/map baseline and with ` +
        "persistent grants. Prints per row the published and modelled figures, both persistent/baseline ratios, the " +
        "model's error and the resource the cost model names as the bottleneck. Also the RFC's MiniOS row: a guest " +
        `busy-polling its TX ring (it never sets rsp_event), pktgen burst ${MINIOS_BURST}, ${MINIOS_PKT_SIZE} bytes. And the RFC's iperf rows ` +
        "(Gbit/s): TCP, one flow per queue, 64 KiB segments, 1-3 queues TX and RX (host B: 1, 2, 3, 4 and 6 queues). Published figures exist for host A only. " +
        "Ctrl-C stops between two slices of the simulation and prints the rows measured so far.",
    )
    .addOption(new Option("--host <name>", "the RFC's host whose cost profile runs the table").choices([...REPRODUCE_HOSTS]).default("hostA"))
    .addOption(
      new Option("--packets <n>", `frames per point (1..${MAX_PACKETS}); default ${Object.entries(DEFAULT_REPRODUCE_PACKETS).map(([s, n]) => `${n} at ${s} bytes`).join(", ")}`).argParser(
        decimalInteger(1, MAX_PACKETS),
      ),
    )
    .addOption(new Option("--seed <n>", `seed of the deterministic runs (0..${MAX_SEED})`).argParser(decimalInteger(0, MAX_SEED)).default(1))
    .addOption(new Option("--json", "print a JSON array of rows instead of the table").default(false))
    .addOption(new Option("--no-progress", "no progress bar (it is drawn only on a terminal, without --json, for runs over a second)"))
    .addHelpText("after", "\nExamples:\n  pvnet reproduce\n  pvnet reproduce --host hostA --packets 2000 --json")
    .action(action);
}
