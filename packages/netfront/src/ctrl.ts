/**
 * An opt-in frontend client of netif's control ring. Linux's xen-netfront does not use the
 * control ring at all (drivers/net/xen-netfront.c never reads `feature-ctrl-ring`); the frontends
 * that drive it are the Windows PV drivers (XENVIF's controller.c, which sets the hash algorithm,
 * flags, key and mapping when NDIS configures RSS). This module models what such a frontend does,
 * on top of this package's netfront: when the backend offers `feature-ctrl-ring`, talk_to_netback
 * also grants a ring page and writes `ctrl-ring-ref` / `event-channel-ctrl`; `setToeplitz` then
 * queues the hash messages and collects the backend's answers.
 *
 * Public sources: Xen xen/include/public/io/netif.h (the control ring and XEN_NETIF_CTRL_*
 * messages); the Windows PV drivers' xenvif/controller.c (xenbits.xen.org/gitweb, win-pv-drivers).
 */
import type { Page } from "@pvnet/skb-model";
import { putPage } from "@pvnet/skb-model";
import {
  NETIF_CTRL_RING,
  NETIF_XS_KEY,
  newCtrlRequest,
  newCtrlResponse,
  readCtrlResponse,
  XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
  XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
  XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
  type XenNetifCtrlResponse,
  xenNetifCtrlPutRequest,
} from "@pvnet/netif";
import { FrontRing, SharedRing } from "@pvnet/shared-ring";
import { xenbusPrintf, xenbusReadUnsigned } from "@pvnet/xenstore";
import type { NetfrontInfo } from "./common.js";

/** XEN_PAGE_SIZE: the key and the mapping are passed in one granted page each. */
const XEN_PAGE_SIZE = 4096;

/** One answer of the backend: the request's type, its status and its data word. */
export interface XennetCtrlReply {
  readonly id: number;
  readonly type: number;
  readonly status: number;
  readonly data: number;
}

/** The frontend's end of the control ring (opt-in: pass an instance as NetfrontOptions.ctrl). */
export class XennetCtrlRing {
  ring: FrontRing | null = null;
  port = 0;
  ringRef = -1;
  /** The page the key and mapping are granted from (read-only to the backend). */
  dataRef = -1;
  /** Every answer received, in ring order. */
  readonly replies: XennetCtrlReply[] = [];
  private np: NetfrontInfo | null = null;
  private ringPage: Page | null = null;
  private dataPage: Page | null = null;
  private nextId = 0;
  private readonly rsp: XenNetifCtrlResponse = newCtrlResponse();
  private readonly req = newCtrlRequest();

  /** Connected to a backend that offered the control ring. */
  get connected(): boolean {
    return this.ring !== null;
  }

