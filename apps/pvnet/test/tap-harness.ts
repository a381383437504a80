/**
 * What the real-traffic test and bench share: starting `pvnet tap` on namespaces of their own and
 * waiting for it to be ready, stopping it with SIGTERM, and running commands inside a namespace.
 * Every step is bounded in time, and what a failed step leaves is removed by `cleanupAll`.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
const has = (tool: string, ...args: string[]) => spawnSync(tool, args, { stdio: "ignore" }).error === undefined;

/** What the real-traffic runs need and this machine lacks (empty: they can run). */
export function missingForTap(): string[] {
  return [
    ...(process.getuid?.() === 0 ? [] : ["root"]),
    ...(existsSync("/dev/net/tun") ? [] : ["/dev/net/tun"]),
    ...["ip", "ping", "iperf3"].filter((t) => !has(t, "-V")),
  ];
}

export const hasTool = has;
export const PVNET_BIN = bin;

/** Bounds: a stuck step fails the test instead of hanging CI. */
const READY_MS = 30_000;
const EXIT_MS = 30_000;

export const netnsList = () => execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
export const inNetns = (ns: string, ...cmd: string[]) => execFileSync("ip", ["netns", "exec", ns, ...cmd], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });

const cleanup: Array<() => void> = [];
/** Undo what the runs since the last call left (processes, namespaces), newest first. */
export function cleanupAll(): void {
  for (const c of cleanup.splice(0).reverse()) c();
}

/** Run `fn` at the next `cleanupAll`. */
export function onCleanup(fn: () => void): void {
  cleanup.push(fn);
}

/** Start `pvnet tap` on namespaces of this test; resolves once it says it is ready. */
export function startTap(ns: readonly [string, string], addrs: readonly [string, string], extra: readonly string[]): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [bin, "tap", "--netns", ns.join(","), "--addr", addrs.join(","), "--json", ...extra], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => {
    out += String(d);
  });
  child.stderr?.on("data", (d) => {
    err += String(d);
  });
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    // Whatever a failed run left behind.
    for (const n of ns) spawnSync("ip", ["netns", "del", n], { stdio: "ignore" });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pvnet tap not ready after ${READY_MS} ms: ${out}${err}`)), READY_MS);
    const onData = () => {
      if (!out.includes("pvnet tap: ready")) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      resolve({ child, out: () => out });
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`pvnet tap exited with ${code}: ${out}${err}`));
    });
  });
}

export function stopTap(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pvnet tap still running ${EXIT_MS} ms after SIGTERM`)), EXIT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill("SIGTERM");
  });
}

