package durable

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
)

// TestPutIfAbsent checks the store contract, then that the last write
// survives a reopen.
func TestPutIfAbsent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	storetest.PutIfAbsent(t, s)
	require.NoError(t, s.Close())
	s = open(t, dir, Options{})
	v, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "third", string(v.Data))
	require.Equal(t, store.Stats{Keys: 1, Bytes: 6}, s.Stats())
}
