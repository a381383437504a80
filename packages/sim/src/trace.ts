/**
 * A compact trace: fixed-size records (time, actor, event code, two integer arguments) kept in a
 * bounded ring of typed arrays, plus a running digest over every record ever written. Two runs of
 * the same `(scenario, seed)` must produce the same digest bit for bit, even when the ring has
 * overwritten its oldest records.
 */

import { hashLabel } from "./prng.js";

/** One trace record: modelled time, actor, event name and two integer arguments. */
export interface TraceRecord {
  readonly timeNs: number;
  readonly actor: number;
  readonly event: string;
  readonly a: number;
  readonly b: number;
}

/** Default ring capacity: enough to see the tail of a run; the digest covers everything. */
export const DEFAULT_TRACE_CAPACITY = 1 << 16;

/**
 * How much of a run the trace keeps: "full" records and digests every event; `{ sample: N }`
 * records and digests one event in N (the 1st, the N+1th, ...); "off" records nothing. The model
 * does the same work in every mode — only the trace's own bookkeeping is skipped — so every
 * result but the trace (delivery, counters, modelled time) is the same whatever the mode.
 */
export type TraceMode = "full" | "off" | { readonly sample: number };

/** Largest sampling period: one event in 2^30 is as good as off. */
export const MAX_TRACE_SAMPLE = 1 << 30;

/** One event in how many a mode keeps (0: none). */
export function traceSampleEvery(mode: TraceMode): number {
  if (mode === "full") return 1;
  if (mode === "off") return 0;
  const n = mode.sample;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TRACE_SAMPLE) throw new RangeError(`bad trace sample period ${n} (1..${MAX_TRACE_SAMPLE})`);
  return n;
}

/** The mode's name: "full", "off" or "sample:N" (what `pvnet run --trace` takes). */
export function formatTraceMode(mode: TraceMode): string {
  return mode === "full" || mode === "off" ? mode : `sample:${mode.sample}`;
}

/** A bounded trace of fixed-size records with a running digest over all of them (see the module comment). */
export class Trace {
  private readonly times: Float64Array;
  private readonly ints: Int32Array; // actor, code, a, b per record
  private readonly codes = new Map<string, number>();
  private readonly names: string[] = [];
  /** FNV-1a hash of each interned name, mixed into the digest instead of the name's characters. */
  private readonly nameHashes: number[] = [];
  private written = 0;
  /** Events offered to `event`, kept or not. */
  private offered = 0;
  /** One event in `every` is kept (0: none). */
  private readonly every: number;
  /** Events to skip before the next kept one. */
  private skip = 0;
  // Two FNV-1a lanes give a 64-bit digest without BigInt on the hot path.
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;

  constructor(
    readonly capacity: number = DEFAULT_TRACE_CAPACITY,
    readonly mode: TraceMode = "full",
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`bad trace capacity ${capacity}`);
    this.every = traceSampleEvery(mode);
    this.times = new Float64Array(capacity);
    this.ints = new Int32Array(capacity * 4);
  }

  /** Intern an event name; the code is stable for the life of the trace. */
  code(event: string): number {
    let c = this.codes.get(event);
    if (c === undefined) {
      c = this.names.length;
      this.names.push(event);
      this.nameHashes.push(hashLabel(event));
      this.codes.set(event, c);
    }
    return c;
  }

  /** Record an event. `a` and `b` are truncated to signed 32-bit integers. */
  event(timeNs: number, actor: number, event: string, a = 0, b = 0): void {
    this.offered++;
    if (this.every !== 1) {
      if (this.every === 0) return;
      if (this.skip > 0) {
        this.skip--;
        return;
      }
      this.skip = this.every - 1;
    }
    const code = this.code(event);
    const slot = this.written % this.capacity;
    this.times[slot] = timeNs;
    const base = slot * 4;
    this.ints[base] = actor;
    this.ints[base + 1] = code;
    this.ints[base + 2] = a;
    this.ints[base + 3] = b;
    this.written++;
    this.mix(timeNs % 0x100000000);
    this.mix(Math.floor(timeNs / 0x100000000));
    this.mix(actor);
    // Mix the name's hash, not its code, so the digest does not depend on interning order.
    this.mix(this.nameHashes[code] as number);
    this.mix(a);
    this.mix(b);
  }

  private mix(v: number): void {
    let x = v | 0;
    for (let i = 0; i < 4; i++) {
      const byte = x & 0xff;
      this.h1 = Math.imul(this.h1 ^ byte, 0x01000193) >>> 0;
      this.h2 = Math.imul(this.h2 ^ byte, 0x01000193) >>> 0;
      this.h2 = (this.h2 + this.h1) >>> 0;
      x >>>= 8;
    }
  }

  /** Number of records ever written (may exceed `capacity`; with sampling, the kept ones). */
  get length(): number {
    return this.written;
  }

  /** Number of events offered, kept or not (the same in every mode). */
  get events(): number {
    return this.offered;
  }

  /**
   * A 64-bit digest of every record written, as 16 hex digits; sampled: `sample:N:` and the
   * digest of the kept records; off: "off".
   */
  digest(): string {
    if (this.every === 0) return "off";
    const hex = this.h1.toString(16).padStart(8, "0") + this.h2.toString(16).padStart(8, "0");
    return this.every === 1 ? hex : `sample:${this.every}:${hex}`;
  }

  /** The records still held, oldest first (at most `capacity`). Allocates: not for hot paths. */
  records(): TraceRecord[] {
    const n = Math.min(this.written, this.capacity);
    const out: TraceRecord[] = [];
    for (let i = this.written - n; i < this.written; i++) {
      const slot = i % this.capacity;
      const base = slot * 4;
      out.push({
        timeNs: this.times[slot] as number,
        actor: this.ints[base] as number,
        event: this.names[this.ints[base + 1] as number] as string,
        a: this.ints[base + 2] as number,
        b: this.ints[base + 3] as number,
      });
    }
    return out;
  }

  /** One line per held record: `time actor event a b`. */
  format(): string {
    return this.records()
      .map((r) => `${r.timeNs} ${r.actor} ${r.event} ${r.a} ${r.b}`)
      .join("\n");
  }
}
