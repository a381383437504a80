/**
 * Quotas (oxenstored's quota.ml and the quota-* keys of oxenstored.conf; C xenstored's -E -S -W
 * -t -Q options). Every structure the store keeps per domain or per connection is bounded here.
 */
import { XENSTORE_REL_PATH_MAX } from "./wire.js";

/**
 * xenstored's quotas (C xenstored's quota-* settings): nodes per domain, value and path size,
 * watches and transactions per connection, nodes per transaction, pending watch events.
 */
export interface XenstoreQuota {
  /** Nodes an unprivileged domain may own (quota-maxentity; C xenstored -E). */
  readonly maxEntriesPerDomain: number;
  /** Largest node value in bytes (quota-maxsize); applies to every domain, dom0 included. */
  readonly maxValueBytes: number;
  /**
   * Longest path, counted as `pathLimitLength` does: the canonical path less a leading
   * `/local/domain/<domid>/` (cxenstored -M / ACC_PATHLEN, default XENSTORE_REL_PATH_MAX;
   * oxenstored quota-path-max, XSA-323).
   */
  readonly maxPathLength: number;
  /** Watches one connection may hold (quota-maxwatch; C xenstored -W). */
  readonly maxWatchesPerConnection: number;
  /** Transactions one connection may have open (quota-transaction; C xenstored -t). */
  readonly maxTransactionsPerConnection: number;
  /**
   * Nodes one unprivileged transaction may look at (cxenstored ACC_TRANSNODES, XSA-326), and the
   * snapshot any open transaction keeps of nodes changed under it (past it the transaction can
   * only end with EAGAIN), so a transaction's private copy stays bounded.
   */
  readonly maxNodesPerTransaction: number;
  /** Undelivered watch events queued on a connection; more are dropped and counted. */
  readonly maxPendingWatchEvents: number;
  /** Entries in one node's permission list (C xenstored quota-nb-perms-per-node is 5; we allow more). */
  readonly maxPermsPerNode: number;
}

/**
 * Defaults. Value size and path length are oxenstored's observed limits (a 2048-byte value and a
 * 2048-character path are accepted, one more is not). Watches and transactions follow C
 * xenstored (128, 10) and, unlike oxenstored, also bind privileged connections: an unbounded
 * watch list is the "flood of watches" the server must survive.
 */
export const DEFAULT_QUOTA: XenstoreQuota = Object.freeze({
  maxEntriesPerDomain: 1000,
  maxValueBytes: 2048,
  maxPathLength: XENSTORE_REL_PATH_MAX,
  maxWatchesPerConnection: 128,
  maxTransactionsPerConnection: 10,
  maxNodesPerTransaction: 4096,
  maxPendingWatchEvents: 1024,
  maxPermsPerNode: 64,
});
