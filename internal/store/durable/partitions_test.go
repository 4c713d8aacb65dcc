package durable

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

// TestPartitionsAgainstMemory runs ScanPartitions and DeletePartitions on a
// durable store and on the in-memory engine with the same data, sets,
// ranges and limits, and compares every page, count and the stores after
// the deletes (also after a reopen).
func TestPartitionsAgainstMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 13, 4096} {
		t.Run(fmt.Sprintf("partitions=%d", n), func(t *testing.T) {
			dir := t.TempDir()
			d := open(t, dir, Options{})
			m := store.NewMemory(store.MemoryOptions{})
			storetest.Fill(t, rng, 3000, d, m)
			set := storetest.RandomPartitionSet(rng, n)
			walk := func(s store.Store, r sharding.HashRange, set *sharding.PartitionSet, limit int) []store.Entry {
				return storetest.CollectPages(t, limit, func(c store.Cursor) (store.Page, error) {
					return s.ScanPartitions(ctx, c, r, set, limit)
				})
			}
			compare := func(d *Store) {
				require.Equal(t, m.Stats(), d.Stats())
				for _, r := range []sharding.HashRange{{}, {From: 1 << 62}, {From: 1 << 60, To: 3 << 61}, sharding.PartitionRange(n/2, n)} {
					for _, s := range []*sharding.PartitionSet{set, nil} {
						for _, limit := range []int{0, 1, 97} {
							got, want := walk(d, r, s, limit), walk(m, r, s, limit)
							require.Equal(t, len(want), len(got), "range %+v limit %d", r, limit)
							for i := range want {
								require.Equal(t, want[i].Key, got[i].Key)
								require.Equal(t, want[i].Hash, got[i].Hash)
								require.Equal(t, want[i].Value.Codec, got[i].Value.Codec)
								require.Equal(t, string(want[i].Value.Data), string(got[i].Value.Data))
							}
						}
					}
				}
			}
			compare(d)

			r := sharding.HashRange{To: 1 << 63}
			deleteAll := func(s store.Store) int {
				return storetest.DeletePages(t, 100, func(c store.Cursor) (int, store.Cursor, bool, error) {
					return s.DeletePartitions(ctx, c, r, set, 100)
				})
			}
			require.Equal(t, deleteAll(m), deleteAll(d))
			compare(d)
			require.NoError(t, d.Close())
			compare(open(t, dir, Options{}))
		})
	}
}

func TestDeletePartitionsClosed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	require.NoError(t, s.Put(ctx, "k", store.Value{Codec: 1, Data: []byte("1")}))
	require.NoError(t, s.Close())
	_, _, _, err := s.DeletePartitions(ctx, store.Cursor{}, sharding.HashRange{}, nil, 0)
	require.ErrorIs(t, err, store.ErrClosed)
}
