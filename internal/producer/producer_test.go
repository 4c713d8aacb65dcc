package producer

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// TestIntegration runs the producer against a real Consul agent and real
// nodes. The subtests share the agent; each uses its own service name and KV
// prefix, so each is a separate cluster with its own settings.
func TestIntegration(t *testing.T) {
	c := testcluster.StartConsul(t)
	t.Run("operations", func(t *testing.T) {
		for _, alg := range []string{sharding.Consistent, sharding.Rendezvous} {
			for _, codec := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
				for _, r := range []int{0, 2} {
					t.Run(fmt.Sprintf("%s/%s/R=%d", alg, codec, r), func(t *testing.T) {
						testOperations(t, c, alg, codec, r)
					})
				}
			}
		}
	})
	t.Run("settings", func(t *testing.T) { testSettings(t, c) })
	t.Run("node added by hand", func(t *testing.T) { testNodeAdded(t, c) })
	t.Run("layout recorded before the node joins", func(t *testing.T) { testLayoutBeforeJoin(t, c) })
	t.Run("lost reply", func(t *testing.T) { testLostReply(t, c) })
	t.Run("R=2 node killed", func(t *testing.T) { testKill(t, c) })
	t.Run("busy", func(t *testing.T) { testBusy(t, c) })
}

// checkPlacement asserts that every node holds exactly the keys whose
// preference list names it.
func checkPlacement(t *testing.T, p *Producer, nodes map[string]*node.Node, keys []string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		want := map[string]bool{}
		for _, n := range p.Replicas(k) {
			want[n] = true
		}
		for name, n := range nodes {
			_, found, err := n.Store().Get(ctx, k)
			require.NoError(t, err)
			require.Equal(t, want[name], found, "key %q on %s (replicas %v)", k, name, p.Replicas(k))
		}
	}
}

