package consul_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLockIsExclusive: one session holds a lock, another is refused and told
// who holds it, and takes it once it is released.
func TestLockIsExclusive(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	s1, err := c.NewSession(ctx, "one", 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s1.Close(ctx) })
	s2, err := c.NewSession(ctx, "two", 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s2.Close(ctx) })

	ok, _, err := s1.Lock(ctx, "rebalance", "first")
	require.NoError(t, err)
	require.True(t, ok)
	ok, holder, err := s2.Lock(ctx, "rebalance", "second")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, "first", holder)
	h, err := c.LockHolder(ctx, "rebalance")
	require.NoError(t, err)
	require.Equal(t, "first", h)

	require.NoError(t, s1.Unlock(ctx, "rebalance"))
	ok, _, err = s2.Lock(ctx, "rebalance", "second")
	require.NoError(t, err)
	require.True(t, ok, "an explicit release has no lock delay")
}
