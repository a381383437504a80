/**
 * `pvnet run`: one deterministic scenario (a topology, a direction, a packet size), run in a
 * worker thread so this thread can draw a progress bar and take Ctrl-C; prints tables (or one
 * JSON object with `--json`).
 */
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { DEFAULT_PROFILE, HOST_PROFILES } from "@pvnet/hypervisor";
import { MAX_WINDOW_PACKETS } from "../topology/devices.js";
import { SEED5_WORST_CASE, type SkbDesc, skbDescLen } from "@pvnet/skb-model";
import { SingleBar } from "cli-progress";
import { Command, Option } from "commander";
import type { TraceMode } from "@pvnet/sim";
import { decimalInteger, nonEmpty, traceMode } from "../cli-options.js";
import { DEFAULT_WINDOW_BYTES, type DomuDom0Options } from "../topology/domu-dom0.js";
import { checkTrafficOptions } from "../topology/devices.js";
import { MAX_TCP_FLOWS } from "../topology/iperf.js";
import { MAPTRACK_NAMES, MAX_DOM0_VCPUS, MAX_GUESTS, MAX_PCPUS, type ManyGuestsOptions } from "../topology/many-guests.js";
import { MAX_FRAME, minFrameSize } from "@pvnet/host";
import { createXenstoredRelay, type XenstoredServer } from "@pvnet/xenstore";
import { CliError, EXIT, usageError } from "./command.js";
import { printDebugfs, printManyGuests, printPartial, printReport } from "./run-output.js";
import type { RunWorkerData, RunWorkerMessage } from "./run-worker.js";
import { PROGRESS } from "./run-probe.js";
import { resolve } from "node:path";
import { loadXdpProgram, XDP_BUILTINS } from "../topology/xdp-program.js";
import { threadedUnsupported } from "../topology/threaded.js";

/**
 * Most frames one run sends: the topology bounds a run at 10 000 scheduler events a frame, and
 * ten million frames already take tens of minutes here; past it a typo would run until killed.
 */
export const MAX_PACKETS = 10_000_000;
/** Queues a frontend may ask for: the topologies boot one VCPU per queue, up to 8. */
export const MAX_QUEUES = 8;
/** The seeded PRNG of @pvnet/sim takes a 32-bit unsigned seed. */
export const MAX_SEED = 0xffff_ffff;
/** pktgen burst: at most the generator's window of packets (half netback's RX skb bound). */
export const MAX_BURST = MAX_WINDOW_PACKETS;
/** pktgen clone_skbs: a bound well past any useful reuse count. */
export const MAX_CLONE_SKBS = 1_000_000;
/** --window-bytes: at most 64 MiB in flight, a hundred times netback's RX queue. */
export const MAX_WINDOW_BYTES = 64 * 1024 * 1024;
/**
 * A run longer than this shows a progress bar (on a terminal, without --json). The environment's
 * PVNET_PROGRESS_AFTER_MS overrides it (0: from the start, as the tests draw it).
 */
const PROGRESS_AFTER_MS = progressAfterMs(process.env.PVNET_PROGRESS_AFTER_MS);

function progressAfterMs(value: string | undefined): number {
  const ms = value === undefined ? Number.NaN : Number(value);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : 1000;
}
/** How often the progress bar is redrawn. */
const PROGRESS_EVERY_MS = 100;

interface RunOptions {
  topology: "domu-dom0" | "domu-domu";
  mode: "deterministic" | "threaded";
  direction: "tx" | "rx";
  pktSize?: number;
  packets?: number;
  queues: number;
  flows?: number;
  guests?: number;
  dom0Vcpus?: number;
  pcpus?: number;
  maptrack?: string;
  seed: number;
  burst: number;
  cloneSkbs: number;
  windowBytes: number;
  layout?: string;
  headerCopy?: "multi-slot" | "first-slot";
  txHypercalls?: "two" | "multicall";
  persistent: boolean;
  ctrlRing: boolean;
  rxBuildSkb: boolean;
  xdp?: string;
  profile: string;
  xenstored?: string;
  trace: TraceMode;
  pcap?: string;
  json: boolean;
  debugfs: boolean;
  progress: boolean;
}

