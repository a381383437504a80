/**
 * The report's charts: vega-lite specifications built from the measured scenarios, compiled to
 * vega and rendered to SVG in Node (`vega.View` with `renderer: "none"`, then `toSVG()`): no
 * browser, no canvas, nothing fetched. Each chart has a title, axis titles with units and a
 * caption saying what was measured under which conditions.
 */
import { PUBLISHED_BASELINE_MPPS, PUBLISHED_PROFILE } from "../commands/published.js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { StraighteningLayout } from "./layout.js";
import { MANY_GUESTS_PACKETS, type ManyGuestsPoint } from "./many-guests.js";
import type { ReportConditions, ScenarioResult } from "./scenarios.js";

/** One chart of the report. */
export interface Chart {
  /** Stable id: the `<figure>`'s id and the file name of a saved chart. */
  readonly id: string;
  readonly title: string;
  /** One line: how it was measured. */
  readonly caption: string;
  /** Rows plotted (one mark each, at least). */
  readonly points: number;
  readonly spec: TopLevelSpec;
}

/** Operations named in the time chart; the rest are summed as "other". */
const TOP_OPERATIONS = 9;
/** Width of a chart's plot area (px). */
const WIDTH = 560;

const DIRECTION_LABEL = { tx: "TX: DomU → Dom0", rx: "RX: Dom0 → DomU" } as const;

function conditionsText(c: ReportConditions): string {
  return `${c.packets} frames per scenario, seed ${c.seed}, cost profile ${c.profile}, 1 queue; rates are modelled (the virtual time the profile charges), not wall clock`;
}

function sizeLabel(bytes: number): string {
  return `${bytes} B`;
}

function scenarioLabel(r: ScenarioResult): string {
  const s = r.scenario;
  return s.seed5Layout ? `${s.direction.toUpperCase()} 51-slot layout` : `${s.direction.toUpperCase()} ${sizeLabel(s.pktSize)} ${s.mode}`;
}

const config = {
  font: "sans-serif",
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 360 },
  legend: { labelLimit: 300 },
  title: { fontSize: 15, anchor: "start" as const },
};

/** Lowest packet rate the log-scale bars start from (Mpps): below every published row. */
const RATE_FLOOR_MPPS = 0.01;

/** Modelled throughput vs packet size per grant mode, TX and RX side by side. */
export function throughputChart(results: readonly ScenarioResult[], c: ReportConditions): Chart {
  const values = results
    .filter((r) => !r.scenario.seed5Layout)
    .map((r) => ({ direction: DIRECTION_LABEL[r.scenario.direction], pktSize: r.scenario.pktSize, mode: r.scenario.mode, gbit: +r.report.modelled.gbit.toFixed(3), mpps: +r.report.modelled.mpps.toFixed(4) }));
  const title = "Modelled throughput vs packet size, per grant mode";
  return {
    id: "throughput",
    title,
    caption: `DomU ↔ Dom0 through netfront/netback, baseline (grant copy/map) vs persistent grants; ${conditionsText(c)}.`,
    points: values.length,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      config,
      data: { values },
      facet: { column: { field: "direction", type: "nominal", title: null, sort: [DIRECTION_LABEL.tx, DIRECTION_LABEL.rx] } },
      spec: {
        width: WIDTH / 2 - 20,
        height: 260,
        mark: { type: "line", point: { size: 60, filled: true } },
        encoding: {
          x: { field: "pktSize", type: "quantitative", scale: { type: "log" }, axis: { values: [64, 1496, 65535], title: "packet size (bytes, log scale)" } },
          y: { field: "gbit", type: "quantitative", title: "modelled throughput (Gbit/s)" },
          color: { field: "mode", type: "nominal", title: "grant mode", sort: ["baseline", "persistent"] },
        },
      },
    },
  };
}

