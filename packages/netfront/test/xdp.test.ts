import { NETRXF_data_validated } from "@pvnet/netif";
import { EINVAL } from "@pvnet/skb-model";
import { XBT_NIL, XenbusState, xenbusRead } from "@pvnet/xenstore";
import { describe, expect, it } from "vitest";
import { NET_RX_RING_SIZE, RX_BUILD_SKB_HEADROOM, XDP_ABORTED, XDP_DROP, XDP_PACKET_HEADROOM, XDP_PASS, XDP_REDIRECT, XDP_TX, type XdpProgram } from "../src/index.js";
import { allStats, frame, makeWorld, type World } from "./world.js";

const CLEAN = { grants: 0, reservedRefs: 0, deferredGrants: 0, txInFlight: 0, rxPosted: 0, evtchns: 0 };

function world(build: boolean, xdpHeadroom = true): World {
  const w = makeWorld({ features: { xdpHeadroom }, netfront: { rxBuildSkb: build } });
  w.run();
  return w;
}

function attach(w: World, prog: XdpProgram | null): void {
  expect(w.fe.setXdp(prog)).toBe(0);
  w.run();
  expect(w.fe.state).toBe(XenbusState.Connected);
}

function headroomKey(w: World): string | undefined {
  return xenbusRead(w.store.connect(0), XBT_NIL, w.fe.info.xbdev.nodename, "xdp-headroom");
}

function teardownIsClean(w: World): void {
  for (const skb of w.received) skb.free();
  w.received.length = 0;
  w.fe.close();
  w.run();
  expect(w.fe.state).toBe(XenbusState.Closed);
  w.skbs.drain();
  expect(w.fe.outstanding()).toEqual(CLEAN);
  expect(w.pool.pagesInUse).toBe(0);
  expect(w.skbs.liveSkbs).toBe(0);
  expect(w.grants.outstanding(w.domU).pins).toBe(0);
}

const PATHS = [
  { name: "copy path (Linux netfront)", build: false, idle: 0 },
  { name: "build_skb path", build: true, idle: RX_BUILD_SKB_HEADROOM },
];

