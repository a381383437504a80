/**
 * The node tree and the operations on it (C xenstored's core.c do_read/do_write/do_mkdir/do_rm/
 * do_get_perms/do_set_perms; oxenstored's store.ml and process.ml). Operations run against a
 * `TreeView` — the main tree or a transaction's overlay — and record the watch events they cause.
 * Every operation checks everything before it changes anything, so a failed one changes nothing.
 */
import { XenstoreError } from "./errors.js";
import { childPath, parentPath } from "./path.js";
import { inheritPermissions, permForDomain, XS_PERM, type XsPermissions } from "./perms.js";
import type { XenstoreQuota } from "./quota.js";

/** One node. Never mutated once in a tree, except `gen`, set when the main tree installs it. */
export interface StoreNode {
  readonly value: Uint8Array;
  readonly perms: XsPermissions;
  /** Child names, sorted bytewise (ASCII), as DIRECTORY lists them. */
  readonly children: readonly string[];
  /** The store generation of the node's last change (its parent changes when children do). */
  gen: number;
}

/** Where operations read and write nodes: the main tree, or a transaction's overlay. */
export interface TreeView {
  get(path: string): StoreNode | undefined;
  set(path: string, node: StoreNode): void;
  delete(path: string): void;
  /** Nodes owned by `owner`, as this view sees them. */
  entries(owner: number): number;
}

/** A change that may fire watches: on `path` (and, unless `exact`, for watches above it). */
export interface WatchChange {
  readonly path: string;
  /** Only a watch on exactly this path fires (a node removed with its ancestor). */
  readonly exact: boolean;
  /** The node's permissions, to decide who may see the event (the old ones for a removal). */
  readonly perms: XsPermissions;
}

/** Who is asking: a domain, whether it is privileged, and the domain it is device model for. */
export interface Actor {
  readonly domid: number;
  readonly privileged: boolean;
  readonly target: number | undefined;
}

const EMPTY = new Uint8Array(0);

function access(actor: Actor, node: StoreNode): number {
  return permForDomain(node.perms, actor.domid, actor.privileged, actor.target);
}

