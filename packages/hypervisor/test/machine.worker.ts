import { workerData, parentPort } from "node:worker_threads";
import { Machine, type MachineHandle } from "../src/index.js";

const { handle, mfn } = workerData as { handle: MachineHandle; mfn: number };
const m = Machine.attach(handle);
const seen = m.view.getUint32(m.frameOffset(mfn), true);
m.view.setUint32(m.frameOffset(mfn) + 4, 0xcafef00d, true);
parentPort?.postMessage(seen);
