/**
 * The control ring end to end in netback: a frontend writes ctrl-ring-ref / event-channel-ctrl,
 * connect_ctrl_ring maps it, requests get their statuses (NOT_SUPPORTED for unknown and gref
 * types, INVALID_PARAMETER for out-of-range sizes, keys and mappings), and once a Toeplitz
 * mapping is set, xenvif_select_queue puts each RX flow on the queue its hash maps to.
 */
import {
  XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
  XEN_NETIF_CTRL_HASH_TYPE_IPV4,
  XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
  XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
  XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
  XEN_NETIF_CTRL_STATUS_SUCCESS,
  XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
  XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
  XEN_NETIF_CTRL_TYPE_INVALID,
  XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
  XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
  XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
} from "@pvnet/netif";
import { SkbComposer } from "@pvnet/skb-model";
import { describe, expect, test } from "vitest";
import { toeplitzHash, xenvifCtrl, xenvifStartXmit } from "../src/index.js";
import { CtrlClient } from "./ctrl-client.js";
import { MS_KEY, World } from "./harness.js";


function connected(queues: number) {
  const w = new World({ ctrlRing: true, dom0Vcpus: 4 });
  const fe = w.frontend({ queues });
  const ctrl = new CtrlClient(w, fe);
  w.run();
  expect(fe.vif.connected).toBe(true);
  expect(w.toolstack.read(`${fe.paths.backend}/feature-ctrl-ring`)).toBe("1");
  return { w, fe, ctrl };
}

const S = XEN_NETIF_CTRL_STATUS_SUCCESS;
const INVAL = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
const NOTSUP = XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;

describe("netback control ring", () => {
  test("without ctrl-ring-ref nothing is mapped; without the option feature-ctrl-ring is 0", () => {
    const w = new World();
    const fe = w.frontend();
    w.run();
    expect(w.toolstack.read(`${fe.paths.backend}/feature-ctrl-ring`)).toBe("0");
    expect(xenvifCtrl(fe.vif)).toBeUndefined();
  });

  test("negotiation: algorithm, flags, key, mapping size and mapping, each answered with Linux's status", () => {
    const { ctrl, fe } = connected(4);
    ctrl.data.set(MS_KEY, 0);
    const r = ctrl.send([
      [XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ],
      [XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, ctrl.dataRef, 40],
      [XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 16],
    ]);
    expect(r).toEqual([
      [XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, NOTSUP, 0],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, S, 0],
      [XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, S, 0xf],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, S, 0],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, S, 0],
      [XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, S, 128],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, S, 0],
    ]);
    const table = Array.from({ length: 16 }, (_, i) => (i * 3) % 4);
    ctrl.putU32s(table);
    expect(ctrl.send([[XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 16, 0]])).toEqual([[XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, S, 0]]);
    expect(xenvifCtrl(fe.vif)!.hash.liveMapping()).toEqual(table);
    expect(Array.from(xenvifCtrl(fe.vif)!.hash.key)).toEqual(Array.from(MS_KEY));
  });

  test("a hostile frontend: out-of-range sizes, keys, mappings, unknown types — error replies, nothing thrown", () => {
    const { w, ctrl, fe } = connected(2);
    ctrl.send([
      [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 8],
    ]);
    ctrl.putU32s([0, 1, 2, 0xffffffff]);
    const r = ctrl.send([
      [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, 7],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, 0x100],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, ctrl.dataRef, 41],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, 0xffff, 40],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 129],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 3, 0], // queue 2 of 2 queues
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 2, 0xffffffff], // XSA-270 wrap
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 9, 0],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 0xffff, 1, 0],
      [XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, ctrl.dataRef, 1],
      [XEN_NETIF_CTRL_TYPE_INVALID],
      [0xffff, 1, 2, 3],
    ]);
    expect(r.map((x) => x[1])).toEqual([INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, NOTSUP, NOTSUP, NOTSUP]);
    expect(xenvifCtrl(fe.vif)!.hash.liveMapping()).toEqual(new Array(8).fill(0));
    expect(fe.vif.disabled).toBe(false);
    // A good mapping still goes through afterwards.
    ctrl.putU32s([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(ctrl.send([[XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 8, 0]])[0]![1]).toBe(S);
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test("ring garbage: a req_prod far ahead is answered a ring at a time, without throwing", () => {
    const { w, ctrl, fe } = connected(2);
    const sring = ctrl.ring.sring;
    sring.reqProd = (sring.reqProd + 0x7fff_0000) >>> 0;
    expect(() => {
      w.hv.evtchnSend(fe.vcpu, ctrl.port);
      w.run();
    }).not.toThrow();
    const c = xenvifCtrl(fe.vif)!;
    expect(c.stats.ctrlActionCapped).toBe(1);
    expect(c.stats.requests).toBe(c.ring!.size);
    expect(c.ring!.size).toBe(128);
    expect(fe.vif.connected).toBe(true);
  });

  test("RX flows spread by the Toeplitz hash onto the queues the mapping names, byte-exact", () => {
    const { w, ctrl, fe } = connected(4);
    ctrl.data.set(MS_KEY, 0);
    ctrl.send([
      [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, ctrl.dataRef, 40],
      [XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 8],
    ]);
    const table = [3, 1, 0, 2, 2, 0, 1, 3];
    ctrl.putU32s(table);
    expect(ctrl.send([[XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, ctrl.dataRef, 8, 0]])[0]![1]).toBe(S);
    for (let q = 0; q < 4; q++) fe.postRx(32, q);
    w.run();
    const composer = new SkbComposer(w.skbs);
    const expected: Uint8Array[][] = [[], [], [], []];
    for (let flow = 0; flow < 16; flow++) {
      const src = [10, 0, 0, 1 + flow];
      const dst = [10, 0, 1, 1];
      const sp = 40000 + flow * 7;
      const dp = 5001;
      const tuple = Uint8Array.from([...src, ...dst, sp >> 8, sp & 0xff, dp >> 8, dp & 0xff]);
      const q = table[toeplitzHash(MS_KEY, 40, tuple, 12) % 8]!;
      for (let seq = 0; seq < 2; seq++) {
        const f = new Uint8Array(14 + 20 + 20 + 64);
        f.set([0, 0x16, 0x3e, 0, 0, 1, 0, 0x16, 0x3e, 0, 0, 2, 0x08, 0x00]);
        f.set([0x45, 0, 0, 104, 0, 0, 0x40, 0, 64, 6, 0, 0, ...src, ...dst], 14);
        f.set([sp >> 8, sp & 0xff, dp >> 8, dp & 0xff], 34);
        f.fill(flow * 16 + seq, 54);
        expected[q]!.push(f);
        xenvifStartXmit(fe.vif, composer.compose({ linearLen: f.length }, f)!);
      }
    }
    w.run();
    for (let q = 0; q < 4; q++) expect(fe.rxPackets(q).map((p) => p.bytes)).toEqual(expected[q]);
    expect(expected.filter((e) => e.length > 0).length).toBeGreaterThan(1);
  });

  test("the backend closing unmaps the control ring", () => {
    const { w, fe } = connected(2);
    expect(xenvifCtrl(fe.vif)).toBeDefined();
    fe.switchState(5); // Closing
    w.run();
    expect(xenvifCtrl(fe.vif)).toBeUndefined();
  });
});
