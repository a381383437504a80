/** Plain-text tables and number formats for the human output of `pvnet` (`--json` prints none of it). */

export type Align = "left" | "right";

/** A table with a title line, a header row and aligned columns (numbers right-aligned). */
export function table(title: string, headers: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>, align?: readonly Align[]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? formatCount(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const alignOf = (i: number): Align => align?.[i] ?? (i === 0 ? "left" : "right");
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (alignOf(i) === "left" ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [title, line(headers), rule, ...cells.map(line), ""].join("\n");
}

/** An integer with thin thousands separators (`1 234 567`), other numbers as given. */
export function formatCount(n: number): string {
  if (!Number.isInteger(n)) return String(n);
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

/** A packet rate in the unit that reads best. */
export function formatRate(mpps: number): string {
  return mpps >= 1 ? `${mpps.toFixed(2)} Mpps` : `${(mpps * 1000).toFixed(1)} Kpps`;
}

/** Nanoseconds in the unit that reads best. */
export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(3)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} us`;
  return `${Math.round(ns)} ns`;
}

/** `part` as a percentage of `whole`, one decimal. */
export function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : "-";
}
