/**
 * The xenbus side of xen-netfront (drivers/net/xen-netfront.c): netfront_probe, netback_changed,
 * xennet_connect / talk_to_netback (read the backend's features, create the queues, grant the ring
 * pages, allocate event channels, write the keys in one transaction), and
 * xennet_disconnect_backend (end every grant, free every page, close every event channel).
 *
 * Everything runs in the callbacks of the guest's xenbus watches (the xenwatch thread, on VCPU 0)
 * or on the queues' VCPUs; nothing calls into the backend.
 */
import { xennetFreePersistentGnts, xennetInitPersistentGnts } from "./persistent.js";
import { isXenError, type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import { NETIF_RX_RING, NETIF_TX_RING, NETIF_XS_KEY, netifQueueDir } from "@pvnet/netif";
import { FrontRing, SharedRing } from "@pvnet/shared-ring";
import { EINVAL, ENODEV, ENOENT, ENOMEM, type Page, putPage } from "@pvnet/skb-model";
import {
  isXenstoreError,
  XBT_NIL,
  type XenbusDevice,
  XenbusState,
  type XenbusStateValue,
  xenbusDevFatal,
  xenbusFrontendDevice,
  xenbusPrintf,
  xenbusRead,
  xenbusReadUnsigned,
  xenbusSwitchState,
  xenbusTransaction,
  xenbusWatchOtherend,
} from "@pvnet/xenstore";
import {
  addRxPathStats,
  addStats,
  COST_GRANT_ACCESS,
  INVALID_GRANT_REF,
  MAX_QUEUES_DEFAULT,
  NAPI_POLL_WEIGHT,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  type NetfrontEnv,
  NetfrontError,
  NetfrontInfo,
  type NetfrontOptions,
  NetfrontQueue,
  xennetEndAccessDeferred,
} from "./common.js";
import { type LateEoiState, xenIrqLateeoi, xenIrqNoEoi } from "./events.js";
import { xennetAllocRxBuffers, xennetHandleRx, xennetReleaseRxBufs } from "./rx.js";
import { RX_BUILD_SKB_HEADROOM } from "./rx-build-skb.js";
import { xennetInitTxIds, xennetReleaseTxBufs, xennetTxBufGc } from "./tx.js";
import { xennetRxHeadroom, xennetXdpReconfigured } from "./xdp.js";

/** The VCPU the xenwatch thread (and connect/teardown work) runs on. */
function watchVcpu(np: NetfrontInfo): Vcpu {
  return np.env.domain.vcpus[0] as Vcpu;
}

/**
 * netfront_probe + xennet_create_dev: read the device's backend from xenstore, start in
 * Initialising and watch the backend's state (netback_changed does the rest).
 */
export function netfrontProbe(env: NetfrontEnv, options: NetfrontOptions): NetfrontInfo {
  const nrVcpus = env.domain.vcpus.length;
  const maxQueues = options.maxQueues ?? Math.min(MAX_QUEUES_DEFAULT, nrVcpus);
  if (!Number.isInteger(maxQueues) || maxQueues < 1 || maxQueues > 0xffff) throw new NetfrontError("EINVAL", `maxQueues ${maxQueues}`);
  const budget = options.napiBudget ?? NAPI_POLL_WEIGHT;
  // A poll can never see more packets than ring slots; a larger budget would only mean "no limit".
  if (!Number.isInteger(budget) || budget < 1 || budget > NET_RX_RING_SIZE) throw new NetfrontError("EINVAL", `napiBudget ${budget}`);
  const np = new NetfrontInfo(env, options, maxQueues, budget);
  np.xbdev = xenbusFrontendDevice(env.xenbus, "vif", options.devid);
  xenbusSwitchState(np.xbdev, XenbusState.Initialising);
  xenbusWatchOtherend(np.xbdev, (_dev, state) => netbackChanged(np, state));
  return np;
}

/** netback_changed: the backend's state moved. */
export function netbackChanged(np: NetfrontInfo, backendState: XenbusStateValue): void {
  const dev = np.xbdev;
  switch (backendState) {
    case XenbusState.InitWait:
      if (dev.state !== XenbusState.Initialising) break;
      if (xennetConnect(np) !== 0) break;
      xenbusSwitchState(dev, XenbusState.Connected);
      break;
    case XenbusState.Closing:
    case XenbusState.Closed:
      // xenbus_frontend_closed (also when the backend's Closing was missed). Linux frees the
      // queues later, in xennet_remove or on resume; the model has no device removal, so it tears
      // down here, once the backend has let go.
      if (dev.state !== XenbusState.Closed) xenbusSwitchState(dev, XenbusState.Closed);
      if (!np.disconnected) xennetDisconnectBackend(np);
      break;
    case XenbusState.Reconfigured:
      xennetXdpReconfigured(np); // xennet_xdp_set's wait ends
      break;
    default:
      break; // Initialising, Initialised, Connected (netdev_notify_peers), Reconfiguring, Unknown
  }
}

/** xen_net_read_mac: `xx:xx:xx:xx:xx:xx`. */
function xenNetReadMac(dev: XenbusDevice, mac: Uint8Array): number {
  const s = xenbusRead(dev.xenbus.conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.MAC);
  if (s === undefined) return -ENOENT;
  const parts = s.split(":");
  if (parts.length !== 6) return -ENOENT;
  for (let i = 0; i < 6; i++) {
    const p = parts[i] as string;
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return -ENOENT;
    mac[i] = Number.parseInt(p, 16);
  }
  return 0;
}

/**
 * xennet_connect: refuse a backend without the copying receive path, talk to it, take the
 * negotiated features, raise the carrier, kick the backend and post the RX buffers.
 */
export function xennetConnect(np: NetfrontInfo): number {
  const dev = np.xbdev;
  const conn = dev.xenbus.conn;
  if (xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_RX_COPY, 0) === 0) {
    np.alert(null, "backend does not support copying receive path");
    return -ENODEV;
  }
  const err = talkToNetback(np);
  if (err !== 0) return err;
  // xennet_fix_features
  np.canSg = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_SG, 0) !== 0;
  np.gsoTcpv4 = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_GSO_TCPV4, 0) !== 0;
  np.gsoTcpv6 = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_GSO_TCPV6, 0) !== 0;
  np.carrier = true; // netif_carrier_on
  const v = watchVcpu(np);
  for (const q of np.queues) {
    np.env.evtchn.evtchnSend(v, q.txEvtchn);
    if (q.txEvtchn !== q.rxEvtchn) np.env.evtchn.evtchnSend(v, q.rxEvtchn);
    xennetAllocRxBuffers(q, v);
  }
  return 0;
}

