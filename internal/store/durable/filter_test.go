package durable

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
)

// TestKeyFilterNoFalseNegatives: every added hash is reported present,
// across growth, and few hashes never added are.
func TestKeyFilterNoFalseNegatives(t *testing.T) {
	f := newKeyFilter()
	const n = 3 * filterFirstCap // grows twice
	for i := range n {
		f.add(store.Hash(fmt.Sprint("in-", i)))
	}
	require.Len(t, *f.parts.Load(), 2, "1M then 2M keys")
	for i := range n {
		require.True(t, f.mayContain(store.Hash(fmt.Sprint("in-", i))), i)
	}
	fp := 0
	const probesN = 200_000
	for i := range probesN {
		if f.mayContain(store.Hash(fmt.Sprint("out-", i))) {
			fp++
		}
	}
	// Two parts at capacity: about 2 x 0.24%; 2% would mean broken hashing.
	require.Less(t, fp, probesN/50, "false positives")
}

// TestCountsWithFilter: the key and byte counts stay exact when new keys
// skip the read, and when a deleted key (still in the filter) comes back.
func TestCountsWithFilter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer s.Close()
	v := store.Value{Data: []byte("1234")}
	for i := range 100 {
		require.NoError(t, s.Put(ctx, fmt.Sprint("k", i), v))
	}
	require.Equal(t, store.Stats{Keys: 100, Bytes: 100*4 + 290}, s.Stats())
	require.NoError(t, s.Put(ctx, "k7", store.Value{Data: []byte("12")})) // overwrite
	ok, err := s.Delete(ctx, "k8")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Put(ctx, "k8", v)) // back after a delete
	require.Equal(t, store.Stats{Keys: 100, Bytes: 100*4 + 290 - 2}, s.Stats())
}
