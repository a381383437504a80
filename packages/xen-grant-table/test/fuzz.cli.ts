// `pnpm fuzz [--steps N] [--seed S] [--seeds K]`: the grant-table fuzzer for a longer soak. Runs
// K seeds from S (default: 8 seeds from 1) of N steps each (default 100 000); a failure prints the
// seed and step that replay it and exits 1.
import { runGrantTableFuzz } from "./fuzz.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`--${name} needs a non-negative integer, got ${process.argv[i + 1]}`);
  return v;
}

const steps = arg("steps", 100_000);
const first = arg("seed", 1);
const seeds = arg("seeds", 8);
let total = 0;
for (let seed = first; seed < first + seeds; seed++) {
  try {
    const r = runGrantTableFuzz(seed, steps);
    total += steps;
    console.log(`seed=${seed} ok: ${steps} steps (${r.variant}), ${r.okMaps} maps, ${r.okCopies} copies, statuses ${JSON.stringify(r.statuses)}`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
console.log(`${total} steps, ${seeds} seeds: no failure`);
