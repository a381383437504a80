/** Main-thread side of ring-pump.worker.ts: start both ends over one ring and collect results. */
import { Machine } from "@pvnet/hypervisor";
import { SharedRing } from "@pvnet/shared-ring";
import { firstMessage, startTsWorker } from "@pvnet/testkit";
import type { PumpConfig, PumpResult } from "./ring-pump.worker.js";

export interface PumpRun {
  front: PumpResult;
  back: PumpResult;
}

export async function runPump(count: number, batch: number, sleepTimeoutMs = 10_000): Promise<PumpRun> {
  const machine = new Machine(8);
  const mfn = machine.allocFrame(0);
  SharedRing.overFrames(machine, [mfn], { name: "pump", requestBytes: 12, responseBytes: 8, slotBytes: 12 }).init();
  const control = new Int32Array(new SharedArrayBuffer(8 * 4));
  const base = { machine: machine.handle(), mfns: [mfn], control, count, batch, sleepTimeoutMs };
  const entry = new URL("./ring-pump.worker.ts", import.meta.url);
  const workers = (["front", "back"] as const).map((role) => startTsWorker(entry, { workerData: { ...base, role } satisfies PumpConfig }));
  const results = workers.map((w) => firstMessage<PumpResult>(w));
  try {
    const [front, back] = await Promise.all(results);
    return { front: front as PumpResult, back: back as PumpResult };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