func testOperations(t *testing.T, c *testcluster.Consul, alg string, codec protocol.Codec, r int) {
	ctx := ctxT(t)
	cl := newCluster(t, c)
	nodes := map[string]*node.Node{}
	var names []string
	for i := range 4 {
		name := fmt.Sprintf("node-%d", i)
		nodes[name] = cl.addNode(name)
		names = append(names, name)
	}
	cl.waitMembers(names...)
	p := cl.producerFor(layout.Settings{Algorithm: alg, Replicas: r, Partitions: 4096}, codec, func(cfg *Config) {
		if r == 0 {
			cfg.PipelineBatch = 1 // one request per pipelined operation; R=2 runs use BATCHes
		}
	})
	waitTable(t, p, 4)
	require.Equal(t, alg, p.Table().Algorithm())
	require.Equal(t, r+1, p.Table().Width())

	// Acknowledged PUT, GET_ONE.
	var keys []string
	for i := range 60 {
		k := fmt.Sprintf("key-%d", i)
		keys = append(keys, k)
		require.NoError(t, p.Put(ctx, k, mustEncode(t, codec, "value-"+k)))
	}
	for _, k := range keys {
		v, err := p.Get(ctx, k)
		require.NoError(t, err, k)
		require.Equal(t, "value-"+k, mustDecodeString(t, codec, v))
	}
	checkPlacement(t, p, nodes, keys)
	_, err := p.Get(ctx, "no-such-key")
	require.ErrorIs(t, err, ErrNotFound)

	// DELETE.
	existed, err := p.Delete(ctx, keys[0])
	require.NoError(t, err)
	require.True(t, existed)
	_, err = p.Get(ctx, keys[0])
	require.ErrorIs(t, err, ErrNotFound)
	existed, err = p.Delete(ctx, keys[0])
	require.NoError(t, err)
	require.False(t, existed)
	keys = keys[1:]

	// Bulk PUSH + SYNC barrier, then pipelined GET_ONE.
	b, err := p.NewBulk()
	require.NoError(t, err)
	var bulkKeys []string
	for i := range 700 {
		k := fmt.Sprintf("bulk-%d", i)
		bulkKeys = append(bulkKeys, k)
		require.NoError(t, b.Put(ctx, k, mustEncode(t, codec, map[string]any{"n": i})))
	}
	require.NoError(t, b.Sync(ctx))
	require.NoError(t, b.Close())
	checkPlacement(t, p, nodes, bulkKeys)
	got := map[int]int{}
	require.NoError(t, p.Do(ctx, len(bulkKeys), func(i int) Op { return Op{Kind: OpGet, Key: bulkKeys[i]} },
		func(i int, res Result) {
			require.NoError(t, res.Err)
			var v map[string]int
			require.NoError(t, DecodeValue(codec, res.Value, &v))
			got[i] = v["n"]
		}))
	require.Len(t, got, len(bulkKeys))
	for i, n := range got {
		require.Equal(t, i, n)
	}

	// Pipelined PUT and DELETE.
	var pipeKeys []string
	for i := range 300 {
		pipeKeys = append(pipeKeys, fmt.Sprintf("pipe-%d", i))
	}
	doneCount := 0
	require.NoError(t, p.Do(ctx, len(pipeKeys), func(i int) Op {
		return Op{Kind: OpPut, Key: pipeKeys[i], Value: mustEncode(t, codec, pipeKeys[i])}
	}, func(i int, res Result) {
		require.NoError(t, res.Err)
		doneCount++
	}))
	require.Equal(t, len(pipeKeys), doneCount)
	checkPlacement(t, p, nodes, pipeKeys)
	require.NoError(t, p.Do(ctx, len(pipeKeys), func(i int) Op {
		if i%2 == 0 {
			return Op{Kind: OpDelete, Key: pipeKeys[i]}
		}
		return Op{Kind: OpGet, Key: pipeKeys[i]}
	}, func(i int, res Result) {
		require.NoError(t, res.Err)
		if i%2 == 0 {
			require.True(t, res.Deleted, pipeKeys[i])
		} else {
			require.Equal(t, pipeKeys[i], mustDecodeString(t, codec, res.Value))
		}
	}))
	var live []string
	for i, k := range pipeKeys {
		if i%2 == 1 {
			live = append(live, k)
		}
	}

	// GET_ALL over paged SCAN: every key once, values intact.
	all, err := p.GetAll(ctx)
	require.NoError(t, err)
	want := append(append(append([]string{}, keys...), bulkKeys...), live...)
	var gotKeys []string
	for _, e := range all {
		gotKeys = append(gotKeys, e.Key)
	}
	sort.Strings(want)
	sort.Strings(gotKeys)
	require.Equal(t, want, gotKeys)

	// STATUS: every node healthy, copies add up.
	st, err := p.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st.Nodes, 4)
	var sum int64
	parts := 0
	for _, ns := range st.Nodes {
		require.True(t, ns.Healthy, ns.Error)
		sum += ns.Keys
		parts += ns.Partitions
	}
	require.Equal(t, int64(len(want)*(r+1)), sum)
	require.Equal(t, 4096, parts)
	require.Equal(t, r, st.Settings.Replicas)
}

// testSettings: the first producer stores the settings; a later one with
// other flags uses the stored ones.
func testSettings(t *testing.T, c *testcluster.Consul) {
	cl := newCluster(t, c)
	cl.addNode("node-0")
	cl.waitMembers("node-0")
	// A read-only producer (NoInit) leaves an empty cluster's settings alone
	// and places with its own until a writer stores some.
	ro := cl.producerFor(layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 256}, protocol.JSON, func(cfg *Config) { cfg.NoInit = true })
	require.False(t, ro.SettingsStored())
	_, _, err := cl.cc.Settings(context.Background())
	require.ErrorIs(t, err, consul.ErrNotFound)
	require.Equal(t, 256, ro.Table().Partitions())

	p1 := cl.producerFor(layout.Settings{Algorithm: sharding.Consistent, Replicas: 1, Partitions: 512}, protocol.JSON)
	require.True(t, p1.SettingsStored())
	require.Eventually(t, func() bool { return ro.SettingsStored() && ro.Table().Partitions() == 512 }, safety, 10*time.Millisecond)
	p2 := cl.producerFor(layout.Settings{Algorithm: sharding.Rendezvous, Replicas: 2, Partitions: 1024}, protocol.Msgpack)
	for _, p := range []*Producer{p1, p2} {
		s := p.Settings()
		require.Equal(t, sharding.Consistent, s.Algorithm)
		require.Equal(t, 1, s.Replicas)
		require.Equal(t, 512, s.Partitions)
	}
	require.NotEmpty(t, SettingsDiff(layout.Settings{Algorithm: sharding.Rendezvous, Replicas: 2, Partitions: 1024}, p2.Settings()))

	// A settings change in Consul reaches running producers (blocking query).
	_, err = cl.cc.UpdateSettings(context.Background(), func(s *layout.Settings) error {
		s.Replicas = 0
		s.Epoch++
		return nil
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p1.Settings().Replicas == 0 && p1.Settings().Epoch == 1 },
		safety, 10*time.Millisecond)
}

