import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SEED5_WORST_CASE, SEED5_WORST_CASE_SLOTS, skbDescLen } from "@pvnet/skb-model";
import { XEN_NETIF_NR_SLOTS_MIN } from "@pvnet/netif";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PUBLISHED_BASELINE_MPPS } from "../src/commands/published.js";
import { straightenedLayout } from "../src/report/layout.js";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
/** Frames per scenario in these tests: few, so the 13 scenarios run in seconds. */
const PACKETS = 40;
/** The five charts of the report, in page order. */
const CHARTS = ["throughput", "published", "operations", "layout", "maptrack"];
/** Debian's chromium, as `.ci/run` installs it. */
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

interface Summary {
  out: string;
  conditions: { packets: number; seed: number; profile: string };
  charts: { id: string; title: string; points: number }[];
  scenarios: { id: string; packetsSent: number; packetsDelivered: number; corrupt: number; modelledMpps: number; traceDigest: string }[];
  manyGuests: { guests: number; maptrack: string; gbit: number; lockBusy: number; delivered: number; sent: number; corrupt: number }[];
}

let dir: string;
let summary: Summary;
let html: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "pvnet-report-"));
  const stdout = execFileSync(process.execPath, [bin, "report", "--out", join(dir, "report.html"), "--packets", String(PACKETS), "--svg-dir", join(dir, "svg"), "--json"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  summary = JSON.parse(stdout) as Summary;
  html = readFileSync(summary.out, "utf8");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The figures of the page: chart id, the points it was given, its body. */
function figures(page: string): { id: string; points: number; body: string }[] {
  return [...page.matchAll(/<figure id="chart-(\w+)" data-chart="\w+" data-points="(\d+)">([\s\S]*?)<\/figure>/g)].map((m) => ({ id: m[1] as string, points: Number(m[2]), body: m[3] as string }));
}

describe("pvnet report", () => {
  test("runs every scenario to full, intact delivery, as pvnet run would (same trace digest)", () => {
    expect(summary.conditions).toEqual({ packets: PACKETS, seed: 1, profile: "hostA" });
    expect(summary.scenarios.map((s) => s.id)).toEqual([
      "tx-64-baseline",
      "tx-1496-baseline",
      "tx-65535-baseline",
      "tx-64-persistent",
      "tx-1496-persistent",
      "tx-65535-persistent",
      "rx-64-baseline",
      "rx-1496-baseline",
      "rx-65535-baseline",
      "rx-64-persistent",
      "rx-1496-persistent",
      "rx-65535-persistent",
      "tx-seed5-baseline",
    ]);
    for (const s of summary.scenarios) {
      expect(s.packetsDelivered, s.id).toBe(PACKETS);
      expect(s.corrupt, s.id).toBe(0);
      expect(s.modelledMpps, s.id).toBeGreaterThan(0);
    }
    const run = JSON.parse(execFileSync(process.execPath, [bin, "run", "--direction", "rx", "--pkt-size", "1496", "--persistent", "--packets", String(PACKETS), "--json"], { encoding: "utf8" }));
    expect(summary.scenarios.find((s) => s.id === "rx-1496-persistent")?.traceDigest).toBe(run.traceDigest);
    expect(summary.scenarios.find((s) => s.id === "rx-1496-persistent")?.modelledMpps).toBe(run.modelled.mpps);
  });

  test("the HTML is self-contained and holds one inline SVG per chart, one mark per data point", () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//i);
    const figs = figures(html);
    expect(figs.map((f) => f.id)).toEqual(CHARTS);
    expect(summary.charts.map((c) => [c.id, c.points])).toEqual(figs.map((f) => [f.id, f.points]));
    for (const f of figs) {
      expect(f.body.match(/<svg /g)?.length, f.id).toBe(1);
      // Data marks: a point per (size, mode, direction), a bar per value; axes and legends are not counted.
      const marks = f.body.match(/aria-roledescription="(?:bar|point)"/g)?.length ?? 0;
      expect(marks, f.id).toBe(f.points);
      expect(f.body).toMatch(/<figcaption>[^<]*seed[^<]*<\/figcaption>|<figcaption>[^<]*computed, not timed[^<]*<\/figcaption>/);
    }
    const [throughput, published, operations, layout, maptrack] = figs;
    // 1, 2, 4, 8 and 16 guests under each of the three free lists, every frame delivered intact.
    expect(maptrack?.points).toBe(15);
    for (const p of summary.manyGuests) expect([p.delivered, p.corrupt], `${p.guests} ${p.maptrack}`).toEqual([p.sent, 0]);
    const at16 = (v: string) => summary.manyGuests.find((p) => p.guests === 16 && p.maptrack === v) as Summary["manyGuests"][number];
    // The single lock is held most of the 16-guest run and holds the aggregate below the per-VCPU lists'.
    expect(at16("single-locked").gbit).toBeLessThan(at16("per-vcpu-lockfree").gbit);
    expect(at16("single-locked").lockBusy).toBeGreaterThan(0.5);
    // 3 sizes x 2 grant modes x 2 directions.
    expect(throughput?.points).toBe(12);
    // Every published row is drawn with its published figure, next to the modelled one.
    expect(published?.points).toBe(2 * Object.keys(PUBLISHED_BASELINE_MPPS).length);
    for (const mpps of Object.values(PUBLISHED_BASELINE_MPPS)) expect(published?.body).toContain(`packet rate (Mpps, log scale): ${mpps}; source: published`);
    expect(operations?.body).toContain("operation: grant.copy");
    // 51 slots as composed (the linear area and 17 frags), one linear region after straightening.
    expect(layout?.points).toBe(1 + SEED5_WORST_CASE.frags!.length + 1);
    expect(layout?.body).toContain(`as composed (${SEED5_WORST_CASE_SLOTS} slots)`);
    expect(layout?.body).toContain(`limit: ${XEN_NETIF_NR_SLOTS_MIN} (XEN_NETIF_NR_SLOTS_MIN)`);
    for (const id of CHARTS) expect(readFileSync(join(dir, "svg", `report-${id}.svg`), "utf8")).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  test("--packets is a decimal integer in range: exit 2 naming the option", () => {
    let err: { status: number; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, [bin, "report", "--packets", "1e3"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      err = e as { status: number; stderr: string };
    }
    expect(err?.status).toBe(2);
    expect(err?.stderr).toContain("option '--packets <n>' argument '1e3' is invalid");
  });
});

describe("the worst-case layout", () => {
  test("51 slots region by region as composed; straightened into one linear area within the backend's limit", () => {
    const l = straightenedLayout();
    expect(l.packetBytes).toBe(skbDescLen(SEED5_WORST_CASE));
    expect(l.before.slots).toBe(SEED5_WORST_CASE_SLOTS);
    expect(l.before.region.map((r) => r.slots)).toEqual([2, ...Array(15).fill(3), 2, 2]);
    expect(l.after.region).toHaveLength(1);
    expect(l.after.region[0]?.bytes).toBe(l.packetBytes);
    expect(l.after.slots).toBeLessThanOrEqual(XEN_NETIF_NR_SLOTS_MIN);
    // A layout within the limit is left as it is.
    const small = straightenedLayout({ linearLen: 100, frags: [{ size: 1000, offset: 0, order: 0 }] });
    expect(small.after).toEqual(small.before);
  });
});

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`pvnet report browser test skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

describe.skipIf(!hasChromium)(`pvnet report in headless Chromium (${CHROMIUM})`, () => {
  test("every chart renders its SVG with visible data marks; a screenshot is saved", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      // Nothing may be fetched: the file is opened offline and every request is refused and recorded.
      const requests: string[] = [];
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith("file://")) return route.continue();
        requests.push(url);
        return route.abort();
      });
      await page.goto(`file://${summary.out}`);
      const charts = await page.$$eval("figure[data-chart]", (figs) =>
        figs.map((f) => {
          const svg = f.querySelector("svg");
          const box = svg?.getBoundingClientRect();
          const marks = [...f.querySelectorAll('[aria-roledescription="bar"], [aria-roledescription="point"]')].filter((m) => {
            const b = (m as unknown as { getBBox(): { width: number; height: number } }).getBBox();
            return b.width > 0 && b.height > 0;
          });
          return { id: f.getAttribute("data-chart"), points: Number(f.getAttribute("data-points")), svgs: f.querySelectorAll("svg").length, width: box?.width ?? 0, height: box?.height ?? 0, visibleMarks: marks.length };
        }),
      );
      expect(charts.map((c) => c.id)).toEqual(CHARTS);
      for (const c of charts) {
        expect(c.svgs, c.id).toBe(1);
        expect(c.width, c.id).toBeGreaterThan(200);
        expect(c.height, c.id).toBeGreaterThan(200);
        expect(c.visibleMarks, c.id).toBe(c.points);
      }
      expect(requests).toEqual([]);
      const shots = join(tmpdir(), "pvnet-report-e2e");
      mkdirSync(shots, { recursive: true });
      const png = join(shots, "report.png");
      await page.screenshot({ path: png, fullPage: true });
      expect(statSync(png).size).toBeGreaterThan(10_000);
      console.log(`pvnet report screenshot: ${png}`);
    } finally {
      await browser.close();
    }
  });
});
