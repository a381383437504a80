/**
 * xenbus.c: the backend driver's side of the XenbusState handshake. `Netback` is the driver
 * instance of one backend domain: it watches `<backend domain>/backend/vif` as
 * xenbus_probe_backend does, probes each new device (netback_probe: write the features, create
 * the vif, switch to InitWait once the frontend is seen Initialising), follows the frontend's
 * state (frontend_changed, set_backend_state), and on Connected reads the frontend's keys and
 * connects every queue's data rings (connect, connect_data_rings, read_xenbus_vif_flags). A
 * frontend going Closing/Closed, or the toolstack removing the device, disconnects.
 */
import { type Page, putPage, Page as SkbPage } from "@pvnet/skb-model";
import { NETIF_XS_KEY, netifQueueDir } from "@pvnet/netif";
import { XEN_PAGE_SIZE } from "@pvnet/hypervisor";

/** XEN_NETIF_MAX_XDP_HEADROOM (Linux's xen/interface/io/netif.h): the largest headroom a backend honours. */
const XEN_NETIF_MAX_XDP_HEADROOM = 0x7fff;
import {
  isXenstoreError,
  XBT_NIL,
  type XenbusDevice,
  XenbusState,
  type XenbusStateValue,
  type XenbusWatch,
  xenbusBackendDevice,
  xenbusDevFatal,
  xenbusPrintf,
  xenbusRead,
  xenbusReadDriverState,
  xenbusReadUnsigned,
  xenbusSwitchState,
  xenbusTransaction,
  xenbusWatchOtherend,
} from "@pvnet/xenstore";
import {
  type ForeignPage,
  NETBACK_INVALID_HANDLE,
  NETBACK_KADDR_BASE,
  NETBACK_KADDR_WINDOW_PAGES,
  type NetbackConfig,
  type NetbackContext,
  type NetbackEnv,
  NetbackError,
  type NetbackOptions,
  netbackConfig,
  RX_DRAIN_TIMEOUT_NO_NOTIFY_MSECS,
  type Xenvif,
  type XenvifQueue,
} from "./common.js";
import { xenvifConnectCtrl, xenvifDisconnectCtrl } from "./ctrl.js";
import { XenvifHash } from "./hash.js";
import { xenvifAlloc, xenvifCarrierOn, xenvifConnectData, xenvifDisconnectData, xenvifFreePersistentGnts, xenvifInitPersistentGnts, xenvifInitQueue } from "./interface.js";

/** Highest host_addr window: the windows must stay below 2^47 (create_grant_host_mapping). */
const MAX_KADDR_WINDOWS = Math.floor((2 ** 47 - NETBACK_KADDR_BASE) / (NETBACK_KADDR_WINDOW_PAGES * 4096));

/** struct backend_info */
export interface BackendInfo {
  readonly dev: XenbusDevice;
  vif: Xenvif | null;
  /** The state this backend is at, or heading to. */
  state: XenbusStateValue;
  frontendState: XenbusStateValue;
  readonly frontendDomid: number;
  readonly devid: number;
}

/** What a backend still holds, for teardown checks. */
export interface NetbackOutstanding {
  /** Dom0's live grant mappings, maptrack handles, and pins on its own grant table. */
  readonly maps: number;
  readonly handles: number;
  readonly pins: number;
  /** TX slots mapped right now (pending slots holding a grant mapping), over every vif. */
  readonly slotMappings: number;
  /** Packets handed to the Dom0 stack and not yet freed, over every vif. */
  readonly inflightPackets: number;
  /** Queues disconnected but waiting for those packets. */
  readonly dyingQueues: number;
}

/** Parse the backend's `rate` key, "bytes,usec" (xen_net_read_rate); undefined when absent or bad. */
export function parseRate(s: string | undefined): { bytes: number; usec: number } | undefined {
  if (s === undefined) return undefined;
  const m = /^([0-9]+),([0-9]+)$/.exec(s);
  if (m === null) return undefined;
  const bytes = Number(m[1]);
  const usec = Number(m[2]);
  return bytes > 0 ? { bytes, usec } : undefined;
}

