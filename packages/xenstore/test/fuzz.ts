/**
 * A seeded xenstore fuzzer: several unprivileged guests and dom0 issue random requests (API calls,
 * transactions, watches, domain release and domid reuse, and random bytes through the xs_wire
 * frame decoder and request processor) and every step is followed by invariant checks:
 *   - nothing but a XenstoreError escapes the store, and the wire processor throws nothing;
 *   - a guest never reads, lists, writes or re-permissions a node its permissions deny;
 *   - node counts follow the tree and stay within the per-domain quota; watches, transactions
 *     and queued events stay within the per-connection quotas; the tree stays bounded and
 *     consistent (every node listed by its parent, every listed child present);
 *   - special watch events reach a guest only when the special node's permissions allow;
 *   - after a release nothing in the tree names the dead domid.
 * Deterministic for a seed; a violation throws an Error whose message starts `seed=<n> step=<i>`.
 */
import {
  type Connection,
  encodeMessage,
  isXenstoreError,
  libxlDomainMake,
  permForDomain,
  processRequest,
  resolvePath,
  SPECIAL_NODES,
  XBT_NIL,
  XENSTORE_PAYLOAD_MAX,
  XenStore,
  type XenstoreQuota,
  XS_PERM,
  XS_TYPE,
  XsFrameDecoder,
  type XsMessage,
  type XsPermissions,
  type XsPermLevel,
  WATCH_RELEASE_DOMAIN,
} from "../src/index.js";

/** The guests' domids: one is released and re-introduced (its domid reused) now and then. */
const GUESTS = [1, 2, 3] as const;

/** Small quotas, so that floods reach them within a few hundred steps. */
const FUZZ_QUOTA: Partial<XenstoreQuota> = {
  maxEntriesPerDomain: 48,
  maxWatchesPerConnection: 6,
  maxTransactionsPerConnection: 3,
  maxNodesPerTransaction: 40,
  maxPendingWatchEvents: 16,
};

/** Node names the random paths are made of (a finite set, so the tree is bounded). */
const NAMES = ["a", "b", "data", "device", "x-1", "@n", "_"] as const;
const MAX_DEPTH = 4;
/** The directories of a home that libxl makes the guest's own. */
const HOME_DIRS = ["data", "device", "error", "drivers"] as const;

export interface FuzzOptions {
  readonly seed: number;
  readonly steps: number;
}

export interface FuzzStats {
  readonly seed: number;
  readonly steps: number;
  /** Requests answered OK / with an error, by the API and the wire processor together. */
  readonly ok: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly releases: number;
  readonly wireFrames: number;
  readonly droppedWatchEvents: number;
  readonly maxNodes: number;
}

