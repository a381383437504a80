/**
 * The control ring of xen-netback: xenvif_connect_ctrl / xenvif_disconnect_ctrl (interface.c),
 * xenvif_ctrl_irq_fn, xenvif_ctrl_action, process_ctrl_request, make_ctrl_response and
 * push_ctrl_response (netback.c), and the hash-based queue selection of xenvif_select_queue.
 * A frontend that wrote `ctrl-ring-ref` and `event-channel-ctrl` gets the ring mapped at connect
 * (connect_ctrl_ring in xenbus.c); each request is answered at once, with
 * XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED for a type netback does not implement (the gref-mapping
 * messages, INVALID and unknown types) and the hash handlers' statuses otherwise.
 *
 * Public sources: Linux "xen-netback: add control ring boilerplate" and "xen-netback: add control
 * protocol implementation" (Paul Durrant, May 2016); Xen xen/include/public/io/netif.h.
 */
import type { Vcpu } from "@pvnet/hypervisor";
import {
  NETIF_CTRL_RING,
  newCtrlRequest,
  newCtrlResponse,
  readCtrlRequest,
  writeCtrlResponse,
  XEN_NETIF_CTRL_HASH_ALGORITHM_NONE,
  XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
  XEN_NETIF_CTRL_STATUS_SUCCESS,
  XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
  XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
  XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
  type XenNetifCtrlRequest,
  type XenNetifCtrlResponse,
} from "@pvnet/netif";
import { BackRing, SharedRing } from "@pvnet/shared-ring";
import type { SkBuff } from "@pvnet/skb-model";
import { GNTMAP, GNTST, GnttabMapBatch, GnttabUnmapBatch, type GrantOps } from "@pvnet/xen-grant-table";
import { NETBACK_INVALID_HANDLE, type Xenvif } from "./common.js";
import {
  XEN_NETBK_MAX_HASH_MAPPING_SIZE,
  type XenvifHash,
  type XenvifHashContext,
  xenvifGetHashFlags,
  xenvifSetHashAlg,
  xenvifSetHashFlags,
  xenvifSetHashKey,
  xenvifSetHashMapping,
  xenvifSetHashMappingSize,
  xenvifSetSkbHash,
} from "./hash.js";

/**
 * Requests handled per run of xenvif_ctrl_action. Linux loops until req_cons catches up with
 * whatever req_prod the frontend wrote (answering each request before taking the next, so the
 * response ring never overflows); a req_prod 2^31 ahead would keep a Dom0 thread busy for
 * billions of requests. The model stops after a ring's worth per interrupt and picks up the rest
 * at the next one, and counts the runs it cut short (`ctrlActionCapped`).
 */
export const XENVIF_CTRL_ACTION_BUDGET_RINGS = 1;

/** Counters of the control ring (the model's). */
export interface XenvifCtrlStats {
  requests: number;
  /** Responses by status, indexed by XEN_NETIF_CTRL_STATUS_*. */
  readonly byStatus: number[];
  ctrlActionCapped: number;
}

/** vif->ctrl, vif->ctrl_irq and vif->hash of struct xenvif. */
export class XenvifCtrl implements XenvifHashContext {
  ring: BackRing | null = null;
  port = 0;
  handle = NETBACK_INVALID_HANDLE;
  readonly stats: XenvifCtrlStats = { requests: 0, byStatus: [0, 0, 0, 0], ctrlActionCapped: 0 };
  private readonly req: XenNetifCtrlRequest = newCtrlRequest();
  private readonly rsp: XenNetifCtrlResponse = newCtrlResponse();
  private readonly out = { data: 0 };
  readonly mapOps = new GnttabMapBatch(1);
  readonly unmapOps = new GnttabUnmapBatch(1);

  constructor(
    readonly vif: Xenvif,
    readonly hash: XenvifHash,
    /** host_addr where the ring page is mapped. */
    readonly kaddr: number,
  ) {}

  get domid(): number {
    return this.vif.domid;
  }
  get numQueues(): number {
    return this.vif.queues.length;
  }
  /** The grant operations the control ring's copies go through (Dom0's grant-table interface). */
  get grants(): GrantOps {
    return this.vif.ctx.env.grants;
  }
  get vcpu(): Vcpu {
    return this.vif.ctx.env.domain.vcpus[0] as Vcpu;
  }

  /** process_ctrl_request + make_ctrl_response + push_ctrl_response */
  processCtrlRequest(ring: BackRing, req: XenNetifCtrlRequest): void {
    let status = XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
    const out = this.out;
    out.data = 0;
    switch (req.type) {
      case XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM:
        status = xenvifSetHashAlg(this, req.data0);
        break;
      case XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS:
        status = xenvifGetHashFlags(this, out);
        break;
      case XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS:
        status = xenvifSetHashFlags(this, req.data0);
        break;
      case XEN_NETIF_CTRL_TYPE_SET_HASH_KEY:
        status = xenvifSetHashKey(this, req.data0, req.data1);
        break;
      case XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE:
        status = XEN_NETIF_CTRL_STATUS_SUCCESS;
        out.data = XEN_NETBK_MAX_HASH_MAPPING_SIZE;
        break;
      case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE:
        status = xenvifSetHashMappingSize(this, req.data0);
        break;
      case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING:
        status = xenvifSetHashMapping(this, req.data0, req.data1, req.data2);
        break;
      default:
        break;
    }
    this.stats.requests++;
    this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1;
    // make_ctrl_response
    const rsp = this.rsp;
    rsp.id = req.id;
    rsp.type = req.type;
    rsp.status = status;
    rsp.data = status === XEN_NETIF_CTRL_STATUS_SUCCESS ? out.data : 0;
    const idx = ring.produceResponse();
    ring.writeResponse(idx, writeCtrlResponse, rsp);
    // push_ctrl_response
    if (ring.pushResponsesAndCheckNotify() && this.port !== 0) this.vif.ctx.env.evtchn.evtchnSend(this.vcpu, this.port);
  }