/**
 * xennet_interrupt (one event channel) or xennet_tx_interrupt / xennet_rx_interrupt (split
 * channels), each ending in xen_irq_lateeoi: spurious unless the TX half reaped responses or the
 * RX half saw new ones; no EOI at all once the device is broken.
 */
function bindHandlers(np: NetfrontInfo, q: NetfrontQueue): void {
  const evtchn = np.env.evtchn;
  const dom = np.env.domain;
  const life = q.generation;
  /** xennet_handle_tx: false when broken; `work` when responses were reaped. */
  const handleTx = (vcpu: Vcpu): boolean => {
    if (np.broken || q.generation !== life) return false;
    if (xennetTxBufGc(q, vcpu)) work = true;
    return true;
  };
  /** xennet_handle_rx: false when broken; `work` when new responses came. */
  const handleRx = (): boolean => {
    if (q.generation !== life) return false;
    const seen = q.rxRspUnconsumed;
    if (!xennetHandleRx(q)) return false;
    if (q.rxRspUnconsumed > seen) work = true;
    return true;
  };
  // startup_dynirq: the channel is unmasked when its handler is bound. A port number used before
  // may still be masked (a broken device never EOIs, a delayed EOI was pending at teardown).
  for (const port of q.txEvtchn === q.rxEvtchn ? [q.txEvtchn] : [q.txEvtchn, q.rxEvtchn]) {
    if (evtchn.isEvtchnMasked(dom, port)) evtchn.evtchnUnmask(q.vcpu, port);
  }
  let work = false;
  const eoi = (ok: boolean, st: LateEoiState, port: number, vcpu: Vcpu) => {
    if (q.generation !== life) return;
    if (ok) xenIrqLateeoi(q, st, port, !work, vcpu);
    else xenIrqNoEoi(q, port);
  };
  if (q.txEvtchn === q.rxEvtchn) {
    evtchn.bindHandler(dom, q.txEvtchn, (port, vcpu) => {
      q.stats.interrupts++;
      work = false;
      eoi(handleTx(vcpu) && handleRx(), q.txEoi, port, vcpu);
    });
  } else {
    evtchn.bindHandler(dom, q.txEvtchn, (port, vcpu) => {
      q.stats.interrupts++;
      work = false;
      eoi(handleTx(vcpu), q.txEoi, port, vcpu);
    });
    evtchn.bindHandler(dom, q.rxEvtchn, (port, vcpu) => {
      q.stats.interrupts++;
      work = false;
      eoi(handleRx(), q.rxEoi, port, vcpu);
    });
  }
}

