package durable

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// TestKeyFilterNoFalseNegatives: every added hash is reported present,
// across growth, and few hashes never added are.
func TestKeyFilterNoFalseNegatives(t *testing.T) {
	f := newKeyFilter()
	const n = 3 * filterFirstCap // grows twice
	for i := range n {
		f.add(sharding.KeyHash(fmt.Sprint("in-", i)))
	}
	require.Len(t, *f.parts.Load(), 2, "1M then 2M keys")
	for i := range n {
		require.True(t, f.mayContain(sharding.KeyHash(fmt.Sprint("in-", i))), i)
	}
	fp := 0
	const probesN = 200_000
	for i := range probesN {
		if f.mayContain(sharding.KeyHash(fmt.Sprint("out-", i))) {
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

// TestPutMany: one commit of many PUTs, including a key twice and keys
// that exist, leaves the same data and counts as the Puts one by one.
func TestPutMany(t *testing.T) {
	ctx := context.Background()
	a, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer b.Close()
	var es []store.Entry
	for i := range 1000 {
		es = append(es, store.Entry{Key: fmt.Sprint("k", i%700), Value: store.Value{Codec: 1, Data: []byte(fmt.Sprint("v", i))}})
	}
	require.NoError(t, a.Put(ctx, "k3", store.Value{Data: []byte("before")}))
	require.NoError(t, b.Put(ctx, "k3", store.Value{Data: []byte("before")}))
	// A key twice or more in one commit, new or stored, with values of
	// other lengths each time.
	es = append(es,
		store.Entry{Key: "k1", Value: store.Value{Data: []byte("a")}},
		store.Entry{Key: "new", Value: store.Value{Data: []byte("xyz")}},
		store.Entry{Key: "k1", Value: store.Value{Data: []byte("bbbb")}},
		store.Entry{Key: "new", Value: store.Value{Data: []byte("x")}},
		store.Entry{Key: "k1", Value: store.Value{Data: []byte("cc")}},
	)
	require.NoError(t, a.PutMany(ctx, es[:400]))
	require.NoError(t, a.PutMany(ctx, es[400:1000]))
	require.NoError(t, a.PutMany(ctx, es[1000:]))
	for _, e := range es {
		require.NoError(t, b.Put(ctx, e.Key, e.Value))
	}
	require.Equal(t, b.Stats(), a.Stats())
	require.Equal(t, int64(701), a.Stats().Keys)
	pa, err := a.Scan(ctx, store.Cursor{}, sharding.HashRange{}, 0)
	require.NoError(t, err)
	pb, err := b.Scan(ctx, store.Cursor{}, sharding.HashRange{}, 0)
	require.NoError(t, err)
	require.Equal(t, pb.Entries, pa.Entries)
	require.ErrorIs(t, a.PutMany(ctx, []store.Entry{{Key: "x"}, {Key: ""}}), store.ErrEmptyKey)
	_, ok, err := a.Get(ctx, "x")
	require.NoError(t, err)
	require.False(t, ok, "nothing stored when a key is empty")
}

// TestPutIfAbsentFeedsFilter: a key stored by PutIfAbsent is known to the
// filter, so a later Put reads it and the counts stay exact.
func TestPutIfAbsentFeedsFilter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer s.Close()
	ok, err := s.PutIfAbsent(ctx, "k", store.Value{Data: []byte("1234")})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Put(ctx, "k", store.Value{Data: []byte("12")}))
	require.Equal(t, store.Stats{Keys: 1, Bytes: 3}, s.Stats())
}