/** The xen-netback driver of one backend domain. */
export class Netback implements NetbackContext {
  readonly env: NetbackEnv;
  readonly config: NetbackConfig;
  readonly options: NetbackOptions;
  /** Probed devices by "<frontend domid>/<devid>". */
  private readonly backends = new Map<string, BackendInfo>();
  private readonly foreign = new WeakMap<Page, ForeignPage>();
  private readonly freeWindows: number[] = [];
  /** The host_addr window of each vif's control ring mapping. */
  private readonly ctrlWindows = new Map<Xenvif, number>();
  private nextWindow = 0;
  private readonly backendDir: string;
  private watch: XenbusWatch | null = null;

  constructor(env: NetbackEnv, options: NetbackOptions = {}) {
    this.env = env;
    this.options = options;
    this.config = netbackConfig(options);
    if (env.xenbus.domid !== env.domain.domid) throw new NetbackError("EINVAL", "the xenbus must be the backend domain's");
    this.backendDir = `/local/domain/${env.domain.domid}/backend/vif`;
    // xenbus_register_backend: watch the backend directory; the initial event probes what exists.
    this.watch = env.xenbus.registerXenbusWatch(this.backendDir, (path) => this.backendChanged(path));
  }

  // ------------------------------------------------------------------ NetbackContext

  foreignOf(page: Page): ForeignPage | undefined {
    return this.foreign.get(page);
  }

  newSlotPage(): Page {
    // A wrapped page starts with one reference; put it so it waits at zero for its first mapping.
    const page = SkbPage.wrap(this.env.machine, [1]);
    putPage(page);
    this.foreign.set(page, { domid: 0, gref: 0, mapped: false });
    return page;
  }

  allocKaddrWindow(): number {
    const w = this.freeWindows.pop() ?? this.nextWindow++;
    if (w >= MAX_KADDR_WINDOWS) throw new NetbackError("ENOMEM", "no host_addr window left for a queue");
    return w;
  }

  /** Give back a kernel virtual address window taken by allocKaddrWindow (gnttab_free_pages). */
  freeKaddrWindow(window: number): void {
    this.freeWindows.push(window);
  }

  // ------------------------------------------------------------------ public API

  /** The vif of frontend `domid`, device `handle` (devid), while its backend device exists. */
  vif(domid: number, devid: number): Xenvif | undefined {
    return this.backends.get(`${domid}/${devid}`)?.vif ?? undefined;
  }

  /** Every vif, in probe order. */
  vifs(): Xenvif[] {
    const out: Xenvif[] = [];
    for (const be of this.backends.values()) if (be.vif !== null) out.push(be.vif);
    return out;
  }

  /** The backend_info of a device (state, frontend state). */
  backend(domid: number, devid: number): BackendInfo | undefined {
    return this.backends.get(`${domid}/${devid}`);
  }

  /** What Dom0 still holds: grant mappings/handles/pins and packets in flight. */
  outstanding(): NetbackOutstanding {
    const g = this.env.grants.outstanding(this.env.domain);
    let inflight = 0;
    let dying = 0;
    let slots = 0;
    for (const be of this.backends.values()) {
      const vif = be.vif;
      if (vif === null) continue;
      for (const list of [vif.queues, vif.dyingQueues]) {
        for (const q of list) {
          inflight += q.inflightPackets;
          for (let i = 0; i < q.grantTxHandle.length; i++) if (q.grantTxHandle[i] !== NETBACK_INVALID_HANDLE) slots++;
        }
      }
      dying += vif.dyingQueues.length;
    }
    return { maps: g.maps, handles: g.handles, pins: g.pins, slotMappings: slots, inflightPackets: inflight, dyingQueues: dying };
  }

  /** Stop watching and remove every device (netback_remove), as unloading the driver does. */
  close(): void {
    for (const be of [...this.backends.values()]) this.netbackRemove(be);
    if (this.watch !== null) this.env.xenbus.unregisterXenbusWatch(this.watch);
    this.watch = null;
  }

  // ------------------------------------------------------------------ probing