/** The published baseline rows next to what the model predicts for the same shape. */
export function publishedChart(results: readonly ScenarioResult[], c: ReportConditions): Chart {
  const values: { row: string; source: string; mpps: number }[] = [];
  const order: string[] = [];
  for (const [key, published] of Object.entries(PUBLISHED_BASELINE_MPPS)) {
    const r = results.find((x) => !x.scenario.seed5Layout && x.scenario.mode === "baseline" && `${x.scenario.direction}-${x.scenario.pktSize}` === key);
    if (r === undefined) continue;
    const row = `${r.scenario.direction.toUpperCase()} ${sizeLabel(r.scenario.pktSize)}`;
    order.push(row);
    values.push({ row, source: "published", mpps: published }, { row, source: `modelled (${c.profile})`, mpps: +r.report.modelled.mpps.toFixed(4) });
  }
  const title = "Published vs modelled packet rate (baseline, 1 queue)";
  const profileNote = c.profile === PUBLISHED_PROFILE ? `the profile of the host the figures were measured on` : `not ${PUBLISHED_PROFILE}, the host the figures were measured on`;
  return {
    id: "published",
    title,
    caption: `Published: pktgen DomU ↔ Dom0 on a Xeon E5-1650 v2 host, no persistent grants, 1 queue; modelled: the same shape run here with cost profile ${c.profile} (${profileNote}); ${c.packets} frames per scenario, seed ${c.seed}; modelled time, not wall clock.`,
    points: values.length,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      config,
      width: WIDTH,
      height: 280,
      data: { values },
      mark: "bar",
      encoding: {
        x: { field: "row", type: "nominal", sort: order, title: "direction and packet size", axis: { labelAngle: 0 } },
        xOffset: { field: "source", type: "nominal" },
        // A bar on a log scale needs a base other than 0: it starts from the floor.
        y: { field: "mpps", type: "quantitative", scale: { type: "log", domain: [RATE_FLOOR_MPPS, 2] }, title: "packet rate (Mpps, log scale)" },
        y2: { datum: RATE_FLOOR_MPPS },
        color: { field: "source", type: "nominal", title: "figure" },
      },
    },
  };
}

/** Share of the modelled time per operation (traffic phase, all VCPUs), one stacked bar per scenario. */
export function operationsChart(results: readonly ScenarioResult[], c: ReportConditions): Chart {
  const totals = new Map<string, number>();
  for (const r of results) for (const [op, v] of Object.entries(r.operations)) totals.set(op, (totals.get(op) ?? 0) + v.ns / r.report.packetsDelivered);
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP_OPERATIONS).map(([op]) => op);
  const values: { scenario: string; operation: string; nsPerFrame: number }[] = [];
  const order: string[] = [];
  for (const r of results) {
    const frames = Math.max(1, r.report.packetsDelivered);
    const total = Object.values(r.operations).reduce((s, v) => s + v.ns, 0);
    const scenario = `${scenarioLabel(r)} (${formatPerFrame(total / frames)}/frame)`;
    order.push(scenario);
    let other = 0;
    for (const [op, v] of Object.entries(r.operations)) {
      if (top.includes(op)) values.push({ scenario, operation: op, nsPerFrame: +(v.ns / frames).toFixed(1) });
      else other += v.ns / frames;
    }
    if (other > 0) values.push({ scenario, operation: "other", nsPerFrame: +other.toFixed(1) });
  }
  const title = "Where the modelled time goes, per operation";
  return {
    id: "operations",
    title,
    caption: `Modelled time of the traffic phase per operation kind, summed over all VCPUs and divided by the frames delivered (the bar label gives the total per frame); ${conditionsText(c)}.`,
    points: values.length,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      config,
      width: WIDTH - 120,
      data: { values },
      mark: "bar",
      encoding: {
        y: { field: "scenario", type: "nominal", sort: order, title: "scenario (modelled time per frame)" },
        x: { field: "nsPerFrame", type: "quantitative", stack: "normalize", title: "share of the modelled time per frame (%)", axis: { format: "%" } },
        color: { field: "operation", type: "nominal", title: "operation", sort: [...top, "other"], scale: { scheme: "tableau10" } },
        order: { field: "nsPerFrame", type: "quantitative", sort: "descending" },
      },
    },
  };
}

