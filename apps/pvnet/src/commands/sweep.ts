/**
 * `pvnet sweep`: every combination of packet sizes, queues, grant modes, host profiles,
 * topologies, directions and seeds, each point run as `pvnet run --json` would run it, written as
 * CSV and JSON in point order. Points run in parallel on a worker-thread pool on this machine
 * (`--jobs`), or, with `--queue redis://HOST:PORT`, as jobs on a BullMQ queue that any number of
 * `pvnet worker` processes run. Ctrl-C stops the sweep and writes the points finished so far.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_PROFILE, HOST_PROFILES } from "@pvnet/hypervisor";
import { MAX_FRAME, minFrameSize } from "@pvnet/host";
import { SingleBar } from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { decimalInteger, nonEmpty } from "../cli-options.js";
import { CliError, EXIT, usageError } from "./command.js";
import { MAX_PACKETS, MAX_QUEUES, MAX_SEED } from "./run.js";
import { defaultJobs, MAX_JOBS, pointPool } from "./sweep-pool.js";
import { CSV_COLUMNS, csvRow, type GrantMode, type PointReport, pointCommandLine, type SweepPoint, type SweepTopology, sweepPoints } from "./sweep-points.js";

/** Points one sweep may hold: past it the product of the axes is a typo, not a plan. */
export const MAX_POINTS = 100_000;

interface SweepOptions {
  sizes: number[];
  topologies: SweepTopology[];
  directions: ("tx" | "rx")[];
  queues: number[];
  modes: GrantMode[];
  profiles: string[];
  seed: number[];
  packets: number;
  jobs: number;
  queue?: string;
  out?: string;
  csv?: string;
  json?: string;
  progress: boolean;
}

/** A comma-separated list of decimal integers in `min..max`, each checked as a single value is. */
function integerList(min: number, max: number): (value: string) => number[] {
  const one = decimalInteger(min, max);
  return (value: string) => {
    const items = value.split(",");
    try {
      return unique(items.map((v) => one(v.trim())));
    } catch {
      throw new InvalidArgumentError(`expected comma-separated decimal integers in ${min}..${max}.`);
    }
  };
}

/** A comma-separated list of names from `choices`. */
function choiceList<T extends string>(choices: readonly T[]): (value: string) => T[] {
  return (value: string) => {
    const items = value.split(",").map((v) => v.trim());
    const bad = items.find((v) => !(choices as readonly string[]).includes(v));
    if (bad !== undefined) throw new InvalidArgumentError(`'${bad}' is not one of ${choices.join(", ")}.`);
    return unique(items as T[]);
  };
}

/** A value named twice on an axis is one point, not two. */
function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

/** Where the results go: `-` is stdout; without any of --out, --csv, --json the CSV goes to stdout. */
function outputs(o: SweepOptions): { csv?: string; json?: string } {
  if (o.out !== undefined && (o.csv !== undefined || o.json !== undefined)) throw usageError("--out writes sweep.csv and sweep.json in its folder: give --out, or --csv and --json, not both");
  if (o.out !== undefined) return { csv: join(o.out, "sweep.csv"), json: join(o.out, "sweep.json") };
  if (o.csv === "-" && o.json === "-") throw usageError("--csv - and --json - cannot both write to stdout");
  if (o.csv === undefined && o.json === undefined) return { csv: "-" };
  return { ...(o.csv === undefined ? {} : { csv: o.csv }), ...(o.json === undefined ? {} : { json: o.json }) };
}

/** The results file bodies: CSV rows and the JSON document, finished points only, in point order. */
function render(points: readonly SweepPoint[], reports: readonly (PointReport | undefined)[], interrupted: boolean): { csv: string; json: string } {
  const done = points.flatMap((p, i) => {
    const r = reports[i];
    return r === undefined ? [] : [{ point: p, command: `pvnet ${pointCommandLine(p).join(" ")} --json`, report: r }];
  });
  const csv = `${[CSV_COLUMNS.join(","), ...done.map((d) => csvRow(d.point, d.report))].join("\n")}\n`;
  const json = `${JSON.stringify({ points: points.length, finished: done.length, ...(interrupted ? { interrupted: true } : {}), results: done }, null, 2)}\n`;
  return { csv, json };
}

function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new CliError(`cannot create '${dir}': ${(e as Error).message}`, EXIT.FAILED, { cause: e });
  }
}

