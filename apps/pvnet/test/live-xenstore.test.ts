/**
 * `pvnet run --xenstored SOCKET` serves the live store while the run lasts, for both topologies:
 * the socket is on the launcher's main thread, requests are relayed to the run's worker and
 * answered between two slices of the simulation. Asked with the repository's own xs_wire client
 * and, where xenstore-utils are installed, with the real xenstore-read / xenstore-ls.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { encodeMessage, XS_TYPE, type XsMessage, XsFrameDecoder } from "@pvnet/xenstore";
import { describe, expect, test } from "vitest";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
const recorded = JSON.parse(readFileSync(new URL("./fixtures/scenarios.json", import.meta.url), "utf8")) as Record<string, unknown>;
const onPath = (cmd: string) => (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(join(d, cmd)));
const HAVE_TOOLS = onPath("xenstore-read") && onPath("xenstore-ls");

/** A minimal xs_wire client: one request at a time, watch events kept apart. */
class XsClient {
  readonly events: string[] = [];
  private readonly replies: XsMessage[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  private constructor(private readonly socket: Socket) {
    const d = new XsFrameDecoder();
    socket.on("data", (c) =>
      d.push(
        c,
        (m) => {
          if (m.type === XS_TYPE.WATCH_EVENT) this.events.push(Buffer.from(m.payload).toString("latin1"));
          else this.replies.push(m);
          this.wake?.();
        },
        () => {},
      ),
    );
    socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on("error", () => {});
  }
  static connect(path: string): Promise<XsClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(new XsClient(s)));
      s.once("error", reject);
    });
  }
  async request(type: number, payload: string): Promise<string> {
    this.socket.write(encodeMessage({ type, reqId: 1, txId: 0, payload: Buffer.from(payload, "latin1") }));
    while (this.replies.length === 0 && !this.closed) await new Promise<void>((r) => (this.wake = r));
    const m = this.replies.shift();
    if (m === undefined) throw new Error("connection closed");
    const text = Buffer.from(m.payload).toString("latin1");
    return m.type === XS_TYPE.ERROR ? `error ${text.replace(/\0$/, "")}` : text;
  }
  close(): void {
    this.socket.destroy();
  }
}

function tool(socket: string, cmd: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, XENSTORED_PATH: socket }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, out: `${stdout}${stderr}` }),
    );
  });
}

function startRun(socket: string, ...args: string[]): { child: ChildProcessWithoutNullStreams; stdout: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, "run", ...args, "--xenstored", socket, "--json"], { cwd: REPO_ROOT });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, stdout: () => out, exited };
}

async function waitForSocket(socket: string): Promise<void> {
  for (let i = 0; i < 600 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(socket)).toBe(true);
}

/** Read `path` until it holds `value` (the vif connects a moment into the run). */
async function readUntil(c: XsClient, path: string, value: string): Promise<string> {
  let v = "";
  for (let i = 0; i < 2000 && v !== value; i++) {
    v = await c.request(XS_TYPE.READ, `${path}\0`);
    if (v !== value) await new Promise((r) => setTimeout(r, 10));
  }
  return v;
}

const TOPOLOGIES = [
  { topology: "domu-dom0", guests: [1] },
  { topology: "domu-domu", guests: [1, 2] },
] as const;

