import { describe, expect, it } from "vitest";
import { isXenstoreError, WATCH_INTRODUCE_DOMAIN, WATCH_RELEASE_DOMAIN, XenStore, type XenstoreErrorCode } from "../src/index.js";

function code(fn: () => unknown): XenstoreErrorCode | "none" {
  try {
    fn();
    return "none";
  } catch (err) {
    if (isXenstoreError(err)) return err.code;
    throw err;
  }
}

describe("store basics", () => {
  it("starts with oxenstored's layout", () => {
    const s = new XenStore();
    expect(s.dump().map((n) => n.path)).toEqual(["/", "/@introduceDomain", "/@releaseDomain", "/local", "/tool", "/tool/xenstored"]);
    expect(new XenStore({ oxenstoredLayout: false }).dump().map((n) => n.path)).toEqual(["/"]);
  });

  it("reads, writes, lists and removes", () => {
    const c = new XenStore().connect(0);
    c.write("/a/b/c", "v");
    expect(c.read("/a/b/c")).toBe("v");
    expect(c.read("/a/b")).toBe("");
    expect(c.directory("/a")).toEqual(["b"]);
    c.write("/a/b/a", "w");
    expect(c.directory("/a/b")).toEqual(["a", "c"]);
    expect(code(() => c.read("/missing"))).toBe("ENOENT");
    c.rm("/nonexistent");
    expect(code(() => c.rm("/nonexistent/child"))).toBe("ENOENT");
    c.rm("/a/b");
    expect(c.directory("/a")).toEqual([]);
    expect(code(() => c.read("/a/b/c"))).toBe("ENOENT");
    expect(code(() => c.rm("/"))).toBe("EINVAL");
  });

  it("keeps values as bytes", () => {
    const c = new XenStore().connect(0);
    c.write("/bin", new Uint8Array([0, 255, 1]));
    expect([...c.readBytes("/bin")]).toEqual([0, 255, 1]);
  });

  it("resolves relative paths against the domain's home", () => {
    const s = new XenStore();
    const c = s.connect(0);
    c.write("rel", "1");
    expect(c.read("/local/domain/0/rel")).toBe("1");
    expect(s.getDomainPath(7)).toBe("/local/domain/7");
  });

  it("rejects malformed paths and oversized values", () => {
    const c = new XenStore().connect(0);
    for (const p of ["", "//x", "/w/", "/a b", "/a\u00e9", "@introduceDomain"]) {
      expect(code(() => c.write(p, "x")), p).toBe("EINVAL");
    }
    c.write(`/${"a".repeat(2047)}`, "x");
    expect(code(() => c.read(`/${"a".repeat(2048)}`))).toBe("EINVAL");
    c.write("/v", "x".repeat(2048));
    expect(code(() => c.write("/v", "x".repeat(2049)))).toBe("E2BIG");
  });

  it("mkdir leaves an existing node alone", () => {
    const c = new XenStore().connect(0);
    c.write("/m", "keep");
    c.mkdir("/m");
    expect(c.read("/m")).toBe("keep");
  });
});

describe("permissions", () => {
  function setup() {
    const s = new XenStore();
    const dom0 = s.connect(0);
    dom0.write("/p/node", "secret");
    dom0.setPerms("/p", [{ id: 0, perms: "n" }]);
    dom0.setPerms("/p/node", [{ id: 0, perms: "n" }, { id: 5, perms: "r" }, { id: 6, perms: "w" }]);
    return { s, dom0, d5: s.connect(5), d6: s.connect(6), d7: s.connect(7) };
  }

  it("enforces per-domain levels, dom0 bypasses", () => {
    const { dom0, d5, d6, d7 } = setup();
    expect(dom0.read("/p/node")).toBe("secret");
    expect(d5.read("/p/node")).toBe("secret");
    expect(code(() => d5.write("/p/node", "x"))).toBe("EACCES");
    expect(code(() => d6.read("/p/node"))).toBe("EACCES");
    d6.write("/p/node", "by6");
    expect(dom0.read("/p/node")).toBe("by6");
    expect(code(() => d7.read("/p/node"))).toBe("EACCES");
    expect(code(() => d7.write("/p/node", "x"))).toBe("EACCES");
  });

  it("hides what is below an unreadable node (EACCES, not ENOENT)", () => {
    const { dom0, d7 } = setup();
    expect(code(() => d7.read("/p/missing"))).toBe("EACCES");
    dom0.mkdir("/pub");
    dom0.setPerms("/pub", [{ id: 0, perms: "r" }]);
    expect(code(() => d7.read("/pub/nothing/here"))).toBe("ENOENT");
  });

  it("only the owner changes permissions; children inherit, an unprivileged creator owns", () => {
    const { s, dom0, d5 } = setup();
    expect(code(() => d5.setPerms("/p/node", [{ id: 5, perms: "b" }]))).toBe("EACCES");
    dom0.mkdir("/local/domain/5");
    dom0.setPerms("/local/domain/5", [{ id: 5, perms: "n" }, { id: 9, perms: "r" }]);
    d5.write("data/x", "1");
    expect(d5.getPerms("data/x")).toEqual([{ id: 5, perms: "n" }, { id: 9, perms: "r" }]);
    dom0.mkdir("/q");
    dom0.setPerms("/q", [{ id: 0, perms: "n" }, { id: 5, perms: "w" }]);
    d5.write("/q/mine", "1");
    expect(d5.getPerms("/q/mine")).toEqual([{ id: 5, perms: "n" }, { id: 5, perms: "w" }]);
    dom0.write("/q/dom0s", "1");
    expect(dom0.getPerms("/q/dom0s")).toEqual([{ id: 0, perms: "n" }, { id: 5, perms: "w" }]);
    expect(s.entriesOf(5)).toBeGreaterThanOrEqual(3);
  });
});

