package faulttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

// producerOf opens an in-process producer on the cluster, storing R=r
// settings if there are none yet.
func (c *cluster) producerOf(r int, mod ...func(*producer.Config)) *producer.Producer {
	c.t.Helper()
	cfg := producer.Config{Consul: consul.Config{Addr: c.agent.Addr}, Settings: layout.Settings{Algorithm: "hrw", Replicas: r}}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := producer.New(ctx, cfg)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = p.Close() })
	return p
}

// copyOf is what one replica holds of a key.
type copyOf struct {
	found bool
	value string
}

// replicaCopies reads key from each of its replicas directly.
func replicaCopies(t *testing.T, p *producer.Producer, key string) map[string]copyOf {
	t.Helper()
	out, err := tryReplicaCopies(p, key)
	require.NoError(t, err)
	return out
}

// tryReplicaCopies is replicaCopies that returns a failed read.
func tryReplicaCopies(p *producer.Producer, key string) (map[string]copyOf, error) {
	out := map[string]copyOf{}
	for _, n := range p.Replicas(key) {
		rep, err := p.Call(context.Background(), n, protocol.Request{Op: protocol.OpGetOne, Key: key})
		switch {
		case err == nil:
			out[n] = copyOf{true, string(rep.Value)}
		case errors.Is(err, producer.ErrNotFound):
			out[n] = copyOf{}
		default:
			return nil, fmt.Errorf("reading %q from %s: %w", key, n, err)
		}
	}
	return out, nil
}

// agree reports whether every replica of every key holds the same copy,
// and describes the first key that differs.
func agree(t *testing.T, p *producer.Producer, keys []string) (bool, string) {
	for _, k := range keys {
		cs := replicaCopies(t, p, k)
		var first *copyOf
		for _, c := range cs {
			if first == nil {
				first = &c
			} else if c != *first {
				return false, fmt.Sprintf("%s: %v", k, cs)
			}
		}
	}
	return true, ""
}

// TestQuorumReadRepairs: a replica stopped while a key is overwritten holds
// the old value when it resumes; a read at consistency all returns the new
// one and repairs the stale replica.
func TestQuorumReadRepairs(t *testing.T) {
	c := startCluster(t, 4)
	p := c.producerOf(2)
	ctx := context.Background()
	v := func(s string) []byte { b, _ := producer.EncodeValue(protocol.JSON, s); return b }
	require.NoError(t, p.Put(ctx, "rr", v("old")))
	stopped := p.Replicas("rr")[2]
	c.signal(stopped, syscall.SIGSTOP)
	require.NoError(t, p.Put(ctx, "rr", v("new")))
	c.signal(stopped, syscall.SIGCONT)
	require.Eventually(t, func() bool { return len(p.Members()) == 4 }, time.Minute, 50*time.Millisecond)
	if cs := replicaCopies(t, p, "rr"); cs[stopped].value == `"new"` {
		t.Logf("%s already holds the new value (a repair ran first)", stopped)
	}

	all := c.producerOf(2, func(cfg *producer.Config) { cfg.ReadConsistency = producer.All })
	// A pipelined read at consistency all compares and repairs too.
	require.NoError(t, all.Do(ctx, 1, func(int) producer.Op { return producer.Op{Kind: producer.OpGet, Key: "rr"} },
		func(_ int, r producer.Result) {
			require.NoError(t, r.Err)
			require.Equal(t, `"new"`, string(r.Value))
		}))
	ok, diff := agree(t, p, []string{"rr"})
	require.True(t, ok, "a pipelined read at all left replicas different: %s", diff)
	got, err := all.Get(ctx, "rr")
	require.NoError(t, err)
	require.Equal(t, `"new"`, string(got))
	ok, diff = agree(t, p, []string{"rr"})
	require.True(t, ok, "read repair left replicas different: %s", diff)
}

