/**
 * The real xenstore peers for the conformance test: where scripts/install-peers.sh puts them,
 * what is missing, and how to start oxenstored (with the LD_PRELOAD shim of
 * abi/xenfake-preload.c, in a private mount namespace) as abi/xenstore-peers.md says.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
export const PEERS_DIR = join(PACKAGE_DIR, ".peers");
export const OX_BIN = join(PEERS_DIR, "root/usr/lib/xen-4.17/bin");
export const OXENSTORED = join(OX_BIN, "oxenstored");
export const TEST_XENSTORE = join(OX_BIN, "test-xenstore");
export const XENFAKE = join(PEERS_DIR, "xenfake.so");
export const PYTHON = "/usr/bin/python3";
export const CLI_TOOLS = ["read", "write", "ls", "list", "rm", "exists", "chmod", "watch"].map((t) => `xenstore-${t}`);

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(join(d, cmd)));
}

/** What is missing to run the conformance test (empty when everything is installed). */
export function missingPeers(): string[] {
  const missing = CLI_TOOLS.filter((t) => !onPath(t)).map((t) => `${t} (xenstore-utils)`);
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ["-c", "import pyxs"], { timeout: 10_000 }).status !== 0) {
    missing.push("pyxs (python3-pyxs)");
  }
  if (!existsSync(TEST_XENSTORE)) missing.push(`${TEST_XENSTORE} (xen-utils-4.17, unpacked)`);
  if (!existsSync(OXENSTORED)) missing.push(`${OXENSTORED} (xen-utils-4.17, unpacked)`);
  if (!existsSync(XENFAKE)) missing.push(`${XENFAKE} (built from xenfake-preload.c)`);
  return missing;
}

export interface Outcome {
  code: number | null;
  out: string;
}

/** Run a command against `socket` (XENSTORED_PATH), bounded by `timeoutMs`. */
export function run(socket: string, cmd: string, args: string[], timeoutMs = 10_000): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, XENSTORED_PATH: socket }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

export interface RunningPeer {
  readonly socket: string;
  readonly how: string;
  stop(): Promise<void>;
}

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

/** True when this box lets us make a private mount namespace (root with CAP_SYS_ADMIN). */
export function unshareWorks(): boolean {
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /run"], { timeout: 10_000 });
  return r.status === 0;
}

/**
 * Start oxenstored with the shim. Its socket path is hard-coded to /var/run/xenstored/socket:
 * with `unshare --mount` a tmpfs over /run and a bind of our temp dir make it private; without,
 * it runs on the host's path, used only if nothing else is there (and removed after).
 */
export async function startOxenstored(): Promise<RunningPeer> {
  const w = mkdtempSync(join(tmpdir(), "pvnet-oxenstored-"));
  mkdirSync(join(w, "run"));
  writeFileSync(
    join(w, "oxenstored.conf"),
    [`pid-file = ${w}/oxenstored.pid`, "persistent = false", `xenstored-log-file = ${w}/xenstored.log`, "xenstored-log-level = info", `access-log-file = ${w}/access.log`, ""].join("\n"),
  );
  const daemon = `env LD_PRELOAD=${XENFAKE} ${OXENSTORED} --config-file ${w}/oxenstored.conf --no-domain-init --no-fork`;
  let child: ChildProcess;
  let socket: string;
  let how: string;
  if (unshareWorks()) {
    socket = join(w, "run", "socket");
    how = "unshare --mount (private /run/xenstored)";
    const script = `mount -t tmpfs tmpfs /run && mkdir /run/xenstored && mount --bind ${w}/run /run/xenstored && exec ${daemon}`;
    child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
  } else {
    socket = "/var/run/xenstored/socket";
    if (existsSync(socket)) throw new Error(`${socket} exists: another xenstored runs on this host`);
    how = "host /var/run/xenstored/socket (no private mount namespace here)";
    child = spawn("sh", ["-c", `exec ${daemon}`], { stdio: ["ignore", "pipe", "pipe"] });
  }
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const stop = async () => {
    // The exec chain makes `child.pid` the daemon itself.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const done = await Promise.race([exited(child).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    if (!done) {
      child.kill("SIGKILL");
      await exited(child);
    }
    if (!how.startsWith("unshare")) rmSync(socket, { force: true });
    rmSync(w, { recursive: true, force: true });
  };
  const up = await waitFor(() => existsSync(socket) || child.exitCode !== null, 10_000);
  if (!up || child.exitCode !== null) {
    await stop();
    throw new Error(`oxenstored did not start (${how}): ${output}`);
  }
  return { socket, how, stop };
}
