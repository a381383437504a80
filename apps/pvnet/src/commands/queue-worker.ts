/**
 * `pvnet worker`: runs the points that `pvnet sweep --queue` puts on a BullMQ queue in Redis, on a
 * worker-thread pool of --jobs threads (the points are CPU work; this thread stays free to renew
 * the jobs' locks). Start any number, on any machines that reach the Redis. A worker that dies
 * stops renewing its locks: after --lock-duration, the stalled-job check of a live worker (every
 * --stalled-interval) puts its points back on the queue for another. Prints one line per point
 * started and finished. SIGTERM or Ctrl-C stops it; points it was running are then retried by
 * another worker, as if it had died.
 */
import type { Job } from "bullmq";
import { Command, Option } from "commander";
import { decimalInteger, nonEmpty } from "../cli-options.js";
import { EXIT, usageError } from "./command.js";
import { defaultJobs, MAX_JOBS, pointPool } from "./sweep-pool.js";
import { pointCommandLine, type PointReport } from "./sweep-points.js";
import type { PointJob } from "./sweep-queue.js";

/** BullMQ's default lock: a job whose worker has not renewed it for this long is stalled. */
export const DEFAULT_LOCK_DURATION_MS = 30_000;
/** BullMQ's default interval of the stalled-job check. */
export const DEFAULT_STALLED_INTERVAL_MS = 30_000;
/** A lock shorter than this is renewed (at half its length) more often than a busy machine keeps up with. */
const MIN_LOCK_MS = 500;
/** An hour: a lock or interval past it hides a dead worker's points for too long to be useful. */
const MAX_LOCK_MS = 3_600_000;
/**
 * Times a point may be recovered from a dead worker before it is failed: a point that has killed
 * five workers (out of memory, say) would kill the next one as well.
 */
const MAX_STALLED_COUNT = 5;

interface WorkerOptions {
  queue: string;
  jobs: number;
  lockDuration: number;
  stalledInterval: number;
}

async function action(o: WorkerOptions): Promise<void> {
  // BullMQ and ioredis are loaded by this command only, not by every pvnet command.
  const { Worker } = await import("bullmq");
  const { checkReachable, connectionOptions, isPointJob, parseQueueUrl, QUEUE_NAME } = await import("./sweep-queue.js");
  const c = parseQueueUrl(o.queue);
  if (o.stalledInterval > o.lockDuration) throw usageError("--stalled-interval must not be longer than --lock-duration");
  await checkReachable(c);
  const pool = pointPool(o.jobs);
  const worker = new Worker<PointJob, PointReport>(
    QUEUE_NAME,
    async (job: Job<PointJob, PointReport>) => {
      const data: unknown = job.data;
      if (!isPointJob(data)) throw new TypeError(`job ${job.id} carries no sweep point`);
      return pool.run(data.point);
    },
    {
      connection: connectionOptions(c),
      concurrency: o.jobs,
      lockDuration: o.lockDuration,
      stalledInterval: o.stalledInterval,
      maxStalledCount: MAX_STALLED_COUNT,
      autorun: false,
    },
  );
  const say = (line: string) => process.stdout.write(`${line}\n`);
  worker.on("active", (job) => {
    const point = isPointJob(job.data) ? `pvnet ${pointCommandLine(job.data.point).join(" ")}` : "(no point)";
    say(`start ${job.id} ${point}`);
  });
  worker.on("completed", (job, r) => say(`done ${job.id} trace ${r.traceDigest}`));
  worker.on("failed", (job, err) => say(`failed ${job?.id ?? "?"} ${err.message}`));
  // Redis going away is retried by ioredis; say so once per error instead of throwing.
  worker.on("error", (err) => process.stderr.write(`pvnet worker: ${err.message}\n`));

  let exitCode: number = EXIT.OK;
  const stopped = new Promise<void>((resolve) => {
    const stop = (code: number) => () => {
      exitCode = code;
      resolve();
    };
    process.once("SIGINT", stop(EXIT.INTERRUPTED));
    process.once("SIGTERM", stop(EXIT.OK));
  });
  const running = worker.run();
  await worker.waitUntilReady();
  say(`ready: ${o.jobs} thread${o.jobs === 1 ? "" : "s"} on queue ${QUEUE_NAME} at ${c.url}`);
  await Promise.race([stopped, running]);
  // force: do not wait for the points running now; their locks lapse and another worker runs them.
  await worker.close(true);
  await pool.destroy();
  process.exitCode = exitCode;
}

export function queueWorkerCommand(): Command {
  return new Command("worker")
    .summary("run the points of `pvnet sweep --queue` from a BullMQ queue in Redis")
    .description(
      "Takes sweep points from the BullMQ queue at --queue and runs them on --jobs worker threads, as `pvnet run --json` " +
        "would; the report goes back to the sweep through Redis. Start any number of workers on any machines. A point " +
        "whose worker dies is run by another once its lock lapses (--lock-duration) and a live worker's stalled-job " +
        "check (every --stalled-interval) finds it. Prints `start <job> <command>` and `done <job> trace <digest>` per " +
        "point. Stops on SIGTERM or Ctrl-C; the points it was running are then run by another worker.",
    )
    .addOption(new Option("--queue <url>", "the Redis holding the queue: redis://HOST:PORT[/DB]").argParser(nonEmpty("a redis:// URL")).makeOptionMandatory())
    .addOption(new Option("--jobs <n>", `points run at once (1..${MAX_JOBS})`).argParser(decimalInteger(1, MAX_JOBS)).default(defaultJobs(), `available parallelism, ${defaultJobs()} here`))
    .addOption(new Option("--lock-duration <ms>", `a point's lock, renewed at half of it; a dead worker's points wait this long (${MIN_LOCK_MS}..${MAX_LOCK_MS})`).argParser(decimalInteger(MIN_LOCK_MS, MAX_LOCK_MS)).default(DEFAULT_LOCK_DURATION_MS))
    .addOption(new Option("--stalled-interval <ms>", `how often this worker looks for points of dead workers (${MIN_LOCK_MS}..${MAX_LOCK_MS})`).argParser(decimalInteger(MIN_LOCK_MS, MAX_LOCK_MS)).default(DEFAULT_STALLED_INTERVAL_MS))
    .addHelpText("after", "\nExample:\n  pvnet worker --queue redis://127.0.0.1:6379 --jobs 4")
    .action(action);
}
