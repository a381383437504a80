/** A front and a back end over one ring, driven by tests with a model of what must be in it. */
import { BackRing, defineRingLayout, FrontRing, ringMemoryOver, SharedRing } from "@pvnet/shared-ring";

/** netif_tx-sized entries: 12-byte slots straddle page boundaries in 4- and 8-page rings. */
export const TX_LAYOUT = defineRingLayout("netif_tx", 12, 4);

export const putSeq = (v: DataView, o: number, seq: number) => {
  v.setUint32(o, seq, true);
  v.setUint32(o + 4, ~seq >>> 0, true);
};
export const getSeq = (v: DataView, o: number, out: { seq: number; check: number }) => {
  out.seq = v.getUint32(o, true);
  out.check = v.getUint32(o + 4, true);
};

/**
 * A ring over `pages` pages laid out in REVERSE order in a buffer (so the pages are not
 * contiguous in ring order), with both ends attached at `start` as if SHARED_RING_INIT had run
 * there.
 */
export function makeRing(pages: number, start: number) {
  const buffer = new SharedArrayBuffer((pages + 2) * 4096);
  const mem = ringMemoryOver(buffer);
  const pageOffsets = Array.from({ length: pages }, (_, i) => (pages - i) * 4096); // page 0 is a guard
  const sring = new SharedRing(mem, pageOffsets, TX_LAYOUT);
  sring.init();
  sring.reqProd = start;
  sring.rspProd = start;
  sring.reqEvent = start + 1;
  sring.rspEvent = start + 1;
  const front = new FrontRing(sring).attach(start);
  const back = new BackRing(sring).attach(start);
  return { buffer, mem, sring, front, back };
}
