/**
 * A minimal test backend for netfront (not netback): it walks the xenbus handshake, maps the
 * frontend's ring pages, binds its event channels, answers TX requests by grant-copying the data
 * out (and records every slot), and fills posted RX buffers by grant-copying data in. It meets
 * the frontend only through xenstore, grants, ring memory and event channels. Tests reach into
 * its rings to play a malicious backend.
 */
import { DOMID_SELF, type Domain, type Hypervisor, type Vcpu, XEN_PAGE_SIZE } from "@pvnet/hypervisor";
import {
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETIF_RX_RING,
  NETIF_TX_RING,
  NETIF_XS_KEY,
  type NetifExtraInfo,
  type NetifTxRequest,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_extra_info,
  NETTXF_more_data,
  newExtraInfo,
  newRxRequest,
  newTxRequest,
  readExtraInfo,
  readRxRequest,
  readTxRequest,
  writeExtraInfo,
  writeRxResponse,
  writeTxResponse,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_XDP,
} from "@pvnet/netif";
import { BackRing, SharedRing } from "@pvnet/shared-ring";
import { GNTCOPY, GNTMAP, GNTST, GnttabCopyBatch, GnttabMapBatch, GnttabUnmapBatch, type GrantTables } from "@pvnet/xen-grant-table";
import {
  XBT_NIL,
  type Xenbus,
  type XenbusDevice,
  XenbusState,
  xenbusBackendDevice,
  xenbusPrintf,
  xenbusRead,
  xenbusReadUnsigned,
  xenbusSwitchState,
  xenbusWatchOtherend,
} from "@pvnet/xenstore";

export interface PeerFeatures {
  sg?: boolean;
  gsoTcpv4?: boolean;
  gsoTcpv6?: boolean;
  split?: boolean;
  maxQueues?: number;
  rxCopy?: boolean;
  /** Offer feature-persistent (default false). */
  persistent?: boolean;
  /** Offer feature-xdp-headroom and honour the frontend's xdp-headroom as Linux 5.9+ netback does (default false). */
  xdpHeadroom?: boolean;
}

/** One packet as the backend saw it on the TX ring. */
export interface TxPacket {
  readonly requests: NetifTxRequest[];
  readonly extras: NetifExtraInfo[];
  readonly data: Uint8Array;
  readonly queue: number;
}

export interface PeerQueue {
  readonly id: number;
  readonly tx: BackRing;
  readonly rx: BackRing;
  readonly txPort: number;
  readonly rxPort: number;
  readonly handles: number[];
}

const HOST_ADDR_BASE = 0x1000_0000_0000;

export class TestBackend {
  readonly dev: XenbusDevice;
  queues: PeerQueue[] = [];
  readonly packets: TxPacket[] = [];
  /** Process TX as soon as the frontend notifies (else call processTx). */
  autoTx = true;
  /** Status to answer data requests with. */
  txStatus = NETIF_RSP_OKAY;
  txEvents = 0;
  /** The frontend's xdp-headroom as last read (connect, Reconfiguring): data goes there, with an XDP extra. */
  xdpHeadroom = 0;
  private readonly vcpu: Vcpu;
  private readonly scratch: number[] = [];
  private readonly copies = new GnttabCopyBatch(64);
  private nextHostAddr = HOST_ADDR_BASE;

  constructor(
    readonly hv: Hypervisor,
    readonly dom0: Domain,
    readonly grants: GrantTables,
    readonly xenbus: Xenbus,
    readonly frontendDomid: number,
    readonly devid: number,
    readonly features: PeerFeatures = {},
  ) {
    this.vcpu = dom0.vcpus[0] as Vcpu;
    for (let i = 0; i < 64; i++) this.scratch.push(dom0.allocPage());
    this.dev = xenbusBackendDevice(xenbus, "vif", frontendDomid, devid);
    const conn = xenbus.conn;
    const f = features;
    const w = (k: string, v: number) => xenbusPrintf(conn, XBT_NIL, this.dev.nodename, k, v);
    w(NETIF_XS_KEY.FEATURE_SG, f.sg === false ? 0 : 1);
    w(NETIF_XS_KEY.FEATURE_GSO_TCPV4, f.gsoTcpv4 === false ? 0 : 1);
    w(NETIF_XS_KEY.FEATURE_GSO_TCPV6, f.gsoTcpv6 === false ? 0 : 1);
    w(NETIF_XS_KEY.FEATURE_RX_COPY, f.rxCopy === false ? 0 : 1);
    w(NETIF_XS_KEY.FEATURE_RX_FLIP, 0);
    w(NETIF_XS_KEY.FEATURE_SPLIT_EVENT_CHANNELS, f.split ? 1 : 0);
    w(NETIF_XS_KEY.MULTI_QUEUE_MAX_QUEUES, f.maxQueues ?? 1);
    w(NETIF_XS_KEY.FEATURE_PERSISTENT, f.persistent === true ? 1 : 0);
    if (f.xdpHeadroom === true) w(NETIF_XS_KEY.FEATURE_XDP_HEADROOM, 1);
    xenbusSwitchState(this.dev, XenbusState.InitWait);
    xenbusWatchOtherend(this.dev, (_d, state) => this.frontendChanged(state));
  }

