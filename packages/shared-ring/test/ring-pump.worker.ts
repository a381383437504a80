/**
 * One end of a ring exchanged between two worker threads (used by threaded.test.ts and
 * bench/ring.bench.ts). The front end queues `count` 12-byte requests carrying a sequence number
 * in batches of `batch`; the back end checks each one, answers it with an 8-byte response, and the
 * front end checks the responses: any loss, duplicate or reordering is reported, and a sleep that
 * ends without a notification (a lost wake-up) too. Ring memory is a `Machine` attached from the
 * main thread; the two event channels live in their own SharedArrayBuffer.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Machine, type MachineHandle } from "@pvnet/hypervisor";
import { BackRing, defineRingLayout, FrontRing, SharedRing, ThreadedEventChannel } from "@pvnet/shared-ring";

export interface PumpConfig {
  role: "front" | "back";
  machine: MachineHandle;
  mfns: number[];
  /** Int32 words: [0..1] request channel, [2..3] response channel, [4] start barrier count. */
  control: Int32Array;
  count: number;
  batch: number;
  /** Bounds each sleep: a sleep this long with no notification is reported as a lost wake-up. */
  sleepTimeoutMs: number;
}

export interface PumpResult {
  ok: boolean;
  role: "front" | "back";
  reason?: string;
  entries: number;
  sleeps: number;
  wakes: number;
  notifies: number;
  elapsedNs: number;
}

/** 12-byte request, 8-byte response: the netif tx request size, a generic payload. */
const PUMP_LAYOUT = defineRingLayout("pump", 12, 8);
const MIX = 0x9e3779b9;

function encodeRequest(view: DataView, off: number, seq: number): void {
  view.setUint32(off, seq, true);
  view.setUint32(off + 4, (seq ^ MIX) >>> 0, true);
  view.setUint32(off + 8, Math.imul(seq, 0x85ebca6b) >>> 0, true);
}
function encodeResponse(view: DataView, off: number, seq: number): void {
  view.setUint32(off, seq, true);
  view.setUint32(off + 4, ~seq >>> 0, true);
}
/** Decoded entry: seq, or -1 when the entry's check words do not match. */
interface Entry {
  seq: number;
}
function decodeRequest(view: DataView, off: number, out: Entry): void {
  const seq = view.getUint32(off, true);
  const ok = view.getUint32(off + 4, true) === (seq ^ MIX) >>> 0 && view.getUint32(off + 8, true) === Math.imul(seq, 0x85ebca6b) >>> 0;
  out.seq = ok ? seq : -1;
}
function decodeResponse(view: DataView, off: number, out: Entry): void {
  const seq = view.getUint32(off, true);
  out.seq = view.getUint32(off + 4, true) === ~seq >>> 0 ? seq : -1;
}

function runFront(cfg: PumpConfig, sring: SharedRing, reqChan: ThreadedEventChannel, rspChan: ThreadedEventChannel): PumpResult {
  const front = new FrontRing(sring).init();
  const { count, batch } = cfg;
  const entry: Entry = { seq: 0 };
  let sent = 0;
  let received = 0;
  let notifies = 0;
  const t0 = process.hrtime.bigint();
  while (received < count) {
    let queued = 0;
    while (sent < count && queued < batch && !front.full()) {
      front.writeRequest(front.produceRequest(), encodeRequest, sent);
      sent++;
      queued++;
    }
    if (queued > 0 && front.pushRequestsAndCheckNotify()) {
      notifies++;
      reqChan.notify();
    }
    const rspProd = sring.rspProd;
    if (front.responseProdOverflow(rspProd)) return fail("front", `back end published rsp_prod ${rspProd} beyond the ring`);
    let avail = (rspProd - front.rspCons) >>> 0;
    const got = avail;
    while (avail-- > 0) {
      front.copyResponse(front.consumeResponse(), decodeResponse, entry);
      if (entry.seq !== received) return fail("front", `response ${received}: got ${entry.seq}`);
      received++;
    }
    if (queued === 0 && got === 0) {
      // Nothing moved: sleep until the back end answers, unless the ring has room and work is left.
      if (sent < count && !front.full()) continue;
      const seen = rspChan.snapshot();
      if (front.finalCheckForResponses() !== 0) continue;
      if (rspChan.wait(seen, undefined, cfg.sleepTimeoutMs) === "timed-out") {
        return fail("front", `lost wake-up: slept ${cfg.sleepTimeoutMs} ms with ${sent - received} requests outstanding`);
      }
    }
  }
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  return { ok: true, role: "front", entries: received, sleeps: rspChan.sleeps, wakes: reqChan.wakes, notifies, elapsedNs };
}

function runBack(cfg: PumpConfig, sring: SharedRing, reqChan: ThreadedEventChannel, rspChan: ThreadedEventChannel): PumpResult {
  const back = new BackRing(sring).init();
  const { count, batch } = cfg;
  const entry: Entry = { seq: 0 };
  let done = 0;
  let notifies = 0;
  const t0 = process.hrtime.bigint();
  while (done < count) {
    let n = back.unconsumedRequests();
    if (n === 0) {
      const seen = reqChan.snapshot();
      if (back.finalCheckForRequests() !== 0) continue;
      if (reqChan.wait(seen, undefined, cfg.sleepTimeoutMs) === "timed-out") {
        return fail("back", `lost wake-up: slept ${cfg.sleepTimeoutMs} ms after ${done} requests`);
      }
      continue;
    }
    const reqProd = sring.reqProd;
    if (back.requestProdOverflow(reqProd)) return fail("back", `front end published req_prod ${reqProd} beyond the ring`);
    if (n > batch) n = batch;
    for (let i = 0; i < n; i++) {
      back.copyRequest(back.consumeRequest(), decodeRequest, entry);
      if (entry.seq !== done) return fail("back", `request ${done}: got ${entry.seq}`);
      back.writeResponse(back.produceResponse(), encodeResponse, entry.seq);
      done++;
    }
    if (back.pushResponsesAndCheckNotify()) {
      notifies++;
      rspChan.notify();
    }
  }
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  return { ok: true, role: "back", entries: done, sleeps: reqChan.sleeps, wakes: rspChan.wakes, notifies, elapsedNs };
}

function fail(role: "front" | "back", reason: string): PumpResult {
  return { ok: false, role, reason, entries: 0, sleeps: 0, wakes: 0, notifies: 0, elapsedNs: 0 };
}

const cfg = workerData as PumpConfig;
const machine = Machine.attach(cfg.machine);
const sring = SharedRing.overFrames(machine, cfg.mfns, PUMP_LAYOUT);
const reqChan = new ThreadedEventChannel(cfg.control, 0);
const rspChan = new ThreadedEventChannel(cfg.control, 2);
// Start together: each end counts itself in control[4] and waits for the other (a barrier), so
// neither end's timing includes the other's start-up.
Atomics.add(cfg.control, 4, 1);
Atomics.notify(cfg.control, 4);
for (let n = Atomics.load(cfg.control, 4); n < 2; n = Atomics.load(cfg.control, 4)) Atomics.wait(cfg.control, 4, n, 1000);
const result = cfg.role === "front" ? runFront(cfg, sring, reqChan, rspChan) : runBack(cfg, sring, reqChan, rspChan);
parentPort?.postMessage(result);
