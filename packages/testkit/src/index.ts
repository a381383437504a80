/**
 * Helpers shared by the tests and benchmarks of the pvnet packages. Private: never published, never
 * imported from a package's `src/`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism, cpus } from "node:os";
import { Worker, type WorkerOptions } from "node:worker_threads";

export { Bench, type BenchOptions, type BenchStats, benchOptions, benchStats, type Task } from "./bench.js";

/** The monorepo root: the nearest folder above this file holding pnpm-workspace.yaml. */
export const REPO_ROOT: string = findUp(dirname(fileURLToPath(import.meta.url)), "pnpm-workspace.yaml");

function findUp(from: string, marker: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, marker))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no ${marker} above ${from}`);
    dir = up;
  }
}

/** `abi/` of the repository: ground truth generated from the Xen public headers (abi/README.md). */
export const XEN_ABI_DIR: string = resolve(REPO_ROOT, "abi");

let abiFactsCache: unknown;

/** Parsed `abi-facts.json`. Typed loosely on purpose: tests index it with the keys they check. */
// biome-ignore lint/suspicious/noExplicitAny: JSON ground truth is navigated by key in tests.
export function abiFacts(): any {
  abiFactsCache ??= JSON.parse(readFileSync(join(XEN_ABI_DIR, "abi-facts.json"), "utf8"));
  return abiFactsCache;
}

/**
 * Start a worker thread running a TypeScript module. `entry` is the module's URL (usually
 * `new URL("./x.worker.ts", import.meta.url)`); `workerData` reaches it as usual.
 */
export function startTsWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const data = (options.workerData ?? {}) as Record<string, unknown>;
  return new Worker(new URL("./worker-boot.mjs", import.meta.url), {
    ...options,
    execArgv: [...(options.execArgv ?? []), "--conditions=@pvnet/source"],
    workerData: { ...data, __entry: entry.href },
  });
}

/** Resolve with the worker's first message; reject on error or on exit before a message. */
export function firstMessage<T>(worker: Worker): Promise<T> {
  return new Promise<T>((res, rej) => {
    worker.once("message", res);
    worker.once("error", rej);
    worker.once("exit", (code) => rej(new Error(`worker exited with code ${code} before replying`)));
  });
}

/** The machine a benchmark ran on, recorded beside its figures. */
export function benchHost(): { cpus: number; parallelism: number; model: string; node: string } {
  return { cpus: cpus().length, parallelism: availableParallelism(), model: cpus()[0]?.model ?? "unknown", node: process.version };
}

/** Write a benchmark's JSON result to `bench-results/<name>.json` at the repo root; returns the path. */
export function writeBenchResult(name: string, result: unknown): string {
  const dir = join(REPO_ROOT, "bench-results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

/**
 * Run the first ```ts block of a package's README (under its "## Usage" heading) as a program,
 * the way a user would paste it, and return what it printed. The block imports the package by
 * name; the file is written inside the package so the name resolves to the package itself, and
 * `@pvnet/source` makes every @pvnet import resolve to sources.
 */
export function runReadmeExample(packageDir: URL, timeoutMs = 60_000): string {
  const dir = fileURLToPath(packageDir);
  const readme = readFileSync(join(dir, "README.md"), "utf8");
  const usage = readme.indexOf("## Usage");
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(Math.max(usage, 0)));
  if (match === null) throw new Error(`no \`\`\`ts block in ${dir}/README.md`);
  const file = join(dir, `.readme-example-${process.pid}.mts`);
  writeFileSync(file, match[1] as string);
  try {
    const tsx = join(REPO_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
    return execFileSync(process.execPath, [tsx, "--conditions=@pvnet/source", file], {
      cwd: dir,
      encoding: "utf8",
      timeout: timeoutMs,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Module-level mutable state in a driver's sources (`file: name` for each): top-level `let` and
 * `var`, and top-level `const` objects, arrays and instances. Per-packet scratch and state belong
 * in the queue (or the device), so two devices, or two runners' threads, never share it.
 */
export function moduleLevelState(srcDir: URL): string[] {
  const found: string[] = [];
  for (const file of readdirSync(srcDir).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(new URL(file, srcDir), "utf8");
    for (const m of text.matchAll(/^(?:export )?(let|var) (\w+)|^(?:export )?const (\w+)(?:: [^=]+)? = (new |\{|\[)/gm)) {
      found.push(`${file}: ${m[2] ?? m[3] ?? ""}`);
    }
  }
  return found;
}
