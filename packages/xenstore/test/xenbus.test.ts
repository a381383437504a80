import { abiFacts } from "@pvnet/testkit";
import { describe, expect, it } from "vitest";
import {
  isXenstoreError,
  libxlDeviceGenericAdd,
  libxlDomainMake,
  XBT_NIL,
  XenStore,
  Xenbus,
  XenbusState,
  type XenbusStateValue,
  xenbusBackendDevice,
  xenbusDevFatal,
  xenbusFrontendDevice,
  xenbusGather,
  xenbusPrintf,
  xenbusReadDriverState,
  xenbusReadFeature,
  xenbusReadUnsigned,
  xenbusScanfInt,
  xenbusStrstate,
  xenbusSwitchState,
  xenbusWatchOtherend,
} from "../src/index.js";

function twoDomains() {
  const store = new XenStore();
  const toolstack = store.connect(0);
  libxlDomainMake(toolstack, 1, "guest");
  const paths = libxlDeviceGenericAdd(toolstack, {
    devicetype: "vif",
    frontendDomid: 1,
    devid: 0,
    frontendKeys: { mac: "00:16:3e:00:00:01", handle: "0" },
    backendKeys: { mac: "00:16:3e:00:00:01", handle: "0", bridge: "xenbr0" },
  });
  const fePending: string[] = [];
  const fe = new Xenbus(store.connect(1, { onWatchPending: () => fePending.push("fe") }));
  const be = new Xenbus(store.connect(0));
  return { store, toolstack, paths, fe, be, fePending };
}

describe("XenbusState", () => {
  it("matches xenbus.h", () => {
    for (const [name, value] of Object.entries(abiFacts().netif_h.xenbus_states as Record<string, number>)) {
      expect(XenbusState[name.replace("XenbusState", "") as keyof typeof XenbusState]).toBe(value);
      expect(xenbusStrstate(value)).toBe(name.replace("XenbusState", ""));
    }
  });
});

describe("toolstack device directories", () => {
  it("creates frontend and backend dirs with libxl's keys and permissions", () => {
    const { toolstack, paths } = twoDomains();
    expect(paths).toEqual({ frontend: "/local/domain/1/device/vif/0", backend: "/local/domain/0/backend/vif/1/0" });
    expect(toolstack.getPerms(paths.frontend)).toEqual([
      { id: 1, perms: "n" },
      { id: 0, perms: "r" },
    ]);
    expect(toolstack.getPerms(paths.backend)).toEqual([
      { id: 0, perms: "n" },
      { id: 1, perms: "r" },
    ]);
    expect(xenbusGather(toolstack, XBT_NIL, paths.frontend, { backend: "string", "backend-id": "int", state: "int" })).toEqual({
      backend: paths.backend,
      "backend-id": 0,
      state: XenbusState.Initialising,
    });
    expect(xenbusGather(toolstack, XBT_NIL, paths.backend, { frontend: "string", "frontend-id": "int", online: "int" })).toEqual({
      frontend: paths.frontend,
      "frontend-id": 1,
      online: 1,
    });
    expect(toolstack.isDomainIntroduced(1)).toBe(true);
    expect(toolstack.getPerms("/local/domain/1")).toEqual([
      { id: 0, perms: "n" },
      { id: 1, perms: "r" },
    ]);
  });

  it("the guest cannot touch the backend directory or other guests", () => {
    const { store, paths, fe } = twoDomains();
    expect(fe.conn.read(`${paths.backend}/state`)).toBe("1");
    const denied = (fn: () => void) => {
      try {
        fn();
        return "none";
      } catch (err) {
        return isXenstoreError(err) ? err.code : "other";
      }
    };
    expect(denied(() => fe.conn.write(`${paths.backend}/state`, "4"))).toBe("EACCES");
    expect(denied(() => fe.conn.read("/local/domain/0/name"))).toBe("EACCES");
    const d2 = store.connect(2);
    expect(denied(() => d2.read(`${paths.frontend}/mac`))).toBe("EACCES");
  });
});