  /** xenbus backend_changed: probe new device directories, remove vanished ones. */
  private backendChanged(path: string): void {
    const conn = this.env.xenbus.conn;
    if (path !== this.backendDir && !path.startsWith(`${this.backendDir}/`)) return;
    const rest = path.slice(this.backendDir.length + 1).split("/");
    if (path === this.backendDir) {
      // Initial event: probe every device already there.
      for (const fe of safeDirectory(conn, this.backendDir)) {
        for (const devid of safeDirectory(conn, `${this.backendDir}/${fe}`)) this.maybeProbe(fe, devid);
      }
    } else if (rest.length >= 2) this.maybeProbe(rest[0] as string, rest[1] as string);
    else if (rest.length === 1) {
      for (const devid of safeDirectory(conn, `${this.backendDir}/${rest[0]}`)) this.maybeProbe(rest[0] as string, devid);
    }
    // Devices whose directory vanished are removed (device_unregister).
    for (const be of [...this.backends.values()]) {
      if (!conn.exists(be.dev.nodename)) this.netbackRemove(be);
    }
  }

  private maybeProbe(feText: string, devidText: string): void {
    if (!/^[0-9]+$/.test(feText) || !/^[0-9]+$/.test(devidText)) return;
    const key = `${feText}/${devidText}`;
    if (this.backends.has(key)) return;
    const conn = this.env.xenbus.conn;
    const nodename = `${this.backendDir}/${key}`;
    // The toolstack writes the whole directory in one transaction; wait until it is there.
    if (xenbusRead(conn, XBT_NIL, nodename, "frontend") === undefined) return;
    // xenbus_probe_node: a device that is not new (its state is not Initialising, e.g. one we
    // removed after switching it to Closed) is ignored; else a frontend writing state 0 or a
    // state above 8 would have it removed and re-probed forever.
    if (xenbusReadDriverState(conn, nodename) !== XenbusState.Initialising) return;
    this.netbackProbe(Number(feText), Number(devidText));
  }

