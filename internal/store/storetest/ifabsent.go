package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
)

// PutIfAbsent checks the PutIfAbsent contract on an empty, open store s: it
// stores a missing key, leaves a present one (value, codec and stats)
// alone, stores again a deleted one, and refuses an empty key. It leaves
// s holding "k" = "third" (codec 1) and nothing else.
func PutIfAbsent(t testing.TB, s store.Store) {
	t.Helper()
	ctx := context.Background()
	ok, err := s.PutIfAbsent(ctx, "k", store.Value{Codec: 1, Data: []byte("first")})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.PutIfAbsent(ctx, "k", store.Value{Codec: 2, Data: []byte("second")})
	require.NoError(t, err)
	require.False(t, ok, "present: not stored")
	v, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, store.Value{Codec: 1, Data: []byte("first")}, v)
	require.Equal(t, store.Stats{Keys: 1, Bytes: 6}, s.Stats())
	_, err = s.Delete(ctx, "k")
	require.NoError(t, err)
	ok, err = s.PutIfAbsent(ctx, "k", store.Value{Codec: 1, Data: []byte("third")})
	require.NoError(t, err)
	require.True(t, ok, "deleted: stored again")
	require.Equal(t, store.Stats{Keys: 1, Bytes: 6}, s.Stats())
	_, err = s.PutIfAbsent(ctx, "", store.Value{})
	require.ErrorIs(t, err, store.ErrEmptyKey)
}