/** mulberry32: a small seeded PRNG (tests only; model code uses @pvnet/sim's). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Run the fuzzer; throws `seed=<n> step=<i>: ...` on the first violated invariant. */
export function runXenstoreFuzz(options: FuzzOptions): FuzzStats {
  const { seed, steps } = options;
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const keepOrphans = (seed & 1) === 1;
  const store = new XenStore({ quota: FUZZ_QUOTA, keepOrphans });
  const quota = store.quota;
  const dom0 = store.connect(0);
  /** The oracle: a privileged connection that only looks. */
  const oracle = store.connect(0);
  const conns = new Map<number, Connection>();
  /** Every guest connection ever opened (a closed one keeps its counters). */
  const everyConn: Connection[] = [];
  const decoders = new Map<number, XsFrameDecoder>();
  const openTx = new Map<Connection, number[]>();
  const errors: Record<string, number> = {};
  let ok = 0;
  let releases = 0;
  let wireFrames = 0;
  let maxNodes = 0;
  let step = 0;

  const fail = (what: string): never => {
    throw new Error(`seed=${seed} step=${step}: ${what}`);
  };

  /** Run one API call; a XenstoreError is counted, anything else is a finding. */
  const attempt = <T>(what: string, fn: () => T): { ok: true; value: T } | { ok: false; code: string } => {
    try {
      const value = fn();
      ok++;
      return { ok: true, value };
    } catch (err) {
      if (!isXenstoreError(err)) return fail(`${what} threw ${String(err)}`);
      errors[err.code] = (errors[err.code] ?? 0) + 1;
      return { ok: false, code: err.code };
    }
  };

  const boot = (domid: number): void => {
    libxlDomainMake(dom0, domid, `guest${domid}`);
    const c = store.connect(domid);
    everyConn.push(c);
    conns.set(domid, c);
    decoders.set(domid, new XsFrameDecoder());
    openTx.set(c, []);
  };
  for (const d of GUESTS) boot(d);
  dom0.mkdir("/shared");
  dom0.setPerms("/shared", [
    { id: 0, perms: "n" },
    ...GUESTS.map((id) => ({ id, perms: "b" as const })),
  ]);
  openTx.set(dom0, []);

  const randomPath = (domid: number): string => {
    const r = int(20);
    if (r === 0) return pick(SPECIAL_NODES);
    if (r === 1) return "/";
    if (r === 2) return `${pick(["", "/", "//", "a/"])}${pick(NAMES)}${pick(["", "/", "//"])}`; // often malformed
    if (r === 3) return `/${"l".repeat(2040 + int(16))}`; // around the path limit
    const depth = 1 + int(MAX_DEPTH);
    const parts: string[] = Array.from({ length: depth }, () => pick(NAMES));
    // Mostly below the home directories libxl gives the guest (the only writable part of a home).
    if (int(4) !== 0) parts[0] = pick(HOME_DIRS);
    const where = int(6);
    if (where <= 1) return parts.join("/"); // relative: own home
    if (where === 2) return `/local/domain/${pick(GUESTS)}/${parts.join("/")}`;
    if (where === 3) return `/shared/${parts.join("/")}`;
    if (where === 4) return `/local/domain/${domid}/${parts.join("/")}`;
    return `/${parts.join("/")}`;
  };
  const randomPerms = (owner: number): XsPermissions => {
    const levels: readonly XsPermLevel[] = ["n", "r", "w", "b"];
    const out = [{ id: int(4) === 0 ? pick([0, ...GUESTS]) : owner, perms: pick(levels) }];
    for (let i = int(3); i > 0; i--) out.push({ id: pick([0, ...GUESTS]), perms: pick(levels) });
    return out;
  };

  /** The permissions of `abs` (or of its deepest existing ancestor) before an operation. */
  const permsBefore = (abs: string): { exists: boolean; perms: XsPermissions } | undefined => {
    let p = abs;
    for (;;) {
      try {
        return { exists: p === abs, perms: oracle.getPerms(p) };
      } catch {
        if (p === "/") return undefined;
        const i = p.lastIndexOf("/");
        p = i <= 0 ? "/" : p.slice(0, i);
      }
    }
  };

  const guestOp = (domid: number, c: Connection): void => {
    const txs = openTx.get(c)!;
    const inTx = txs.length > 0 && int(3) === 0;
    const tx = inTx ? pick(txs) : XBT_NIL;
    const path = randomPath(domid);
    let abs: string | undefined;
    try {
      abs = resolvePath(path, domid, quota.maxPathLength);
    } catch {
      abs = undefined;
    }
    const before = abs !== undefined && tx === XBT_NIL ? permsBefore(abs) : undefined;
    const target = store.targetOf(domid);
    const may = (bits: number): boolean =>
      before !== undefined && (permForDomain(before.perms, domid, false, target) & bits) === bits;
    const op = int(14);
    if (op <= 2) {
      const r = attempt("read", () => c.readBytes(path, tx));
      if (r.ok && before !== undefined && !(before.exists && may(XS_PERM.READ))) fail(`dom${domid} read ${abs} without read access`);
    } else if (op <= 5) {
      const value = "v".repeat(int(3) === 0 ? int(2100) : int(8));
      const r = attempt("write", () => c.write(path, value, tx));
      if (r.ok && before !== undefined && !may(XS_PERM.WRITE)) fail(`dom${domid} wrote ${abs} without write access`);
    } else if (op === 6) {
      attempt("mkdir", () => c.mkdir(path, tx));
    } else if (op === 7) {
      const r = attempt("rm", () => c.rm(path, tx));
      if (r.ok && before?.exists && !may(XS_PERM.WRITE)) fail(`dom${domid} removed ${abs} without write access`);
    } else if (op === 8) {
      const r = attempt("directory", () => c.directory(path, tx));
      if (r.ok && before !== undefined && !(before.exists && may(XS_PERM.READ))) fail(`dom${domid} listed ${abs} without read access`);
    } else if (op === 9) {
      const perms = randomPerms(domid);
      const r = attempt("setPerms", () => c.setPerms(path, perms, tx));
      if (r.ok && before !== undefined && !(before.exists && before.perms[0]!.id === domid && perms[0]!.id === domid)) {
        fail(`dom${domid} set perms of ${abs} it does not own, or gave it away`);
      }
    } else if (op === 10) {
      const r = int(4);
      if (r === 0) attempt("unwatch", () => c.unwatch(path, `t${int(3)}`));
      else if (r === 1 && int(4) === 0) attempt("resetWatches", () => c.resetWatches());
      else {
        // Mostly where events happen, so queues fill up and overflow.
        const w = int(3) === 0 ? path : pick(["data", "device", "/shared", `/local/domain/${pick(GUESTS)}`, "/", WATCH_RELEASE_DOMAIN]);
        attempt("watch", () => c.watch(w, `t${int(3)}`));
      }
      if (c.openTransactions === 0) txs.length = 0;
    } else if (op === 11) {
      if (int(2) === 0 || txs.length === 0) {
        const r = attempt("transactionStart", () => c.transactionStart());
        if (r.ok) txs.push(r.value);
      } else {
        const t = txs.splice(int(txs.length), 1)[0]!;
        attempt("transactionEnd", () => c.transactionEnd(t, int(3) !== 0));
      }
    } else if (op === 12) {
      c.takeWatchEvents(int(3) === 0 ? Number.POSITIVE_INFINITY : int(4));
    } else {
      wireOp(domid, c);
    }
  };

  /** Random frames (well-formed requests with random arguments, or junk) through the decoder. */
  const wireOp = (domid: number, c: Connection): void => {
    const r = int(8);
    let bytes: Uint8Array;
    if (r <= 4) {
      const type = int(4) === 0 ? int(30) : pick([XS_TYPE.READ, XS_TYPE.WRITE, XS_TYPE.WATCH, XS_TYPE.DIRECTORY, XS_TYPE.GET_PERMS, XS_TYPE.SET_PERMS, XS_TYPE.RESET_WATCHES, XS_TYPE.TRANSACTION_START, XS_TYPE.TRANSACTION_END, XS_TYPE.RELEASE, XS_TYPE.INTRODUCE]);
      const args = [randomPath(domid), pick(["", "t", "T", "F", "b1", "n0", "1", "v"]), pick(["", "r2"])].slice(0, 1 + int(3));
      const text = args.join("\0") + (int(5) === 0 ? "" : "\0");
      const payload = Buffer.from(text, "latin1");
      bytes = encodeMessage({ type, reqId: int(0x10000), txId: int(3) === 0 ? int(4) : 0, payload });
    } else if (r <= 6) {
      bytes = new Uint8Array(int(40));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(4) === 0 ? int(256) : int(8);
    } else {
      // A header announcing a length from 0 up to far over XENSTORE_PAYLOAD_MAX, maybe truncated.
      bytes = new Uint8Array(16 + int(8));
      new DataView(bytes.buffer).setUint32(12, pick([0, 1, XENSTORE_PAYLOAD_MAX, XENSTORE_PAYLOAD_MAX + 1, 0x80000000, 0xffffffff]), true);
      bytes = bytes.subarray(0, int(4) === 0 ? int(16) : bytes.length);
    }
    const decoder = decoders.get(domid)!;
    try {
      decoder.push(
        bytes,
        (msg: XsMessage) => {
          wireFrames++;
          const reply = processRequest(c, msg);
          if (reply.reqId !== msg.reqId || reply.txId !== msg.txId) fail("reply does not echo req_id/tx_id");
          if (reply.payload.length > XENSTORE_PAYLOAD_MAX) fail(`reply of ${reply.payload.length} bytes`);
          if (reply.type === XS_TYPE.ERROR) {
            const name = Buffer.from(reply.payload).toString("latin1");
            errors[`wire ${name.slice(0, -1)}`] = (errors[`wire ${name.slice(0, -1)}`] ?? 0) + 1;
          } else ok++;
        },
        () => {},
      );
    } catch (err) {
      fail(`wire input threw ${String(err)}`);
    }
    // The server closes a connection whose stream broke (oversized frame): start a fresh one.
    if (decoder.failed || decoder.pendingBytes > XENSTORE_PAYLOAD_MAX + 16) decoders.set(domid, new XsFrameDecoder());
    // Transactions the wire opened or ended are not tracked; forget ours if they are gone.
    const txs = openTx.get(c)!;
    for (let i = txs.length - 1; i >= 0; i--) {
      try {
        c.transactionIsOpen(txs[i]!);
      } catch {
        txs.splice(i, 1);
      }
    }
  };

  /** Empty every queue (as the guests would read them), and note the drop counts. */
  const eventTotals = (): Map<Connection, number> => {
    for (const c of store.connections) c.takeWatchEvents();
    return new Map(store.connections.map((c) => [c, c.droppedWatchEvents]));
  };

  const dom0Op = (): void => {
    const r = int(10);
    if (r === 0 && int(4) === 0) {
      // Release a guest, check nothing names it, and boot a new one with the same domid.
      const domid = pick(GUESTS);
      const before = eventTotals();
      dom0.releaseDomain(domid);
      releases++;
      for (const n of store.dump()) {
        if (n.perms.some((p) => p.id === domid)) fail(`after release of ${domid}, ${n.path} names it: ${JSON.stringify(n.perms)}`);
      }
      for (const s of SPECIAL_NODES) if (oracle.getPerms(s).some((p) => p.id === domid)) fail(`${s} still names ${domid}`);
      if (store.entriesOf(domid) !== 0) fail(`released dom${domid} still owns ${store.entriesOf(domid)} nodes`);
      checkSpecialEvents(before, "@releaseDomain");
      const before2 = eventTotals();
      boot(domid);
      checkSpecialEvents(before2, "@introduceDomain");
    } else if (r === 1) {
      const s = pick(SPECIAL_NODES);
      attempt("setPerms special", () => dom0.setPerms(s, [{ id: 0, perms: "n" }, ...(int(2) === 0 ? [{ id: pick(GUESTS), perms: "r" as const }] : [])]));
    } else if (r <= 4) {
      const path = randomPath(0);
      attempt("dom0 write", () => dom0.write(path, "d"));
    } else if (r === 5) {
      const path = randomPath(0);
      attempt("dom0 setPerms", () => dom0.setPerms(path, randomPerms(pick([0, ...GUESTS]))));
    } else if (r === 6) {
      attempt("dom0 rm", () => dom0.rm(randomPath(0)));
    } else {
      const txs = openTx.get(dom0)!;
      if (txs.length === 0) {
        const t = attempt("dom0 tx", () => dom0.transactionStart());
        if (t.ok) txs.push(t.value);
      } else {
        const t = txs[0]!;
        attempt("dom0 tx write", () => dom0.write(randomPath(0), "t", t));
        if (int(3) === 0) {
          txs.shift();
          attempt("dom0 tx end", () => dom0.transactionEnd(t, true));
        }
      }
    }
    dom0.takeWatchEvents();
  };

  /** A special event may reach an unprivileged connection only if the special node lets it read. */
  const checkSpecialEvents = (before: Map<Connection, number>, special: string): void => {
    const perms = oracle.getPerms(special);
    for (const c of store.connections) {
      if (c.privileged) continue;
      const queued = c.takeWatchEvents();
      const got = queued.filter((e) => e.path === special).length;
      const dropped = c.droppedWatchEvents - (before.get(c) ?? 0);
      const watching = c.watchList.filter((w) => w.abs === special).length;
      const allowed = (permForDomain(perms, c.domid, false, store.targetOf(c.domid)) & XS_PERM.READ) !== 0;
      const expected = allowed ? watching : 0;
      // Node removals on release queue events too; with drops only an upper bound is known.
      if (dropped === 0 ? got !== expected : got > expected) {
        fail(`dom${c.domid} got ${got} ${special} events (allowed ${allowed}, watching ${watching})`);
      }
    }
  };

  const checkInvariants = (full: boolean, byDom0: boolean, countsBefore: ReadonlyMap<number, number>): void => {
    for (const c of store.connections) {
      if (c.watchList.length > quota.maxWatchesPerConnection) fail(`conn ${c.id}: ${c.watchList.length} watches`);
      if (c.openTransactions > quota.maxTransactionsPerConnection) fail(`conn ${c.id}: ${c.openTransactions} transactions`);
      if (c.pendingWatchEvents > quota.maxPendingWatchEvents) fail(`conn ${c.id}: ${c.pendingWatchEvents} queued events`);
    }
    // dom0 is not bound by a guest's quota (it may create nodes a guest owns, as libxl does), but
    // nothing a guest does takes a guest past it.
    for (const d of GUESTS) {
      const now = store.entriesOf(d);
      if (!byDom0 && now > quota.maxEntriesPerDomain && now > (countsBefore.get(d) ?? 0)) fail(`dom${d} grew to ${now} nodes`);
    }
    maxNodes = Math.max(maxNodes, store.nodeCount);
    if (!full) return;
    const nodes = store.dump();
    const byPath = new Map(nodes.map((n) => [n.path, n]));
    const owners = new Map<number, number>();
    for (const n of nodes) {
      owners.set(n.perms[0]!.id, (owners.get(n.perms[0]!.id) ?? 0) + 1);
      if (n.path !== "/") {
        const i = n.path.lastIndexOf("/");
        const parent = i === 0 ? "/" : n.path.slice(0, i);
        if (!byPath.has(parent)) fail(`${n.path} has no parent`);
        if (!oracle.directory(parent).includes(n.path.slice(i + 1))) fail(`${parent} does not list ${n.path}`);
      }
      for (const child of oracle.directory(n.path)) {
        if (!byPath.has(n.path === "/" ? `/${child}` : `${n.path}/${child}`)) fail(`${n.path} lists missing ${child}`);
      }
    }
    for (const [owner, count] of owners) {
      if (store.entriesOf(owner) !== count) fail(`dom${owner} counted ${store.entriesOf(owner)} nodes, owns ${count}`);
    }
  };

  for (step = 0; step < steps; step++) {
    const countsBefore = new Map(GUESTS.map((d) => [d, store.entriesOf(d)]));
    const byDom0 = int(6) === 0;
    if (byDom0) dom0Op();
    else {
      const domid = pick(GUESTS);
      guestOp(domid, conns.get(domid)!);
    }
    checkInvariants(step % 16 === 15 || step === steps - 1, byDom0, countsBefore);
  }
  let dropped = 0;
  for (const c of everyConn) dropped += c.droppedWatchEvents;
  return { seed, steps, ok, errors, releases, wireFrames, droppedWatchEvents: dropped, maxNodes };
}
