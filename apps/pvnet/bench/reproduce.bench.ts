/**
 * `pvnet reproduce` as a benchmark: the persistent-grants RFC's pktgen table ("[RFC PATCH 00/13]
 * Persistent grant maps for xen net drivers", xen-devel, May 2015) and its MiniOS row, on host A's
 * profile (and host B's when a `hostB` profile exists), run exactly as the command runs them (the
 * same points in the same worker), with the conditions beside the figures. Prints the command's
 * table; writes bench-results/reproduce-<host>.json.
 */
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { CliError } from "../src/commands/command.js";
import {
  printReproduce,
  REPRODUCE_HOSTS,
  reproducePoints,
  reproduceProfileName,
  reproduceResults,
  reproduceRows,
  runReproduce,
} from "../src/commands/reproduce.js";

const SEED = 1;

for (const host of REPRODUCE_HOSTS) {
  let profile: string;
  try {
    profile = reproduceProfileName(host);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    process.stdout.write(`${host}: skipped (${e.message})\n`);
    continue;
  }
  const rows = reproduceRows(host);
  const points = reproducePoints(rows, SEED);
  const t0 = performance.now();
  const { results, end } = await runReproduce(points, profile, false);
  const wallSeconds = (performance.now() - t0) / 1000;
  if (end.kind !== "done") throw new Error(`${host}: the reproduce worker ended with ${end.kind}${end.kind === "error" ? `: ${end.name}: ${end.message}` : ""}`);
  const measured = reproduceResults(host, profile, rows, points, results);
  process.stdout.write(printReproduce(measured, { host, profile, seed: SEED }));
  const path = writeBenchResult(`reproduce-${host}`, {
    bench: `reproduce-${host}`,
    command: `pvnet reproduce --host ${host} --json`,
    what: "the persistent-grants RFC's pktgen rows (DomU <-> Dom0, 1 queue, burst 1, clone_skbs) and its MiniOS row (busy-polling TX, burst 8, 64 B), modelled vs published",
    conditions: {
      host,
      profile,
      seed: SEED,
      packetsPerPoint: Object.fromEntries(rows.map((r) => [r.test, r.packets])),
      machine: benchHost(),
      wallSeconds: +wallSeconds.toFixed(1),
    },
    rows: measured,
  });
  process.stdout.write(`wrote ${path}\n`);
}
