// Entry of `pvnet run`'s worker thread in a source checkout: registers tsx so the worker can load
// TypeScript (the launcher's --conditions=@pvnet/source is inherited), then imports the worker.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
