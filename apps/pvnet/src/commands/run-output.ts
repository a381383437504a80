/** The tables `pvnet run` prints for a person (`--json` prints the report instead). */
import type { RunReport } from "../topology/domu-dom0.js";
import type { DomuDomuReport } from "../topology/domu-domu.js";
import type { TcpReport } from "../topology/iperf.js";
import type { ManyGuestsReport } from "../topology/many-guests.js";
import { formatCount, formatNs, formatRate, percent, table } from "../cli-format.js";
import { publishedFigure } from "./published.js";
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

/** netfront's counters that are net_device statistics, under their Linux names (ip -s link). */
const NETFRONT_NETDEV: Readonly<Record<string, string>> = {
  txPackets: "tx_packets",
  txBytes: "tx_bytes",
  txDropped: "tx_dropped",
  rxPackets: "rx_packets",
  rxBytes: "rx_bytes",
  rxErrors: "rx_errors",
};
/** xen-netfront's one ethtool -S counter (xennet_stats). */
const NETFRONT_ETHTOOL: Readonly<Record<string, string>> = { rxGsoChecksumFixup: "rx_gso_checksum_fixup" };

/** txRequests -> tx_requests: the model's own counters in the style of the kernel's names. */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The guest's netfront counters: ethtool -S and net_device ones always, the model's when non-zero. */
function netfrontRows(stats: Readonly<Record<string, number>>): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const [k, name] of Object.entries(NETFRONT_ETHTOOL)) rows.push([name, stats[k] ?? 0, "ethtool -S"]);
  for (const [k, name] of Object.entries(NETFRONT_NETDEV)) rows.push([name, stats[k] ?? 0, "net_device"]);
  for (const [k, v] of Object.entries(stats)) {
    if (k in NETFRONT_NETDEV || k in NETFRONT_ETHTOOL || v === 0) continue;
    rows.push([`model_${snake(k)}`, v, "model"]);
  }
  return rows;
}

/** What each of the bridge's counts means (Linux net/bridge). */
const BRIDGE_ROWS: ReadonlyArray<readonly [keyof DomuDomuReport["bridge"], string]> = [
  ["received", "frames in from a port (br_handle_frame)"],
  ["forwarded", "sent out of the one port their destination was learned on (br_forward)"],
  ["flooded", "sent out of every other port: unknown, broadcast or multicast destination (br_flood)"],
  ["filtered", "dropped: the destination sits behind the port they came in on"],
  ["runts", "dropped: too short for an Ethernet header"],
  ["learned", "source addresses learned or moved (br_fdb_update)"],
];

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

function vcpuTable(r: RunReport | DomuDomuReport): string {
  const rows = Object.entries(r.modelled.busyNs).map(([v, ns]) => [v, formatNs(ns), percent(ns, r.modelled.seconds * 1e9)]);
  const pktgen = `${r.tcp === undefined ? "pktgen" : "iperf's sender"} on d${r.topology === "domu-dom0" && r.direction === "rx" ? 0 : 1}v${r.queues}`;
  const legend =
    r.topology === "domu-dom0"
      ? `  d0 is Dom0 (netback${r.direction === "rx" ? `; ${pktgen}` : ""}), d1 the guest (netfront${r.direction === "tx" ? `; ${pktgen}` : ""}).`
      : `  d0 is Dom0 (netback and the bridge), d1 guest A (netfront; ${pktgen}), d2 guest B (netfront).`;
  return `${table("Modelled time per VCPU (traffic phase; busy share of its length)", ["vcpu", "busy", "busy share"], rows)}${legend}\n`;
}

/** One line: what teardown left behind (all zero when the drivers cleaned up). */
function teardownLine(t: RunReport["teardown"]): string {
  const left: string[] = [];
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === "number") {
      if (v !== 0) left.push(`${prefix} ${formatCount(v)}`);
    } else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) walk(prefix === "" ? k : `${prefix}.${k}`, x);
  };
  walk("", t);
  return left.length === 0
    ? "Teardown: nothing left after detaching (grants, mappings, handles, pins, pages, event channels all zero).\n"
    : `Teardown: left after detaching: ${left.join(", ")}.\n`;
}

