/**
 * The attack catalogue: one scenario per xenstored advisory or bug class, each replaying what a
 * guest did against the real daemons and checking pvnet's reaction (error codes, bytes, counters,
 * the tree afterwards). Advisory subjects are those of the Xen commits that fixed them.
 */
import { describe, expect, it } from "vitest";
import {
  type Connection,
  encodeMessage,
  isXenstoreError,
  libxlDomainMake,
  processRequest,
  WATCH_INTRODUCE_DOMAIN,
  WATCH_RELEASE_DOMAIN,
  XENSTORE_PAYLOAD_MAX,
  XenStore,
  type XenStoreOptions,
  type XenstoreErrorCode,
  XS_TYPE,
  XsFrameDecoder,
  type XsMessage,
} from "../src/index.js";

function code(fn: () => unknown): XenstoreErrorCode | "none" {
  try {
    fn();
    return "none";
  } catch (err) {
    if (isXenstoreError(err)) return err.code;
    throw err;
  }
}

/** One request through the wire processor; the reply as "TYPE payload" (NULs shown as |). */
function wire(conn: Connection, type: number, payload: string, txId = 0, reqId = 7): string {
  const reply = processRequest(conn, { type, reqId, txId, payload: Buffer.from(payload, "latin1") });
  expect(reply.reqId).toBe(reqId);
  expect(reply.payload.length).toBeLessThanOrEqual(XENSTORE_PAYLOAD_MAX);
  const name = reply.type === XS_TYPE.ERROR ? "ERROR" : reply.type === type ? "ok" : `type${reply.type}`;
  return `${name} ${Buffer.from(reply.payload).toString("latin1").replace(/\0/g, "|")}`;
}

/** A store with dom0's toolstack connection and domains introduced the way libxl does. */
function host(options: XenStoreOptions = {}, domids: number[] = [1, 2]) {
  const store = new XenStore(options);
  const dom0 = store.connect(0);
  for (const d of domids) libxlDomainMake(dom0, d, `guest${d}`);
  return { store, dom0 };
}

/** Number of nodes each domain owns, counted from the tree itself. */
function ownersInTree(store: XenStore): Map<number, number> {
  const m = new Map<number, number>();
  for (const n of store.dump()) m.set(n.perms[0]!.id, (m.get(n.perms[0]!.id) ?? 0) + 1);
  return m;
}

/** Every node's parent exists and lists it; every listed child exists. */
function treeIsConsistent(store: XenStore): boolean {
  const nodes = new Map(store.dump().map((n) => [n.path, n]));
  const dom0 = store.connect(0);
  try {
    for (const path of nodes.keys()) {
      if (path === "/") continue;
      const i = path.lastIndexOf("/");
      const parent = i === 0 ? "/" : path.slice(0, i);
      if (!nodes.has(parent) || !dom0.directory(parent).includes(path.slice(i + 1))) return false;
    }
    for (const path of nodes.keys()) {
      for (const c of dom0.directory(path)) if (!nodes.has(path === "/" ? `/${c}` : `${path}/${c}`)) return false;
    }
    return true;
  } finally {
    dom0.close();
  }
}

