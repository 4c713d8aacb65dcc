// Package rebalance moves keys when a node joins or leaves a zshard cluster,
// on the client side as the class spec asks: the rebalancer is a producer that
// writes the add and remove signals to Consul and moves the data itself.
//
// # Layout and migration
//
// The layout is explicit: layout.Settings.Members lists the nodes the
// partition table is built from at Settings.Epoch (empty means the legacy
// rule, the passing members; the first rebalance fills it in). A rebalance is
// recorded in Settings.Migration {ID, Kind, Node, From, To, Phase}, changed
// only by check-and-set, and it is the rebalancer's journal; its phases
// (copying, switched, cleaning) and their legal order are package layout's.
// Producers (internal/producer) follow the settings with a blocking query
// and route by the phase as layout.Settings.Route says, swapping their
// routing snapshot atomically.
//
// # Steps
//
//  1. Take the Consul lock <prefix>locks/rebalance (one rebalancer at a time;
//     a second gets ErrLocked naming the holder, or waits with Config.Wait).
//  2. Record the migration in phase copying. Add: write the add signal and
//     wait until the node passes (a supervisor launched it). On a cluster
//     that had no recorded layout (it placed keys by its passing members),
//     wait Config.Grace before the signal: a producer that still followed
//     that rule when the node passed would route the keys that move to it
//     there alone, before any copy (reads find nothing, and writes made
//     only there are repaired away by verification). Producers also read
//     the settings again when a member appears under that rule.
//  3. Wait Config.Grace so every producer writes to both layouts.
//  4. Copy: sharding.Diff(From, To).Transfers lists exactly the partitions
//     that change and, for each node that gains one, a source that holds it
//     under From (never the destination). Each source is read once, all
//     sources at once: SCANs filtered by the partition set it sends
//     (sharding.PartitionSet on the wire as "partitions" and "bitmap"), pages of
//     10000 keys, the next page read while the last is pushed; a key's
//     partition, from its hash, picks its destinations. The entries are
//     pushed, as PUTs "if_absent" (a copy never replaces a value the
//     destination holds: a concurrent write is newer), to the destinations'
//     ingest endpoints (producer Bulk.CopyTo, the bulk-load path); every
//     Config.AckEvery keys a SYNC barrier waits until the destinations
//     applied them (the acknowledgement and the flow-control window).
//     Config.MaxRate paces the copy. Values travel raw (SCAN "raw", PUT
//     "raw_value" and "value_codec"): a copy has the bytes and the codec of
//     the original whatever the producer's codec, even a value with no form
//     in it.
//  5. Verify, each source as soon as its copy is acknowledged (the others
//     still copying other partitions): the source and its destinations
//     answer one DIGEST each (per partition: key count and an
//     order-independent sum of key/value hashes, values as stored with
//     their codec) of the partitions it sent, all at once. Only the
//     partitions whose digests differ between a source and a destination
//     are scanned on both (partition SCANs in BATCHes) and compared key by
//     key. A key that differs (missing, different, or extra on the
//     destination) is read again on both sides after Config.Settle and
//     repaired from the source only if both reads agree: a concurrent write
//     goes to both layouts and may have reached one node and not yet the
//     other, and copying the older side over it would lose it. Reads and
//     repairs are raw too (a key is read by a SCAN of its hash alone).
//     Repaired keys are checked again until a round finds them equal.
//  6. Switch by CAS: Epoch + 1, Members = To, phase switched; wait Grace.
//  7. Phase cleaning; wait Grace (producers stop writing to From); then
//     every node that dropped a partition deletes the keys it holds there
//     itself: DELETE_PARTITIONS with the set it dropped, page by page.
//     Remove: the leaving node is not cleaned, its remove signal is written
//     instead and its supervisor stops it.
//  8. Clear the migration.
//
// When every source and destination lists the versions feature in its
// PING reply (write versions, docs/PROTOCOL.md §3.12), the copy carries
// each record's version: the SCANs ask for "versions", tombstones come too,
// and a record is copied as a PUT (or, a tombstone, a DELETE) carrying its
// version instead of "if_absent", so that a destination keeps whichever of
// the copy and a concurrent write is newer, and a delete is copied as one.
// Verification then compares DIGESTs with "versions" (keys, versions and
// tombstones), and a destination has converged on a key when it holds the
// source's version or a newer one (a tombstone where the source has
// nothing counts as nothing); repairs carry the source's version too.
// Without the feature on some node, the rebalance copies "if_absent" and
// compares values, as before versions existed.
//
// If a source or destination does not list the raw feature in its PING
// reply (a node older than raw values), the whole rebalance moves values
// converted to the producer's codec, as before (without versions either). Nodes that answer DIGEST
// or DELETE_PARTITIONS with unknown_op (older nodes) are verified key by key and cleaned by a scan and bulk DELETEs; a
// node that ignores the SCAN partition fields returns every key, and the
// copy keeps only those of the set.
//
// Nothing is deleted at a source before its destinations hold the data and
// the routing has switched. If the rebalancer dies at any point, running the
// same command again resumes from the recorded phase: copying starts the copy
// over (it writes the keys the destination lacks, and verification repairs
// the rest from the source), later phases are idempotent. A different command fails with
// ErrUnfinished and the command that resumes.
//
// # Limits
//
// Producers are assumed to see a phase change within Config.Grace (their
// settings watch is a blocking query, normally milliseconds); a producer cut
// off from Consul longer than that may write to the old layout only. The
// copy writes versioned PUTs and DELETEs (without versions, PUTs
// "if_absent"), so it never overwrites a newer concurrent
// write on the destination (a node older than if_absent replaces the value
// for a moment, and verification repairs it from the source, which that
// write also reached). Without versions, deletes leave no tombstone: a key deleted between the
// copy's read and its write is written to the destination, and verification
// deletes it again. That is why the sources are digested after the copy,
// not by the rebalancer from what it read: a resurrected key matches what
// was read. A difference that is still in flight after Config.Settle (a
// write delayed that long between the two nodes) could be repaired the
// wrong way.
package rebalance
