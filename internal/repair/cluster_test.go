package repair_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/internal/repair"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// testPartitions is P of the test clusters: small, so that chunks and
// tables are cheap.
const testPartitions = 1024

// cluster is a Consul agent and in-process nodes registered in it.
type cluster struct {
	agent *testcluster.Consul
	cc    *consul.Client
	nodes map[string]*memberNode
	p     *producer.Producer
}

// memberNode is one node and its registration, which up and down turn on
// and off (the node keeps serving and keeps its data: it misses the
// writes routed while it is not passing).
type memberNode struct {
	t      *testing.T
	cc     *consul.Client
	n      *node.Node
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	reg    *consul.Registrar
}

func (m *memberNode) up() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := m.cc.Register(ctx, consul.Registration{Name: m.n.Name(), RepURL: m.n.RequestEndpoint(), PullURL: m.n.IngestEndpoint()})
	if err != nil {
		cancel()
		m.t.Fatal(err)
	}
	m.reg, m.cancel, m.done = reg, cancel, make(chan struct{})
	go func(done chan struct{}) { defer close(done); reg.Run(ctx, func() error { return nil }) }(m.done)
}

func (m *memberNode) down() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil {
		return
	}
	m.cancel()
	<-m.done
	_ = m.reg.Deregister(context.Background())
	m.reg = nil
}

