/** Assertions the topology tests share. */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { expect } from "vitest";
import type { TrafficReport } from "../src/topology/devices.js";

/** Everything a clean teardown leaves: nothing (grants, mappings, handles, pins, pages, ports). */
export function expectCleanTeardown(r: TrafficReport): void {
  const zero = { maps: 0, handles: 0, pins: 0 };
  expect(r.teardown.dom0Grants).toEqual(zero);
  expect(r.teardown.guestGrants).toEqual(zero);
  expect(Object.values(r.teardown.netback).every((v) => v === 0)).toBe(true);
  expect(Object.values(r.teardown.netfront).every((v) => v === 0)).toBe(true);
  expect(r.teardown.dom0PagesInUse).toBe(0);
  expect(r.teardown.guestPagesInUse).toBe(0);
  expect(r.teardown.eventChannelsOpen).toBe(0);
}

/** Every packet sent arrived once, in order, byte-exact. */
export function expectAllDelivered(r: TrafficReport, packets: number): void {
  expect(r.packetsSent).toBe(packets);
  expect(r.packetsDelivered).toBe(packets);
  expect(r.corrupt).toBe(0);
  expect(r.dropped).toBe(0);
  expect(r.outOfOrder).toBe(0);
  expect(r.bytesDelivered).toBe(packets * r.pktSize);
}

/** pktgen with clone_skbs resends one skb: every frame arrives once, byte-exact, all with the clone's one stamp. */
export function expectClonesDelivered(r: TrafficReport, packets: number): void {
  expect(r.packetsSent).toBe(packets);
  expect(r.packetsDelivered).toBe(packets);
  expect(r.corrupt).toBe(0);
  expect(r.dropped).toBe(0);
  expect(r.bytesDelivered).toBe(packets * r.pktSize);
}

/** `pvnet run ARGS` through the launcher: exit code, stdout, stderr. */
export function pvnetRun(...args: string[]): { code: number; out: string; err: string } {
  const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
  try {
    return { code: 0, out: execFileSync(process.execPath, [bin, "run", ...args], { encoding: "utf8", cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] }), err: "" };
  } catch (e) {
    const x = e as { status: number; stderr: string };
    return { code: x.status, out: "", err: x.stderr };
  }
}
