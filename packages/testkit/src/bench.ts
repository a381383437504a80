/**
 * The wall-clock benchmarks' harness: tinybench runs each task (warm-up iterations first, then at
 * least `iterations` timed ones) and keeps every sample; `benchStats` turns a task's samples into
 * the per-operation figures the bench JSON files record — median, mean, variance, standard
 * deviation and relative margin of error — so a figure always comes with its spread.
 */
import { Bench, type BenchOptions, type Task } from "tinybench";

export { Bench, type BenchOptions, type Task };

/** A task's samples per operation, one sample being `opsPerSample` operations. */
export interface BenchStats {
  /** Timed samples (warm-up excluded). */
  readonly samples: number;
  /** Operations in one sample. */
  readonly opsPerSample: number;
  readonly medianNsPerOp: number;
  readonly meanNsPerOp: number;
  /** Sample variance of the per-operation time, ns². */
  readonly varianceNsPerOp: number;
  readonly sdNsPerOp: number;
  readonly minNsPerOp: number;
  readonly maxNsPerOp: number;
  /** Relative margin of error of the mean at 95 %, in percent (Student's t). */
  readonly rmePercent: number;
  /** Operations per second at the median sample. */
  readonly opsPerSecMedian: number;
}

/** Options for the wall-clock benches: `iterations` timed samples after `warmupIterations`, no time budget. */
export function benchOptions(iterations: number, warmupIterations: number): BenchOptions {
  // time/warmupTime 0: exactly the counted iterations, however long each takes; throws: a failed
  // run is an error, not a missing figure.
  return { iterations, warmupIterations, time: 0, warmupTime: 0, warmup: warmupIterations > 0, retainSamples: true, throws: true };
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** Per-operation statistics of a finished task (tinybench's latency is in ms per sample). */
export function benchStats(task: Task, opsPerSample: number): BenchStats {
  const r = task.result;
  if (r.state !== "completed") throw new Error(`bench task ${task.name} did not complete: ${r.state}${r.state === "errored" ? ` (${r.error.message})` : ""}`);
  const l = r.latency;
  const perOp = 1e6 / opsPerSample; // ms per sample -> ns per operation
  return {
    samples: l.samplesCount,
    opsPerSample,
    medianNsPerOp: round(l.p50 * perOp, 3),
    meanNsPerOp: round(l.mean * perOp, 3),
    varianceNsPerOp: round(l.variance * perOp * perOp, 3),
    sdNsPerOp: round(l.sd * perOp, 3),
    minNsPerOp: round(l.min * perOp, 3),
    maxNsPerOp: round(l.max * perOp, 3),
    rmePercent: round(l.rme, 2),
    opsPerSecMedian: Math.round((opsPerSample * 1e3) / l.p50),
  };
}
