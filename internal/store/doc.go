// Package store defines the storage interface of a zshard node and its
// in-memory engine.
//
// Keys are kept in scan order: by the 64-bit xxhash of the key (the
// cluster's key hash, xxhash.Sum64String), then by the key bytes. A scan
// resumes strictly after a Cursor, so a paged walk of a store that is being
// written sees every key present for the whole walk exactly once, never a
// key twice, and may or may not see keys written or deleted meanwhile. A
// scan can be restricted to a hash range [From, To): when the cluster maps
// hashes to partitions by range (the top bits of the hash, or
// (hash*P)>>64), one partition is one contiguous hash range and is streamed
// without touching the rest of the store.
//
// Values are opaque bytes with a one-byte codec tag that the store keeps
// and returns unchanged; it never inspects either.
package store
