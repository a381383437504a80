/**
 * The network device a guest's stack sees (struct net_device with xennet_netdev_ops): transmit,
 * queue selection and stop/wake, counters, and the xenbus life cycle (probe, close, reconnect,
 * remove), plus what a teardown check needs to know.
 */
import { persistentGrantsHeld } from "./persistent.js";
import type { Vcpu } from "@pvnet/hypervisor";
import type { SkBuff } from "@pvnet/skb-model";
import { XenbusState, type XenbusStateValue, xenbusSwitchState } from "@pvnet/xenstore";
import { addRxPathStats, addStats, gnttabHandleDeferred, INVALID_GRANT_REF, type NetfrontRxPathStats, newRxPathStats, type NetfrontEnv, NetfrontError, type NetfrontInfo, type NetfrontOptions, type NetfrontStats, newNetfrontStats } from "./common.js";
import { xennetSelectQueue } from "./queue.js";
import { xennetStartXmit } from "./tx.js";
import { RX_BUILD_SKB_HEADROOM } from "./rx-build-skb.js";
import { type XdpProgram, xennetXdpSet } from "./xdp.js";
import { XEN_NETIF_MAX_TX_SIZE } from "@pvnet/netif";
import { EINVAL } from "@pvnet/skb-model";
import { netfrontProbe, xennetBusClose, xennetDisconnectBackend } from "./xenbus.js";

/** What a device still holds; all zero after a clean teardown. */
export interface NetfrontOutstanding {
  /** Grant references granted to the backend right now (rings, TX in flight, RX posted). */
  readonly grants: number;
  /** Grant references reserved in the queues' private lists (not granted). */
  readonly reservedRefs: number;
  /** Grants whose access could not be ended yet (the backend still uses them). */
  readonly deferredGrants: number;
  /** TX slots waiting for their response. */
  readonly txInFlight: number;
  /** RX buffers posted to the backend. */
  readonly rxPosted: number;
  /** Event channels open. */
  readonly evtchns: number;
}

/**
 * The xen-netfront driver of one vif (drivers/net/xen-netfront.c): xenbus probe and connection, TX
 * (xennet_start_xmit) and RX (xennet_poll) over its queues.
 */
export class Netfront {
  /** The driver's state (struct netfront_info); for inspection. */
  readonly info: NetfrontInfo;

  /** netfront_probe: create the device `options.devid` of the guest; it connects through xenbus. */
  constructor(env: NetfrontEnv, options: NetfrontOptions) {
    this.info = netfrontProbe(env, options);
  }

  /** This end's XenbusState. */
  get state(): XenbusStateValue {
    return this.info.xbdev.state;
  }

  /** Carrier up: connected to the backend with queues running. */
  get connected(): boolean {
    return this.info.carrier && this.info.queues.length > 0;
  }

  /** Queues in use (min of the backend's multi-queue-max-queues and maxQueues); 0 when down. */
  get numQueues(): number {
    return this.info.queues.length;
  }

  /** Set once the backend broke the protocol ("Disabled for further use"); reset by reconnecting. */
  get broken(): boolean {
    return this.info.broken;
  }

  /** The last alert lines (dev_alert / dev_warn). */
  get alerts(): readonly string[] {
    return this.info.alerts;
  }

  /** The MAC read from xenstore at connect. */
  get mac(): Uint8Array {
    return this.info.mac;
  }

  /** xennet_select_queue: the queue `skb` goes to (flow hash modulo the number of queues). */
  selectQueue(skb: SkBuff): number {
    return xennetSelectQueue(skb, this.info.queues.length);
  }

  /** netif_tx_queue_stopped for queue `queue`. */
  isQueueStopped(queue: number): boolean {
    return this.info.queues[queue]?.stopped ?? false;
  }

  /**
   * ndo_start_xmit (xennet_start_xmit) on the queue xennet_select_queue picks. NETDEV_TX_OK: the
   * skb is consumed (sent, or dropped and counted in txDropped). NETDEV_TX_BUSY: that queue is
   * stopped, the skb is still the caller's; wait for `onQueueWake`. Runs on `vcpu` (default the
   * queue's VCPU), which is charged for the work.
   */
  startXmit(skb: SkBuff, vcpu?: Vcpu): number {
    const np = this.info;
    const q = xennetSelectQueue(skb, np.queues.length);
    const v = vcpu ?? np.queues[q]?.vcpu ?? (np.env.domain.vcpus[0] as Vcpu);
    if (v.domain !== np.env.domain) throw new NetfrontError("EINVAL", "startXmit on a VCPU of another domain");
    return xennetStartXmit(np, skb, q, v);
  }

