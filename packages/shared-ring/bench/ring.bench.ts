/**
 * Requests per second through one shared ring between two worker threads (front end producing,
 * back end answering, spin-then-wait event channels, RING_PUSH_*_AND_CHECK_NOTIFY and
 * RING_FINAL_CHECK_*), for batches of 1, 8, 32 and 64 requests per push, next to
 * MessagePort.postMessage carrying the same 12-byte requests and 8-byte responses with the same
 * window of 256 outstanding requests between two worker threads. Measured in one run on tinybench
 * (WARMUP_REPEATS untimed runs, then REPEATS timed ones per transport, each timed inside the
 * workers); each figure is the median of the timed runs, with its best, variance and margin of
 * error. Writes bench-results/ring.json.
 */
import { MessageChannel, type Worker } from "node:worker_threads";
import { Bench, benchHost, benchOptions, benchStats, startTsWorker, writeBenchResult } from "@pvnet/testkit";
import { runPump } from "../test/pump.js";

/**
 * Runs per figure. Median and best are both reported: on a shared 2-core host another process
 * can push a run into the sleep/wake regime (see EVTCHN_SPIN_ITERATIONS).
 */
const REPEATS = 5;
/** Untimed runs per transport first (JIT of the pump loops and of the workers' start-up). */
const WARMUP_REPEATS = 1;
const BATCHES = [1, 8, 32, 64] as const;
/** Entries per ring run: ~0.1-0.5 s undisturbed, a few seconds at worst in the sleep/wake regime. */
const RING_ENTRIES: Record<(typeof BATCHES)[number], number> = { 1: 1_000_000, 8: 2_000_000, 32: 3_000_000, 64: 3_000_000 };
/** Entries per MessagePort run (roughly a second at a few hundred thousand messages per second). */
const PORT_ENTRIES = 200_000;
/** Outstanding requests allowed on the MessagePort path: the ring's size (one page, 12-byte slots). */
const PORT_WINDOW = 256;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const best = (xs: number[]) => Math.max(...xs);

async function ringRate(batch: (typeof BATCHES)[number]): Promise<{ rate: number; sleeps: number; notifies: number; ms: number }> {
  const { front, back } = await runPump(RING_ENTRIES[batch], batch);
  if (!front.ok || !back.ok) throw new Error(`ring run failed: ${front.reason ?? back.reason}`);
  // ms: the time RING_ENTRIES[batch] requests take at the rate the front end measured.
  const rate = (front.entries / front.elapsedNs) * 1e9;
  return { rate, sleeps: front.sleeps + back.sleeps, notifies: front.notifies + back.notifies, ms: (RING_ENTRIES[batch] / rate) * 1e3 };
}

function message<T>(w: Worker): Promise<T> {
  return new Promise((res, rej) => {
    w.once("message", res);
    w.once("error", rej);
  });
}

async function portRate(): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const entry = new URL("./postmessage.worker.ts", import.meta.url);
  const consumer = startTsWorker(entry, { workerData: { role: "consumer", port: port2, count: PORT_ENTRIES, window: PORT_WINDOW }, transferList: [port2] });
  const producer = startTsWorker(entry, { workerData: { role: "producer", port: port1, count: PORT_ENTRIES, window: PORT_WINDOW }, transferList: [port1] });
  try {
    await Promise.all([message(consumer), message(producer)]);
    const done = message<{ ok: boolean; reason?: string; entries: number; elapsedNs: number }>(producer);
    producer.postMessage("go");
    const r = await done;
    if (!r.ok) throw new Error(`postMessage run failed: ${r.reason}`);
    return (r.entries / r.elapsedNs) * 1e9;
  } finally {
    await Promise.all([consumer.terminate(), producer.terminate()]);
  }
}

const portRuns: number[] = [];
const ringRuns = new Map<number, Array<{ rate: number; sleeps: number; notifies: number }>>(BATCHES.map((b) => [b, []]));
const bench = new Bench({ name: "ring", ...benchOptions(REPEATS, WARMUP_REPEATS) });
/** Whether the task now running is in its timed phase (tinybench calls beforeAll with the phase). */
let timed = false;
const phase = {
  beforeAll(mode?: "run" | "warmup") {
    timed = mode === "run";
  },
};
bench.add(
  "postMessage",
  async () => {
    const rate = await portRate();
    if (timed) portRuns.push(rate);
    return { overriddenDuration: (PORT_ENTRIES / rate) * 1e3 };
  },
  phase,
);
for (const b of BATCHES) {
  bench.add(
    `ring batch ${b}`,
    async () => {
      const r = await ringRate(b);
      if (timed) ringRuns.get(b)?.push(r);
      return { overriddenDuration: r.ms };
    },
    phase,
  );
}
await bench.run();
const [portTask, ...ringTasks] = bench.tasks;
if (portTask === undefined || ringTasks.length !== BATCHES.length) throw new Error("bench lost a task");
const portWall = benchStats(portTask, PORT_ENTRIES);
const postMessageRps = median(portRuns);
const postMessageBest = best(portRuns);
const ring = BATCHES.map((batch, i) => {
  const runs = ringRuns.get(batch) ?? [];
  const task = ringTasks[i];
  if (task === undefined) throw new Error(`no task for batch ${batch}`);
  const rates = runs.map((x) => x.rate);
  return {
    batch,
    entries: RING_ENTRIES[batch],
    requestsPerSecondMedian: Math.round(median(rates)),
    requestsPerSecondBest: Math.round(best(rates)),
    ratioToPostMessageMedian: Number((median(rates) / postMessageRps).toFixed(1)),
    ratioToPostMessageBest: Number((best(rates) / postMessageBest).toFixed(1)),
    sleepsPerRunMedian: median(runs.map((x) => x.sleeps)),
    notifiesPerRunMedian: median(runs.map((x) => x.notifies)),
    // Every timed run per request (tinybench): median, mean, variance, sd, rme.
    wall: benchStats(task, RING_ENTRIES[batch]),
  };
});
const result = {
  bench: "ring",
  what: "12-byte requests + 8-byte responses between two worker threads: one shared ring vs MessagePort.postMessage",
  host: benchHost(),
  repeats: REPEATS,
  warmupRepeats: WARMUP_REPEATS,
  harness: "tinybench; each transport's runs in a row (warm-up first), timed inside the workers",
  postMessage: {
    entries: PORT_ENTRIES,
    window: PORT_WINDOW,
    requestsPerSecondMedian: Math.round(postMessageRps),
    requestsPerSecondBest: Math.round(postMessageBest),
    wall: portWall,
  },
  ring,
  goal: "ring >= 50x postMessage",
};
const path = writeBenchResult("ring", result);
console.log(`postMessage: median ${(postMessageRps / 1e6).toFixed(3)} M req/s, best ${(postMessageBest / 1e6).toFixed(3)}`);
for (const r of ring) {
  console.log(
    `ring batch ${r.batch}: median ${(r.requestsPerSecondMedian / 1e6).toFixed(2)} M req/s (${r.ratioToPostMessageMedian}x), ` +
      `best ${(r.requestsPerSecondBest / 1e6).toFixed(2)} M req/s (${r.ratioToPostMessageBest}x)`,
  );
}
console.log(`wrote ${path}`);
