package rebalance_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/sharding"
)

// records returns every record node holds (SCAN with versions): key ->
// version and tombstone flag.
func (c *cluster) records(t *testing.T, node string) map[string]string {
	t.Helper()
	out := map[string]string{}
	cursor := ""
	for {
		rep, err := c.p.Call(context.Background(), node, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 10000,
			Raw: true, Versions: true})
		require.NoError(t, err)
		for _, e := range rep.Collection {
			out[e.Key] = fmt.Sprintf("%s deleted=%v", e.Version, e.Deleted)
		}
		if cursor = rep.Cursor; cursor == "" {
			return out
		}
	}
}

// TestRebalanceCopiesVersions adds a node to a cluster (R=1) whose nodes
// speak write versions and hold tombstones: every record reaches its new
// owner with the version it had, deletes included, and verification finds
// nothing to repair.
func TestRebalanceCopiesVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Consul and node processes")
	}
	c := startCluster(t, sharding.Rendezvous, 1, 2000)
	ctx := context.Background()
	rep, err := c.p.Call(ctx, "node-0", protocol.Request{Op: protocol.OpPing})
	require.NoError(t, err)
	require.Contains(t, rep.Features, protocol.FeatureVersions)
	for i := range 300 {
		k := fmt.Sprintf("key-%07d", i)
		_, err := c.p.Delete(ctx, k)
		require.NoError(t, err)
		delete(c.keys, k)
	}
	want := map[string]string{}
	for _, n := range []string{"node-0", "node-1", "node-2", "node-3"} {
		for k, r := range c.records(t, n) {
			if w, ok := want[k]; ok {
				require.Equal(t, w, r, "%s: replicas disagree before the rebalance", k)
			}
			want[k] = r
		}
	}
	report, err := rebalance.Add(ctx, c.rebalanceConfig(), "node-4", "")
	require.NoError(t, err)
	require.Zero(t, report.Fixed, "verification repaired keys of a quiet cluster")
	five := []string{"node-0", "node-1", "node-2", "node-3", "node-4"}
	c.check(t, five)
	tb := c.table(t, five)
	held := c.records(t, "node-4")
	tombstones := 0
	for k, w := range want {
		if !slices.Contains(tb.AppendPrefs(nil, k), "node-4") {
			continue
		}
		require.Equal(t, w, held[k], "%s on node-4", k)
		if held[k] != "" && held[k][len(held[k])-4:] == "true" {
			tombstones++
		}
	}
	require.Positive(t, tombstones, "tombstones copied to node-4")
}
