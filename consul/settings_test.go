package consul

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/layout"
)

// TestStoredSettingsUnchanged decodes settings documents as stored under
// <prefix>cluster before the settings had a package of their own (one with
// an explicit layout and a migration in progress, one of a legacy cluster)
// and encodes them again: the bytes must not change, or clusters running
// older producers would read them differently.
func TestStoredSettingsUnchanged(t *testing.T) {
	for _, tc := range []struct {
		file string
		want layout.Settings
	}{
		{"cluster-migration.json", layout.Settings{Algorithm: "consistent", Partitions: 4096, Replicas: 1, VNodes: 160, Epoch: 3,
			Members: []string{"node-1", "node-2", "node-3"},
			Migration: &layout.Migration{ID: "add-node-4-epoch-3", Kind: layout.MigrationAdd, Node: "node-4",
				From: []string{"node-1", "node-2", "node-3"}, To: []string{"node-1", "node-2", "node-3", "node-4"},
				Phase: layout.PhaseCopying}}},
		{"cluster-legacy.json", layout.Settings{Algorithm: "hrw", Partitions: 64}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			stored, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			s, err := decodeSettings(&api.KVPair{Key: "zshard/cluster", Value: stored})
			require.NoError(t, err)
			require.True(t, tc.want.Equal(s), "decoded %+v", s)
			again, err := encodeSettings(s)
			require.NoError(t, err)
			require.Equal(t, string(stored), string(again))
		})
	}
}
