import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { type Connection, isXenstoreError, permForDomain, XenStore, XS_PERM, type XsPermission } from "../src/index.js";
import { type Outcome, ROOT, StoreModel, watchFires } from "./model.js";

// "a" and "ab" share a prefix but not a path component: a watch on /t/a must not see /t/ab.
const arbPath = fc
  .array(fc.constantFrom("a", "b", "ab"), { minLength: 1, maxLength: 3 })
  .map((parts) => `${ROOT}/${parts.join("/")}`);
// Fewer paths, so concurrent transactions touch the same nodes often.
const arbTxPath = fc.array(fc.constantFrom("a", "b"), { minLength: 1, maxLength: 2 }).map((parts) => `${ROOT}/${parts.join("/")}`);
const arbValue = fc.constantFrom("", "0", "1", "xyz");

function outcome(fn: () => string): Outcome {
  try {
    return fn();
  } catch (err) {
    if (isXenstoreError(err)) return { error: err.code };
    throw err;
  }
}

function subtree(store: XenStore): [string, string][] {
  return store
    .dump()
    .filter((n) => n.path === ROOT || n.path.startsWith(`${ROOT}/`))
    .map((n) => [n.path, new TextDecoder().decode(n.value)]);
}

function sorted(m: StoreModel): [string, string][] {
  return [...m.nodes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function outcomeOk(fn: () => void): Outcome {
  return outcome(() => {
    fn();
    return "OK";
  });
}

interface Real {
  store: XenStore;
  conn: Connection;
  watcher: Connection;
}
interface Model {
  m: StoreModel;
  watches: string[];
}

type Cmd = fc.Command<Model, Real>;

function expectEvents(model: Model, real: Real, changes: [string, boolean][]): void {
  const expected = changes.flatMap((ch) => model.watches.filter((w) => watchFires(w, ch)).map((w) => `${ch[0]} ${w}`));
  const got = real.watcher.takeWatchEvents().map((e) => `${e.path} ${e.token}`);
  expect(got.sort()).toEqual(expected.sort());
}

class WriteCmd implements Cmd {
  constructor(
    readonly p: string,
    readonly v: string,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    real.conn.write(this.p, this.v);
    expectEvents(model, real, model.m.write(this.p, this.v));
  }
  toString = () => `write ${this.p} ${this.v}`;
}
class MkdirCmd implements Cmd {
  constructor(readonly p: string) {}
  check = () => true;
  run(model: Model, real: Real): void {
    real.conn.mkdir(this.p);
    expectEvents(model, real, model.m.mkdir(this.p));
  }
  toString = () => `mkdir ${this.p}`;
}
class RmCmd implements Cmd {
  constructor(readonly p: string) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const expected = model.m.rm(this.p);
    const got = outcome(() => {
      real.conn.rm(this.p);
      return "OK";
    });
    if (Array.isArray(expected)) {
      expect(got).toBe("OK");
      expectEvents(model, real, expected);
    } else {
      expect(got).toEqual(expected);
      expectEvents(model, real, []);
    }
  }
  toString = () => `rm ${this.p}`;
}
class ReadCmd implements Cmd {
  constructor(readonly p: string) {}
  check = () => true;
  run(model: Model, real: Real): void {
    expect(outcome(() => real.conn.read(this.p))).toEqual(model.m.read(this.p));
    expect(outcome(() => real.conn.directory(this.p).join(","))).toEqual(model.m.directory(this.p));
  }
  toString = () => `read ${this.p}`;
}
class WatchCmd implements Cmd {
  constructor(readonly p: string) {}
  check = (model: Readonly<Model>) => !model.watches.includes(this.p);
  run(model: Model, real: Real): void {
    real.watcher.watch(this.p, this.p);
    model.watches.push(this.p);
    // The initial event names the watched path.
    expect(real.watcher.takeWatchEvents()).toEqual([{ path: this.p, token: this.p }]);
  }
  toString = () => `watch ${this.p}`;
}

describe("store against a plain model", () => {
  test.prop([
    fc.commands(
      [
        fc.tuple(arbPath, arbValue).map(([p, v]) => new WriteCmd(p, v)),
        arbPath.map((p) => new MkdirCmd(p)),
        arbPath.map((p) => new RmCmd(p)),
        arbPath.map((p) => new ReadCmd(p)),
        arbPath.map((p) => new WatchCmd(p)),
      ],
      { maxCommands: 60, size: "max" },
    ),
  ])("values, listings, removal and watch events match", (cmds) => {
    const store = new XenStore();
    const conn = store.connect(0);
    conn.mkdir(ROOT);
    const real: Real = { store, conn, watcher: store.connect(0) };
    const model: Model = { m: new StoreModel(), watches: [] };
    fc.modelRun(() => ({ model, real }), cmds);
    // Nothing is lost or invented: the subtree equals the model.
    expect(subtree(store)).toEqual(sorted(model.m));
  });
});

type TxOp = { kind: "read" | "dir" | "rm" | "mkdir"; p: string } | { kind: "write"; p: string; v: string };
const arbTxOp: fc.Arbitrary<TxOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom("read" as const, "dir" as const, "rm" as const, "mkdir" as const), p: arbTxPath }),
  fc.record({ kind: fc.constant("write" as const), p: arbTxPath, v: arbValue }),
);
type Step = { who: number; action: "start" | "op" | "commit" | "abort" | "direct"; op: TxOp };
const arbStep: fc.Arbitrary<Step> = fc.record({
  who: fc.integer({ min: 0, max: 2 }),
  action: fc.constantFrom("start" as const, "op" as const, "op" as const, "op" as const, "commit" as const, "abort" as const, "direct" as const),
  op: arbTxOp,
});

