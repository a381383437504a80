/**
 * Typed option values of the `pvnet` command line. An integer option takes a decimal integer in
 * its range and nothing else: `1e3`, `0x10`, `1.5`, `+3` and numbers past the range are refused
 * with one line naming the option and its range (the command exits 2, as a usage error).
 */
import { MAX_TRACE_SAMPLE, type TraceMode } from "@pvnet/sim";
import { InvalidArgumentError } from "commander";

/** Digits only, no sign, no exponent, no radix prefix, no separators. */
const DECIMAL = /^[0-9]+$/;

/** A decimal integer in `min..max` (both inclusive); for commander's `Option.argParser`. */
export function decimalInteger(min: number, max: number): (value: string) => number {
  return (value: string) => {
    // Beyond 16 digits a string can no longer be a safe integer: refuse it before Number rounds it.
    const n = DECIMAL.test(value) && value.length <= 16 ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a decimal integer in ${min}..${max}.`);
    }
    return n;
  };
}

/** A string that must not be empty (a socket path, a file name). */
export function nonEmpty(what: string): (value: string) => string {
  return (value: string) => {
    if (value.length === 0) throw new InvalidArgumentError(`expected ${what}, got an empty string.`);
    return value;
  };
}

/** `full`, `off` or `sample:N` (one trace event in N kept, 1..MAX_TRACE_SAMPLE). */
export function traceMode(value: string): TraceMode {
  if (value === "full" || value === "off") return value;
  const m = /^sample:([0-9]{1,10})$/.exec(value);
  const n = m === null ? Number.NaN : Number(m[1]);
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TRACE_SAMPLE) {
    throw new InvalidArgumentError(`expected full, off or sample:N with N in 1..${MAX_TRACE_SAMPLE}.`);
  }
  return { sample: n };
}