describe("quotas", () => {
  it("limits nodes per unprivileged domain", () => {
    const s = new XenStore({ quota: { maxEntriesPerDomain: 3 } });
    const dom0 = s.connect(0);
    dom0.mkdir("/local/domain/4");
    dom0.setPerms("/local/domain/4", [{ id: 4, perms: "n" }]);
    const d4 = s.connect(4);
    d4.write("a", "1");
    d4.write("b", "1");
    expect(code(() => d4.write("c", "1"))).toBe("EQUOTA");
    expect(code(() => d4.write("x/y", "1"))).toBe("EQUOTA");
    d4.rm("a");
    d4.write("c", "1");
    // dom0 is not limited.
    for (let i = 0; i < 10; i++) dom0.write(`/many/${i}`, "x");
  });

  it("limits watches and open transactions per connection", () => {
    const s = new XenStore({ quota: { maxWatchesPerConnection: 2, maxTransactionsPerConnection: 1 } });
    const c = s.connect(0);
    c.watch("/a", "1");
    c.watch("/a", "2");
    expect(code(() => c.watch("/a", "3"))).toBe("EQUOTA");
    expect(code(() => c.watch("/a", "1"))).toBe("EEXIST");
    const t = c.transactionStart();
    expect(code(() => c.transactionStart())).toBe("EQUOTA");
    c.transactionEnd(t, false);
    c.transactionStart();
  });

  it("bounds the watch event queue and counts what it drops", () => {
    const s = new XenStore({ quota: { maxPendingWatchEvents: 4 } });
    const c = s.connect(0);
    c.watch("/f", "t");
    for (let i = 0; i < 10; i++) c.write("/f", String(i));
    expect(c.pendingWatchEvents).toBe(4);
    expect(c.droppedWatchEvents).toBe(7);
  });
});

describe("watches", () => {
  it("fires the initial event, then for the path and its descendants only", () => {
    const s = new XenStore();
    const c = s.connect(0);
    const w = s.connect(0);
    w.watch("/w", "tok");
    expect(w.takeWatchEvents()).toEqual([{ path: "/w", token: "tok" }]);
    c.write("/w/child", "x");
    c.write("/wx", "x");
    c.write("/", "root value");
    c.write("/w", "y");
    expect(w.takeWatchEvents()).toEqual([
      { path: "/w/child", token: "tok" },
      { path: "/w", token: "tok" },
    ]);
  });

  it("reports relative events for relative watches; removal fires watches below", () => {
    const s = new XenStore();
    const c = s.connect(0);
    c.write("/local/domain/0/dev/a/b", "1");
    c.watch("dev", "rel");
    c.watch("/local/domain/0/dev/a/b", "deep");
    c.watch("/local/domain/0/dev/a/nonexistent", "none");
    c.takeWatchEvents();
    c.rm("/local/domain/0/dev/a");
    expect(c.takeWatchEvents()).toEqual([
      { path: "/local/domain/0/dev/a/b", token: "deep" },
      { path: "dev/a", token: "rel" },
    ]);
    c.unwatch("dev", "rel");
    expect(code(() => c.unwatch("dev", "rel"))).toBe("ENOENT");
  });

  it("does not tell a domain about nodes it cannot read", () => {
    const s = new XenStore();
    const dom0 = s.connect(0);
    const d3 = s.connect(3);
    d3.watch("/hidden", "t");
    d3.takeWatchEvents();
    dom0.write("/hidden", "x");
    expect(d3.takeWatchEvents()).toEqual([]);
    dom0.setPerms("/hidden", [{ id: 0, perms: "r" }]);
    dom0.write("/hidden", "y");
    expect(d3.takeWatchEvents().length).toBeGreaterThan(0);
  });

  it("notifies the owner when events become pending, and introduce/release fire", () => {
    const s = new XenStore();
    let notified = 0;
    const c = s.connect(0, { onWatchPending: () => notified++ });
    c.watch(WATCH_INTRODUCE_DOMAIN, "i");
    c.watch(WATCH_RELEASE_DOMAIN, "r");
    expect(notified).toBe(1);
    c.takeWatchEvents();
    const d9 = s.connect(9);
    expect(s.isDomainIntroduced(9)).toBe(false);
    s.introduceDomain(9);
    expect(s.isDomainIntroduced(9)).toBe(true);
    s.releaseDomain(9);
    expect(d9.closed).toBe(true);
    expect(code(() => s.releaseDomain(9))).toBe("EINVAL");
    expect(c.takeWatchEvents()).toEqual([
      { path: "@introduceDomain", token: "i" },
      { path: "@releaseDomain", token: "r" },
    ]);
    expect(notified).toBe(2);
  });
});

