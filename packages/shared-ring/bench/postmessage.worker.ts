/**
 * The MessagePort baseline of ring.bench.ts: the same 12-byte requests and 8-byte responses as
 * test/ring-pump.worker.ts, one postMessage each, with the same flow control (at most RING_SIZE
 * requests outstanding) between the same two worker threads.
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";

interface Config {
  role: "producer" | "consumer";
  port: MessagePort;
  count: number;
  window: number;
}
const { role, port, count, window } = workerData as Config;
const MIX = 0x9e3779b9;

if (role === "consumer") {
  const rsp = new Uint8Array(8);
  const rv = new DataView(rsp.buffer);
  let expected = 0;
  port.on("message", (req: Uint8Array) => {
    const v = new DataView(req.buffer, req.byteOffset, req.byteLength);
    const seq = v.getUint32(0, true);
    if (seq !== expected || v.getUint32(4, true) !== (seq ^ MIX) >>> 0) {
      parentPort?.postMessage({ ok: false, reason: `request ${expected}: got ${seq}` });
      return;
    }
    expected++;
    rv.setUint32(0, seq, true);
    rv.setUint32(4, ~seq >>> 0, true);
    port.postMessage(rsp);
    if (expected === count) port.close();
  });
  parentPort?.postMessage({ ready: true });
} else {
  const req = new Uint8Array(12);
  const qv = new DataView(req.buffer);
  let sent = 0;
  let received = 0;
  let t0 = 0n;
  const send = () => {
    qv.setUint32(0, sent, true);
    qv.setUint32(4, (sent ^ MIX) >>> 0, true);
    qv.setUint32(8, Math.imul(sent, 0x85ebca6b) >>> 0, true);
    port.postMessage(req); // structured clone: the 12 bytes are copied
    sent++;
  };
  port.on("message", (rsp: Uint8Array) => {
    const seq = new DataView(rsp.buffer, rsp.byteOffset, rsp.byteLength).getUint32(0, true);
    if (seq !== received) {
      parentPort?.postMessage({ ok: false, reason: `response ${received}: got ${seq}` });
      return;
    }
    received++;
    if (sent < count) send();
    if (received === count) {
      parentPort?.postMessage({ ok: true, entries: received, elapsedNs: Number(process.hrtime.bigint() - t0) });
      port.close();
    }
  });
  parentPort?.once("message", () => {
    t0 = process.hrtime.bigint();
    while (sent < count && sent < window) send();
  });
  parentPort?.postMessage({ ready: true });
}
