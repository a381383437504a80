/**
 * The frontend's half of the control ring exchange (xen/include/public/io/netif.h, "Control
 * ring"): a request is an id, a type and three data words written into the next free slot; the
 * backend answers each with its id, type, a status and one data word. One builder for every
 * frontend of the ring (netfront's opt-in client, raw test guests).
 */
import type { FrontRing } from "@pvnet/shared-ring";
import { type XenNetifCtrlRequest, writeCtrlRequest } from "./accessors.js";

/**
 * Write request `{ id, type, data0, data1, data2 }` into the next free slot of `ring` through
 * `scratch` (no allocation; push and notify after a batch). The caller checks the ring is not full.
 */
export function xenNetifCtrlPutRequest(ring: FrontRing, scratch: XenNetifCtrlRequest, id: number, type: number, data0 = 0, data1 = 0, data2 = 0): void {
  scratch.id = id & 0xffff;
  scratch.type = type;
  scratch.data0 = data0;
  scratch.data1 = data1;
  scratch.data2 = data2;
  ring.writeRequest(ring.produceRequest(), writeCtrlRequest, scratch);
}