function applyReal(conn: Connection, op: TxOp, tx: number): Outcome {
  return outcome(() => {
    switch (op.kind) {
      case "read":
        return conn.read(op.p, tx);
      case "dir":
        return conn.directory(op.p, tx).join(",");
      case "rm":
        conn.rm(op.p, tx);
        return "OK";
      case "mkdir":
        conn.mkdir(op.p, tx);
        return "OK";
      case "write":
        conn.write(op.p, op.v, tx);
        return "OK";
    }
  });
}

function applyModel(m: StoreModel, op: TxOp): Outcome {
  switch (op.kind) {
    case "read":
      return m.read(op.p);
    case "dir":
      return m.directory(op.p);
    case "rm": {
      const r = m.rm(op.p);
      return Array.isArray(r) ? "OK" : r;
    }
    case "mkdir":
      m.mkdir(op.p);
      return "OK";
    case "write":
      m.write(op.p, op.v);
      return "OK";
  }
}

describe("transactions serialise", () => {
  test.prop([fc.array(arbStep, { minLength: 20, maxLength: 80, size: "max" })])(
    "every committed transaction saw exactly what running it alone at commit time would see",
    (steps) => {
      const store = new XenStore();
      const conns = [0, 1, 2].map(() => store.connect(0));
      conns[0]!.mkdir(ROOT);
      let model = new StoreModel();
      let commits = 0;
      const open: ({ tx: number; log: [TxOp, Outcome][]; commitsAtStart: number } | undefined)[] = [undefined, undefined, undefined];
      for (const s of steps) {
        const conn = conns[s.who]!;
        const t = open[s.who];
        if (s.action === "direct" || (s.action === "op" && t === undefined)) {
          const expected = applyModel(model, s.op);
          expect(applyReal(conn, s.op, 0)).toEqual(expected);
          if (s.op.kind !== "read" && s.op.kind !== "dir") commits++;
        } else if (s.action === "start") {
          if (t === undefined) open[s.who] = { tx: conn.transactionStart(), log: [], commitsAtStart: commits };
        } else if (s.action === "op" && t !== undefined) {
          t.log.push([s.op, applyReal(conn, s.op, t.tx)]);
        } else if (s.action === "abort" && t !== undefined) {
          conn.transactionEnd(t.tx, false);
          open[s.who] = undefined;
        } else if (s.action === "commit" && t !== undefined) {
          open[s.who] = undefined;
          const ok = outcome(() => {
            conn.transactionEnd(t.tx, true);
            return "OK";
          });
          if (ok === "OK") {
            const replay = model.clone();
            for (const [op, seen] of t.log) expect(applyModel(replay, op)).toEqual(seen);
            model = replay;
            commits++;
          } else {
            expect(ok).toEqual({ error: "EAGAIN" });
            // A transaction nobody interfered with always commits.
            expect(commits).toBeGreaterThan(t.commitsAtStart);
          }
        }
      }
      expect(subtree(store)).toEqual(sorted(model));
    },
  );
});

const arbPerm: fc.Arbitrary<XsPermission> = fc.record({
  id: fc.integer({ min: 0, max: 4 }),
  perms: fc.constantFrom("n" as const, "r" as const, "w" as const, "b" as const),
});

describe("permissions per domain", () => {
  test.prop([fc.array(arbPerm, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 4 })])(
    "an unprivileged domain reads and writes exactly as its entry (or entry 0) allows",
    (perms, domid) => {
      const store = new XenStore();
      const dom0 = store.connect(0);
      dom0.write("/n", "v");
      dom0.setPerms("/n", perms);
      const d = store.connect(domid);
      const owner = perms[0]!.id === domid;
      const entry = perms.slice(1).find((p) => p.id === domid) ?? perms[0]!;
      const canRead = owner || entry.perms === "r" || entry.perms === "b";
      const canWrite = owner || entry.perms === "w" || entry.perms === "b";
      expect(outcome(() => d.read("/n"))).toEqual(canRead ? "v" : { error: "EACCES" });
      expect(outcomeOk(() => d.write("/n", "w"))).toEqual(canWrite ? "OK" : { error: "EACCES" });
      expect(outcomeOk(() => d.setPerms("/n", perms))).toEqual(owner ? "OK" : { error: "EACCES" });
      const bits = permForDomain(perms, domid, false);
      expect((bits & XS_PERM.READ) !== 0).toBe(canRead);
      // dom0 is privileged whatever the node says.
      expect(dom0.read("/n")).toBe(canWrite ? "w" : "v");
    },
  );
});
