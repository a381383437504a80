/** Assertions the topology tests share. */
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