/** A layout a user typed: checked for its shape here; the composer checks pages and offsets. */
function parseLayout(value: string): SkbDesc {
  if (value === "seed5") return SEED5_WORST_CASE;
  let desc: unknown;
  try {
    desc = JSON.parse(value);
  } catch (e) {
    throw usageError(`--layout must be seed5 or an skb description in JSON: ${(e as Error).message}`);
  }
  const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  const check = (d: unknown, where: string): void => {
    if (typeof d !== "object" || d === null || Array.isArray(d)) throw usageError(`--layout${where} must be an object like {"linearLen":40,"frags":[{"size":1000,"offset":0,"order":0}]}`);
    const o = d as Record<string, unknown>;
    if (!isCount(o.linearLen)) throw usageError(`--layout${where}.linearLen must be a non-negative integer`);
    if (o.linearOffset !== undefined && !isCount(o.linearOffset)) throw usageError(`--layout${where}.linearOffset must be a non-negative integer`);
    if (o.frags !== undefined) {
      if (!Array.isArray(o.frags)) throw usageError(`--layout${where}.frags must be an array`);
      o.frags.forEach((f: unknown, i) => {
        const fo = f as Record<string, unknown> | null;
        if (typeof fo !== "object" || fo === null || !isCount(fo.size)) throw usageError(`--layout${where}.frags[${i}].size must be a non-negative integer`);
        for (const k of ["offset", "order"]) if (fo[k] !== undefined && !isCount(fo[k])) throw usageError(`--layout${where}.frags[${i}].${k} must be a non-negative integer`);
      });
    }
    if (o.fragList !== undefined) {
      if (!Array.isArray(o.fragList)) throw usageError(`--layout${where}.fragList must be an array`);
      o.fragList.forEach((m: unknown, i) => {
        check(m, `${where}.fragList[${i}]`);
      });
    }
  };
  check(desc, "");
  return desc as SkbDesc;
}

/** `--guests N`: the many-guests scenario (guest TX, one queue each), its own combinations checked. */
function manyGuests(o: RunOptions, options: DomuDom0Options, guests: number): ManyGuestsOptions {
  if (o.topology !== "domu-dom0" || o.direction !== "tx") throw usageError("--guests sends from every guest to Dom0: --topology domu-dom0 --direction tx");
  if (o.queues !== 1 || o.flows !== undefined || o.ctrlRing || o.rxBuildSkb || o.xdp !== undefined || o.xenstored !== undefined) {
    throw usageError("--guests gives each guest one queue of pktgen frames: no --queues, --flows, --ctrl-ring, --rx-build-skb, --xdp or --xenstored");
  }
  return { ...options, guests, dom0Vcpus: o.dom0Vcpus ?? Math.min(guests, MAX_DOM0_VCPUS), maptrack: options.maptrack ?? "per-vcpu-lockfree", ...(o.pcpus === undefined ? {} : { pcpus: o.pcpus }) };
}