/** xenbus_alloc_evtchn for the backend's domain, delivered to the queue's VCPU. */
function allocEvtchn(np: NetfrontInfo, q: NetfrontQueue): number {
  const v = watchVcpu(np);
  const port = np.env.evtchn.evtchnAllocUnbound(v, np.otherendId);
  if (q.vcpu.id !== 0) np.env.evtchn.evtchnBindVcpu(v, port, q.vcpu.id);
  return port;
}

/** xenbus_setup_ring: a zeroed page granted to the backend, initialised as a shared ring. */
function setupRing(np: NetfrontInfo, which: "tx" | "rx"): { page: Page; ref: number; ring: FrontRing } | number {
  const page = np.env.skbs.pool.allocPage();
  if (page === null) return -ENOMEM;
  const machine = np.env.machine;
  machine.fill(page.addr(0), 0, XEN_PAGE_SIZE);
  const ref = np.env.gnttab.grantForeignAccess(np.otherendId, page.gfns[0] as number, false);
  watchVcpu(np).charge(COST_GRANT_ACCESS);
  if (ref < 0) {
    putPage(page);
    return -ENOMEM;
  }
  const sring = SharedRing.overFrames(machine, [page.mfns[0] as number], which === "tx" ? NETIF_TX_RING : NETIF_RX_RING);
  return { page, ref, ring: new FrontRing(sring).initShared() }; // XEN_FRONT_RING_INIT
}

/** setup_netfront: both rings and the event channel(s) of one queue. 0 or -errno. */
function setupNetfront(np: NetfrontInfo, q: NetfrontQueue, featureSplitEvtchn: boolean): number {
  const tx = setupRing(np, "tx");
  if (typeof tx === "number") return tx;
  q.txRingPage = tx.page;
  q.txRingRef = tx.ref;
  q.tx = tx.ring;
  const rx = setupRing(np, "rx");
  if (typeof rx === "number") return rx;
  q.rxRingPage = rx.page;
  q.rxRingRef = rx.ref;
  q.rx = rx.ring;
  try {
    if (featureSplitEvtchn) {
      q.txEvtchn = allocEvtchn(np, q);
      q.rxEvtchn = allocEvtchn(np, q);
    } else {
      q.txEvtchn = allocEvtchn(np, q);
      q.rxEvtchn = q.txEvtchn;
    }
  } catch (e) {
    if (!isXenError(e)) throw e;
    return e.rc;
  }
  if (np.persistent) {
    const err = xennetInitPersistentGnts(np, q, watchVcpu(np));
    if (err !== 0) return err;
  }
  // build_skb RX posts bare pages; persistent grants copy out of their pool pages instead.
  q.buildSkb = np.options.rxBuildSkb === true && !np.persistent;
  bindHandlers(np, q);
  q.live = true;
  return 0;
}

/** xennet_init_queue: id lists, and a private list of grant references per ring. */
function xennetInitQueue(np: NetfrontInfo, q: NetfrontQueue): number {
  xennetInitTxIds(q);
  q.rxSkbs.fill(null);
  q.rxPages.fill(null);
  q.grantRxRef.fill(INVALID_GRANT_REF);
  const gnttab = np.env.gnttab;
  if (gnttab.allocGrantReferences(NET_TX_RING_SIZE, q.grefTxHead) < 0) {
    np.alert(null, "can't alloc tx grant refs");
    return -ENOMEM;
  }
  if (gnttab.allocGrantReferences(NET_RX_RING_SIZE, q.grefRxHead) < 0) {
    np.alert(null, "can't alloc rx grant refs");
    gnttab.freeGrantReferences(q.grefTxHead);
    return -ENOMEM;
  }
  return 0;
}

