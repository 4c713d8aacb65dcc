package rebalance_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// TestRebalanceWithCurve adds node-4 to four CURVE nodes run by a
// supervisor (sharing one key, admins of one another) with a producer and
// a rebalancer holding an admin key; an ordinary key's rebalancer is
// refused.
func TestRebalanceWithCurve(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Consul and node processes")
	}
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	clients, admins := filepath.Join(dir, "clients"), filepath.Join(dir, "admins")
	require.NoError(t, os.Mkdir(clients, 0o755))
	require.NoError(t, os.Mkdir(admins, 0o755))
	keys := map[string]curve.Keypair{}
	for name, allow := range map[string]string{"server": "", "app": clients, "ops": admins} {
		kp, err := curve.Generate()
		require.NoError(t, err)
		_, _, err = curve.WriteKeypair(filepath.Join(dir, name), kp)
		require.NoError(t, err)
		if allow != "" {
			require.NoError(t, os.WriteFile(filepath.Join(allow, name+".pub"), []byte(kp.Public+"\n"), 0o644))
		}
		keys[name] = kp
	}

	agent := testcluster.StartConsul(t)
	const alg, r = sharding.Rendezvous, 1
	c := &cluster{agent: agent, alg: alg, r: r, keys: map[string][]byte{}}
	c.sup = testcluster.StartProcess(t, serverBin, testcluster.ServerArgs(t, 4, "--consul", agent.Addr,
		"--curve-secret-file", filepath.Join(dir, "server.secret"), "--curve-clients", clients, "--curve-admins", admins)...)
	pcfg := func(key string) producer.Config {
		return producer.Config{Consul: consul.Config{Addr: agent.Addr},
			Settings: layout.Settings{Algorithm: alg, Replicas: r, Partitions: testPartitions},
			Curve:    &curve.Client{Key: keys[key]}}
	}
	var err error
	c.p, err = producer.New(context.Background(), pcfg("ops"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.p.Close() })
	eventually(t, 60*time.Second, "four nodes pass, ready for reads", func() bool {
		ms := c.p.Members()
		return len(ms) == 4 && !slices.ContainsFunc(ms, func(m consul.Member) bool { return !m.Ready || m.Curve != keys["server"].Public })
	})
	ctx := context.Background()
	b, err := c.p.NewBulk()
	require.NoError(t, err)
	for i := range 2000 {
		k := fmt.Sprintf("key-%07d", i)
		c.keys[k] = fmt.Appendf(nil, `{"i":%d}`, i)
		require.NoError(t, b.Put(ctx, k, c.keys[k]))
	}
	require.NoError(t, b.Sync(ctx))
	require.NoError(t, b.Close())

	four := []string{"node-0", "node-1", "node-2", "node-3"}
	// An ordinary key may not rebalance: the copy needs raw, versioned scans.
	app := rebalance.Config{Producer: pcfg("app"), Grace: 300 * time.Millisecond}
	_, err = rebalance.Add(ctx, app, "node-4", "")
	require.ErrorContains(t, err, "forbidden")

	ops := rebalance.Config{Producer: pcfg("ops"), Grace: 300 * time.Millisecond}
	_, err = rebalance.Add(ctx, ops, "node-4", "")
	require.NoError(t, err)
	c.check(t, append(four, "node-4"))
}