/** The scenario the options describe; usage errors (exit 2) for combinations the parser cannot see. */
function scenario(o: RunOptions): DomuDom0Options {
  if (o.topology === "domu-domu" && o.direction !== "tx") throw usageError("--topology domu-domu sends from guest A to guest B: --direction must be tx");
  if (o.packets === undefined) throw usageError("--packets is required");
  if ((o.rxBuildSkb || o.xdp !== undefined) && o.topology === "domu-dom0" && o.direction !== "rx") {
    throw usageError("--rx-build-skb and --xdp act on the receiving guest's netfront: --direction rx (or --topology domu-domu, where guest B receives)");
  }
  const layout = o.layout === undefined ? undefined : parseLayout(o.layout);
  const pktSize = o.pktSize ?? (layout === undefined ? undefined : skbDescLen(layout));
  if (pktSize === undefined) throw usageError("--pkt-size is required (or --layout, whose length it becomes)");
  if (layout !== undefined && skbDescLen(layout) !== pktSize) throw usageError(`the layout holds ${skbDescLen(layout)} bytes, not --pkt-size ${pktSize}`);
  if (layout !== undefined && (pktSize < minFrameSize("udp") || pktSize > MAX_FRAME)) throw usageError(`the layout holds ${pktSize} bytes: a frame is ${minFrameSize("udp")}..${MAX_FRAME}`);
  const profile = HOST_PROFILES[o.profile];
  if (profile === undefined) throw usageError(`unknown --profile '${o.profile}' (known: ${Object.keys(HOST_PROFILES).join(", ")})`);
  const options: DomuDom0Options = {
    direction: o.direction,
    seed: o.seed,
    pktSize,
    packets: o.packets,
    queues: o.queues,
    burst: o.burst,
    cloneSkbs: o.cloneSkbs,
    windowBytes: o.windowBytes,
    profile,
    ...(layout === undefined ? {} : { layout }),
    ...(o.headerCopy === undefined ? {} : { headerCopy: o.headerCopy }),
    ...(o.txHypercalls === undefined ? {} : { txHypercalls: o.txHypercalls }),
    ...(o.persistent ? { persistent: true } : {}),
    ...(o.ctrlRing ? { ctrlRing: true } : {}),
    ...(o.rxBuildSkb ? { rxBuildSkb: true } : {}),
    ...(o.xdp === undefined ? {} : { xdp: o.xdp }),
    ...(o.trace === "full" ? {} : { trace: o.trace }),
    ...(o.pcap === undefined ? {} : { pcap: resolve(o.pcap) }),
    ...(o.flows === undefined ? {} : { flows: o.flows }),
    ...(o.maptrack === undefined ? {} : { maptrack: MAPTRACK_NAMES[o.maptrack] }),
  };
  try {
    checkTrafficOptions(options);
  } catch (e) {
    if (e instanceof RangeError) throw usageError(e.message);
    throw e;
  }
  return options;
}

/**
 * Start one scenario in the run worker, with its shared progress slots and stop flag. In a source
 * checkout (under tsx) a boot file registers tsx in the worker, then loads the .ts worker; in the
 * published package (tsup writes every entry flat into dist/) the compiled .js worker runs directly.
 */
export function startRunWorker(
  topology: RunWorkerData["topology"],
  options: DomuDom0Options | ManyGuestsOptions,
  xenstorePort?: MessagePort,
  mode: RunOptions["mode"] = "deterministic",
): { worker: Worker; progress: SharedArrayBuffer; stop: SharedArrayBuffer } {
  const progress = new SharedArrayBuffer(PROGRESS.SLOTS * Float64Array.BYTES_PER_ELEMENT);
  const stop = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = fromSource ? new URL("./run-worker.ts", import.meta.url) : new URL("./run-worker.js", import.meta.url);
  const data: RunWorkerData = { topology, mode, options, progress, stop, entry: entry.href, ...(xenstorePort === undefined ? {} : { xenstorePort }) };
  const worker = new Worker(fromSource ? new URL("./run-worker-boot.mjs", import.meta.url) : entry, {
    workerData: data,
    transferList: xenstorePort === undefined ? [] : [xenstorePort],
  });
  return { worker, progress, stop };
}

/** Frames a run sends in all (every guest's with --guests). */
function totalFrames(options: DomuDom0Options | ManyGuestsOptions): number {
  return options.packets * ("guests" in options ? options.guests : 1);
}

