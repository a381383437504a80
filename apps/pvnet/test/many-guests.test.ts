/**
 * `pvnet run --guests N`: N guests sending to Dom0 through their vifs, Dom0's maptrack under each
 * of its three free lists, lock hold and wait on the virtual clock. The single list's lock
 * saturates as guests are added; the per-VCPU lists keep scaling.
 */
import type { MaptrackVariant } from "@pvnet/xen-grant-table";
import { describe, expect, test } from "vitest";
import { type ManyGuestsReport, runManyGuests } from "../src/topology/many-guests.js";
import { expectAllDelivered, expectCleanTeardown, pvnetRun } from "./expect.js";

const PACKETS = 24;
const run = (guests: number, maptrack: MaptrackVariant) => runManyGuests({ seed: 2, guests, dom0Vcpus: guests, maptrack, pktSize: 65535, packets: PACKETS });

describe("many guests, three maptrack free lists", () => {
  const reports = new Map<string, ManyGuestsReport>();
  const get = async (guests: number, v: MaptrackVariant) => {
    const key = `${guests}:${v}`;
    if (!reports.has(key)) reports.set(key, await run(guests, v));
    return reports.get(key) as ManyGuestsReport;
  };

  test.each(["single-locked", "per-vcpu-lockfree", "per-vcpu-locked"] as const)("%s: 16 guests deliver every frame byte-exact, in order per guest, nothing left after detach", async (v) => {
    const r = await get(16, v);
    expectAllDelivered(r, 16 * PACKETS);
    expect(r.perGuest).toEqual(new Array(16).fill(PACKETS));
    expect(r.dom0Maptrack.gets).toBeGreaterThanOrEqual(16 * 16 * PACKETS); // 16 frag slots mapped per 64 KiB frame
    expectCleanTeardown(r);
  });

  test("aggregate throughput at 16 guests: per-VCPU lists above the single lock; the single lock is the one contended", async () => {
    const single = await get(16, "single-locked");
    const lockfree = await get(16, "per-vcpu-lockfree");
    const locked = await get(16, "per-vcpu-locked");
    expect(lockfree.modelled.mpps).toBeGreaterThan(single.modelled.mpps);
    expect(locked.modelled.mpps).toBeGreaterThan(single.modelled.mpps);
    expect(lockfree.modelled.mpps).toBeGreaterThanOrEqual(locked.modelled.mpps); // no lock at all vs an uncontended one
    // Single: every get and put takes the one lock; waits add up on the virtual clock.
    expect(single.dom0Maptrack.lockTime.acquisitions).toBe(single.dom0Maptrack.gets + single.dom0Maptrack.puts);
    expect(single.dom0Maptrack.lockTime.contended).toBeGreaterThan(locked.dom0Maptrack.lockTime.contended);
    expect(single.dom0Maptrack.lockTime.holdNs / (single.modelled.seconds * 1e9)).toBeGreaterThan(0.5); // the lock is busy most of the run
    // Lock-free: the domain lock only to grow (one page per VCPU); locked: each VCPU's own lock per get and put.
    expect(lockfree.dom0Maptrack.lockTime.acquisitions).toBe(lockfree.dom0Maptrack.grows);
    expect(locked.dom0Maptrack.lockTime.acquisitions).toBeGreaterThanOrEqual(locked.dom0Maptrack.gets + locked.dom0Maptrack.puts);
  });

  test("scaling from 1 to 16 guests: the single lock gains less than the per-VCPU lists; at 1 guest nothing waits", async () => {
    const one = await get(1, "single-locked");
    expect(one.dom0Maptrack.lockTime.contended).toBe(0);
    const gain = async (v: MaptrackVariant) => (await get(16, v)).modelled.mpps / (await get(1, v)).modelled.mpps;
    // Not 16x: each unmap's flush IPIs go to every other Dom0 VCPU that ran, and they grow with the VCPUs.
    expect(await gain("per-vcpu-lockfree")).toBeGreaterThan(6);
    expect(await gain("single-locked")).toBeLessThan((await gain("per-vcpu-lockfree")) * 0.85);
  });

  test("reproducible from (scenario, seed)", async () => {
    const a = await run(4, "single-locked");
    const b = await run(4, "single-locked");
    expect({ ...a, wall: undefined }).toEqual({ ...b, wall: undefined });
  });

  test("pvnet run --guests on the command line; bad combinations are usage errors", () => {
    const pvnet = pvnetRun;
    const ok = pvnet("--guests", "3", "--dom0-vcpus", "2", "--maptrack", "single", "--pkt-size", "1496", "--packets", "50", "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ topology: "many-guests", guests: 3, dom0Vcpus: 2, maptrack: "single-locked", packetsDelivered: 150, dropped: 0, perGuest: [50, 50, 50] });
    expect(pvnet("--guests", "2", "--direction", "rx", "--pkt-size", "1496", "--packets", "5").err).toContain("--direction tx");
    expect(pvnet("--guests", "2", "--queues", "2", "--pkt-size", "1496", "--packets", "5").code).toBe(2);
    expect(pvnet("--dom0-vcpus", "2", "--pkt-size", "1496", "--packets", "5").err).toContain("--dom0-vcpus sizes Dom0 for --guests");
    expect(pvnet("--guests", "2", "--maptrack", "global", "--pkt-size", "1496", "--packets", "5").err).toContain("Allowed choices are single, percpu, percpu-locked");
  });
});
