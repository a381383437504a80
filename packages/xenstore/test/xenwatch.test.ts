import { describe, expect, test } from "vitest";
import { XenStore, xenbusInit } from "../src/index.js";

describe("xenbusInit: a kernel's connection and its xenwatch thread", () => {
  test("watch callbacks run only on the runner's CPU, in order, when the runner runs them", () => {
    const store = new XenStore();
    const queued: Array<{ cpu: string; at: number; fn: (cpu: string) => void }> = [];
    let now = 5;
    const { conn, xenbus } = xenbusInit(store, 0, { clock: { now: () => now }, work: { runOn: (cpu, at, fn) => queued.push({ cpu, at, fn }) }, cpu: "d0v0" });
    expect(conn.domid).toBe(0);
    const seen: string[] = [];
    xenbus.registerXenbusWatch("/local/domain/0/backend", (path) => seen.push(path));
    conn.write("/local/domain/0/backend/vif/1/0/state", "1");
    // Nothing ran yet: the thread is scheduled on its CPU at the clock's time.
    expect(seen).toEqual([]);
    expect(queued.map((q) => [q.cpu, q.at])).toEqual([["d0v0", 5]]);
    now = 9;
    for (const q of queued.splice(0)) q.fn(q.cpu);
    expect(seen).toEqual(["/local/domain/0/backend", "/local/domain/0/backend/vif/1/0/state"]);
  });
});