// startCluster starts n nodes, node-0 .. node-<n-1>, and a producer that
// stores the settings at R = r.
func startCluster(t *testing.T, n, r int) *cluster {
	t.Helper()
	agent := testcluster.StartConsul(t)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{agent: agent, cc: cc, nodes: map[string]*memberNode{}}
	for i := range n {
		nd, err := node.New(node.Config{Name: fmt.Sprintf("node-%d", i), PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
		m := &memberNode{t: t, cc: cc, n: nd}
		m.up()
		c.nodes[nd.Name()] = m
		t.Cleanup(func() {
			m.down()
			_ = nd.Close()
		})
	}
	c.waitMembers(t, n)
	c.p = c.producer(t, r)
	return c
}

func (c *cluster) waitMembers(t *testing.T, n int) {
	t.Helper()
	testcluster.Eventually(t, fmt.Sprintf("%d members pass", n), 30*time.Second, 20*time.Millisecond, func() bool {
		ms, err := c.cc.Members(context.Background())
		return err == nil && len(ms) == n
	})
}

func (c *cluster) producerConfig(r int) producer.Config {
	// Writes at One: they go on while a replica is down, at any R.
	return producer.Config{Consul: consul.Config{Addr: c.agent.Addr}, Codec: protocol.Msgpack, WriteConsistency: producer.One,
		Settings: layout.Settings{Algorithm: sharding.Rendezvous, Partitions: testPartitions, Replicas: r}}
}

func (c *cluster) producer(t *testing.T, r int) *producer.Producer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p, err := producer.New(ctx, c.producerConfig(r))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// config is the repair configuration of c, with chunks of 128 partitions.
func (c *cluster) config() repair.Config {
	return repair.Config{Producer: producer.Config{Consul: consul.Config{Addr: c.agent.Addr}}, ChunkPartitions: 128,
		Holder: "repair test"}
}

// needVersions fails t when the nodes do not speak write versions.
func (c *cluster) needVersions(t *testing.T) {
	t.Helper()
	rep, err := c.p.Call(context.Background(), "node-0", protocol.Request{Op: protocol.OpPing})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Features, protocol.FeatureVersions) {
		t.Fatalf("the nodes do not speak write versions: PING features %v", rep.Features)
	}
}

// load writes keys key-0 .. key-<n-1> through the producer.
func (c *cluster) load(t *testing.T, n int, format string) {
	t.Helper()
	ctx := context.Background()
	b, err := c.p.NewBulk()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range n {
		v, _ := producer.EncodeValue(protocol.Msgpack, fmt.Sprintf(format, i))
		if err := b.Put(ctx, fmt.Sprintf("key-%d", i), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// record reads key's record on node: its version, whether it is a
// tombstone, and whether the node has one at all.
func (c *cluster) record(t *testing.T, node, key string) (v string, deleted, ok bool) {
	t.Helper()
	h := sharding.KeyHash(key)
	rep, err := c.p.Call(context.Background(), node, protocol.Request{Op: protocol.OpScan, HashFrom: h, HashTo: h + 1, Versions: true, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Collection {
		if e.Key == key {
			return e.Version.String(), e.Deleted, true
		}
	}
	return "", false, false
}

func TestRunRefusesDuringMigration(t *testing.T) {
	c := startCluster(t, 3, 1)
	c.load(t, 10, "v%d")
	ctx := context.Background()
	_, err := c.cc.UpdateSettings(ctx, func(s *layout.Settings) error {
		s.Migration = &layout.Migration{ID: "add-node-9-epoch-0", Kind: layout.MigrationAdd, Node: "node-9",
			From: s.Members, To: append(slices.Clone(s.Members), "node-9"), Phase: layout.PhaseCopying}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = repair.Run(ctx, c.config())
	if !errors.Is(err, repair.ErrMigration) {
		t.Fatalf("err = %v, want ErrMigration", err)
	}
	for _, want := range []string{"add of node-9", "copying", "client_producer add-node node-9"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error %q does not say %q", err, want)
		}
	}
}

func TestRunTakesTheRebalanceLock(t *testing.T) {
	c := startCluster(t, 3, 1)
	c.load(t, 10, "v%d")
	ctx := context.Background()
	sess, err := rebalance.TakeLock(ctx, c.cc, "a rebalancer", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = repair.Run(ctx, c.config())
	if !errors.Is(err, rebalance.ErrLocked) || !strings.Contains(err.Error(), "a rebalancer") {
		t.Fatalf("err = %v, want ErrLocked naming the holder", err)
	}
	rebalance.ReleaseLock(sess)
	// A repair holds it too, named as a repair, while it runs.
	cfg := c.config()
	holders := make(chan string, 1)
	var once sync.Once
	cfg.Progress = func(repair.Progress) {
		once.Do(func() {
			h, err := c.cc.LockHolder(ctx, rebalance.LockName)
			if err != nil {
				h = err.Error()
			}
			holders <- h
		})
	}
	cfg.Wait = true // the lock may still be in its delay
	if _, err := repair.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if h := testcluster.Receive(t, holders, time.Second, "a progress call"); h != "repair test" {
		t.Fatalf("the lock is held by %q while the repair runs", h)
	}
	if h, err := c.cc.LockHolder(ctx, rebalance.LockName); err != nil || h != "" {
		t.Fatalf("the lock is held by %q (%v) after the repair", h, err)
	}
}

// waitProducer waits until p sees n members.
func waitProducer(t *testing.T, p *producer.Producer, n int) {
	t.Helper()
	testcluster.Eventually(t, fmt.Sprintf("the producer sees %d members", n), 30*time.Second, 10*time.Millisecond,
		func() bool { return len(p.Members()) == n })
}

// missWrites takes node down, updates keys [0, updates) and deletes keys
// [updates, updates+deletes) meanwhile, brings it back, and returns how
// many of those keys node holds a replica of.
func (c *cluster) missWrites(t *testing.T, node string, updates, deletes int) int64 {
	t.Helper()
	ctx := context.Background()
	c.nodes[node].down()
	c.waitMembers(t, len(c.nodes)-1)
	waitProducer(t, c.p, len(c.nodes)-1)
	var missed int64
	for i := range updates + deletes {
		k := fmt.Sprintf("key-%d", i)
		if slices.Contains(c.p.Replicas(k), node) {
			missed++
		}
		if i < updates {
			v, _ := producer.EncodeValue(protocol.Msgpack, fmt.Sprintf("new-%d", i))
			if err := c.p.Put(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		} else if _, err := c.p.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	c.nodes[node].up()
	c.waitMembers(t, len(c.nodes))
	waitProducer(t, c.p, len(c.nodes))
	return missed
}

// agree fails t unless every replica of keys [0, n) holds the same record.
func (c *cluster) agree(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		k := fmt.Sprintf("key-%d", i)
		var first string
		for j, node := range c.p.Replicas(k) {
			v, del, ok := c.record(t, node, k)
			got := fmt.Sprintf("%s %v %v", v, del, ok)
			if j == 0 {
				first = got
			} else if got != first {
				t.Fatalf("%s: %s holds %s, %s holds %s", k, c.p.Replicas(k)[0], first, node, got)
			}
		}
	}
}

func TestRunRepairsReplicasThatMissedWrites(t *testing.T) {
	c := startCluster(t, 4, 2)
	c.needVersions(t)
	const keys = 20000
	c.load(t, keys, "v%d")
	missed := c.missWrites(t, "node-1", 2000, 500)
	ctx := context.Background()

	cfg := c.config()
	cfg.DryRun = true
	dry, err := repair.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Fixed["node-1"] != missed || dry.FixedTotal() != missed || dry.Compared != testPartitions || dry.Differing == 0 {
		t.Fatalf("dry run: %+v, want node-1 fixed %d", dry, missed)
	}

	rep, err := repair.Run(ctx, c.config())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fixed["node-1"] != missed || rep.FixedTotal() != missed || rep.Compared != testPartitions || rep.Resumed || rep.RunID == "" {
		t.Fatalf("repair: %+v, want node-1 fixed %d", rep, missed)
	}
	c.agree(t, 2500)

	again, err := repair.Run(ctx, c.config())
	if err != nil {
		t.Fatal(err)
	}
	if again.Differing != 0 || again.FixedTotal() != 0 || again.RunID == rep.RunID {
		t.Fatalf("second repair: %+v", again)
	}
}

func TestBackgroundRoundsConverge(t *testing.T) {
	c := startCluster(t, 4, 2)
	c.needVersions(t)
	c.load(t, 10000, "v%d")
	missed := c.missWrites(t, "node-2", 1000, 300)
	ctx := context.Background()
	// The newest wins in both directions: node-3 alone gets a newer write.
	k := "key-7"
	if !slices.Contains(c.p.Replicas(k), "node-3") {
		k = "key-8"
	}
	v, _, _ := c.record(t, "node-3", k)
	newer := protocol.Request{Op: protocol.OpPut, Key: k, Value: []byte{0xa3, 'n', 'e', 'w'}}
	base, err := hlc.Parse(v)
	if err != nil {
		t.Fatal(err)
	}
	newer.Version = hlc.Version{Time: base.Time + 1<<16, Writer: base.Writer}
	if _, err := c.p.Call(ctx, "node-3", newer); err != nil {
		t.Fatal(err)
	}

	var fixed int64
	for _, n := range slices.Sorted(maps.Keys(c.nodes)) {
		rep, err := repair.RunRound(ctx, repair.BackgroundConfig{Node: n, Consul: c.cc, MaxRate: -1, MaxPartitionRate: -1})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		fixed += rep.FixedTotal()
	}
	if fixed < missed+2 {
		t.Fatalf("the rounds fixed %d keys, want at least %d", fixed, missed+2)
	}
	c.agree(t, 1300)
	for _, n := range c.p.Replicas(k) {
		if got, _, _ := c.record(t, n, k); got != newer.Version.String() {
			t.Fatalf("%s on %s: version %s, want node-3's %s", k, n, got, newer.Version)
		}
	}
	cfg := c.config()
	cfg.DryRun = true
	if rep, err := repair.Run(ctx, cfg); err != nil || rep.Differing != 0 {
		t.Fatalf("after the rounds: %+v, %v", rep, err)
	}
}

func TestRunResumes(t *testing.T) {
	c := startCluster(t, 3, 1)
	c.needVersions(t)
	c.load(t, 5000, "v%d")
	c.missWrites(t, "node-0", 500, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := c.config()
	cfg.ProgressEvery = time.Millisecond
	cfg.MaxPartitionRate = 4000
	cfg.Progress = func(p repair.Progress) {
		if p.Done >= 256 {
			cancel()
		}
	}
	if _, err := repair.Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted repair: %v", err)
	}
	var st repair.State
	if err := c.cc.GetJSON(context.Background(), consul.RepairKey, &st); err != nil {
		t.Fatal(err)
	}
	if st.Finished || st.LastPartition < 255 || st.LastPartition >= testPartitions-1 || st.RunID == "" {
		t.Fatalf("recorded progress: %+v", st)
	}
	rep, err := repair.Run(context.Background(), c.config())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed || rep.RunID != st.RunID || rep.Compared != testPartitions {
		t.Fatalf("resumed repair: %+v (interrupted %+v)", rep, st)
	}
	c.agree(t, 600)
	cfg = c.config()
	cfg.Restart = true
	fresh, err := repair.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Resumed || fresh.RunID == st.RunID || fresh.Differing != 0 {
		t.Fatalf("repair after a finished one: %+v", fresh)
	}
}
