import { NETIF_XS_KEY, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_XDP } from "@pvnet/netif";
import { SEED5_WORST_CASE, SKB_GSO_TCPV4, type SkBuff, SkbComposer, type SkbDesc, skbDescLen } from "@pvnet/skb-model";
import { XBT_NIL, XenbusState, xenbusPrintf, xenbusRead } from "@pvnet/xenstore";
import { describe, expect, test } from "vitest";
import { NETDEV_TX_OK, xenvifStartXmit } from "../src/index.js";
import { makeFrame, World } from "./harness.js";

function compose(w: World, desc: SkbDesc, seed: number): { skb: SkBuff; bytes: Uint8Array } {
  const bytes = makeFrame(skbDescLen(desc), seed);
  const skb = new SkbComposer(w.skbs).compose(desc, bytes);
  if (skb === null) throw new Error("compose failed");
  return { skb, bytes };
}

describe("xdp-headroom (Linux 5.9+ xen-netback: provides_xdp_headroom)", () => {
  test("offered only when configured; the frontend's xdp-headroom is read at connect", () => {
    const off = new World();
    const a = off.frontend({ xdpHeadroom: 256 });
    off.run();
    expect(xenbusRead(off.toolstack, XBT_NIL, a.paths.backend, NETIF_XS_KEY.FEATURE_XDP_HEADROOM)).toBeUndefined();
    expect(a.vif.xdpHeadroom).toBe(0);
    const on = new World({ xdpHeadroom: true });
    const b = on.frontend({ xdpHeadroom: 256 });
    on.run();
    expect(xenbusRead(on.toolstack, XBT_NIL, b.paths.backend, NETIF_XS_KEY.FEATURE_XDP_HEADROOM)).toBe("1");
    expect(b.vif.xdpHeadroom).toBe(256);
    // Capped as Linux caps it (XEN_NETIF_MAX_XDP_HEADROOM), and below the page by the model.
    const big = new World({ xdpHeadroom: true });
    const c = big.frontend({ xdpHeadroom: 60000 });
    big.run();
    expect(c.vif.xdpHeadroom).toBe(4095);
  });

  test.each([
    ["64 bytes", { linearLen: 64 } as SkbDesc],
    ["1496 bytes", { linearLen: 1496 } as SkbDesc],
    ["65535 bytes, GSO", { linearLen: 65535 - 15 * 4096, frags: Array.from({ length: 15 }, () => ({ size: 4096, offset: 0 })), gso: { size: 1448, type: SKB_GSO_TCPV4 } } as SkbDesc],
    ["the 51-slot straddling layout from Dom0's side", SEED5_WORST_CASE],
  ])("%s: every data slot after the headroom, the XDP extra after the first, bytes exact", (_name, desc) => {
    const w = new World({ xdpHeadroom: true });
    const fe = w.frontend({ xdpHeadroom: 256 });
    w.run();
    fe.postRx(40);
    w.run();
    const { skb, bytes } = compose(w, desc, 7);
    expect(xenvifStartXmit(fe.vif, skb)).toBe(NETDEV_TX_OK);
    w.run();
    const [p] = fe.rxPackets();
    expect(p?.bytes).toEqual(bytes);
    expect(p?.sizes.every((n) => n <= 4096 - 256)).toBe(true);
    expect(p?.sizes.length).toBe(Math.ceil(bytes.length / (4096 - 256)));
    const types = p?.extras.map((e) => e.type) ?? [];
    expect(types.at(-1)).toBe(XEN_NETIF_EXTRA_TYPE_XDP);
    expect(p?.extras.at(-1)?.xdpHeadroom).toBe(256);
    if (desc.gso) expect(types).toEqual([XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_XDP]);
    expect(w.skbs.liveSkbs).toBe(0);
  });

  test("a frontend going Reconfiguring gets its new headroom read and Reconfigured back", () => {
    const w = new World({ xdpHeadroom: true });
    const fe = w.frontend({ xdpHeadroom: 0 });
    w.run();
    expect(fe.vif.xdpHeadroom).toBe(0);
    xenbusPrintf(fe.xenbus.conn, XBT_NIL, fe.dev.nodename, NETIF_XS_KEY.XDP_HEADROOM, 256);
    fe.switchState(XenbusState.Reconfiguring);
    w.run();
    expect(xenbusRead(w.toolstack, XBT_NIL, fe.paths.backend, "state")).toBe(String(XenbusState.Reconfigured));
    expect(fe.vif.xdpHeadroom).toBe(256);
    expect(fe.vif.connected).toBe(true);
    fe.switchState(XenbusState.Connected);
    w.run();
    expect(fe.vif.connected).toBe(true);
    fe.postRx(2);
    w.run();
    const { skb, bytes } = compose(w, { linearLen: 100 }, 3);
    xenvifStartXmit(fe.vif, skb);
    w.run();
    expect(fe.rxPackets()[0]?.bytes).toEqual(bytes);
  });
});