// TestConcurrentWritersConverge: two producers write the same keys at the
// same moment; afterwards every key's replicas hold one value.
func TestConcurrentWritersConverge(t *testing.T) {
	c := startCluster(t, 4)
	ps := []*producer.Producer{c.producerOf(2), c.producerOf(2)}
	const n = 300
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "cw-" + strconv.Itoa(i)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w, p := range ps {
		wg.Go(func() {
			<-start
			err := p.Do(context.Background(), n, func(i int) producer.Op {
				val, _ := producer.EncodeValue(protocol.JSON, fmt.Sprintf("writer %d", w))
				return producer.Op{Kind: producer.OpPut, Key: keys[i], Value: val}
			}, func(i int, r producer.Result) { require.NoError(t, r.Err, keys[i]) })
			require.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()
	ok, diff := agree(t, ps[0], keys)
	require.True(t, ok, "replicas differ after two concurrent writers: %s", diff)
}

// TestInMemoryKillsHeal kills three in-memory nodes with SIGKILL one at a
// time, each restarted by the supervisor before the next: with no command
// run, every key is back on all three of its replicas, none lost.
func TestInMemoryKillsHeal(t *testing.T) {
	c := startCluster(t, 4)
	p := c.producerOf(2)
	const n = 5000
	keys := make([]string, n)
	b, err := p.NewBulk()
	require.NoError(t, err)
	for i := range keys {
		keys[i] = "kh-" + strconv.Itoa(i)
		val, _ := producer.EncodeValue(protocol.JSON, i)
		require.NoError(t, b.Put(context.Background(), keys[i], val))
	}
	require.NoError(t, b.Sync(context.Background()))
	require.NoError(t, b.Close())

	for _, victim := range []string{"node-0", "node-1", "node-2"} {
		old := testcluster.NodePIDs(t, c.sup.Pid())[victim]
		require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
		// The old registration stays passing and ready for a few seconds
		// after the kill; only an answer to a read comes from the new
		// process, and it answers reads once it has caught up.
		testcluster.Eventually(t, victim+" restarted and caught up", 2*time.Minute, 100*time.Millisecond, func() bool {
			pid := testcluster.NodePIDs(t, c.sup.Pid())[victim]
			if pid == 0 || pid == old {
				return false
			}
			_, err := p.Call(context.Background(), victim, protocol.Request{Op: protocol.OpGetOne, Key: keys[0]})
			return err == nil || errors.Is(err, producer.ErrNotFound)
		})
	}
	testcluster.Eventually(t, "every key on its three replicas", 2*time.Minute, time.Second, func() bool {
		for _, k := range keys {
			cs, err := tryReplicaCopies(p, k)
			if err != nil {
				t.Log(err)
				return false
			}
			for node, cp := range cs {
				if !cp.found {
					t.Logf("%s not yet on %s", k, node)
					return false
				}
			}
		}
		return true
	})
}

// TestRepairFixesDirectWrite writes a value straight into one replica, as a
// class client can; `client_producer repair` then leaves all three replicas
// holding one value (the newest: the direct write's, versioned by the
// node that took it).
func TestRepairFixesDirectWrite(t *testing.T) {
	c := startCluster(t, 4, "--repair-interval", "0")
	p := c.producerOf(2)
	ctx := context.Background()
	val := func(s string) []byte { b, _ := producer.EncodeValue(protocol.JSON, s); return b }
	require.NoError(t, p.Put(ctx, "direct", val("by the producer")))
	target := p.Replicas("direct")[1]
	_, err := p.Call(ctx, target, protocol.Request{Op: protocol.OpPut, Key: "direct", Value: val("straight into one replica")})
	require.NoError(t, err)
	ok, _ := agree(t, p, []string{"direct"})
	require.False(t, ok, "the direct write reached more than its replica")

	out := c.ok("repair", "--quiet")
	t.Log(out)
	ok, diff := agree(t, p, []string{"direct"})
	require.True(t, ok, "replicas differ after repair: %s", diff)
	require.Equal(t, `"straight into one replica"`, replicaCopies(t, p, "direct")[target].value)
}

// TestRepairRemovesDeletedKeys deletes keys while one of their replicas is
// stopped and seen down; after it resumes and `client_producer repair`
// runs, the keys are on no node.
func TestRepairRemovesDeletedKeys(t *testing.T) {
	c := startCluster(t, 4, "--repair-interval", "0")
	p := c.producerOf(2)
	ctx := context.Background()
	var keys []string
	for i := range 40 {
		k := "del-" + strconv.Itoa(i)
		keys = append(keys, k)
		b, _ := producer.EncodeValue(protocol.JSON, i)
		require.NoError(t, p.Put(ctx, k, b))
	}
	c.signal("node-2", syscall.SIGSTOP)
	var onStopped []string
	for _, k := range keys {
		for _, n := range p.Replicas(k) {
			if n == "node-2" {
				onStopped = append(onStopped, k)
			}
		}
		c.ok("delete", k)
	}
	require.NotEmpty(t, onStopped)
	c.signal("node-2", syscall.SIGCONT)
	require.Eventually(t, func() bool { return len(p.Members()) == 4 }, time.Minute, 50*time.Millisecond)
	c.ok("repair", "--quiet")
	for _, k := range keys {
		for n, cp := range replicaCopies(t, p, k) {
			require.False(t, cp.found, "%s came back on %s after repair", k, n)
		}
	}
}
