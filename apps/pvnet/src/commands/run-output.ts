/** The tables `pvnet run` prints for a person (`--json` prints the report instead). */
import type { RunReport } from "../topology/domu-dom0.js";
import type { DomuDomuReport } from "../topology/domu-domu.js";
import { formatCount, formatNs, formatRate, percent, table } from "../cli-format.js";
import { publishedMpps } from "./published.js";
import type { OperationTimes } from "./run-probe.js";
import type { PartialRun } from "./run-worker.js";

/** The five counters xenvif's ethtool -S prints (drivers/net/xen-netback/interface.c, xenvif_stats). */
const ETHTOOL_STATS = ["rx_gso_checksum_fixup", "tx_zerocopy_sent", "tx_zerocopy_success", "tx_zerocopy_fail", "tx_frag_overflow"];
/** net_device statistics (ip -s link). */
const NETDEV_STATS = ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_dropped", "rx_dropped", "rx_errors"];
/** Operations listed by name in the time table; the rest are summed into one row. */
const TOP_OPERATIONS = 12;

function counterRows(counters: Readonly<Record<string, number>>): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const k of ETHTOOL_STATS) rows.push([k, counters[k] ?? 0, "ethtool -S"]);
  for (const k of NETDEV_STATS) rows.push([k, counters[k] ?? 0, "net_device"]);
  for (const [k, v] of Object.entries(counters)) {
    if (ETHTOOL_STATS.includes(k) || NETDEV_STATS.includes(k) || v === 0) continue;
    rows.push([k, v, "model"]);
  }
  return rows;
}

/** Hypercalls by op, with what a call and an op are (`pvnet run` and `pvnet demo`). */
export function hypercallTable(h: RunReport["hypercalls"]): string {
  const rows = Object.entries(h.byOp).map(([op, c]) => [op, c.calls, c.ops, c.calls > 0 ? (c.ops / c.calls).toFixed(2) : "-"]);
  return `${table("Hypercalls by op (connection and traffic)", ["op", "calls", "ops", "ops/call"], rows)}  A call is one trap into Xen; it can carry several ops (a batch of grant copies, or a\n  multicall, which counts as one call carrying N ops). ${formatCount(h.entries)} entries into Xen, ${formatCount(h.multicalls)} multicalls.\n`;
}

function operationTable(ops: OperationTimes): string {
  const entries = Object.entries(ops).sort(([, a], [, b]) => b.ns - a.ns);
  const total = entries.reduce((s, [, v]) => s + v.ns, 0);
  const rows = entries.slice(0, TOP_OPERATIONS).map(([k, v]) => [k, v.ops, formatNs(v.ns), formatNs(v.ops > 0 ? v.ns / v.ops : 0), percent(v.ns, total)]);
  const rest = entries.slice(TOP_OPERATIONS);
  if (rest.length > 0) {
    const ns = rest.reduce((s, [, v]) => s + v.ns, 0);
    rows.push([`(${rest.length} more)`, rest.reduce((s, [, v]) => s + v.ops, 0), formatNs(ns), "", percent(ns, total)]);
  }
  return table("Modelled time per operation (traffic phase, all VCPUs)", ["operation", "count", "time", "each", "share"], rows);
}

function vcpuTable(busyNs: Readonly<Record<string, number>>, phaseSeconds: number): string {
  const rows = Object.entries(busyNs).map(([v, ns]) => [v, formatNs(ns), percent(ns, phaseSeconds * 1e9)]);
  return table("Modelled time per VCPU (traffic phase; busy share of its length)", ["vcpu", "busy", "busy share"], rows);
}

/** Every table of a finished run. */
export function printReport(r: RunReport | DomuDomuReport, operations: OperationTimes, shape: { readonly customLayout: boolean }): string {
  const head = `${r.topology} ${r.direction}, ${r.pktSize}-byte frames, ${r.queues} queue${r.queues === 1 ? "" : "s"}, seed ${r.seed}${r.persistent ? ", persistent grants" : ""}, trace ${r.traceDigest}\n`;
  const delivery = table(
    "Delivery",
    ["", "frames", "bytes"],
    [
      ["sent", r.packetsSent, ""],
      ["delivered", r.packetsDelivered, r.bytesDelivered],
      ["dropped", r.dropped, ""],
      ["corrupt", r.corrupt, ""],
      ["out of order", r.outOfOrder, ""],
    ],
  );
  const counters =
    r.topology === "domu-dom0"
      ? table("vif counters (Dom0's vif1.0)", ["counter", "value", "source"], counterRows(r.counters), ["left", "right", "left"])
      : `${table("Sender's vif counters (guest A's TX enters Dom0)", ["counter", "value", "source"], counterRows(r.counters.sender), ["left", "right", "left"])}\n${table(
          "Receiver's vif counters (guest B's RX leaves Dom0)",
          ["counter", "value", "source"],
          counterRows(r.counters.receiver),
          ["left", "right", "left"],
        )}`;
  const published = publishedMpps({ ...r, profile: r.modelled.profile, customLayout: shape.customLayout });
  const speedRows: (string | number)[][] = [
    [`predicted (${r.modelled.profile})`, formatRate(r.modelled.mpps), `${r.modelled.gbit.toFixed(2)} Gbit/s`, `${formatNs(r.modelled.seconds * 1e9)} modelled`],
  ];
  if (published !== undefined) speedRows.push(["published (baseline, 1 queue)", formatRate(published), `${((published * 1e6 * r.pktSize * 8) / 1e9).toFixed(2)} Gbit/s`, `model/published ${(r.modelled.mpps / published).toFixed(2)}`]);
  speedRows.push(["this model here (wall clock)", formatRate(r.wall.mpps), `${r.wall.gbit.toFixed(3)} Gbit/s`, `${r.wall.seconds.toFixed(2)} s`]);
  const speed = table("Speed", ["", "rate", "throughput", ""], speedRows, ["left", "right", "right", "left"]);
  return [head, delivery, counters, hypercallTable(r.hypercalls), operationTable(operations), vcpuTable(r.modelled.busyNs, r.modelled.seconds), speed].join("\n");
}

/** What an interrupted run had measured. */
export function printPartial(p: PartialRun, packets: number): string {
  const h = p.hypercalls as RunReport["hypercalls"] | undefined;
  return [
    `interrupted: ${formatCount(p.delivered)} of ${formatCount(packets)} frames delivered, ${formatCount(p.events)} events, ${formatNs(p.virtualNs)} modelled\n`,
    h === undefined ? "" : hypercallTable(h),
    table("Modelled time per VCPU so far (connection included)", ["vcpu", "busy"], Object.entries(p.busyNs).map(([v, ns]) => [v, formatNs(ns)])),
  ].join("\n");
}
