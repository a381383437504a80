import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const tsx = `${REPO_ROOT}/node_modules/tsx/dist/cli.mjs`;

function pvnet(...args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [tsx, "--conditions=@pvnet/source", cli, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, stdout, stderr: "" };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("pvnet command line", () => {
  test("--help lists the commands; an unknown command is exit 2", () => {
    const help = pvnet("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("demo");
    const bad = pvnet("no-such-command");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'no-such-command'");
  });

  test("demo boots two domains and delivers every notification, reproducibly", () => {
    const first = pvnet("demo");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.domains.map((d: { domid: number }) => d.domid)).toEqual([0, 1]);
    expect(report.eventChannel.upcallsInDom0).toBe(report.eventChannel.notifications);
    expect(report.hypercalls.byOp["event_channel_op:send"].calls).toBe(4);
    expect(pvnet("demo").stdout).toBe(first.stdout);
  });
});