/** Run the scenario in a worker; resolves with its one message. Ctrl-C asks it to stop between slices. */
function runInWorker(
  o: RunOptions,
  topology: RunWorkerData["topology"],
  options: DomuDom0Options | ManyGuestsOptions,
  showProgress: boolean,
  xenstorePort: MessagePort | undefined,
  stopRequested: boolean,
): Promise<RunWorkerMessage> {
  const { worker, progress, stop } = startRunWorker(topology, options, xenstorePort, o.mode);
  // A Ctrl-C before the worker started stops it at its first slice boundary.
  if (stopRequested) Atomics.store(new Int32Array(stop), 0, 1);
  const seen = new Float64Array(progress);
  let bar: SingleBar | undefined;
  let redraw: NodeJS.Timeout | undefined;
  const startBar = setTimeout(() => {
    if (!showProgress) return;
    bar = new SingleBar({ format: "{bar} {percentage}% | {value}/{total} frames delivered | {eta_formatted} left", hideCursor: true, clearOnComplete: true });
    bar.start(totalFrames(options), seen[PROGRESS.DELIVERED] ?? 0);
    redraw = setInterval(() => bar?.update(seen[PROGRESS.DELIVERED] ?? 0), PROGRESS_EVERY_MS);
  }, PROGRESS_AFTER_MS);
  // The terminal sends SIGINT to the launcher and to this process; every one only asks the run to stop.
  const onSigint = () => Atomics.store(new Int32Array(stop), 0, 1);
  process.on("SIGINT", onSigint);
  return new Promise<RunWorkerMessage>((resolve, reject) => {
    let message: RunWorkerMessage | undefined;
    worker.once("message", (m: RunWorkerMessage) => {
      message = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      clearTimeout(startBar);
      if (redraw !== undefined) clearInterval(redraw);
      bar?.stop();
      process.off("SIGINT", onSigint);
      if (message !== undefined) resolve(message);
      else reject(new Error(`the run's worker exited with code ${code} without a report`));
    });
  });
}