  /** netback_probe: write the features, create the vif, follow the frontend. */
  private netbackProbe(frontendDomid: number, devid: number): void {
    let dev: XenbusDevice;
    try {
      dev = xenbusBackendDevice(this.env.xenbus, "vif", frontendDomid, devid);
    } catch (err) {
      if (isXenstoreError(err)) return;
      throw err;
    }
    const be: BackendInfo = { dev, vif: null, state: XenbusState.Initialising, frontendState: XenbusState.Unknown, frontendDomid, devid };
    this.backends.set(`${frontendDomid}/${devid}`, be);
    const conn = this.env.xenbus.conn;
    const cfg = this.config;
    try {
      xenbusTransaction(conn, (tx) => {
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_SG, 1);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_GSO_TCPV4, 1);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_GSO_TCPV6, 1);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_IPV6_CSUM_OFFLOAD, 1);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_RX_COPY, 1);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_RX_FLIP, 0);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_MULTICAST_CONTROL, 1);
        xenbusPrintf(conn, tx, dev.nodename, NETIF_XS_KEY.FEATURE_DYNAMIC_MULTICAST_CONTROL, 1);
      });
      xenbusPrintf(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.FEATURE_SPLIT_EVENT_CHANNELS, cfg.splitEventChannels ? 1 : 0);
      xenbusPrintf(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.MULTI_QUEUE_MAX_QUEUES, cfg.maxQueues);
      // The control ring when the option asks (ctrl.ts); persistent grants likewise (RFC 2015).
      xenbusPrintf(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.FEATURE_CTRL_RING, this.options.ctrlRing === true ? 1 : 0);
      xenbusPrintf(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.FEATURE_PERSISTENT, cfg.persistentGrants ? 1 : 0);
      if (cfg.xdpHeadroom) xenbusPrintf(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.FEATURE_XDP_HEADROOM, 1);
    } catch (err) {
      if (!isXenstoreError(err)) throw err;
      xenbusDevFatal(dev, 5, `writing features: ${err.message}`);
      this.netbackRemove(be);
      return;
    }
    // backend_create_xenvif: the handle from the backend directory (the devid when absent).
    const handle = xenbusReadUnsigned(conn, dev.nodename, NETIF_XS_KEY.HANDLE, devid);
    const vif = xenvifAlloc(this, frontendDomid, handle);
    vif.dev = dev;
    be.vif = vif;
    this.options.onVifCreated?.(vif);
    xenbusWatchOtherend(dev, (_dev, state) => this.frontendChanged(be, state));
  }

  /** netback_remove */
  private netbackRemove(be: BackendInfo): void {
    if (this.backends.get(`${be.frontendDomid}/${be.devid}`) !== be) return;
    this.setBackendState(be, XenbusState.Closed);
    if (be.dev.otherendWatch !== undefined) this.env.xenbus.unregisterXenbusWatch(be.dev.otherendWatch);
    be.dev.otherendWatch = undefined;
    if (be.vif !== null) be.vif.dev = null;
    this.backends.delete(`${be.frontendDomid}/${be.devid}`);
  }

  // ------------------------------------------------------------------ state machine

  /** frontend_changed */
  private frontendChanged(be: BackendInfo, frontendState: XenbusStateValue): void {
    if (!this.backends.has(`${be.frontendDomid}/${be.devid}`)) return;
    be.frontendState = frontendState;
    switch (frontendState) {
      case XenbusState.Initialising:
        this.setBackendState(be, XenbusState.InitWait);
        break;
      case XenbusState.Initialised:
        break;
      case XenbusState.Connected:
        this.setBackendState(be, XenbusState.Connected);
        break;
      case XenbusState.Closing:
        this.setBackendState(be, XenbusState.Closing);
        break;
      case XenbusState.Reconfiguring:
        // The frontend changes its XDP headroom (xennet_xdp_set).
        if (be.vif !== null) this.readXenbusFrontendXdp(be, be.vif);
        xenbusSwitchState(be.dev, XenbusState.Reconfigured);
        break;
      case XenbusState.Closed:
        this.setBackendState(be, XenbusState.Closed);
        if (xenbusReadUnsigned(this.env.xenbus.conn, be.dev.nodename, "online", 0) !== 0) break;
        this.netbackRemove(be);
        break;
      case XenbusState.Unknown:
        this.setBackendState(be, XenbusState.Closed);
        this.netbackRemove(be);
        break;
      default:
        xenbusDevFatal(be.dev, 22, `saw state ${frontendState} at frontend`);
        break;
    }
  }

  /** backend_switch_state (no hotplug scripts in the model: the state is written at once). */
  private backendSwitchState(be: BackendInfo, state: XenbusStateValue): void {
    be.state = state;
    xenbusSwitchState(be.dev, state);
  }

  /** set_backend_state: walk the shortest path of Linux's backend state diagram to `state`. */
  private setBackendState(be: BackendInfo, state: XenbusStateValue): void {
    // Each step changes be.state; the diagram has no cycle longer than 3 steps to any target.
    for (let step = 0; be.state !== state && step < 8; step++) {
      switch (be.state) {
        case XenbusState.Initialising:
          this.backendSwitchState(be, state === XenbusState.Closed ? XenbusState.Closed : XenbusState.InitWait);
          break;
        case XenbusState.Closed:
          this.backendSwitchState(be, state === XenbusState.Closing ? XenbusState.Closing : XenbusState.InitWait);
          break;
        case XenbusState.InitWait:
          if (state === XenbusState.Connected) {
            this.backendConnect(be);
            this.backendSwitchState(be, XenbusState.Connected);
          } else this.backendSwitchState(be, XenbusState.Closing);
          break;
        case XenbusState.Connected:
          this.backendDisconnect(be);
          this.backendSwitchState(be, XenbusState.Closing);
          break;
        case XenbusState.Closing:
          this.backendSwitchState(be, XenbusState.Closed);
          break;
        default:
          throw new NetbackError("BUG", `backend in state ${be.state}`);
      }
    }
  }

  /** backend_disconnect */
  private backendDisconnect(be: BackendInfo): void {
    const vif = be.vif;
    if (vif === null) return;
    this.disconnectCtrlRing(vif);
    if (vif.queues.length === 0) return;
    xenvifDisconnectData(vif);
  }

  /** xenvif_disconnect_ctrl, and the release of the hash page and the ring's host_addr window. */
  private disconnectCtrlRing(vif: Xenvif): void {
    const window = this.ctrlWindows.get(vif);
    const hash = xenvifDisconnectCtrl(vif);
    if (hash !== undefined) putPage(hash.page);
    if (window !== undefined) this.freeKaddrWindow(window);
    this.ctrlWindows.delete(vif);
  }

  /** connect_ctrl_ring: map the frontend's control ring when it wrote ctrl-ring-ref. Returns 0 or -errno. */
  private connectCtrlRing(be: BackendInfo, vif: Xenvif): number {
    const dev = be.dev;
    const conn = this.env.xenbus.conn;
    const ringRef = readU32(conn, dev.otherend, NETIF_XS_KEY.CTRL_RING_REF);
    if (ringRef === undefined) return 0; // the frontend does not have a control ring
    const evtchn = readU32(conn, dev.otherend, NETIF_XS_KEY.EVENT_CHANNEL_CTRL);
    if (evtchn === undefined) {
      xenbusDevFatal(dev, 2, `reading ${dev.otherend}/event-channel-ctrl`);
      return -2;
    }
    this.disconnectCtrlRing(vif);
    const page = this.env.skbs.pool.allocPages(1);
    if (page === null) return -12;
    page.machine.fill(page.addr(0), 0, 4096);
    page.machine.fill(page.addr(4096), 0, 4096);
    const window = this.allocKaddrWindow();
    const err = xenvifConnectCtrl(vif, ringRef, evtchn, new XenvifHash(page), NETBACK_KADDR_BASE + window * NETBACK_KADDR_WINDOW_PAGES * 4096);
    if (err) {
      putPage(page);
      this.freeKaddrWindow(window);
      xenbusDevFatal(dev, -err, `mapping shared-frame ${ringRef} port ${evtchn}`);
      return err;
    }
    this.ctrlWindows.set(vif, window);
    return 0;
  }

  /** backend_connect + connect(): read the frontend's keys, connect every queue. */
  private backendConnect(be: BackendInfo): void {
    const vif = be.vif;
    if (vif === null) return;
    const dev = be.dev;
    const conn = this.env.xenbus.conn;
    const requested = xenbusReadUnsigned(conn, dev.otherend, NETIF_XS_KEY.MULTI_QUEUE_NUM_QUEUES, 1);
    if (requested > this.config.maxQueues || requested < 1) {
      // A buggy or malicious guest.
      xenbusDevFatal(dev, 22, `guest requested ${requested} queues, exceeding the maximum of ${this.config.maxQueues}.`);
      return;
    }
    const mac = xenbusRead(conn, XBT_NIL, dev.nodename, NETIF_XS_KEY.MAC);
    if (mac !== undefined) vif.mac = mac;
    const rate = parseRate(xenbusRead(conn, XBT_NIL, dev.nodename, "rate")) ?? this.config.credit;
    this.readXenbusVifFlags(be, vif);
    if (this.options.ctrlRing === true && this.connectCtrlRing(be, vif) !== 0) return;
    vif.disabled = false;
    vif.fatalReason = null;
    vif.stalledQueues = 0;
    vif.mcastCount = 0;
    const queues: XenvifQueue[] = [];
    vif.queues = queues;
    for (let i = 0; i < requested; i++) {
      const queue = xenvifInitQueue(vif, i);
      if (rate !== undefined) {
        queue.creditBytes = rate.bytes;
        queue.remainingCredit = rate.bytes;
        queue.creditUsec = rate.usec;
      }
      queue.creditWindowStartNs = this.env.clock.now();
      if (vif.persistent) xenvifInitPersistentGnts(queue);
      queues.push(queue);
      const err = this.connectDataRings(be, queue, requested);
      if (err) {
        vif.queues = queues.slice(0, i);
        if (vif.queues.length > 0) xenvifDisconnectData(vif);
        xenvifFreePersistentGnts(queue); // nothing mapped yet: frees the trees' windows
        this.freeKaddrWindow(queue.kaddrWindow);
        vif.queues = [];
        return;
      }
    }
    xenvifCarrierOn(vif);
    this.options.onConnect?.(vif);
  }

  /** connect_data_rings: ring refs and event channel(s) from the frontend (or its queue-N). */
  private connectDataRings(be: BackendInfo, queue: XenvifQueue, numQueues: number): number {
    const dev = be.dev;
    const conn = this.env.xenbus.conn;
    const xspath = netifQueueDir(dev.otherend, queue.id, numQueues);
    const txRef = readU32(conn, xspath, NETIF_XS_KEY.TX_RING_REF);
    const rxRef = readU32(conn, xspath, NETIF_XS_KEY.RX_RING_REF);
    if (txRef === undefined || rxRef === undefined) {
      xenbusDevFatal(dev, 2, `reading ${xspath}/ring-ref`);
      return -2;
    }
    // Split event channels first, then a single one.
    let txEvtchn = readU32(conn, xspath, NETIF_XS_KEY.EVENT_CHANNEL_TX);
    let rxEvtchn = readU32(conn, xspath, NETIF_XS_KEY.EVENT_CHANNEL_RX);
    if (txEvtchn === undefined || rxEvtchn === undefined) {
      txEvtchn = readU32(conn, xspath, NETIF_XS_KEY.EVENT_CHANNEL);
      if (txEvtchn === undefined) {
        xenbusDevFatal(dev, 2, `reading ${xspath}/event-channel(-tx/rx)`);
        return -2;
      }
      rxEvtchn = txEvtchn;
    }
    const err = xenvifConnectData(queue, txRef, rxRef, txEvtchn, rxEvtchn);
    if (err) xenbusDevFatal(dev, -err, `mapping shared-frames ${txRef}/${rxRef} port tx ${txEvtchn} rx ${rxEvtchn}`);
    return err;
  }

  /** read_xenbus_vif_flags */
  private readXenbusVifFlags(be: BackendInfo, vif: Xenvif): void {
    const conn = this.env.xenbus.conn;
    const fe = be.dev.otherend;
    vif.drainTimeoutNs = 10_000 * 1_000_000;
    vif.stallTimeoutNs = 60_000 * 1_000_000;
    // request-rx-copy is required; Linux's connect() ignores the -EOPNOTSUPP, so does the model.
    if (!xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_RX_NOTIFY, 0)) {
      // Poll the RX ring more often, no stall detection.
      vif.drainTimeoutNs = RX_DRAIN_TIMEOUT_NO_NOTIFY_MSECS * 1_000_000;
      vif.stallTimeoutNs = 0;
    }
    vif.canSg = xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_SG, 0) !== 0;
    vif.gsoMask = 0;
    if (xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_GSO_TCPV4, 0)) vif.gsoMask |= 1 << 1;
    if (xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_GSO_TCPV6, 0)) vif.gsoMask |= 1 << 2;
    vif.ipCsum = !xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_NO_CSUM_OFFLOAD, 0);
    vif.ipv6Csum = xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_IPV6_CSUM_OFFLOAD, 0) !== 0;
    vif.multicastControl = xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.REQUEST_MULTICAST_CONTROL, 0) !== 0;
    // Persistent grants only when both ends offered them (read at every connect).
    vif.persistent = this.config.persistentGrants && xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.FEATURE_PERSISTENT, 0) !== 0;
    this.readXenbusFrontendXdp(be, vif);
  }

  /**
   * read_xenbus_frontend_xdp: the frontend's `xdp-headroom`, capped at XEN_NETIF_MAX_XDP_HEADROOM
   * as Linux caps it (0 when absent, or when this backend does not offer the feature). The model
   * also keeps it below XEN_PAGE_SIZE: past the page Linux would build grant copies Xen refuses.
   */
  private readXenbusFrontendXdp(be: BackendInfo, vif: Xenvif): void {
    if (!this.config.xdpHeadroom) {
      vif.xdpHeadroom = 0;
      return;
    }
    const h = Math.min(xenbusReadUnsigned(this.env.xenbus.conn, be.dev.otherend, NETIF_XS_KEY.XDP_HEADROOM, 0), XEN_NETIF_MAX_XDP_HEADROOM);
    vif.xdpHeadroom = Math.min(h, XEN_PAGE_SIZE - 1);
  }
}

function safeDirectory(conn: NetbackEnv["xenbus"]["conn"], path: string): string[] {
  try {
    return conn.directory(path);
  } catch (err) {
    if (isXenstoreError(err)) return [];
    throw err;
  }
}

/** xenbus_scanf "%u"/"%lu": an unsigned 32-bit value, or undefined when missing or not one. */
function readU32(conn: NetbackEnv["xenbus"]["conn"], dir: string, key: string): number | undefined {
  const v = xenbusRead(conn, XBT_NIL, dir, key);
  if (v === undefined || !/^[0-9]+$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return n <= 0xffffffff ? n : undefined;
}

