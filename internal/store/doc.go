// Package store defines the storage interface of a zshard node and its
// in-memory engine.
//
// Keys are kept in scan order: by the 64-bit hash of the key (the
// cluster's key hash, sharding.KeyHash), then by the key bytes. A scan
// resumes strictly after a Cursor, so a paged walk of a store that is being
// written sees every key present for the whole walk exactly once, never a
// key twice, and may or may not see keys written or deleted meanwhile. A
// scan can be restricted to a hash range [From, To) (sharding.HashRange)
// and to a set of partitions (sharding.PartitionSet): one partition is one
// contiguous hash range (sharding.PartitionRange) and is streamed without
// touching the rest of the store.
//
// Values are opaque bytes with a one-byte codec tag that the store keeps
// and returns unchanged; it never inspects either.
//
// For last-writer-wins replication a key's record also carries the
// version of its write (hlc.Version, zero for a write without one), and a
// delete can be kept as a tombstone: a record without a value that a GET
// does not find but that an older write of the key loses to (Apply). The
// methods that predate versions (Put, Get, Delete, the scans) see values
// only; Lookup and ScanRecords see tombstones too, and PurgeTombstones
// removes them once they are old enough that no older write can still
// arrive.
package store