  private frontendChanged(state: number): void {
    switch (state) {
      case XenbusState.Initialising:
        if (this.dev.state === XenbusState.Closed) xenbusSwitchState(this.dev, XenbusState.InitWait);
        break;
      case XenbusState.Reconfiguring:
        this.readXdpHeadroom();
        xenbusSwitchState(this.dev, XenbusState.Reconfigured);
        break;
      case XenbusState.Connected:
        if (this.dev.state === XenbusState.Connected || this.dev.state === XenbusState.Reconfigured) break;
        this.readXdpHeadroom();
        this.connect();
        xenbusSwitchState(this.dev, XenbusState.Connected);
        break;
      case XenbusState.Closing:
        this.disconnect();
        xenbusSwitchState(this.dev, XenbusState.Closing);
        break;
      case XenbusState.Closed:
        this.disconnect();
        xenbusSwitchState(this.dev, XenbusState.Closed);
        break;
    }
  }

  /** read_xenbus_frontend_xdp */
  private readXdpHeadroom(): void {
    if (this.features.xdpHeadroom !== true) return;
    this.xdpHeadroom = Math.min(xenbusReadUnsigned(this.xenbus.conn, this.dev.otherend, NETIF_XS_KEY.XDP_HEADROOM, 0), 0x7fff);
  }

  private mapRing(ref: number, handles: number[]): number {
    const b = new GnttabMapBatch(1);
    const addr = this.nextHostAddr;
    this.nextHostAddr += XEN_PAGE_SIZE;
    b.add(addr, GNTMAP.host_map, ref, this.frontendDomid);
    this.grants.mapGrantRef(this.vcpu, b);
    if (b.status[0] !== GNTST.okay) throw new Error(`map of ring ref ${ref}: ${b.status[0]}`);
    handles.push(b.handle[0] as number, addr);
    return (b.devBusAddr[0] as number) / XEN_PAGE_SIZE;
  }

  private connect(): void {
    const conn = this.xenbus.conn;
    const fe = this.dev.otherend;
    const n = xenbusReadUnsigned(conn, fe, NETIF_XS_KEY.MULTI_QUEUE_NUM_QUEUES, 1);
    this.queues = [];
    for (let q = 0; q < n; q++) {
      const dir = n === 1 ? fe : `${fe}/queue-${q}`;
      const txRef = Number(xenbusRead(conn, XBT_NIL, dir, NETIF_XS_KEY.TX_RING_REF));
      const rxRef = Number(xenbusRead(conn, XBT_NIL, dir, NETIF_XS_KEY.RX_RING_REF));
      const single = xenbusRead(conn, XBT_NIL, dir, NETIF_XS_KEY.EVENT_CHANNEL);
      const txEvt = Number(single ?? xenbusRead(conn, XBT_NIL, dir, NETIF_XS_KEY.EVENT_CHANNEL_TX));
      const rxEvt = Number(single ?? xenbusRead(conn, XBT_NIL, dir, NETIF_XS_KEY.EVENT_CHANNEL_RX));
      const handles: number[] = [];
      const m = this.hv.machine;
      const tx = new BackRing(SharedRing.overFrames(m, [this.mapRing(txRef, handles)], NETIF_TX_RING)).init();
      const rx = new BackRing(SharedRing.overFrames(m, [this.mapRing(rxRef, handles)], NETIF_RX_RING)).init();
      const txPort = this.hv.evtchnBindInterdomain(this.vcpu, this.frontendDomid, txEvt);
      const rxPort = txEvt === rxEvt ? txPort : this.hv.evtchnBindInterdomain(this.vcpu, this.frontendDomid, rxEvt);
      const queue: PeerQueue = { id: q, tx, rx, txPort, rxPort, handles };
      this.queues.push(queue);
      this.hv.bindHandler(this.dom0, txPort, () => {
        this.txEvents++;
        if (this.autoTx) this.processTx(queue);
      });
    }
  }