// testNodeAdded: a node registered by hand while the producer runs is not
// a member: the layout the first producer recorded is the cluster's, so no
// key moves to the newcomer (add-node gives it keys), and status says so.
func testNodeAdded(t *testing.T, c *testcluster.Consul) {
	ctx := ctxT(t)
	cl := newCluster(t, c)
	nodes := map[string]*node.Node{"node-0": cl.addNode("node-0"), "node-1": cl.addNode("node-1")}
	cl.waitMembers("node-0", "node-1")
	p := cl.producerFor(layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 4096}, protocol.JSON)
	waitTable(t, p, 2)
	require.Equal(t, []string{"node-0", "node-1"}, p.Settings().Members, "the members were not recorded")

	nodes["node-2"] = cl.addNode("node-2")
	require.Eventually(t, func() bool { return len(p.Members()) == 3 }, safety, 10*time.Millisecond)
	var keys []string
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		require.NoError(t, p.Put(ctx, k, mustEncode(t, protocol.JSON, i)))
		require.NotContains(t, p.Replicas(k), "node-2")
	}
	require.Len(t, p.Table().Nodes(), 2)
	checkPlacement(t, p, nodes, keys)
	require.Zero(t, nodes["node-2"].Stats().Keys)
	st, err := p.Status(ctx)
	require.NoError(t, err)
	for _, n := range st.Nodes {
		require.Equal(t, n.Name != "node-2", n.Member, n.Name)
	}
}

// testLayoutBeforeJoin is the first rebalance of a cluster whose settings
// record no members yet (no node existed when its producers started, so
// there was nothing to record): the rebalancer records the layout and the
// migration, then the nodes register. A producer whose settings watch
// has not delivered that change yet when its membership watch reports the
// new node must not route the new node's keys to it alone (it holds none
// yet, and a write only there is repaired away): it reads the settings
// before it applies the membership change. The watches are stopped so that
// the membership change comes first, always.
func testLayoutBeforeJoin(t *testing.T, c *testcluster.Consul) {
	ctx := ctxT(t)
	cl := newCluster(t, c)
	// No node yet: nothing to record, the settings stay without members.
	p := cl.producerFor(layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 256}, protocol.JSON)
	require.True(t, p.Settings().Legacy())
	p.cancel()
	p.wg.Wait()

	from := []string{"node-0", "node-1"}
	to := []string{"node-0", "node-1", "node-2"}
	_, err := cl.cc.UpdateSettings(ctx, func(s *layout.Settings) error {
		s.Members = from
		s.Migration = &layout.Migration{ID: "add-node-2", Kind: layout.MigrationAdd, Node: "node-2",
			From: from, To: to, Phase: layout.PhaseCopying}
		return nil
	})
	require.NoError(t, err)
	for _, n := range to {
		cl.addNode(n)
	}
	cl.waitMembers(to...)
	ms, err := cl.cc.Members(ctx)
	require.NoError(t, err)
	p.onMembers(ms)

	require.Len(t, p.Members(), 3)
	require.Equal(t, from, p.Settings().Members)
	require.NotNil(t, p.Settings().Migration)
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		require.NotContains(t, p.Replicas(k), "node-2", "key %s is read from the new node first", k)
		var buf [8]string
		w, err := p.st.Load().targets(k, buf[:])
		require.NoError(t, err)
		require.NotEqual(t, "node-2", w[0].name, "key %s is written to the new node first", k)
	}
}

