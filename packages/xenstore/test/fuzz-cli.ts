/**
 * The long soak: `pnpm fuzz --steps N [--seed S] [--runs R]` (from packages/xenstore) runs R
 * seeds from S on, N steps each, and prints one summary line per seed; exits 1 with the failing
 * `seed=` on a violated invariant.
 */
import { runXenstoreFuzz } from "./fuzz.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`--${name} takes a non-negative integer`);
    process.exit(2);
  }
  return v;
}

const steps = arg("steps", 100_000);
const first = arg("seed", 1);
const runs = arg("runs", 1);
for (let seed = first; seed < first + runs; seed++) {
  try {
    const s = runXenstoreFuzz({ seed, steps });
    console.log(
      `seed=${seed} steps=${s.steps} ok=${s.ok} releases=${s.releases} wireFrames=${s.wireFrames} droppedWatchEvents=${s.droppedWatchEvents} maxNodes=${s.maxNodes} errors=${JSON.stringify(s.errors)}`,
    );
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