  private disconnect(): void {
    for (const q of this.queues) {
      const u = new GnttabUnmapBatch(4);
      for (let i = 0; i < q.handles.length; i += 2) u.add(q.handles[i + 1] as number, q.handles[i] as number);
      this.grants.unmapGrantRef(this.vcpu, u);
      for (const port of q.txPort === q.rxPort ? [q.txPort] : [q.txPort, q.rxPort]) {
        this.hv.unbindHandler(this.dom0, port);
        try {
          this.hv.evtchnClose(this.vcpu, port);
        } catch {
          // already closed by the peer
        }
      }
    }
    this.queues = [];
  }

  /** Process every complete TX packet on `q`: copy it out, record it, answer every slot. */
  processTx(q: PeerQueue = this.queues[0] as PeerQueue): number {
    const back = q.tx;
    let done = 0;
    for (;;) {
      let avail = back.unconsumedRequests();
      if (avail === 0) avail = back.finalCheckForRequests();
      if (avail === 0) break;
      const requests: NetifTxRequest[] = [];
      const extras: NetifExtraInfo[] = [];
      // Walk the chain first; stop if it is not all there.
      let i = 0;
      const first = back.copyRequest(back.reqCons, readTxRequest, newTxRequest());
      requests.push(first);
      i = 1;
      let incomplete = false;
      if (first.flags & NETTXF_extra_info) {
        for (;;) {
          if (i >= avail) {
            incomplete = true;
            break;
          }
          const e = back.copyRequest((back.reqCons + i++) >>> 0, readExtraInfo, newExtraInfo());
          extras.push(e);
          if (!(e.flags & XEN_NETIF_EXTRA_FLAG_MORE)) break;
        }
      }
      let prev = first;
      while (!incomplete && prev.flags & NETTXF_more_data) {
        if (i >= avail) {
          incomplete = true;
          break;
        }
        prev = back.copyRequest((back.reqCons + i++) >>> 0, readTxRequest, newTxRequest());
        requests.push(prev);
      }
      if (incomplete) break;
      // Copy the data out with grant copies (first request: total minus the others).
      let rest = 0;
      for (let k = 1; k < requests.length; k++) rest += (requests[k] as NetifTxRequest).size;
      const total = first.size;
      const data = new Uint8Array(total);
      const c = this.copies;
      c.clear();
      let pos = 0;
      const lens: number[] = [];
      for (let k = 0; k < requests.length; k++) {
        const r = requests[k] as NetifTxRequest;
        const len = k === 0 ? total - rest : r.size;
        lens.push(len);
        c.add(r.gref, this.frontendDomid, r.offset, this.scratch[k] as number, DOMID_SELF, 0, Math.max(0, len), GNTCOPY.source_gref);
      }
      this.grants.copy(this.vcpu, c);
      let ok = true;
      for (let k = 0; k < requests.length; k++) {
        if (c.status[k] !== GNTST.okay) ok = false;
        const len = lens[k] as number;
        if (len > 0 && c.status[k] === GNTST.okay) {
          const off = this.dom0.pageOffset(this.scratch[k] as number);
          data.set(this.hv.machine.bytes.subarray(off, off + len), pos);
        }
        pos += Math.max(0, len);
      }
      this.packets.push({ requests, extras, data, queue: q.id });
      // Answer: the first request, NULL for each extra, then the rest.
      const status = ok ? this.txStatus : NETIF_RSP_ERROR;
      this.respondTx(back, first.id, status);
      for (let e = 0; e < extras.length; e++) this.respondTx(back, 0, NETIF_RSP_NULL);
      for (let k = 1; k < requests.length; k++) this.respondTx(back, (requests[k] as NetifTxRequest).id, status);
      done++;
    }
    if (back.pushResponsesAndCheckNotify()) this.hv.evtchnSend(this.vcpu, q.txPort);
    return done;
  }

