package consul_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
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

// TestSettingsKeepLayoutAndMigration: Members and Migration survive a
// check-and-set round trip, and settings without them read as before.
func TestSettingsKeepLayoutAndMigration(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	_, _, err := c.InitSettings(ctx, consul.Settings{Algorithm: "hrw", Partitions: 64})
	require.NoError(t, err)
	s, _, err := c.Settings(ctx)
	require.NoError(t, err)
	require.Empty(t, s.Members)
	require.Nil(t, s.Migration)

	m := &consul.Migration{ID: "add-n2-epoch-0", Kind: consul.MigrationAdd, Node: "n2",
		From: []string{"n0", "n1"}, To: []string{"n0", "n1", "n2"}, Phase: consul.PhaseCopying}
	want, err := c.UpdateSettings(ctx, func(s *consul.Settings) error {
		s.Members = []string{"n0", "n1"}
		s.Migration = m
		return nil
	})
	require.NoError(t, err)
	got, _, err := c.Settings(ctx)
	require.NoError(t, err)
	require.True(t, want.Equal(got), "%+v != %+v", want, got)
	require.False(t, got.Equal(consul.Settings{Algorithm: "hrw", Partitions: 64}))
	cl := got.Clone()
	cl.Migration.To[0] = "x"
	require.Equal(t, "n0", got.Migration.To[0], "Clone copies deeply")
}