  /**
   * Called by talk_to_netback inside its transaction: when the backend offers
   * `feature-ctrl-ring`, set up the ring page, its grant and event channel, and write the keys.
   * Returns 0 or -errno.
   */
  talkToNetback(np: NetfrontInfo, tx: number): number {
    const conn = np.env.xenbus.conn;
    const dev = np.xbdev;
    this.teardown();
    if (xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_CTRL_RING, 0) === 0) return 0;
    const pool = np.env.skbs.pool;
    const ringPage = pool.allocPage();
    const dataPage = pool.allocPage();
    if (ringPage === null || dataPage === null) {
      if (ringPage !== null) putPage(ringPage);
      if (dataPage !== null) putPage(dataPage);
      return -12;
    }
    const machine = np.env.machine;
    machine.fill(ringPage.addr(0), 0, XEN_PAGE_SIZE);
    machine.fill(dataPage.addr(0), 0, XEN_PAGE_SIZE);
    const ringRef = np.env.gnttab.grantForeignAccess(np.otherendId, ringPage.gfns[0] as number, false);
    const dataRef = np.env.gnttab.grantForeignAccess(np.otherendId, dataPage.gfns[0] as number, true);
    if (ringRef < 0 || dataRef < 0) {
      if (ringRef >= 0) np.env.gnttab.endForeignAccessRef(ringRef);
      if (dataRef >= 0) np.env.gnttab.endForeignAccessRef(dataRef);
      putPage(ringPage);
      putPage(dataPage);
      return -28;
    }
    const vcpu = np.env.domain.vcpus[0];
    if (vcpu === undefined) return -22;
    const port = np.env.evtchn.evtchnAllocUnbound(vcpu, np.otherendId);
    np.env.evtchn.bindHandler(np.env.domain, port, () => this.collect());
    this.np = np;
    this.ringPage = ringPage;
    this.dataPage = dataPage;
    this.ringRef = ringRef;
    this.dataRef = dataRef;
    this.port = port;
    this.ring = new FrontRing(SharedRing.overFrames(machine, [ringPage.mfns[0] as number], NETIF_CTRL_RING)).initShared();
    xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.CTRL_RING_REF, ringRef);
    xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.EVENT_CHANNEL_CTRL, port);
    return 0;
  }

  /** Queue one request; false when the ring is full or not connected. Call `kick` after a batch. */
  request(type: number, data0 = 0, data1 = 0, data2 = 0): boolean {
    const ring = this.ring;
    if (ring === null || ring.full()) return false;
    xenNetifCtrlPutRequest(ring, this.req, this.nextId, type, data0, data1, data2);
    this.nextId = (this.nextId + 1) & 0xffff;
    return true;
  }

  /** Publish the queued requests and notify the backend. */
  kick(): void {
    const ring = this.ring;
    const np = this.np;
    if (ring === null || np === null) return;
    const vcpu = np.env.domain.vcpus[0];
    if (ring.pushRequestsAndCheckNotify() && vcpu !== undefined) np.env.evtchn.evtchnSend(vcpu, this.port);
  }

  /**
   * What the Windows driver sends when RSS is configured: algorithm Toeplitz, the hash types,
   * the key (from the data page), the mapping size and the mapping (from the data page, after the
   * key's answer arrived). Returns false when not connected or the ring is full.
   */
  setToeplitz(key: Uint8Array, flags: number, mapping: readonly number[]): boolean {
    const np = this.np;
    const page = this.dataPage;
    if (np === null || page === null || key.length > XEN_PAGE_SIZE || 4 * mapping.length > XEN_PAGE_SIZE) return false;
    if (this.ring === null || this.ring.freeRequests() < 5) return false;
    const bytes = np.env.machine.bytes;
    for (let i = 0; i < key.length; i++) bytes[page.addr(i)] = key[i] as number;
    this.request(XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
    this.request(XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, flags);
    this.request(XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, this.dataRef, key.length);
    this.kick();
    // The key and the mapping share the data page: the mapping goes after the key was copied.
    const waitFor = this.nextId;
    this.onReply = (r) => {
      if (((r.id + 1) & 0xffff) !== waitFor) return;
      this.onReply = null;
      for (let i = 0; i < mapping.length; i++) {
        const v = (mapping[i] as number) >>> 0;
        for (let b = 0; b < 4; b++) bytes[page.addr(4 * i + b)] = (v >>> (8 * b)) & 0xff;
      }
      this.request(XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, mapping.length);
      this.request(XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, this.dataRef, mapping.length, 0);
      this.kick();
    };
    return true;
  }

  private onReply: ((r: XennetCtrlReply) => void) | null = null;

  /** The event handler: consume every response. */
  private collect(): void {
    const ring = this.ring;
    if (ring === null) return;
    for (;;) {
      // A backend more than a ring ahead is ignored (what the guest can do about it: nothing).
      const n = Math.min(ring.unconsumedResponses(), ring.size);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const r = ring.copyResponse(ring.consumeResponse(), readCtrlResponse, this.rsp);
        const reply = { id: r.id, type: r.type, status: r.status, data: r.data };
        this.replies.push(reply);
        this.onReply?.(reply);
      }
      if (ring.finalCheckForResponses() === 0) break;
    }
  }

  /** Close the event channel, end the grants, free the pages (xennet_disconnect_backend). */
  teardown(): void {
    const np = this.np;
    if (np === null) return;
    const vcpu = np.env.domain.vcpus[0];
    if (this.port !== 0 && vcpu !== undefined) {
      try {
        np.env.evtchn.evtchnClose(vcpu, this.port);
      } catch {
        // closed already
      }
    }
    if (this.ringRef >= 0) np.env.gnttab.endForeignAccessRef(this.ringRef);
    if (this.dataRef >= 0) np.env.gnttab.endForeignAccessRef(this.dataRef);
    if (this.ringPage !== null) putPage(this.ringPage);
    if (this.dataPage !== null) putPage(this.dataPage);
    this.ring = null;
    this.port = 0;
    this.ringRef = -1;
    this.dataRef = -1;
    this.ringPage = null;
    this.dataPage = null;
    this.np = null;
    this.onReply = null;
  }
}
