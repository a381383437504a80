/**
 * A threaded event channel: what EVTCHNOP_send + the guest's upcall are to a ring, for two
 * threads sharing memory. The notifying side bumps a sequence word and, only if someone sleeps,
 * calls `Atomics.notify`; the waiting side spins on the word for a while, then sleeps in
 * `Atomics.wait`. On a 2-core host a sleep/wake round trip costs tens of microseconds while a
 * spinning peer sees the change in well under one, hence spin-then-wait.
 *
 * Lost wake-ups cannot happen: the waiter takes `snapshot()` BEFORE its final ring check and
 * sleeps only while the word still equals that snapshot; the waiter count is raised before the
 * sleep and read by `notify()` after the bump (all seq-cst), and `Atomics.wait` compares the word
 * atomically with going to sleep. Used with RING_FINAL_CHECK_*:
 *
 * ```ts
 * const seen = chan.snapshot();
 * if (back.finalCheckForRequests() === 0) chan.wait(seen);
 * ```
 *
 * Layout: two Int32 words in a SharedArrayBuffer (`EVTCHN_WORDS`): [0] sequence, [1] sleepers.
 * `notify`, `snapshot` and `wait` allocate nothing.
 */

/** Int32 words one channel occupies. */
export const EVTCHN_WORDS = 2;
/** Bytes one channel occupies. */
export const EVTCHN_BYTES = EVTCHN_WORDS * 4;
/**
 * Polls of the sequence word before sleeping. One poll (an Atomics.load of shared memory) costs
 * 10-20 ns on the development machine (a 2-vCPU VM), so this is 200-400 us. That must exceed the
 * peer's wake-up latency: if a side stops spinning before a woken peer gets going, both fall into
 * a sleep/wake ping-pong (seen at 0.6-2.6 M entries/s there, against 15-25 M/s without sleeps).
 */
export const EVTCHN_SPIN_ITERATIONS = 20_000;

const SEQ = 0;
const SLEEPERS = 1;

/** How `wait` ended. */
export type EvtchnWaitResult = "notified" | "timed-out";

/**
 * An event channel between two threads sharing memory: notify bumps a sequence word, the waiter
 * spins then sleeps in Atomics.wait (see the module comment).
 */
export class ThreadedEventChannel {
  readonly words: Int32Array;
  private readonly base: number;
  /** Times this side went to sleep in `Atomics.wait` (local counter, for benchmarks). */
  sleeps = 0;
  /** Times this side called `Atomics.notify` (local counter). */
  wakes = 0;

  /**
   * A channel over `words[base]` and `words[base + 1]` of an Int32Array on a SharedArrayBuffer
   * (zero-filled memory is a valid initial state).
   */
  constructor(words: Int32Array, base = 0) {
    if (!(words.buffer instanceof SharedArrayBuffer)) throw new TypeError("a threaded event channel needs a SharedArrayBuffer");
    if (!Number.isInteger(base) || base < 0 || base + EVTCHN_WORDS > words.length) {
      throw new RangeError(`channel words ${base}..${base + EVTCHN_WORDS - 1} outside the array`);
    }
    this.words = words;
    this.base = base;
  }

  /** A channel in its own fresh SharedArrayBuffer; pass `.words` to the other thread. */
  static create(): ThreadedEventChannel {
    return new ThreadedEventChannel(new Int32Array(new SharedArrayBuffer(EVTCHN_BYTES)));
  }

  /** The sequence word now: take it before the final ring check, pass it to `wait`. */
  snapshot(): number {
    return Atomics.load(this.words, this.base + SEQ);
  }

  /** EVTCHNOP_send: bump the sequence and wake a sleeper if there is one. */
  notify(): void {
    Atomics.add(this.words, this.base + SEQ, 1);
    // Read after the bump: a waiter that raised SLEEPERS after this read will see the new SEQ.
    if (Atomics.load(this.words, this.base + SLEEPERS) !== 0) {
      this.wakes++;
      Atomics.notify(this.words, this.base + SEQ);
    }
  }

  /**
   * Block until the sequence word differs from `seen`: spin `spinIterations` polls, then sleep.
   * `timeoutMs` bounds the sleep (Infinity by default); "timed-out" means no notify arrived.
   */
  wait(seen: number, spinIterations = EVTCHN_SPIN_ITERATIONS, timeoutMs = Number.POSITIVE_INFINITY): EvtchnWaitResult {
    const w = this.words;
    const seq = this.base + SEQ;
    for (let i = 0; i < spinIterations; i++) {
      if (Atomics.load(w, seq) !== seen) return "notified";
    }
    Atomics.add(w, this.base + SLEEPERS, 1);
    let r: "ok" | "not-equal" | "timed-out";
    try {
      this.sleeps++;
      r = Atomics.wait(w, seq, seen, timeoutMs);
    } finally {
      Atomics.sub(w, this.base + SLEEPERS, 1);
    }
    if (r === "timed-out" && Atomics.load(w, seq) === seen) return "timed-out";
    return "notified";
  }
}
