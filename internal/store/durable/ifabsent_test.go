package durable

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
)

func TestPutIfAbsent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	ok, err := s.PutIfAbsent(ctx, "k", store.Value{Codec: 1, Data: []byte("first")})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.PutIfAbsent(ctx, "k", store.Value{Codec: 1, Data: []byte("second")})
	require.NoError(t, err)
	require.False(t, ok, "present: not stored")
	v, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "first", string(v.Data))
	require.Equal(t, store.Stats{Keys: 1, Bytes: 6}, s.Stats())
	_, err = s.Delete(ctx, "k")
	require.NoError(t, err)
	ok, err = s.PutIfAbsent(ctx, "k", store.Value{Codec: 1, Data: []byte("third")})
	require.NoError(t, err)
	require.True(t, ok, "deleted: stored again")
	require.NoError(t, s.Close())
	s = open(t, dir, Options{})
	v, _, err = s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "third", string(v.Data))
	require.Equal(t, store.Stats{Keys: 1, Bytes: 6}, s.Stats())
	_, err = s.PutIfAbsent(ctx, "", store.Value{})
	require.ErrorIs(t, err, store.ErrEmptyKey)
}
