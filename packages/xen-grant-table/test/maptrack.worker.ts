// A VCPU of a mapping domain, in its own thread: gets and puts maptrack handles, and swaps some
// with the other VCPUs through a shared mailbox so that their puts go to a REMOTE VCPU's list.
// mode "check" verifies every handle against a shared owner table (handed out once, put once);
// mode "bench" only runs, timed, after a shared start signal.
import { parentPort, workerData } from "node:worker_threads";
import { INVALID_MAPTRACK_HANDLE, Maptrack, type MaptrackShared } from "../src/index.js";

export interface MaptrackWorkerData {
  readonly shared: MaptrackShared;
  readonly vcpu: number;
  readonly ops: number;
  readonly seed: number;
  readonly mode: "check" | "bench";
  /** Int32Array: handle+1 per slot, 0 when empty. */
  readonly mailbox: SharedArrayBuffer;
  /** Int32Array per handle: 0 free, 1 handed out (mode "check"); in "bench", word 0 is the start signal and word 1 counts ready workers. */
  readonly owner: SharedArrayBuffer;
}

export interface MaptrackWorkerResult {
  readonly vcpu: number;
  readonly ops: number;
  readonly gets: number;
  readonly puts: number;
  readonly remotePuts: number;
  readonly failures: number;
  readonly doubleGets: number;
  readonly badPuts: number;
  readonly elapsedMs: number;
}

/** Handles one VCPU holds at most: enough to make it grow past its first page now and then. */
const MAX_HELD = 300;

const d = workerData as MaptrackWorkerData;
const mt = Maptrack.attach(d.shared);
const mailbox = new Int32Array(d.mailbox);
const owner = new Int32Array(d.owner);
const held = new Int32Array(MAX_HELD);
let nheld = 0;
let x = d.seed | 1;
function rand(): number {
  // xorshift32: deterministic per worker; interleavings are up to the OS.
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

let gets = 0;
let puts = 0;
let remotePuts = 0;
let failures = 0;
let doubleGets = 0;
let badPuts = 0;
const check = d.mode === "check";

function put(h: number): void {
  if (check && Atomics.compareExchange(owner, h, 1, 0) !== 1) badPuts++;
  if (mt.entryVcpu(h) !== d.vcpu) remotePuts++;
  mt.put(d.vcpu, h);
  puts++;
}

if (!check) {
  // Say we are ready (word 1), then wait for the start signal (word 0).
  Atomics.add(owner, 1, 1);
  Atomics.notify(owner, 1);
  Atomics.wait(owner, 0, 0);
}
const t0 = performance.now();
for (let i = 0; i < d.ops; i++) {
  const r = rand();
  // Get while holding few, put while holding many; in between, either.
  if (nheld < 4 || (nheld < MAX_HELD && (r & 1) === 0 && nheld < 16 + ((r >>> 8) & 255))) {
    const h = mt.get(d.vcpu);
    gets++;
    if (h === INVALID_MAPTRACK_HANDLE) {
      failures++;
      continue;
    }
    if (check && Atomics.compareExchange(owner, h, 0, 1) !== 0) doubleGets++;
    held[nheld++] = h;
  } else {
    const k = (r >>> 1) % nheld;
    const h = held[k] as number;
    held[k] = held[--nheld] as number;
    if (((r >>> 12) & 3) === 0) {
      // Hand it to whoever takes the mailbox slot next; put what was there (another VCPU's, maybe).
      const prev = Atomics.exchange(mailbox, (r >>> 16) % mailbox.length, h + 1);
      if (prev !== 0) put(prev - 1);
    } else put(h);
  }
}
while (nheld > 0) put(held[--nheld] as number);
const elapsedMs = performance.now() - t0;
const result: MaptrackWorkerResult = { vcpu: d.vcpu, ops: d.ops, gets, puts, remotePuts, failures, doubleGets, badPuts, elapsedMs };
parentPort?.postMessage(result);
