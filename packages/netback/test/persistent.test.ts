import { NETIF_RSP_ERROR, NETIF_RSP_OKAY, writeRxRequest } from "@pvnet/netif";
import { SkbComposer } from "@pvnet/skb-model";
import { OP_COPY, OP_MAP_GRANT_REF, OP_UNMAP_GRANT_REF } from "@pvnet/xen-grant-table";
import { XenbusState } from "@pvnet/xenstore";
import { describe, expect, test } from "vitest";
import { XENVIF_MAX_PGRANTS, xenvifStartXmit } from "../src/index.js";
import { makeFrame, type RawFrontend, World } from "./harness.js";

function connect(backend: boolean, frontend: boolean) {
  const w = new World({ persistentGrants: backend });
  const fe = w.frontend({ persistent: frontend });
  w.run();
  expect(fe.vif.connected).toBe(true);
  return { w, fe };
}

function ops(w: World) {
  const s = w.hv.stats;
  return { copy: s.get(OP_COPY).ops, map: s.get(OP_MAP_GRANT_REF).ops, unmap: s.get(OP_UNMAP_GRANT_REF).ops };
}

/** Write `bytes` into the page behind `gref` that the frontend granted earlier. */
function rewrite(w: World, fe: RawFrontend, gref: number, bytes: Uint8Array): void {
  const gfn = fe.granted.get(gref) as number;
  w.hv.machine.bytes.set(bytes, fe.domain.pageOffset(gfn));
}

describe("feature-persistent negotiation", () => {
  test.each([
    [false, false, 0],
    [false, true, 0],
    [true, false, 0],
    [true, true, 1],
  ])("backend offers %s, frontend asks %s: persistent_grants = %i", (backend, frontend, used) => {
    const { w, fe } = connect(backend, frontend);
    expect(w.toolstack.read(`${fe.paths.backend}/feature-persistent`)).toBe(backend ? "1" : "0");
    expect(fe.vif.persistent).toBe(used === 1);
    expect(fe.vif.counters().persistent_grants).toBe(used);
    // Without both, a packet takes the copy/map path.
    w.hv.stats.reset();
    const frame = makeFrame(1496, 3);
    fe.send(frame, [{ len: 1496 }]);
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(ops(w).map).toBe(1);
    expect(ops(w).unmap).toBe(used === 1 ? 0 : 1);
  });
});

describe("guest TX through the persistent tree", () => {
  test("a first packet misses: header grant-copied, both grants mapped into the tree; the same grants again are pure hits", () => {
    const { w, fe } = connect(true, true);
    w.hv.stats.reset();
    const frame = makeFrame(1496, 7);
    fe.send(frame, [{ len: 100 }, { len: 1396 }]);
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
    expect(ops(w)).toEqual({ copy: 1, map: 2, unmap: 0 });
    expect(fe.txResponses().map((r) => r.status)).toEqual([NETIF_RSP_OKAY, NETIF_RSP_OKAY]);
    const c = fe.vif.counters();
    expect(c).toMatchObject({ persistent_tx_entries: 2, persistent_tx_misses: 2, persistent_tx_maps_added: 2, persistent_tx_hits: 0 });
    // Reuse the two grants with new bytes (as netfront's pool does): no grant op at all.
    const grefs = [...fe.granted.keys()];
    const next = makeFrame(1496, 8);
    rewrite(w, fe, grefs[0]!, next.subarray(0, 100));
    rewrite(w, fe, grefs[1]!, next.subarray(100));
    w.hv.stats.reset();
    fe.send(next, [{ len: 100, gref: grefs[0]! }, { len: 1396, gref: grefs[1]! }]);
    w.run();
    expect(w.received[1]!.bytes).toEqual(next);
    expect(ops(w)).toEqual({ copy: 0, map: 0, unmap: 0 });
    expect(fe.vif.counters()).toMatchObject({ persistent_tx_hits: 2, persistent_tx_misses: 2 });
    // The skb owns local pages: 128 header bytes linear, the rest memcpy'd into one frag page.
    expect(w.received[1]!.headlen).toBe(128);
    expect(w.received[1]!.nrFrags).toBe(1);
  });

  test("a bad gref is answered with an error, nothing delivered, nothing kept in the tree", () => {
    const { w, fe } = connect(true, true);
    const frame = makeFrame(600, 2);
    fe.send(frame, [{ len: 600, gref: 4000 }]);
    w.run();
    expect(w.received).toEqual([]);
    expect(fe.txResponses().map((r) => r.status)).toEqual([NETIF_RSP_ERROR]);
    expect(fe.vif.counters()).toMatchObject({ persistent_tx_entries: 0, persistent_tx_fallbacks: 1, model_tx_errors: 1 });
    expect(fe.vif.disabled).toBe(false);
    // The vif still works.
    fe.send(frame, [{ len: 600 }]);
    w.run();
    expect(w.received.map((r) => r.bytes)).toEqual([frame]);
  });

  test("the tree is bounded: grants beyond XENVIF_MAX_PGRANTS fall back to copy/map, every packet still arrives", () => {
    const { w, fe } = connect(true, true);
    const total = XENVIF_MAX_PGRANTS + 44;
    let sent = 0;
    while (sent < total) {
      for (let k = 0; k < 50 && sent < total; k++, sent++) fe.queuePacket(makeFrame(300, sent), [{ len: 300 }]);
      fe.pushTx();
      w.run();
      expect(fe.txResponses().every((r) => r.status === NETIF_RSP_OKAY)).toBe(true);
    }
    expect(w.received.length).toBe(total);
    for (let i = 0; i < total; i++) expect(w.received[i]!.bytes).toEqual(makeFrame(300, i));
    const c = fe.vif.counters();
    expect(c.persistent_tx_entries).toBe(XENVIF_MAX_PGRANTS);
    expect(c.persistent_tx_maps_added).toBe(XENVIF_MAX_PGRANTS);
    expect(c.persistent_tx_fallbacks).toBe(44);
    expect(c.model_tx_map_ops).toBe(44); // the fallen-back packets' frag maps
  });
});

