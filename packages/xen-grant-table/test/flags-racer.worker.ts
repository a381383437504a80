// A guest VCPU in its own thread racing the hypervisor on one grant entry: it keeps flipping
// GTF_readonly of the entry (a change Xen's _set_status_v1 comment allows a guest to race) until
// told to stop, then reports how many flips it made.
import { parentPort, workerData } from "node:worker_threads";
import { Machine, type MachineHandle } from "@pvnet/hypervisor";
import { GTF } from "../src/index.js";

export interface FlagsRacerData {
  readonly machine: MachineHandle;
  /** Absolute byte offset of the grant entry. */
  readonly entry: number;
  /** Int32Array: word 0 = ready (set by the worker), word 1 = stop (set by the test). */
  readonly control: SharedArrayBuffer;
}

const d = workerData as FlagsRacerData;
const m = Machine.attach(d.machine);
const control = new Int32Array(d.control);
const idx = d.entry >>> 1;
let flips = 0;
Atomics.store(control, 0, 1);
Atomics.notify(control, 0);
while (Atomics.load(control, 1) === 0) {
  Atomics.xor(m.u16, idx, GTF.readonly);
  flips++;
}
// Leave the grant writable, as it started.
Atomics.and(m.u16, idx, ~GTF.readonly & 0xffff);
parentPort?.postMessage(flips);