  /** xenvif_ctrl_action (run by xenvif_ctrl_irq_fn) */
  ctrlAction(): void {
    const ring = this.ring;
    if (ring === null) return;
    const sring = ring.sring;
    let budget = XENVIF_CTRL_ACTION_BUDGET_RINGS * ring.size;
    for (;;) {
      const reqProd = sring.reqProd;
      let reqCons = ring.reqCons;
      if (reqCons === reqProd) break;
      while (reqCons !== reqProd) {
        if (budget-- === 0) {
          this.stats.ctrlActionCapped++;
          return;
        }
        // RING_COPY_REQUEST: one read of the slot into a private copy.
        const idx = ring.consumeRequest();
        ring.copyRequest(idx, readCtrlRequest, this.req);
        reqCons = ring.reqCons;
        this.processCtrlRequest(ring, this.req);
      }
      sring.reqEvent = (reqCons + 1) >>> 0;
    }
  }
}

/** vif->ctrl of a vif, when its frontend connected a control ring. */
export function xenvifCtrl(vif: Xenvif): XenvifCtrl | undefined {
  return vif.ctrl ?? undefined;
}

/**
 * xenvif_connect_ctrl: map the frontend's ring page, bind its event channel to
 * xenvif_ctrl_irq_fn. `hashPage` is an order-1 Dom0 page for struct xenvif's hash member.
 * Returns 0 or -errno (the caller reports it with xenbus_dev_fatal).
 */
export function xenvifConnectCtrl(vif: Xenvif, ringRef: number, evtchnPort: number, hash: XenvifHash, kaddr: number): number {
  const { grants, domain, evtchn, machine } = vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  if (vcpu0 === undefined) return -22;
  const ctrl = new XenvifCtrl(vif, hash, kaddr);
  const map = ctrl.mapOps;
  map.clear();
  map.add(kaddr, GNTMAP.host_map, ringRef >>> 0, vif.domid);
  grants.mapGrantRef(vcpu0, map);
  if (map.status[0] !== GNTST.okay) {
    vif.logMessage(`mapping ctrl ring ${ringRef} failed: status ${map.status[0]}`);
    return -22;
  }
  ctrl.handle = map.handle[0] as number;
  const sring = SharedRing.overFrames(machine, [Math.floor((map.devBusAddr[0] as number) / 4096)], NETIF_CTRL_RING);
  const ring = new BackRing(sring).attach(sring.rspProd);
  // A producer more than a ring ahead of the responses at connect: -EIO, as for the data rings.
  if (((sring.reqProd - sring.rspProd) >>> 0) > ring.size) {
    xenvifUnmapCtrl(ctrl);
    return -5;
  }
  ctrl.ring = ring;
  try {
    ctrl.port = evtchn.evtchnBindInterdomain(vcpu0, vif.domid, evtchnPort >>> 0);
  } catch {
    vif.logMessage(`binding ctrl event channel ${evtchnPort} failed`);
    xenvifUnmapCtrl(ctrl);
    return -22;
  }
  evtchn.bindHandler(domain, ctrl.port, () => ctrl.ctrlAction());
  vif.ctrl = ctrl;
  return 0;
}

function xenvifUnmapCtrl(ctrl: XenvifCtrl): void {
  const { grants, domain } = ctrl.vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  if (ctrl.handle !== NETBACK_INVALID_HANDLE && vcpu0 !== undefined) {
    ctrl.unmapOps.clear();
    ctrl.unmapOps.add(ctrl.kaddr, ctrl.handle);
    grants.unmapGrantRef(vcpu0, ctrl.unmapOps);
  }
  ctrl.handle = NETBACK_INVALID_HANDLE;
  ctrl.ring = null;
}

/** xenvif_disconnect_ctrl: unbind, unmap. Returns the hash page for the caller to free. */
export function xenvifDisconnectCtrl(vif: Xenvif): XenvifHash | undefined {
  const ctrl = vif.ctrl;
  if (ctrl === null) return undefined;
  const { evtchn, domain } = vif.ctx.env;
  const vcpu0 = domain.vcpus[0];
  if (ctrl.port !== 0 && vcpu0 !== undefined) {
    try {
      evtchn.evtchnClose(vcpu0, ctrl.port);
    } catch {
      // already closed by the guest's side: nothing to undo
    }
  }
  ctrl.port = 0;
  xenvifUnmapCtrl(ctrl);
  vif.ctrl = null;
  return ctrl.hash;
}

/**
 * The hash half of xenvif_select_queue: -1 when no algorithm is set (the caller falls back to the
 * flow hash), else the queue of the skb's Toeplitz hash — through the mapping table when one is
 * set, modulo the queue count otherwise.
 */
export function xenvifHashSelectQueue(vif: Xenvif, skb: SkBuff): number {
  const ctrl = vif.ctrl;
  if (ctrl === null) return -1;
  const hash = ctrl.hash;
  if (hash.alg === XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) return -1;
  const n = vif.queues.length;
  xenvifSetSkbHash(hash, skb);
  const size = hash.size;
  if (size === 0) return hash.skbHash % n;
  // Invariant: SET_HASH_MAPPING made the table live only after checking each entry < num_queues.
  const q = hash.mapping(hash.mappingSel, hash.skbHash % size);
  return q < n ? q : 0;
}