/** write_queue_xenstore_keys: ring refs and event channel(s), flat or under queue-N. */
function writeQueueXenstoreKeys(np: NetfrontInfo, q: NetfrontQueue, tx: number, numQueues: number): void {
  const conn = np.xbdev.xenbus.conn;
  const path = netifQueueDir(np.xbdev.nodename, q.id, numQueues);
  xenbusPrintf(conn, tx, path, NETIF_XS_KEY.TX_RING_REF, q.txRingRef);
  xenbusPrintf(conn, tx, path, NETIF_XS_KEY.RX_RING_REF, q.rxRingRef);
  if (q.txEvtchn === q.rxEvtchn) xenbusPrintf(conn, tx, path, NETIF_XS_KEY.EVENT_CHANNEL, q.txEvtchn);
  else {
    xenbusPrintf(conn, tx, path, NETIF_XS_KEY.EVENT_CHANNEL_TX, q.txEvtchn);
    xenbusPrintf(conn, tx, path, NETIF_XS_KEY.EVENT_CHANNEL_RX, q.rxEvtchn);
  }
}

/**
 * talk_to_netback: negotiate queues and event channels with the backend, set up every queue and
 * write the frontend's keys in one transaction. 0 or -errno (with the device's error written to
 * xenstore and the state switched to Closing, as xenbus_dev_fatal does).
 */
export function talkToNetback(np: NetfrontInfo): number {
  const dev = np.xbdev;
  const conn = dev.xenbus.conn;
  try {
    np.bounce = np.options.trusted === false || xenbusReadUnsigned(conn, dev.nodename, NETIF_XS_KEY.TRUSTED, 1) === 0;
    const maxQueues = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.MULTI_QUEUE_MAX_QUEUES, 1);
    let numQueues = Math.min(maxQueues, np.maxQueues);
    const split = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_SPLIT_EVENT_CHANNELS, 0) !== 0;
    const rc = xenNetReadMac(dev, np.mac);
    if (rc !== 0) {
      xenbusDevFatal(dev, -rc, `parsing ${dev.nodename}/mac`);
      return rc;
    }
    np.netbackHasXdpHeadroom = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_XDP_HEADROOM, 0) !== 0;
    np.xdpHeadroom = 0;
    if (np.netbackHasXdpHeadroom) {
      // talk_to_netback_xdp: XDP_PACKET_HEADROOM with a program attached, else 0 (Linux); the
      // build_skb receive path asks for NET_SKB_PAD + NET_IP_ALIGN instead of 0.
      np.xdpHeadroom = xennetRxHeadroom(np, np.xdpProg, RX_BUILD_SKB_HEADROOM);
      xenbusPrintf(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.XDP_HEADROOM, np.xdpHeadroom);
    }
    if (np.queues.length > 0 && !np.disconnected) xennetDisconnectBackend(np);
    np.broken = false; // a reconnect resets the "broken" indicator
    // Persistent grants only when we want them and the backend offers them.
    np.persistent = np.options.persistentGrants === true && xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.FEATURE_PERSISTENT, 0) !== 0;

    // xennet_create_queues
    const queues: NetfrontQueue[] = [];
    for (let i = 0; i < numQueues; i++) {
      const vcpu = np.options.vcpuOf?.(i) ?? (np.env.domain.vcpus[i % np.env.domain.vcpus.length] as Vcpu);
      if (vcpu.domain !== np.env.domain) throw new NetfrontError("EINVAL", `vcpuOf(${i}) is not a VCPU of d${np.env.domain.domid}`);
      const q = new NetfrontQueue(np, i, vcpu);
      if (xennetInitQueue(np, q) < 0) {
        np.alert(null, `only created ${i} queues`);
        numQueues = i;
        break;
      }
      queues.push(q);
    }
    np.queues = queues;
    np.disconnected = false;
    if (numQueues === 0) {
      np.alert(null, "no queues");
      xenbusDevFatal(dev, EINVAL, "creating queues");
      xennetDisconnectBackend(np);
      return -EINVAL;
    }
    for (const q of queues) {
      const err = setupNetfront(np, q, split);
      if (err !== 0) {
        xenbusDevFatal(dev, -err, "setting up ring");
        xennetDisconnectBackend(np);
        return err;
      }
    }
    xenbusTransaction(conn, (tx) => {
      if (xenbusRead(conn, XBT_NIL, dev.otherend, NETIF_XS_KEY.MULTI_QUEUE_MAX_QUEUES) !== undefined) {
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.MULTI_QUEUE_NUM_QUEUES, numQueues);
      }
      for (const q of queues) writeQueueXenstoreKeys(np, q, tx, numQueues);
      xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.REQUEST_RX_COPY, 1);
      xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_RX_NOTIFY, 1);
      xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_SG, 1);
      xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_GSO_TCPV4, 1);
      xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_GSO_TCPV6, 1);
      xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_IPV6_CSUM_OFFLOAD, 1);
      if (np.persistent) xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_PERSISTENT, 1);
      np.options.ctrl?.talkToNetback(np, tx);
    });
    return 0;
  } catch (e) {
    if (!isXenstoreError(e)) throw e;
    // A store error (quota, permission, vanished node): fatal for the device, not for the model.
    xenbusDevFatal(dev, EINVAL, `talking to backend: ${e.message}`);
    if (!np.disconnected) xennetDisconnectBackend(np);
    return -EINVAL;
  }
}