/** Frames sent, delivered, dropped, corrupt and out of order. */
function deliveryTable(r: RunReport | DomuDomuReport | ManyGuestsReport): string {
  return table(
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
}

/** --flows: what iperf's two ends counted. */
function tcpTable(t: TcpReport): string {
  const rows: (string | number)[][] = [
    ["flows", t.flows, "iperf -P"],
    ["segment payload", t.segmentPayload, "bytes"],
    ["window per flow", t.windowBytes, "bytes un-ACKed at most"],
    ["segments sent", t.sender.segments, "sender"],
    ["ACKs taken", t.sender.acks, "sender"],
    ["requeued", t.sender.requeued, "sender: segments a stopped queue refused, resent on its wake"],
    ["window full", t.sender.windowFull, "sender: steps with every window full"],
    ["ACKs sent", t.receiver.acksSent, "receiver"],
    ["ACKs deferred", t.receiver.acksDeferred, "receiver: refused by a stopped queue, resent on its wake"],
    ["out of sequence", t.receiver.outOfSequence, "receiver"],
  ];
  return table(`TCP flows (${t.complete ? "every segment ACKed" : "NOT every segment ACKed"})`, ["count", "value", "meaning"], rows, ["left", "right", "left"]);
}

/** Every table of a finished run. */
export function printReport(r: RunReport | DomuDomuReport, operations: OperationTimes, shape: { readonly customLayout: boolean }): string {
  const head = `${r.topology} ${r.direction}, ${r.pktSize}-byte frames, ${r.queues} queue${r.queues === 1 ? "" : "s"}, seed ${r.seed}${r.persistent ? ", persistent grants" : ""}, trace ${r.traceDigest}\n`;
  const delivery = deliveryTable(r);
  const counters =
    r.topology === "domu-dom0"
      ? table("vif counters (Dom0's vif1.0)", ["counter", "value", "source"], counterRows(r.counters), ["left", "right", "left"])
      : `${table("Sender's vif counters (guest A's TX enters Dom0)", ["counter", "value", "source"], counterRows(r.counters.sender), ["left", "right", "left"])}\n${table(
          "Receiver's vif counters (guest B's RX leaves Dom0)",
          ["counter", "value", "source"],
          counterRows(r.counters.receiver),
          ["left", "right", "left"],
        )}`;
  const extra: string[] = [];
  if (r.topology === "domu-dom0") extra.push(table("netfront counters (the guest's eth0)", ["counter", "value", "source"], netfrontRows(r.frontend), ["left", "right", "left"]));
  if (r.frontendRxPath !== undefined) {
    const who = r.topology === "domu-dom0" ? "the guest's" : "guest B's";
    const rows = Object.entries(r.frontendRxPath).map(([k, v]) => [snake(k), v]);
    extra.push(table(`netfront receive path (${who} build_skb and XDP counters)`, ["counter", "value"], rows));
  }
  if (r.topology === "domu-domu") {
    const b = r.bridge;
    extra.push(table("Bridge in Dom0 (ports: the two vifs)", ["count", "frames", "meaning"], BRIDGE_ROWS.map(([k, what]) => [k, b[k], what]), ["left", "right", "left"]));
  }
  // The published figures are Linux netfront's copy path: a build_skb or XDP run has none.
  const published = r.frontendRxPath === undefined ? publishedFigure({ ...r, profile: r.modelled.profile, customLayout: shape.customLayout }) : undefined;
  const speedRows: (string | number)[][] = [
    [`predicted (${r.modelled.profile})`, formatRate(r.modelled.mpps), `${r.modelled.gbit.toFixed(2)} Gbit/s`, `${formatNs(r.modelled.seconds * 1e9)} modelled`],
  ];
  if (published !== undefined) {
    const { mpps, column } = published;
    speedRows.push([`published (${column}, 1 queue)`, formatRate(mpps), `${((mpps * 1e6 * r.pktSize * 8) / 1e9).toFixed(2)} Gbit/s`, `model/published ${(r.modelled.mpps / mpps).toFixed(2)}`]);
  }
  if (r.modelled.bottleneck !== undefined) speedRows.push(["bottleneck", r.modelled.bottleneck.name, "", ""]);
  speedRows.push(["this model here (wall clock)", formatRate(r.wall.mpps), `${r.wall.gbit.toFixed(3)} Gbit/s`, `${r.wall.seconds.toFixed(2)} s`]);
  const speed = table("Speed", ["", "rate", "throughput", "basis"], speedRows, ["left", "right", "right", "left"]);
  const source =
    published === undefined
      ? ""
      : "  published: the persistent-grants RFC (xen-devel, May 2015), host A, DomU <-> Dom0, one queue.\n";
  const perQueue =
    r.queuePackets === undefined
      ? []
      : [table("Frames per queue (the vif's queues; with --ctrl-ring, Dom0 -> guest by the Toeplitz mapping)", ["queue", "frames"], r.queuePackets.map((n, q) => [q, n]))];
  if (r.tcp !== undefined) extra.push(tcpTable(r.tcp));
  const pcap = r.pcap === undefined ? [] : [table("Captured (libpcap, virtual-clock timestamps)", ["file", "frames"], r.pcap.map((f) => [f.path, f.packets]), ["left", "right"])];
  return [head, delivery, counters, ...perQueue, ...extra, hypercallTable(r.hypercalls), operationTable(operations), vcpuTable(r), speed + source, ...pcap, teardownLine(r.teardown)].join("\n");
}

/** `--debugfs`: netback's debugfs files as `cat` shows them, then the grant table's counters. */
export function printDebugfs(r: RunReport | DomuDomuReport | ManyGuestsReport): string {
  const files = Object.entries(r.debugfs).map(([name, text]) => `# cat /sys/kernel/debug/xen-netback/${name}\n${text}`);
  const g = r.grantTable;
  const rows: (string | number)[][] = [
    ["map ops", g.mapOps],
    ["unmap ops", g.unmapOps],
    ["copy ops", g.copyOps],
    ["bytes copied", g.copyBytes],
    ["TLB flushes", g.tlbFlushes],
    ["TLB flushes avoided (no mapping of the batch touched)", g.tlbFlushesAvoided],
    ["mappings touched", g.touched],
  ];
  return [...files, table("Grant table (connection and traffic)", ["counter", "value"], rows, ["left", "right"])].join("\n");
}

/** The tables of a `--guests` run: delivery, per guest, Dom0's maptrack and its lock, speed. */
export function printManyGuests(r: ManyGuestsReport, operations: OperationTimes): string {
  const head = `${r.guests} guests -> Dom0 (${r.dom0Vcpus} VCPUs), ${r.pktSize}-byte frames, maptrack ${r.maptrack}, seed ${r.seed}${r.persistent ? ", persistent grants" : ""}, trace ${r.traceDigest}\n`;
  const delivery = deliveryTable(r);
  const guests = table("Frames delivered per guest", ["guest", "frames"], r.perGuest.map((n, k) => [k, n]));
  const m = r.dom0Maptrack;
  const lock = table(
    "Dom0's maptrack (lock hold and wait on the virtual clock)",
    ["", "value"],
    [
      ["gets", m.gets],
      ["puts", m.puts],
      ["grows", m.grows],
      ["lock acquisitions", m.lockTime.acquisitions],
      ["contended", m.lockTime.contended],
      ["wait", formatNs(m.lockTime.waitNs)],
      ["hold", formatNs(m.lockTime.holdNs)],
      ["held share of the run", percent(m.lockTime.holdNs, r.modelled.seconds * 1e9)],
    ],
  );
  const speed = table(
    "Speed (all guests together)",
    ["", "rate", "throughput", ""],
    [
      [`predicted (${r.modelled.profile})`, formatRate(r.modelled.mpps), `${r.modelled.gbit.toFixed(2)} Gbit/s`, `${formatNs(r.modelled.seconds * 1e9)} modelled`],
      ["this model here (wall clock)", formatRate(r.wall.mpps), `${r.wall.gbit.toFixed(3)} Gbit/s`, `${r.wall.seconds.toFixed(2)} s`],
    ],
    ["left", "right", "right", "left"],
  );
  return [head, delivery, guests, lock, hypercallTable(r.hypercalls), operationTable(operations), speed].join("\n");
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
