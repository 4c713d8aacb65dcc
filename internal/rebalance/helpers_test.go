package rebalance_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// serverBin and clientBin are server_consumer and client_producer, built
// once for the integration tests.
var serverBin, clientBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &serverBin, "client_producer": &clientBin}))
}

// numKeys is the data set of the integration tests: 100k keys, fewer under
// the race detector or with ZSHARD_REBALANCE_KEYS.
func numKeys(t *testing.T) int {
	if s := os.Getenv("ZSHARD_REBALANCE_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	if raceEnabled {
		return 10_000
	}
	return 100_000
}

// cluster is a Consul agent, a supervisor running node-0..node-3 as real
// processes, and a producer loaded with keys.
type cluster struct {
	agent *testcluster.Consul
	p     *producer.Producer
	sup   *testcluster.Process
	keys  map[string][]byte // the expected value of every key
	alg   string
	r     int
}

// testPartitions is P of the test clusters: small, so that building tables
// is cheap and partitions hold many keys; the figure test uses the default.
var testPartitions = 4096

func startCluster(t *testing.T, alg string, r, n int) *cluster {
	t.Helper()
	agent := testcluster.StartConsul(t)
	c := &cluster{agent: agent, alg: alg, r: r, keys: make(map[string][]byte, n)}
	c.sup = testcluster.StartProcess(t, serverBin, testcluster.ServerArgs(t, 4, "--consul", agent.Addr)...)
	c.p = c.newProducer(t)
	// Nodes that start after the producer stored the settings catch up
	// from their replicas first (R > 0), unready for reads, which a
	// rebalance needs.
	eventually(t, 60*time.Second, "four nodes pass, ready for reads", func() bool {
		ms := c.p.Members()
		return len(ms) == 4 && !slices.ContainsFunc(ms, func(m consul.Member) bool { return !m.Ready })
	})

	ctx := context.Background()
	b, err := c.p.NewBulk()
	require.NoError(t, err)
	for i := range n {
		k := fmt.Sprintf("key-%07d", i)
		v := fmt.Appendf(nil, `{"i":%d,"pad":"%032d"}`, i, i)
		c.keys[k] = v
		require.NoError(t, b.Put(ctx, k, v))
	}
	require.NoError(t, b.Sync(ctx))
	require.NoError(t, b.Close())
	return c
}

func (c *cluster) newProducer(t *testing.T) *producer.Producer {
	t.Helper()
	p, err := producer.New(context.Background(), producer.Config{
		Consul:   consul.Config{Addr: c.agent.Addr},
		Settings: layout.Settings{Algorithm: c.alg, Replicas: c.r, Partitions: testPartitions},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func (c *cluster) rebalanceConfig() rebalance.Config {
	return rebalance.Config{
		Producer: producer.Config{Consul: consul.Config{Addr: c.agent.Addr}},
		Grace:    300 * time.Millisecond,
	}
}

// eventually polls cond every 50ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testcluster.Eventually(t, what, d, 50*time.Millisecond, cond)
}

// layout returns the cluster's table at its current Members.
func (c *cluster) table(t *testing.T, members []string) *sharding.Table {
	t.Helper()
	tb, err := sharding.NewTable(sharding.Config{Algorithm: c.alg, Replicas: c.r, Partitions: testPartitions},
		sharding.NodesNamed(members...))
	require.NoError(t, err)
	return tb
}

// optimum counts the copies a change of layout needs: for every key, the
// nodes of its new preference list not in its old one.
func (c *cluster) optimum(t *testing.T, from, to []string) int64 {
	t.Helper()
	a, b := c.table(t, from), c.table(t, to)
	var n int64
	var pa, pb []string
	for k := range c.keys {
		pa, pb = a.AppendPrefs(pa[:0], k), b.AppendPrefs(pb[:0], k)
		for _, x := range pb {
			if !slices.Contains(pa, x) {
				n++
			}
		}
	}
	return n
}

// check asserts that every key reads back with its value and lives exactly
// on its preference list under members, node by node through SCAN.
func (c *cluster) check(t *testing.T, members []string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 60*time.Second, fmt.Sprintf("members %v pass", members), func() bool {
		var names []string
		for _, m := range c.p.Members() {
			names = append(names, m.Name)
		}
		return slices.Equal(names, members)
	})
	s, err := consul.New(consul.Config{Addr: c.agent.Addr})
	require.NoError(t, err)
	st, _, err := s.Settings(ctx)
	require.NoError(t, err)
	require.Nil(t, st.Migration)
	require.Equal(t, members, st.Members)

	keys := make([]string, 0, len(c.keys))
	for k := range c.keys {
		keys = append(keys, k)
	}
	var bad []string
	require.NoError(t, c.p.Do(ctx, len(keys), func(i int) producer.Op {
		return producer.Op{Kind: producer.OpGet, Key: keys[i]}
	}, func(i int, r producer.Result) {
		if r.Err != nil || !bytes.Equal(r.Value, c.keys[keys[i]]) {
			if len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("%s: %q %v", keys[i], r.Value, r.Err))
			}
		}
	}))
	require.Empty(t, bad, "keys that do not read back")

	// Node by node: what each holds must be exactly what it should.
	tb := c.table(t, members)
	held := map[string]map[string]bool{}
	for _, m := range members {
		held[m] = map[string]bool{}
		cursor := ""
		for {
			rep, err := c.p.Call(ctx, m, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 10000})
			require.NoError(t, err)
			for _, e := range rep.Collection {
				held[m][e.Key] = true
				if _, ok := c.keys[e.Key]; !ok && len(bad) < 10 {
					bad = append(bad, fmt.Sprintf("%s holds unknown key %s", m, e.Key))
				}
			}
			if cursor = rep.Cursor; cursor == "" {
				break
			}
		}
	}
	var prefs []string
	for _, k := range keys {
		prefs = tb.AppendPrefs(prefs[:0], k)
		for _, m := range members {
			if held[m][k] != slices.Contains(prefs, m) && len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("%s on %s: held %v, preference list %v", k, m, held[m][k], prefs))
			}
		}
	}
	total := 0
	for _, h := range held {
		total += len(h)
	}
	require.Empty(t, bad, "placement")
	require.Equal(t, len(keys)*min(c.r+1, len(members)), total, "stored copies")
}
