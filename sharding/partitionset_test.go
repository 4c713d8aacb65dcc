package sharding

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPartitionSetAgainstBruteForce checks Next, Count, Contains, Overlaps
// and Partitions of random sets against loops over every partition.
func TestPartitionSetAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 7, 8, 9, 64, 1000, 4096} {
		for _, density := range []int{0, 1, 50, 100} {
			s := NewPartitionSet(n)
			for p := range n {
				if rng.IntN(100) < density {
					s.Add(p)
				}
			}
			require.NoError(t, s.Validate())
			for p := -1; p <= n; p++ {
				want := -1
				for q := max(p, 0); q < n; q++ {
					if s.Has(q) {
						want = q
						break
					}
				}
				require.Equal(t, want, s.Next(p), "n=%d next(%d)", n, p)
			}
			for range 50 {
				a, b := rng.IntN(n+1), rng.IntN(n+1)
				want := 0
				for q := a; q < b; q++ {
					if s.Has(q) {
						want++
					}
				}
				require.Equal(t, want, s.Count(a, b), "n=%d count(%d,%d)", n, a, b)
			}
			for range 200 {
				h := rng.Uint64()
				p := s.Of(h)
				r := PartitionRange(p, n)
				require.True(t, r.Contains(h), "partition %d of %d holds its hashes", p, n)
				require.Equal(t, s.Has(p), s.Contains(h))
			}
			for range 100 {
				lo := rng.Uint64()
				hi := lo + rng.Uint64N(1<<(rng.IntN(64)))
				if hi < lo {
					hi = ^uint64(0)
				}
				want := false
				for q := PartitionOf(lo, n); q <= PartitionOf(hi, n); q++ {
					want = want || s.Has(q)
				}
				require.Equal(t, want, s.Overlaps(lo, hi), "n=%d overlaps(%x,%x)", n, lo, hi)
			}
			for p := range min(n, 50) {
				first, last, ok := s.Partitions(PartitionRange(p, n))
				require.True(t, ok)
				require.Equal(t, [2]int{p, p}, [2]int{first, last})
			}
		}
	}
	var all *PartitionSet
	require.True(t, all.Contains(12345), "a nil set holds every hash")
	require.True(t, all.Overlaps(1, 2), "a nil set holds every hash")
	require.Error(t, (&PartitionSet{N: 9, Bits: []byte{1}}).Validate())
	require.Error(t, (&PartitionSet{N: 0}).Validate())
}
