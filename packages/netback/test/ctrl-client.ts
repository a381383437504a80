/** A raw guest side of netif's control ring, for netback's tests. */
import { NETIF_CTRL_RING, newCtrlRequest, newCtrlResponse, readCtrlResponse, xenNetifCtrlPutRequest } from "@pvnet/netif";
import { FrontRing, SharedRing } from "@pvnet/shared-ring";
import { XBT_NIL, xenbusPrintf } from "@pvnet/xenstore";
import type { RawFrontend, World } from "./harness.js";

export /** A guest's side of the control ring, written by hand (what a Windows PV driver does). */
class CtrlClient {
  readonly ring: FrontRing;
  readonly port: number;
  readonly data: Uint8Array;
  readonly dataRef: number;
  private nextId = 1;
  private readonly req = newCtrlRequest();
  constructor(
    readonly w: World,
    readonly fe: RawFrontend,
  ) {
    const d = fe.domain;
    const gfn = d.allocPage();
    this.ring = new FrontRing(SharedRing.overFrames(w.hv.machine, [d.gfnToMfn(gfn)], NETIF_CTRL_RING)).initShared();
    const ref = fe.gnttab.grantForeignAccess(w.dom0.domid, gfn, false);
    this.port = w.hv.evtchnAllocUnbound(fe.vcpu, w.dom0.domid);
    const dataGfn = d.allocPage();
    this.dataRef = fe.gnttab.grantForeignAccess(w.dom0.domid, dataGfn, true);
    this.data = w.hv.machine.frameBytes(d.gfnToMfn(dataGfn));
    const conn = fe.xenbus.conn;
    xenbusPrintf(conn, XBT_NIL, fe.dev.nodename, "ctrl-ring-ref", ref);
    xenbusPrintf(conn, XBT_NIL, fe.dev.nodename, "event-channel-ctrl", this.port);
  }
  /** Send requests, kick, run, collect the responses as [type, status, data]. */
  send(reqs: readonly [number, number?, number?, number?][]): [number, number, number][] {
    for (const [type, d0 = 0, d1 = 0, d2 = 0] of reqs) {
      xenNetifCtrlPutRequest(this.ring, this.req, this.nextId++, type, d0, d1, d2);
    }
    this.ring.pushRequests();
    this.w.hv.evtchnSend(this.fe.vcpu, this.port);
    this.w.run();
    const out: [number, number, number][] = [];
    const rsp = newCtrlResponse();
    while (this.ring.unconsumedResponses() > 0) {
      this.ring.copyResponse(this.ring.consumeResponse(), readCtrlResponse, rsp);
      out.push([rsp.type, rsp.status, rsp.data]);
    }
    return out;
  }
  putU32s(values: readonly number[]): void {
    const dv = new DataView(this.data.buffer, this.data.byteOffset, 4096);
    for (const [i, v] of values.entries()) dv.setUint32(4 * i, v >>> 0, true);
  }
}

