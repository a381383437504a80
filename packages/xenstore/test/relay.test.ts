import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createXenstoredRelay, XenStore, type XenstoredServer, XenstoredPortServer, XS_TYPE } from "../src/index.js";
import { RawClient, text } from "./wire-client.js";

let dir: string;
let store: XenStore;
let relay: XenstoredServer;
let served: XenstoredPortServer;
const clients: RawClient[] = [];

/** Poll the store's end until it has handled `n` relayed requests (they cross a socket and a port first). */
async function pollUntil(n: number): Promise<number> {
  let handled = 0;
  for (let i = 0; i < 400 && handled < n; i++) {
    handled += served.poll();
    if (handled < n) await new Promise((r) => setTimeout(r, 5));
  }
  return handled;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "pvnet-xs-relay-"));
  store = new XenStore();
  const { port1, port2 } = new MessageChannel();
  relay = await createXenstoredRelay(port1, { socketPath: join(dir, "socket"), maxOutputBytes: 64 * 1024 });
  // listen: false — served only by poll(), as a thread busy running a model serves it.
  served = new XenstoredPortServer(store, port2, { listen: false });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  served.close();
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("xenstored relay", () => {
  it("relays a socket client's requests to the store's thread, which answers them when it polls", async () => {
    const c = await RawClient.connect(relay.socketPath);
    clients.push(c);
    store.connect(0).write("/local/domain/0/backend/vif/1/0/state", "4");
    c.send(XS_TYPE.READ, "/local/domain/0/backend/vif/1/0/state\0", 9);
    // open + data: nothing is answered before the store's thread polls.
    expect(await pollUntil(2)).toBe(2);
    const [r] = await c.take(1);
    expect([r?.type, r?.reqId, text(r)]).toEqual([XS_TYPE.READ, 9, "4"]);
    expect(served.clientCount).toBe(1);
    c.send(XS_TYPE.READ, "/nope\0", 10);
    expect(await pollUntil(1)).toBe(1); // queued until the store's thread polled
    const [e] = await c.take(1);
    expect([e?.type, e?.reqId, text(e)]).toEqual([XS_TYPE.ERROR, 10, "ENOENT\0"]);
  });

  it("fires watches for relayed clients: the WATCH's initial event, then one per write of the model", async () => {
    const c = await RawClient.connect(relay.socketPath);
    clients.push(c);
    c.send(XS_TYPE.WATCH, "/local/domain/1\0tok\0", 3);
    expect(await pollUntil(2)).toBe(2);
    const [ok, initial] = await c.take(2);
    expect([ok?.type, text(ok)]).toEqual([XS_TYPE.WATCH, "OK\0"]);
    expect([initial?.type, text(initial)]).toEqual([XS_TYPE.WATCH_EVENT, "/local/domain/1\0tok\0"]);
    // The model writes during a slice; the event goes out at the next poll.
    store.connect(0).write("/local/domain/1/device/vif/0/state", "4");
    served.poll();
    const [ev] = await c.take(1);
    expect([ev?.type, text(ev)]).toEqual([XS_TYPE.WATCH_EVENT, "/local/domain/1/device/vif/0/state\0tok\0"]);
  });

  it("an oversized frame costs only that client its connection; closing the store's end disconnects the rest and the socket goes", async () => {
    const bad = await RawClient.connect(relay.socketPath);
    const good = await RawClient.connect(relay.socketPath);
    clients.push(bad, good);
    const hdr = new Uint8Array(16);
    new DataView(hdr.buffer).setUint32(12, 5000, true); // len past XENSTORE_PAYLOAD_MAX
    hdr[0] = XS_TYPE.READ;
    bad.sendRaw(hdr);
    good.send(XS_TYPE.WRITE, "/a\0b", 1);
    expect(await pollUntil(4)).toBe(4);
    const [e2big] = await bad.take(1);
    expect(text(e2big)).toBe("E2BIG\0");
    expect(await bad.waitClosed()).toBe(true);
    expect(text((await good.take(1))[0])).toBe("OK\0");
    expect(store.connect(0).read("/a")).toBe("b");
    served.close();
    expect(await good.waitClosed()).toBe(true);
    await relay.close();
    expect(existsSync(join(dir, "socket"))).toBe(false);
  });
});
