// Package sharding places keys on nodes: which node owns a key, and the
// ordered list of distinct nodes that hold its replicas.
//
// The package is pure: it does no I/O, starts no goroutines and does not log.
// Every value it builds is immutable and safe for concurrent use, so a caller
// swaps a new [Table] in with an atomic.Pointer when membership changes.
//
// # Two levels
//
// A key is hashed ([KeyHash], XXH64 without seed) and reduced to one of P
// fixed partitions ([PartitionOf], a multiply-shift reduction without modulo
// bias). A [Placer] - the pluggable algorithm - places each partition on an
// ordered preference list of distinct nodes, and [NewTable] stores the result
// in a flat table. Routing a key is then one hash, one multiply and one load.
// A rebalance is the [Diff] of two tables: a partition changes hands only
// when the algorithm says it must.
//
// The package owns the keyspace: the key hash, the partition of a hash, the
// hash range of a partition ([PartitionRange], one contiguous [HashRange],
// since the reduction is monotone) and sets of partitions ([PartitionSet]),
// which nodes store and stream keys by.
//
// Algorithms ([Algorithms] lists them):
//
//   - "consistent" ([Ring]): a hash ring with virtual nodes; node weights
//     scale the number of points.
//   - "hrw" ([HRW]): rendezvous, highest-random-weight hashing, with the
//     logarithmic method for weights.
//
// Both support removing any node, and both move the minimum: on add, keys move
// only to the new node; on remove, only the removed node's keys move.
//
// # Your own algorithm
//
// A Placer of your own joins the built-ins with [Register], from an init
// function of its package; a blank import of that package into every
// binary of a cluster makes its name a valid Config.Algorithm there (the
// producer's --hash, `client_producer compare`). Package shardingtest
// grades it on the properties above; sharding/examples/maglev is a
// one-file example.
//
// # Stability
//
// Every producer of a cluster must place every key identically, in every
// process and on every machine, and for ever. The placement depends only on
// node names, weights, the algorithm, the virtual node count and P - never on
// member order, process seeds or map iteration. The exact functions, pinned
// by golden tests in testdata/, are:
//
//   - key hash:        XXH64(key bytes, seed 0)
//   - partition:       p = hi64(keyHash * P)
//   - partition hash:  XXH64(uint64 little-endian p)
//   - ring point i:    XXH64(name || 0x00 || uint32 big-endian i), i < vnodes*weight
//   - HRW score:       fmix64(h XOR XXH64(name)), fmix64 the MurmurHash3 finalizer;
//     with unequal weights, weight / -ln(u) with u = (score>>11 + 0.5) / 2^53.
//
// Ties (two equal ring points, two equal scores) go to the node whose name
// sorts first.
package sharding
