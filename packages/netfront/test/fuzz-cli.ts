/**
 * `pnpm --filter @pvnet/netfront fuzz --steps N [--seed S]`: a longer soak of the malicious-backend
 * fuzzer (test/fuzz.ts). Prints the result and the rate; a failure prints `seed=` and exits 1.
 */
import { fuzzNetfront } from "./fuzz.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v)) throw new Error(`--${name} wants an integer`);
  return v;
}

const steps = arg("steps", 1_000_000);
const seed = arg("seed", 0x5eed_0001);
const t0 = performance.now();
try {
  const r = fuzzNetfront(seed, steps);
  const s = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seed, ...r, seconds: Number(s.toFixed(2)), stepsPerSecond: Math.round(steps / s) }));
} catch (e) {
  console.error(e instanceof Error ? `${e.message}\n${(e.cause as Error | undefined)?.stack ?? ""}` : e);
  process.exit(1);
}
