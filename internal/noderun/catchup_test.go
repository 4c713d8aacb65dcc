package noderun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// catchUpCluster is what the catch-up tests run on (integration tests,
// skipped with -short): three in-process nodes registered in a private
// Consul agent, node-a and node-b in memory and node-c durable in its own
// directory, and settings of R=2 over the three (every key on every node).
type catchUpCluster struct {
	agent    *testcluster.Consul
	cc       *consul.Client
	settings layout.Settings
	dir      string
	st       *durable.Store // node-c's
	stopC    func()         // stops node-c, keeping its store open
}

func startCatchUpCluster(t *testing.T) *catchUpCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	agent := testcluster.StartConsul(t)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	members := []string{"node-a", "node-b", "node-c"}
	c := &catchUpCluster{agent: agent, cc: cc, dir: t.TempDir(),
		settings: layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 32, Replicas: 2, Epoch: 1, Members: members}}
	for _, name := range members[:2] {
		runNode(t, noderun.Config{Node: node.Config{Name: name, Bind: "127.0.0.1"}, Consul: cc})
	}
	c.st = openDurable(t, c.dir)
	t.Cleanup(func() { _ = c.st.Close() }) // after node-c stops: cleanups run last first
	c.stopC = runNode(t, noderun.Config{Node: node.Config{Name: "node-c", Bind: "127.0.0.1", Store: c.st}, Consul: cc, DataDir: c.dir})
	eventually(t, "three nodes pass", func() bool { return len(passing(t, cc)) == 3 })
	return c
}

// restartC starts node-c again on its store, catching up after a short
// settle.
func (c *catchUpCluster) restartC(t *testing.T) {
	t.Helper()
	runNode(t, noderun.Config{Node: node.Config{Name: "node-c", Bind: "127.0.0.1", Store: c.st}, Consul: c.cc, DataDir: c.dir,
		CatchUpSettle: 200 * time.Millisecond})
}

// TestCatchUpFromReplicas (R=2, three in-process nodes, one durable): the
// durable node is stopped, keys are overwritten, deleted and added while it
// is down, and when it returns it takes writes at once but is not read from
// until it has caught up; then its own store holds what its replicas hold,
// the deleted keys as tombstones, and a key only it holds stays (deletes
// are tombstones: a key a replica lacks was not deleted).
func TestCatchUpFromReplicas(t *testing.T) {
	ctx := context.Background()
	cl := startCatchUpCluster(t)
	agent, cc, settings, st := cl.agent, cl.cc, cl.settings, cl.st

	p, err := producer.New(ctx, producer.Config{Consul: consul.Config{Addr: agent.Addr}, Settings: settings})
	require.NoError(t, err)
	defer p.Close()
	key := func(i int) string { return fmt.Sprintf("key-%04d", i) }
	put := func(i int, v string) {
		b, _ := json.Marshal(v)
		require.NoError(t, p.Put(ctx, key(i), b))
	}
	const n = 2000
	for i := range n {
		put(i, "v1")
	}
	cl.stopC()
	eventually(t, "node-c is gone", func() bool { _, ok := member(t, cc, "node-c"); return !ok })
	want := map[string]string{}
	for i := range n {
		want[key(i)] = "v1"
	}
	for i := 0; i < n; i += 3 {
		put(i, "v2")
		want[key(i)] = "v2"
	}
	for i := 1; i < n; i += 7 {
		_, err := p.Delete(ctx, key(i))
		require.NoError(t, err)
		delete(want, key(i))
	}
	for i := n; i < n+300; i++ {
		put(i, "v1")
		want[key(i)] = "v1"
	}
	_, err = st.Apply(ctx, "only-on-c", jsonValue("mine"))
	require.NoError(t, err)
	want["only-on-c"] = "mine"

	cl.restartC(t)
	eventually(t, "node-c passes", func() bool { _, ok := member(t, cc, "node-c"); return ok })
	// Writes made while it catches up reach it, and reads never see it
	// stale (with R=2 and three nodes every key is on node-c).
	for i := 2; i < n; i += 5 {
		put(i, "v3")
		want[key(i)] = "v3"
		if i%50 == 2 {
			b, err := p.Get(ctx, key(i))
			require.NoError(t, err)
			require.JSONEq(t, `"v3"`, string(b))
		}
	}
	eventually(t, "node-c is ready", func() bool { m, ok := member(t, cc, "node-c"); return ok && m.Ready })

	got := map[string]string{}
	page, err := st.Scan(ctx, store.Cursor{}, sharding.HashRange{}, 0)
	require.NoError(t, err)
	for _, e := range page.Entries {
		var v string
		require.NoError(t, json.Unmarshal(e.Value.Data, &v))
		got[e.Key] = v
	}
	require.Equal(t, want, got, "node-c's store after catch-up")
	for i := 1; i < n; i += 7 {
		if _, ok := want[key(i)]; ok {
			continue // written again after its delete
		}
		v, ok, err := st.Lookup(ctx, key(i))
		require.NoError(t, err)
		require.True(t, ok && v.Tombstone, "%s: the tombstone of its delete", key(i))
	}
}