async function action(o: RunOptions): Promise<void> {
  if (o.xdp !== undefined && !(XDP_BUILTINS as readonly string[]).includes(o.xdp)) {
    // A module: resolved here, loaded once here to refuse a bad one early, again in the worker.
    o.xdp = resolve(o.xdp);
    try {
      await loadXdpProgram(o.xdp);
    } catch (e) {
      throw usageError(`--xdp must be drop, pass, tx or an ES module whose default export is a function: ${(e as Error).message}`);
    }
  }
  const single = scenario(o);
  if (o.dom0Vcpus !== undefined && o.guests === undefined) throw usageError("--dom0-vcpus sizes Dom0 for --guests");
  if (o.pcpus !== undefined && o.guests === undefined) throw usageError("--pcpus sizes the host for --guests");
  const options = o.guests === undefined ? single : manyGuests(o, single, o.guests);
  const topology = o.guests === undefined ? o.topology : "many-guests";
  if (o.mode === "threaded") {
    if (o.guests !== undefined) throw usageError("--mode threaded runs one guest per vif topology: not with --guests");
    const refused = threadedUnsupported(o.topology, { ...single, ...(o.xenstored === undefined ? {} : { xenstoreSocket: o.xenstored }) });
    if (refused !== undefined) throw usageError(refused);
  }
  const showProgress = o.progress && !o.json && process.stdout.isTTY === true;
  // The live xenstore: the socket is served here, where the event loop is free during the run;
  // the worker answers the requests relayed to it between two slices of the simulation.
  let relay: XenstoredServer | undefined;
  let storePort: MessagePort | undefined;
  // The socket appears before the worker starts: a Ctrl-C from then on only asks the run to stop.
  let stopRequested = false;
  const earlySigint = () => {
    stopRequested = true;
  };
  process.on("SIGINT", earlySigint);
  if (o.xenstored !== undefined) {
    const channel = new MessageChannel();
    try {
      relay = await createXenstoredRelay(channel.port1, { socketPath: o.xenstored });
    } catch (e) {
      channel.port1.close();
      process.off("SIGINT", earlySigint);
      throw new CliError(`cannot serve xenstore on '${o.xenstored}': ${(e as Error).message}`, EXIT.FAILED, { cause: e });
    }
    storePort = channel.port2;
  }
  let m: RunWorkerMessage;
  try {
    const started = runInWorker(o, topology, options, showProgress, storePort, stopRequested);
    process.off("SIGINT", earlySigint); // runInWorker has its own handler now
    m = await started;
  } finally {
    await relay?.close();
  }
  if (m.kind === "error") {
    const what = m.code !== undefined ? m.message : `${m.name}: ${m.message}`;
    const cause = Object.assign(new Error(m.message), { name: m.name, stack: m.stack });
    throw new CliError(what, EXIT.FAILED, { cause });
  }
  if (m.kind === "interrupted") {
    if (o.json) process.stdout.write(`${JSON.stringify({ interrupted: true, ...m.partial })}\n`);
    else process.stdout.write(printPartial(m.partial, totalFrames(options)));
    process.exitCode = EXIT.INTERRUPTED;
    return;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(m.report)}\n`);
  else if (m.report.topology === "many-guests") process.stdout.write(printManyGuests(m.report, m.operations));
  else process.stdout.write(printReport(m.report, m.operations, { customLayout: o.layout !== undefined || o.headerCopy !== undefined || o.txHypercalls !== undefined }));
  if (o.debugfs && !o.json) process.stdout.write(`\n${printDebugfs(m.report)}`);
  if (m.report.corrupt !== 0) process.exitCode = EXIT.FAILED;
}

export function runCommand(): Command {
  return new Command("run")
    .summary("run a topology scenario and report delivery, counters, hypercalls and modelled time")
    .description(
      "Runs one deterministic scenario. domu-dom0: the guest (tx) or Dom0 (rx) sends --packets stamped frames of " +
        "--pkt-size bytes through netfront/netback. domu-domu: guest A sends them to guest B through netback and a " +
        "learning bridge in Dom0. Prints what was delivered, the vif's counters, hypercalls by op, where the " +
        "modelled time went, and the cost profile's prediction next to the published figure where one exists. " +
        "Ctrl-C stops the run between two slices of the simulation and prints what was measured so far.",
    )
    .addOption(new Option("--topology <name>", "which machines are wired").choices(["domu-dom0", "domu-domu"]).default("domu-dom0"))
    .addOption(
      new Option("--mode <mode>", "deterministic: one seeded scheduler, reproducible; threaded: a worker_thread per domain kernel over one shared memory")
        .choices(["deterministic", "threaded"])
        .default("deterministic"),
    )
    .addOption(new Option("--direction <dir>", "tx: the guest sends; rx: Dom0 sends to the guest").choices(["tx", "rx"]).default("tx"))
    .addOption(new Option("--pkt-size <bytes>", `frame size, Ethernet header included (${minFrameSize("udp")}..${MAX_FRAME}; above 1514 a TCP GSO packet); required unless --layout`).argParser(decimalInteger(minFrameSize("udp"), MAX_FRAME)))
    .addOption(new Option("--packets <n>", `frames to send (1..${MAX_PACKETS})`).argParser(decimalInteger(1, MAX_PACKETS)))
    .addOption(new Option("--queues <n>", `queues the frontend asks for, one flow each (1..${MAX_QUEUES})`).argParser(decimalInteger(1, MAX_QUEUES)).default(1))
    .addOption(
      new Option("--flows <n>", `bulk TCP like iperf -P N (1..${MAX_TCP_FLOWS}): N flows of --pkt-size TCP segments (GSO above 1514), --packets segments in all, ACKed by the receiver, each flow's window its share of --window-bytes`).argParser(
        decimalInteger(1, MAX_TCP_FLOWS),
      ),
    )
    .addOption(new Option("--guests <n>", `many guests (1..${MAX_GUESTS}): each with one vif to Dom0 sends --packets frames at once (guest TX)`).argParser(decimalInteger(1, MAX_GUESTS)))
    .addOption(new Option("--dom0-vcpus <n>", `Dom0's VCPUs with --guests (1..${MAX_DOM0_VCPUS}; guest k's queue on VCPU k mod n); default one per guest`).argParser(decimalInteger(1, MAX_DOM0_VCPUS)))
    .addOption(new Option("--pcpus <n>", `the host's pCPUs with --guests (1..${MAX_PCPUS}); default one per VCPU, so only the maptrack lock is contended`).argParser(decimalInteger(1, MAX_PCPUS)))
    .addOption(
      new Option("--maptrack <list>", "Dom0's maptrack free lists: single (one list under one lock, Xen <= 4.5), percpu (per-VCPU lock-free lists, Xen 4.6), percpu-locked (per-VCPU lists each under its lock, since XSA-228)").choices(
        Object.keys(MAPTRACK_NAMES),
      ),
    )
    .addOption(new Option("--seed <n>", `seed of the deterministic run (0..${MAX_SEED})`).argParser(decimalInteger(0, MAX_SEED)).default(1))
    .addOption(new Option("--burst <n>", `pktgen burst: frames handed to the driver per step (1..${MAX_BURST})`).argParser(decimalInteger(1, MAX_BURST)).default(1))
    .addOption(new Option("--clone-skbs <n>", `pktgen clone_skbs: times one skb is resent (0..${MAX_CLONE_SKBS})`).argParser(decimalInteger(0, MAX_CLONE_SKBS)).default(0))
    .addOption(
      new Option("--window-bytes <n>", `bytes in flight at most (0..${MAX_WINDOW_BYTES}); 0 sends as fast as the driver takes frames, like pktgen`)
        .argParser(decimalInteger(0, MAX_WINDOW_BYTES))
        .default(DEFAULT_WINDOW_BYTES),
    )
    .addOption(new Option("--layout <desc>", 'skb layout: seed5 (51 slots) or JSON, e.g. \'{"linearLen":40,"frags":[{"size":1000,"offset":0,"order":0}]}\''))
    .addOption(new Option("--header-copy <mode>", "netback TX header copy").choices(["multi-slot", "first-slot"]))
    .addOption(new Option("--tx-hypercalls <mode>", "netback TX: copy and map as two hypercalls, or one multicall").choices(["two", "multicall"]))
    .addOption(new Option("--persistent", "persistent grants in netfront and netback").default(false))
    .addOption(new Option("--ctrl-ring", "the control ring: netback offers feature-ctrl-ring, the guest sets a Toeplitz hash and mapping that spread Dom0's flows to it over the queues (what Windows PV drivers do; Linux netfront has no control ring)").default(false))
    .addOption(new Option("--rx-build-skb", "the receiving guest's netfront (domu-dom0 --direction rx, or guest B of domu-domu) builds the skb around the page (the virtio-net technique; Linux netfront copies)").default(false))
    .addOption(new Option("--xdp <prog>", "XDP program on the receiving guest's netfront (as --rx-build-skb): drop, pass, tx, or an ES module whose default export maps the frame's bytes to a verdict").argParser(nonEmpty("drop, pass, tx or a module path")))
    .addOption(new Option("--profile <name>", "host cost profile").choices(Object.keys(HOST_PROFILES)).default(DEFAULT_PROFILE.name))
    .addOption(new Option("--xenstored <socket>", "serve the live xenstore on this unix socket while the run lasts (answered between slices of the run)").argParser(nonEmpty("a socket path")))
    .addOption(
      new Option("--trace <mode>", "what the trace keeps: full, sample:N (one event in N) or off; only traceDigest depends on it")
        .argParser(traceMode)
        .default("full" as TraceMode, "full"),
    )
    .addOption(new Option("--pcap <dir>", "write one libpcap file per vif and direction into this directory (vif<domid>.<devid>-tx.pcap: what the guest sent, -rx.pcap: what netback queued for it)").argParser(nonEmpty("a directory")))
    .addOption(new Option("--json", "print the run report as one JSON object instead of tables (its debugfs and grantTable keys hold what --debugfs prints)").default(false))
    .addOption(new Option("--debugfs", "also print netback's debugfs files after the traffic (io_ring_qN, and pgrants_qN with persistent grants) and the grant table's counters").default(false))
    .addOption(new Option("--no-progress", "no progress bar (it is drawn only on a terminal, without --json, for runs over a second)"))
    .addHelpText("after", "\nExamples:\n  pvnet run --pkt-size 1496 --packets 10000\n  pvnet run --direction rx --pkt-size 65535 --packets 2000 --json\n  pvnet run --direction rx --pkt-size 64 --packets 1000 --persistent --burst 8 --debugfs\n  pvnet run --topology domu-domu --pkt-size 600 --packets 1000")
    .action(action);
}
