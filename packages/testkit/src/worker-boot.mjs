// Entry point of a worker thread started by `startTsWorker`: registers tsx so the worker can load
// TypeScript, then imports the real entry. The parent passes `--conditions=@pvnet/source`, so
// sibling packages resolve to their sources, exactly as in vitest.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.__entry);