// TestInMemoryNodeCatchesUp (R=2, three in-process in-memory nodes, every
// key on every node): nodes that start in a cluster whose settings are
// stored catch up before they are read from, the first with no ready
// replica to learn from (as after a whole-cluster restart) being ready at
// once; an in-memory node that restarts empty copies its partitions from
// its ready replicas, values and tombstones, with their versions, while
// taking writes, and the writes made meanwhile win over older copies.
func TestInMemoryNodeCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	agent := testcluster.StartConsul(t)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	members := []string{"node-a", "node-b", "node-c"}
	settings := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 32, Replicas: 2, Epoch: 1, Members: members}
	_, created, err := cc.InitSettings(ctx, settings)
	require.NoError(t, err)
	require.True(t, created)
	run := func(name string, st store.Store) func() {
		// The settle leaves the test time to see node-c passing and not
		// ready before its catch-up ends.
		return runNode(t, noderun.Config{Node: node.Config{Name: name, Bind: "127.0.0.1", Store: st}, Consul: cc,
			CatchUpSettle: time.Second})
	}
	ready := func(name string) bool { m, ok := member(t, cc, name); return ok && m.Ready }
	// No ready replica anywhere: node-a serves what it has.
	run("node-a", nil)
	eventually(t, "node-a is ready", func() bool { return ready("node-a") })
	run("node-b", nil)
	stopC := run("node-c", store.NewMemory(store.MemoryOptions{}))
	eventually(t, "all are ready", func() bool { return ready("node-b") && ready("node-c") })

	p, err := producer.New(ctx, producer.Config{Consul: consul.Config{Addr: agent.Addr}, Settings: settings})
	require.NoError(t, err)
	defer p.Close()
	key := func(i int) string { return fmt.Sprintf("key-%04d", i) }
	want := map[string]string{}
	put := func(i int, v string) {
		b, _ := json.Marshal(v)
		require.NoError(t, p.Put(ctx, key(i), b))
		want[key(i)] = v
	}
	const n = 2000
	for i := range n {
		put(i, "v1")
	}
	stopC()
	eventually(t, "node-c is gone", func() bool {
		_, ok := member(t, cc, "node-c")
		return !ok && len(p.Members()) == 2
	})
	for i := 0; i < n; i += 3 {
		put(i, "v2")
	}
	deleted := []string{}
	for i := 1; i < n; i += 7 {
		_, err := p.Delete(ctx, key(i))
		require.NoError(t, err)
		delete(want, key(i))
		deleted = append(deleted, key(i))
	}

	st := store.NewMemory(store.MemoryOptions{})
	defer st.Close()
	run("node-c", st)
	eventually(t, "node-c passes", func() bool { _, ok := member(t, cc, "node-c"); return ok })
	m, _ := member(t, cc, "node-c")
	require.False(t, m.Ready, "an in-memory node with replicas registers not ready")
	for i := 2; i < n; i += 5 {
		put(i, "v3") // reaches node-c while it catches up
	}
	eventually(t, "node-c is ready", func() bool { return ready("node-c") })

	got := map[string]string{}
	page, err := st.Scan(ctx, store.Cursor{}, sharding.HashRange{}, 0)
	require.NoError(t, err)
	for _, e := range page.Entries {
		var v string
		require.NoError(t, json.Unmarshal(e.Value.Data, &v))
		got[e.Key] = v
		require.False(t, e.Value.Version.IsZero(), e.Key)
	}
	require.Equal(t, want, got, "node-c's store after catch-up")
	for _, k := range deleted {
		if _, ok := want[k]; ok {
			continue
		}
		v, ok, err := st.Lookup(ctx, k)
		require.NoError(t, err)
		require.True(t, ok && v.Tombstone, "%s: the tombstone of its delete", k)
	}
}

