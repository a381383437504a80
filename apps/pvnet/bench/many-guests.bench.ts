/**
 * Many guests against Dom0's maptrack (seed 4 of the issue: one maptrack lock limiting aggregate
 * throughput with many VMs): 1..32 guests, each sending 64 KiB frames through its own vif, Dom0 with
 * one VCPU per vif, under each maptrack free list — the single list under one lock (Xen up to
 * 4.5), per-VCPU lock-free lists (Xen 4.6) and per-VCPU locked lists (since XSA-228). Lock hold
 * and wait are charged on the virtual clock, so the figures are the cost profile's predictions,
 * deterministic for (scenario, seed): one run each, no repeats needed. Writes
 * bench-results/many-guests.json.
 */
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import type { MaptrackVariant } from "@pvnet/xen-grant-table";
import { runManyGuests } from "../src/topology/many-guests.js";

const GUESTS = [1, 2, 4, 8, 12, 16, 24, 32];
const VARIANTS: readonly MaptrackVariant[] = ["single-locked", "per-vcpu-lockfree", "per-vcpu-locked"];
const PKT_SIZE = 65535;
const PACKETS_PER_GUEST = 40;

const rows = [];
for (const guests of GUESTS) {
  const row: Record<string, unknown> = { guests, dom0Vcpus: guests };
  for (const maptrack of VARIANTS) {
    const r = await runManyGuests({ seed: 1, guests, dom0Vcpus: guests, maptrack, pktSize: PKT_SIZE, packets: PACKETS_PER_GUEST });
    if (r.packetsDelivered !== guests * PACKETS_PER_GUEST || r.corrupt !== 0) throw new Error(`${maptrack} with ${guests} guests delivered ${r.packetsDelivered} (${r.corrupt} corrupt)`);
    const lt = r.dom0Maptrack.lockTime;
    row[maptrack] = {
      modelledGbit: +r.modelled.gbit.toFixed(1),
      modelledKpps: +(r.modelled.mpps * 1000).toFixed(1),
      lockAcquisitions: lt.acquisitions,
      lockContended: lt.contended,
      lockWaitUs: +(lt.waitNs / 1000).toFixed(1),
      lockHeldShare: +(lt.holdNs / (r.modelled.seconds * 1e9)).toFixed(3),
    };
  }
  rows.push(row);
  const g = (v: MaptrackVariant) => (row[v] as { modelledGbit: number }).modelledGbit;
  process.stdout.write(`many-guests ${guests}: single ${g("single-locked")} Gbit/s, per-VCPU ${g("per-vcpu-lockfree")}, per-VCPU locked ${g("per-vcpu-locked")}\n`);
}

const path = writeBenchResult("many-guests", {
  bench: "many-guests",
  what: `N guests -> Dom0, one vif and queue each, ${PACKETS_PER_GUEST} frames of ${PKT_SIZE} bytes per guest (16 grant-mapped slots each), Dom0 with one VCPU per vif; aggregate modelled throughput from the first frame to the last delivery`,
  conditions: "deterministic runner, seed 1; maptrack lock hold and wait on the virtual clock (a lock's hold is at least its maptrack.lock cost); no pCPU contention modelled (every VCPU its own CPU)",
  profile: "xeon-e5-1650v2 (uncalibrated first estimates)",
  host: benchHost(),
  rows,
});
process.stdout.write(`wrote ${path}\n`);
