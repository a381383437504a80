import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, describe, expect, test } from "vitest";

/**
 * `pvnet sweep --queue` against a real redis-server on loopback, with two `pvnet worker`
 * processes: the first is SIGKILLed while it runs its first point; BullMQ's stalled-job check in
 * the second puts that point back on the queue and the second runs it. No point is lost or
 * finished twice, the results come back in point order and equal those of the local sweep, and
 * the sweep leaves none of its jobs in Redis. Skipped (and says so) where redis-server is not
 * installed, except in CI, where .ci/run installs it and the test must run.
 */
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const tsx = createRequire(import.meta.url).resolve("tsx");

function hasRedisServer(): boolean {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const redisInstalled = hasRedisServer();
if (!redisInstalled && process.env.CI === undefined) console.warn("sweep-queue.test.ts skipped: redis-server is not installed (apt-get install redis-server; CI installs it)");

/** Every process this file starts, stopped at the end even when a test failed. */
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(async () => {
  for (const c of children.reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((resolve) => c.once("exit", resolve));
    c.kill("SIGKILL");
    await gone;
  }
});

function start(command: string, args: string[]): ChildProcessWithoutNullStreams & { out: string[] } {
  const child = Object.assign(spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] }), { out: [] as string[] });
  children.push(child);
  let partial = "";
  child.stdout.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    child.out.push(...lines);
    child.emit("lines");
  });
  child.stderr.on("data", (d: Buffer) => process.stderr.write(d));
  return child;
}

/** `pvnet ...` as the launcher runs it, but as one process (so a SIGKILL reaches the command itself). */
function pvnet(...args: string[]) {
  return start(process.execPath, ["--conditions=@pvnet/source", "--import", tsx, cli, ...args]);
}

/** Resolves with the first line of `child`'s stdout that matches, or rejects when it exits first. */
function line(child: ReturnType<typeof start>, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const look = () => {
      for (const l of child.out) {
        const m = l.match(pattern);
        if (m !== null) {
          child.off("lines", look);
          child.off("exit", exited);
          resolve(m);
          return;
        }
      }
    };
    const exited = () => reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${child.out.join("\n")}`));
    child.on("lines", look);
    child.once("exit", exited);
    look();
  });
}

function exit(child: ReturnType<typeof start>): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

interface Result {
  point: Record<string, unknown>;
  report: Record<string, unknown> & { wall: unknown };
}
const modelled = (r: Result) => {
  const { wall: _wall, ...rest } = r.report;
  return { point: r.point, report: rest };
};

// 65535-byte points first: a point lasts long enough that the worker is killed inside it.
const SWEEP = ["sweep", "--sizes", "65535,64", "--modes", "baseline,persistent", "--topologies", "domu-dom0,domu-domu", "--packets", "300", "--json", "-"];
/** Short locks so a dead worker's point is back on the queue within seconds. */
const LOCKS = ["--jobs", "1", "--lock-duration", "2000", "--stalled-interval", "1000"];

describe.skipIf(!redisInstalled && process.env.CI === undefined)("pvnet sweep on a BullMQ queue in Redis", () => {
  test("two workers, one SIGKILLed mid-point: every point finished once, in order, equal to the local sweep", async () => {
    expect(redisInstalled, "CI must have redis-server (.ci/run installs it)").toBe(true);
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const redis = start("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    await line(redis, /Ready to accept connections/);

    const local = pvnet(...SWEEP, "--jobs", "2");
    const workerA = pvnet("worker", "--queue", url, ...LOCKS);
    await line(workerA, /^ready: /);
    // Anything that reaches Redis may write a job: one without a point fails, the worker carries on.
    const producer = new Queue("pvnet-sweep", { connection: { host: "127.0.0.1", port } });
    await producer.add("point", { sweep: "x", index: 0, point: { topology: "domu-domu", direction: "rx", pktSize: 64 } }, { jobId: "not-a-point" });
    await producer.close();
    expect((await line(workerA, /^failed not-a-point (.*)$/))[1]).toBe("job not-a-point carries no sweep point");
    const sweep = pvnet(...SWEEP, "--queue", url);
    const [, killedJob] = await line(workerA, /^start (\S+) pvnet run /);
    const workerB = pvnet("worker", "--queue", url, ...LOCKS);
    workerA.kill("SIGKILL");
    expect(await exit(workerA)).toBe("SIGKILL");

    expect(await exit(sweep)).toBe(0);
    expect(await exit(local)).toBe(0);
    workerB.kill("SIGTERM");
    expect(await exit(workerB)).toBe(0);

    const done = (w: typeof workerA) => w.out.flatMap((l) => l.match(/^done (\S+) /)?.[1] ?? []);
    const doneA = done(workerA);
    const doneB = done(workerB);
    // The point A was running when it died was not finished by A; B ran it again and finished it.
    expect(doneA).not.toContain(killedJob);
    expect(doneB).toContain(killedJob);
    // Eight points (domu-domu sends tx only): each finished by exactly one worker, once.
    const all = [...doneA, ...doneB];
    expect(new Set(all).size).toBe(all.length);
    const sweepId = (killedJob ?? "").replace(/-\d+$/, "");
    expect(all.map((id) => id.replace(`${sweepId}-`, "")).sort((a, b) => Number(a) - Number(b))).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);

    const queued = JSON.parse(sweep.out.join("\n")) as { points: number; finished: number; results: Result[] };
    const here = JSON.parse(local.out.join("\n")) as { results: Result[] };
    expect(queued).toMatchObject({ points: 8, finished: 8 });
    expect(queued.results.map(modelled)).toEqual(here.results.map(modelled));

    // The sweep took its jobs off Redis.
    const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true });
    await client.connect();
    expect(await client.keys(`bull:pvnet-sweep:${sweepId}*`)).toEqual([]);
    client.disconnect();
  });
});