describe("XDP on netfront RX (Linux 5.9+)", () => {
  for (const p of PATHS) {
    it(`${p.name}: xennet_xdp_set goes Reconfiguring -> backend Reconfigured -> Connected with xdp-headroom ${XDP_PACKET_HEADROOM}, and back`, () => {
      const w = world(p.build);
      expect(headroomKey(w)).toBe(String(p.idle));
      const prog: XdpProgram = () => "pass";
      expect(w.fe.setXdp(prog)).toBe(0);
      // Until the backend has answered, the old program (none) stays in effect.
      expect(w.fe.state).toBe(XenbusState.Reconfiguring);
      expect(w.fe.xdpProgram).toBeNull();
      w.run();
      expect(w.be.dev.state).toBe(XenbusState.Reconfigured);
      expect(w.fe.state).toBe(XenbusState.Connected);
      expect(w.fe.xdpProgram).toBe(prog);
      expect(headroomKey(w)).toBe(String(XDP_PACKET_HEADROOM));
      expect(w.be.xdpHeadroom).toBe(XDP_PACKET_HEADROOM);
      // The backend now puts the data after the headroom, with the XDP extra: byte-exact.
      const f = frame(1000, 3);
      expect(w.be.sendRx(f)).toBe(true);
      w.run();
      expect(w.received[0]?.toBytes()).toEqual(f);
      if (p.build) expect(w.received[0]?.headroom).toBe(XDP_PACKET_HEADROOM);
      expect(allStats(w)).toMatchObject({ xdpPackets: 1, xdpPass: 1, rxPackets: 1, rxErrors: 0 });
      attach(w, null);
      expect(w.fe.xdpProgram).toBeNull();
      expect(headroomKey(w)).toBe(String(p.idle));
      // The backend is still in Reconfigured from the attach, so xennet_xdp_set does not wait:
      // the frontend is Connected again before the backend's watch runs, which then reads
      // Connected, not Reconfiguring, and keeps the old headroom (Linux has the same race).
      // Frames still arrive byte-exact: the XDP extra names the offset.
      expect(w.be.xdpHeadroom).toBe(XDP_PACKET_HEADROOM);
      expect(w.be.sendRx(f)).toBe(true);
      w.run();
      expect(w.received[1]?.toBytes()).toEqual(f);
      expect(allStats(w).xdpPackets).toBe(1);
      teardownIsClean(w);
    });

    it(`${p.name}: each verdict — PASS delivered, DROP and ABORTED dropped (rx_errors, as Linux), TX back out to Dom0 byte-exact`, () => {
      const w = world(p.build);
      let verdict: unknown = "pass";
      const seen: number[] = [];
      attach(w, (fr) => {
        seen.push(fr.length);
        if (verdict === "tx") {
          // Swap the MACs, as an XDP reflector does: Dom0 must see the rewritten bytes.
          const dst = fr.slice(0, 6);
          fr.copyWithin(0, 6, 12);
          fr.set(dst, 6);
        }
        if (verdict === "throw") throw new Error("bug in the program");
        return verdict as "pass";
      });
      const f = frame(64, 1);
      const send = (v: unknown, seq: number): Uint8Array => {
        verdict = v;
        const g = frame(64, 1, seq);
        expect(w.be.sendRx(g, { flags: NETRXF_data_validated })).toBe(true);
        w.run();
        return g;
      };
      const passed = send("pass", 0);
      expect(w.received.map((s) => s.toBytes())).toEqual([passed]);
      send("drop", 1);
      send(XDP_DROP, 2);
      send("aborted", 3);
      send(XDP_ABORTED, 4);
      send("throw", 5);
      send("garbage", 6);
      send(99, 7);
      send(XDP_REDIRECT, 8); // no redirect target in the model: fails, frame dropped
      const reflected = send("tx", 9);
      send(XDP_TX, 10);
      send(XDP_PASS, 11);
      expect(w.received).toHaveLength(2);
      expect(seen).toEqual(new Array(12).fill(f.length));
      const st = allStats(w);
      expect(st).toMatchObject({ xdpPackets: 12, xdpPass: 2, xdpDrop: 2, xdpAborted: 6, xdpTx: 2, xdpTxErrors: 0, rxPackets: 2, rxErrors: 10 });
      // XDP_TX: out through netfront's TX ring, one request granting the receive page.
      expect(st.txPackets).toBe(2);
      expect(st.txBytes).toBe(128);
      expect(w.be.packets).toHaveLength(2);
      const out = w.be.packets[0];
      const want = reflected.slice();
      want.set(reflected.subarray(6, 12), 0);
      want.set(reflected.subarray(0, 6), 6);
      expect(out?.data).toEqual(want);
      expect(out?.requests).toHaveLength(1);
      expect(out?.requests[0]?.offset).toBe(XDP_PACKET_HEADROOM);
      // Every receive buffer is posted again; every TX slot came back.
      expect(w.fe.outstanding()).toMatchObject({ rxPosted: NET_RX_RING_SIZE, txInFlight: 0 });
      teardownIsClean(w);
    });

    it(`${p.name}: a multi-buffer packet is dropped while a program is attached (Linux runs XDP on one page only)`, () => {
      const w = world(p.build);
      let runs = 0;
      attach(w, () => {
        runs++;
        return "pass";
      });
      expect(w.be.sendRx(frame(6000, 2, 0, 6))).toBe(true);
      w.run();
      expect(w.received).toHaveLength(0);
      expect(runs).toBe(0);
      expect(allStats(w)).toMatchObject({ xdpMultiBuffer: 1, rxErrors: 1, xdpPackets: 0 });
      teardownIsClean(w);
    });
  }

  it("refuses a program with an MTU above XEN_PAGE_SIZE - XDP_PACKET_HEADROOM; no feature-xdp-headroom: 0 and nothing attached", () => {
    const w = world(false);
    expect(w.fe.changeMtu(9000)).toBe(0);
    expect(w.fe.setXdp(() => "drop")).toBe(-EINVAL);
    expect(w.fe.alerts.at(-1)).toBe(`XDP requires MTU less than ${4096 - XDP_PACKET_HEADROOM}`);
    expect(w.fe.changeMtu(1500)).toBe(0);
    expect(w.fe.setXdp(() => "drop")).toBe(0);
    w.run();
    expect(w.fe.xdpProgram).not.toBeNull();
    teardownIsClean(w);
    const n = world(false, false);
    expect(n.fe.setXdp(() => "drop")).toBe(0);
    n.run();
    expect(n.fe.xdpProgram).toBeNull();
    expect(n.fe.state).toBe(XenbusState.Connected);
    teardownIsClean(n);
  });

  it("XDP_TX with the TX ring full is refused (xdpTxErrors) and the page returned; teardown with frames in flight is clean", () => {
    for (const build of [false, true]) {
      const w = world(build);
      w.be.autoTx = false; // Dom0 does not answer: the TX ring fills up
      attach(w, () => "tx");
      let sent = 0;
      for (let i = 0; i < 300; i++) {
        if (!w.be.sendRx(frame(64, 1, i))) break;
        sent++;
        w.run();
      }
      const st = allStats(w);
      expect(st.xdpTx + st.xdpTxErrors).toBe(sent);
      expect(st.xdpTxErrors).toBeGreaterThan(0);
      expect(w.fe.outstanding().txInFlight).toBe(st.xdpTx);
      teardownIsClean(w);
    }
  });

  it("attach and detach mid-run: traffic before, during and after keeps flowing, nothing leaks at teardown", () => {
    for (const build of [false, true]) {
      const w = world(build);
      const want: Uint8Array[] = [];
      // Byte 50 of frame(200, 1, seq) is odd exactly when seq is even: the program drops those.
      const burst = (seqs: number[], dropped: (seq: number) => boolean): void => {
        seqs.forEach((seq, i) => {
          const f = frame(200, 1, seq);
          if (!dropped(seq)) want.push(f);
          expect(w.be.sendRx(f, { notify: i === seqs.length - 1 })).toBe(true);
        });
      };
      const odd = Array.from({ length: 20 }, (_, i) => 2 * i + 1);
      const all = Array.from({ length: 20 }, (_, i) => 100 + i);
      burst(odd, () => false);
      // Attach while 20 responses (without the XDP headroom) are still unread.
      expect(w.fe.setXdp((fr) => ((fr[50] as number) & 1 ? "drop" : "pass"))).toBe(0);
      w.run();
      expect(w.fe.xdpProgram).not.toBeNull();
      burst(all, (seq) => seq % 2 === 0);
      w.run();
      attach(w, null);
      burst(all, () => false);
      w.run();
      expect(w.received.map((s) => s.toBytes())).toEqual(want);
      expect(allStats(w)).toMatchObject({ rxPackets: 50, xdpDrop: 10 });
      teardownIsClean(w);
      // Reconnect keeps working with no program.
      w.fe.reconnect();
      w.run();
      expect(w.fe.connected).toBe(true);
      expect(w.be.sendRx(frame(64))).toBe(true);
      w.run();
      expect(w.received[0]?.toBytes()).toEqual(frame(64));
      teardownIsClean(w);
    }
  });
});
