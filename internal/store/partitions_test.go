package store

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPartitionSetAgainstBruteForce checks Next, Count, Contains and
// Partitions of random sets against loops over every partition.
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
			for p := range min(n, 50) {
				first, last, ok := s.Partitions(PartitionRange(p, n))
				require.True(t, ok)
				require.Equal(t, [2]int{p, p}, [2]int{first, last})
			}
		}
	}
	var all *PartitionSet
	require.True(t, all.Contains(12345), "a nil set holds every hash")
	require.Error(t, (&PartitionSet{N: 9, Bits: []byte{1}}).Validate())
	require.Error(t, (&PartitionSet{N: 0}).Validate())
}

// TestMemoryPartitions compares ScanPartitions and DeletePartitions of a
// Memory store with a reference map, for random sets, ranges and limits.
func TestMemoryPartitions(t *testing.T) {
	for _, stripes := range []int{1, 16, DefaultStripes} {
		t.Run(fmt.Sprintf("stripes=%d", stripes), func(t *testing.T) {
			testPartitions(t, func() Store { return NewMemory(MemoryOptions{Stripes: stripes}) })
		})
	}
}

// testPartitions is the conformance test of the partition methods.
func testPartitions(t *testing.T, open func() Store) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 13, 256, 4096} {
		t.Run(fmt.Sprintf("partitions=%d", n), func(t *testing.T) {
			s := open()
			ref := map[string]Value{}
			for i := range 3000 {
				k := "k" + strconv.Itoa(i)
				v := Value{Codec: uint8(i % 2), Data: []byte(strconv.Itoa(rng.Int()))}
				require.NoError(t, s.Put(ctx, k, v))
				ref[k] = v
			}
			set := NewPartitionSet(n)
			for p := range n {
				if rng.IntN(3) == 0 {
					set.Add(p)
				}
			}
			for _, r := range []HashRange{{}, {From: 1 << 62}, {From: 1 << 60, To: 3 << 61}, PartitionRange(n/2, n)} {
				var want []refEntry
				for _, e := range sortedRef(ref, r) {
					if set.Contains(e.h) {
						want = append(want, e)
					}
				}
				for _, limit := range []int{0, 1, 7, 1000} {
					var got []Entry
					var c Cursor
					for {
						p, err := s.ScanPartitions(ctx, c, r, set, limit)
						require.NoError(t, err)
						if limit > 0 {
							require.LessOrEqual(t, len(p.Entries), limit)
						}
						got = append(got, p.Entries...)
						if p.Done {
							break
						}
						require.NotEmpty(t, p.Entries)
						c = p.Next
					}
					require.Len(t, got, len(want), "range %v limit %d", r, limit)
					for i, e := range got {
						require.Equal(t, want[i].k, e.Key)
						require.Equal(t, want[i].h, e.Hash)
						require.Equal(t, want[i].val, e.Value)
					}
				}
				// A nil set is Scan.
				p, err := s.ScanPartitions(ctx, Cursor{}, r, nil, 0)
				require.NoError(t, err)
				require.Len(t, p.Entries, len(sortedRef(ref, r)))
			}

			// Delete the set's keys of half the hash space, in pages.
			r := HashRange{To: 1 << 63}
			deleted := 0
			var c Cursor
			for {
				d, next, done, err := s.DeletePartitions(ctx, c, r, set, 100)
				require.NoError(t, err)
				require.LessOrEqual(t, d, 100)
				deleted += d
				if done {
					break
				}
				require.Positive(t, d)
				c = next
			}
			want := 0
			for k := range ref {
				if h := Hash(k); r.Contains(h) && set.Contains(h) {
					delete(ref, k)
					want++
				}
			}
			require.Equal(t, want, deleted)
			var bytes int64
			for k, v := range ref {
				bytes += int64(len(k) + len(v.Data))
			}
			require.Equal(t, Stats{Keys: int64(len(ref)), Bytes: bytes}, s.Stats())
			for _, e := range sortedRef(ref, HashRange{}) {
				v, ok, err := s.Get(ctx, e.k)
				require.NoError(t, err)
				require.True(t, ok, e.k)
				require.Equal(t, e.val, v)
			}
			p, err := s.ScanPartitions(ctx, Cursor{}, HashRange{}, nil, 0)
			require.NoError(t, err)
			require.Len(t, p.Entries, len(ref))
			d, _, done, err := s.DeletePartitions(ctx, Cursor{}, r, set, 0)
			require.NoError(t, err)
			require.True(t, done)
			require.Zero(t, d, "nothing left to delete")
		})
	}
}