describe("transactions", () => {
  it("isolate, commit, and fail with EAGAIN on conflict", () => {
    const s = new XenStore();
    const a = s.connect(0);
    const b = s.connect(0);
    a.write("/x", "0");
    const t = a.transactionStart();
    expect(t).toBe(1);
    expect(a.read("/x", t)).toBe("0");
    a.write("/tx", "1", t);
    expect(code(() => b.read("/tx"))).toBe("ENOENT");
    b.write("/x", "changed");
    expect(a.read("/x", t)).toBe("0");
    expect(code(() => a.transactionEnd(t, true))).toBe("EAGAIN");
    expect(code(() => a.read("/tx"))).toBe("ENOENT");
    const t2 = a.transactionStart();
    a.write("/tx", "1", t2);
    a.transactionEnd(t2, true);
    expect(b.read("/tx")).toBe("1");
    expect(code(() => a.transactionEnd(999, true))).toBe("EIO");
  });

  it("read a snapshot as of their start, even of nodes first read later", () => {
    const s = new XenStore();
    const a = s.connect(0);
    const b = s.connect(0);
    a.write("/s/x", "1");
    a.write("/s/y", "1");
    const t = a.transactionStart();
    b.rm("/s");
    expect(a.read("/s/y", t)).toBe("1");
    expect(a.directory("/s", t)).toEqual(["x", "y"]);
    a.rm("/s", t);
    expect(code(() => a.transactionEnd(t, true))).toBe("EAGAIN");
  });

  it("fires watches only on commit", () => {
    const s = new XenStore();
    const a = s.connect(0);
    a.watch("/tw", "t");
    a.takeWatchEvents();
    const t = a.transactionStart();
    a.write("/tw/1", "x", t);
    expect(a.pendingWatchEvents).toBe(0);
    a.transactionEnd(t, true);
    expect(a.takeWatchEvents()).toEqual([{ path: "/tw/1", token: "t" }]);
    const t2 = a.transactionStart();
    a.write("/tw/2", "x", t2);
    a.transactionEnd(t2, false);
    expect(a.pendingWatchEvents).toBe(0);
  });

  it("directory listings inside a transaction conflict with concurrent child creation", () => {
    const s = new XenStore();
    const a = s.connect(0);
    const b = s.connect(0);
    a.mkdir("/d");
    const t = a.transactionStart();
    expect(a.directory("/d", t)).toEqual([]);
    a.write("/other", "1", t);
    b.write("/d/new", "1");
    expect(code(() => a.transactionEnd(t, true))).toBe("EAGAIN");
  });

  it("DIRECTORY_PART pages a large directory", () => {
    const c = new XenStore().connect(0);
    const names: string[] = [];
    for (let i = 0; i < 300; i++) {
      const n = `child-${String(i).padStart(4, "0")}-${"x".repeat(20)}`;
      names.push(n);
      c.write(`/big/${n}`, "");
    }
    const got: string[] = [];
    let offset = 0;
    for (let i = 0; i < 10; i++) {
      const part = c.directoryPart("/big", offset);
      got.push(...part.children);
      offset += part.children.reduce((n, s) => n + s.length + 1, 0);
      if (part.complete) break;
    }
    expect(got).toEqual(names);
  });
});