describe("handshake", () => {
  it("frontend and backend reach Connected through watches on each other's state", () => {
    const { paths, fe, be, fePending } = twoDomains();
    const feDev = xenbusFrontendDevice(fe, "vif", 0);
    const beDev = xenbusBackendDevice(be, "vif", 1, 0);
    expect(feDev.otherend).toBe(paths.backend);
    expect(beDev.otherend).toBe(paths.frontend);
    expect(beDev.otherendId).toBe(1);

    const seenByFe: XenbusStateValue[] = [];
    const seenByBe: XenbusStateValue[] = [];
    // netback: on frontend Initialised -> Connected; netfront: on backend InitWait -> write rings, Initialised.
    xenbusWatchOtherend(beDev, (dev, state) => {
      seenByBe.push(state);
      if (state === XenbusState.Initialised || state === XenbusState.Connected) {
        const rings = xenbusGather(dev.xenbus.conn, XBT_NIL, dev.otherend, { "tx-ring-ref": "int", "rx-ring-ref": "int", "feature-sg": "feature" });
        expect(rings).toEqual({ "tx-ring-ref": 8, "rx-ring-ref": 9, "feature-sg": true });
        xenbusSwitchState(dev, XenbusState.Connected);
      }
    });
    xenbusWatchOtherend(feDev, (dev, state) => {
      seenByFe.push(state);
      if (state === XenbusState.InitWait && dev.state === XenbusState.Initialising) {
        const c = dev.xenbus.conn;
        const tx = c.transactionStart();
        xenbusPrintf(c, tx, dev.nodename, "tx-ring-ref", 8);
        xenbusPrintf(c, tx, dev.nodename, "rx-ring-ref", 9);
        xenbusPrintf(c, tx, dev.nodename, "feature-sg", true);
        c.transactionEnd(tx, true);
        xenbusSwitchState(dev, XenbusState.Initialised);
      }
      if (state === XenbusState.Connected) xenbusSwitchState(dev, XenbusState.Connected);
    });
    xenbusSwitchState(beDev, XenbusState.InitWait);
    // A deterministic runner: step each domain's xenwatch until nothing is pending.
    for (let i = 0; i < 20 && fe.conn.pendingWatchEvents + be.conn.pendingWatchEvents > 0; i++) {
      fe.processWatchEvents(1);
      be.processWatchEvents(1);
    }
    expect(xenbusReadDriverState(be.conn, paths.frontend)).toBe(XenbusState.Connected);
    expect(xenbusReadDriverState(fe.conn, paths.backend)).toBe(XenbusState.Connected);
    expect(seenByFe).toContain(XenbusState.InitWait);
    expect(seenByBe).toContain(XenbusState.Initialised);
    expect(fePending.length).toBeGreaterThan(0);
    expect(xenbusReadFeature(be.conn, paths.frontend, "feature-rx-notify")).toBe(false);
    // The guest reading a state node it may not see (the backend's directory once removed, here a
    // Dom0-only path) gets XenbusStateUnknown, as Linux's xenbus_read_driver_state does on error.
    expect(xenbusReadDriverState(fe.conn, "/local/domain/0/no-such-device")).toBe(XenbusState.Unknown);
    expect(xenbusReadUnsigned(be.conn, paths.frontend, "missing", 7)).toBe(7);
    expect(xenbusScanfInt(be.conn, XBT_NIL, paths.frontend, "tx-ring-ref")).toBe(8);
  });

  it("switch state does nothing when the device dir is gone; dev_fatal records the error and closes", () => {
    const { toolstack, paths, fe } = twoDomains();
    const feDev = xenbusFrontendDevice(fe, "vif", 0);
    xenbusDevFatal(feDev, 12, "allocating rings");
    expect(fe.conn.read(`/local/domain/1/error${paths.frontend}/error`)).toBe("12 allocating rings");
    expect(xenbusReadDriverState(toolstack, paths.frontend)).toBe(XenbusState.Closing);
    toolstack.rm(paths.frontend);
    expect(xenbusSwitchState(feDev, XenbusState.Closed)).toBe(false);
    expect(toolstack.exists(paths.frontend)).toBe(false);
  });

  it("unregistered watches stop calling back", () => {
    const { fe, toolstack, paths } = twoDomains();
    const calls: string[] = [];
    const w = fe.registerXenbusWatch(`${paths.backend}/state`, (p) => calls.push(p));
    fe.processWatchEvents();
    toolstack.write(`${paths.backend}/state`, "2");
    fe.unregisterXenbusWatch(w);
    toolstack.write(`${paths.backend}/state`, "3");
    fe.processWatchEvents();
    expect(calls).toEqual([`${paths.backend}/state`]);
  });
});
