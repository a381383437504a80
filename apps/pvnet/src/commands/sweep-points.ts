/**
 * The points of `pvnet sweep`: the cartesian product of its axes, each one `(scenario, seed)` that
 * `pvnet run` can run, and the function that runs one. A point's options are the ones `pvnet run`
 * builds from the same command line (its defaults for everything a sweep does not vary), so a
 * point's report is the `pvnet run --json` report of that command line, wherever it runs: on this
 * thread, in a pool worker thread, or in a `pvnet worker` process on another machine.
 */
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { DEFAULT_WINDOW_BYTES, type DomuDom0Options, type RunReport, runDomuDom0 } from "../topology/domu-dom0.js";
import { type DomuDomuReport, runDomuDomu } from "../topology/domu-domu.js";

export type SweepTopology = "domu-dom0" | "domu-domu";
export type SweepDirection = "tx" | "rx";
/** baseline: grant copy / map per packet; persistent: persistent grants in netfront and netback. */
export type GrantMode = "baseline" | "persistent";

/** One point of a sweep: the `pvnet run` command line it stands for is `pointCommandLine(point)`. */
export interface SweepPoint {
  readonly topology: SweepTopology;
  readonly direction: SweepDirection;
  readonly pktSize: number;
  readonly queues: number;
  readonly mode: GrantMode;
  readonly profile: string;
  readonly seed: number;
  readonly packets: number;
}

/** The axes of a sweep: every combination is a point (domu-domu only sends tx). */
export interface SweepAxes {
  readonly topologies: readonly SweepTopology[];
  readonly directions: readonly SweepDirection[];
  readonly sizes: readonly number[];
  readonly queues: readonly number[];
  readonly modes: readonly GrantMode[];
  readonly profiles: readonly string[];
  readonly seeds: readonly number[];
  readonly packets: number;
}

/** A point's result: the `pvnet run --json` report of its command line. */
export type PointReport = RunReport | DomuDomuReport;

/**
 * Every point of the axes, in a fixed order (topology, direction, size, queues, mode, profile,
 * seed; the last varies fastest). domu-domu has no rx: guest A sends to guest B, as `pvnet run
 * --topology domu-domu` refuses `--direction rx`; those combinations are left out.
 */
export function sweepPoints(axes: SweepAxes): SweepPoint[] {
  const points: SweepPoint[] = [];
  for (const topology of axes.topologies)
    for (const direction of axes.directions) {
      if (topology === "domu-domu" && direction !== "tx") continue;
      for (const pktSize of axes.sizes)
        for (const queues of axes.queues)
          for (const mode of axes.modes)
            for (const profile of axes.profiles)
              for (const seed of axes.seeds) points.push({ topology, direction, pktSize, queues, mode, profile, seed, packets: axes.packets });
    }
  return points;
}

/** The `pvnet run` command line whose `--json` report a point's report is. */
export function pointCommandLine(p: SweepPoint): string[] {
  return [
    "run",
    "--topology",
    p.topology,
    "--direction",
    p.direction,
    "--pkt-size",
    String(p.pktSize),
    "--packets",
    String(p.packets),
    "--queues",
    String(p.queues),
    "--seed",
    String(p.seed),
    "--profile",
    p.profile,
    ...(p.mode === "persistent" ? ["--persistent"] : []),
  ];
}

/** A stable key of a point, for job ids and for matching results to points. */
export function pointKey(p: SweepPoint): string {
  return `${p.topology}/${p.direction}/${p.pktSize}/q${p.queues}/${p.mode}/${p.profile}/s${p.seed}/n${p.packets}`;
}

/**
 * The topology options of a point: what `pvnet run` builds for its command line, with run's
 * defaults for burst (1), clone_skbs (0) and the window (DEFAULT_WINDOW_BYTES).
 */
export function pointOptions(p: SweepPoint): DomuDom0Options {
  const profile = HOST_PROFILES[p.profile];
  if (profile === undefined) throw new RangeError(`unknown profile '${p.profile}' (known: ${Object.keys(HOST_PROFILES).join(", ")})`);
  return {
    direction: p.direction,
    seed: p.seed,
    pktSize: p.pktSize,
    packets: p.packets,
    queues: p.queues,
    burst: 1,
    cloneSkbs: 0,
    windowBytes: DEFAULT_WINDOW_BYTES,
    profile,
    ...(p.mode === "persistent" ? { persistent: true } : {}),
  };
}

/** Run one point on this thread; the report is plain JSON (it crosses threads, processes and Redis). */
export async function runPoint(p: SweepPoint): Promise<PointReport> {
  const options = pointOptions(p);
  const report = p.topology === "domu-domu" ? await runDomuDomu(options) : await runDomuDom0(options);
  return JSON.parse(JSON.stringify(report)) as PointReport;
}

/** Columns of the sweep's CSV: the point, then what it measured. */
export const CSV_COLUMNS = [
  "topology",
  "direction",
  "pkt_size",
  "queues",
  "mode",
  "profile",
  "seed",
  "packets",
  "packets_delivered",
  "bytes_delivered",
  "dropped",
  "corrupt",
  "out_of_order",
  "modelled_seconds",
  "modelled_mpps",
  "modelled_gbit",
  "hypercall_entries",
  "trace_digest",
] as const;

/** One CSV row of a point and its report (fields need no quoting: names, numbers, hex digests). */
export function csvRow(p: SweepPoint, r: PointReport): string {
  return [
    p.topology,
    p.direction,
    p.pktSize,
    p.queues,
    p.mode,
    p.profile,
    p.seed,
    p.packets,
    r.packetsDelivered,
    r.bytesDelivered,
    r.dropped,
    r.corrupt,
    r.outOfOrder,
    r.modelled.seconds,
    r.modelled.mpps,
    r.modelled.gbit,
    r.hypercalls.entries,
    r.traceDigest,
  ].join(",");
}

/** Points checked when they arrive from another process (a job on the queue): never trusted blindly. */
export function isSweepPoint(v: unknown): v is SweepPoint {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  return (
    (o.topology === "domu-dom0" || o.topology === "domu-domu") &&
    (o.direction === "tx" || (o.direction === "rx" && o.topology === "domu-dom0")) &&
    (o.mode === "baseline" || o.mode === "persistent") &&
    typeof o.profile === "string" &&
    int(o.pktSize) &&
    int(o.queues) &&
    int(o.seed) &&
    int(o.packets)
  );
}