  private respondTx(back: BackRing, id: number, status: number): void {
    back.consumeRequest();
    back.writeResponse(back.produceResponse(), writeTxResponse, { id, status });
  }

  /**
   * Deliver `data` to the guest through posted RX buffers: `chunk` bytes per slot at `offset`,
   * `flags` on the first response, an optional GSO extra. False when not enough buffers are posted.
   */
  sendRx(data: Uint8Array, opts: { q?: number; chunk?: number; offset?: number; flags?: number; gso?: { size: number; type: number }; notify?: boolean } = {}): boolean {
    const q = this.queues[opts.q ?? 0] as PeerQueue;
    const back = q.rx;
    // With an xdp-headroom every data slot's data goes after it and the XDP extra names it
    // (xenvif_rx_data_slot, xenvif_rx_next_skb); the responses name the offset too (Linux
    // netback writes 0 there, see netback's rx.ts).
    const hr = this.xdpHeadroom;
    const offset = opts.offset ?? hr;
    const rspOffset = offset;
    const chunk = Math.min(opts.chunk ?? XEN_PAGE_SIZE, XEN_PAGE_SIZE - offset);
    const nData = Math.max(1, Math.ceil(data.length / chunk));
    const extras: NetifExtraInfo[] = [];
    if (opts.gso) extras.push({ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: opts.gso.size, gsoType: opts.gso.type });
    if (hr > 0) extras.push({ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_XDP, xdpHeadroom: hr });
    for (let k = 0; k < extras.length - 1; k++) (extras[k] as NetifExtraInfo).flags |= XEN_NETIF_EXTRA_FLAG_MORE;
    const need = nData + extras.length;
    if (back.unconsumedRequests() < need) return false;
    const req = newRxRequest();
    const c = this.copies;
    const rsps: ({ id: number; offset: number; flags: number; status: number } | NetifExtraInfo)[] = [];
    let pos = 0;
    for (let k = 0; k < nData; k++) {
      const idx = back.consumeRequest();
      back.copyRequest(idx, readRxRequest, req);
      const len = Math.min(chunk, data.length - pos);
      const local = this.scratch[k % this.scratch.length] as number;
      const off = this.dom0.pageOffset(local);
      this.hv.machine.bytes.set(data.subarray(pos, pos + len), off);
      c.clear();
      c.add(local, DOMID_SELF, 0, req.gref, this.frontendDomid, offset, len, GNTCOPY.dest_gref);
      this.grants.copy(this.vcpu, c);
      if (c.status[0] !== GNTST.okay) throw new Error(`rx copy status ${c.status[0]}`);
      let flags = k < nData - 1 ? NETRXF_more_data : 0;
      if (k === 0) flags |= (opts.flags ?? 0) | (extras.length > 0 ? NETRXF_extra_info : 0);
      rsps.push({ id: req.id, offset: rspOffset, flags, status: len });
      pos += len;
      if (k === 0) {
        // The extras take the next requests' slots; written after the first response.
        for (const e of extras) {
          const eIdx = back.consumeRequest();
          back.copyRequest(eIdx, readRxRequest, req);
          rsps.push(e);
        }
      }
    }
    for (const r of rsps) {
      const idx = back.produceResponse();
      if ("type" in r) back.writeResponse(idx, writeExtraInfo, r);
      else back.writeResponse(idx, writeRxResponse, r);
    }
    // notify: undefined = as ring.h says; true = always; false = never.
    const needed = back.pushResponsesAndCheckNotify();
    if (opts.notify === true || (opts.notify === undefined && needed)) this.hv.evtchnSend(this.vcpu, q.rxPort);
    return true;
  }

  /** Notify the frontend's RX channel of queue `q` (after hand-made responses). */
  kickRx(q = 0): void {
    this.hv.evtchnSend(this.vcpu, (this.queues[q] as PeerQueue).rxPort);
  }

  kickTx(q = 0): void {
    this.hv.evtchnSend(this.vcpu, (this.queues[q] as PeerQueue).txPort);
  }

  /** Grant mappings the backend holds (ring pages). */
  get mappedRings(): number {
    let n = 0;
    for (const q of this.queues) n += q.handles.length / 2;
    return n;
  }
}
