/**
 * The DomU <-> DomU topology carrying real traffic: each guest's network stack is a real one at
 * the far end of a frame port (a TAP device in `pvnet tap`). A frame read from guest A's port is
 * what guest A's kernel hands its netfront (ndo_start_xmit); what guest A's netfront receives is
 * written to guest A's port. In between, as in the generator runs: netback, Dom0's learning bridge,
 * netback and the other guest's netfront.
 *
 * Pacing: the virtual clock runs when frames arrive. Each turn reads what waits on both ports (a
 * bounded batch), runs the host until it is idle, and yields to the event loop; with nothing to
 * read it polls again after a millisecond.
 */
import { detachAndAudit, Host, type TeardownAudit } from "@pvnet/host";
import { NETDEV_TX_OK, type Netfront } from "@pvnet/netfront";
import { COST_MEMCPY, type SkbAllocator, type SkBuff } from "@pvnet/skb-model";
import { type DataPathOptions, vifCapture } from "./devices.js";
import { type DomuDomuWiring, wireDomuDomu } from "./domu-domu.js";
import { VIRTIO_NET_HDR, vnetHdrFromSkb, vnetHdrToSkb } from "../tap/virtio-net-hdr.js";

/** Where a guest's real frames come from and go to (a TAP device). */
export interface FramePort {
  /** Each frame is preceded by a struct virtio_net_hdr (IFF_VNET_HDR): GSO and checksum offloads. */
  readonly vnetHdr: boolean;
  /** Read one waiting frame into `buf`: its length, or 0 when none waits. */
  read(buf: Uint8Array): number;
  /** Write one frame, gathered from `parts` in order. */
  writev(parts: readonly Uint8Array[]): void;
}

export interface LiveDomuDomuOptions extends DataPathOptions {
  /** Queues each frontend asks for (1..8). */
  readonly queues?: number;
  readonly seed?: number;
}

/** Frames read from one port per turn: bounds a turn's latency for the other port. */
export const LIVE_BATCH_FRAMES = 64;
/** Scheduler events per turn at most: a model that does not settle still yields to the event loop. */
export const LIVE_TURN_EVENTS = 500_000;
/** Wait between two polls of ports that had nothing to read (once the spin below ran out). */
const IDLE_POLL_MS = 1;
/**
 * After a turn that moved frames, the ports are polled again at once for this long before the
 * poll backs off to IDLE_POLL_MS: a TCP peer answers within tens of microseconds, and a
 * millisecond's wait on every round trip would bound its window's throughput.
 */
export const LIVE_SPIN_MS = 0.5;
/** A frame read from a port up to this size is copied into an skb of its own size; a larger one keeps the spare skb it was read into. */
const LIVE_COPY_BELOW = 4096;
/** The largest frame a guest may send (netfront's XEN_NETIF_MAX_TX_SIZE, 64 KiB - 1). */
const MAX_PORT_FRAME = 0xffff;
/** A port's buffer: a virtio_net_hdr, the largest frame, and room to see that a frame was larger. */
const PORT_BUFFER = VIRTIO_NET_HDR.SIZEOF + MAX_PORT_FRAME + 1;

/** Counts of one guest's side. */
export interface LiveSideStats {
  /** Frames read from the port and handed to the guest's netfront. */
  fromPort: number;
  /** Frames the guest's netfront received, written to the port. */
  toPort: number;
  /** Frames read from the port that found no skb memory (dropped, as an allocation failure is). */
  noMemory: number;
  /** Frames read from the port that a guest cannot send: over 64 KiB - 1, or a virtio_net_hdr Linux rejects. */
  invalid: number;
}

export interface LiveDomuDomuReport {
  readonly queues: number;
  readonly persistent: boolean;
  readonly a: Readonly<LiveSideStats> & { readonly netfront: Readonly<Record<string, number>> };
  readonly b: Readonly<LiveSideStats> & { readonly netfront: Readonly<Record<string, number>> };
  readonly counters: { readonly a: Readonly<Record<string, number>>; readonly b: Readonly<Record<string, number>> };
  /** Frames the vifs' qdiscs dropped (a stopped queue's backlog at tx_queue_len). */
  readonly qdiscDropped: { readonly a: number; readonly b: number };
  /** Virtual time the run took. */
  readonly modelledNs: number;
  readonly pcap?: ReadonlyArray<{ readonly path: string; readonly packets: number }>;
  readonly teardown: TeardownAudit;
}

