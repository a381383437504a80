import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "@pvnet/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { XS_TYPE } from "../src/index.js";
import { RawClient, text } from "./wire-client.js";

const TSX = join(REPO_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const CLI = join(REPO_ROOT, "apps", "pvnet", "src", "cli.ts");
const args = (...a: string[]) => [TSX, "--conditions=@pvnet/source", CLI, "xenstored", ...a];

let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  child = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("pvnet xenstored", () => {
  it("prints usage and rejects a missing --socket", () => {
    const help = spawnSync(process.execPath, args("--help"), { encoding: "utf8", timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: pvnet xenstored --socket PATH");
    const bad = spawnSync(process.execPath, args(), { encoding: "utf8", timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--socket PATH is required");
  }, 60_000);

  it("serves the socket until SIGTERM, then removes it", async () => {
    dir = mkdtempSync(join(tmpdir(), "pvnet-cli-"));
    const socket = join(dir, "xs.sock");
    const proc = spawn(process.execPath, args("--socket", socket, "--log"), { stdio: ["ignore", "ignore", "pipe"] });
    child = proc;
    let stderr = "";
    proc.stderr?.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    for (let i = 0; i < 300 && !stderr.includes("listening") && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toContain(`listening on ${socket}`);
    const c = await RawClient.connect(socket);
    expect(text(await c.request(XS_TYPE.WRITE, "/cli\0works"))).toBe("OK\0");
    expect(text(await c.request(XS_TYPE.READ, "/cli\0"))).toBe("works");
    c.close();
    proc.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 10_000))]);
    expect(code).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(stderr).toContain("write tx=0 /cli works ok");
  }, 60_000);
});
