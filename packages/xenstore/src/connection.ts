/**
 * A connection to the store (C xenstored's struct connection; oxenstored's connection.ml): one
 * domain's session, with its transactions, its watches and its queue of undelivered watch
 * events. Every method is synchronous and throws a XenstoreError on failure.
 */
import { isXenstoreError, XenstoreError } from "./errors.js";
import { isSpecialPath, resolvePath } from "./path.js";
import { permForDomain, XS_PERM, type XsPermissions } from "./perms.js";
import type { XenStore } from "./store.js";
import type { TransactionView } from "./transaction.js";
import {
  type Actor,
  directoryNode,
  getNode,
  getPermsNode,
  mkdirNode,
  readNode,
  rmNode,
  setPermsNode,
  type TreeView,
  type WatchChange,
  writeNode,
} from "./tree.js";
import { XENSTORE_PAYLOAD_MAX } from "./wire.js";

/** XBT_NIL: the "no transaction" id. */
export const XBT_NIL = 0;

/** How a connection hands its watch events to its owner. */
export interface ConnectOptions {
  /**
   * Called when the watch-event queue goes from empty to non-empty, so the owner (a
   * deterministic runner, the socket server) decides when the domain drains it.
   */
  readonly onWatchPending?: (conn: Connection) => void;
  /** Override whether this connection bypasses permission checks. */
  readonly privileged?: boolean;
}

/** A fired watch: the path that changed (relative if the watch was), and the watch's token. */
export interface WatchEvent {
  readonly path: string;
  readonly token: string;
}

/** A registered watch. `abs` is the resolved path (or the special `@...` name). */
export interface WatchRegistration {
  readonly path: string;
  readonly abs: string;
  readonly token: string;
  readonly relative: boolean;
}

