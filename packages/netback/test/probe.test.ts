import { XBT_NIL, XenbusState, xenbusPrintf, xenbusReadDriverState } from "@pvnet/xenstore";
import { describe, expect, test } from "vitest";
import { World } from "./harness.js";

describe("probing backend devices (xenbus_probe_node)", () => {
  test.each([0, 9, 255])("a frontend writing state %i gets its device removed once, not removed and re-probed forever", (state) => {
    let created = 0;
    const w = new World({ onVifCreated: () => created++ });
    const fe = w.frontend();
    w.run();
    expect(fe.connectedCount).toBe(1);
    xenbusPrintf(fe.xenbus.conn, XBT_NIL, fe.dev.nodename, "state", state);
    const r = w.hv.run({ maxEvents: 20_000 });
    expect(r.reason).toBe("idle");
    expect(created).toBe(1);
    // The backend's directory is still there (the toolstack owns it); the backend left it Closed
    // or Closing, so it is not new and is never probed again.
    const be = xenbusReadDriverState(w.toolstack, fe.paths.backend);
    expect([XenbusState.Closing, XenbusState.Closed]).toContain(be);
  });
});