// TestCatchUpKeepsCodecs (R=2, three in-process nodes, one durable): values
// written while the durable node was down come back to it byte for byte,
// with the codec they were written in — a msgpack bin, which has no JSON
// form, a msgpack float32 and a JSON integer beyond msgpack's — and read in
// their own codec on that node as they were written.
func TestCatchUpKeepsCodecs(t *testing.T) {
	ctx := context.Background()
	cl := startCatchUpCluster(t)
	agent, cc, settings, st := cl.agent, cl.cc, cl.settings, cl.st

	producers := map[protocol.Codec]*producer.Producer{}
	for _, c := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		p, err := producer.New(ctx, producer.Config{Consul: consul.Config{Addr: agent.Addr}, Settings: settings, Codec: c})
		require.NoError(t, err)
		defer p.Close()
		producers[c] = p
	}
	put := func(k string, v store.Value) {
		require.NoError(t, producers[protocol.Codec(v.Codec)].Put(ctx, k, v.Data))
	}
	want := map[string]store.Value{
		"bin":    {Codec: uint8(protocol.Msgpack), Data: []byte{0xc4, 0x02, 0xff, 0x00}},
		"f32":    {Codec: uint8(protocol.Msgpack), Data: []byte{0xca, 0x3f, 0xc0, 0x00, 0x00}},
		"huge":   {Codec: uint8(protocol.JSON), Data: []byte(`123456789012345678901234567890`)},
		"spaced": {Codec: uint8(protocol.JSON), Data: []byte(`{"b": 1,  "a": [2]}`)},
	}
	put("f32", store.Value{Codec: uint8(protocol.JSON), Data: []byte(`1`)})
	cl.stopC()
	// Gone from Consul and from both producers' views, which follow
	// Consul a moment later: a write routed to node-c meanwhile would fail.
	eventually(t, "node-c is gone", func() bool {
		_, ok := member(t, cc, "node-c")
		return !ok && len(producers[protocol.JSON].Members()) == 2 && len(producers[protocol.Msgpack].Members()) == 2
	})
	for k, v := range want {
		put(k, v)
	}

	cl.restartC(t)
	eventually(t, "node-c is ready", func() bool { m, ok := member(t, cc, "node-c"); return ok && m.Ready })
	m, _ := member(t, cc, "node-c")
	sock, err := zmq.NewSocket(zmq.REQ)
	require.NoError(t, err)
	defer sock.Close()
	require.NoError(t, sock.SetLinger(0))
	require.NoError(t, sock.SetRcvtimeo(10*time.Second))
	require.NoError(t, sock.Connect(m.RepURL))
	for k, v := range want {
		got, ok, err := st.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, k)
		require.False(t, got.Version.IsZero(), "%s: copied with its version", k)
		got.Version = v.Version
		require.Equal(t, v, got, k)
		c := protocol.Codec(v.Codec)
		msg, err := protocol.AppendRequest(nil, c, &protocol.Request{Op: protocol.OpGetOne, Key: k})
		require.NoError(t, err)
		_, err = sock.SendBytes(msg, 0)
		require.NoError(t, err)
		b, err := sock.RecvBytes(0)
		require.NoError(t, err)
		rep, _, err := protocol.DecodeReply(b)
		require.NoError(t, err)
		require.Equal(t, protocol.StatusOK, rep.Status, "%v", rep.Err)
		require.Equal(t, v.Data, rep.Value, k)
	}
}
