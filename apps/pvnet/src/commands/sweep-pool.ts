/**
 * The worker-thread pool that runs sweep points on this machine (tinypool). In a source checkout
 * (under tsx) each thread starts from a boot file that registers tsx; in the published package
 * (tsup writes every entry flat into dist/) the compiled worker runs directly.
 */
import { availableParallelism } from "node:os";
import Tinypool from "tinypool";
import type { PointReport, SweepPoint } from "./sweep-points.js";

/** Threads a pool may start: a bound well past the cores of one machine, so a typo cannot fork-bomb it. */
export const MAX_JOBS = 256;

/** The default --jobs: every core this process may use. */
export function defaultJobs(): number {
  return Math.min(MAX_JOBS, availableParallelism());
}

export interface PointPool {
  run(point: SweepPoint, signal?: AbortSignal): Promise<PointReport>;
  destroy(): Promise<void>;
}

/** A pool of `jobs` threads, all started at once and kept until `destroy` (a thread's start loads the model). */
export function pointPool(jobs: number): PointPool {
  const fromSource = import.meta.url.endsWith(".ts");
  const filename = fromSource ? new URL("./sweep-worker-boot.mjs", import.meta.url).href : new URL("./sweep-worker.js", import.meta.url).href;
  // isolateWorkers false: one point after another in a thread; each point builds its own host.
  const pool = new Tinypool({ filename, minThreads: jobs, maxThreads: jobs, isolateWorkers: false });
  return {
    run: (point, signal) => pool.run(point, signal === undefined ? {} : { signal }) as Promise<PointReport>,
    destroy: () => pool.destroy(),
  };
}