/** The worst-case layout's slots per region before and after netfront's straightening. */
export function layoutChart(layout: StraighteningLayout, seed5Run: ScenarioResult | undefined): Chart {
  const before = `as composed (${layout.before.slots} slots)`;
  const after = `after skb_linearize (${layout.after.slots} slots)`;
  const values = [
    ...layout.before.region.map((r, index) => ({ state: before, region: r.region, index, slots: r.slots, bytes: r.bytes })),
    ...layout.after.region.map((r, index) => ({ state: after, region: r.region, index, slots: r.slots, bytes: r.bytes })),
  ];
  const regions = layout.before.region.map((r) => r.region);
  const run =
    seed5Run === undefined
      ? ""
      : ` In a ${seed5Run.report.packetsSent}-frame TX run of this layout netfront straightened ${seed5Run.report.frontend.txLinearized ?? 0} frames (txLinearized) and ${seed5Run.report.packetsDelivered} were delivered intact.`;
  const title = "The 51-slot worst-case skb before and after netfront straightens it";
  return {
    id: "layout",
    title,
    caption: `A ${layout.packetBytes}-byte skb (--layout seed5) built by skb-model's composer; slots counted per region as xennet_count_skb_slots does (one grant per 4 KiB page touched), then skb_linearize as xennet_start_xmit does when a packet needs more than ${layout.maxSlots} slots; computed, not timed.${run}`,
    points: values.length,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      config,
      width: WIDTH - 60,
      height: 300,
      layer: [
        {
          data: { values },
          mark: { type: "bar", stroke: "white", strokeWidth: 0.5 },
          encoding: {
            x: { field: "state", type: "nominal", sort: [before, after], title: "skb", axis: { labelAngle: 0 } },
            y: { field: "slots", type: "quantitative", title: "TX ring slots (grants)", stack: "zero" },
            color: { field: "region", type: "nominal", title: "region", sort: regions, scale: { scheme: "category20" } },
            order: { field: "index", type: "quantitative", sort: "ascending" },
          },
        },
        {
          data: { values: [{}] },
          mark: { type: "rule", color: "#c00", strokeDash: [6, 3], strokeWidth: 2 },
          encoding: { y: { datum: layout.maxSlots } },
        },
        {
          data: { values: [{}] },
          mark: { type: "text", color: "#c00", align: "right", dy: -7, x: "width" },
          encoding: { y: { datum: layout.maxSlots }, text: { value: `limit: ${layout.maxSlots} (XEN_NETIF_NR_SLOTS_MIN)` } },
        },
      ],
    },
  };
}

const MAPTRACK_LABEL = { "single-locked": "one list, one lock (Xen before 4.6)", "per-vcpu-lockfree": "per-VCPU lists, lock-free (Xen 4.6+)", "per-vcpu-locked": "per-VCPU lists, a lock each" } as const;

/** Aggregate modelled throughput vs guests, one line per maptrack free list of Dom0. */
export function maptrackChart(points: readonly ManyGuestsPoint[], c: ReportConditions): Chart {
  const values = points.map((p) => ({ guests: p.guests, maptrack: MAPTRACK_LABEL[p.maptrack], gbit: +p.gbit.toFixed(2), lockBusy: +(p.lockBusy * 100).toFixed(1) }));
  const title = "Many guests: aggregate throughput vs Dom0's maptrack free list";
  return {
    id: "maptrack",
    title,
    caption: `pvnet run --guests N: N guests each send ${MANY_GUESTS_PACKETS} frames of 64 KiB to Dom0 at once (16 grant maps a frame), Dom0 with one VCPU per vif, a pCPU per VCPU, maptrack lock hold and wait on the virtual clock; seed ${c.seed}, cost profile ${c.profile}; modelled time, not wall clock.`,
    points: values.length,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      config,
      width: WIDTH,
      height: 280,
      data: { values },
      mark: { type: "line", point: { size: 60, filled: true } },
      encoding: {
        x: { field: "guests", type: "quantitative", scale: { type: "log", base: 2 }, axis: { values: [1, 2, 4, 8, 16], title: "guests (one vif each, log scale)" } },
        y: { field: "gbit", type: "quantitative", title: "aggregate modelled throughput (Gbit/s)" },
        color: { field: "maptrack", type: "nominal", title: "maptrack free list", sort: Object.values(MAPTRACK_LABEL) },
        tooltip: [{ field: "lockBusy", type: "quantitative", title: "maptrack lock held (% of run)" }],
      },
    },
  };
}

function formatPerFrame(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}

/** Render a chart to a standalone SVG string in Node. */
export async function renderSvg(chart: Chart): Promise<string> {
  const view = new vega.View(vega.parse(compile(chart.spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