describe("guest RX through the persistent tree", () => {
  test("the first use of a buffer is grant-copied and mapped; its reuse is a memcpy", () => {
    const { w, fe } = connect(true, true);
    fe.postRx(1);
    w.run();
    const composer = new SkbComposer(w.skbs);
    const a = makeFrame(1000, 1);
    w.hv.stats.reset();
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: 1000 }, a)!);
    w.run();
    expect(fe.rxPackets().map((p) => p.bytes)).toEqual([a]);
    expect(ops(w)).toMatchObject({ copy: 1, map: 1 });
    // Re-post the same buffer (same gref): the next packet goes by memcpy.
    const [id, buf] = [...fe.rxBuffers.entries()][0]!;
    const ring = fe.queues[0]!.rx;
    ring.writeRequest(ring.produceRequest(), writeRxRequest, { id, gref: buf.ref });
    ring.pushRequestsAndCheckNotify();
    const b = makeFrame(1000, 2);
    w.hv.stats.reset();
    xenvifStartXmit(fe.vif, composer.compose({ linearLen: 1000 }, b)!);
    w.run();
    const got = fe.rxPackets();
    expect(got.length).toBe(1);
    expect(got[0]!.bytes).toEqual(b);
    expect(ops(w)).toMatchObject({ copy: 0, map: 0 });
    expect(fe.vif.counters()).toMatchObject({ persistent_rx_hits: 1, persistent_rx_maps_added: 1, persistent_rx_entries: 1 });
  });
});

describe("teardown", () => {
  test("disconnect unmaps every persistent mapping in one batch per tree; the guest can end every grant", () => {
    const { w, fe } = connect(true, true);
    for (let i = 0; i < 5; i++) fe.send(makeFrame(3000, i), [{ len: 1000 }, { len: 2000 }]);
    fe.postRx(3);
    w.run();
    xenvifStartXmit(fe.vif, new SkbComposer(w.skbs).compose({ linearLen: 500 }, makeFrame(500, 9))!);
    w.run();
    expect(fe.vif.counters().persistent_tx_entries).toBe(10);
    expect(fe.vif.counters().persistent_rx_entries).toBe(1);
    const vif = fe.vif;
    w.hv.stats.reset();
    fe.switchState(XenbusState.Closing);
    w.run();
    expect(w.hv.stats.get(OP_UNMAP_GRANT_REF).ops).toBe(10 + 1 + 2); // both trees and the two rings
    expect(w.netback.outstanding()).toEqual({ maps: 0, handles: 0, pins: 0, slotMappings: 0, inflightPackets: 0, dyingQueues: 0 });
    expect(w.grants.outstanding(w.dom0)).toEqual({ maps: 0, handles: 0, pins: 0 });
    expect(fe.releaseRings()).toBe(true);
    expect(fe.releasePages()).toBe(0);
    // Counters survive the trees.
    expect(vif.counters()).toMatchObject({ persistent_tx_entries: 0, persistent_tx_maps_added: 10, persistent_rx_maps_added: 1 });
  });
});

describe("a malicious frontend with persistent grants", () => {
  test("a fuzzed stream of random requests never throws, never reaches outside its grants, and teardown leaves nothing", () => {
    let mapped = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const w = new World({ seed, persistentGrants: true });
      const bad = w.frontend({ persistent: true });
      const good = w.frontend({ persistent: true });
      w.run();
      const prng = w.hv.sim.prng.fork("fuzz");
      const refs = [bad.grantData(makeFrame(4096, seed), 0), bad.grantData(makeFrame(4096, seed + 1), 0)];
      for (let i = 0; i < 40; i++) {
        // Half plausible single-slot packets (they reach the tree), half anything at all.
        const plausible = prng.chance({ numerator: 1, denominator: 2 });
        bad.queueRaw({
          gref: prng.chance({ numerator: 1, denominator: 4 }) ? prng.below(5000) : (refs[prng.below(2)] as number),
          offset: plausible ? prng.below(2000) : prng.below(4200),
          flags: plausible ? 0 : prng.below(16),
          id: prng.below(65536),
          size: plausible ? 14 + prng.below(2000) : prng.below(70000) & 0xffff,
        });
      }
      bad.pushTx();
      // A failure names the seed that replays it.
      const replay = `replay with seed=${seed}`;
      expect(() => w.run(), replay).not.toThrow();
      expect(bad.vif.counters().persistent_tx_entries, replay).toBeLessThanOrEqual(XENVIF_MAX_PGRANTS);
      mapped += bad.vif.counters().persistent_tx_maps_added;
      const f = makeFrame(700, 77);
      good.send(f, [{ len: 700 }]);
      w.run();
      expect(w.received.filter((r) => r.vif === good.vif.name).map((r) => r.bytes), replay).toEqual([f]);
      bad.switchState(XenbusState.Closing);
      good.switchState(XenbusState.Closing);
      w.run();
      expect(w.grants.outstanding(w.dom0), replay).toEqual({ maps: 0, handles: 0, pins: 0 });
      expect(bad.releasePages(), replay).toBe(0);
    }
    expect(mapped).toBeGreaterThan(0); // the stream did reach the persistent path
  });
});
