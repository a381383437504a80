import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createXenstoredServer, encodeMessage, XenStore, type XenstoredServer, XS_TYPE } from "../src/index.js";
import { RawClient, text } from "./wire-client.js";

let dir: string;
let store: XenStore;
let server: XenstoredServer;
const clients: RawClient[] = [];

async function client(): Promise<RawClient> {
  const c = await RawClient.connect(server.socketPath);
  clients.push(c);
  return c;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "pvnet-xs-"));
  store = new XenStore();
  server = await createXenstoredServer(store, { socketPath: join(dir, "socket"), maxOutputBytes: 64 * 1024 });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("xs_wire server", () => {
  it("answers with the request's type, req_id and tx_id", async () => {
    const c = await client();
    const w = await c.request(XS_TYPE.WRITE, "/w\0v", 41);
    expect([w.type, w.reqId, w.txId, text(w)]).toEqual([XS_TYPE.WRITE, 41, 0, "OK\0"]);
    const r = await c.request(XS_TYPE.READ, "/w\0", 42);
    expect([r.type, r.reqId, text(r)]).toEqual([XS_TYPE.READ, 42, "v"]);
    const e = await c.request(XS_TYPE.READ, "/missing\0", 43);
    expect([e.type, e.reqId, text(e)]).toEqual([XS_TYPE.ERROR, 43, "ENOENT\0"]);
    const t = await c.request(XS_TYPE.TRANSACTION_START, "\0", 44);
    expect(text(t)).toBe("1\0");
    const tw = await c.request(XS_TYPE.WRITE, "/tx\0" + "1", 45, 1);
    expect([tw.txId, text(tw)]).toEqual([1, "OK\0"]);
    expect(text(await c.request(XS_TYPE.TRANSACTION_END, "T\0", 46, 1))).toBe("OK\0");
    expect(text(await c.request(XS_TYPE.TRANSACTION_END, "T\0", 47, 999))).toBe("EIO\0");
    expect(text(await c.request(XS_TYPE.GET_DOMAIN_PATH, "3\0"))).toBe("/local/domain/3\0");
    expect(text(await c.request(XS_TYPE.IS_DOMAIN_INTRODUCED, "0\0"))).toBe("F\0");
    expect(text(await c.request(XS_TYPE.SET_PERMS, "/w\0n0\0r5\0"))).toBe("OK\0");
    expect(text(await c.request(XS_TYPE.GET_PERMS, "/w\0"))).toBe("n0\0r5\0");
    expect(text(await c.request(XS_TYPE.CONTROL, "print\0hello\0"))).toBe("OK\0");
    expect(text(await c.request(XS_TYPE.INTRODUCE, "4\0" + "4660\0" + "5\0"))).toBe("OK\0");
    expect(text(await c.request(XS_TYPE.IS_DOMAIN_INTRODUCED, "4\0"))).toBe("T\0");
    expect(text(await c.request(XS_TYPE.RELEASE, "4\0"))).toBe("OK\0");
  });

  it("sends watch events after the WATCH reply, for socket and in-process writers", async () => {
    const c = await client();
    c.send(XS_TYPE.WATCH, "/w\0tokA\0", 7);
    const [ok, initial] = await c.take(2);
    expect([ok!.type, text(ok)]).toEqual([XS_TYPE.WATCH, "OK\0"]);
    expect([initial!.type, initial!.reqId, initial!.txId, text(initial)]).toEqual([XS_TYPE.WATCH_EVENT, 0, 0, "/w\0tokA\0"]);
    store.connect(0).write("/w/child", "x");
    const [ev] = await c.take(1);
    expect(text(ev)).toBe("/w/child\0tokA\0");
  });

  it("handles many frames in one chunk and frames split byte by byte", async () => {
    const c = await client();
    const frames = Buffer.concat([
      encodeMessage({ type: XS_TYPE.WRITE, reqId: 1, txId: 0, payload: Buffer.from("/a\0" + "1") }),
      encodeMessage({ type: XS_TYPE.READ, reqId: 2, txId: 0, payload: Buffer.from("/a\0") }),
      encodeMessage({ type: XS_TYPE.DIRECTORY, reqId: 3, txId: 0, payload: Buffer.from("/\0") }),
    ]);
    c.sendRaw(frames);
    const got = await c.take(3);
    expect(got.map((f) => [f.reqId, text(f)])).toEqual([
      [1, "OK\0"],
      [2, "1"],
      [3, "@introduceDomain\0@releaseDomain\0a\0local\0tool\0"],
    ]);
    for (const b of encodeMessage({ type: XS_TYPE.READ, reqId: 9, txId: 0, payload: Buffer.from("/a\0") })) {
      c.sendRaw(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    expect(text((await c.take(1))[0])).toBe("1");
  });

  it("answers malformed requests with errors and keeps the connection", async () => {
    const c = await client();
    const cases: [number, string, string][] = [
      [XS_TYPE.READ, "", "EINVAL\0"],
      [XS_TYPE.RESET_WATCHES, "", "OK\0"],
      [99, "/\0", "ENOSYS\0"],
      [XS_TYPE.WATCH_EVENT, "/x\0t\0", "ENOSYS\0"],
      [XS_TYPE.READ, "/nonul", "EINVAL\0"],
      [XS_TYPE.WRITE, "/nonul", "EINVAL\0"],
      [XS_TYPE.READ, "/w\0junk", "EINVAL\0"],
      [XS_TYPE.READ, "//x\0", "EINVAL\0"],
      [XS_TYPE.READ, "/w/\0", "EINVAL\0"],
      [XS_TYPE.READ, "/a b\0", "EINVAL\0"],
      [XS_TYPE.READ, `/${"a".repeat(3071)}\0`, "EINVAL\0"],
      [XS_TYPE.WRITE, `/v\0${"x".repeat(2049)}`, "E2BIG\0"],
      [XS_TYPE.SET_PERMS, "/\0x0\0", "EINVAL\0"],
      [XS_TYPE.TRANSACTION_END, "X\0", "EINVAL\0"],
      [XS_TYPE.GET_DOMAIN_PATH, "x\0", "EINVAL\0"],
      [XS_TYPE.DIRECTORY_PART, "/\0" + "0\0", "@introduceDomain\0@releaseDomain\0local\0tool\0\0"],
    ];
    let id = 100;
    for (const [type, payload, want] of cases) {
      const r = await c.request(type, payload, ++id);
      expect([r.reqId, text(r).replace(/^[0-9]+\0(?=@)/, "")], `${type} ${payload.slice(0, 20)}`).toEqual([id, want]);
    }
    expect(text(await c.request(XS_TYPE.WRITE, "/still\0ok"))).toBe("OK\0");
  });

  it("an oversized payload gets E2BIG and closes only that connection; nothing is lost", async () => {
    const good = await client();
    expect(text(await good.request(XS_TYPE.WRITE, "/keep\0me"))).toBe("OK\0");
    const bad = await client();
    const hdr = Buffer.alloc(16);
    hdr.writeUInt32LE(XS_TYPE.WRITE, 0);
    hdr.writeUInt32LE(5, 4);
    hdr.writeUInt32LE(4097, 12);
    bad.sendRaw(hdr);
    const [r] = await bad.take(1);
    expect([r!.type, r!.reqId, text(r)]).toEqual([XS_TYPE.ERROR, 5, "E2BIG\0"]);
    expect(await bad.waitClosed()).toBe(true);
    expect(text(await good.request(XS_TYPE.READ, "/keep\0"))).toBe("me");
  });

  it("survives a client that disconnects mid-frame and drops its watches and transactions", async () => {
    const c = await client();
    await c.request(XS_TYPE.WATCH, "/x\0t\0");
    await c.request(XS_TYPE.TRANSACTION_START, "\0");
    c.sendRaw(encodeMessage({ type: XS_TYPE.WRITE, reqId: 1, txId: 0, payload: Buffer.from("/half\0value") }).subarray(0, 20));
    c.close();
    for (let i = 0; i < 100 && server.clientCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.clientCount).toBe(0);
    expect(store.connections.length).toBe(0);
    const d = await client();
    expect(text(await d.request(XS_TYPE.READ, "/half\0"))).toBe("ENOENT\0");
  });

  it("refuses a flood of watches with EQUOTA and keeps serving", async () => {
    const c = await client();
    const replies: string[] = [];
    for (let i = 0; i < 140; i++) replies.push(text(await c.request(XS_TYPE.WATCH, `/flood/${i}\0t\0`, i)));
    expect(replies.filter((r) => r === "OK\0").length).toBe(store.quota.maxWatchesPerConnection);
    expect(replies.at(-1)).toBe("EQUOTA\0");
    expect(text(await c.request(XS_TYPE.RESET_WATCHES, "\0"))).toBe("OK\0");
    expect(text(await c.request(XS_TYPE.WATCH, "/flood/0\0t\0"))).toBe("OK\0");
  });

  it("disconnects a client that never reads its watch events; others carry on", async () => {
    const lazy = await client();
    lazy.socket.pause();
    lazy.send(XS_TYPE.WATCH, "/busy\0t\0");
    const writer = store.connect(0);
    const other = await client();
    for (let i = 0; i < 4000 && !lazy.socket.destroyed && store.connections.length > 2; i++) {
      writer.write(`/busy/${i % 50}`, "x".repeat(1000));
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(store.connections.length).toBe(2);
    expect(text(await other.request(XS_TYPE.READ, "/busy/1\0"))).toBe("x".repeat(1000));
  });

  it("replaces a stale socket, refuses a live one, and removes its socket on close", async () => {
    await expect(createXenstoredServer(store, { socketPath: server.socketPath })).rejects.toThrow(/already listening/);
    const stalePath = join(dir, "stale");
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(stalePath, r));
    // Simulate a crashed daemon: the socket file stays, nobody listens.
    const handle = dead as unknown as { _handle: { close(): void } | null };
    handle._handle?.close();
    handle._handle = null;
    const s2 = await createXenstoredServer(store, { socketPath: stalePath });
    await s2.close();
    expect(existsSync(stalePath)).toBe(false);
    writeFileSync(join(dir, "file"), "");
    await expect(createXenstoredServer(store, { socketPath: join(dir, "file") })).rejects.toThrow(/not a socket/);
  });
});
