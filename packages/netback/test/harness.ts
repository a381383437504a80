/**
 * A test world for netback: Dom0 with the backend, and raw frontends in guests that the tests
 * drive slot by slot — granting pages with GnttabGuest, writing netif requests into rings they
 * share with the backend, reading the responses — so well-formed and malicious traffic are both
 * under the test's control. The frontends walk the xenbus handshake the way netfront does.
 */
import { type Domain, Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import {
  type NetifExtraInfo,
  type NetifRxResponse,
  type NetifTxRequest,
  NETIF_RX_RING,
  NETIF_TX_RING,
  NETIF_XS_KEY,
  NETTXF_extra_info,
  NETTXF_more_data,
  newExtraInfo,
  newRxResponse,
  newTxResponse,
  readExtraInfo,
  readRxResponse,
  readTxResponse,
  writeExtraInfo,
  writeRxRequest,
  writeTxRequest,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
  NETRXF_extra_info,
  NETRXF_more_data,
} from "@pvnet/netif";
import { FrontRing, SharedRing } from "@pvnet/shared-ring";
import { PagePool, SkbAllocator } from "@pvnet/skb-model";
import { GnttabGuest, GrantTables } from "@pvnet/xen-grant-table";
import {
  type Connection,
  libxlDeviceGenericAdd,
  libxlDomainMake,
  XBT_NIL,
  XenStore,
  type Xenbus,
  type XenbusDevice,
  XenbusState,
  xenbusFrontendDevice,
  xenbusInit,
  xenbusPrintf,
  xenbusSwitchState,
  xenbusWatchOtherend,
} from "@pvnet/xenstore";
import { type NetbackOptions, Netback, type Xenvif } from "../src/index.js";
import type { SkBuff } from "@pvnet/skb-model";

export interface WorldOptions extends NetbackOptions {
  readonly seed?: number;
  readonly dom0Vcpus?: number;
  readonly dom0PoolFrames?: number;
}

export interface Received {
  readonly vif: string;
  readonly bytes: Uint8Array;
  readonly gsoSize: number;
  readonly gsoSegs: number;
  readonly ipSummed: number;
  readonly nrFrags: number;
  readonly headlen: number;
}

/** Dom0 + xenstore + netback; guests are added with `frontend()`. */
export class World {
  readonly hv: Hypervisor;
  readonly dom0: Domain;
  readonly grants: GrantTables;
  readonly store = new XenStore();
  readonly toolstack: Connection;
  readonly pool: PagePool;
  readonly skbs: SkbAllocator;
  readonly xenbus0: Xenbus;
  readonly netback: Netback;
  readonly received: Received[] = [];
  /** When set, onReceive hands skbs here instead of freeing them. */
  keep: SkBuff[] | null = null;

  constructor(options: WorldOptions = {}) {
    this.hv = new Hypervisor({ frames: 16384, seed: options.seed ?? 1 });
    this.dom0 = this.hv.createDomain({ name: "Domain-0", maxPages: 8192, vcpus: options.dom0Vcpus ?? 2 });
    this.grants = new GrantTables(this.hv);
    this.toolstack = this.store.connect(0);
    this.pool = new PagePool(this.dom0, { limitFrames: options.dom0PoolFrames ?? 4096, costs: this.hv.cpuCosts(this.dom0) });
    this.skbs = new SkbAllocator({ pool: this.pool, maxSkbs: 2048, costs: this.hv.cpuCosts(this.dom0) });
    const v0 = this.dom0.vcpus[0] as Vcpu;
    const xb = xenbusInit(this.store, 0, { clock: this.hv.sim.clock, work: this.hv, cpu: v0 }).xenbus;
    this.xenbus0 = xb;
    this.netback = new Netback(
      { ...this.hv.kernelOps(), domain: this.dom0, grants: this.grants, xenbus: xb, skbs: this.skbs },
      {
        ...options,
        // A test's own receiver replaces the recording one (which reads every byte).
        onReceive: options.onReceive ?? ((vif: Xenvif, skb: SkBuff) => {
          this.received.push({
            vif: vif.name,
            bytes: skb.toBytes(),
            gsoSize: skb.shinfo.gsoSize,
            gsoSegs: skb.shinfo.gsoSegs,
            ipSummed: skb.ipSummed,
            nrFrags: skb.shinfo.nrFrags,
            headlen: skb.headlen,
          });
          if (this.keep !== null) this.keep.push(skb);
          else skb.free();
        }),
      },
    );
  }

  /** A guest with a raw frontend for vif `devid`; the toolstack creates the device directories. */
  frontend(options: FrontendOptions = {}): RawFrontend {
    const domU = this.hv.createDomain({ name: `guest${this.hv.allDomains().length}`, maxPages: 2048 });
    libxlDomainMake(this.toolstack, domU.domid, domU.name);
    return new RawFrontend(this, domU, options);
  }

  run(): void {
    this.hv.run({ maxEvents: 1_000_000 });
  }
}

export interface FrontendOptions {
  readonly devid?: number;
  readonly queues?: number;
  readonly split?: boolean;
  /** Write feature-rx-notify (default true). */
  readonly rxNotify?: boolean;
  readonly gso?: boolean;
  /** Write feature-persistent = 1 (default false). */
  readonly persistent?: boolean;
  /** Write xdp-headroom with this value (default: not written). */
  readonly xdpHeadroom?: number;
}

/** One slot of a TX packet: `len` bytes at `offset` of a fresh page. */
export interface SlotSpec {
  readonly len: number;
  readonly offset?: number;
  /** Use this gref instead of granting a page (a bad gref). */
  readonly gref?: number;
  /** Override the request's size field. */
  readonly size?: number;
}

interface QueueRings {
  tx: FrontRing;
  rx: FrontRing;
  txGfn: number;
  rxGfn: number;
  txRef: number;
  rxRef: number;
  txPort: number;
  rxPort: number;
}

/** A frontend that speaks the netif protocol slot by slot. */
export class RawFrontend {
  readonly gnttab: GnttabGuest;
  readonly xenbus: Xenbus;
  readonly vcpu: Vcpu;
  readonly devid: number;
  readonly dev: XenbusDevice;
  readonly queues: QueueRings[] = [];
  readonly paths: { frontend: string; backend: string };
  /** Pages granted for TX slots and RX buffers: gref -> gfn. */
  readonly granted = new Map<number, number>();
  private nextId = 0;
  connectedCount = 0;

  constructor(
    readonly world: World,
    readonly domain: Domain,
    readonly options: FrontendOptions,
  ) {
    this.vcpu = domain.vcpus[0] as Vcpu;
    this.devid = options.devid ?? 0;
    this.gnttab = new GnttabGuest(world.grants, this.vcpu, { initialFrames: 4 });
    const xb = xenbusInit(world.store, domain.domid, { clock: world.hv.sim.clock, work: world.hv, cpu: this.vcpu }).xenbus;
    this.xenbus = xb;
    this.paths = libxlDeviceGenericAdd(world.toolstack, {
      devicetype: "vif",
      frontendDomid: domain.domid,
      devid: this.devid,
      backendKeys: { handle: String(this.devid), mac: "00:16:3e:00:00:01" },
      frontendKeys: { handle: String(this.devid), mac: "00:16:3e:00:00:01" },
    });
    this.dev = xenbusFrontendDevice(xb, "vif", this.devid);
    xenbusWatchOtherend(this.dev, (dev, state) => this.backendChanged(dev, state));
  }

  /** netback_changed of netfront, minimal. */
  private backendChanged(dev: XenbusDevice, state: number): void {
    if (state === XenbusState.InitWait && dev.state === XenbusState.Initialising) {
      this.talkToNetback();
      xenbusSwitchState(dev, XenbusState.Connected);
      this.connectedCount++;
    } else if (state === XenbusState.Closing && dev.state !== XenbusState.Closed && dev.state !== XenbusState.Initialising) {
      xenbusSwitchState(dev, XenbusState.Closed);
    }
  }

  private talkToNetback(): void {
    const conn = this.xenbus.conn;
    const n = this.options.queues ?? 1;
    const dir = this.dev.nodename;
    const be = this.world.dom0.domid;
    const hv = this.world.hv;
    this.queues.length = 0;
    for (let q = 0; q < n; q++) {
      const txGfn = this.domain.allocPage();
      const rxGfn = this.domain.allocPage();
      const tx = new FrontRing(SharedRing.overFrames(hv.machine, [this.domain.gfnToMfn(txGfn)], NETIF_TX_RING)).initShared();
      const rx = new FrontRing(SharedRing.overFrames(hv.machine, [this.domain.gfnToMfn(rxGfn)], NETIF_RX_RING)).initShared();
      const txRef = this.gnttab.grantForeignAccess(be, txGfn, false);
      const rxRef = this.gnttab.grantForeignAccess(be, rxGfn, false);
      const split = this.options.split ?? true;
      const txPort = hv.evtchnAllocUnbound(this.vcpu, be);
      const rxPort = split ? hv.evtchnAllocUnbound(this.vcpu, be) : txPort;
      const qdir = n === 1 ? dir : `${dir}/queue-${q}`;
      xenbusPrintf(conn, XBT_NIL, qdir, NETIF_XS_KEY.TX_RING_REF, txRef);
      xenbusPrintf(conn, XBT_NIL, qdir, NETIF_XS_KEY.RX_RING_REF, rxRef);
      if (split) {
        xenbusPrintf(conn, XBT_NIL, qdir, NETIF_XS_KEY.EVENT_CHANNEL_TX, txPort);
        xenbusPrintf(conn, XBT_NIL, qdir, NETIF_XS_KEY.EVENT_CHANNEL_RX, rxPort);
      } else xenbusPrintf(conn, XBT_NIL, qdir, NETIF_XS_KEY.EVENT_CHANNEL, txPort);
      this.queues.push({ tx, rx, txGfn, rxGfn, txRef, rxRef, txPort, rxPort });
    }
    if (n > 1) xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.MULTI_QUEUE_NUM_QUEUES, n);
    xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.REQUEST_RX_COPY, 1);
    xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.FEATURE_RX_NOTIFY, (this.options.rxNotify ?? true) ? 1 : 0);
    xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.FEATURE_SG, 1);
    xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.FEATURE_GSO_TCPV4, (this.options.gso ?? true) ? 1 : 0);
    if (this.options.persistent === true) xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.FEATURE_PERSISTENT, 1);
    if (this.options.xdpHeadroom !== undefined) xenbusPrintf(conn, XBT_NIL, dir, NETIF_XS_KEY.XDP_HEADROOM, this.options.xdpHeadroom);
  }

  get vif(): Xenvif {
    const vif = this.world.netback.vif(this.domain.domid, this.devid);
    if (vif === undefined) throw new Error("no vif");
    return vif;
  }

  /** Switch to a state (Closing to disconnect, Initialising to reconnect). */
  switchState(state: (typeof XenbusState)[keyof typeof XenbusState]): void {
    xenbusSwitchState(this.dev, state);
  }

  /** Tear the frontend side down after the backend disconnected: end access to the rings. */
  releaseRings(): boolean {
    let ok = true;
    for (const q of this.queues) {
      for (const ref of [q.txRef, q.rxRef]) ok = this.gnttab.endForeignAccess(ref) && ok;
      for (const port of q.txPort === q.rxPort ? [q.txPort] : [q.txPort, q.rxPort]) this.world.hv.evtchnClose(this.vcpu, port);
    }
    return ok;
  }

  /** End access to every data page granted so far (as netfront does when it tears down). */
  releasePages(): number {
    let refused = 0;
    for (const [ref, gfn] of this.granted) {
      if (this.gnttab.endForeignAccess(ref)) this.domain.freePage(gfn);
      else refused++;
    }
    this.granted.clear();
    return refused;
  }

  /** Grant Dom0 a page holding `bytes` at `offset`. */
  grantData(bytes: Uint8Array, offset: number, readonly = true): number {
    const gfn = this.domain.allocPage();
    // Never write past the page (a test may describe a slot that crosses it).
    const n = Math.max(0, Math.min(bytes.length, 4096 - offset));
    this.world.hv.machine.bytes.set(bytes.subarray(0, n), this.domain.pageOffset(gfn) + offset);
    const ref = this.gnttab.grantForeignAccess(this.world.dom0.domid, gfn, readonly);
    if (ref < 0) throw new Error("out of grant refs");
    this.granted.set(ref, gfn);
    return ref;
  }

  /**
   * Queue one packet on TX ring `q`: `frame` split into `slots` (each in its own page), an
   * optional GSO extra after the first request. Returns the ids used. Does not push.
   */
  queuePacket(frame: Uint8Array, slots: readonly SlotSpec[], opts: { flags?: number; gsoSize?: number; extras?: NetifExtraInfo[]; q?: number } = {}): number[] {
    const ring = (this.queues[opts.q ?? 0] as QueueRings).tx;
    const ids: number[] = [];
    let at = 0;
    const extras: NetifExtraInfo[] = [...(opts.extras ?? [])];
    if (opts.gsoSize !== undefined) {
      extras.unshift({ ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: opts.gsoSize, gsoType: XEN_NETIF_GSO_TYPE_TCPV4 });
    }
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i] as SlotSpec;
      const offset = s.offset ?? 0;
      const chunk = frame.subarray(at, Math.min(at + s.len, frame.length));
      at += s.len;
      const gref = s.gref ?? this.grantData(chunk, offset);
      const id = this.nextId++ & 0xffff;
      ids.push(id);
      let flags = i === 0 ? (opts.flags ?? 0) : 0;
      if (i < slots.length - 1) flags |= NETTXF_more_data;
      if (i === 0 && extras.length > 0) flags |= NETTXF_extra_info;
      const req: NetifTxRequest = { gref, offset, flags, id, size: s.size ?? (i === 0 ? frame.length : s.len) };
      ring.writeRequest(ring.produceRequest(), writeTxRequest, req);
      if (i === 0) {
        for (let e = 0; e < extras.length; e++) {
          const x = { ...(extras[e] as NetifExtraInfo) };
          if (e < extras.length - 1) x.flags |= 1;
          ring.writeRequest(ring.produceRequest(), writeExtraInfo, x);
        }
      }
    }
    return ids;
  }

  /** Write a raw TX request without any checking. */
  queueRaw(req: NetifTxRequest, q = 0): void {
    const ring = (this.queues[q] as QueueRings).tx;
    ring.writeRequest(ring.produceRequest(), writeTxRequest, req);
  }

  /** Write a raw extra-info slot. */
  queueRawExtra(extra: NetifExtraInfo, q = 0): void {
    const ring = (this.queues[q] as QueueRings).tx;
    ring.writeRequest(ring.produceRequest(), writeExtraInfo, extra);
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY + notify_remote_via_irq on the TX channel. */
  pushTx(q = 0): void {
    const r = this.queues[q] as QueueRings;
    if (r.tx.pushRequestsAndCheckNotify()) this.world.hv.evtchnSend(this.vcpu, r.txPort);
  }

  /** Send one packet and push. */
  send(frame: Uint8Array, slots: readonly SlotSpec[], opts: { flags?: number; gsoSize?: number; q?: number } = {}): number[] {
    const ids = this.queuePacket(frame, slots, opts);
    this.pushTx(opts.q ?? 0);
    return ids;
  }

  /** Consume every TX response: {id, status} (extra-slot answers included as status 1). */
  txResponses(q = 0): { id: number; status: number }[] {
    const ring = (this.queues[q] as QueueRings).tx;
    const out: { id: number; status: number }[] = [];
    const rsp = newTxResponse();
    while (ring.unconsumedResponses() > 0) {
      ring.copyResponse(ring.consumeResponse(), readTxResponse, rsp);
      out.push({ id: rsp.id, status: rsp.status });
    }
    return out;
  }

  /** Post `n` RX buffers (fresh pages granted writable). Returns their grefs by id. */
  postRx(n: number, q = 0): void {
    const r = this.queues[q] as QueueRings;
    for (let i = 0; i < n; i++) {
      const gfn = this.domain.allocPage();
      const ref = this.gnttab.grantForeignAccess(this.world.dom0.domid, gfn, false);
      this.granted.set(ref, gfn);
      const id = this.rxIdNext++ & 0xffff;
      this.rxBuffers.set(id, { ref, gfn });
      r.rx.writeRequest(r.rx.produceRequest(), writeRxRequest, { id, gref: ref });
    }
    if (r.rx.pushRequestsAndCheckNotify()) this.world.hv.evtchnSend(this.vcpu, r.rxPort);
  }
  private rxIdNext = 0;

  /** Post every buffer of `postRx` again, same ids and grefs (a frontend recycling its pages). */
  repostRx(q = 0): void {
    const r = this.queues[q] as QueueRings;
    for (const [id, buf] of this.rxBuffers) r.rx.writeRequest(r.rx.produceRequest(), writeRxRequest, { id, gref: buf.ref });
    if (r.rx.pushRequestsAndCheckNotify()) this.world.hv.evtchnSend(this.vcpu, r.rxPort);
  }
  readonly rxBuffers = new Map<number, { ref: number; gfn: number }>();

  /**
   * Read RX responses and assemble packets: each is its bytes, the flags of its first slot and
   * its extras, with the response sizes (to check splitting at page boundaries).
   */
  rxPackets(q = 0): { bytes: Uint8Array; flags: number; extras: NetifExtraInfo[]; sizes: number[]; statuses: number[] }[] {
    const r = this.queues[q] as QueueRings;
    const out: { bytes: Uint8Array; flags: number; extras: NetifExtraInfo[]; sizes: number[]; statuses: number[] }[] = [];
    const rsp: NetifRxResponse = newRxResponse();
    let cur: { chunks: Uint8Array[]; flags: number; extras: NetifExtraInfo[]; sizes: number[]; statuses: number[] } | null = null;
    let expectExtra = false;
    let more = false;
    while (r.rx.unconsumedResponses() > 0) {
      const idx = r.rx.consumeResponse();
      if (expectExtra) {
        const e = r.rx.copyResponse(idx, readExtraInfo, newExtraInfo());
        cur?.extras.push(e);
        expectExtra = (e.flags & 1) !== 0;
        if (expectExtra || more || cur === null) continue;
        // A one-slot packet ends with its extras.
      } else {
        r.rx.copyResponse(idx, readRxResponse, rsp);
        if (cur === null) cur = { chunks: [], flags: rsp.flags, extras: [], sizes: [], statuses: [] };
        cur.statuses.push(rsp.status);
        const buf = this.rxBuffers.get(rsp.id);
        if (rsp.status > 0 && buf !== undefined) {
          const off = this.domain.pageOffset(buf.gfn) + rsp.offset;
          cur.chunks.push(this.world.hv.machine.bytes.slice(off, off + rsp.status));
          cur.sizes.push(rsp.status);
        }
        if (cur.chunks.length === 1 && rsp.flags & NETRXF_extra_info) expectExtra = true;
        more = (rsp.flags & NETRXF_more_data) !== 0;
      }
      if (cur !== null && !more && !expectExtra) {
        const total = cur.chunks.reduce((a, c) => a + c.length, 0);
        const bytes = new Uint8Array(total);
        let o = 0;
        for (const c of cur.chunks) {
          bytes.set(c, o);
          o += c.length;
        }
        out.push({ bytes, flags: cur.flags, extras: cur.extras, sizes: cur.sizes, statuses: cur.statuses });
        cur = null;
      }
    }
    return out;
  }
}

