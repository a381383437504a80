// Entry of a threaded-mode VCPU thread in a source checkout: registers tsx so the thread can load
// TypeScript, and resolves the workspace packages to their sources (the "@pvnet/source" export
// condition) whether or not the process that started it was given that condition (vitest is not).
import { register } from "node:module";
import { workerData } from "node:worker_threads";
import { register as registerTsx } from "tsx/esm/api";

registerTsx();
register(
  "data:text/javascript,export async function resolve(s, c, next) { return next(s, { ...c, conditions: [...new Set([...c.conditions, '@pvnet/source'])] }); }",
);
await import(workerData.entry);