function write(file: string, body: string): void {
  if (file === "-") {
    process.stdout.write(body);
    return;
  }
  try {
    writeFileSync(file, body);
  } catch (e) {
    throw new CliError(`cannot write '${file}': ${(e as Error).message}`, EXIT.FAILED, { cause: e });
  }
}

/** Runs the points (on the pool or the queue); `onDone` once per finished point; stops on `signal`. */
type Executor = (points: readonly SweepPoint[], onDone: (index: number, report: PointReport) => void, signal: AbortSignal) => Promise<void>;

function localExecutor(jobs: number): Executor {
  return async (points, onDone, signal) => {
    const pool = pointPool(Math.min(jobs, points.length));
    // Stopping the pool ends the points running now (their threads are terminated) and rejects the rest.
    let destroyed: Promise<void> | undefined;
    const destroy = () => {
      destroyed ??= pool.destroy();
      return destroyed;
    };
    signal.addEventListener("abort", destroy, { once: true });
    try {
      await Promise.all(
        points.map(async (p, i) => {
          onDone(i, await pool.run(p));
        }),
      );
    } finally {
      signal.removeEventListener("abort", destroy);
      await destroy();
    }
  };
}

async function action(o: SweepOptions): Promise<void> {
  const to = outputs(o);
  const points = sweepPoints({
    topologies: o.topologies,
    directions: o.directions,
    sizes: o.sizes,
    queues: o.queues,
    modes: o.modes,
    profiles: o.profiles,
    seeds: o.seed,
    packets: o.packets,
  });
  if (points.length === 0) throw usageError("no points: --topologies domu-domu sends tx only (give --directions tx)");
  if (points.length > MAX_POINTS) throw usageError(`${points.length} points: a sweep holds at most ${MAX_POINTS}`);
  // BullMQ and ioredis are loaded only by a sweep on a queue, not by every pvnet command.
  const queueing = o.queue === undefined ? undefined : await import("./sweep-queue.js");
  const queue = o.queue === undefined ? undefined : queueing?.parseQueueUrl(o.queue);
  // Nothing is written when the queue cannot be reached: the sweep did not start.
  if (queue !== undefined) await queueing?.checkReachable(queue);
  const execute = queue === undefined || queueing === undefined ? localExecutor(o.jobs) : queueing.queueSweep(queue);

  const reports: (PointReport | undefined)[] = new Array(points.length).fill(undefined);
  let finished = 0;
  const showProgress = o.progress && process.stdout.isTTY === true && process.stderr.isTTY === true && to.csv !== "-" && to.json !== "-";
  const bar = showProgress ? new SingleBar({ format: "{bar} {percentage}% | {value}/{total} points | {eta_formatted} left", hideCursor: true, clearOnComplete: true }) : undefined;
  bar?.start(points.length, 0);
  const stop = new AbortController();
  // The terminal sends SIGINT to the launcher and to this process; either asks the sweep to stop.
  const onSigint = () => stop.abort();
  process.on("SIGINT", onSigint);
  let failure: unknown;
  try {
    // Created once Ctrl-C is taken: from then on, a stopped sweep writes what it finished.
    if (o.out !== undefined) makeFolder(o.out);
    await execute(
      points,
      (i, r) => {
        if (reports[i] !== undefined) return;
        reports[i] = r;
        finished++;
        bar?.update(finished);
      },
      stop.signal,
    );
  } catch (e) {
    if (e instanceof CliError) failure = e;
    else if (!stop.signal.aborted) failure = e;
  } finally {
    process.off("SIGINT", onSigint);
    bar?.stop();
  }
  const interrupted = stop.signal.aborted;
  const body = render(points, reports, interrupted);
  if (to.csv !== undefined) write(to.csv, body.csv);
  if (to.json !== undefined) write(to.json, body.json);
  if (failure instanceof CliError) throw failure;
  if (failure !== undefined) {
    const err = failure instanceof Error ? failure : new Error(String(failure));
    throw new CliError(`a point failed after ${finished} of ${points.length} finished: ${err.message}`, EXIT.FAILED, { cause: err });
  }
  if (interrupted) {
    process.stderr.write(`interrupted: ${finished} of ${points.length} points finished (written)\n`);
    process.exitCode = EXIT.INTERRUPTED;
    return;
  }
  if (to.csv !== "-" && to.json !== "-") process.stdout.write(`${points.length} points: wrote ${[to.csv, to.json].filter((f) => f !== undefined).join(" and ")}\n`);
  if (reports.some((r) => r !== undefined && r.corrupt !== 0)) process.exitCode = EXIT.FAILED;
}

