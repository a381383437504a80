/**
 * A learning Ethernet bridge in Dom0 (Linux's bridge with vifs as its ports, br_handle_frame /
 * br_fdb_update / br_forward / br_flood): frames from one vif go out of the port that last sent
 * from their destination address, or are flooded to every other port when the destination is
 * unknown, broadcast or multicast. The forwarding database is bounded.
 */
import type { SkBuff } from "@pvnet/skb-model";

/** A bridge port: a name and how to transmit an skb out of it (the port takes ownership). */
export interface BridgePort {
  readonly name: string;
  /** ndo_start_xmit of the port's device. */
  transmit(skb: SkBuff): void;
}

/**
 * Entries in the forwarding database. Linux bounds it with `max_fdb_entries` (unbounded by
 * default) and ages entries out; a fixed bound keeps the model's memory bounded whatever the
 * guests send: when full, the oldest entry makes room.
 */
export const BRIDGE_FDB_MAX = 1024;

/**
 * Counters of the bridge: frames received, forwarded to one port, flooded, filtered and too short,
 * and addresses learned into the forwarding database.
 */
export interface BridgeStats {
  received: number;
  forwarded: number;
  flooded: number;
  /** Frames whose destination sits behind the port they came in on (dropped, as br_forward does). */
  filtered: number;
  /** Frames too short to carry an Ethernet header. */
  runts: number;
  learned: number;
}

/**
 * Dom0's learning bridge between vifs (Linux net/bridge: br_handle_frame, br_fdb_update,
 * br_forward, br_flood) with a bounded forwarding database.
 */
export class LearningBridge {
  readonly stats: BridgeStats = { received: 0, forwarded: 0, flooded: 0, filtered: 0, runts: 0, learned: 0 };
  private readonly ports: BridgePort[] = [];
  /** MAC (as a 48-bit number) -> port; Map keeps insertion order for eviction. */
  private readonly fdb = new Map<number, BridgePort>();
  private readonly header = new Uint8Array(12);

  /** Entries in the forwarding database. */
  get fdbSize(): number {
    return this.fdb.size;
  }

  /** Attach a port (brctl addif): frames from it are learned and forwarded, and it takes part in floods. */
  addPort(port: BridgePort): void {
    this.ports.push(port);
  }

  /**
   * Detach a port (brctl delif): it leaves the flood set and its forwarding-database entries are
   * flushed (br_fdb_delete_by_port).
   */
  removePort(port: BridgePort): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
    for (const [mac, p] of this.fdb) if (p === port) this.fdb.delete(mac);
  }

  /** br_handle_frame: a frame received on `ingress`. The bridge consumes the skb. */
  receive(ingress: BridgePort, skb: SkBuff): void {
    this.stats.received++;
    if (skb.len < 14 || skb.copyBits(0, this.header, 0, 12) !== 0) {
      this.stats.runts++;
      skb.free();
      return;
    }
    const h = this.header;
    const dst = macNumber(h, 0);
    const src = macNumber(h, 6);
    // br_fdb_update: learn where the source lives (unicast sources only).
    if (((h[6] as number) & 1) === 0 && this.fdb.get(src) !== ingress) {
      this.fdb.delete(src);
      if (this.fdb.size >= BRIDGE_FDB_MAX) this.fdb.delete(this.fdb.keys().next().value as number);
      this.fdb.set(src, ingress);
      this.stats.learned++;
    }
    const out = ((h[0] as number) & 1) === 0 ? this.fdb.get(dst) : undefined;
    if (out === ingress) {
      this.stats.filtered++;
      skb.free();
    } else if (out !== undefined) {
      this.stats.forwarded++;
      out.transmit(skb);
    } else {
      // br_flood: a clone to every other port.
      this.stats.flooded++;
      for (const p of this.ports) {
        if (p === ingress) continue;
        const c = skb.clone();
        if (c !== null) p.transmit(c);
      }
      skb.free();
    }
  }
}

function macNumber(b: Uint8Array, off: number): number {
  let n = 0;
  for (let i = 0; i < 6; i++) n = n * 256 + (b[off + i] as number);
  return n;
}