interface Side {
  readonly port: FramePort;
  readonly netfront: Netfront;
  readonly skbs: SkbAllocator;
  readonly stats: LiveSideStats;
  /** A frame the netfront refused (its queue stopped): sent first next turn; the port waits meanwhile. */
  held: SkBuff | undefined;
  /** The skb the next TAP read fills (a large frame keeps it), and its head as one view (or null). */
  spare: SkBuff | undefined;
  spareView: Uint8Array | null;
}

export class LiveDomuDomu {
  private readonly host: Host;
  private readonly wired: DomuDomuWiring;
  private readonly sides: [Side, Side];
  private readonly capture;
  private readonly inBuf = new Uint8Array(PORT_BUFFER);
  /** The struct virtio_net_hdr written before each frame to a port. */
  private readonly outHdr = new Uint8Array(VIRTIO_NET_HDR.SIZEOF);
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private running = false;
  private failure: unknown;
  /** When a turn last moved frames (performance.now()). */
  private lastBusyMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly options: LiveDomuDomuOptions,
    ports: readonly [FramePort, FramePort],
  ) {
    const queues = options.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1 || queues > 8) throw new RangeError("--queues must be 1..8");
    // No trace: a live run is paced by real traffic and never replays, so nothing reads a digest.
    this.host = new Host({ seed: options.seed ?? 1, trace: "off" });
    this.capture = vifCapture(this.host, options);
    const stats = (): LiveSideStats => ({ fromPort: 0, toPort: 0, noMemory: 0, invalid: 0 });
    const sa = stats();
    const sb = stats();
    // The guest's stack hands the frame to the port: the TAP write gathers it from the skb's own
    // pages (skb_to_sgvec), so the only copy is the kernel's.
    const parts: Uint8Array[] = [];
    const deliver = (port: FramePort, s: LiveSideStats) => (skb: SkBuff) => {
      parts.length = 0;
      if (port.vnetHdr) {
        vnetHdrFromSkb(skb, this.outHdr, 0);
        parts.push(this.outHdr);
      }
      skb.toSgvec(0, Math.min(skb.len, MAX_PORT_FRAME), parts);
      port.writev(parts);
      parts.length = 0;
      skb.free();
      s.toPort++;
    };
    this.wired = wireDomuDomu(this.host, options, queues, this.capture, {
      a: { onReceive: deliver(ports[0], sa) },
      b: { onReceive: deliver(ports[1], sb) },
    });
    const w = this.wired;
    this.sides = [
      { port: ports[0], netfront: w.netfrontA, skbs: w.memoryA.skbs, stats: sa, held: undefined, spare: undefined, spareView: null },
      { port: ports[1], netfront: w.netfrontB, skbs: w.memoryB.skbs, stats: sb, held: undefined, spare: undefined, spareView: null },
    ];
  }

  /** Start carrying frames (turns on the event loop) until `stop`. */
  start(): void {
    this.running = true;
    this.schedule(true);
  }

  /**
   * Stop carrying frames, detach both vifs (xl network-detach), tear down and audit. Throws the
   * error that ended a turn, if one did (after the teardown).
   */
  stop(): LiveDomuDomuReport {
    this.running = false;
    if (this.timer !== undefined) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
    }
    for (const s of this.sides) {
      s.held?.free();
      s.held = undefined;
      s.spare?.free();
      s.spare = undefined;
    }
    const w = this.wired;
    const { hv } = this.host;
    try {
      const counters = { a: { ...w.vifA.counters() }, b: { ...w.vifB.counters() } };
      const qdiscDropped = { a: w.ports.get(w.vifA)?.qdiscDropped ?? 0, b: w.ports.get(w.vifB)?.qdiscDropped ?? 0 };
      const netfront = [{ ...w.netfrontA.stats() }, { ...w.netfrontB.stats() }];
      const modelledNs = hv.sim.clock.now();
      const queues = w.netfrontA.numQueues;
      const teardown = detachAndAudit(this.host, w.dom0, w.dom0Memory, w.netback, [
        { kernel: w.guestA, memory: w.memoryA, netfront: w.netfrontA },
        { kernel: w.guestB, memory: w.memoryB, netfront: w.netfrontB },
      ]);
      if (this.failure !== undefined) throw this.failure;
      return {
        queues,
        persistent: this.options.persistent === true,
        a: { ...this.sides[0].stats, netfront: netfront[0] as Record<string, number> },
        b: { ...this.sides[1].stats, netfront: netfront[1] as Record<string, number> },
        counters,
        qdiscDropped,
        modelledNs,
        ...(this.capture === undefined ? {} : { pcap: this.capture.summary() }),
        teardown,
      };
    } finally {
      this.capture?.close();
    }
  }

  /** Frames carried so far, both ways. */
  get carried(): number {
    return this.sides[0].stats.fromPort + this.sides[1].stats.fromPort;
  }

  private schedule(busy: boolean): void {
    if (!this.running) return;
    const now = performance.now();
    if (busy) this.lastBusyMs = now;
    const spin = now - this.lastBusyMs < LIVE_SPIN_MS;
    this.timer = spin ? setImmediate(() => this.turn()) : setTimeout(() => this.turn(), IDLE_POLL_MS);
  }

  private turn(): void {
    if (!this.running) return;
    let moved = 0;
    try {
      for (const s of this.sides) moved += this.pull(s);
      this.host.run({ maxEvents: LIVE_TURN_EVENTS });
    } catch (e) {
      // Our own broken invariant: stop carrying, keep the error for `stop` to report.
      this.failure = e;
      this.running = false;
      return;
    }
    this.schedule(moved > 0);
  }

  /** Hand what waits on a side's port to its netfront; returns the frames handed over. */
  private pull(s: Side): number {
    if (s.held !== undefined) {
      if (s.netfront.startXmit(s.held) !== NETDEV_TX_OK) return 0;
      s.held = undefined;
      s.stats.fromPort++;
    }
    let n = 0;
    const at = s.port.vnetHdr ? VIRTIO_NET_HDR.SIZEOF : 0;
    while (n < LIVE_BATCH_FRAMES) {
      // The TAP read lands in the spare skb's head when that is one run of machine memory (the
      // kernel's copy is then the only one); otherwise in the port buffer.
      const into = this.readTarget(s, at) ?? this.inBuf;
      const got = s.port.read(into);
      if (got === 0) break;
      n++;
      const len = got - at;
      if (len < 14 || len > MAX_PORT_FRAME) {
        s.stats.invalid++;
        continue;
      }
      let skb: SkBuff | null;
      if (into !== this.inBuf && len > LIVE_COPY_BELOW) {
        // A large frame: the spare skb is the guest's skb. Its copy from user space is charged.
        skb = s.spare as SkBuff;
        s.spare = undefined;
        skb.put(len);
        s.skbs.costs?.charge(COST_MEMCPY, len);
      } else {
        skb = s.skbs.allocSkb(len);
        if (skb === null) {
          s.stats.noMemory++;
          continue;
        }
        skb.putData(into.subarray(at, got));
      }
      if (s.port.vnetHdr && !vnetHdrToSkb(into, 0, skb)) {
        skb.free();
        s.stats.invalid++;
        continue;
      }
      if (s.netfront.startXmit(skb) !== NETDEV_TX_OK) {
        // NETDEV_TX_BUSY: the queue stopped; the qdisc keeps the skb and the port waits (the
        // kernel's own TAP queue holds what comes meanwhile, and drops past its length).
        s.held = skb;
        break;
      }
      s.stats.fromPort++;
    }
    return n;
  }

  /**
   * Where the next TAP read goes: the virtio_net_hdr and the largest frame (and a byte more, to
   * see one larger) over the spare skb's head, allocated here when there is none. Null when no
   * skb can be had or its head is not one run of machine memory.
   */
  private readTarget(s: Side, hdr: number): Uint8Array | null {
    if (s.spare === undefined) {
      const skb = s.skbs.allocSkb(hdr + MAX_PORT_FRAME + 1);
      if (skb === null) return null;
      skb.reserve(hdr);
      s.spare = skb;
      s.spareView = null;
      // Views of the head as a frame would fill it: the header in the headroom, then the data.
      skb.push(hdr);
      skb.put(hdr + MAX_PORT_FRAME + 1 - skb.len);
      const views: Uint8Array[] = [];
      if (skb.toSgvec(0, skb.len, views) === 1) s.spareView = views[0] as Uint8Array;
      skb.trim(hdr);
      skb.pull(hdr);
    }
    return s.spareView;
  }
}
