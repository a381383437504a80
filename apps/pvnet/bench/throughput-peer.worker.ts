/**
 * The peer threads of the throughput bench: "sink" counts the frames a MessagePort brings and
 * acknowledges every window of them; "pong" answers the ping counter of a SharedArrayBuffer (the
 * cross-core round trip).
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";

const d = workerData as { role: "sink"; port: MessagePort; frames: number; window: number } | { role: "pong"; control: SharedArrayBuffer; rounds: number };

if (d.role === "sink") {
  let seen = 0;
  let bytes = 0;
  d.port.on("message", (m: Uint8Array) => {
    seen++;
    bytes += m.length;
    if (seen % d.window === 0 || seen === d.frames) d.port.postMessage(seen);
    if (seen === d.frames) {
      parentPort?.postMessage(bytes);
      d.port.close();
    }
  });
} else {
  // Word 0: the ping counter the main thread bumps; word 1: the pong we answer with. Both spin.
  const c = new Int32Array(d.control);
  for (let i = 1; i <= d.rounds; i++) {
    while (Atomics.load(c, 0) !== i) {
      // spin: the round trip is what is measured
    }
    Atomics.store(c, 1, i);
  }
  parentPort?.postMessage("done");
}