/**
 * xennet_disconnect_backend: carrier off; per queue stop its timer and NAPI, close its event
 * channels, end access to every TX and RX grant (deferred, page kept, while the backend still
 * uses one) and free the skbs, return the private grant lists, end access to the ring pages and
 * free them; the same for the control ring when one is connected.
 */
export function xennetDisconnectBackend(np: NetfrontInfo): void {
  np.carrier = false;
  const evtchn = np.env.evtchn;
  const v = watchVcpu(np);
  const endAccess = (ref: number, page: Page | null): void => xennetEndAccessDeferred(np, ref, page, v);
  for (const q of np.queues) {
    q.generation++; // del_timer_sync + napi_synchronize: older timers/polls/handlers do nothing
    q.refillTimerArmed = false;
    q.napiScheduled = false;
    q.live = false;
    for (const port of q.txEvtchn === q.rxEvtchn ? [q.txEvtchn] : [q.txEvtchn, q.rxEvtchn]) {
      if (port === 0) continue;
      evtchn.unbindHandler(np.env.domain, port);
      try {
        evtchn.evtchnClose(v, port); // unbind_from_irqhandler closes the port
      } catch (e) {
        if (!isXenError(e)) throw e;
      }
    }
    q.txEvtchn = 0;
    q.rxEvtchn = 0;
    xennetReleaseTxBufs(q, endAccess);
    xennetReleaseRxBufs(q, v);
    xennetFreePersistentGnts(q, endAccess);
    np.env.gnttab.freeGrantReferences(q.grefTxHead);
    np.env.gnttab.freeGrantReferences(q.grefRxHead);
    // xennet_end_access: end access and free the ring pages.
    if (q.txRingPage !== null) {
      endAccess(q.txRingRef, q.txRingPage);
      putPage(q.txRingPage);
    }
    if (q.rxRingPage !== null) {
      endAccess(q.rxRingRef, q.rxRingPage);
      putPage(q.rxRingPage);
    }
    q.txRingRef = INVALID_GRANT_REF;
    q.rxRingRef = INVALID_GRANT_REF;
    q.txRingPage = null;
    q.rxRingPage = null;
    q.tx = null;
    q.rx = null;
    q.rxq.purge();
    q.tmpq.purge();
    q.errq.purge();
    addStats(np.retiredStats, q.stats);
    addRxPathStats(np.retiredRxPathStats, q.rxPathStats);
  }
  // The control ring's channel, grants and pages, with the queues' (the backend unmapped them first).
  np.options.ctrl?.teardown();
  np.queues = [];
  np.disconnected = true;
}

/**
 * xennet_bus_close, started: the frontend asks to close (Closing); netback_changed finishes it
 * (Closed and teardown) when the backend follows.
 */
export function xennetBusClose(np: NetfrontInfo): void {
  const dev = np.xbdev;
  const conn = dev.xenbus.conn;
  const other = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.STATE, XenbusState.Unknown);
  if (other === XenbusState.Closed || other === XenbusState.Unknown) {
    xenbusSwitchState(dev, XenbusState.Closed);
    if (!np.disconnected) xennetDisconnectBackend(np);
    return;
  }
  xenbusSwitchState(dev, XenbusState.Closing);
}