export function sweepCommand(): Command {
  const profiles = Object.keys(HOST_PROFILES);
  return new Command("sweep")
    .summary("run every combination of sizes, queues, grant modes, profiles and topologies; write CSV and JSON")
    .description(
      "Runs one `pvnet run` point per combination of the axes below (each a comma-separated list) and writes one CSV row " +
        "and one JSON entry per point, in point order. A point's report is exactly the `pvnet run --json` report of its " +
        "command line (given in the JSON), whatever runs it. Points run in parallel on --jobs worker threads, or with " +
        "--queue on a BullMQ queue in Redis, run by `pvnet worker --queue` processes on any machines. Guests are fixed by " +
        "the topology (domu-dom0: one guest; domu-domu: guests A and B), and domu-domu sends tx only: its rx " +
        "combinations are left out. Ctrl-C stops the sweep and writes the points finished so far.",
    )
    .addOption(new Option("--sizes <list>", `frame sizes in bytes, Ethernet header included (each ${minFrameSize("udp")}..${MAX_FRAME})`).argParser(integerList(minFrameSize("udp"), MAX_FRAME)).default([64, 1496, 65535], "64,1496,65535"))
    .addOption(new Option("--topologies <list>", "domu-dom0, domu-domu").argParser(choiceList(["domu-dom0", "domu-domu"] as const)).default(["domu-dom0"], "domu-dom0"))
    .addOption(new Option("--directions <list>", "tx (the guest sends), rx (Dom0 sends; domu-dom0 only)").argParser(choiceList(["tx", "rx"] as const)).default(["tx"], "tx"))
    .addOption(new Option("--queues <list>", `queues the frontend asks for (each 1..${MAX_QUEUES})`).argParser(integerList(1, MAX_QUEUES)).default([1], "1"))
    .addOption(new Option("--modes <list>", "grant modes: baseline (copy/map per packet), persistent (persistent grants)").argParser(choiceList(["baseline", "persistent"] as const)).default(["baseline"], "baseline"))
    .addOption(new Option("--profiles <list>", `host cost profiles (${profiles.join(", ")})`).argParser(choiceList(profiles)).default([DEFAULT_PROFILE.name], DEFAULT_PROFILE.name))
    .addOption(new Option("--seed <list>", `seeds, one point each (each 0..${MAX_SEED})`).argParser(integerList(0, MAX_SEED)).default([1], "1"))
    .addOption(new Option("--packets <n>", `frames each point sends (1..${MAX_PACKETS})`).argParser(decimalInteger(1, MAX_PACKETS)).default(1000))
    .addOption(new Option("--jobs <n>", `points run at once on this machine (1..${MAX_JOBS})`).argParser(decimalInteger(1, MAX_JOBS)).default(defaultJobs(), `available parallelism, ${defaultJobs()} here`))
    .addOption(new Option("--queue <url>", "enqueue the points on the BullMQ queue at redis://HOST:PORT[/DB] and collect what `pvnet worker` processes return").argParser(nonEmpty("a redis:// URL")))
    .addOption(new Option("--out <dir>", "write <dir>/sweep.csv and <dir>/sweep.json").argParser(nonEmpty("a folder")))
    .addOption(new Option("--csv <file>", "write the CSV here (- for stdout)").argParser(nonEmpty("a file name")))
    .addOption(new Option("--json <file>", "write the JSON here (- for stdout)").argParser(nonEmpty("a file name")))
    .addOption(new Option("--no-progress", "no progress bar (it is drawn only on a terminal, when no result goes to stdout)"))
    .addHelpText(
      "after",
      "\nExamples:\n  pvnet sweep --sizes 64,1496,65535 --modes baseline,persistent --topologies domu-dom0,domu-domu --packets 2000 --out sweep\n  pvnet sweep --directions tx,rx --queues 1,4 --seed 1,2,3 --packets 500 --csv -\n  pvnet sweep --queue redis://127.0.0.1:6379 --sizes 64,1496 --out sweep   (with `pvnet worker --queue redis://127.0.0.1:6379` running)",
    )
    .action(action);
}