// fakeNode is a ROUTER that answers GET_ONE (alone or in a BATCH) with the
// value "v" and PUT with OK, except that
// it silently drops the next `drop` requests: a lost reply.
type fakeNode struct {
	rep, pull string
	drop      atomic.Int32
	seen      atomic.Int32
}

func startFake(t *testing.T) *fakeNode {
	f := &fakeNode{}
	router, err := zmq.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	require.NoError(t, router.SetRcvtimeo(20*time.Millisecond))
	require.NoError(t, router.SetLinger(0))
	require.NoError(t, router.Bind("tcp://127.0.0.1:*"))
	f.rep, err = router.GetLastEndpoint()
	require.NoError(t, err)
	f.pull = "tcp://127.0.0.1:1" // never used by GET_ONE
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // owns router
		defer close(done)
		defer router.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			frames, err := router.RecvMessageBytes(0)
			if err != nil {
				continue
			}
			f.seen.Add(1)
			if f.drop.Load() > 0 {
				f.drop.Add(-1)
				continue
			}
			req, codec, err := protocol.DecodeRequest(frames[len(frames)-1], protocol.Limits{})
			if err != nil {
				continue
			}
			val, _ := EncodeValue(codec, "v")
			answer := func(r protocol.Request) protocol.Reply {
				if r.Op == protocol.OpPut {
					return protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK}
				}
				return protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: r.Key, Value: val}
			}
			rep := answer(req)
			rep.ID = req.ID
			if req.Op == protocol.OpBatch {
				rep = protocol.Reply{Op: protocol.OpBatch, Status: protocol.StatusOK, ID: req.ID}
				for _, op := range req.Ops {
					rep.Results = append(rep.Results, answer(op))
				}
			}
			b, _ := protocol.AppendReply(nil, codec, &rep)
			_, _ = router.SendMessage(frames[0], b)
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return f
}

// testLostReply: a dropped request or reply costs one timeout and a retry on
// a fresh socket; a node that never answers gives an error, not a hang, and
// the producer keeps working once it answers again.
func testLostReply(t *testing.T, c *testcluster.Consul) {
	ctx := ctxT(t)
	cl := newCluster(t, c)
	f := startFake(t)
	reg, err := cl.cc.Register(ctx, consul.Registration{Name: "fake-0", RepURL: f.rep, PullURL: f.pull, TTL: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Deregister(context.Background()) })
	cl.waitMembers("fake-0")
	for _, codec := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		// The default 2 s timeout: a retry's reply on a fresh socket can
		// take hundreds of ms on a loaded machine under the race detector.
		p := cl.producerFor(layout.Settings{}, codec, func(cfg *Config) {
			cfg.Retries = 1
		})
		waitTable(t, p, 1)

		f.drop.Store(1) // first attempt lost, the retry answers
		v, err := p.Get(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "v", mustDecodeString(t, codec, v))

		f.drop.Store(2) // both attempts lost
		_, err = p.Get(ctx, "b")
		require.ErrorIs(t, err, ErrUnavailable)
		require.ErrorIs(t, err, ErrTimeout)

		// Pipelined: a lost request among many is retried.
		f.drop.Store(1)
		okCount := 0
		require.NoError(t, p.Do(ctx, 50, func(i int) Op { return Op{Kind: OpGet, Key: fmt.Sprint(i)} },
			func(i int, r Result) {
				require.NoError(t, r.Err)
				okCount++
			}))
		require.Equal(t, 50, okCount)

		// A PUT whose reply is lost may have been applied: it is reported,
		// not sent again (a resend could overwrite another client's write).
		val := mustEncode(t, codec, "w")
		f.drop.Store(1)
		before := f.seen.Load()
		err = p.Put(ctx, "w", val)
		require.ErrorIs(t, err, ErrQuorum)
		require.ErrorIs(t, err, ErrTimeout)
		require.Equal(t, before+1, f.seen.Load(), "a sent PUT was sent again")
		f.drop.Store(1)
		before = f.seen.Load()
		failed := 0
		require.NoError(t, p.Do(ctx, 10, func(i int) Op { return Op{Kind: OpPut, Key: fmt.Sprint("w", i), Value: val} },
			func(i int, r Result) {
				require.ErrorIs(t, r.Err, ErrQuorum)
				failed++
			}))
		require.Equal(t, 10, failed)
		require.Equal(t, before+1, f.seen.Load(), "a sent pipelined PUT was sent again")

		f.drop.Store(0)
		_, err = p.Get(ctx, "c")
		require.NoError(t, err, "producer wedged after lost replies")
		require.NoError(t, p.Put(ctx, "w", val))
	}
}

