package sharding

import (
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// The keyspace. A key hashes to a 64-bit key hash (KeyHash); the hash
// reduces to one of P partitions (PartitionOf); every partition is one
// contiguous range of hashes (PartitionRange), so nodes store keys in hash
// order and stream a partition, or a set of them (PartitionSet), without
// touching other keys.

// KeyHash is the 64-bit hash of a key: XXH64 with seed 0. It is stable across
// processes, machines and releases (pinned by golden tests). Nodes store keys
// in the order of their hash.
func KeyHash(key string) uint64 { return xxhash.Sum64String(key) }

// PartitionOf reduces a key hash to a partition in [0, partitions) with the
// multiply-shift (Lemire) reduction: the high 64 bits of h*partitions. Unlike
// h % partitions it has no modulo bias and needs no division. partitions must
// be positive.
func PartitionOf(h uint64, partitions int) int {
	hi, _ := bits.Mul64(h, uint64(partitions))
	return int(hi)
}

// HashRange selects keys whose hash h satisfies From <= h < To; To == 0
// means no upper bound, so the zero HashRange selects every key.
type HashRange struct {
	From, To uint64
}

// Contains reports whether h is in r.
func (r HashRange) Contains(h uint64) bool {
	return h >= r.From && (r.To == 0 || h < r.To)
}

// PartitionRange returns the hash range of partition p of partitions.
// PartitionOf is monotone in h, so every partition is one contiguous hash
// range. It panics unless 0 <= p < partitions.
func PartitionRange(p, partitions int) HashRange {
	if partitions <= 0 || p < 0 || p >= partitions {
		panic(fmt.Sprintf("sharding: partition %d of %d", p, partitions))
	}
	return HashRange{From: partitionStart(p, partitions), To: partitionStart(p+1, partitions)}
}

// partitionStart is the smallest h with hi64(h*partitions) >= p, that is
// ceil(p * 2^64 / partitions); 0 (no bound) for p == partitions.
func partitionStart(p, partitions int) uint64 {
	if p == partitions {
		return 0
	}
	q, r := bits.Div64(uint64(p), 0, uint64(partitions))
	if r != 0 {
		q++
	}
	return q
}