/** A deterministic frame of `len` bytes: Ethernet header (ethertype 0x88b5, no IP) then a counter pattern. */
export function makeFrame(len: number, seed = 1): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  if (len >= 14) {
    f[12] = 0x88;
    f[13] = 0xb5;
  }
  return f;
}

/** An Ethernet + IPv4 + TCP frame of `len` bytes (checksum fields left blank: csum offload). */
export function makeTcpFrame(len: number, seed = 1): Uint8Array {
  const f = makeFrame(len, seed);
  f[12] = 0x08;
  f[13] = 0x00;
  const ip = 14;
  f[ip] = 0x45;
  f[ip + 1] = 0;
  const ipLen = Math.min(len - 14, 0xffff);
  f[ip + 2] = ipLen >> 8;
  f[ip + 3] = ipLen & 0xff;
  f[ip + 6] = 0x40; // DF, not a fragment
  f[ip + 7] = 0;
  f[ip + 8] = 64;
  f[ip + 9] = 6; // TCP
  f.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  const tcp = ip + 20;
  f[tcp + 12] = 5 << 4; // data offset: 20 bytes
  f[tcp + 16] = 0;
  f[tcp + 17] = 0;
  return f;
}

/** Split `len` into page-sized slots after a first slot of `first` bytes. */
export function slotsOf(len: number, first: number, rest = 4096): SlotSpec[] {
  const out: SlotSpec[] = [{ len: Math.min(first, len) }];
  let left = len - Math.min(first, len);
  while (left > 0) {
    const n = Math.min(rest, left);
    out.push({ len: n });
    left -= n;
  }
  return out;
}

/** The 40-byte key of Microsoft's "Verifying the RSS Hash Calculation", whose vectors the hash tests use. */
export const MS_KEY = Uint8Array.from(Buffer.from("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa", "hex"));
