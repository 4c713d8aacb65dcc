package sharding

import (
	"fmt"
	"math/bits"
)

// PartitionSet is a set of the N partitions a key hash h reduces to
// (PartitionOf): Bits
// holds one bit per partition, partition p being bit p%8 (least significant
// first) of byte p/8. A nil *PartitionSet holds every key. Stores read Bits
// and never modify it.
type PartitionSet struct {
	N    int
	Bits []byte
}

// NewPartitionSet returns an empty set of n partitions. It panics unless
// 1 <= n <= MaxPartitions.
func NewPartitionSet(n int) *PartitionSet {
	if n < 1 || n > MaxPartitions {
		panic(fmt.Sprintf("sharding: %d partitions", n))
	}
	return &PartitionSet{N: n, Bits: make([]byte, (n+7)/8)}
}

// Validate reports whether s is well formed: 1 <= N <= MaxPartitions and
// len(Bits) == ceil(N/8).
func (s *PartitionSet) Validate() error {
	if s.N < 1 || s.N > MaxPartitions {
		return fmt.Errorf("sharding: %d partitions, not in [1, %d]", s.N, MaxPartitions)
	}
	if len(s.Bits) != (s.N+7)/8 {
		return fmt.Errorf("sharding: a set of %d partitions needs %d bytes, not %d", s.N, (s.N+7)/8, len(s.Bits))
	}
	return nil
}

// Add adds partition p.
func (s *PartitionSet) Add(p int) { s.Bits[p>>3] |= 1 << (p & 7) }

// Has reports whether partition p is in s.
func (s *PartitionSet) Has(p int) bool {
	return p >= 0 && p < s.N && s.Bits[p>>3]&(1<<(p&7)) != 0
}

// Of returns the partition of key hash h: PartitionOf(h, s.N).
func (s *PartitionSet) Of(h uint64) int { return PartitionOf(h, s.N) }

// Contains reports whether the partition of key hash h is in s; a nil s
// contains every hash.
func (s *PartitionSet) Contains(h uint64) bool {
	if s == nil {
		return true
	}
	p := s.Of(h)
	return s.Bits[p>>3]&(1<<(p&7)) != 0
}

// Overlaps reports whether a partition of s holds some hash in [lo, hi]
// (a nil s holds them all). It costs one bit test per partition the
// interval overlaps: one or two for an interval much narrower than a
// partition.
func (s *PartitionSet) Overlaps(lo, hi uint64) bool {
	if s == nil {
		return true
	}
	for p, q := s.Of(lo), s.Of(hi); p <= q; p++ {
		if s.Bits[p>>3]&(1<<(p&7)) != 0 {
			return true
		}
	}
	return false
}

// Next returns the first partition q >= p in s, or -1.
func (s *PartitionSet) Next(p int) int {
	if p < 0 {
		p = 0
	}
	for p < s.N {
		b := s.Bits[p>>3] >> (p & 7)
		if b != 0 {
			q := p + bits.TrailingZeros8(b)
			if q < s.N {
				return q
			}
			return -1
		}
		p = (p | 7) + 1
	}
	return -1
}

// Count returns the number of partitions in s among [from, to).
func (s *PartitionSet) Count(from, to int) int {
	from, to = max(from, 0), min(to, s.N)
	n := 0
	for p := from; p < to; {
		if p&7 == 0 && p+8 <= to {
			n += bits.OnesCount8(s.Bits[p>>3])
			p += 8
			continue
		}
		if s.Bits[p>>3]&(1<<(p&7)) != 0 {
			n++
		}
		p++
	}
	return n
}

// Partitions returns the partitions of range r, [first, last] (r.To == 0
// is the end of the hash space), or ok false when r is empty.
func (s *PartitionSet) Partitions(r HashRange) (first, last int, ok bool) {
	first = s.Of(r.From)
	if r.To == 0 {
		return first, s.N - 1, true
	}
	if r.To <= r.From {
		return 0, 0, false
	}
	return first, s.Of(r.To - 1), true
}