// testKill: with R=2, killing one node process (SIGKILL, no deregistration)
// keeps every read answering and loses no acknowledged write; once Consul
// marks the node critical, writes are acknowledged again.
func testKill(t *testing.T, c *testcluster.Consul) {
	ctx := ctxT(t)
	cl := newCluster(t, c)
	var names []string
	cmds := map[string]*exec.Cmd{}
	for i := range 4 {
		name := fmt.Sprintf("node-%d", i)
		cmds[name] = cl.spawnNode(name)
		names = append(names, name)
	}
	cl.waitMembers(names...)
	codec := protocol.Msgpack
	p := cl.producerFor(layout.Settings{Algorithm: sharding.Rendezvous, Replicas: 2, Partitions: 4096}, codec, func(cfg *Config) {
		cfg.RequestTimeout = 500 * time.Millisecond
	})
	waitTable(t, p, 4)

	acked := map[string]string{}
	for i := range 150 {
		k := fmt.Sprintf("put-%d", i)
		require.NoError(t, p.Put(ctx, k, mustEncode(t, codec, k)))
		acked[k] = k
	}
	b, err := p.NewBulk()
	require.NoError(t, err)
	for i := range 600 {
		k := fmt.Sprintf("bulk-%d", i)
		require.NoError(t, b.Put(ctx, k, mustEncode(t, codec, k)))
	}
	require.NoError(t, b.Sync(ctx))
	for i := range 600 {
		k := fmt.Sprintf("bulk-%d", i)
		acked[k] = k
	}

	victim := "node-1"
	owned := 0
	for k := range acked {
		if p.Replicas(k)[0] == victim {
			owned++
		}
	}
	require.Positive(t, owned, "the victim owns no key: the reads below would not test the fallback")
	require.NoError(t, cmds[victim].Process.Signal(syscall.SIGKILL))
	_, _ = cmds[victim].Process.Wait()

	readAll := func(stage string) {
		t.Helper()
		for k, v := range acked {
			got, err := p.Get(ctx, k)
			require.NoError(t, err, "%s: GET %q (replicas %v)", stage, k, p.Replicas(k))
			require.Equal(t, v, mustDecodeString(t, codec, got))
		}
		keys := make([]string, 0, len(acked))
		for k := range acked {
			keys = append(keys, k)
		}
		require.NoError(t, p.Do(ctx, len(keys), func(i int) Op { return Op{Kind: OpGet, Key: keys[i]} },
			func(i int, r Result) {
				require.NoError(t, r.Err, "%s: pipelined GET %q", stage, keys[i])
				require.Equal(t, acked[keys[i]], mustDecodeString(t, codec, r.Value))
			}))
	}
	// Right after the kill Consul still lists the node: reads fall back.
	readAll("node killed, still listed")

	// Writes that are acknowledged during the window are kept too.
	for i := range 20 {
		k := fmt.Sprintf("window-%d", i)
		err := p.Put(ctx, k, mustEncode(t, codec, k))
		if err == nil {
			acked[k] = k
		} else {
			require.ErrorIs(t, err, ErrQuorum)
		}
	}

	require.Eventually(t, func() bool { return len(p.Members()) == 3 }, safety, 10*time.Millisecond)
	require.Len(t, p.Table().Nodes(), 4, "a failure changed the placement")
	readAll("node gone from membership")
	for i := range 150 {
		k := fmt.Sprintf("after-%d", i)
		require.NoError(t, p.Put(ctx, k, mustEncode(t, codec, k)))
		acked[k] = k
	}
	readAll("after new writes")

	all, err := p.GetAll(ctx)
	require.NoError(t, err)
	got := map[string]bool{}
	for _, e := range all {
		got[e.Key] = true
	}
	for k := range acked {
		require.True(t, got[k], "GET_ALL lacks %q", k)
	}
}
