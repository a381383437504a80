/**
 * XDP on netfront's receive path as Linux 5.9+ does it (drivers/net/xen-netfront.c, "xen
 * networking: add basic XDP support for xen-netfront", Denis Kirjanov, 2020): xennet_xdp_set
 * asks the backend for XDP_PACKET_HEADROOM through xenstore (`xdp-headroom`, honoured by a
 * backend offering `feature-xdp-headroom`, which then puts an XEN_NETIF_EXTRA_TYPE_XDP extra on
 * every packet), xennet_run_xdp runs the program on the receive page before the stack sees the
 * packet, and XDP_TX goes back out through netfront's own TX ring (xennet_xdp_xmit_one).
 *
 * The program is a TypeScript function over the frame's bytes (a view of the receive page: it
 * may rewrite them, as an XDP program may). A program that throws, or returns something that is
 * no XDP action, is counted as aborted; it never reaches the driver's caller.
 */
import { type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import { type NetifTxRequest, writeTxRequest } from "@pvnet/netif";
import { EINVAL, ENODEV, getPage, type Page, putPage } from "@pvnet/skb-model";
import { XBT_NIL, XenbusState, xenbusPrintf, xenbusReadDriverState, xenbusSwitchState } from "@pvnet/xenstore";
import { NETIF_XS_KEY } from "@pvnet/netif";
import { COST_GRANT_ACCESS, COST_RING_REQUEST, type NetfrontInfo, type NetfrontQueue, TX_LINK_NONE } from "./common.js";
import { netfrontTxSlotAvailable, xennetTxBufGc, xennetTxGetFreeId, xennetTxMarkPendingAndPush } from "./tx.js";

/** enum xdp_action (include/uapi/linux/bpf.h). */
export const XDP_ABORTED = 0;
/** Drop the frame (its page is recycled). */
export const XDP_DROP = 1;
/** Pass the frame to the stack as an skb. */
export const XDP_PASS = 2;
/** Send the frame back out of the same device (netfront's TX ring). */
export const XDP_TX = 3;
/** Redirect to another device or socket: not modelled, counted as aborted. */
export const XDP_REDIRECT = 4;

/** XDP_PACKET_HEADROOM (include/uapi/linux/bpf.h): what xennet_xdp_set asks the backend for. */
export const XDP_PACKET_HEADROOM = 256;

/** What a program may return: the verdict's name or its XDP_* number. */
export type XdpVerdict = "pass" | "drop" | "tx" | "aborted" | number;

/** An XDP program: the frame's bytes in, a verdict out (the model's bpf_prog). */
export type XdpProgram = (frame: Uint8Array) => XdpVerdict;

/** The verdict as an XDP_* number; anything else (a throw, garbage) is XDP_ABORTED. */
function xdpAction(v: unknown): number {
  switch (v) {
    case "pass":
    case XDP_PASS:
      return XDP_PASS;
    case "drop":
    case XDP_DROP:
      return XDP_DROP;
    case "tx":
    case XDP_TX:
      return XDP_TX;
    default:
      // XDP_ABORTED, "aborted", XDP_REDIRECT (no redirect target exists in this model: the
      // redirect fails as xdp_do_redirect does without a map, trace_xdp_exception) and any value
      // that is no action (bpf_warn_invalid_xdp_action): the frame is dropped.
      return XDP_ABORTED;
  }
}

/**
 * xennet_run_xdp: run `prog` on the `len` bytes at `offset` of `page` (validated by the caller:
 * offset + len <= XEN_PAGE_SIZE). XDP_TX transmits the frame (taking its own page reference);
 * the caller drops the packet for every verdict but XDP_PASS.
 *
 * Linux hands the program the data at XDP_PACKET_HEADROOM whatever offset the response names;
 * the model uses the validated offset, so a backend that ignores the headroom cannot make the
 * program read past the page.
 */
export function xennetRunXdp(q: NetfrontQueue, prog: XdpProgram, page: Page, offset: number, len: number, vcpu: Vcpu): number {
  const st = q.rxPathStats;
  st.xdpPackets++;
  const start = page.addr(offset);
  let act: number;
  try {
    act = xdpAction(prog(q.info.env.machine.bytes.subarray(start, start + len)));
  } catch {
    act = XDP_ABORTED; // the model's trace_xdp_exception
  }
  switch (act) {
    case XDP_PASS:
      st.xdpPass++;
      break;
    case XDP_DROP:
      st.xdpDrop++;
      break;
    case XDP_TX:
      getPage(page); // get_page(pdata): the frame outlives the receive buffer
      if (xennetXdpXmit(q.info, page, offset, len, vcpu) === 1) st.xdpTx++;
      else {
        putPage(page); // xdp_return_frame_rx_napi
        st.xdpTxErrors++;
      }
      break;
    default:
      st.xdpAborted++;
      break;
  }
  return act;
}

/**
 * xennet_xdp_xmit (one frame): on the queue of the running CPU (smp_processor_id() % queues),
 * one TX request granting `page` read-only at `offset`, `len` bytes, no offload flags; pushed and
 * notified as ring.h says, then xennet_tx_buf_gc. The TX slot owns the page reference passed in
 * (put when the response comes). 1 when sent, 0 when there was no room (the caller returns the
 * frame), -ENODEV when the device is broken.
 *
 * Linux's xennet_xdp_xmit_one does not check for room on the TX ring; the model refuses the
 * frame instead when the ring cannot take a worst-case packet (netfront_tx_slot_available), so
 * XDP_TX can never overrun what start_xmit relies on.
 */
export function xennetXdpXmit(np: NetfrontInfo, page: Page, offset: number, len: number, vcpu: Vcpu): number {
  if (np.broken) return -ENODEV;
  const n = np.queues.length;
  if (n === 0) return -ENODEV;
  const q = np.queues[vcpu.id % n] as NetfrontQueue;
  if (!q.live || q.tx === null || !netfrontTxSlotAvailable(q)) return 0;
  const id = xennetTxGetFreeId(q);
  if (id === TX_LINK_NONE) return 0;
  const gnttab = np.env.gnttab;
  const ref = gnttab.claimGrantReference(q.grefTxHead);
  if (ref < 0) return 0; // cannot happen with an id free (as many refs as ids); refused, not thrown
  gnttab.grantForeignAccessRef(ref, np.otherendId, page.gfns[offset >>> 12] as number, true);
  vcpu.charge(COST_GRANT_ACCESS);
  q.txSkbs[id] = null; // an XDP frame: no skb, the slot holds the page (grant_tx_page)
  q.grantTxPage[id] = page;
  q.grantTxRef[id] = ref;
  const req = q.txReqs[0] as NetifTxRequest;
  req.id = id;
  req.gref = ref;
  req.offset = offset & (XEN_PAGE_SIZE - 1);
  req.size = len;
  req.flags = 0;
  const tx = q.tx;
  tx.writeRequest(tx.produceRequest(), writeTxRequest, req);
  vcpu.charge(COST_RING_REQUEST);
  q.stats.txRequests++;
  xennetTxMarkPendingAndPush(np, q, id, vcpu);
  q.stats.txPackets++;
  q.stats.txBytes += len;
  xennetTxBufGc(q, vcpu);
  return 1;
}

/** The headroom netfront asks the backend for: XDP's when a program is attached, build_skb's pad. */
export function xennetRxHeadroom(np: NetfrontInfo, prog: XdpProgram | null, buildPad: number): number {
  if (prog !== null) return XDP_PACKET_HEADROOM;
  return np.options.rxBuildSkb === true ? buildPad : 0;
}

/**
 * xennet_xdp_set: attach (or with null detach) an XDP program. An MTU above XEN_PAGE_SIZE -
 * XDP_PACKET_HEADROOM is refused (-EINVAL: a frame must fit one buffer after the headroom). A
 * backend without feature-xdp-headroom: 0 and nothing attached, as Linux returns. Otherwise
 * Reconfiguring, `xdp-headroom` written (talk_to_netback_xdp), and the program takes effect when
 * the backend answers Reconfigured (netback_changed), with the state back to Connected — Linux
 * waits for that answer inside xennet_xdp_set; the model finishes the change in the watch.
 * The key is written before the state change so the backend's watch finds it.
 */
export function xennetXdpSet(np: NetfrontInfo, prog: XdpProgram | null, buildPad: number): number {
  if (np.broken) return -ENODEV; // xennet_xdp
  const maxMtu = XEN_PAGE_SIZE - XDP_PACKET_HEADROOM;
  if (prog !== null && np.mtu > maxMtu) {
    np.alert(null, `XDP requires MTU less than ${maxMtu}`);
    return -EINVAL;
  }
  if (np.queues.length === 0) return -ENODEV; // Linux dereferences np->queues[0]
  if (!np.netbackHasXdpHeadroom) return 0;
  const dev = np.xbdev;
  const headroom = xennetRxHeadroom(np, prog, buildPad);
  xenbusPrintf(dev.xenbus.conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.XDP_HEADROOM, headroom);
  np.xdpHeadroom = headroom;
  np.xdpPending = prog;
  xenbusSwitchState(dev, XenbusState.Reconfiguring);
  // Linux's wait_event(backend state == Reconfigured) returns at once when the backend is still
  // in Reconfigured from an earlier change (netback never leaves it: its Connected case finds
  // be->state already Connected), so a second change does not wait for the backend either.
  if (xenbusReadDriverState(dev.xenbus.conn, dev.otherend) === XenbusState.Reconfigured) xennetXdpReconfigured(np);
  return 0;
}

/** netback_changed, Reconfigured: the backend uses the new headroom; the program takes effect. */
export function xennetXdpReconfigured(np: NetfrontInfo): void {
  if (np.xdpPending === undefined || np.xbdev.state !== XenbusState.Reconfiguring) return;
  np.xdpProg = np.xdpPending;
  np.xdpPending = undefined;
  xenbusSwitchState(np.xbdev, XenbusState.Connected);
}
