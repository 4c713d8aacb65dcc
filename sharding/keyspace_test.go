package sharding

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPartitionRange checks PartitionRange against the multiply-shift
// reduction itself, at every boundary and on random hashes.
func TestPartitionRange(t *testing.T) {
	partitionOf := func(h uint64, n int) int { // the reduction, spelled out
		hi, _ := bits.Mul64(h, uint64(n))
		return int(hi)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 3, 7, 271, 1 << 18, 1000003} {
		for _, p := range []int{0, 1 % n, n / 2, n - 1} {
			r := PartitionRange(p, n)
			require.Equal(t, p, partitionOf(r.From, n), "n=%d p=%d from", n, p)
			if r.From > 0 {
				require.Equal(t, p-1, partitionOf(r.From-1, n), "n=%d p=%d before from", n, p)
			}
			if r.To != 0 {
				require.Equal(t, p, partitionOf(r.To-1, n), "n=%d p=%d last", n, p)
				require.Equal(t, p+1, partitionOf(r.To, n), "n=%d p=%d to", n, p)
			} else {
				require.Equal(t, n-1, p)
			}
		}
		for range 1000 {
			h := rng.Uint64()
			p := partitionOf(h, n)
			require.True(t, PartitionRange(p, n).Contains(h))
		}
	}
	require.Panics(t, func() { PartitionRange(3, 3) })
	for range 1000 {
		h, n := rng.Uint64(), 1+rng.IntN(MaxPartitions)
		require.Equal(t, partitionOf(h, n), PartitionOf(h, n))
	}
}

// TestHashRangeContains: From is in, To is out, To == 0 is no bound.
func TestHashRangeContains(t *testing.T) {
	for _, tc := range []struct {
		r    HashRange
		h    uint64
		want bool
	}{
		{HashRange{}, 0, true},
		{HashRange{}, ^uint64(0), true},
		{HashRange{From: 10, To: 20}, 9, false},
		{HashRange{From: 10, To: 20}, 10, true},
		{HashRange{From: 10, To: 20}, 19, true},
		{HashRange{From: 10, To: 20}, 20, false},
		{HashRange{From: 10}, ^uint64(0), true},
	} {
		require.Equal(t, tc.want, tc.r.Contains(tc.h), "%+v contains %d", tc.r, tc.h)
	}
}
