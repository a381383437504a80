/**
 * Threaded mode's throughput, with what bounds it measured in the same run: threaded DomU -> Dom0
 * TX and Dom0 -> DomU RX at 64, 1496 and 65535 bytes, baseline and persistent grants, 1 queue
 * (frames per wall second, Gbit/s); the same frames between two workers by
 * `MessagePort.postMessage`; single-thread `Uint8Array.set` bandwidth at 64 KiB; the
 * deterministic mode's simulated frames per wall second at 64 B TX beside the frames per modelled
 * second it predicts (the real-time factor); and the cross-core round-trip time of two spinning
 * threads. Medians over REPEATS runs, with the machine's conditions. The guest's TX sends as pktgen
 * does (no window: frames go while netfront's queue is awake, which stops it when the ring is
 * full), as the RFC's pktgen rows do: with a window of a few 64 KiB frames, a run waits out
 * netfront's delayed late EOIs (XSA-391: a TX event whose responses start_xmit already reaped
 * counts as spurious) in wall time. Dom0's RX keeps the default window, since without one
 * netback drops what the guest has no buffers for. Writes bench-results/throughput.json.
 */
import { cpus, loadavg } from "node:os";
import { MessageChannel } from "node:worker_threads";
import { benchHost, startTsWorker, writeBenchResult } from "@pvnet/testkit";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDom0Threaded } from "../src/topology/threaded.js";

const REPEATS = 3;
/** Frames per threaded run: about a second each on the development machine. */
const PACKETS: Record<number, number> = { 64: 200_000, 1496: 40_000, 65535: 6_000 };
/** The generator's window per direction: none for the guest's TX (pktgen), the default for RX (see above). */
const WINDOW_BYTES = { tx: 0, rx: undefined } as const;
const SIZES = [64, 1496, 65535] as const;

const round = (x: number, digits: number) => +x.toFixed(digits);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const windowOf = (direction: "tx" | "rx") => {
  const w = WINDOW_BYTES[direction];
  return w === undefined ? {} : { windowBytes: w };
};

async function threaded() {
  const rows = [];
  for (const persistent of [false, true]) {
    for (const direction of ["tx", "rx"] as const) {
      for (const pktSize of SIZES) {
        const packets = PACKETS[pktSize] as number;
        await runDomuDom0Threaded({ seed: 1, direction, pktSize, packets: Math.ceil(packets / 10), persistent, ...windowOf(direction) }); // warm-up
        const pps: number[] = [];
        const gbit: number[] = [];
        for (let i = 0; i < REPEATS; i++) {
          const r = await runDomuDom0Threaded({ seed: 1 + i, direction, pktSize, packets, persistent, ...windowOf(direction) });
          if (r.packetsDelivered !== packets || r.corrupt !== 0) throw new Error(`threaded ${direction} ${pktSize}: ${r.packetsDelivered}/${packets} delivered, ${r.corrupt} corrupt`);
          pps.push(r.threaded.packetsPerSecond);
          gbit.push(r.threaded.gbitPerSecond);
        }
        rows.push({ direction, pktSize, persistent, packets, windowBytes: WINDOW_BYTES[direction] ?? "default", repeats: REPEATS, medianKpps: round(median(pps) / 1000, 1), medianGbit: round(median(gbit), 3), kpps: pps.map((x) => round(x / 1000, 1)) });
      }
    }
  }
  return rows;
}

