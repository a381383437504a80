/**
 * Sweep points as jobs on a BullMQ queue in Redis. `pvnet sweep --queue` enqueues one job per point
 * (job id: the sweep's id and the point's index, so a point is on the queue once) and waits for
 * each; `pvnet worker --queue` processes run them on their own worker-thread pools. A worker that
 * dies mid-point stops renewing its job's lock; BullMQ's stalled-job check in a live worker moves
 * the job back to the wait list and another worker runs it. A point's report depends on the point
 * alone (its seed included), so it is the same whichever worker ran it.
 */
import { randomUUID } from "node:crypto";
import { type Job, Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { CliError, EXIT, usageError } from "./command.js";
import { isSweepPoint, type PointReport, type SweepPoint } from "./sweep-points.js";

/** The one queue every `pvnet sweep --queue` and `pvnet worker --queue` on a Redis share. */
export const QUEUE_NAME = "pvnet-sweep";
/** Redis's own default port, for a URL that names none. */
const REDIS_PORT = 6379;
/** Seconds a finished job stays in Redis when its sweep is gone (an interrupted sweep's active points). */
const JOB_KEEP_S = 3600;
/** How long the first connection may take before the command says Redis cannot be reached. */
const CONNECT_TIMEOUT_MS = 5000;

/** Where the queue lives: a `redis://[user:password@]HOST[:PORT][/DB]` URL. */
export interface QueueConnection {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

/** A --queue value, checked: a usage error (exit 2) names what is wrong with it. */
export function parseQueueUrl(value: string): QueueConnection {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw usageError(`--queue must be a redis://HOST:PORT URL, not '${value}'`);
  }
  if (u.protocol !== "redis:") throw usageError(`--queue must be a redis://HOST:PORT URL (got protocol '${u.protocol}')`);
  if (u.hostname === "") throw usageError("--queue names no host: redis://HOST:PORT");
  const port = u.port === "" ? REDIS_PORT : Number(u.port);
  const path = u.pathname.replace(/^\//, "");
  if (path !== "" && !/^[0-9]{1,2}$/.test(path)) throw usageError(`--queue: '${path}' is not a Redis database number`);
  return {
    url: value,
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port,
    db: path === "" ? 0 : Number(path),
    ...(u.username === "" ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === "" ? {} : { password: decodeURIComponent(u.password) }),
  };
}

/** ioredis options for BullMQ's connections (workers need maxRetriesPerRequest null: they block on the queue). */
export function connectionOptions(c: QueueConnection) {
  return {
    host: c.host,
    port: c.port,
    db: c.db,
    ...(c.username === undefined ? {} : { username: c.username }),
    ...(c.password === undefined ? {} : { password: c.password }),
    maxRetriesPerRequest: null,
  };
}

/** Fail fast with one line when nothing answers at the URL (ioredis would otherwise retry forever). */
export async function checkReachable(c: QueueConnection): Promise<void> {
  const redis = new Redis({ ...connectionOptions(c), lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than the "Connection is closed" of connect().
  let socketError: Error | undefined;
  redis.on("error", (e: Error) => {
    socketError ??= e;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    const err = socketError ?? (e as Error);
    throw new CliError(`cannot reach Redis at ${c.url}: ${err.message}`, EXIT.FAILED, { cause: err });
  } finally {
    redis.disconnect();
  }
}

/** What a job carries: the point, and where it stands in its sweep. */
export interface PointJob {
  readonly sweep: string;
  readonly index: number;
  readonly point: SweepPoint;
}

/** A job's data read back from Redis: checked, since anything may have written it. */
export function isPointJob(v: unknown): v is PointJob {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.sweep === "string" && Number.isSafeInteger(o.index) && isSweepPoint(o.point);
}

/** A job's result read back from Redis: a run report (checked for the fields the sweep writes). */
function isReport(v: unknown): v is PointReport {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.traceDigest === "string" && typeof o.modelled === "object" && typeof o.hypercalls === "object";
}

/**
 * The executor of `pvnet sweep --queue`: enqueue every point, resolve each as its job completes
 * (`onDone` in completion order; the sweep writes them in point order), fail on the first failed
 * point. On abort (Ctrl-C) the points not yet started are taken off the queue. Every job of the
 * sweep is removed from Redis at the end.
 */
export function queueSweep(c: QueueConnection) {
  return async (points: readonly SweepPoint[], onDone: (index: number, report: PointReport) => void, signal: AbortSignal): Promise<void> => {
    const connection = connectionOptions(c);
    const queue = new Queue<PointJob, PointReport>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    const sweep = randomUUID();
    let jobs: Job<PointJob, PointReport>[] = [];
    try {
      await events.waitUntilReady();
      jobs = await queue.addBulk(
        points.map((point, index) => ({
          name: "point",
          data: { sweep, index, point },
          // One attempt: a point that throws fails the same way everywhere. A worker that dies is not
          // an attempt: its job stalls and is moved back to wait (maxStalledCount in `pvnet worker`).
          // A job finished after the sweep stopped waiting for it is removed an hour later.
          opts: { jobId: `${sweep}-${index}`, attempts: 1, removeOnComplete: { age: JOB_KEEP_S }, removeOnFail: { age: JOB_KEEP_S } },
        })),
      );
      const aborted = new Promise<never>((_, reject) => {
        const onAbort = () => reject(new Error("interrupted"));
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      });
      aborted.catch(() => {});
      await Promise.race([
        aborted,
        Promise.all(
          jobs.map(async (job, index) => {
            let result: unknown;
            try {
              result = await job.waitUntilFinished(events);
            } catch (e) {
              throw new Error(`point ${index} (job ${job.id}) failed: ${(e as Error).message}`);
            }
            if (!isReport(result)) throw new Error(`point ${index} (job ${job.id}) returned no run report`);
            onDone(index, result);
          }),
        ),
      ]);
    } finally {
      // Waiting jobs are removed; an active one keeps its lock and is removed by nobody: it is
      // finished by its worker and then removed below with the rest.
      await Promise.allSettled(jobs.map((job) => job.remove()));
      await events.close();
      await queue.close();
    }
  };
}
