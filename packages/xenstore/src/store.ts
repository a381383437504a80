/**
 * The store (C xenstored's core.c + domain.c + watch.c; oxenstored's store.ml, connections.ml,
 * domains.ml). Pure, synchronous and deterministic: no timers, no randomness, no clock. Domains
 * talk to it through `Connection`s: in-process ones from `connect`, or one per socket client.
 */
import { XenstoreError } from "./errors.js";
import { childPath, getDomainPath, isPathBelowOrEqual, isSpecialPath } from "./path.js";
import { DOMID_FIRST_RESERVED, permForDomain, XS_PERM, type XsPermissions } from "./perms.js";
import { DEFAULT_QUOTA, type XenstoreQuota } from "./quota.js";
import { Connection, type ConnectOptions } from "./connection.js";
import { TransactionView } from "./transaction.js";
import { type Actor, rmNode, type StoreNode, type TreeView, type WatchChange } from "./tree.js";

/** The special watch path fired when a domain is introduced (XS_INTRODUCE). */
export const WATCH_INTRODUCE_DOMAIN = "@introduceDomain";
/** The special watch path fired when a domain is released (XS_RELEASE). */
export const WATCH_RELEASE_DOMAIN = "@releaseDomain";
/** The special nodes: each has permissions (GET_PERMS/SET_PERMS) deciding who gets its events. */
export const SPECIAL_NODES: readonly string[] = Object.freeze([WATCH_INTRODUCE_DOMAIN, WATCH_RELEASE_DOMAIN]);

/** A store's quotas and privileged domains. */
export interface XenStoreOptions {
  /** Limits; unspecified ones take DEFAULT_QUOTA's values. */
  readonly quota?: Partial<XenstoreQuota>;
  /** Domains whose connections bypass permission checks (default: dom0 only). */
  readonly privilegedDomains?: readonly number[];
  /**
   * Create the nodes a fresh oxenstored has (`/local`, `/tool/xenstored`, `/@introduceDomain`,
   * `/@releaseDomain`, all `n0`) so listings match it. Default true; false leaves only `/`.
   */
  readonly oxenstoredLayout?: boolean;
  /**
   * On XS_RELEASE, keep the nodes the released domain owns, giving them to dom0 (cxenstored -K,
   * and oxenstored's behaviour since XSA-322), instead of removing them with everything below
   * (cxenstored's default since XSA-419). Default false.
   */
  readonly keepOrphans?: boolean;
}

/** One node as `XenStore.dump` lists it. */
export interface XsNodeDump {
  readonly path: string;
  readonly value: Uint8Array;
  readonly perms: XsPermissions;
}

const ROOT_PERMS: XsPermissions = Object.freeze([Object.freeze({ id: 0, perms: "n" as const })]);

/** Check a domain id argument (a decimal below DOMID_FIRST_RESERVED). Throws EINVAL. */
export function checkDomid(domid: number): number {
  if (!Number.isInteger(domid) || domid < 0 || domid >= DOMID_FIRST_RESERVED) {
    throw new XenstoreError("EINVAL", `bad domain id ${domid}`);
  }
  return domid;
}

/**
 * The xenstore database (xenstored's tree of nodes with permissions, quotas, watches and
 * transactions), shared by every connection.
 */
export class XenStore {
  readonly quota: XenstoreQuota;
  private readonly privileged: ReadonlySet<number>;
  private readonly nodes = new Map<string, StoreNode>();
  private readonly entryCounts = new Map<number, number>();
  private readonly conns = new Set<Connection>();
  private readonly introduced = new Set<number>();
  private readonly targets = new Map<number, number>();
  /** Open transactions: each keeps the nodes the main tree changes under it (its snapshot). */
  private readonly openTx = new Set<TransactionView>();
  /** Permissions of the special nodes (cxenstored keeps them as nodes outside `/`). */
  private readonly specialPerms = new Map<string, XsPermissions>(SPECIAL_NODES.map((n) => [n, ROOT_PERMS]));
  private readonly keepOrphans: boolean;
  private generation = 0;
  private nextConnectionId = 1;

  /** @internal The main tree, as operations outside a transaction see it. */
  readonly mainView: TreeView;

