import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { printDemo, runDemo } from "../src/commands/demo.js";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
const pvnet = (...args: string[]) => execFileSync(process.execPath, [bin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT });

/** The data rows of the table titled `title` in a human output, split into cells. */
function rows(out: string, title: string): string[][] {
  const lines = out.split("\n");
  const at = lines.indexOf(title);
  expect(at, `no table "${title}"`).toBeGreaterThanOrEqual(0);
  const body: string[][] = [];
  for (const line of lines.slice(at + 3)) {
    if (line === "" || /^ {2}[A-Za-z]/.test(line)) break; // a note under the table, not a row
    body.push(line.trim().split(/ {2,}/));
  }
  return body;
}

describe("pvnet demo", () => {
  test("prints tables by default: domains, the event channel, hypercalls by op, time per VCPU", () => {
    const out = pvnet("demo");
    expect(() => JSON.parse(out)).toThrow();
    expect(out).toMatch(/^pvnet demo: 2 domains, one interdomain event channel, seed 1, trace [0-9a-f]{16}\n/);
    expect(rows(out, "Domains")).toEqual([
      ["0", "Domain-0", "0"],
      ["1", "guest", "0"],
    ]);
    const channel = rows(out, "Event channel (interdomain)");
    expect(channel.map((r) => [r[0], r[1], r[3]])).toEqual([
      ["frontend (sends)", "guest", "4 notifications sent"],
      ["backend (upcalls)", "Domain-0", "4 upcalls delivered"],
    ]);
    expect(out).toContain("Every notification reached Dom0's handler.");
    expect(rows(out, "Hypercalls by op (connection and traffic)")).toEqual([
      ["event_channel_op:alloc_unbound", "1", "1", "1.00"],
      ["event_channel_op:bind_interdomain", "1", "1", "1.00"],
      ["event_channel_op:send", "4", "4", "1.00"],
    ]);
    expect(out).toContain("6 entries into Xen, 0 multicalls.");
    expect(rows(out, "Modelled time per VCPU (busy share of the whole run)").map((r) => r[0])).toEqual(["d0v0", "d1v0"]);
    expect(rows(out, "Scheduler")).toContainEqual(["stopped because", "idle"]);
  });

  test("--json prints the report the tables are made from, and the same one every time", () => {
    const json = pvnet("demo", "--json");
    const report = JSON.parse(json);
    const inProcess = runDemo();
    expect(report).toEqual(JSON.parse(JSON.stringify(inProcess)));
    expect(report.traceDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(report.hypercalls.entries).toBe(6);
    expect(report.vcpus.every((v: { busyNs: number }) => v.busyNs > 0)).toBe(true);
    // The human output is the same run: its trace and its tables come from this report.
    const human = pvnet("demo");
    expect(human).toBe(printDemo(inProcess));
    expect(human).toContain(`trace ${report.traceDigest}`);
    expect(pvnet("demo", "--json")).toBe(json);
  });

  test("a lost upcall is said in words, not hidden in a table", () => {
    const r = runDemo();
    const lost = printDemo({ ...r, eventChannel: { ...r.eventChannel, upcallsInDom0: r.eventChannel.notifications - 1 } });
    expect(lost).toContain("1 notifications never reached Dom0's handler.");
    expect(lost).not.toContain("Every notification reached");
  });
});
