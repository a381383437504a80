/**
 * The netback fuzzer as a soak: `pnpm --filter @pvnet/netback fuzz --steps 100000000 [--seed S]`.
 * Without --seed it runs seeds 1, 2, ... until --steps ring steps are done in all; a failure
 * prints `seed=<seed> step=<n>` and exits 1.
 */
import { NetbackFuzzFailure, runNetbackFuzz } from "./fuzz.js";

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`--${name} wants a non-negative integer`);
  return v;
}

/** Ring steps per seed when a soak runs many seeds. */
const STEPS_PER_SEED = 1_000_000;

const total = arg("steps") ?? STEPS_PER_SEED;
const fixedSeed = arg("seed");
let done = 0;
let seed = fixedSeed ?? 1;
try {
  while (done < total) {
    const steps = fixedSeed !== undefined ? total : Math.min(STEPS_PER_SEED, total - done);
    const t0 = performance.now();
    const r = runNetbackFuzz({ seed, steps });
    const s = (performance.now() - t0) / 1000;
    done += r.ringSteps;
    console.log(`seed=${seed} ringSteps=${r.ringSteps} bursts=${r.bursts} goodFrames=${r.goodFrames} reconnects=${r.reconnects} ${Math.round(r.ringSteps / s)} steps/s`);
    seed++;
  }
  console.log(`ok: ${done} ring steps`);
} catch (err) {
  if (err instanceof NetbackFuzzFailure) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