/** XS_DIRECTORY_PART's answer: the node generation and the names from `offset` on. */
export interface DirectoryPart {
  readonly generation: number;
  readonly children: readonly string[];
  /** True when the listing reached the last child. */
  readonly complete: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Connection implements Actor {
  private readonly transactions = new Map<number, TransactionView>();
  private nextTxId = 1;
  private readonly watches: WatchRegistration[] = [];
  private readonly events: WatchEvent[] = [];
  private dropped = 0;
  private isClosed = false;
  private readonly onWatchPending: ((conn: Connection) => void) | undefined;

  /** @internal Use `XenStore.connect`. */
  constructor(
    private readonly store: XenStore,
    readonly id: number,
    readonly domid: number,
    readonly privileged: boolean,
    options: ConnectOptions,
  ) {
    this.onWatchPending = options.onWatchPending;
  }

  /** The domain this one acts for (XS_SET_TARGET), if any. */
  get target(): number | undefined {
    return this.store.targetOf(this.domid);
  }

  /** The connection was closed (its domain released or its socket gone): requests are refused. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** XS_READ, decoded as UTF-8. */
  read(path: string, tx = XBT_NIL): string {
    return decoder.decode(this.readBytes(path, tx));
  }

  /** XS_READ: the value's bytes. */
  readBytes(path: string, tx = XBT_NIL): Uint8Array {
    return readNode(this.view(tx), this, this.resolve(path));
  }

  /** True when the node exists and is readable (what `xenstore-exists` asks). */
  exists(path: string, tx = XBT_NIL): boolean {
    try {
      this.readBytes(path, tx);
      return true;
    } catch (err) {
      if (isXenstoreError(err, "ENOENT")) return false;
      throw err;
    }
  }

  /** XS_WRITE: strings are stored as UTF-8. Missing ancestors are created. */
  write(path: string, value: string | Uint8Array, tx = XBT_NIL): void {
    const abs = this.resolve(path);
    const bytes = typeof value === "string" ? encoder.encode(value) : value.slice();
    this.mutate(tx, (view, changes) => writeNode(view, this, this.store.quota, abs, bytes, changes));
  }

  /** XS_MKDIR */
  mkdir(path: string, tx = XBT_NIL): void {
    const abs = this.resolve(path);
    this.mutate(tx, (view, changes) => mkdirNode(view, this, this.store.quota, abs, changes));
  }

  /** XS_RM */
  rm(path: string, tx = XBT_NIL): void {
    const abs = this.resolve(path);
    this.mutate(tx, (view, changes) => rmNode(view, this, abs, changes));
  }

  /** XS_DIRECTORY: child names, sorted. */
  directory(path: string, tx = XBT_NIL): string[] {
    return [...directoryNode(this.view(tx), this, this.resolve(path))];
  }

  /**
   * XS_DIRECTORY_PART (C xenstored send_directory_part): the children from byte `offset` of the
   * NUL-separated child list, as many as fit one reply of XENSTORE_PAYLOAD_MAX bytes.
   */
  directoryPart(path: string, offset: number, tx = XBT_NIL): DirectoryPart {
    const node = getNode(this.view(tx), this, this.resolve(path), 1);
    const genLen = String(node.gen).length + 1;
    // Room left after the generation and the final empty string that marks the end.
    const maxLen = XENSTORE_PAYLOAD_MAX - genLen - 1;
    const children: string[] = [];
    let pos = 0;
    let len = 0;
    let i = 0;
    for (; i < node.children.length; i++) {
      const size = node.children[i]!.length + 1;
      if (pos >= offset) {
        if (len + size > maxLen) break;
        children.push(node.children[i]!);
        len += size;
      }
      pos += size;
    }
    return { generation: node.gen, children, complete: i === node.children.length };
  }

  /**
   * XS_GET_PERMS. Also takes the special nodes `@introduceDomain` and `@releaseDomain` (whose
   * permissions say who gets their events); another `@...` name is ENOENT (cxenstored).
   */
  getPerms(path: string, tx = XBT_NIL): XsPermissions {
    const abs = this.resolve(path, true);
    if (!isSpecialPath(abs)) return getPermsNode(this.view(tx), this, abs);
    if (tx !== XBT_NIL) this.transaction(tx);
    const perms = this.store.specialNodePerms(abs);
    if ((permForDomain(perms, this.domid, this.privileged, this.target) & XS_PERM.READ) === 0) {
      throw new XenstoreError("EACCES", abs);
    }
    return perms;
  }

  /**
   * XS_SET_PERMS: entry 0 is the owner and everyone else's access. On a special node it lets
   * domains receive its watch events (docs/misc/xenstore.txt); only its owner (dom0) may, at once
   * even inside a transaction (cxenstored keeps special nodes outside transactions).
   */
  setPerms(path: string, perms: XsPermissions, tx = XBT_NIL): void {
    const abs = this.resolve(path, true);
    const copy = perms.map((p) => ({ id: p.id, perms: p.perms }));
    if (!isSpecialPath(abs)) {
      this.mutate(tx, (view, changes) => setPermsNode(view, this, this.store.quota, abs, copy, changes));
      return;
    }
    if (tx !== XBT_NIL) this.transaction(tx);
    if (copy.length === 0 || copy.length > this.store.quota.maxPermsPerNode) {
      throw new XenstoreError("EINVAL", `${copy.length} permission entries`);
    }
    const old = this.store.specialNodePerms(abs);
    const need = XS_PERM.WRITE | XS_PERM.OWNER;
    if ((permForDomain(old, this.domid, this.privileged, this.target) & need) !== need) throw new XenstoreError("EACCES", abs);
    if (!this.privileged && copy[0]!.id !== old[0]!.id) throw new XenstoreError("EPERM", "only dom0 may change the owner");
    this.store.setSpecialNodePerms(abs, copy);
  }

  /**
   * XS_WATCH: `path` may be relative (its events are then relative too) or special (`@...`).
   * Queues the initial event right away, as oxenstored and C xenstored do. EEXIST for a
   * duplicate (path, token), EQUOTA past maxWatchesPerConnection.
   */
  watch(path: string, token: string): void {
    this.checkOpen();
    const abs = this.resolve(path, true);
    const special = isSpecialPath(abs);
    if (this.watches.some((w) => w.path === path && w.token === token)) throw new XenstoreError("EEXIST", path);
    if (this.watches.length >= this.store.quota.maxWatchesPerConnection) {
      throw new XenstoreError("EQUOTA", `more than ${this.store.quota.maxWatchesPerConnection} watches`);
    }
    this.watches.push({ path, abs, token, relative: !special && !path.startsWith("/") });
    this.queueWatchEvent(path, token);
  }

  /** XS_UNWATCH: ENOENT if no such (path, token). */
  unwatch(path: string, token: string): void {
    this.checkOpen();
    const i = this.watches.findIndex((w) => w.path === path && w.token === token);
    if (i < 0) throw new XenstoreError("ENOENT", `no watch ${path} ${token}`);
    this.watches.splice(i, 1);
  }

  /**
   * XS_RESET_WATCHES: drop every watch (and the events not yet taken) and every open transaction
   * (docs/misc/xenstore.txt; cxenstored do_reset_watches, oxenstored do_reset_watches). Sent
   * inside a transaction it ends that one too (cxenstored asserted there: XSA-484).
   */
  resetWatches(): void {
    this.checkOpen();
    this.watches.length = 0;
    this.events.length = 0;
    this.endAllTransactions();
  }

  /** The watches registered, in registration order. */
  get watchList(): readonly WatchRegistration[] {
    return this.watches;
  }

  /** XS_TRANSACTION_START: a new transaction id (1, 2, ... per connection). */
  transactionStart(): number {
    this.checkOpen();
    if (this.transactions.size >= this.store.quota.maxTransactionsPerConnection) {
      throw new XenstoreError("EQUOTA", `more than ${this.store.quota.maxTransactionsPerConnection} transactions`);
    }
    const id = this.nextTxId;
    // Ids are uint32 on the wire and 0 means "none": skip it when the counter wraps.
    this.nextTxId = this.nextTxId >= 0xffffffff ? 1 : this.nextTxId + 1;
    this.transactions.set(id, this.store.openTransaction(this.privileged));
    return id;
  }

  /**
   * XS_TRANSACTION_END: commit (EAGAIN if a node it used changed meanwhile; EQUOTA if the
   * result would exceed a node quota) or abort. The transaction is gone either way.
   */
  transactionEnd(tx: number, commit: boolean): void {
    const view = this.transaction(tx);
    this.transactions.delete(tx);
    this.store.closeTransaction(view);
    if (!commit) return;
    if (!view.validate()) throw new XenstoreError("EAGAIN", `transaction ${tx} conflicts`);
    if (!this.privileged) {
      for (const [owner, delta] of view.entryDelta) {
        if (delta > 0 && this.store.entriesOf(owner) + delta > this.store.quota.maxEntriesPerDomain) {
          throw new XenstoreError("EQUOTA", `domain ${owner} owns too many nodes`);
        }
      }
    }
    const main = this.store.mainView;
    for (const [path, node] of view.overlay) {
      if (node === null) {
        if (main.get(path) !== undefined) main.delete(path);
      } else {
        main.set(path, node);
      }
    }
    this.store.fireWatches(view.changes);
  }

  /** True when `tx` is open on this connection; EIO otherwise. */
  transactionIsOpen(tx: number): true {
    this.transaction(tx);
    return true;
  }

  /** Number of open transactions. */
  get openTransactions(): number {
    return this.transactions.size;
  }

  /** XS_GET_DOMAIN_PATH */
  getDomainPath(domid: number): string {
    return this.store.getDomainPath(domid);
  }

  /** XS_IS_DOMAIN_INTRODUCED */
  isDomainIntroduced(domid: number): boolean {
    return this.store.isDomainIntroduced(domid);
  }

  /** XS_INTRODUCE (privileged only). */
  introduceDomain(domid: number): void {
    this.checkPrivileged();
    this.store.introduceDomain(domid);
  }

  /** XS_RELEASE (privileged only). */
  releaseDomain(domid: number): void {
    this.checkPrivileged();
    this.store.releaseDomain(domid);
  }

  /** XS_SET_TARGET (privileged only). */
  setTarget(domid: number, target: number): void {
    this.checkPrivileged();
    this.store.setTarget(domid, target);
  }

  /** Watch events not taken yet. */
  get pendingWatchEvents(): number {
    return this.events.length;
  }

  /** Events dropped because the queue held maxPendingWatchEvents. */
  get droppedWatchEvents(): number {
    return this.dropped;
  }

  /** Take up to `max` queued watch events, oldest first. */
  takeWatchEvents(max = Number.POSITIVE_INFINITY): WatchEvent[] {
    return this.events.splice(0, Math.min(max, this.events.length));
  }

  /** Close: watches, transactions and queued events are dropped. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.endAllTransactions();
    this.watches.length = 0;
    this.events.length = 0;
    this.store.dropConnection(this);
  }

  /**
   * @internal Queue one event (the store calls this when a watch fires). An event whose
   * "path\0token\0" payload would exceed XENSTORE_PAYLOAD_MAX is dropped and counted (cxenstored
   * since XSA-324: a long token on a watch over long paths), as is one past the queue's bound.
   */
  queueWatchEvent(path: string, token: string): void {
    if (this.isClosed) return;
    if (path.length + token.length + 2 > XENSTORE_PAYLOAD_MAX || this.events.length >= this.store.quota.maxPendingWatchEvents) {
      this.dropped++;
      return;
    }
    this.events.push({ path, token });
    if (this.events.length === 1) this.onWatchPending?.(this);
  }

  private resolve(path: string, allowSpecial = false): string {
    this.checkOpen();
    return resolvePath(path, this.domid, this.store.quota.maxPathLength, allowSpecial);
  }

  private endAllTransactions(): void {
    for (const view of this.transactions.values()) this.store.closeTransaction(view);
    this.transactions.clear();
  }

  private checkOpen(): void {
    if (this.isClosed) throw new XenstoreError("EINVAL", "connection closed");
  }

  private checkPrivileged(): void {
    this.checkOpen();
    if (!this.privileged) throw new XenstoreError("EACCES", "privileged operation");
  }

  private transaction(tx: number): TransactionView {
    this.checkOpen();
    const view = this.transactions.get(tx);
    // oxenstored answers an unknown transaction id with EIO.
    if (view === undefined) throw new XenstoreError("EIO", `no transaction ${tx}`);
    return view;
  }

  private view(tx: number): TreeView {
    return tx === XBT_NIL ? this.store.mainView : this.transaction(tx);
  }

  private mutate(tx: number, op: (view: TreeView, changes: WatchChange[]) => void): void {
    if (tx === XBT_NIL) {
      const changes: WatchChange[] = [];
      op(this.store.mainView, changes);
      this.store.fireWatches(changes);
    } else {
      const view = this.transaction(tx);
      op(view, view.changes);
    }
  }
}