describe("pvnet run --xenstored: a live xenstore during the run", () => {
  test.each(TOPOLOGIES)("$topology: peers are answered while a long run lasts; Ctrl-C still stops it", async ({ topology, guests }) => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-live-"));
    const socket = join(dir, "socket");
    const run = startRun(socket, "--topology", topology, "--pkt-size", "64", "--packets", "10000000");
    try {
      await waitForSocket(socket);
      const c = await XsClient.connect(socket);
      for (const domid of guests) {
        expect(await readUntil(c, `/local/domain/0/backend/vif/${domid}/0/state`, "4")).toBe("4");
        expect(await c.request(XS_TYPE.READ, `/local/domain/${domid}/device/vif/0/state\0`)).toBe("4");
        expect(await c.request(XS_TYPE.READ, `/local/domain/${domid}/device/vif/0/backend-id\0`)).toBe("0");
      }
      expect(await c.request(XS_TYPE.DIRECTORY, "/local/domain/0/backend/vif\0")).toBe(guests.map((d) => `${d}\0`).join(""));
      // A peer's write is the store's too (the model's connections see it).
      expect(await c.request(XS_TYPE.WRITE, "/tool/pvnet-live\0yes")).toBe("OK\0");
      expect(await c.request(XS_TYPE.READ, "/tool/pvnet-live\0")).toBe("yes");
      if (HAVE_TOOLS) {
        const read = await tool(socket, "xenstore-read", `/local/domain/0/backend/vif/${guests[0]}/0/state`);
        expect(read).toEqual({ code: 0, out: "4\n" });
        const ls = await tool(socket, "xenstore-ls", "-f", "/local/domain/0/backend/vif");
        expect(ls.code).toBe(0);
        for (const domid of guests) expect(ls.out).toContain(`/local/domain/0/backend/vif/${domid}/0/state = "4"`);
      }
      expect(run.child.exitCode).toBeNull(); // all of it answered during the run
      c.close();
      run.child.kill("SIGINT");
      expect(await run.exited).toBe(130);
      const partial = JSON.parse(run.stdout());
      expect(partial.interrupted).toBe(true);
      expect(partial.delivered).toBeGreaterThan(0);
      expect(existsSync(socket)).toBe(false);
    } finally {
      run.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ["domu-dom0", "--direction tx --pkt-size 64 --packets 40", ["--pkt-size", "64", "--packets", "40"]],
    ["domu-domu", "--topology domu-domu --pkt-size 64 --packets 40", ["--topology", "domu-domu", "--pkt-size", "64", "--packets", "40"]],
  ] as const)("%s: a watching peer gets the model's writes as watch events, and the run is byte-exact with the recorded one", async (_t, label, args) => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-live-"));
    const socket = join(dir, "socket");
    const run = startRun(socket, ...args);
    try {
      await waitForSocket(socket);
      const c = await XsClient.connect(socket);
      // Queued until the run's first slice boundary: by then the vif may be connected already.
      expect(await c.request(XS_TYPE.WATCH, "/local/domain/0/backend\0be\0")).toBe("OK\0");
      expect(await run.exited).toBe(0);
      const { wall: _wall, ...report } = JSON.parse(run.stdout());
      expect(report).toEqual(recorded[label]);
      // The initial event, then the teardown's writes (netfront closing: state 5, 6) seen by the peer.
      expect(c.events[0]).toBe("/local/domain/0/backend\0be\0");
      expect(c.events).toContain("/local/domain/0/backend/vif/1/0/state\0be\0");
      c.close();
    } finally {
      run.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(TOPOLOGIES)("--mode threaded, $topology: Dom0's VCPU thread answers the relayed requests while the threads run", async ({ topology, guests }) => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-live-"));
    const socket = join(dir, "socket");
    const run = startRun(socket, "--mode", "threaded", "--topology", topology, "--pkt-size", "64", "--packets", "400000");
    try {
      await waitForSocket(socket);
      const c = await XsClient.connect(socket);
      for (const domid of guests) expect(await readUntil(c, `/local/domain/0/backend/vif/${domid}/0/state`, "4")).toBe("4");
      expect(await c.request(XS_TYPE.WRITE, "/tool/pvnet-live\0threaded")).toBe("OK\0");
      expect(await c.request(XS_TYPE.READ, "/tool/pvnet-live\0")).toBe("threaded");
      if (HAVE_TOOLS) expect(await tool(socket, "xenstore-read", `/local/domain/0/backend/vif/${guests[0]}/0/state`)).toEqual({ code: 0, out: "4\n" });
      expect(run.child.exitCode).toBeNull(); // answered during the run
      c.close();
      expect(await run.exited).toBe(0);
      const report = JSON.parse(run.stdout());
      expect(report).toMatchObject({ mode: "threaded", packetsDelivered: 400000, dropped: 0 });
      expect(existsSync(socket)).toBe(false);
    } finally {
      run.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
