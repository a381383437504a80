/**
 * The report's many-guests sweep: `pvnet run --guests N` for N = 1..16 under each of Dom0's three
 * maptrack free lists (64 KiB frames, Dom0 with one VCPU per vif, a pCPU per VCPU), so the chart
 * shows where the single lock saturates and what the per-VCPU lists fixed.
 */
import { HOST_PROFILES } from "@pvnet/hypervisor";
import { MAPTRACK_VARIANTS, type MaptrackVariant } from "@pvnet/xen-grant-table";
import { runManyGuests } from "../topology/many-guests.js";
import type { ReportConditions } from "./scenarios.js";

/** Guests per point of the sweep. */
export const REPORT_GUESTS = [1, 2, 4, 8, 16] as const;
/** 64 KiB frames each guest sends: each maps 16 frag pages, so each frame takes 16 maptrack handles. */
export const MANY_GUESTS_PACKETS = 24;

/** One point: the aggregate a run of `guests` guests reached under one free list. */
export interface ManyGuestsPoint {
  readonly guests: number;
  readonly maptrack: MaptrackVariant;
  readonly gbit: number;
  /** Share of the run the maptrack locks were held (all acquisitions' hold time over the run). */
  readonly lockBusy: number;
  readonly delivered: number;
  readonly sent: number;
  readonly corrupt: number;
}

/** Run the sweep in this thread (each run takes well under a second). */
export async function runManyGuestsSweep(c: ReportConditions): Promise<ManyGuestsPoint[]> {
  const profile = HOST_PROFILES[c.profile];
  if (profile === undefined) throw new RangeError(`unknown cost profile '${c.profile}'`);
  const points: ManyGuestsPoint[] = [];
  for (const maptrack of MAPTRACK_VARIANTS) {
    for (const guests of REPORT_GUESTS) {
      const r = await runManyGuests({ seed: c.seed, guests, dom0Vcpus: guests, maptrack, pktSize: 65535, packets: MANY_GUESTS_PACKETS, profile, trace: "off" });
      const runNs = r.modelled.seconds * 1e9;
      points.push({
        guests,
        maptrack,
        gbit: r.modelled.gbit,
        lockBusy: runNs > 0 ? r.dom0Maptrack.lockTime.holdNs / runNs : 0,
        delivered: r.packetsDelivered,
        sent: r.packetsSent,
        corrupt: r.corrupt,
      });
    }
  }
  return points;
}
