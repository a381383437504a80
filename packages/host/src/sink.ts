/**
 * A traffic sink: verifies each delivered frame and keeps per-flow sequence state, so a run can
 * report frames delivered, bytes delivered, corrupt frames, duplicates and reordering. Memory is
 * bounded: one record per flow, not per frame.
 */
import { type FrameVerdict, verifyFrame } from "./frame.js";

interface FlowState {
  nextSeq: number;
  delivered: number;
}

/** Bound on distinct flows a sink tracks (well above any topology's queue count). */
export const MAX_FLOWS = 4096;

/**
 * The receiving end of a topology's traffic: counts frames and bytes delivered, corrupt frames,
 * duplicates and reordering per flow (bounded to MAX_FLOWS flows).
 */
export class TrafficSink {
  delivered = 0;
  bytes = 0;
  corrupt = 0;
  /** Frames whose seq is lower than the next expected (duplicates or late reorders). */
  outOfOrder = 0;
  /** Sequence numbers skipped over (frames missing when a later one arrived). */
  gaps = 0;
  readonly reasons: string[] = [];
  private readonly flows = new Map<number, FlowState>();

  /** Take one frame, `frame[0, len)` (its payload CRC checked unless `checkPayload` is false); returns whether it verified. */
  receive(frame: Uint8Array, len = frame.length, checkPayload = true): boolean {
    return this.record(verifyFrame(frame, len, checkPayload));
  }

  /** Take one frame already checked (`verifyFrame`, `verifyFrameViews`) by its verdict; returns whether it verified. */
  record(v: FrameVerdict): boolean {
    if (!v.ok) {
      this.corrupt++;
      if (this.reasons.length < 16) this.reasons.push(v.reason);
      return false;
    }
    let f = this.flows.get(v.flow);
    if (f === undefined) {
      if (this.flows.size >= MAX_FLOWS) {
        this.corrupt++;
        return false;
      }
      f = { nextSeq: 0, delivered: 0 };
      this.flows.set(v.flow, f);
    }
    if (v.seq < f.nextSeq) this.outOfOrder++;
    else {
      this.gaps += v.seq - f.nextSeq;
      f.nextSeq = v.seq + 1;
    }
    f.delivered++;
    this.delivered++;
    this.bytes += v.size;
    return true;
  }

  /** Frames delivered of flow `flow` (0 for a flow never seen). */
  flowDelivered(flow: number): number {
    return this.flows.get(flow)?.delivered ?? 0;
  }

  /** Distinct flows seen so far. */
  flowCount(): number {
    return this.flows.size;
  }
}
