/**
 * Optimistic transactions (C xenstored's transaction.c; oxenstored's transaction.ml). A
 * transaction reads a snapshot of the tree as of its start, writes into a private overlay, and
 * remembers the generation of every node it looked at; it commits only if none of those nodes
 * changed meanwhile, else EAGAIN.
 */
import { XenstoreError } from "./errors.js";
import type { StoreNode, TreeView, WatchChange } from "./tree.js";

/** Generation recorded for a node that did not exist when first looked at. */
const ABSENT = -1;

/** A transaction's view: reads fall through to the main tree, writes stay in the overlay. */
export class TransactionView implements TreeView {
  /** Nodes this transaction changed: a node, or null for a deletion. */
  readonly overlay = new Map<string, StoreNode | null>();
  /** Generation of each node when this transaction first looked at it (ABSENT if missing). */
  readonly accessed = new Map<string, number>();
  /** The node as first seen: later reads see it too, whatever commits meanwhile (isolation). */
  private readonly seen = new Map<string, StoreNode | undefined>();
  /** Change of each owner's node count if this transaction committed. */
  readonly entryDelta = new Map<number, number>();
  /** Watch events to fire if this transaction commits. */
  readonly changes: WatchChange[] = [];

  /**
   * `maxNodes` bounds the snapshot kept for nodes the main tree changes; `maxAccessed` the nodes
   * the transaction itself may look at (cxenstored ACC_TRANSNODES, XSA-326: unprivileged only).
   */
  constructor(
    private readonly main: TreeView,
    private readonly maxNodes: number,
    private readonly maxAccessed = maxNodes,
  ) {}

  /** Nodes as they were when this transaction started, saved when the main tree changed them. */
  private readonly preimage = new Map<string, StoreNode | undefined>();
  /** Set when the preimages outgrew their bound: every further request answers EAGAIN. */
  private doomed = false;

  /**
   * The main tree is about to change `path`: keep the node as this transaction's snapshot had
   * it, unless the transaction already has its own copy. So a transaction reads one consistent
   * snapshot (as of its start), and validation at commit makes it serialisable.
   */
  capture(path: string, old: StoreNode | undefined): void {
    if (this.doomed || this.seen.has(path) || this.overlay.has(path) || this.preimage.has(path)) return;
    if (this.preimage.size >= this.maxNodes) {
      this.doomed = true;
      this.preimage.clear();
      return;
    }
    this.preimage.set(path, old);
  }

  get(path: string): StoreNode | undefined {
    if (this.doomed) throw new XenstoreError("EAGAIN", "transaction overtaken by too many changes");
    const mine = this.overlay.get(path);
    if (mine !== undefined) return mine ?? undefined;
    if (this.seen.has(path)) return this.seen.get(path);
    if (this.accessed.size >= this.maxAccessed) {
      throw new XenstoreError("EQUOTA", `transaction touches more than ${this.maxAccessed} nodes`);
    }
    const node = this.preimage.has(path) ? this.preimage.get(path) : this.main.get(path);
    this.preimage.delete(path);
    this.accessed.set(path, node === undefined ? ABSENT : node.gen);
    this.seen.set(path, node);
    return node;
  }

  set(path: string, node: StoreNode): void {
    const old = this.get(path);
    this.count(old, -1);
    this.count(node, 1);
    this.overlay.set(path, node);
  }

  delete(path: string): void {
    const old = this.get(path);
    this.count(old, -1);
    this.overlay.set(path, null);
  }

  entries(owner: number): number {
    return this.main.entries(owner) + (this.entryDelta.get(owner) ?? 0);
  }

  /** True when no node this transaction looked at has changed in `main` since. */
  validate(): boolean {
    if (this.doomed) return false;
    for (const [path, gen] of this.accessed) {
      const now = this.main.get(path);
      if ((now === undefined ? ABSENT : now.gen) !== gen) return false;
    }
    return true;
  }

  private count(node: StoreNode | undefined, by: number): void {
    const owner = node?.perms[0]?.id;
    if (owner === undefined) return;
    this.entryDelta.set(owner, (this.entryDelta.get(owner) ?? 0) + by);
  }
}