describe("attack catalogue: xenstored advisories", () => {
  it("XSA-115: an unprivileged domain's @introduceDomain/@releaseDomain watches see other domains only when the special node's permissions allow", () => {
    const { store, dom0 } = host();
    const guest = store.connect(1);
    const toolstack = store.connect(0);
    for (const c of [guest, toolstack]) {
      c.watch(WATCH_INTRODUCE_DOMAIN, "i");
      c.watch(WATCH_RELEASE_DOMAIN, "r");
    }
    // The initial event of a new watch always fires (it tells nothing).
    expect(guest.takeWatchEvents().map((e) => e.token)).toEqual(["i", "r"]);
    toolstack.takeWatchEvents();
    libxlDomainMake(dom0, 3, "other");
    dom0.releaseDomain(3);
    expect(guest.takeWatchEvents()).toEqual([]);
    expect(toolstack.takeWatchEvents()).toEqual([
      { path: WATCH_INTRODUCE_DOMAIN, token: "i" },
      { path: WATCH_RELEASE_DOMAIN, token: "r" },
    ]);
    // The special nodes have permissions, read and set like any node's; only dom0 owns them.
    expect(wire(guest, XS_TYPE.GET_PERMS, "@releaseDomain\0")).toBe("ERROR EACCES|");
    expect(wire(guest, XS_TYPE.SET_PERMS, "@releaseDomain\0n1\0")).toBe("ERROR EACCES|");
    expect(wire(dom0, XS_TYPE.GET_PERMS, "@releaseDomain\0")).toBe("ok n0|");
    expect(wire(dom0, XS_TYPE.GET_PERMS, "@other\0")).toBe("ERROR ENOENT|");
    expect(wire(dom0, XS_TYPE.READ, "@releaseDomain\0")).toBe("ERROR EINVAL|");
    expect(wire(dom0, XS_TYPE.SET_PERMS, "@releaseDomain\0n0\0r1\0")).toBe("ok OK|");
    expect(wire(guest, XS_TYPE.GET_PERMS, "@releaseDomain\0")).toBe("ok n0|r1|");
    libxlDomainMake(dom0, 3, "other");
    dom0.releaseDomain(3);
    // Granted @releaseDomain only: still nothing of introductions.
    expect(guest.takeWatchEvents()).toEqual([{ path: WATCH_RELEASE_DOMAIN, token: "r" }]);
  });

  it("XSA-115: a watch on / by an unprivileged domain reports no node it cannot read", () => {
    const { store, dom0 } = host();
    const spy = store.connect(2);
    spy.watch("/", "all");
    spy.takeWatchEvents();
    dom0.write("/local/domain/1/data/secret", "k");
    dom0.write("/vm/uuid", "u");
    store.connect(1).write("data/mine", "x");
    dom0.write("/local/domain/2/data/seen", "y");
    expect(spy.takeWatchEvents()).toEqual([{ path: "/local/domain/2/data/seen", token: "all" }]);
  });

  it("XSA-322: a new domain reusing a domid gets none of the access granted to the dead one", () => {
    const { store, dom0 } = host({ keepOrphans: true });
    dom0.write("/vm/1/secret", "key");
    dom0.setPerms("/vm/1/secret", [
      { id: 0, perms: "n" },
      { id: 1, perms: "b" },
    ]);
    dom0.mkdir("/shared");
    dom0.setPerms("/shared", [
      { id: 0, perms: "n" },
      { id: 1, perms: "w" },
    ]);
    const old = store.connect(1);
    expect(old.read("/vm/1/secret")).toBe("key");
    old.write("/shared/mine", "left behind");
    expect(old.getPerms("/shared/mine")).toEqual([
      { id: 1, perms: "n" },
      { id: 1, perms: "w" },
    ]);
    dom0.releaseDomain(1);
    expect(old.closed).toBe(true);
    // Grants naming the dead domain are gone; its orphan is dom0's (cxenstored -K, oxenstored).
    expect(dom0.getPerms("/vm/1/secret")).toEqual([{ id: 0, perms: "n" }]);
    expect(dom0.getPerms("/shared")).toEqual([{ id: 0, perms: "n" }]);
    expect(dom0.getPerms("/shared/mine")).toEqual([{ id: 0, perms: "n" }]);
    expect(dom0.read("/shared/mine")).toBe("left behind");
    expect(dom0.getPerms("/local/domain/1")).toEqual([{ id: 0, perms: "n" }]);
    libxlDomainMake(dom0, 1, "reborn");
    const reborn = store.connect(1);
    expect(code(() => reborn.read("/vm/1/secret"))).toBe("EACCES");
    expect(code(() => reborn.read("/shared/mine"))).toBe("EACCES");
    expect(code(() => reborn.write("/shared/mine", "x"))).toBe("EACCES");
    expect(code(() => reborn.write("/shared/new", "x"))).toBe("EACCES");
    expect(reborn.read("name")).toBe("reborn");
    expect(store.entriesOf(1)).toBe(ownersInTree(store).get(1));
  });

  it("XSA-419: the nodes a released domain owns are removed with their children, outside its home too", () => {
    const { store, dom0 } = host();
    const before = store.nodeCount;
    dom0.mkdir("/shared");
    dom0.setPerms("/shared", [
      { id: 0, perms: "n" },
      { id: 1, perms: "w" },
    ]);
    const guest = store.connect(1);
    for (let i = 0; i < 50; i++) guest.write(`/shared/n${i}/deep/leaf`, "x".repeat(100));
    const watcher = store.connect(0);
    watcher.watch("/shared", "w");
    watcher.takeWatchEvents();
    expect(store.entriesOf(1)).toBeGreaterThan(150);
    dom0.releaseDomain(1);
    expect(dom0.directory("/shared")).toEqual([]);
    expect(store.entriesOf(1)).toBe(0);
    expect(ownersInTree(store).get(1)).toBeUndefined();
    // Removal fires watches as an RM would; the home's dirs libxl gave the guest go as well.
    expect(watcher.takeWatchEvents()).toContainEqual({ path: "/shared/n0", token: "w" });
    expect(dom0.directory("/local/domain/1")).toEqual(["control", "domid", "name"]);
    expect(store.nodeCount).toBe(before + 1 - 7);
    expect(treeIsConsistent(store)).toBe(true);
  });

  it("XSA-483: after a release the reused domid starts with its whole node quota", () => {
    const max = 40;
    const { store, dom0 } = host({ quota: { maxEntriesPerDomain: max } }, [1]);
    dom0.mkdir("/shared");
    dom0.setPerms("/shared", [
      { id: 0, perms: "n" },
      { id: 1, perms: "w" },
    ]);
    const fill = (c: Connection): number => {
      let made = 0;
      while (code(() => c.write(`/shared/k${made}`, "v")) === "none") made++;
      return made;
    };
    const base = store.entriesOf(1);
    expect(fill(store.connect(1))).toBe(max - base);
    dom0.releaseDomain(1);
    expect(store.entriesOf(1)).toBe(0);
    dom0.setPerms("/shared", [
      { id: 0, perms: "n" },
      { id: 1, perms: "w" },
    ]);
    libxlDomainMake(dom0, 1, "again");
    expect(fill(store.connect(1))).toBe(max - base);
  });

  it("XSA-352: an unprivileged owner cannot give its node away (EPERM), dom0 can", () => {
    const { store, dom0 } = host();
    const guest = store.connect(1);
    guest.write("data/mine", "v");
    const victimBefore = store.entriesOf(2);
    expect(wire(guest, XS_TYPE.SET_PERMS, "data/mine\0n2\0")).toBe("ERROR EPERM|");
    expect(wire(guest, XS_TYPE.SET_PERMS, "data/mine\0n0\0")).toBe("ERROR EPERM|");
    expect(guest.getPerms("data/mine")).toEqual([{ id: 1, perms: "n" }]);
    expect(store.entriesOf(2)).toBe(victimBefore);
    // Changing the other entries stays the owner's right.
    expect(wire(guest, XS_TYPE.SET_PERMS, "data/mine\0n1\0r2\0")).toBe("ok OK|");
    expect(store.connect(2).read("/local/domain/1/data/mine")).toBe("v");
    dom0.setPerms("/local/domain/1/data/mine", [{ id: 2, perms: "n" }]);
    expect(store.entriesOf(2)).toBe(victimBefore + 1);
  });

  it("XSA-353: the root node is checked like any other: a guest cannot chmod, list, write below or remove /", () => {
    const { store, dom0 } = host();
    const guest = store.connect(1);
    const nodes = store.nodeCount;
    expect(wire(guest, XS_TYPE.SET_PERMS, "/\0b1\0")).toBe("ERROR EACCES|");
    expect(wire(guest, XS_TYPE.DIRECTORY, "/\0")).toBe("ERROR EACCES|");
    expect(wire(guest, XS_TYPE.GET_PERMS, "/\0")).toBe("ERROR EACCES|");
    expect(wire(guest, XS_TYPE.WRITE, "/evil\0x")).toBe("ERROR EACCES|");
    expect(wire(guest, XS_TYPE.RM, "/\0")).toBe("ERROR EINVAL|");
    expect(wire(guest, XS_TYPE.RM, "/local\0")).toBe("ERROR EACCES|");
    expect(store.nodeCount).toBe(nodes);
    expect(dom0.getPerms("/")).toEqual([{ id: 0, perms: "n" }]);
  });

  it("XSA-323: the path limit counts the path less its /local/domain/<domid>/ prefix, the same relative or absolute and for any domid", () => {
    const { store, dom0 } = host({}, [7, 12345]);
    for (const domid of [7, 12345]) {
      const guest = store.connect(domid);
      const name = `data/${"a".repeat(2043)}`; // 2048 characters relative
      expect(code(() => guest.write(name, "v"))).toBe("none");
      // What the guest wrote is readable by dom0 under its absolute path (the old bug: not).
      expect(dom0.read(`/local/domain/${domid}/${name}`)).toBe("v");
      expect(code(() => guest.read(`/local/domain/${domid}/${name}`))).toBe("none");
      expect(code(() => guest.write(`${name}b`, "v"))).toBe("EINVAL");
      expect(code(() => dom0.write(`/local/domain/${domid}/${name}b`, "v"))).toBe("EINVAL");
    }
    // Outside the homes the whole path counts.
    expect(code(() => dom0.write(`/${"b".repeat(2047)}`, "v"))).toBe("none");
    expect(code(() => dom0.write(`/${"b".repeat(2048)}`, "v"))).toBe("EINVAL");
    expect(wire(dom0, XS_TYPE.READ, `/${"b".repeat(2048)}\0`)).toBe("ERROR EINVAL|");
  });

  it("XSA-324: a watch event whose payload would exceed 4096 bytes is dropped and counted", () => {
    const store = new XenStore();
    const c = store.connect(0);
    const token = "t".repeat(3000);
    expect(wire(c, XS_TYPE.WATCH, `/big\0${token}\0`)).toBe("ok OK|");
    expect(c.takeWatchEvents()).toEqual([{ path: "/big", token }]);
    c.write(`/big/${"p".repeat(1100)}`, "v"); // 1105 + 3000 + 2 bytes: too big
    c.write("/big/short", "v");
    expect(c.droppedWatchEvents).toBe(1);
    expect(c.takeWatchEvents()).toEqual([{ path: "/big/short", token }]);
  });

  it("XSA-325: closing a misbehaving domain's connection does not fire @releaseDomain or forget the domain", () => {
    const { store, dom0 } = host();
    const toolstack = store.connect(0);
    toolstack.watch(WATCH_RELEASE_DOMAIN, "r");
    toolstack.takeWatchEvents();
    const guest = store.connect(1);
    guest.write("data/x", "1");
    guest.close();
    expect(toolstack.takeWatchEvents()).toEqual([]);
    expect(store.isDomainIntroduced(1)).toBe(true);
    expect(dom0.read("/local/domain/1/data/x")).toBe("1");
  });

  it("XSA-326: a node flood stops at the domain's quota (EQUOTA) and spends nobody else's", () => {
    const max = 200;
    const { store } = host({ quota: { maxEntriesPerDomain: max } });
    const flooder = store.connect(1);
    const victim = store.connect(2);
    let err: XenstoreErrorCode | "none" = "none";
    for (let i = 0; err === "none"; i++) err = code(() => flooder.write(`data/n${i}`, "x".repeat(2048)));
    expect(err).toBe("EQUOTA");
    expect(store.entriesOf(1)).toBe(max);
    expect(code(() => flooder.mkdir("data/one-more"))).toBe("EQUOTA");
    // A transaction cannot smuggle more in: refused at commit.
    const tx = flooder.transactionStart();
    expect(code(() => flooder.write("data/in-tx", "x", tx))).toBe("EQUOTA");
    flooder.transactionEnd(tx, false);
    victim.write("data/fine", "y");
    expect(victim.read("data/fine")).toBe("y");
    expect(ownersInTree(store).get(1)).toBe(max);
  });

  it("XSA-326: watch and transaction floods stop at the per-connection quotas", () => {
    const { store } = host();
    const guest = store.connect(1);
    const q = store.quota;
    for (let i = 0; i < q.maxWatchesPerConnection; i++) guest.watch(`data/w${i}`, "t");
    expect(wire(guest, XS_TYPE.WATCH, "data/one-more\0t\0")).toBe("ERROR EQUOTA|");
    for (let i = 0; i < q.maxTransactionsPerConnection; i++) guest.transactionStart();
    expect(wire(guest, XS_TYPE.TRANSACTION_START, "\0")).toBe("ERROR EQUOTA|");
    expect(guest.watchList.length).toBe(q.maxWatchesPerConnection);
    expect(guest.openTransactions).toBe(q.maxTransactionsPerConnection);
  });

  it("XSA-326: a transaction touching too many nodes answers EQUOTA; one overtaken by a write flood answers EAGAIN", () => {
    const { store, dom0 } = host({ quota: { maxNodesPerTransaction: 64, maxEntriesPerDomain: 10_000 } });
    const guest = store.connect(1);
    for (let i = 0; i < 100; i++) dom0.write(`/local/domain/1/data/r${i}`, "v");
    const tx = guest.transactionStart();
    let err: XenstoreErrorCode | "none" = "none";
    let reads = 0;
    for (; reads < 100 && err === "none"; reads++) err = code(() => guest.read(`data/r${reads}`, tx));
    expect(err).toBe("EQUOTA");
    expect(reads).toBeLessThan(70);
    guest.transactionEnd(tx, false);
    // The snapshot of an idle transaction is bounded too: past its bound it is doomed.
    const idle = guest.transactionStart();
    guest.read("data/r0", idle);
    for (let i = 0; i < 500; i++) store.connect(2).write(`data/flood${i}`, "v");
    expect(code(() => guest.read("data/r1", idle))).toBe("EAGAIN");
    expect(code(() => guest.transactionEnd(idle, true))).toBe("EAGAIN");
  });

  it("XSA-326: a slow reader's watch-event queue stays bounded; its drops are counted and other watchers get every event", () => {
    const { store, dom0 } = host({ quota: { maxEntriesPerDomain: 10_000 } });
    const slow = store.connect(1);
    const other = store.connect(2);
    for (let i = 0; i < 8; i++) slow.watch("/local/domain/1/data", `t${i}`);
    other.watch("data", "o");
    slow.takeWatchEvents();
    other.takeWatchEvents();
    for (let i = 0; i < 300; i++) {
      dom0.write(`/local/domain/1/data/e${i}`, "v");
      dom0.write(`/local/domain/2/data/e${i}`, "v");
    }
    const max = store.quota.maxPendingWatchEvents;
    expect(slow.pendingWatchEvents).toBe(max);
    expect(slow.droppedWatchEvents).toBe(8 * 300 - max);
    const got = other.takeWatchEvents();
    expect(got.length).toBe(300);
    expect(got[299]).toEqual({ path: "data/e299", token: "o" });
  });

  it("XSA-330: RESET_WATCHES frees the watches for good: the quota counts only the new ones and the old never fire", () => {
    const { store, dom0 } = host();
    const guest = store.connect(1);
    const max = store.quota.maxWatchesPerConnection;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < max; i++) guest.watch(`data/r${round}w${i}`, "t");
      expect(code(() => guest.watch("data/extra", "t"))).toBe("EQUOTA");
      expect(wire(guest, XS_TYPE.RESET_WATCHES, "\0")).toBe("ok OK|");
      expect(guest.watchList.length).toBe(0);
    }
    guest.watch("data/r0w0", "new");
    guest.takeWatchEvents();
    dom0.write("/local/domain/1/data/r0w0", "v");
    dom0.write("/local/domain/1/data/r1w1", "v");
    expect(guest.takeWatchEvents()).toEqual([{ path: "data/r0w0", token: "new" }]);
  });

  it("XSA-484: RESET_WATCHES sent inside a transaction ends every transaction of the caller and nothing breaks", () => {
    const { store, dom0 } = host();
    const guest = store.connect(1);
    const t1 = guest.transactionStart();
    const t2 = guest.transactionStart();
    guest.write("data/uncommitted", "v", t1);
    guest.watch("data", "w");
    expect(wire(guest, XS_TYPE.RESET_WATCHES, "\0", t1)).toBe("ok OK|");
    expect(guest.openTransactions).toBe(0);
    expect(wire(guest, XS_TYPE.TRANSACTION_END, "T\0", t1)).toBe("ERROR EIO|");
    expect(wire(guest, XS_TYPE.READ, "data/uncommitted\0", t2)).toBe("ERROR EIO|");
    expect(code(() => dom0.read("/local/domain/1/data/uncommitted"))).toBe("ENOENT");
    expect(guest.pendingWatchEvents).toBe(0);
    expect(wire(guest, XS_TYPE.TRANSACTION_START, "\0")).toMatch(/^ok [0-9]+\|$/);
  });

  it("XSA-421: creating and deleting nodes in one transaction keeps the node accounting exact", () => {
    const max = 40;
    const { store } = host({ quota: { maxEntriesPerDomain: max } }, [1]);
    const guest = store.connect(1);
    for (let round = 0; round < 10; round++) {
      const tx = guest.transactionStart();
      for (let i = 0; i < 5; i++) guest.write(`data/t${round}/n${i}`, "v", tx);
      guest.rm(`data/t${round}`, tx);
      guest.write(`data/t${round}`, "kept", tx);
      guest.transactionEnd(tx, true);
      expect(store.entriesOf(1)).toBe(ownersInTree(store).get(1));
    }
    expect(store.entriesOf(1)).toBeLessThanOrEqual(max);
    let err: XenstoreErrorCode | "none" = "none";
    for (let i = 0; err === "none"; i++) err = code(() => guest.write(`data/fill${i}`, "v"));
    expect(err).toBe("EQUOTA");
    expect(ownersInTree(store).get(1)).toBe(max);
  });

  it("XSA-414 / XSA-415: a create that fails part-way (quota) inside a transaction leaves no orphan after commit", () => {
    const { store } = host({ quota: { maxEntriesPerDomain: 12 } }, [1]);
    const guest = store.connect(1);
    const tx = guest.transactionStart();
    guest.write("data/a", "v", tx);
    const deep = `data/${Array.from({ length: 20 }, (_, i) => `d${i}`).join("/")}`;
    expect(code(() => guest.write(deep, "v", tx))).toBe("EQUOTA");
    guest.transactionEnd(tx, true);
    expect(guest.directory("data")).toEqual(["a"]);
    expect(treeIsConsistent(store)).toBe(true);
    expect(store.entriesOf(1)).toBe(ownersInTree(store).get(1));
  });

  it("XSA-72: a reply over 4096 bytes is answered E2BIG; a request frame over 4096 bytes stops the stream", () => {
    const store = new XenStore();
    const c = store.connect(0);
    for (let i = 0; i < 200; i++) c.mkdir(`/wide/${"n".repeat(30)}${i}`);
    expect(wire(c, XS_TYPE.DIRECTORY, "/wide\0")).toBe("ERROR E2BIG|");
    const d = new XsFrameDecoder();
    const got: XsMessage[] = [];
    const oversize: number[] = [];
    const ok = encodeMessage({ type: XS_TYPE.WRITE, reqId: 1, txId: 0, payload: new Uint8Array(XENSTORE_PAYLOAD_MAX) });
    const big = encodeMessage({ type: XS_TYPE.WRITE, reqId: 2, txId: 0, payload: new Uint8Array(XENSTORE_PAYLOAD_MAX + 1) });
    const after = encodeMessage({ type: XS_TYPE.READ, reqId: 3, txId: 0, payload: Buffer.from("/x\0") });
    d.push(Buffer.concat([ok, big, after]), (m) => got.push(m), (h) => oversize.push(h.len));
    expect(got.map((m) => [m.reqId, m.payload.length])).toEqual([[1, XENSTORE_PAYLOAD_MAX]]);
    expect(oversize).toEqual([XENSTORE_PAYLOAD_MAX + 1]);
    expect(d.failed).toBe(true);
  });

  it("XSA-420: a header announcing 1 GiB-4 GiB (negative as a signed 32-bit length) is refused, never allocated", () => {
    for (const len of [0x40000000, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const hdr = new Uint8Array(16);
      new DataView(hdr.buffer).setUint32(12, len, true);
      const d = new XsFrameDecoder();
      const seen: number[] = [];
      d.push(hdr, () => seen.push(-1), (h) => seen.push(h.len));
      expect(seen).toEqual([len]);
      expect(d.failed).toBe(true);
      expect(d.pendingBytes).toBeLessThanOrEqual(16);
    }
  });

  it("XSA-481: paths a canonicalizer gets wrong (/local/domain/, a domid-less home) answer EINVAL or ENOENT, never crash", () => {
    const { store } = host();
    const guest = store.connect(1);
    const dom0 = store.connect(0);
    for (const c of [guest, dom0]) {
      for (const p of ["/local/domain/", "/local/domain//x", "local/domain/", "/local/domain/1/", "/"]) {
        if (p === "/") continue;
        expect(wire(c, XS_TYPE.READ, `${p}\0`)).toBe("ERROR EINVAL|");
        expect(wire(c, XS_TYPE.WRITE, `${p}\0v`)).toBe("ERROR EINVAL|");
      }
      expect(wire(c, XS_TYPE.READ, "/local/domain/99999/x\0")).toMatch(/^ERROR (ENOENT|EACCES)\|$/);
    }
    expect(wire(dom0, XS_TYPE.WATCH, "/local/domain/\0t\0")).toBe("ERROR EINVAL|");
  });

  it("malformed frames of every size and type: replies echo req_id/tx_id, fit 4096 bytes, never throw", () => {
    const { store } = host();
    const guest = store.connect(1);
    let x = 0x9e3779b9;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const alphabet = Buffer.from("\0\0/a@-_Tb1rn0 \xff", "latin1");
    const counts = new Map<string, number>();
    for (let type = 0; type <= 26; type++) {
      for (const len of [0, 1, 2, 3, 5, 8, 17, 64, 255, 1024, 4095, 4096]) {
        const payload = new Uint8Array(len);
        for (let i = 0; i < len; i++) payload[i] = alphabet[next() % alphabet.length]!;
        const reply = processRequest(guest, { type, reqId: len + 1, txId: type & 1 ? 0 : next(), payload });
        expect(reply.reqId).toBe(len + 1);
        expect(reply.payload.length).toBeLessThanOrEqual(XENSTORE_PAYLOAD_MAX);
        const key = reply.type === XS_TYPE.ERROR ? Buffer.from(reply.payload).toString("latin1") : "ok";
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    // Unknown and server-to-client types are ENOSYS; random transaction ids EIO.
    expect(wire(guest, 20, "x\0")).toBe("ERROR ENOSYS|");
    expect(wire(guest, XS_TYPE.WATCH_EVENT, "/a\0t\0")).toBe("ERROR ENOSYS|");
    expect(wire(guest, 9999, "")).toBe("ERROR ENOSYS|");
    expect(counts.get("ENOSYS\0")).toBeGreaterThan(0);
    expect(counts.get("EIO\0")).toBeGreaterThan(0);
    expect(counts.get("EINVAL\0")).toBeGreaterThan(0);
    // A truncated header yields nothing and holds only its bytes.
    const d = new XsFrameDecoder();
    const seen: XsMessage[] = [];
    d.push(new Uint8Array(11), (m) => seen.push(m), () => {});
    expect([seen.length, d.pendingBytes, d.failed]).toEqual([0, 11, false]);
    expect(treeIsConsistent(store)).toBe(true);
  });

  it("deep paths: 1000-level chains are created, watched and removed without recursion", () => {
    const store = new XenStore({ quota: { maxEntriesPerDomain: 2000 } });
    const dom0 = store.connect(0);
    dom0.mkdir("/local/domain/1");
    dom0.setPerms("/local/domain/1", [{ id: 1, perms: "n" }]);
    store.introduceDomain(1);
    const guest = store.connect(1);
    const deep = Array.from({ length: 1000 }, () => "d").join("/");
    guest.watch("d", "w");
    guest.takeWatchEvents();
    guest.write(deep, "bottom");
    expect(store.entriesOf(1)).toBe(1001);
    guest.rm("d");
    // One event for the write, one for the removal of the watched node (none per descendant).
    expect(guest.takeWatchEvents()).toEqual([
      { path: deep, token: "w" },
      { path: "d", token: "w" },
    ]);
    expect(store.entriesOf(1)).toBe(1);
    dom0.releaseDomain(1);
    expect(store.entriesOf(1)).toBe(0);
    expect(treeIsConsistent(store)).toBe(true);
  });
});
