/**
 * The report page: one self-contained HTML file, every chart an inline SVG, no script, no style
 * sheet or font from elsewhere, so it opens offline from a file:// URL or an e-mail attachment.
 */
import type { Chart } from "./charts.js";
import type { ReportConditions, ScenarioResult } from "./scenarios.js";

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const STYLE = `body{font-family:sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}
figure{margin:2em 0;padding:1em;border:1px solid #ddd;border-radius:6px}
figcaption{color:#555;font-size:0.9em;margin-top:0.5em}
table{border-collapse:collapse;font-size:0.85em}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}code{font-size:0.95em}`;

/** The results as a table under the charts: the numbers the charts are drawn from. */
function resultsTable(results: readonly ScenarioResult[]): string {
  const head = ["scenario", "delivered", "dropped", "corrupt", "modelled Mpps", "modelled Gbit/s", "modelled time", "trace digest"];
  const rows = results.map((r) => {
    const s = r.scenario;
    const cells = [
      s.id,
      `${r.report.packetsDelivered}/${r.report.packetsSent}`,
      String(r.report.dropped),
      String(r.report.corrupt),
      r.report.modelled.mpps.toFixed(4),
      r.report.modelled.gbit.toFixed(3),
      `${(r.report.modelled.seconds * 1e3).toFixed(3)} ms`,
      r.report.traceDigest,
    ];
    return `<tr>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** The whole page. `svgs[i]` is the rendered `charts[i]`. */
export function reportHtml(charts: readonly Chart[], svgs: readonly string[], results: readonly ScenarioResult[], c: ReportConditions, version: string): string {
  const figures = charts.map(
    (chart, i) =>
      `<figure id="chart-${chart.id}" data-chart="${chart.id}" data-points="${chart.points}">\n${svgs[i] ?? ""}\n<figcaption>${escapeHtml(chart.caption)}</figcaption>\n</figure>`,
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pvnet report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>pvnet report</h1>
<p>An executable, byte-level model of the Xen paravirtual network path (pvnet ${escapeHtml(version)}): netfront and netback exchange
grants, ring requests and event-channel notifications over modelled machine memory; every rate below is the model's prediction
for the cost profile <code>${escapeHtml(c.profile)}</code>, from ${c.packets} frames per scenario with seed ${c.seed}. Re-create this
file with <code>pvnet report --packets ${c.packets}</code>: equal options give equal trace digests.</p>
${figures.join("\n")}
<h2>Scenarios</h2>
${resultsTable(results)}
</body>
</html>
`;
}
