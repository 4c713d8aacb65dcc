package consul_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/layout"
)

// TestSettingsKeepLayoutAndMigration: Members and Migration survive a
// check-and-set round trip, and settings without them read as before.
func TestSettingsKeepLayoutAndMigration(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	_, _, err := c.InitSettings(ctx, layout.Settings{Algorithm: "hrw", Partitions: 64})
	require.NoError(t, err)
	s, _, err := c.Settings(ctx)
	require.NoError(t, err)
	require.Empty(t, s.Members)
	require.Nil(t, s.Migration)

	m := &layout.Migration{ID: "add-n2-epoch-0", Kind: layout.MigrationAdd, Node: "n2",
		From: []string{"n0", "n1"}, To: []string{"n0", "n1", "n2"}, Phase: layout.PhaseCopying}
	want, err := c.UpdateSettings(ctx, func(s *layout.Settings) error {
		s.Members = []string{"n0", "n1"}
		s.Migration = m
		return nil
	})
	require.NoError(t, err)
	got, _, err := c.Settings(ctx)
	require.NoError(t, err)
	require.True(t, want.Equal(got), "%+v != %+v", want, got)
	require.False(t, got.Equal(layout.Settings{Algorithm: "hrw", Partitions: 64}))
	cl := got.Clone()
	cl.Migration.To[0] = "x"
	require.Equal(t, "n0", got.Migration.To[0], "Clone copies deeply")
}