  /**
   * ndo_bpf XDP_SETUP_PROG (xennet_xdp): attach `prog`, or detach with null. 0, -EINVAL (MTU
   * above XEN_PAGE_SIZE - XDP_PACKET_HEADROOM) or -ENODEV (broken or not connected). The change
   * goes through xenstore (Reconfiguring, `xdp-headroom`, the backend's Reconfigured) and takes
   * effect when the backend has answered; a backend without feature-xdp-headroom gets 0 and no
   * program, as in Linux.
   */
  setXdp(prog: XdpProgram | null): number {
    return xennetXdpSet(this.info, prog, RX_BUILD_SKB_HEADROOM);
  }

  /** The XDP program in effect (queue->xdp_prog), or null. */
  get xdpProgram(): XdpProgram | null {
    return this.info.xdpProg;
  }

  /** ndo_change_mtu (xennet_change_mtu): up to XEN_NETIF_MAX_TX_SIZE with SG, else ETH_DATA_LEN. -EINVAL above. */
  changeMtu(mtu: number): number {
    const max = this.info.canSg ? XEN_NETIF_MAX_TX_SIZE : 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > max) return -EINVAL;
    this.info.mtu = mtu;
    return 0;
  }

  /** Counters summed over the queues (and over queues of earlier connections). */
  stats(out: NetfrontStats = newNetfrontStats()): NetfrontStats {
    addStats(out, this.info.retiredStats);
    for (const q of this.info.queues) addStats(out, q.stats);
    return out;
  }

  /** build_skb RX and XDP counters, summed like `stats`. */
  rxPathStats(out: NetfrontRxPathStats = newRxPathStats()): NetfrontRxPathStats {
    addRxPathStats(out, this.info.retiredRxPathStats);
    for (const q of this.info.queues) addRxPathStats(out, q.rxPathStats);
    return out;
  }

  /** Counters of queue `queue` of the current connection. */
  queueStats(queue: number): Readonly<NetfrontStats> {
    const q = this.info.queues[queue];
    if (q === undefined) throw new NetfrontError("EINVAL", `no queue ${queue}`);
    return q.stats;
  }

  /** xennet_bus_close: ask to close; the teardown follows when the backend closes too. */
  close(): void {
    xennetBusClose(this.info);
  }

  /**
   * Connect again after a close (netfront_resume's path): back to Initialising, so a backend in
   * Closed goes to InitWait and netback_changed connects.
   */
  reconnect(): void {
    const np = this.info;
    if (!np.disconnected) throw new NetfrontError("EINVAL", "reconnect while connected");
    xenbusSwitchState(np.xbdev, XenbusState.Initialising);
  }

  /**
   * xennet_remove without waiting for the backend: stop watching it, tear everything down now
   * (grants the backend still uses stay deferred until it lets go) and switch to Closed.
   */
  remove(): void {
    const np = this.info;
    const w = np.xbdev.otherendWatch;
    if (w !== undefined) np.xbdev.xenbus.unregisterXenbusWatch(w);
    np.xbdev.otherendWatch = undefined;
    if (!np.disconnected) xennetDisconnectBackend(np);
    xenbusSwitchState(np.xbdev, XenbusState.Closed);
  }

  /** What the device holds now (retries deferred grants first). */
  outstanding(): NetfrontOutstanding {
    const np = this.info;
    gnttabHandleDeferred(np); // retry what the backend may have let go of since
    let grants = 0;
    let reserved = 0;
    let tx = 0;
    let rx = 0;
    let rxOwnGrants = 0;
    let evtchns = 0;
    for (const q of np.queues) {
      if (q.txRingPage !== null) grants++;
      if (q.rxRingPage !== null) grants++;
      grants += persistentGrantsHeld(q);
      // An XDP_TX frame holds a grant without an skb.
      for (let i = 0; i < q.txSkbs.length; i++) if (q.txSkbs[i] !== null || (!q.persistent && q.grantTxRef[i] !== INVALID_GRANT_REF)) tx++;
      let posted = 0;
      for (let i = 0; i < q.rxSkbs.length; i++) if (q.rxSkbs[i] !== null || q.rxPages[i] !== null) posted++;
      rx += posted;
      // A posted RX buffer of a persistent queue uses a pool grant (counted above), not its own.
      if (!q.persistent) rxOwnGrants += posted;
      if (q.txEvtchn !== 0) evtchns += q.txEvtchn === q.rxEvtchn ? 1 : 2;
      reserved += countList(np, q.grefTxHead.head) + countList(np, q.grefRxHead.head);
    }
    grants += tx + rxOwnGrants;
    return { grants, reservedRefs: reserved, deferredGrants: np.deferred.length, txInFlight: tx, rxPosted: rx, evtchns };
  }
}

/** Length of a private grant-reference list: claiming from a copy of its head only walks it. */
function countList(np: NetfrontInfo, head: number): number {
  const walk = { head };
  let n = 0;
  while (np.env.gnttab.claimGrantReference(walk) >= 0) n++;
  return n;
}
