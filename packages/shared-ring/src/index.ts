export { BackRing } from "./back.js";
export { isRingError, RingError, type RingErrorCode } from "./errors.js";
export { FrontRing } from "./front.js";
export {
  constRingSize,
  defineRingLayout,
  MAX_RING_PAGES,
  MAX_SLOT_BYTES,
  RING_PAGE_COUNTS,
  type RingLayout,
  type RingMemory,
  ringMemoryOver,
  SharedRing,
  type SlotDecoder,
  type SlotEncoder,
  SRING_HEADER,
} from "./sring.js";
export {
  EVTCHN_BYTES,
  EVTCHN_SPIN_ITERATIONS,
  EVTCHN_WORDS,
  type EvtchnWaitResult,
  ThreadedEventChannel,
} from "./threaded-evtchn.js";
