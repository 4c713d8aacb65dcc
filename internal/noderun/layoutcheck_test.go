package noderun_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// TestLayoutCheckDropsPartitionsMovedAway: a durable node whose directory
// holds keys of partitions the current layout places elsewhere (a rebalance
// moved them while it was down) deletes them before it serves, keeps its
// own, and records the layout epoch in its directory.
func TestLayoutCheckDropsPartitionsMovedAway(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	agent := testcluster.StartConsul(t)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	members := []string{"node-a", "node-b", "node-c"}
	s := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 64, Replicas: 0, Epoch: 3, Members: members}
	_, created, err := cc.InitSettings(ctx, s)
	require.NoError(t, err)
	require.True(t, created)

	dir := t.TempDir()
	st := openDurable(t, dir)
	const keys = 3000
	for i := range keys {
		require.NoError(t, st.Put(ctx, fmt.Sprintf("k%d", i), jsonValue("v")))
	}
	stop := runNode(t, noderun.Config{Node: node.Config{Name: "node-a", Bind: "127.0.0.1", Store: st}, Consul: cc, DataDir: dir})
	eventually(t, "node-a passes", func() bool { _, ok := member(t, cc, "node-a"); return ok })
	m, _ := member(t, cc, "node-a")
	require.True(t, m.Ready, "R=0: nothing to catch up from, ready at once")

	table, err := sharding.NewTable(sharding.Config{Algorithm: s.Algorithm, Partitions: s.Partitions}, sharding.NodesNamed(members...))
	require.NoError(t, err)
	kept := 0
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		_, ok, err := st.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, slices.Contains(table.AppendPrefs(nil, k), "node-a"), ok, k)
		if ok {
			kept++
		}
	}
	require.Positive(t, kept)
	require.Less(t, kept, keys)
	b, err := os.ReadFile(filepath.Join(dir, "zshard-layout.json"))
	require.NoError(t, err)
	require.JSONEq(t, `{"epoch":3,"members":["node-a","node-b","node-c"]}`, string(b))
	stop()
	require.NoError(t, st.Close())
}
