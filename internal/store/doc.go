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
package store
