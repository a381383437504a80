/**
 * `pvnet report`: runs the report's scenarios (DomU <-> Dom0, TX and RX, 64/1496/65535 bytes,
 * baseline and persistent grants, one queue, and the 51-slot worst-case layout) and writes one
 * self-contained HTML file with SVG charts (or prints a JSON summary of it with `--json`).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { DEFAULT_PROFILE, HOST_PROFILES } from "@pvnet/hypervisor";
import { Command, Option } from "commander";
import { decimalInteger, nonEmpty } from "../cli-options.js";
import { type Chart, layoutChart, maptrackChart, operationsChart, publishedChart, renderSvg, throughputChart } from "../report/charts.js";
import { reportHtml } from "../report/html.js";
import { straightenedLayout } from "../report/layout.js";
import { runManyGuestsSweep } from "../report/many-guests.js";
import { DEFAULT_REPORT_PACKETS, type ReportConditions, runReportScenarios, reportScenarios } from "../report/scenarios.js";
import { CliError, EXIT } from "./command.js";
import { MAX_SEED } from "./run.js";

/**
 * Most frames per scenario: the report runs 13 scenarios, and 100 000 frames of 64 KiB already
 * take about half a minute each here.
 */
export const MAX_REPORT_PACKETS = 100_000;
/** Where the report goes unless --out says otherwise (relative to the working directory). */
export const DEFAULT_REPORT_FILE = "pvnet-report.html";

interface ReportOptions {
  out: string;
  packets: number;
  seed: number;
  profile: string;
  svgDir?: string;
  json: boolean;
}

/** Everything the report shows, built from measured runs: the charts, their SVGs, the page. */
export async function buildReport(c: ReportConditions, version: string, onDone?: (id: string, done: number, total: number) => void) {
  const results = await runReportScenarios(c, (r, done, total) => onDone?.(r.scenario.id, done, total));
  const seed5Run = results.find((r) => r.scenario.seed5Layout);
  const guests = await runManyGuestsSweep(c);
  const charts: Chart[] = [throughputChart(results, c), publishedChart(results, c), operationsChart(results, c), layoutChart(straightenedLayout(), seed5Run), maptrackChart(guests, c)];
  const svgs: string[] = [];
  for (const chart of charts) svgs.push(await renderSvg(chart));
  return { results, guests, charts, svgs, html: reportHtml(charts, svgs, results, c, version) };
}

async function action(o: ReportOptions, command: Command): Promise<void> {
  const c: ReportConditions = { packets: o.packets, seed: o.seed, profile: o.profile };
  const chatty = !o.json && process.stderr.isTTY === true;
  // The program (cli-program.ts) carries the package's version.
  const report = await buildReport(c, command.parent?.version() ?? "unknown", (id, done, total) => {
    if (chatty) process.stderr.write(`\r  ran ${done}/${total} scenarios (${id})\x1b[K`);
  });
  if (chatty) process.stderr.write("\r\x1b[K");
  const bad = report.results.filter((r) => r.report.corrupt !== 0 || r.report.packetsDelivered !== r.report.packetsSent);
  const out = resolve(o.out);
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, report.html);
    const svgDir = o.svgDir;
    if (svgDir !== undefined) {
      mkdirSync(svgDir, { recursive: true });
      report.charts.forEach((chart, i) => {
        writeFileSync(join(svgDir, `report-${chart.id}.svg`), report.svgs[i] ?? "");
      });
    }
  } catch (e) {
    throw new CliError(`cannot write the report to '${o.out}': ${(e as Error).message}`, EXIT.FAILED, { cause: e });
  }
  if (o.json) {
    const summary = {
      out,
      conditions: c,
      charts: report.charts.map((chart) => ({ id: chart.id, title: chart.title, points: chart.points })),
      scenarios: report.results.map((r) => ({
        id: r.scenario.id,
        packetsSent: r.report.packetsSent,
        packetsDelivered: r.report.packetsDelivered,
        corrupt: r.report.corrupt,
        modelledMpps: r.report.modelled.mpps,
        modelledGbit: r.report.modelled.gbit,
        traceDigest: r.report.traceDigest,
      })),
      manyGuests: report.guests,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(`pvnet report: ${report.charts.length} charts from ${report.results.length} scenarios (${c.packets} frames each, seed ${c.seed}, profile ${c.profile})\n`);
    process.stdout.write(`wrote ${out}\nopen it in a browser: file://${out}\n`);
  }
  const badGuests = report.guests.filter((p) => p.corrupt !== 0 || p.delivered !== p.sent).map((p) => `guests-${p.guests}-${p.maptrack}`);
  if (bad.length + badGuests.length > 0) {
    process.stderr.write(`pvnet report: ${[...bad.map((r) => r.scenario.id), ...badGuests].join(", ")} did not deliver every frame intact\n`);
    process.exitCode = EXIT.FAILED;
  }
}

export function reportCommand(): Command {
  return new Command("report")
    .summary("run the report's scenarios and write one self-contained HTML file with SVG charts")
    .description(
      `Runs ${reportScenarios().length} deterministic DomU <-> Dom0 scenarios (TX and RX at 64, 1496 and 65535 bytes, baseline and ` +
        "persistent grants, 1 queue, and a TX run of the 51-slot worst-case layout) and writes one HTML file, viewable offline, " +
        "with SVG charts: modelled throughput vs packet size per grant mode, published vs modelled packet rates, where the " +
        "modelled time goes per operation, the worst-case layout's slots before and after netfront straightens it, and " +
        "the aggregate of 1-16 guests under each of Dom0's maptrack free lists (pvnet run --guests).",
    )
    .addOption(new Option("--out <file>", "the HTML file to write").argParser(nonEmpty("a file name")).default(DEFAULT_REPORT_FILE))
    .addOption(new Option("--packets <n>", `frames per scenario (1..${MAX_REPORT_PACKETS})`).argParser(decimalInteger(1, MAX_REPORT_PACKETS)).default(DEFAULT_REPORT_PACKETS))
    .addOption(new Option("--seed <n>", `seed of every run (0..${MAX_SEED})`).argParser(decimalInteger(0, MAX_SEED)).default(1))
    .addOption(new Option("--profile <name>", "host cost profile").choices(Object.keys(HOST_PROFILES)).default(DEFAULT_PROFILE.name))
    .addOption(new Option("--svg-dir <dir>", "also write each chart as report-<chart>.svg in this folder").argParser(nonEmpty("a folder")))
    .addOption(new Option("--json", "print a JSON summary (file, charts, scenarios) instead of text").default(false))
    .addHelpText("after", "\nExamples:\n  pvnet report\n  pvnet report --out /tmp/pvnet.html --packets 200 --json")
    .action(action);
}
