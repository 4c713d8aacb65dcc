package store_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

// TestMemoryPartitions compares ScanPartitions and DeletePartitions of a
// Memory store with a reference map, for random sets, ranges and limits.
func TestMemoryPartitions(t *testing.T) {
	for _, stripes := range []int{1, 16, store.DefaultStripes} {
		t.Run(fmt.Sprintf("stripes=%d", stripes), func(t *testing.T) {
			testPartitions(t, func() store.Store { return store.NewMemory(store.MemoryOptions{Stripes: stripes}) })
		})
	}
}

// testPartitions is the conformance test of the partition methods.
func testPartitions(t *testing.T, open func() store.Store) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 13, 256, 4096} {
		t.Run(fmt.Sprintf("partitions=%d", n), func(t *testing.T) {
			s := open()
			ref := storetest.Fill(t, rng, 3000, s)
			set := storetest.RandomPartitionSet(rng, n)
			for _, r := range []sharding.HashRange{{}, {From: 1 << 62}, {From: 1 << 60, To: 3 << 61}, sharding.PartitionRange(n/2, n)} {
				var want []refEntry
				for _, e := range sortedRef(ref, r) {
					if set.Contains(e.h) {
						want = append(want, e)
					}
				}
				for _, limit := range []int{0, 1, 7, 1000} {
					got := storetest.CollectPages(t, limit, func(c store.Cursor) (store.Page, error) {
						return s.ScanPartitions(ctx, c, r, set, limit)
					})
					require.Len(t, got, len(want), "range %v limit %d", r, limit)
					for i, e := range got {
						require.Equal(t, want[i].k, e.Key)
						require.Equal(t, want[i].h, e.Hash)
						require.Equal(t, want[i].val, e.Value)
					}
				}
				// A nil set is Scan.
				p, err := s.ScanPartitions(ctx, store.Cursor{}, r, nil, 0)
				require.NoError(t, err)
				require.Len(t, p.Entries, len(sortedRef(ref, r)))
			}

			// Delete the set's keys of half the hash space, in pages.
			r := sharding.HashRange{To: 1 << 63}
			deleted := storetest.DeletePages(t, 100, func(c store.Cursor) (int, store.Cursor, bool, error) {
				return s.DeletePartitions(ctx, c, r, set, 100)
			})
			want := 0
			for k := range ref {
				if h := sharding.KeyHash(k); r.Contains(h) && set.Contains(h) {
					delete(ref, k)
					want++
				}
			}
			require.Equal(t, want, deleted)
			var bytes int64
			for k, v := range ref {
				bytes += int64(len(k) + len(v.Data))
			}
			require.Equal(t, store.Stats{Keys: int64(len(ref)), Bytes: bytes}, s.Stats())
			for _, e := range sortedRef(ref, sharding.HashRange{}) {
				v, ok, err := s.Get(ctx, e.k)
				require.NoError(t, err)
				require.True(t, ok, e.k)
				require.Equal(t, e.val, v)
			}
			p, err := s.ScanPartitions(ctx, store.Cursor{}, sharding.HashRange{}, nil, 0)
			require.NoError(t, err)
			require.Len(t, p.Entries, len(ref))
			d, _, done, err := s.DeletePartitions(ctx, store.Cursor{}, r, set, 0)
			require.NoError(t, err)
			require.True(t, done)
			require.Zero(t, d, "nothing left to delete")
		})
	}
}