  constructor(options: XenStoreOptions = {}) {
    this.quota = Object.freeze({ ...DEFAULT_QUOTA, ...options.quota });
    this.privileged = new Set(options.privilegedDomains ?? [0]);
    this.keepOrphans = options.keepOrphans ?? false;
    const nodes = this.nodes;
    const store = this;
    this.mainView = {
      get: (path) => nodes.get(path),
      set(path, node) {
        for (const tx of store.openTx) tx.capture(path, nodes.get(path));
        store.count(nodes.get(path), -1);
        store.count(node, 1);
        node.gen = ++store.generation;
        nodes.set(path, node);
      },
      delete(path) {
        for (const tx of store.openTx) tx.capture(path, nodes.get(path));
        store.count(nodes.get(path), -1);
        nodes.delete(path);
        store.generation++;
      },
      entries: (owner) => this.entryCounts.get(owner) ?? 0,
    };
    this.mainView.set("/", { value: new Uint8Array(0), perms: ROOT_PERMS, children: [], gen: 0 });
    if (options.oxenstoredLayout ?? true) {
      const root = this.connect(0, { privileged: true });
      for (const p of ["/local", `/${WATCH_INTRODUCE_DOMAIN}`, `/${WATCH_RELEASE_DOMAIN}`]) root.mkdir(p);
      root.write("/tool/xenstored", "pvnet");
      root.close();
    }
  }

  /**
   * Open a connection for domain `domid`: relative paths resolve against /local/domain/<domid>
   * and permissions are checked as that domain (privileged domains bypass them).
   */
  connect(domid: number, options: ConnectOptions = {}): Connection {
    checkDomid(domid);
    const conn = new Connection(this, this.nextConnectionId++, domid, options.privileged ?? this.privileged.has(domid), options);
    this.conns.add(conn);
    return conn;
  }

  /** Connections currently open, in the order they were opened. */
  get connections(): readonly Connection[] {
    return [...this.conns];
  }

  /** True when `domid`'s connections bypass permission checks by default. */
  isPrivilegedDomain(domid: number): boolean {
    return this.privileged.has(domid);
  }

  /** XS_GET_DOMAIN_PATH */
  getDomainPath(domid: number): string {
    return getDomainPath(checkDomid(domid));
  }

  /** XS_IS_DOMAIN_INTRODUCED */
  isDomainIntroduced(domid: number): boolean {
    return this.introduced.has(checkDomid(domid));
  }

  /** XS_INTRODUCE (the toolstack's call): the domain becomes known; `@introduceDomain` fires. */
  introduceDomain(domid: number): void {
    checkDomid(domid);
    if (this.introduced.has(domid)) return;
    this.introduced.add(domid);
    this.fireWatches([{ path: WATCH_INTRODUCE_DOMAIN, exact: true, perms: this.specialPerms.get(WATCH_INTRODUCE_DOMAIN)! }]);
  }

  /**
   * XS_RELEASE: forget the domain, close its connections (their watches and transactions go with
   * them), revoke what it held in the tree (`domainTreeRemove`) and fire `@releaseDomain`. EINVAL
   * if it was not introduced (as oxenstored answers).
   */
  releaseDomain(domid: number): void {
    checkDomid(domid);
    if (!this.introduced.delete(domid)) throw new XenstoreError("EINVAL", `domain ${domid} not introduced`);
    this.targets.delete(domid);
    for (const c of [...this.conns]) if (c.domid === domid) c.close();
    this.domainTreeRemove(domid);
    this.fireWatches([{ path: WATCH_RELEASE_DOMAIN, exact: true, perms: this.specialPerms.get(WATCH_RELEASE_DOMAIN)! }]);
  }

  /**
   * domain_tree_remove (cxenstored domain.c; oxenstored's clean-up of dead domains): so that a new
   * domain reusing the domid inherits nothing (XSA-322), walk the whole tree: a node the domain
   * owns is removed with everything below it (XSA-419: nodes created outside its home would
   * otherwise pile up, counted against nobody), or with `keepOrphans` given to dom0; an entry
   * granting the domain access is dropped, here and on the special nodes. Node counts follow the
   * tree, so the domain's count is zero afterwards (oxenstored kept a stale one: XSA-483).
   * Removals fire watches, as an RM would.
   */
  private domainTreeRemove(domid: number): void {
    const dom0: Actor = { domid: 0, privileged: true, target: undefined };
    const changes: WatchChange[] = [];
    const stack = ["/"];
    while (stack.length > 0) {
      const path = stack.pop()!;
      const node = this.nodes.get(path);
      if (node === undefined) continue;
      const owned = node.perms[0]?.id === domid;
      if (owned && !this.keepOrphans && path !== "/") {
        rmNode(this.mainView, dom0, path, changes);
        continue;
      }
      if (owned || node.perms.some((p, i) => i > 0 && p.id === domid)) {
        const perms = revokePerms(node.perms, domid);
        // Perms only: not a change a watcher is told of (cxenstored write_node_raw, no event).
        this.mainView.set(path, { ...node, perms });
      }
      for (const c of node.children) stack.push(childPath(path, c));
    }
    for (const [name, perms] of this.specialPerms) this.specialPerms.set(name, revokePerms(perms, domid));
    this.fireWatches(changes);
  }
  /** XS_SET_TARGET: `domid` (a device model) gets the access of `target`. Both must be introduced. */
  setTarget(domid: number, target: number): void {
    checkDomid(domid);
    checkDomid(target);
    if (!this.introduced.has(domid) || !this.introduced.has(target)) {
      throw new XenstoreError("ENOENT", "domain not introduced");
    }
    this.targets.set(domid, target);
  }