function withChild(node: StoreNode, name: string): StoreNode {
  const children = [...node.children];
  let lo = 0;
  let hi = children.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (children[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  if (children[lo] === name) return node;
  children.splice(lo, 0, name);
  return { ...node, children };
}

function withoutChild(node: StoreNode, name: string): StoreNode {
  return { ...node, children: node.children.filter((c) => c !== name) };
}

/**
 * The error for a missing node (C xenstored errno_from_parents): ENOENT, unless the nearest
 * existing ancestor is not readable by the actor, who then must not learn what is below: EACCES.
 */
function missing(view: TreeView, actor: Actor, abs: string): XenstoreError {
  let p = parentPath(abs);
  for (;;) {
    const node = view.get(p);
    if (node !== undefined) {
      return (access(actor, node) & XS_PERM.READ) === 0
        ? new XenstoreError("EACCES", abs)
        : new XenstoreError("ENOENT", abs);
    }
    if (p === "/") return new XenstoreError("ENOENT", abs);
    p = parentPath(p);
  }
}

/** A node the actor may access with `need` (XS_PERM bits); ENOENT/EACCES otherwise. */
export function getNode(view: TreeView, actor: Actor, abs: string, need: number): StoreNode {
  const node = view.get(abs);
  if (node === undefined) throw missing(view, actor, abs);
  if ((access(actor, node) & need) !== need) throw new XenstoreError("EACCES", abs);
  return node;
}

/**
 * Create `abs` and any missing ancestors (C xenstored create_node/construct_node): write access
 * to the deepest existing ancestor, node quota for an unprivileged creator, permissions inherited.
 */
function createNode(view: TreeView, actor: Actor, quota: XenstoreQuota, abs: string, value: Uint8Array, changes: WatchChange[]): void {
  const toCreate = [abs];
  let anc = parentPath(abs);
  let ancestor = view.get(anc);
  while (ancestor === undefined) {
    toCreate.push(anc);
    anc = parentPath(anc);
    ancestor = view.get(anc);
  }
  if ((access(actor, ancestor) & XS_PERM.WRITE) === 0) throw new XenstoreError("EACCES", anc);
  if (!actor.privileged && view.entries(actor.domid) + toCreate.length > quota.maxEntriesPerDomain) {
    throw new XenstoreError("EQUOTA", `domain ${actor.domid} owns too many nodes`);
  }
  let perms = ancestor.perms;
  let parent = anc;
  // Top-down: each new node is installed before its parent lists it.
  for (let i = toCreate.length - 1; i >= 0; i--) {
    const path = toCreate[i]!;
    perms = inheritPermissions(perms, actor.domid, actor.privileged);
    view.set(path, { value: i === 0 ? value : EMPTY, perms, children: [], gen: 0 });
    view.set(parent, withChild(view.get(parent)!, path.slice(parent === "/" ? 1 : parent.length + 1)));
    parent = path;
  }
  changes.push({ path: abs, exact: false, perms });
}

/** XS_READ */
export function readNode(view: TreeView, actor: Actor, abs: string): Uint8Array {
  return getNode(view, actor, abs, XS_PERM.READ).value;
}

/** XS_WRITE */
export function writeNode(
  view: TreeView,
  actor: Actor,
  quota: XenstoreQuota,
  abs: string,
  value: Uint8Array,
  changes: WatchChange[],
): void {
  if (value.length > quota.maxValueBytes) throw new XenstoreError("E2BIG", `value of ${value.length} bytes`);
  const node = view.get(abs);
  if (node === undefined) {
    createNode(view, actor, quota, abs, value, changes);
    return;
  }
  if ((access(actor, node) & XS_PERM.WRITE) === 0) throw new XenstoreError("EACCES", abs);
  view.set(abs, { ...node, value });
  changes.push({ path: abs, exact: false, perms: node.perms });
}

/** XS_MKDIR: creates the node with an empty value; an existing node is left alone. */
export function mkdirNode(view: TreeView, actor: Actor, quota: XenstoreQuota, abs: string, changes: WatchChange[]): void {
  const node = view.get(abs);
  if (node === undefined) {
    createNode(view, actor, quota, abs, EMPTY, changes);
    return;
  }
  if ((access(actor, node) & XS_PERM.WRITE) === 0) throw new XenstoreError("EACCES", abs);
}

/**
 * XS_RM: removes the node and everything below it. Removing a missing node whose parent exists
 * succeeds (C xenstored and oxenstored); `/` cannot be removed (EINVAL).
 */
export function rmNode(view: TreeView, actor: Actor, abs: string, changes: WatchChange[]): void {
  if (abs === "/") throw new XenstoreError("EINVAL", "cannot remove /");
  const node = view.get(abs);
  if (node === undefined) {
    const parent = view.get(parentPath(abs));
    if (parent !== undefined && (access(actor, parent) & XS_PERM.READ) !== 0) return;
    throw missing(view, actor, abs);
  }
  if ((access(actor, node) & XS_PERM.WRITE) === 0) throw new XenstoreError("EACCES", abs);
  const below: string[] = [];
  const stack = node.children.map((c) => childPath(abs, c));
  while (stack.length > 0) {
    const p = stack.pop()!;
    below.push(p);
    // Invariant: every listed child exists in the same view.
    for (const c of view.get(p)!.children) stack.push(childPath(p, c));
  }
  for (const p of below) {
    changes.push({ path: p, exact: true, perms: view.get(p)!.perms });
    view.delete(p);
  }
  view.delete(abs);
  const parent = parentPath(abs);
  view.set(parent, withoutChild(view.get(parent)!, abs.slice(parent === "/" ? 1 : parent.length + 1)));
  changes.push({ path: abs, exact: false, perms: node.perms });
}

/** XS_DIRECTORY */
export function directoryNode(view: TreeView, actor: Actor, abs: string): readonly string[] {
  return getNode(view, actor, abs, XS_PERM.READ).children;
}

/** XS_GET_PERMS */
export function getPermsNode(view: TreeView, actor: Actor, abs: string): XsPermissions {
  return getNode(view, actor, abs, XS_PERM.READ).perms;
}

/** XS_SET_PERMS: only the owner (or a privileged domain) may; watches fire. */
export function setPermsNode(
  view: TreeView,
  actor: Actor,
  quota: XenstoreQuota,
  abs: string,
  perms: XsPermissions,
  changes: WatchChange[],
): void {
  if (perms.length === 0 || perms.length > quota.maxPermsPerNode) {
    throw new XenstoreError("EINVAL", `${perms.length} permission entries`);
  }
  const node = getNode(view, actor, abs, XS_PERM.WRITE | XS_PERM.OWNER);
  const newOwner = perms[0]!.id;
  // Unprivileged domains may not change the owner (cxenstored do_set_perms; oxenstored since
  // XSA-352): giving a node away would spend another domain's quota, or dom0's unbounded one.
  if (!actor.privileged && newOwner !== node.perms[0]?.id) throw new XenstoreError("EPERM", "only dom0 may change the owner");
  view.set(abs, { ...node, perms: [...perms] });
  changes.push({ path: abs, exact: false, perms });
}
