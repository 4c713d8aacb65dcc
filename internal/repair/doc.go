// Package repair is zshard's anti-entropy: it makes the replicas of every
// partition converge, each key to its newest record (last writer wins by
// write version, tombstones included), whatever writes a replica missed
// while it was down, slow, or partitioned away.
//
// # How a repair compares
//
// The replicas of partition p are its preference list under the layout
// (layout.Settings.Members, or the passing members before a layout is
// recorded); those down (not passing, or not ready while they catch up)
// are skipped and reported, and a partition is compared among the others
// when two or more are up. Partitions are taken a chunk of consecutive
// partitions at a time. For each chunk every replica answers DIGESTs with
// "versions" (docs/PROTOCOL.md §3.12) of the partitions of the chunk it
// holds, as a partition set, at most 2048 partitions a DIGEST (a node
// answers one request at a time): per partition a count and an
// order-independent sum of hashes of (key, version, tombstone), so two
// replicas agree exactly when they hold the same versions of the same
// keys, without reading a value. Only the partitions whose digests differ
// are read: every replica streams its records of them (SCANs with
// "versions" and "raw", filtered by a partition set, paged), all replicas
// at once, and the streams, all in scan order, are merged key by key.
//
// # How a repair fixes
//
// For each key the newest record among the replicas (hlc.Version.Compare;
// a tombstone is a record) is written to every replica that lacks it or
// holds an older version: a PUT of the value raw (raw_value and
// value_codec, so the bytes and their codec are kept) with its version, or
// a DELETE with its version, in BATCHes acknowledged on the request
// endpoint. The nodes apply a versioned write only if they hold nothing
// newer, so a repair never undoes a concurrent write: a write it loses to
// is counted as superseded. Newest wins in both directions: any replica
// can be the one that is behind. A value without a version (written
// before versions existed) cannot be ordered: it is written, "if_absent",
// only where the key has no record at all.
//
// # Running it
//
// Run is `client_producer repair`: every partition, once. It holds the
// rebalance lock (rebalance.TakeLock, locks/rebalance) so that it never
// overlaps a rebalance, refuses to run during a migration (ErrMigration),
// records its progress in Consul (KV <prefix>repair, State) after each
// chunk so that an interrupted run continues, and can be dry (compare and
// count, change nothing) and rate-limited (keys and partitions per
// second).
//
// Background is what a node runs: a round every Interval over the
// partitions it leads (it is their first replica up), rate-limited, paused
// during migrations and while the rebalance lock is held. It reaches the
// other nodes with a NodeCaller (their request endpoints as registered in
// Consul).
//
// Nodes call one another through a Caller: a producer
// (producer.Producer.Call) or a NodeCaller.
//
// Tombstones must outlive the time a replica can stay behind: a replica
// that still holds a value whose tombstone the others have purged gets it
// back (docs/REPLICATION.md, "Anti-entropy repair").
package repair