  /** @internal GET_PERMS of a special node (`@introduceDomain`, `@releaseDomain`); ENOENT for others. */
  specialNodePerms(name: string): XsPermissions {
    const perms = this.specialPerms.get(name);
    if (perms === undefined) throw new XenstoreError("ENOENT", name);
    return perms;
  }

  /** @internal SET_PERMS of a special node, after the caller's checks. */
  setSpecialNodePerms(name: string, perms: XsPermissions): void {
    this.specialNodePerms(name);
    this.specialPerms.set(name, Object.freeze(perms.map((p) => Object.freeze({ id: p.id, perms: p.perms }))));
  }

  /** The domain `domid` acts for (XS_SET_TARGET), if any. */
  targetOf(domid: number): number | undefined {
    return this.targets.get(domid);
  }

  /** Nodes owned by `domid` (what the per-domain node quota counts). */
  entriesOf(domid: number): number {
    return this.entryCounts.get(domid) ?? 0;
  }

  /** Number of nodes in the tree, `/` included. */
  get nodeCount(): number {
    return this.nodes.size;
  }

  /** Every node, sorted by path: for tests, debugging and state comparison. */
  dump(): XsNodeDump[] {
    return [...this.nodes.keys()].sort().map((path) => {
      const n = this.nodes.get(path)!;
      return { path, value: n.value, perms: n.perms };
    });
  }

  /** @internal Deliver watch events for committed changes (C xenstored fire_watches). */
  fireWatches(changes: readonly WatchChange[]): void {
    if (changes.length === 0) return;
    for (const ch of changes) {
      for (const conn of this.conns) {
        for (const w of conn.watchList) {
          if (!watchMatches(w.abs, ch)) continue;
          // Special events too: only privileged watchers and domains the special node's
          // permissions let read it (XSA-115; cxenstored fire_special_watches, oxenstored
          // fire_spec_watches with Perms.can_fire_watch).
          const bits = permForDomain(ch.perms, conn.domid, conn.privileged, this.targets.get(conn.domid));
          if ((bits & XS_PERM.READ) === 0) continue;
          conn.queueWatchEvent(w.relative ? ch.path.slice(getDomainPath(conn.domid).length + 1) : ch.path, w.token);
        }
      }
    }
  }

  /**
   * @internal A transaction starts: it sees the tree as it is now. A privileged one may look at
   * any number of nodes (cxenstored applies ACC_TRANSNODES to unprivileged domains only, so a
   * toolstack transaction over a big tree works); its snapshot stays bounded all the same.
   */
  openTransaction(privileged = false): TransactionView {
    const max = this.quota.maxNodesPerTransaction;
    const tx = new TransactionView(this.mainView, max, privileged ? Number.POSITIVE_INFINITY : max);
    this.openTx.add(tx);
    return tx;
  }

  /** @internal A transaction ends (committed, aborted or dropped). */
  closeTransaction(tx: TransactionView): void {
    this.openTx.delete(tx);
  }

  /** @internal Forget a closed connection. */
  dropConnection(conn: Connection): void {
    this.conns.delete(conn);
  }

  private count(node: StoreNode | undefined, by: number): void {
    const owner = node?.perms[0]?.id;
    if (owner === undefined) return;
    this.entryCounts.set(owner, (this.entryCounts.get(owner) ?? 0) + by);
  }
}

/** `perms` without any access of `domid`; its ownership goes to dom0. */
function revokePerms(perms: XsPermissions, domid: number): XsPermissions {
  const out = perms.filter((p, i) => i === 0 || p.id !== domid);
  if (out[0]!.id === domid) out[0] = { id: 0, perms: out[0]!.perms };
  return out;
}

function watchMatches(watchAbs: string, ch: WatchChange): boolean {
  if (ch.exact || isSpecialPath(ch.path) || isSpecialPath(watchAbs)) return watchAbs === ch.path;
  return isPathBelowOrEqual(ch.path, watchAbs);
}