/** The same frames, one postMessage each, from this thread to a worker that acknowledges every 64. */
async function postMessageRate(pktSize: number, frames: number): Promise<{ kpps: number; gbit: number }> {
  const window = 64;
  const { port1, port2 } = new MessageChannel();
  const sink = startTsWorker(new URL("./throughput-peer.worker.ts", import.meta.url), { workerData: { role: "sink", port: port2, frames, window }, transferList: [port2] });
  const frame = new Uint8Array(pktSize).fill(0x5a);
  const done = new Promise<number>((res, rej) => {
    sink.once("message", res);
    sink.once("error", rej);
  });
  let acked = 0;
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((res) => {
    const pump = () => {
      while (sent < frames && sent - acked < 2 * window) {
        port1.postMessage(frame);
        sent++;
      }
    };
    port1.on("message", (n: number) => {
      acked = n;
      if (acked === frames) res();
      else pump();
    });
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  await done;
  port1.close();
  await sink.terminate();
  return { kpps: frames / seconds / 1000, gbit: (frames * pktSize * 8) / seconds / 1e9 };
}

async function postMessages() {
  const rows = [];
  for (const pktSize of SIZES) {
    const frames = PACKETS[pktSize] as number;
    await postMessageRate(pktSize, Math.ceil(frames / 10));
    const runs = [];
    for (let i = 0; i < REPEATS; i++) runs.push(await postMessageRate(pktSize, frames));
    rows.push({ pktSize, frames, repeats: REPEATS, medianKpps: round(median(runs.map((r) => r.kpps)), 1), medianGbit: round(median(runs.map((r) => r.gbit)), 3) });
  }
  return rows;
}

/** Uint8Array.set of 64 KiB within one thread: the memcpy bound of a 64 KiB frame. */
function memcpy64k() {
  const size = 65536;
  const src = new Uint8Array(size).fill(7);
  const dst = new Uint8Array(size);
  const copies = 20_000;
  const gbit: number[] = [];
  for (let r = 0; r < REPEATS + 1; r++) {
    const t0 = performance.now();
    for (let i = 0; i < copies; i++) dst.set(src);
    const s = (performance.now() - t0) / 1000;
    if (r > 0) gbit.push((copies * size * 8) / s / 1e9); // the first is the warm-up
  }
  return { bytes: size, copies, repeats: REPEATS, medianGbit: round(median(gbit), 2), medianGBps: round(median(gbit) / 8, 2) };
}

/** Deterministic mode at 64 B TX: simulated frames per wall second beside modelled frames per modelled second. */
async function deterministic64() {
  const packets = 50_000;
  await runDomuDom0({ seed: 1, direction: "tx", pktSize: 64, packets: 5_000 });
  const wall: number[] = [];
  const modelled: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const r = await runDomuDom0({ seed: 1 + i, direction: "tx", pktSize: 64, packets, trace: "off" });
    wall.push(r.wall.mpps * 1000);
    modelled.push(r.modelled.mpps * 1000);
  }
  return {
    direction: "tx",
    pktSize: 64,
    packets,
    trace: "off",
    repeats: REPEATS,
    medianWallKpps: round(median(wall), 1),
    medianModelledKpps: round(median(modelled), 1),
    realTimeFactor: round(median(wall) / median(modelled), 3),
  };
}

/** Cross-core round trip: this thread bumps a counter, a worker spinning on it answers. */
async function roundTrip() {
  const rounds = 200_000;
  const ns: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const control = new SharedArrayBuffer(8);
    const c = new Int32Array(control);
    const pong = startTsWorker(new URL("./throughput-peer.worker.ts", import.meta.url), { workerData: { role: "pong", control, rounds } });
    await new Promise((res) => pong.once("online", res));
    const t0 = performance.now();
    for (let i = 1; i <= rounds; i++) {
      Atomics.store(c, 0, i);
      while (Atomics.load(c, 1) !== i) {
        // spin
      }
    }
    ns.push(((performance.now() - t0) * 1e6) / rounds);
    await pong.terminate();
  }
  return { rounds, repeats: REPEATS, medianNs: round(median(ns), 1), ns: ns.map((x) => round(x, 1)) };
}

const started = new Date().toISOString();
const load0 = loadavg();
const threadedRows = await threaded();
const postMessageRows = await postMessages();
const memcpy = memcpy64k();
const det = await deterministic64();
const rtt = await roundTrip();
const tx64 = threadedRows.find((r) => r.direction === "tx" && r.pktSize === 64 && r.persistent);
const tx64k = threadedRows.find((r) => r.direction === "tx" && r.pktSize === 65535 && !r.persistent);
const result = {
  bench: "throughput",
  started,
  conditions: { ...benchHost(), cores: cpus().length, loadavgBefore: load0.map((x) => round(x, 2)), loadavgAfter: loadavg().map((x) => round(x, 2)) },
  threaded: threadedRows,
  postMessage: postMessageRows,
  memcpy64k: memcpy,
  deterministic: det,
  crossCoreRoundTrip: rtt,
  goals: {
    "threaded 64 B TX persistent >= 4.2 Mpps": { measuredMpps: round((tx64?.medianKpps ?? 0) / 1000, 3), fractionOfGoal: round((tx64?.medianKpps ?? 0) / 4200, 3) },
    "threaded 64 KiB TX >= 50% of memcpy": { measuredGbit: tx64k?.medianGbit ?? 0, memcpyGbit: memcpy.medianGbit, fraction: round((tx64k?.medianGbit ?? 0) / memcpy.medianGbit, 4) },
    "deterministic real-time factor >= 1 at 64 B TX": { realTimeFactor: det.realTimeFactor },
  },
};
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${writeBenchResult("throughput", result)}`);
